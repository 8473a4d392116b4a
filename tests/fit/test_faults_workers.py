"""A pool worker that dies, and a run stopped by SIGTERM.

A dead worker fails the one model it was fitting; the others, running beside it or
waiting, are fitted again. SIGTERM stops a run as Ctrl-C does: one line, what was kept,
exit code 143, no worker left, no leaked-semaphore warning.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pytest
from test_faults_store import (  # noqa: F401 - a fixture
    STUDY,
    arrange,
    consistent,
    radonspec,
    run_until,
    study,
)

from radonspec.fit import executors
from radonspec.fit.executors import PoolExecutor
from radonspec.fit.jobs import FitJob
from radonspec.fit.record import Fit
from radonspec.fit.store import Store
from radonspec.study.loader import load_study_text

SPEC = """\
spec_version: 1
name: pool
data: {path: d.csv}
models:
  a: {formula: y ~ x}
  b: {formula: y ~ x}
  die: {formula: y ~ x}
  c: {formula: y ~ x}
  d: {formula: y ~ x}
"""


def _fake_fits() -> None:
    """Pool initializer: fits take a second; model 'die' kills its worker (as OOM would)."""

    def fake(job: FitJob) -> Fit:
        if job.model == "die":
            time.sleep(0.5)
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(1.5)
        return Fit(job.name, job.key, "ok", None, {"total": 1.5})

    executors.run_job = fake  # the pool unpickles 'run_job' by name, after this ran


def test_a_killed_worker_fails_only_the_model_it_was_fitting(tmp_path: Path) -> None:
    study_ = load_study_text(SPEC, f"{tmp_path}/s.yaml")
    frame = pd.DataFrame({"y": np.arange(5.0), "x": np.arange(5.0)})
    jobs = [FitJob(study_, m, frame, m * 8, i) for i, m in enumerate(study_.models)]
    runner = PoolExecutor(2, initializer=_fake_fits)
    try:
        fits = {fit.model: fit for fit in runner.run(jobs)}
    finally:
        runner.close()
    assert sorted(fits) == ["a", "b", "c", "d", "die"]
    assert fits["die"].status == "failed"
    assert fits["die"].error == (
        "the worker process fitting it died (killed by signal 9 (SIGKILL)); the run's other"
        " models were fitted on"
    )
    assert {m: f.status for m, f in fits.items() if m != "die"} == dict.fromkeys("abcd", "ok")


def fit_or_interrupt(job: FitJob) -> Fit:
    """'a' is quick, 'b' slow; 'c', fitted by the parent, is interrupted once 'a' is done."""
    done = Path(os.environ["RADONSPEC_TEST_DONE"])
    if job.model == "c" and os.getpid() == int(os.environ["RADONSPEC_TEST_PARENT"]):
        deadline = time.monotonic() + 60
        while not done.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(3.0)  # the worker's result reaches the parent
        raise KeyboardInterrupt
    time.sleep({"a": 0.2}.get(job.model, 60.0))
    if job.model == "a":
        done.touch()
    return Fit(job.name, job.key, "ok", None, {"total": 0.2})


def test_ctrl_c_while_the_parent_fits_still_hands_on_what_workers_finished(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # one worker takes 'a' then 'b'; the parent takes back 'c', the job no worker began.
    # A fit the worker finished while the parent sampled used to be lost to the interrupt
    monkeypatch.setenv("RADONSPEC_TEST_DONE", str(tmp_path / "a-done"))
    monkeypatch.setenv("RADONSPEC_TEST_PARENT", str(os.getpid()))
    monkeypatch.setattr(executors, "run_job", fit_or_interrupt)  # workers unpickle it by name
    study_ = load_study_text(SPEC.replace("  die: {formula: y ~ x}\n", ""), f"{tmp_path}/s.yaml")
    frame = pd.DataFrame({"y": np.arange(5.0), "x": np.arange(5.0)})
    jobs = [FitJob(study_, m, frame, m * 8, i) for i, m in enumerate("abc")]
    runner = PoolExecutor(2, in_parent=True)
    handed: list[str] = []
    try:
        with pytest.raises(KeyboardInterrupt):
            for fit in runner.run(jobs):
                handed.append(fit.model)
    finally:
        runner.close(abandon=True)
    assert handed == ["a"]


@pytest.mark.slow
def test_sigterm_stops_a_run_like_ctrl_c(study: Path) -> None:  # noqa: F811
    slow = "\n    sampler: {tune: 1000000, draws: 100}"
    study.write_text(STUDY.replace("y ~ x + (1|g)", "y ~ x + (1|g)" + slow))
    process, seen, workers = run_until(study, "2", "sampling ...", settle=20)
    signalled = time.monotonic()
    os.kill(process.pid, signal.SIGTERM)  # a service manager or `kill`: the parent only
    seen += process.communicate(timeout=300)[0]
    waited = time.monotonic() - signalled
    _, alive = psutil.wait_procs(workers, timeout=10)
    for worker in alive:
        worker.kill()
    assert process.returncode == 143, seen
    assert seen.rstrip().endswith(
        "terminated; finished fits are stored, nothing half-written remains"
    ), seen
    assert "Traceback" not in seen and "leaked" not in seen, seen
    assert not alive, [p.cmdline() for p in alive]
    # SIGTERM waits for a safe point, e.g. the end of a compilation in this process (tens of
    # seconds on two loaded cores); it must not wait for the sampling (minutes)
    assert waited < 120, f"the run took {waited:.0f} s to stop"
    store = Store(study.parent / "store")
    assert {r.model for r in store.runs()} <= {m for m in "abc" if f"{m}: done" in seen}
    consistent(store)


@pytest.mark.slow
def test_a_run_that_ignores_sigint_keeps_its_workers_fitting(study: Path) -> None:  # noqa: F811
    # started in the background (`radonspec run ... &`, nohup) the run ignores SIGINT;
    # its workers used to die of it, and their models were recorded as failed. The slow
    # model goes out first, to the one worker; the parent fits the last one (quick), and
    # its 'done' comes while the worker still tunes the slow one
    slow = arrange(study, "{tune: 100000, draws: 100, chains: 1}", "{tune: 200, draws: 200}", at=0)
    process, seen, _ = run_until(study, "2", ": done", settle=0, sigint=signal.SIG_IGN)
    assert f"{slow}: done" not in seen and process.poll() is None, "make the slow model slower"
    os.killpg(process.pid, signal.SIGINT)
    seen += process.communicate(timeout=300)[0]
    assert process.returncode == 0, seen
    assert "died" not in seen and "interrupted" not in seen, seen
    store = Store(study.parent / "store")
    assert sorted(r.model for r in store.runs()) == ["a", "b", "c"]
    consistent(store)


_LIMITED = """
import sys
from radonspec.api import load_study
from radonspec.fit.executors import _fit_with_limit
from radonspec.fit.jobs import FitJob
from radonspec.fit.runner import study_frame
study = load_study(sys.argv[1])
print("fitting", flush=True)
_fit_with_limit(FitJob(study, "b", study_frame(study, ["b"]), "k" * 64, 1), 600.0)
"""


@pytest.mark.slow
def test_a_time_limited_fit_dies_with_the_process_waiting_for_it(study: Path) -> None:  # noqa: F811
    # a fit with a time limit runs in a child of the worker; a worker killed (an abandoned
    # pool, the out-of-memory killer) used to leave that child sampling on its own
    study.write_text(STUDY.replace("draws: 3000, tune: 1000", "draws: 100, tune: 1000000"))
    process = radonspec(str(study), cwd=study.parent, driver=_LIMITED)
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "fitting"
    deadline = time.monotonic() + 120
    children: list[psutil.Process] = []
    while not children and time.monotonic() < deadline:
        children = [
            child
            for child in psutil.Process(process.pid).children()
            if "resource_tracker" not in " ".join(child.cmdline())
        ]
        time.sleep(0.2)
    assert children, "no child process fitted the model"
    time.sleep(3)  # the child has set itself up
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=60)  # its output stays open, as a terminal would: no SIGPIPE
    _, alive = psutil.wait_procs(children, timeout=10)
    for child in alive:
        child.kill()
    process.stdout.close()
    assert not alive, f"processes {[p.pid for p in alive]} went on fitting alone"
