"""Every executor gives the same draws: in-process, a process pool, and a real Dask cluster."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from radonspec.api import fit_study
from radonspec.study.loader import load_study

pytestmark = pytest.mark.slow

STUDY = """\
spec_version: 1
name: executors
data: {dataset: radon, categorical: [county]}
defaults:
  sampler: {draws: 100, tune: 100, chains: 2, seed: 11}
models:
  pooled: {formula: "log_radon ~ floor"}
  varying: {formula: "log_radon ~ floor + (1|county)"}
"""


@pytest.fixture(scope="module")
def study_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("executors") / "study.yaml"
    path.write_text(STUDY)
    return path


@pytest.fixture(scope="module")
def local_draws(study_path: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    fits = fit_study(load_study(study_path), store=tmp_path_factory.mktemp("local"), jobs=1)
    return {name: fit.tree["posterior"]["floor"].values for name, fit in fits.items()}


def test_process_pool_draws_equal_local(
    study_path: Path, local_draws: dict, tmp_path: Path
) -> None:
    fits = fit_study(load_study(study_path), store=tmp_path, jobs=2)
    for name, fit in fits.items():
        assert fit.ok, fit.error
        np.testing.assert_array_equal(fit.tree["posterior"]["floor"].values, local_draws[name])


def test_model_seed_independent_of_other_models(
    study_path: Path, local_draws: dict, tmp_path: Path
) -> None:
    only = fit_study(load_study(study_path), store=tmp_path, jobs=1, models=["varying"])
    np.testing.assert_array_equal(
        only["varying"].tree["posterior"]["floor"].values, local_draws["varying"]
    )


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `dask scheduler` and two `dask worker` processes on 127.0.0.1."""
    folder = tmp_path_factory.mktemp("dask")
    scheduler_file = folder / "scheduler.json"
    dask = shutil.which("dask", path=str(Path(sys.executable).parent)) or "dask"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    procs = [
        subprocess.Popen(
            [
                dask,
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--no-dashboard",
                "--scheduler-file",
                str(scheduler_file),
            ],
            cwd=folder,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        address = json.loads(scheduler_file.read_text())["address"]
        for _ in range(2):
            procs.append(
                subprocess.Popen(
                    [
                        dask,
                        "worker",
                        address,
                        "--nthreads",
                        "1",
                        "--no-dashboard",
                        "--host",
                        "127.0.0.1",
                    ],
                    cwd=folder,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        from distributed import Client

        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
        yield address
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.mark.dask
def test_dask_draws_equal_local(
    study_path: Path, local_draws: dict, dask_cluster: str, tmp_path: Path
) -> None:
    fits = fit_study(
        load_study(study_path), store=tmp_path, executor="dask", scheduler=dask_cluster
    )
    for name, fit in fits.items():
        assert fit.ok, fit.error
        np.testing.assert_array_equal(fit.tree["posterior"]["floor"].values, local_draws[name])
    # the client wrote the store: a second run is all hits
    again = fit_study(
        load_study(study_path), store=tmp_path, executor="dask", scheduler=dask_cluster
    )
    assert all(fit.cached for fit in again.values())


def test_a_spec_time_limit_stops_the_fit_and_the_others_go_on(tmp_path: Path) -> None:
    slow = STUDY.replace(
        '  varying: {formula: "log_radon ~ floor + (1|county)"}',
        '  varying:\n    formula: "log_radon ~ floor + (1|county)"\n'
        "    sampler: {draws: 100000, tune: 100, chains: 2, time_limit: 3}",
    )
    (tmp_path / "study.yaml").write_text(slow)
    started = time.perf_counter()
    fits = fit_study(load_study(tmp_path / "study.yaml"), store=tmp_path / "store", jobs=1)
    assert fits["pooled"].ok, fits["pooled"].error
    assert not fits["varying"].ok
    assert fits["varying"].error == (
        "the fit took longer than its time limit of 3 s and was stopped;"
        " raise sampler.time_limit, or lower draws or tune"
    )
    assert time.perf_counter() - started < 120  # 100,000 draws would take far longer
