from __future__ import annotations

import io
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from radonspec.cli.watch import Watcher, extends_chain, watch

STUDY = """\
spec_version: 1
name: toy
data: {path: toy.csv}
defaults:
  sampler: {draws: 100, tune: 100, chains: 2}
models:
  a:
    formula: y ~ x
    priors: {x: "Normal(0, 5)"}
  b:
    formula: y ~ 1
    priors: {Intercept: "Normal(0, 5)"}
"""


class Runs:
    """``radonspec.api.run`` (what ``radonspec run`` does), counting the cycles that ran."""

    def __init__(self, store: Path, out: Path) -> None:
        self.store, self.out, self.calls = store, out, 0

    def __call__(self, path: Path, progress: Any) -> Any:
        from radonspec.api import run

        result = run(path, store=self.store, out=self.out, jobs=1, progress=progress)
        self.calls += 1
        return result


def bump(path: Path, text: str) -> None:
    """Rewrite ``path`` and move its mtime on, so even a coarse clock sees the change."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text)
    os.utime(path, ns=(before + 10**9, before + 10**9))


@pytest.fixture
def toy(tmp_path: Path) -> Path:
    rng = np.random.default_rng(3)
    x = rng.normal(size=40)
    frame = pd.DataFrame({"y": 0.5 + x + rng.normal(0, 0.3, 40), "x": x})
    frame.to_csv(tmp_path / "toy.csv", index=False)
    path = tmp_path / "toy.yaml"
    path.write_text(STUDY)
    return path


def console() -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, width=200, highlight=False), buffer


def test_files_follow_extends_and_the_data(tmp_path: Path, toy: Path) -> None:
    child = tmp_path / "sub" / "child.yaml"
    child.parent.mkdir()
    child.write_text("extends: ../toy.yaml\nname: child\n")
    assert extends_chain(child) == [child.resolve(), toy.resolve()]
    out, _ = console()
    runs = Runs(tmp_path / "store", tmp_path / "out")
    watcher = Watcher(child, store=tmp_path / "store", console=out, runner=runs)
    assert watcher.files() == [child.resolve(), toy.resolve()]
    # a cycle that cannot run (data path relative to the child: sub/toy.csv) keeps the list
    cycle = watcher.cycle()
    assert not cycle.ok and "toy.csv not found" in cycle.errors[0]


@pytest.mark.slow
def test_only_the_edited_model_refits_and_a_bad_edit_keeps_the_last_report(
    tmp_path: Path, toy: Path
) -> None:
    out, buffer = console()
    runs = Runs(tmp_path / "store", tmp_path / "out")
    watcher = Watcher(toy, console=out, runner=runs)
    first = watcher.cycle()
    assert first.ok and sorted(first.sampled) == ["a", "b"] and first.cached == ()
    assert watcher.files()[-1] == (tmp_path / "toy.csv").resolve()  # the data is watched now

    bump(toy, STUDY.replace('Intercept: "Normal(0, 5)"', 'Intercept: "Normal(0, 2)"'))
    assert watcher.changed() == [toy.resolve()]
    second = watcher.cycle()
    assert second.ok and second.sampled == ("b",) and second.cached == ("a",)
    report = tmp_path / "out" / "report.html"
    good = report.read_bytes()
    assert list(json.loads((tmp_path / "out" / "summary.json").read_text())["models"]) == [
        "a",
        "b",
    ]

    bad = STUDY.replace("formula: y ~ 1", "formula: y ~ 1 + z")
    bump(toy, bad)
    assert watcher.changed() == [toy.resolve()]
    third = watcher.cycle()
    assert not third.ok and third.sampled == ()
    assert third.errors[0].startswith(f"{os.path.relpath(toy)}:")
    assert "model 'b': unknown column 'z' in formula" in third.errors[0]
    assert runs.calls == 2 and report.read_bytes() == good
    assert "the last good report stays in place" in buffer.getvalue()
    assert watcher.last_good is second.study

    # the data changed: every model's key changes
    frame = pd.read_csv(tmp_path / "toy.csv")
    frame.loc[0, "y"] += 1
    bump(toy, STUDY)
    frame.to_csv(tmp_path / "toy.csv", index=False)
    changed = watcher.changed()
    assert (tmp_path / "toy.csv").resolve() in changed
    fourth = watcher.cycle()
    assert fourth.ok and sorted(fourth.sampled) == ["a", "b"]


@pytest.mark.slow
def test_the_loop_runs_a_cycle_per_change(tmp_path: Path, toy: Path) -> None:
    out, buffer = console()
    edits = iter(
        [
            None,  # a look without a change runs no cycle
            STUDY.replace('x: "Normal(0, 5)"', 'x: "Normal(0, 1)"'),
        ]
    )

    def sleep(seconds: float) -> None:
        text = next(edits)
        if text is not None:
            bump(toy, text)

    code = watch(
        toy, interval=0.01, max_cycles=2, console=out,
        runner=Runs(tmp_path / "store", tmp_path / "out"), sleep=sleep,
    )  # fmt: skip
    assert code == 0
    text = buffer.getvalue()
    assert text.count("valid; ") == 2
    assert "changed: " in text and "1 fitted (a), 1 from the store" in text


def test_the_default_runner_is_what_run_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from radonspec import api
    from radonspec.cli.watch import api_runner

    calls: list[tuple[Any, ...]] = []

    def run(path: Any, **kwargs: Any) -> str:
        calls.append((path, kwargs))
        return "result"

    monkeypatch.setattr(api, "run", run)
    runner = api_runner(tmp_path / "store", tmp_path / "out", 2)
    assert runner(tmp_path / "s.yaml", "progress") == "result"
    assert runner(tmp_path / "s.yaml", "progress") == "result"
    built = calls[0][1].pop("built")
    assert calls[1][1].pop("built") is built  # one memo of built models across cycles
    assert calls == [
        (
            tmp_path / "s.yaml",
            {"store": tmp_path / "store", "out": tmp_path / "out", "jobs": 2,
             "progress": "progress"},
        )
    ] * 2  # fmt: skip


def test_a_good_cycle_warms_up_the_next_fit_and_the_next_cycle_waits_for_it(
    toy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from radonspec.cli import watch as watch_module
    from radonspec.errors import SpecError

    warmed: list[str] = []
    release = threading.Event()

    def warm_up(study: Any) -> None:
        release.wait(5)
        warmed.append(study.name)

    class Result:
        study = type("Study", (), {"name": "toy"})()
        fits: dict[str, Any] = {}
        written: dict[str, Path] = {}
        reused = True

    def refuse(path: Path, progress: Any) -> Any:
        raise SpecError("bad spec")

    monkeypatch.setattr(watch_module, "warm_up", warm_up)
    out, _ = console()
    assert not Watcher(toy, console=out, runner=refuse).warm  # a caller's runner: no warm-up
    bad = Watcher(toy, console=out, runner=refuse, warm=True)
    assert not bad.cycle().ok and bad._warming is None  # a failed cycle warms nothing
    watcher = Watcher(toy, console=out, runner=lambda path, progress: Result(), warm=True)
    watcher.files = lambda: [toy]  # type: ignore[method-assign]
    assert watcher.cycle().ok and watcher._warming is not None and warmed == []
    release.set()
    watcher.cycle()  # joined the warm-up before it ran
    assert warmed[:1] == ["toy"]
    watcher.close()


def test_watching_ends_only_after_the_background_warm_up(
    toy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A warm-up thread still drawing at interpreter shutdown crashed it (SIGSEGV)."""
    import threading

    from radonspec.cli import watch as watch_module

    started, ended = threading.Event(), threading.Event()

    def warm_up(study: Any) -> None:
        started.set()
        time.sleep(0.5)
        ended.set()

    class Result:
        study = type("Study", (), {"name": "toy"})()
        fits: dict[str, Any] = {}
        written: dict[str, Path] = {}
        reused = True

    monkeypatch.setattr(watch_module, "warm_up", warm_up)
    out, _ = console()
    watcher = Watcher(toy, console=out, runner=lambda path, progress: Result(), warm=True)
    watcher.files = lambda: [toy]  # type: ignore[method-assign]
    assert watcher.run(interval=0.0, max_cycles=1) == 0
    assert started.is_set() and ended.is_set() and watcher._warming is None


def test_a_cycle_sharing_its_figures_with_the_drawing_process_writes_what_run_writes(
    tmp_path: Path, toy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from radonspec.api import run
    from radonspec.report import drawer, figures

    handed: list[str] = []
    submit = drawer.Pending.submit

    def counted(self: drawer.Pending, pool: Any) -> Any:
        handed.append(str(self.key))
        return submit(self, pool)

    monkeypatch.setattr(drawer.Pending, "submit", counted)
    out, _ = console()
    watcher = Watcher(toy, store=tmp_path / "store", out_dir=tmp_path / "watched", console=out)
    try:
        assert watcher.cycle().ok
        watcher.settle()  # the drawing process is started and warm
        bump(toy, STUDY.replace('x: "Normal(0, 5)"', 'x: "Normal(0, 4)"'))
        second = watcher.cycle()
    finally:
        watcher.close()
    assert second.ok and second.sampled == ("a",)
    assert handed, "no figure went to the drawing process"
    # the same fits' report drawn again, every figure in this process
    figures.forget()
    shutil.rmtree(tmp_path / "store" / "figures")
    run(toy, store=tmp_path / "store", out=tmp_path / "ran", jobs=1)
    watched = {p.name: p.read_bytes() for p in (tmp_path / "watched" / "figures").iterdir()}
    ran = {p.name: p.read_bytes() for p in (tmp_path / "ran" / "figures").iterdir()}
    assert watched.keys() == ran.keys() and len(ran) >= 2
    assert watched == ran  # the same pixels, whichever process drew them
    summary = json.loads((tmp_path / "watched" / "summary.json").read_text())
    assert (
        summary["models"].keys()
        == json.loads((tmp_path / "ran" / "summary.json").read_text())["models"].keys()
    )
