"""Several ``radonspec run`` processes on one study and one store, at the same moment.

Every process exits 0, every fit is sampled by exactly one of them (the others wait on
its lock and reuse it), and the store and its index agree afterwards.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from radonspec.fit.store import Store

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
STUDY = """\
spec_version: 1
name: {name}
data:
  path: d.csv
  categorical: [g]
defaults:
  sampler: {{draws: 100, tune: 100, chains: 2, seed: 11}}
models:
{models}
"""
MODELS = {
    "pooled": "y ~ x",
    "intercepts": "y ~ x + (1|g)",
    "empty": "y ~ 1",
}


def write_study(folder: Path, name: str, models: list[str]) -> Path:
    lines = "".join(f"  {m}:\n    formula: {MODELS[m]}\n" for m in models)
    path = folder / f"{name}.yaml"
    path.write_text(STUDY.format(name=name, models=lines))
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    rng = np.random.default_rng(7)
    n = 120
    g = rng.integers(0, 5, n)
    x = rng.normal(size=n)
    pd.DataFrame(
        {"y": 0.4 * x + 0.2 * g + rng.normal(size=n), "x": x, "g": [f"g{i}" for i in g]}
    ).to_csv(tmp_path / "d.csv", index=False)
    return tmp_path


def run_at_once(folder: Path, studies: list[Path], jobs: str = "1") -> list[str]:
    """Start one ``radonspec run`` per study at once; return their outputs (all exit 0)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "radonspec", "run", study.name, "--store", "store"]
            + ["--jobs", jobs],
            cwd=folder,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        for study in studies
    ]
    outputs = []
    for process in processes:
        output, _ = process.communicate(timeout=900)
        assert process.returncode == 0, output
        assert "Traceback" not in output and "error" not in output.lower(), output
        outputs.append(output)
    return outputs


def count(outputs: list[str], text: str) -> int:
    return sum(output.count(text) for output in outputs)


def check_store(folder: Path, models: set[str]) -> None:
    store = Store(folder / "store")
    rows = store.runs()
    assert sorted(r.model for r in rows) == sorted(models)
    assert all(r.status == "ok" for r in rows)
    assert len({r.key for r in rows}) == len(rows)
    assert {r.key for r in rows} == {p.name for p in store._folders()}
    assert store.verify() == []
    store.clean()
    assert list((store.root / "tmp").iterdir()) == []
    with contextlib.closing(sqlite3.connect(store.index_path)) as con:
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    for row in rows:
        hit = store.get(row.key)
        assert hit is not None and hit.ok


@pytest.mark.parametrize("processes", [2, 4])
def test_runs_on_one_study_sample_each_fit_once(folder: Path, processes: int) -> None:
    study = write_study(folder, "together", list(MODELS))
    outputs = run_at_once(folder, [study] * processes)
    for model in MODELS:
        assert count(outputs, f"{model}: sampling ...") == 1, outputs
        assert count(outputs, f"{model}: stored fit reused") == processes - 1, outputs
    check_store(folder, set(MODELS))
    summary = json.loads((folder / "radonspec-out" / "together" / "summary.json").read_text())
    assert {name: m["status"] for name, m in summary["models"].items()} == dict.fromkeys(
        MODELS, "ok"
    )


def test_overlapping_studies_share_their_common_fit(folder: Path) -> None:
    first = write_study(folder, "first", ["pooled", "intercepts"])
    second = write_study(folder, "second", ["intercepts", "empty"])
    outputs = run_at_once(folder, [first, second, first, second], jobs="2")
    for model in MODELS:
        assert count(outputs, f"{model}: sampling ...") == 1, outputs
    # 'intercepts' has one key in both studies (same spec, seed and data): one fit serves both
    assert count(outputs, "intercepts: stored fit reused") == 3, outputs
    check_store(folder, set(MODELS))
