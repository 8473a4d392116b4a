"""``radonspec.analysis.psis`` against arviz-stats: PSIS log weights, Pareto k, LOO and LOO-PIT.

The reference is arviz-stats 1.3 itself (``azs.loo``, ``azs.loo_pit``, the ``psislw``
accessor), on seeded random log-likelihoods chosen to reach every branch of the
smoothing (heavy tails, k above 1 and infinite, ties, -inf, few draws, both tail-length
rules) and on real fits of the radon data.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from functools import partial
from typing import Any

import arviz_stats as azs
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from arviz_base import from_dict
from arviz_stats.base import array_stats
from arviz_stats.base.diagnostics import _DiagnosticsBase
from arviz_stats.loo.loo_helper import _get_r_eff

from radonspec.analysis import loo, predictive, psis

RTOL = ATOL = 1e-10
DIMS = {"y": ["__obs__"]}


def _normal(rng: np.random.Generator, chains: int, draws: int, n_obs: int) -> np.ndarray:
    """Log-likelihood of a Gaussian location-scale posterior, (chain, draw, obs)."""
    y = rng.normal(1.0, 1.0, n_obs)
    a = rng.normal(1.0, 0.2, (chains, draws, 1))
    sigma = np.abs(rng.normal(1.0, 0.1, (chains, draws, 1)))
    return -0.5 * ((y - a) / sigma) ** 2 - np.log(sigma * np.sqrt(2 * np.pi))


def _case(name: str, seed: int) -> tuple[np.ndarray, dict[str, Any]]:
    """A log-likelihood array and the keywords of ``loo`` for one named random case."""
    rng = np.random.default_rng(seed)
    if name == "normal":
        return _normal(rng, 4, 500, 40), {}
    if name == "many_draws":
        return _normal(rng, 4, 1000, 60), {}
    if name == "scales":
        scale = rng.uniform(0.01, 5.0, 50)
        return rng.normal(0.0, 1.0, (4, 250, 50)) * scale - 1.0, {}
    if name == "heavy":
        log_lik = _normal(rng, 4, 250, 30)
        log_lik[..., :6] = -np.exp(rng.normal(0, 3, (4, 250, 6)))  # k above 0.7, some above 1
        return log_lik, {}
    if name == "very_bad":
        log_lik = _normal(rng, 2, 400, 20)
        log_lik[..., 0] = -np.exp(rng.normal(0, 12, (2, 400)))  # k far above 1
        log_lik[..., 1] = rng.standard_cauchy((2, 400)) * 50
        log_lik[0, :50, 2] = -1e6  # a block of near-impossible draws
        return log_lik, {}
    if name == "ties":
        return np.round(_normal(rng, 4, 250, 30), 1), {}
    if name == "few_draws":
        return _normal(rng, 1, 25, 12), {}  # the smallest tail arviz-stats smooths: 5 draws
    if name == "small":
        return _normal(rng, 2, 30, 15), {}
    if name == "one_chain":
        return _normal(rng, 1, 600, 20), {}
    if name == "many_chains":
        return _normal(rng, 8, 60, 25), {}
    if name == "reff_low":
        return _normal(rng, 4, 100, 20), {"reff": 0.3}  # S r_eff <= 225: S / 5 draws
    if name == "reff_high":
        return _normal(rng, 4, 400, 20), {"reff": 2.7}
    if name == "minus_inf":
        log_lik = _normal(rng, 2, 200, 8)
        log_lik[0, 5, 0] = -np.inf
        log_lik[1, :10, 1] = -np.inf
        log_lik[..., 2] = -np.inf
        return log_lik, {}
    raise AssertionError(name)


CASES = [
    "normal", "many_draws", "scales", "heavy", "very_bad", "ties", "few_draws", "small",
    "one_chain", "many_chains", "reff_low", "reff_high", "minus_inf",
]  # fmt: skip


def _tree(log_lik: np.ndarray, rng: np.random.Generator, *, discrete: bool = False) -> xr.DataTree:
    """A fit around ``log_lik``: a posterior for the ESS, predictive and observed draws."""
    chains, draws, n_obs = log_lik.shape[0], log_lik.shape[1], log_lik.shape[2:]
    posterior = {"a": rng.normal(0, 1, (chains, draws)), "b": rng.normal(0, 1, (chains, draws, 3))}
    predictive: np.ndarray
    observed: np.ndarray
    if discrete:
        predictive = rng.poisson(3.0, (chains, draws, *n_obs))
        observed = rng.poisson(3.0, n_obs)
    else:
        predictive = rng.normal(0, 1, (chains, draws, *n_obs))
        observed = rng.normal(0, 1, n_obs)
    return from_dict(
        {
            "posterior": posterior,
            "log_likelihood": {"y": log_lik},
            "posterior_predictive": {"y": predictive},
            "observed_data": {"y": observed},
        },
        dims=DIMS if len(n_obs) == 1 else None,
    )


def _recorded(function: Callable[[], Any]) -> tuple[Any, list[tuple[type, str]]]:
    """The result of ``function`` (or its exception) and the distinct warnings it gave, in order.

    Distinct: numpy warns once per array operation, so where arviz-stats repeats a
    RuntimeWarning for each observation (a -inf log-likelihood) radonspec gives it once
    per block; under Python's default filter either is shown once.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = function()
        except Exception as error:  # noqa: BLE001 - the error itself is compared
            result = error
    return result, list(dict.fromkeys((w.category, str(w.message)) for w in caught))


def _assert_close(ours: Any, theirs: Any, what: str) -> None:
    ours_values, their_values = np.asarray(ours, dtype=float), np.asarray(theirs, dtype=float)
    np.testing.assert_array_equal(np.isnan(ours_values), np.isnan(their_values), err_msg=what)
    np.testing.assert_allclose(
        ours_values, their_values, rtol=RTOL, atol=ATOL, equal_nan=True, err_msg=what
    )
    infinite = np.isinf(their_values)
    np.testing.assert_array_equal(ours_values[infinite], their_values[infinite], err_msg=what)


def _assert_same_array(ours: xr.DataArray, theirs: xr.DataArray, what: str) -> None:
    """Same name, dimensions, coordinates and attributes; values within 1e-10."""
    assert ours.name == theirs.name and ours.dims == theirs.dims, what
    assert ours.attrs == theirs.attrs, what
    xr.testing.assert_identical(ours.coords.to_dataset(), theirs.coords.to_dataset())
    _assert_close(ours.values, theirs.values, what)


def _assert_same_elpd(ours: Any, theirs: Any) -> None:
    """Every field of arviz-stats' ELPDDataLOO: the same type, and the same value."""
    assert type(ours) is type(theirs)
    assert vars(ours).keys() == vars(theirs).keys()
    for field, expected in vars(theirs).items():
        found = getattr(ours, field)
        if isinstance(expected, xr.DataArray):
            _assert_same_array(found, expected, field)
        elif isinstance(expected, float | np.floating):
            assert type(found) is type(expected), field
            _assert_close(found, expected, field)
        else:
            assert type(found) is type(expected) and found == expected, field


# -- LOO -------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("name", CASES)
def test_psis_loo_equals_arviz_loo(name: str, seed: int) -> None:
    log_lik, kwargs = _case(name, seed)
    tree = _tree(log_lik, np.random.default_rng(seed + 100))
    theirs, their_warnings = _recorded(lambda: azs.loo(tree, pointwise=True, **kwargs))
    ours, our_warnings = _recorded(lambda: psis.psis_loo(tree, pointwise=True, **kwargs))
    assert not isinstance(theirs, Exception), theirs
    _assert_same_elpd(ours, theirs)
    assert our_warnings == their_warnings


def test_psis_loo_without_pointwise_and_from_an_array() -> None:
    rng = np.random.default_rng(3)
    tree = _tree(_case("heavy", 3)[0], rng)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Estimated shape parameter of Pareto")
        theirs = azs.loo(tree, pointwise=False)
        ours = psis.psis_loo(tree, pointwise=False)
        _assert_same_elpd(ours, theirs)
        assert ours.elpd_i is None and ours.pareto_k is None and ours.log_weights is not None
        reff = psis.relative_ess(tree)
        from_array = psis.psis_loo(tree["log_likelihood"]["y"], reff=reff, pointwise=False)
        _assert_same_elpd(from_array, theirs)


def test_observations_in_several_dimensions_and_either_memory_layout() -> None:
    rng = np.random.default_rng(4)
    log_lik = _normal(rng, 2, 300, 12).reshape(2, 300, 3, 4)
    tree = _tree(log_lik, rng)
    _assert_same_elpd(psis.psis_loo(tree, pointwise=True), azs.loo(tree, pointwise=True))
    # observations first in memory, as the log weights are stored
    stored = tree["log_likelihood"].to_dataset()["y"]
    flipped = stored.copy(data=np.asfortranarray(stored.values))
    reff = psis.relative_ess(tree)
    _assert_same_elpd(
        psis.psis_loo(flipped, reff=reff, pointwise=True), azs.loo(tree, pointwise=True)
    )


def test_float32_log_likelihood_is_close_at_its_precision() -> None:
    """float32 is converted to float64 first; arviz-stats computes partly in float32."""
    rng = np.random.default_rng(15)
    tree = _tree(_normal(rng, 2, 300, 10).astype(np.float32), rng)
    ours, theirs = psis.psis_loo(tree, pointwise=True), azs.loo(tree, pointwise=True)
    for field in ("elpd_i", "pareto_k", "log_weights"):
        np.testing.assert_allclose(
            getattr(ours, field), getattr(theirs, field), rtol=1e-5, atol=1e-5
        )


def test_relative_ess_needs_the_posterior() -> None:
    tree = _tree(_normal(np.random.default_rng(16), 2, 100, 5), np.random.default_rng(16))
    del tree["posterior"]
    with pytest.raises(ValueError, match=r"needs the fit's posterior group .* pass reff="):
        psis.psis_loo(tree)
    assert psis.psis_loo(tree, reff=1.0).n_data_points == 5


def test_blocks_of_a_few_observations_give_the_same_numbers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Block edges fall between observations of different Pareto-fit shapes."""
    log_lik, _ = _case("very_bad", 5)
    tree = _tree(log_lik, np.random.default_rng(5))
    monkeypatch.setattr(psis, "BLOCK_BYTES", 3 * 8 * 800)  # 3 observations a block
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Estimated shape parameter of Pareto")
        _assert_same_elpd(psis.psis_loo(tree, pointwise=True), azs.loo(tree, pointwise=True))


@pytest.mark.parametrize("name", ["normal", "heavy", "ties", "few_draws", "minus_inf"])
def test_psislw_equals_arviz_psislw(name: str) -> None:
    log_lik = xr.DataArray(_case(name, 6)[0], dims=["chain", "draw", "obs"], name="y")
    for reff in (0.4, 1.0, 1.9):
        theirs, their_warnings = _recorded(
            partial(log_lik.azstats.psislw, r_eff=reff, dim=["chain", "draw"])
        )
        ours, our_warnings = _recorded(partial(psis.psislw, log_lik, reff))
        _assert_same_array(ours[0], theirs[0], "log_weights")
        _assert_same_array(ours[1], theirs[1], "pareto_k")
        assert our_warnings == their_warnings


def test_smooth_log_weights_rows_and_tail_length() -> None:
    rng = np.random.default_rng(7)
    rows = rng.standard_t(2, (40, 1000))
    weights, pareto_k = psis.smooth_log_weights(rows, 0.8)
    theirs, their_k = array_stats.psislw(rows, r_eff=0.8)
    _assert_close(weights, theirs, "log_weights")
    _assert_close(pareto_k, their_k, "pareto_k")
    assert psis.tail_length(4000, 1.0) == 189 and psis.tail_length(100, 1.0) == 20


def test_relative_ess_is_arvizs_default() -> None:
    rng = np.random.default_rng(8)
    for chains in (1, 2, 4):
        tree = _tree(_normal(rng, chains, 200, 5), rng)
        assert psis.relative_ess(tree) == pytest.approx(_get_r_eff(tree, chains * 200), rel=1e-15)


def test_refuses_what_arviz_refuses_and_says_why() -> None:
    rng = np.random.default_rng(9)
    constant = _normal(rng, 2, 200, 6)
    constant[..., 4] = -1.5
    tree = _tree(constant, rng)
    with pytest.raises(ValueError, match="All tail values are the same"):
        azs.loo(tree, reff=1.0)
    with pytest.raises(
        ValueError,
        match=r"^PSIS-LOO cannot smooth observation 4 of 'y': its 60 largest importance ratios"
        r" are all equal \(its log-likelihood hardly varies across draws\); leave the"
        r" observation out or compare by kfold \(compare: \{criterion: kfold\}\)$",
    ):
        psis.psis_loo(tree, reff=1.0)
    short = _tree(_normal(rng, 1, 24, 3), rng)
    with pytest.raises(ValueError, match="n_draws_tail must be at least 5"):
        azs.loo(short)
    with pytest.raises(
        ValueError,
        match=r"^PSIS-LOO needs at least 5 draws in the smoothed tail; 24 draws \(relative"
        r" efficiency 1.00\) give 4: sample at least 25 draws$",
    ):
        psis.psis_loo(short)
    with pytest.raises(ValueError, match=r"reff is needed for a log-likelihood array of several"):
        psis.psis_loo(tree["log_likelihood"]["y"])


# -- LOO-PIT ---------------------------------------------------------------------------------


@pytest.mark.parametrize("discrete", [False, True])
@pytest.mark.parametrize("name", ["normal", "heavy", "ties", "one_chain"])
def test_loo_pit_equals_arviz_loo_pit(name: str, discrete: bool) -> None:
    """Discrete draws tie with the observation: the ties are broken by the same draws."""
    log_lik, _ = _case(name, 10)
    tree = _tree(log_lik, np.random.default_rng(11), discrete=discrete)
    theirs = azs.loo_pit(tree)["y"]
    _assert_same_array(psis.loo_pit(tree, "y"), theirs, "loo_pit")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Estimated shape parameter of Pareto")
        smoothed = psis.psis_loo(tree, pointwise=True)
    _assert_same_array(psis.loo_pit(tree, "y", log_weights=smoothed.log_weights), theirs, "pit")


def test_loo_pit_in_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    tree = _tree(_case("normal", 12)[0], np.random.default_rng(12), discrete=True)
    monkeypatch.setattr(psis, "BLOCK_BYTES", 7 * 8 * 2000)
    _assert_same_array(psis.loo_pit(tree, "y"), azs.loo_pit(tree)["y"], "loo_pit")


# -- the comparison uses it ----------------------------------------------------------------


def test_compare_accepts_the_record_as_arvizs_own() -> None:
    rng = np.random.default_rng(13)
    y = rng.normal(1.0, 1.0, 30)
    trees = {}
    for name, shift in (("near", 0.0), ("far", 0.6)):
        a = rng.normal(1.0 + shift, 0.2, (4, 300, 1))
        log_lik = -0.5 * (y - a) ** 2 - 0.5 * np.log(2 * np.pi)
        trees[name] = _tree(log_lik, rng)
    ours = azs.compare({n: psis.psis_loo(t, pointwise=True) for n, t in trees.items()})
    theirs = azs.compare({n: azs.loo(t, pointwise=True) for n, t in trees.items()})
    pd.testing.assert_frame_equal(ours, theirs, rtol=RTOL, atol=ATOL)


def test_every_comparison_and_loo_pit_goes_through_radonspec_psis(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """compare_fits and loo_pit smooth with ``analysis.psis``, never with arviz-stats' loop."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("arviz-stats' per-observation PSIS was called")

    calls: list[int] = []
    vectorised = psis.psis_loo

    def spy(data: Any, **kwargs: Any) -> Any:
        calls.append(id(data))
        return vectorised(data, **kwargs)

    monkeypatch.setattr(_DiagnosticsBase, "_psislw", refuse)
    monkeypatch.setattr(psis, "psis_loo", spy)
    rng = np.random.default_rng(14)
    trees = {name: _tree(_case("normal", seed)[0], rng) for seed, name in enumerate("ab")}
    comparison = loo.compare_fits(trees)
    assert sorted(calls) == sorted(id(t) for t in trees.values())
    assert {row.model for row in comparison.rows} == {"a", "b"}
    assert predictive.loo_pit(trees["a"]).shape == (40,)
    fresh = _tree(_case("normal", 3)[0], rng)  # no smoothed weights kept: smoothed here
    assert predictive.loo_pit(fresh).shape == (40,)


# -- real fits -------------------------------------------------------------------------------

STUDY = """\
spec_version: 1
name: psis
data: {dataset: radon, categorical: [county]}
defaults:
  sampler: {draws: 150, tune: 150, chains: 2, seed: 11}
models:
  pooled:
    formula: log_radon ~ floor
  unpooled:
    formula: log_radon ~ 0 + county
  basement:
    formula: floor ~ log_uranium
    family: bernoulli
"""


@pytest.fixture(scope="module")
def real_fits(tmp_path_factory: pytest.TempPathFactory) -> dict[str, xr.DataTree]:
    from radonspec.api import fit_study
    from radonspec.study.loader import load_study_text

    folder = tmp_path_factory.mktemp("psis")
    study = load_study_text(STUDY, folder / "study.yaml")
    with warnings.catch_warnings():
        # sampler and Bambi chatter on tiny fits is not under test here
        warnings.simplefilter("ignore")
        fits = fit_study(study, store=folder / "store", jobs=1)
    assert all(fit.ok for fit in fits.values()), {n: f.error for n, f in fits.items()}
    return {name: fit.tree for name, fit in fits.items() if fit.tree is not None}


@pytest.mark.slow
@pytest.mark.parametrize("model", ["pooled", "unpooled", "basement"])
def test_real_fits_equal_arviz(real_fits: dict[str, xr.DataTree], model: str) -> None:
    tree = real_fits[model]
    theirs, their_warnings = _recorded(lambda: azs.loo(tree, pointwise=True))
    ours, our_warnings = _recorded(lambda: psis.psis_loo(tree, pointwise=True))
    _assert_same_elpd(ours, theirs)
    assert our_warnings == their_warnings
    assert ours.n_data_points == 919
    name = str(tree["log_likelihood"]["log_radon" if model != "basement" else "floor"].name)
    _assert_same_array(psis.loo_pit(tree, name), azs.loo_pit(tree)[name], "loo_pit")
    pit = predictive.loo_pit(tree)
    np.testing.assert_allclose(pit, azs.loo_pit(tree)[name].values.ravel(), rtol=RTOL, atol=ATOL)


def test_a_lazily_opened_fit_is_read_in_slabs_with_the_same_results(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fit read from its file gives the same numbers as in memory, the array never whole.

    Small slabs (three blocks of 7 observations) make the reads cross many slab edges.
    """
    rng = np.random.default_rng(21)
    log_lik = _normal(rng, 4, 250, 100)
    log_lik[..., :5] = -np.exp(rng.normal(0, 3, (4, 250, 5)))  # some large k
    tree = _tree(log_lik, rng)
    path = tmp_path / "fit.nc"
    tree.to_netcdf(path, engine="h5netcdf")
    monkeypatch.setattr(psis, "BLOCK_BYTES", 8 * 1000 * 7)
    monkeypatch.setattr(psis, "SLAB_BYTES", 8 * 1000 * 7 * 3)
    reads: list[int] = []
    original = psis._Rows._from_slab

    def counted(self: Any, rows: slice) -> np.ndarray:
        if self._slab is None or not (self._slab[0] <= rows.start and rows.stop <= self._slab[1]):
            reads.append(rows.start)
        return original(self, rows)

    monkeypatch.setattr(psis._Rows, "_from_slab", counted)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Estimated shape parameter of Pareto")
        expected = psis.psis_loo(tree, pointwise=True)
        lazy = xr.open_datatree(path, engine="h5netcdf", cache=False)
        try:
            found = psis.psis_loo(lazy, pointwise=True)
            slim = psis.psis_loo(lazy, pointwise=True, weights=False)
        finally:
            lazy.close()
    assert reads == list(range(0, 100, 21)) * 2  # two reads of the file, 21 rows a slab
    for field in ("elpd", "se", "p"):
        assert getattr(found, field) == getattr(expected, field)
        assert getattr(slim, field) == getattr(expected, field)
    for field in ("elpd_i", "pareto_k", "log_weights"):
        np.testing.assert_array_equal(getattr(found, field).values, getattr(expected, field).values)
    np.testing.assert_array_equal(slim.elpd_i.values, expected.elpd_i.values)
    np.testing.assert_array_equal(slim.pareto_k.values, expected.pareto_k.values)
    assert slim.log_weights is None


def test_cached_loo_keeps_weights_only_for_loo_pit() -> None:
    """Without predictive draws there is no LOO-PIT: the weights are not kept."""
    rng = np.random.default_rng(22)
    tree = _tree(_normal(rng, 2, 200, 10), rng)
    assert psis.cached_loo(tree).log_weights is not None
    without = tree.copy()
    del without["posterior_predictive"]
    result = psis.cached_loo(without)
    assert result.log_weights is None
    np.testing.assert_array_equal(result.elpd_i.values, psis.cached_loo(tree).elpd_i.values)
