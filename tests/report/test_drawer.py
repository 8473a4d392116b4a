"""The drawing process (``report.drawer``): the same PNGs, drawn two at a time, never lost."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest

from radonspec.report import build, figures, plots
from radonspec.report.content import Image, Section
from radonspec.report.drawer import Drawer, Pending, drawing_with, finish_drawings
from radonspec.report.groupplots import Estimates, estimates_figure


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    figures.forget()
    yield
    figures.forget()


@pytest.fixture(scope="module")
def drawer() -> Iterator[Drawer]:
    started = Drawer(warm_up=plots.warm_up)
    started.start()
    started.wait()
    yield started
    started.close()


def estimates(seed: int) -> tuple[list[Estimates], dict[str, str], str]:
    rng = np.random.default_rng(seed)
    shown = []
    for model in ("pooled", "hierarchical"):
        n = rng.integers(1, 60, 30)
        mean = rng.normal(1.0, 0.5, 30)
        shown.append(Estimates(model, n, mean, mean - 0.3, mean + 0.3, 1.0, 0.9, 1.1))
    return shown, {"pooled": "#0072B2", "hierarchical": "#D55E00"}, f"label {seed}"


def here(seed: int) -> bytes:
    return plots.to_png(estimates_figure(*estimates(seed)))


def test_figures_queued_for_the_drawer_are_the_pngs_drawn_here(drawer: Drawer) -> None:
    with drawing_with(drawer):
        queued = [plots.figure(estimates_figure, *estimates(seed)) for seed in range(4)]
        assert all(isinstance(p, Pending) for p in queued)
        finish_drawings()
    pending = [p for p in queued if isinstance(p, Pending)]
    # both processes drew: the first figure went to the drawer at once, some here
    assert pending[0].future is not None
    assert any(p.future is None for p in pending)
    for seed, figure in enumerate(pending):
        assert figure.png() == here(seed)
    # kept like any figure: the next report asks for them again and gets bytes at once
    with drawing_with(drawer):
        again = plots.figure(estimates_figure, *estimates(2))
    assert again == here(2)


def test_without_a_drawer_a_figure_is_drawn_at_once() -> None:
    assert plots.figure(estimates_figure, *estimates(7)) == here(7)
    with drawing_with(Drawer()):  # never started: nothing to hand figures to
        assert plots.figure(estimates_figure, *estimates(8)) == here(8)


def test_a_drawer_that_died_costs_nothing_but_time() -> None:
    dying = Drawer()
    dying.start()
    dying.wait()
    pool = dying._pool
    assert pool is not None
    (process,) = pool._processes.values()  # type: ignore[attr-defined]
    os.kill(process.pid, signal.SIGKILL)
    process.join(10)
    try:
        with drawing_with(dying):
            queued = [plots.figure(estimates_figure, *estimates(seed)) for seed in (11, 12, 13)]
            finish_drawings()
        for seed, figure in zip((11, 12, 13), queued, strict=True):
            png = figure.png() if isinstance(figure, Pending) else figure
            assert png == here(seed)
        assert not dying.running  # the broken pool is let go: later figures are drawn here
    finally:
        dying.close()


def _dies_in_the_drawer(parent: int, seed: int) -> object:
    """Kills the drawer's process (as the out-of-memory killer would); draws here."""
    if os.getpid() != parent:
        os.kill(os.getpid(), signal.SIGKILL)
    return estimates_figure(*estimates(seed))


def _feeders() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "radonspec-drawer"]


def test_a_drawer_dying_with_figures_queued_hands_them_all_back() -> None:
    # the pool fails a dead process's figure holding its own lock, and the drawer's
    # callback used to hand on the next figure from there: the pool waited for itself,
    # and the report for the pool, forever
    others = len(_feeders())  # e.g. the module's drawer
    dying = Drawer()
    dying.start()
    dying.wait()
    try:
        with drawing_with(dying):
            queued = [plots.figure(_dies_in_the_drawer, os.getpid(), 31)]
            queued += [plots.figure(estimates_figure, *estimates(seed)) for seed in (32, 33, 34)]
        finishing = threading.Thread(target=dying.finish, daemon=True)
        finishing.start()
        finishing.join(120)
        assert not finishing.is_alive(), "the report waits for a dead drawer"
        pngs = [p.png() if isinstance(p, Pending) else p for p in queued]
        assert pngs[1:] == [here(seed) for seed in (32, 33, 34)]
        assert pngs[0] == here(31)
        # the feeder lets a dead process go by itself, even with nothing left to hand it
        deadline = time.monotonic() + 30
        while dying.running and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not dying.running
        # started again (as ``watch`` does after each good cycle): a new process and one
        # feeder, the dead pool's gone
        dying.start()
        dying.wait()
        with drawing_with(dying):
            again = [plots.figure(estimates_figure, *estimates(seed)) for seed in (35, 36)]
            finish_drawings()
        assert isinstance(again[0], Pending) and again[0].future is not None
        assert [p.png() if isinstance(p, Pending) else p for p in again] == [here(35), here(36)]
        assert len(_feeders()) == others + 1, _feeders()
    finally:
        dying.close()


def _fails(*args: object) -> object:
    raise ValueError("no such panel")


def test_a_figure_that_fails_in_the_drawer_is_a_note_where_it_would_have_been(
    drawer: Drawer,
) -> None:
    with drawing_with(drawer):
        failing = plots.figure(_fails, 1)
        fine = plots.figure(estimates_figure, *estimates(21))
        section = Section(
            images=[Image("bad", "A bad figure", "", failing), Image("good", "Good", "", fine)]
        )

        class Content:  # what ``_finish_drawings`` reads of the report's content
            effects = None
            ppc = section
            priors = Section()
            groups = None
            prior_predictive = None

        build._finish_drawings(Content())  # type: ignore[arg-type]
    assert [image.name for image in section.images] == ["good"]
    assert section.images[0].drawing == here(21)  # bytes from now on, not a pending figure
    assert section.notes == ["The figure 'A bad figure' could not be made: no such panel"]
    assert isinstance(failing, Pending)
    with pytest.raises(ValueError, match="no such panel"):  # raised again, not drawn again
        failing.png()
