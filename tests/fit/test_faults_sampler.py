"""Sampler faults: each model that fails is recorded as failed with a readable reason,
the study's other models go on, the report shows the failure, and ``--strict`` turns any
failure or failed diagnostic into exit code 2.

One real ``radonspec run`` (in this process, ``--jobs 1``) fits a study whose models fail
in different ways: an initial point outside the family's support, a backend whose
package is missing, and divergences (real draws, with the divergence
flags set: a real funnel would make the test hang on the sampler's luck).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from typer.testing import CliRunner

from radonspec.cli.app import app
from radonspec.fit.budget import (
    MAX_BYTES_ENV,
    TIME_LIMIT_ENV,
    FitTimeoutError,
    estimate_fit,
    format_bytes,
    time_limit,
)
from radonspec.fit.store import Store
from radonspec.study.schema import SamplerSpec

pytestmark = [
    pytest.mark.slow,
    # Bambi and PyMC chatter (FutureWarning, "Only 50 samples per chain") in the fits
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.filterwarnings("ignore::RuntimeWarning"),
]

STUDY = """\
spec_version: 1
name: faults
data:
  path: d.csv
  categorical: [g]
defaults:
  sampler: {draws: 600, tune: 300, chains: 2, seed: 3}
models:
  clean:
    formula: y ~ x
  divergent:
    formula: y ~ x
    family: t
  init_fails:
    description: y holds a 0, outside the support of the gamma family
    formula: y ~ x
    family: gamma
  missing_extra:
    formula: y ~ x
    sampler: {backend: numpyro}
"""
# log of a negative column (a NaN log density here once) is refused by validate now, before
# anything is fitted: compile/test_faults_usable.py
FAILING = ("init_fails", "missing_extra")


@dataclass
class Run:
    code: int
    output: str
    summary: dict[str, Any]
    report: str


def _diverge(original: Any) -> Any:
    def fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        tree = original(self, *args, **kwargs)
        if self.family.name == "t":
            tree["sample_stats"]["diverging"].values[:, :7] = True
        return tree

    return fit


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    import bambi as bmb

    root = tmp_path_factory.mktemp("sampler-faults")
    rng = np.random.default_rng(2)
    n = 40
    x = rng.normal(size=n)
    y = np.exp(0.3 * x + rng.normal(size=n) * 0.3)
    y[3] = 0.0
    pd.DataFrame({"y": y, "x": x, "g": [f"g{i % 4}" for i in range(n)], "neg": x - 10}).to_csv(
        root / "d.csv", index=False
    )
    (root / "study.yaml").write_text(STUDY)
    head, _, _ = STUDY.partition("  divergent:")
    tail = "  divergent:\n    formula: y ~ x\n    family: t\n"
    (root / "diagnostics.yaml").write_text(head.replace("name: faults", "name: diag") + tail)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        patch.setitem(sys.modules, "numpyro", None)  # as if the jax extra were not installed
        patch.setattr(bmb.Model, "fit", _diverge(bmb.Model.fit))
        yield root


def run(folder: Path, *args: str, study: str = "study.yaml") -> Run:
    out = folder / "out" / study
    result = CliRunner().invoke(
        app, ["run", study, "--store", "store", "--out", str(out), "--jobs", "1", *args]
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    summary = json.loads((out / "summary.json").read_text())
    return Run(result.exit_code, result.output, summary, (out / "report.md").read_text())


@pytest.fixture(scope="module")
def first(folder: Path) -> Run:
    return run(folder)


def test_failures_exit_2_and_the_other_models_go_on(first: Run) -> None:
    assert first.code == 2, first.output
    models = first.summary["models"]
    assert models["clean"]["status"] == "ok"
    assert models["divergent"]["status"] == "ok"
    for name in FAILING:
        assert models[name]["status"] == "failed", name
        assert models[name]["error"], name
        assert f"{name}: failed: " in first.output
    assert "Traceback" not in first.output


def test_a_missing_backend_names_the_install_command(first: Run) -> None:
    assert first.summary["models"]["missing_extra"]["error"] == (
        "sampler backend 'numpyro' needs the package 'numpyro', which is not installed;"
        ' install it with: pip install "radonspec[jax]"'
    )


def test_the_printed_failure_keeps_the_install_command(first: Run) -> None:
    assert 'install it with: pip install "radonspec[jax]"' in first.output


def test_divergences_are_recorded_and_fail_the_diagnostics(first: Run) -> None:
    diagnostics = first.summary["models"]["divergent"]["diagnostics"]
    assert diagnostics["divergences"] == 14
    assert diagnostics["passed"] is False


def test_the_report_shows_each_failure_with_its_reason(first: Run) -> None:
    for name in FAILING:
        assert f"**{name}** ⚠ *fit failed*" in first.report
    assert "sampler backend 'numpyro' needs the package 'numpyro'" in first.report
    assert "**divergent** ⚠ *diagnostics failed*" in first.report


def test_failures_are_stored_as_failed_and_never_served(folder: Path, first: Run) -> None:
    store = Store(folder / "store")
    for name in FAILING:
        key = first.summary["models"][name]["key"]
        meta = store.read_meta(key)
        assert meta is not None and meta["status"] == "failed" and meta["error"]
        assert store.get(key) is None
    assert store.get(first.summary["models"]["clean"]["key"]) is not None
    assert store.verify() == []


def test_strict_turns_failed_diagnostics_into_exit_2(folder: Path, first: Run) -> None:
    assert first.summary["models"]["clean"]["diagnostics"]["passed"] is True
    plain = run(folder, study="diagnostics.yaml")
    assert plain.code == 0, plain.output
    # the table and a line say so, with and without --strict; --strict says why it exits 2
    assert "ok, diagnostics failed" in plain.output
    assert "divergent: diagnostics failed: 14 of" in plain.output
    assert "--strict" not in plain.output
    strict = run(folder, "--strict", study="diagnostics.yaml")
    assert strict.code == 2, strict.output
    assert "--strict: exit status 2, the diagnostics of divergent failed" in strict.output


def test_init_failures_read_as_one_actionable_sentence(first: Run) -> None:
    for name in ("init_fails",):
        error = first.summary["models"][name]["error"]
        assert "Stack backtrace" not in error and "ErrorCode" not in error, error
        assert "initial point" in error and "support" in error, error


# -- limits ----------------------------------------------------------------------------------


def _compiled(folder: Path, model: str = "clean") -> Any:
    from radonspec.fit.runner import plan_study
    from radonspec.study.loader import load_study

    study = load_study(folder / "study.yaml")
    item = next(p for p in plan_study(study, [model]) if p.label == model)
    return study, item


@pytest.mark.parametrize("backend", ["nutpie", "pymc"])
def test_time_limit_stops_a_real_sampler(folder: Path, backend: str) -> None:
    study, item = _compiled(folder)
    model = item.compile(study).model
    started = time.perf_counter()
    with pytest.raises(FitTimeoutError), time_limit(1.0, model="clean"):
        model.fit(
            draws=1_000_000,
            tune=100,
            chains=2,
            cores=1,
            inference_method=backend,
            progressbar=False,
            random_seed=1,
        )
    assert time.perf_counter() - started < 10


def test_a_fit_past_its_time_limit_is_recorded_as_failed(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from radonspec.fit.sample import sample_model

    study, item = _compiled(folder)
    monkeypatch.setenv(TIME_LIMIT_ENV, "1")
    sampler = study.models["clean"].sampler.model_copy(update={"draws": 200_000})
    fit = sample_model(item.compile(study), key=item.key, sampler=sampler, seed=1)
    assert fit.status == "failed"
    assert fit.error is not None and fit.error.startswith(
        "model 'clean': the fit ran past its time limit of 1 s and was stopped"
    )


def test_ctrl_c_while_nutpie_samples_is_an_interrupt_not_a_short_fit(folder: Path) -> None:
    """nutpie answers Ctrl-C with the draws so far, or an error; neither may become a fit.

    Before, the run recorded the model as failed ("Sampler has no results to take") and
    went on with the next model.
    """
    import os
    import signal
    import threading

    from radonspec.fit.sample import sample_model

    study, item = _compiled(folder)
    # two million small steps: 28 s here without the interrupt (compiling is over in 3 s);
    # one draw in 1000 kept, so little memory
    update = {"tune": 1_000_000, "draws": 1_000_000, "thin": 1000, "target_accept": 0.999}
    sampler = study.models["clean"].sampler.model_copy(update=update)
    timers: list[threading.Timer] = []

    def on(model: str, phase: str) -> None:
        if phase == "sample":  # Ctrl-C 10 s later: compiled by then, and sampling
            timers.append(threading.Timer(10.0, os.kill, (os.getpid(), signal.SIGINT)))
            timers[-1].start()

    started = time.perf_counter()
    # as a terminal's run has it, whether or not the suite itself ignores SIGINT (`&`)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            sample_model(item.compile(study), key=item.key, sampler=sampler, seed=1, progress=on)
    finally:
        for timer in timers:
            timer.cancel()
        signal.signal(signal.SIGINT, previous)
    assert timers and time.perf_counter() - started < 60


def test_an_ignored_sigint_stays_ignored_while_sampling() -> None:
    """A run started in the background ignores SIGINT: sampling must not raise on it."""
    import os
    import signal

    from radonspec.fit.sample import _noticing_interrupts

    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with _noticing_interrupts() as interrupted:
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.1)
            interrupted()  # nothing was noted
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


def test_a_posterior_with_fewer_draws_than_asked_fails_the_fit() -> None:
    from radonspec.fit.sample import _check_draws

    sampler = SamplerSpec(draws=100, chains=2)
    full = xr.DataTree.from_dict(
        {"posterior": xr.Dataset({"a": (("chain", "draw"), np.zeros((2, 100)))})}
    )
    _check_draws(full, sampler)
    short = xr.DataTree.from_dict(
        {"posterior": xr.Dataset({"a": (("chain", "draw"), np.zeros((2, 37)))})}
    )
    with pytest.raises(RuntimeError, match="stopped early: 2 chains x 37 draws, not the 2 x 100"):
        _check_draws(short, sampler)


def test_a_fit_over_the_memory_limit_is_refused_before_sampling(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from radonspec.fit.sample import sample_model

    study, item = _compiled(folder)
    monkeypatch.setenv(MAX_BYTES_ENV, "100K")
    sampler = study.models["clean"].sampler
    started = time.perf_counter()
    fit = sample_model(item.compile(study), key=item.key, sampler=sampler, seed=1)
    assert fit.status == "failed"
    assert fit.error is not None
    expected = estimate_fit(40, 3, 600, 2)  # 40 rows; Intercept, x, sigma
    assert fit.error.startswith(
        f"model 'clean': its fit would take about {format_bytes(expected.total)} of memory"
    )
    assert f"sampler.draws: {600 * 100_000 // expected.total} fits" in fit.error
    assert fit.seconds.get("sample") is None  # refused before sampling
    assert time.perf_counter() - started < 30


def test_readable_failure_is_one_line() -> None:
    from radonspec.fit.sample import readable_failure

    text = readable_failure(RuntimeError("boom\n\nwith\n details"))
    assert "\n" not in text
    assert text == "RuntimeError: boom with details"


NUTPIE_INIT = (
    "All initialization points failed\n\nCaused by:\n    Logp function returned error:"
    " ErrorCode(4)\n\nStack backtrace:\n   0: <unknown>\n   1: start_thread at"
    " ./nptl/pthread_create.c:442:8"
)


def test_nutpie_init_failure_reads_as_a_sentence() -> None:
    from radonspec.fit.sample import readable_failure

    text = readable_failure(RuntimeError(NUTPIE_INIT))
    assert text.startswith("the model's log density is not finite at")
    assert "Stack backtrace" not in text and "<unknown>" not in text
