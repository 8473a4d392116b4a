"""Same spec, same seed, same draws: whatever the load, the compile cache, cores or threads.

Once, under heavy load, a local run and a Dask run of one study gave posterior means
0.044 apart. The cause was Numba's fast math: a log density compiled afresh and one
loaded from PyTensor's on-disk cache rounded differently, and which of the two a process
got depended on timing (``radonspec.fit.numerics``). Here one process samples with a cold
cache; then, while busy loops load every core, another samples with the warm cache, more
cores for its chains and the environment a Dask worker gets (one BLAS thread).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
STUDY = """\
spec_version: 1
name: det
data: {path: d.csv}
models:
  m:
    formula: y ~ x
    sampler: {draws: 60, tune: 60, chains: 2, seed: 3}
"""
SAMPLE = """
import hashlib, sys
import numpy as np
from radonspec.compile.model import compile_model, study_base
from radonspec.data.load import load_data
from radonspec.fit.sample import sample_model
from radonspec.study.loader import load_study
study = load_study(sys.argv[1])
compiled = compile_model(study, "m", load_data(study.data, study_base(study)))
fit = sample_model(compiled, key="k" * 64, sampler=study.models["m"].sampler, seed=1234,
                   cores=int(sys.argv[2]))
assert fit.status == "ok", fit.error
posterior = fit.tree["posterior"].to_dataset()
digest = hashlib.sha256()
for name in sorted(posterior.data_vars):
    digest.update(np.ascontiguousarray(posterior[name].values).tobytes())
print("draws", digest.hexdigest())
"""


@contextlib.contextmanager
def busy_loops(count: int) -> Iterator[None]:
    """``count`` processes spinning on the CPU, as other work on the machine would."""
    spinning = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        yield
    finally:
        for process in spinning:
            process.kill()
            process.wait()


def sample(spec: Path, cores: int, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", SAMPLE, str(spec), str(cores)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def draws(process: subprocess.Popen[str]) -> str:
    output, _ = process.communicate(timeout=900)
    assert process.returncode == 0, output
    return next(line for line in output.splitlines() if line.startswith("draws "))


@pytest.mark.slow
def test_the_draws_do_not_depend_on_load_cache_cores_or_threads(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=40)
    pd.DataFrame({"y": 1 + 0.5 * x + rng.normal(size=40), "x": x}).to_csv(
        tmp_path / "d.csv", index=False
    )
    (tmp_path / "s.yaml").write_text(STUDY)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        # a compile cache of this test's own, empty at first
        "PYTENSOR_FLAGS": f"base_compiledir={tmp_path / 'compiledir'}",
    }
    cold = draws(sample(tmp_path / "s.yaml", 1, env))
    one_thread = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    with busy_loops(2):
        warm = draws(sample(tmp_path / "s.yaml", 4, env | one_thread))
    assert warm == cold
