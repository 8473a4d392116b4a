from __future__ import annotations

import io
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from radonspec.cli.watch import Watcher, extends_chain, watch
from radonspec.study.schema import Study

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


class Reports:
    """A stand-in for the report: one line per cycle in report.txt."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, study: Study, fits: Mapping[str, Any], folder: Path) -> dict[str, Path]:
        self.calls += 1
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "report.txt"
        path.write_text(f"report {self.calls}: {', '.join(fits)}\n")
        return {"text": path}


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
    watcher = Watcher(child, store=tmp_path / "store", console=out, reporter=Reports())
    assert watcher.files() == [child.resolve(), toy.resolve()]
    # a cycle that cannot run (data path relative to the child: sub/toy.csv) keeps the list
    cycle = watcher.cycle()
    assert not cycle.ok and "toy.csv not found" in cycle.errors[0]


@pytest.mark.slow
def test_only_the_edited_model_refits_and_a_bad_edit_keeps_the_last_report(
    tmp_path: Path, toy: Path
) -> None:
    out, buffer = console()
    reports = Reports()
    watcher = Watcher(
        toy, store=tmp_path / "store", out_dir=tmp_path / "out", jobs=1, console=out,
        reporter=reports,
    )  # fmt: skip
    first = watcher.cycle()
    assert first.ok and sorted(first.sampled) == ["a", "b"] and first.cached == ()
    assert watcher.files()[-1] == (tmp_path / "toy.csv").resolve()  # the data is watched now

    bump(toy, STUDY.replace('Intercept: "Normal(0, 5)"', 'Intercept: "Normal(0, 2)"'))
    assert watcher.changed() == [toy.resolve()]
    second = watcher.cycle()
    assert second.ok and second.sampled == ("b",) and second.cached == ("a",)
    report = tmp_path / "out" / "report.txt"
    assert report.read_text() == "report 2: a, b\n"

    bad = STUDY.replace("formula: y ~ 1", "formula: y ~ 1 + z")
    bump(toy, bad)
    assert watcher.changed() == [toy.resolve()]
    third = watcher.cycle()
    assert not third.ok and third.sampled == ()
    assert third.errors[0].startswith(f"{os.path.relpath(toy)}:")
    assert "model 'b': unknown column 'z' in formula" in third.errors[0]
    assert reports.calls == 2 and report.read_text() == "report 2: a, b\n"
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
        toy, interval=0.01, max_cycles=2, store=tmp_path / "store", out_dir=tmp_path / "out",
        jobs=1, console=out, reporter=Reports(), sleep=sleep,
    )  # fmt: skip
    assert code == 0
    text = buffer.getvalue()
    assert text.count("valid; ") == 2
    assert "changed: " in text and "1 fitted (a), 1 from the store" in text


def test_the_default_reporter_is_the_report_run_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from radonspec import api as session
    from radonspec.cli.watch import session_reporter

    calls: list[tuple[Any, ...]] = []

    def write_study_report(study: Any, fits: Any, folder: Path, **kwargs: Any) -> dict:
        calls.append((study, fits, folder, kwargs))
        return {"html": folder / "report.html"}

    monkeypatch.setattr(session, "write_study_report", write_study_report)
    written = session_reporter(str(tmp_path / "store"))("study", {"a": 1}, tmp_path / "out")
    assert written == {"html": tmp_path / "out" / "report.html"}
    assert calls == [("study", {"a": 1}, tmp_path / "out", {"store": tmp_path / "store"})]
