"""The figure cache (``report.figures``): a hit serves the same bytes, any change misses."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from radonspec.report import figures


@dataclasses.dataclass(frozen=True)
class Shown:
    label: str
    values: np.ndarray
    tags: frozenset[str]


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    figures.forget()
    yield
    figures.forget()


def _png(text: str) -> bytes:
    return figures.PNG + text.encode()


class Drawing:
    """A stand-in for a matplotlib drawing: records its calls, "renders" to fake PNG bytes."""

    def __init__(self, extra: Any = None) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.extra = extra

    def draw(self, *args: Any) -> Any:
        self.calls.append(args)
        figure = f"figure {len(self.calls)}"
        return figure if self.extra is None else (figure, self.extra)


def test_a_hit_in_the_folder_serves_the_same_bytes_without_drawing(tmp_path: Path) -> None:
    drawing = Drawing()
    shown = Shown("a", np.arange(4.0), frozenset({"x", "y"}))
    with figures.kept_figures(tmp_path / "figures"):
        first = figures.rendered("tests:draw", drawing.draw, (shown, {"m": "#000"}), _png)
    assert first == _png("figure 1") and len(drawing.calls) == 1
    (kept,) = (tmp_path / "figures").rglob("*.png")
    assert kept.name == f"{figures.figure_key('tests:draw', (shown, {'m': '#000'}))}.png"
    figures.forget()  # another process: only the folder knows the figure
    with figures.kept_figures(tmp_path / "figures"):
        again = figures.rendered("tests:draw", drawing.draw, (shown, {"m": "#000"}), _png)
    assert again == first and len(drawing.calls) == 1


def test_extra_values_a_drawing_returns_are_kept_with_its_png(tmp_path: Path) -> None:
    drawing = Drawing(extra=3)
    with figures.kept_figures(tmp_path):
        assert figures.rendered("tests:draw", drawing.draw, (1.0,), _png) == (_png("figure 1"), 3)
    figures.forget()
    with figures.kept_figures(tmp_path):
        assert figures.rendered("tests:draw", drawing.draw, (1.0,), _png) == (_png("figure 1"), 3)
    assert len(drawing.calls) == 1


@pytest.mark.parametrize(
    "changed",
    [
        (Shown("a", np.arange(4.0) + 1e-12, frozenset({"x", "y"})), {"m": "#000"}),  # data
        (Shown("a", np.arange(4.0, dtype=np.float32), frozenset({"x", "y"})), {"m": "#000"}),
        (Shown("b", np.arange(4.0), frozenset({"x", "y"})), {"m": "#000"}),  # a label
        (Shown("a", np.arange(4.0), frozenset({"x"})), {"m": "#000"}),
        (Shown("a", np.arange(4.0), frozenset({"x", "y"})), {"m": "#111"}),  # a colour
        (Shown("a", np.arange(4.0).reshape(2, 2), frozenset({"x", "y"})), {"m": "#000"}),
    ],
)
def test_any_change_of_what_is_shown_misses(tmp_path: Path, changed: tuple[Any, ...]) -> None:
    drawing = Drawing()
    shown = (Shown("a", np.arange(4.0), frozenset({"x", "y"})), {"m": "#000"})
    with figures.kept_figures(tmp_path):
        figures.rendered("tests:draw", drawing.draw, shown, _png)
        figures.rendered("tests:draw", drawing.draw, changed, _png)
        figures.rendered("tests:other", drawing.draw, shown, _png)  # another drawing
    assert len(drawing.calls) == 3


def test_a_new_version_of_the_drawing_code_or_of_matplotlib_misses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    drawing = Drawing()
    with figures.kept_figures(tmp_path):
        figures.rendered("tests:draw", drawing.draw, (1.0,), _png)
        figures.forget()
        monkeypatch.setattr(figures, "figure_tag", lambda: "another matplotlib")
        figures.rendered("tests:draw", drawing.draw, (1.0,), _png)
    assert len(drawing.calls) == 2
    assert len(list(tmp_path.rglob("*.png"))) == 2


def test_the_tag_names_the_drawing_packages_and_the_report_source() -> None:
    tag = figures.figure_tag()
    assert len(tag) == 16 and tag == figures.figure_tag()
    assert "matplotlib" in figures.DRAWING_PACKAGES


def test_a_damaged_or_foreign_file_is_drawn_again_and_replaced(tmp_path: Path) -> None:
    drawing = Drawing()
    key = figures.figure_key("tests:draw", (1.0,))
    path = tmp_path / key[:2] / f"{key}.png"
    path.parent.mkdir(parents=True)
    for damaged in (b"", b"null\nnot a png", b"{oops\n" + _png("x"), b'{"a": 1}\n' + _png("x")):
        path.write_bytes(damaged)
        figures.forget()
        with figures.kept_figures(tmp_path):
            assert figures.rendered("tests:draw", drawing.draw, (1.0,), _png) == _png(
                f"figure {len(drawing.calls)}"
            )
    assert len(drawing.calls) == 4
    assert path.read_bytes() == b"null\n" + _png("figure 4")


def test_arguments_that_cannot_be_digested_are_drawn_every_time(tmp_path: Path) -> None:
    drawing = Drawing()
    with figures.kept_figures(tmp_path):
        figures.rendered("tests:draw", drawing.draw, (object(),), _png)
        figures.rendered("tests:draw", drawing.draw, (object(),), _png)
    assert len(drawing.calls) == 2 and not list(tmp_path.iterdir())


def test_without_a_folder_figures_are_kept_in_this_process_only(tmp_path: Path) -> None:
    drawing = Drawing()
    figures.rendered("tests:draw", drawing.draw, (1.0,), _png)
    figures.rendered("tests:draw", drawing.draw, (1.0,), _png)
    assert len(drawing.calls) == 1
    with figures.kept_figures(tmp_path / "store" / "figures"):  # no store there: nothing kept
        figures.rendered("tests:draw", drawing.draw, (2.0,), _png)
    assert not (tmp_path / "store").exists()


DIGEST = """
import numpy as np, pandas as pd
from radonspec.report import figures
figures.figure_tag = lambda: "fixed"
frame = pd.DataFrame({"group": ["a", "b"], "n": [1.5, 2.0]})
print(figures.figure_key("m:f", ({"s", "t", "u"}, frame, np.array(["x", None], dtype=object))))
"""


def test_the_digest_is_the_same_in_every_process() -> None:
    # string hashing is salted per process: sets must not reach the digest in hash order
    found = {
        subprocess.run(
            [sys.executable, "-c", DIGEST],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": seed, "PATH": ""},
        ).stdout  # fmt: skip
        for seed in ("1", "2", "3")
    }
    assert len(found) == 1


def test_frames_are_digested_by_their_values() -> None:
    one = pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]})
    assert figures.figure_key("m:f", (one,)) == figures.figure_key("m:f", (one.copy(),))
    other = one.assign(b=["x", "z"])
    assert figures.figure_key("m:f", (one,)) != figures.figure_key("m:f", (other,))
    renamed = one.rename(columns={"a": "c"})
    assert figures.figure_key("m:f", (one,)) != figures.figure_key("m:f", (renamed,))


def test_a_figure_drawn_for_another_folder_in_this_process_is_kept_in_this_one(
    tmp_path: Path,
) -> None:
    drawing = Drawing()
    with figures.kept_figures(tmp_path / "one"):
        first = figures.rendered("tests:draw", drawing.draw, (1.0,), _png)
    with figures.kept_figures(tmp_path / "two"):
        assert figures.rendered("tests:draw", drawing.draw, (1.0,), _png) == first
    assert len(drawing.calls) == 1
    one, two = (sorted((tmp_path / name).rglob("*.png")) for name in ("one", "two"))
    assert [p.read_bytes() for p in one] == [p.read_bytes() for p in two] != []


def test_the_report_imports_matplotlib_only_to_draw() -> None:
    # a report whose every figure is kept draws nothing: matplotlib's import is saved
    code = (
        "import sys, radonspec.report.render, radonspec.report.build\n"
        "from radonspec.report import plots\n"
        "plots.palette(['a', 'b'])\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'matplotlib'))\n"
    )
    found = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert found.strip() == "[]"
