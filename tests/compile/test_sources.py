"""PyTensor's generated source goes to its compile cache, never one file per compile in /tmp."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
STUDY = """\
spec_version: 1
name: src
data: {path: d.csv}
models:
  m: {formula: y ~ x}
"""
# builds the model as every fit, check and prediction does, then compiles with Numba
BUILD_AND_COMPILE = """
import sys
import pytensor, pytensor.tensor as pt
from radonspec.compile.model import compile_model, study_base
from radonspec.data.load import load_data
from radonspec.study.loader import load_study
study = load_study(sys.argv[1])
compile_model(study, "m", load_data(study.data, study_base(study)))
x = pt.vector("x")
assert pytensor.function([x], pt.exp(x).sum(), mode="NUMBA")([0.0, 0.0]) == 2.0
print(pytensor.config.generated_src_dir)
"""


def _run(tmp_path: Path, flags: str) -> tuple[str, list[str]]:
    frame = pd.DataFrame({"x": np.arange(20.0), "y": np.arange(20.0) % 7})
    frame.to_csv(tmp_path / "d.csv", index=False)
    (tmp_path / "study.yaml").write_text(STUDY)
    temp = tmp_path / "tmp"
    temp.mkdir()
    done = subprocess.run(
        [sys.executable, "-c", BUILD_AND_COMPILE, str(tmp_path / "study.yaml")],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(temp), "PYTENSOR_FLAGS": flags},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip(), sorted(p.name for p in temp.iterdir())


def test_generated_source_is_kept_by_content_in_the_compile_cache(tmp_path: Path) -> None:
    cache = tmp_path / "compiledir"
    folder, left_in_tmp = _run(tmp_path, f"compiledir={cache}")
    assert folder == str(cache / "generated-src")
    assert left_in_tmp == []  # before, one file per compiled function, never removed
    kept = list(Path(folder).iterdir())
    assert kept and all(p.name.startswith("m") and p.suffix == ".py" for p in kept), kept


def test_a_folder_the_user_chose_is_kept(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    folder, left_in_tmp = _run(tmp_path, f"compiledir={tmp_path / 'cd'},generated_src_dir={mine}")
    assert folder == str(mine) and list(mine.iterdir()) and left_in_tmp == []
    assert not (tmp_path / "cd" / "generated-src").exists()
