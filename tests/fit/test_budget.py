"""Resource bounds of one fit: the memory estimate, its limit, and the time limit."""

from __future__ import annotations

import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from radonspec.errors import FitError, RadonspecError
from radonspec.fit.budget import (
    MAX_BYTES_ENV,
    STATS_PER_DRAW,
    TIME_LIMIT_ENV,
    FitEstimate,
    FitTimeoutError,
    ResourceError,
    check_memory,
    estimate_bytes,
    estimate_fit,
    estimate_model,
    fit_time_limit,
    format_bytes,
    max_fit_bytes,
    model_size,
    parse_size,
    physical_memory,
    time_limit,
)


def test_estimate_counts_every_group() -> None:
    found = estimate_fit(919, 4, 1000, 4)
    draws = 4000
    assert found.posterior == draws * 4 * 8
    assert found.per_observation == draws * 919 * 8
    assert found.log_likelihood == draws * 919 * 8
    assert found.predictive == draws * 919 * 8
    assert found.sample_stats == draws * STATS_PER_DRAW * 8
    assert found.total == estimate_bytes(919, 4, 1000, 4) == 88_864_000


def test_estimate_without_predictive_thinned_and_distributional() -> None:
    base = estimate_fit(1000, 10, 1000, 4)
    assert estimate_fit(1000, 10, 1000, 4, predictive=False).predictive == 0
    assert estimate_fit(1000, 10, 1000, 4, log_likelihood=False).log_likelihood == 0
    thinned = estimate_fit(1000, 10, 1000, 4, thin=10)
    assert thinned.log_likelihood == base.log_likelihood // 10
    assert thinned.predictive == base.predictive // 10
    # mu is computed for the kept draws only, after thinning
    assert thinned.per_observation == base.per_observation // 10
    # the sampler holds every draw of the parameters and statistics until thinning
    assert (thinned.posterior, thinned.sample_stats) == (base.posterior, base.sample_stats)
    assert estimate_fit(1000, 10, 1001, 4, thin=10).log_likelihood == 101 * 4 * 1000 * 8
    assert estimate_fit(1000, 10, 1000, 4, per_obs_values=2).per_observation == (
        2 * base.per_observation
    )
    assert estimate_fit(1000, 10, 1000, 4, response_values=3000).predictive == (3 * base.predictive)


@pytest.mark.parametrize(
    "kwargs", [{"draws": 0}, {"thin": 0}, {"chains": -1}, {"n_obs": -5}], ids=str
)
def test_estimate_refuses_nonsense(kwargs: dict[str, int]) -> None:
    args = {"n_obs": 10, "n_params": 2, "draws": 10, "chains": 2} | kwargs
    with pytest.raises(ValueError, match=r"must be >= "):
        estimate_fit(**args)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("8G", 8 * 10**9),
        ("8 GB", 8 * 10**9),
        ("2GiB", 2 * 2**30),
        ("500m", 500 * 10**6),
        ("1.5T", 1_500_000_000_000),
        ("1e9", 10**9),
        ("123456", 123456),
        (" 64 KiB ", 64 * 1024),
    ],
)
def test_parse_size(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "lots", "8 parsecs", "-1G", "G8", "1,5G"])
def test_parse_size_refuses_with_the_variable_and_an_example(text: str) -> None:
    with pytest.raises(
        ResourceError,
        match=rf"^{MAX_BYTES_ENV}={text!r} is not a size; write a number of bytes with an optional"
        r" unit, e.g\. 8G",
    ):
        parse_size(text)


def test_limit_comes_from_the_environment_else_a_quarter_of_memory() -> None:
    memory = physical_memory()
    assert memory is not None and memory > 0
    assert max_fit_bytes({}) == memory // 4
    assert max_fit_bytes({MAX_BYTES_ENV: "8G"}) == 8 * 10**9
    for off in ("0", "none", "None", "off", ""):
        assert max_fit_bytes({MAX_BYTES_ENV: off}) is None


def test_within_the_limit_passes() -> None:
    estimate = estimate_fit(919, 4, 1000, 4)
    check_memory(estimate, estimate.total, model="pooled")
    check_memory(estimate, None, model="pooled")  # the default: a quarter of the RAM


def test_over_the_limit_is_refused_with_the_estimate_and_how_to_reduce_it() -> None:
    estimate = estimate_fit(1_000_000, 200, 1000, 4)
    with pytest.raises(ResourceError) as info:
        check_memory(estimate, 8 * 10**9, model="hierarchical")
    assert str(info.value) == (
        "model 'hierarchical': its fit would take about 64.2 GB of memory (log-likelihood"
        " 32.0 GB, predictive draws 32.0 GB, per-observation values 200.0 MB, posterior 6.4 MB,"
        " sampler statistics 512.0 kB; 4 chains x 1000 draws of 1,000,000 observations), more"
        " than the limit of 8.0 GB; reduce it with fewer draws (sampler.draws: 124 fits),"
        " thinning (sampler.thin: 9 keeps one draw in 9), not storing predictive draws"
        f" (sampler.predictive: false) or a higher limit ({MAX_BYTES_ENV}=71G)"
    )
    assert isinstance(info.value, RadonspecError) and info.value.exit_code == 1


def test_thinning_is_offered_when_it_can_bring_the_fit_under() -> None:
    # log-likelihood and predictive 1.28 GB each, one block of per-observation values 200 MB
    estimate = estimate_fit(10_000, 100, 4000, 4)
    with pytest.raises(ResourceError, match=r"thinning \(sampler\.thin: 2 keeps one draw in 2\)"):
        check_memory(estimate, 2 * 10**9, model="m")
    with pytest.raises(ResourceError) as info:
        check_memory(estimate, 2 * 10**9, model="m", can_thin=False, can_drop_predictive=False)
    assert "thin" not in str(info.value) and "predictive draws (sampler" not in str(info.value)
    # an estimate already thinned says so, and the factor offered replaces the current one
    thinned = estimate_fit(10_000, 100, 4000, 4, thin=2)
    with pytest.raises(ResourceError) as info:
        check_memory(thinned, 5 * 10**8, model="m")
    assert "4 chains x 4000 draws, one in 2 kept, of 10,000 observations" in str(info.value)
    assert "thinning (sampler.thin: 7 keeps one draw in 7)" in str(info.value)


def test_thinning_past_the_number_of_draws_is_not_offered() -> None:
    estimate = estimate_fit(1_000_000, 2, 20, 1)  # 480 MB; thin 49 would fit, draws are 20
    with pytest.raises(ResourceError) as info:
        check_memory(estimate, 10**7, model="m")
    assert "sampler.thin" not in str(info.value)
    assert str(info.value).endswith(
        "reduce it with not storing predictive draws (sampler.predictive: false) or a higher"
        f" limit ({MAX_BYTES_ENV}=529M)"
    )


def test_ten_million_rows_at_the_default_draws_are_refused_before_sampling() -> None:
    estimate = estimate_fit(10_000_000, 87, 1000, 4)
    assert estimate.total > 600 * 10**9
    with pytest.raises(
        ResourceError,
        match=r"^model 'm': its fit would take about 640\.2 GB of memory .* more than the limit"
        r" of 16\.0 GB; reduce it with fewer draws \(sampler\.draws: 24 fits\)",
    ):
        check_memory(estimate, 16 * 10**9, model="m")


def test_not_even_one_draw_fits_suggests_fewer_chains_and_a_higher_limit() -> None:
    estimate = estimate_fit(10_000_000, 10, 10, 4)
    with pytest.raises(ResourceError, match=r"fewer chains \(sampler\.chains\), .*higher limit"):
        check_memory(estimate, 10**8, model="m")


def test_format_bytes() -> None:
    assert [format_bytes(v) for v in (12, 1_500, 2_500_000, 3 * 10**9, 4 * 10**12)] == [
        "12 bytes", "1.5 kB", "2.5 MB", "3.0 GB", "4.0 TB",
    ]  # fmt: skip


# -- counting a built model --------------------------------------------------------------


def _model(formula: str | list[str], rows: int = 60, family: str = "gaussian"):  # noqa: ANN202
    import bambi as bmb

    rng = np.random.default_rng(1)
    data = pd.DataFrame(
        {
            "y": rng.normal(size=rows),
            "x": rng.normal(size=rows),
            "z": rng.normal(size=rows),
            "g": pd.Categorical([f"g{i % 5}" for i in range(rows)]),
        }
    )
    formulas = [formula] if isinstance(formula, str) else formula
    model = bmb.Model(bmb.Formula(*formulas), data, family=family)
    model.build()
    return model


@pytest.mark.filterwarnings("ignore::FutureWarning")  # Bambi's own deprecations
@pytest.mark.parametrize(
    ("formula", "n_params", "per_obs"),
    [
        ("y ~ x", 3, 1),  # Intercept, x, sigma; mu
        ("y ~ x + (1|g)", 3 + 1 + 5 + 5, 1),  # + 1|g_sigma, 1|g_offset[5], 1|g[5]
        (["y ~ x", "sigma ~ z"], 2 + 2, 2),  # mu and sigma per observation
    ],
    ids=["pooled", "varying-intercept", "distributional"],
)
def test_model_size_reads_the_built_model(
    formula: str | list[str], n_params: int, per_obs: int
) -> None:
    found = model_size(_model(formula))
    assert (found.n_obs, found.n_params, found.per_obs_values) == (60, n_params, per_obs)
    assert found.response_values == 60


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::FutureWarning")
@pytest.mark.filterwarnings("ignore::UserWarning")  # "Only 50 samples per chain"
def test_estimate_matches_a_real_fit_within_ten_percent() -> None:
    model = _model("y ~ x + (1|g)", rows=200)
    estimate = estimate_model(model, 50, 2)
    tree = model.fit(
        draws=50,
        tune=50,
        chains=2,
        random_seed=1,
        inference_method="nutpie",
        idata_kwargs={"log_likelihood": True},
        progressbar=False,
    )
    model.predict(tree, kind="response", inplace=True, random_seed=1)
    actual = sum(
        var.nbytes
        for group in ("posterior", "log_likelihood", "posterior_predictive", "sample_stats")
        for var in tree[group].to_dataset().data_vars.values()
    )
    assert abs(estimate.total - actual) / actual < 0.10, (estimate, actual)


def test_estimate_is_a_frozen_record() -> None:
    estimate = estimate_fit(10, 2, 10, 2)
    assert isinstance(estimate, FitEstimate)
    with pytest.raises(AttributeError):
        estimate.draws = 5  # type: ignore[misc]


# -- time limit ----------------------------------------------------------------------------


def test_time_limit_from_argument_or_environment() -> None:
    assert fit_time_limit(30, {}) == 30
    assert fit_time_limit(0, {TIME_LIMIT_ENV: "5"}) is None  # an explicit 0 turns it off
    assert fit_time_limit(None, {TIME_LIMIT_ENV: "2.5"}) == 2.5
    assert fit_time_limit(None, {}) is None
    assert fit_time_limit(None, {TIME_LIMIT_ENV: "none"}) is None
    with pytest.raises(ResourceError, match=rf"^{TIME_LIMIT_ENV}='soon' is not a number of sec"):
        fit_time_limit(None, {TIME_LIMIT_ENV: "soon"})
    with pytest.raises(ResourceError, match=r"must be a positive number of seconds"):
        fit_time_limit(None, {TIME_LIMIT_ENV: "-3"})


def test_time_limit_stops_a_long_block_and_restores_the_handler() -> None:
    import signal

    before = signal.getsignal(signal.SIGALRM)
    started = time.perf_counter()
    with pytest.raises(FitTimeoutError) as info, time_limit(0.2, model="slow") as enforced:
        assert enforced
        while True:
            time.sleep(0.01)
    assert time.perf_counter() - started < 2
    assert str(info.value) == (
        "model 'slow': the fit ran past its time limit of 0.2 s and was stopped; give it more"
        f" time ({TIME_LIMIT_ENV}=SECONDS) or make it cheaper (fewer draws or tuning steps, a"
        " simpler model)"
    )
    assert isinstance(info.value, FitError) and info.value.exit_code == 2
    assert signal.getsignal(signal.SIGALRM) == before
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_a_block_within_its_limit_is_untouched() -> None:
    with time_limit(5, model="quick") as enforced:
        time.sleep(0.01)
    assert enforced
    with time_limit(None, model="free") as enforced:
        pass
    assert not enforced


def _in_module(module: str, source: str) -> Any:
    """A function whose frames report ``module`` as theirs, as numba's or PyTensor's do."""
    namespace: dict[str, Any] = {"__name__": module, "time": time, "sys": sys}
    exec(compile(textwrap.dedent(source), f"<{module}>", "exec"), namespace)
    return namespace["run"]


def test_the_limit_waits_for_compilation_to_finish() -> None:
    compiling = _in_module("numba.core.compiler", "def run():\n    time.sleep(0.6)\n    return 1\n")
    finished: list[int] = []
    started = time.perf_counter()
    with pytest.raises(FitTimeoutError), time_limit(0.05, model="m"):
        finished.append(compiling())  # the alarm at 0.05 s is put off until this returns
        while True:
            time.sleep(0.01)
    assert finished == [1]
    assert 0.6 <= time.perf_counter() - started < 2.0


@pytest.mark.parametrize(
    ("module", "code", "safe"),
    [
        ("numba.core.compiler", "run", False),
        ("llvmlite.binding.ffi", "run", False),
        ("h5py._hl.files", "run", False),
        ("importlib._bootstrap", "run", False),
        ("pytensor.compile.function.types", "run", False),  # compiling a graph
        ("pytensor.compile.function.types", "__call__", True),  # running it
        ("pymc.sampling.mcmc", "run", True),
        ("nutpie.sample", "run", True),
    ],
)
def test_safe_points(module: str, code: str, safe: bool) -> None:
    from radonspec.fit.budget import _safe_to_interrupt

    source = f"def {code}():\n    return sys._getframe()\nrun = {code}\n"
    frame = _in_module(module, source)()
    assert _safe_to_interrupt(frame) is safe


def test_no_limit_outside_the_main_thread() -> None:
    found: list[bool] = []

    def worker() -> None:
        with time_limit(0.01, model="dask") as enforced:
            time.sleep(0.05)
        found.append(enforced)

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert found == [False]


def test_budget_module_has_no_import_of_the_sampler() -> None:
    source = Path(__file__).parents[2] / "radonspec" / "fit" / "budget.py"
    text = source.read_text()
    assert "import pymc" not in text and "import bambi" not in text
