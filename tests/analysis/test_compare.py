from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any

import arviz_stats as azs
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from arviz_base import from_dict

from radonspec.analysis.diagnostics import diagnose
from radonspec.analysis.grouplevel import group_estimates
from radonspec.analysis.groups import parameter_names, random_effects
from radonspec.analysis.loo import compare_fits
from radonspec.analysis.parameters import parameter_table
from radonspec.analysis.predictive import loo_pit, ppc_rmsd, prediction_rmsd
from radonspec.errors import DataError, SpecError

CHAINS, DRAWS, N_OBS = 4, 500, 30
DIMS = {"y": ["__obs__"], "mu": ["__obs__"], "1|g": ["g__factor_dim"], "x|g": ["g__factor_dim"]}


def _normal_fit(
    rng: np.random.Generator, *, shift: float = 0.0, y: Any = None, **stats: Any
) -> xr.DataTree:
    """A synthetic Gaussian fit: intercept, sigma, per-observation mu, predictive groups."""
    y = rng.normal(1.0, 1.0, N_OBS) if y is None else y
    a = rng.normal(1.0 + shift, 0.2, (CHAINS, DRAWS))
    sigma = np.abs(rng.normal(1.0, 0.1, (CHAINS, DRAWS)))
    mu = np.broadcast_to(a[..., None], (CHAINS, DRAWS, N_OBS))
    log_lik = -0.5 * ((y - mu) / sigma[..., None]) ** 2 - np.log(
        sigma[..., None] * np.sqrt(2 * np.pi)
    )
    groups: dict[str, Any] = {
        "posterior": {"a": a, "sigma": sigma, "mu": mu},
        "log_likelihood": {"y": log_lik},
        "posterior_predictive": {"y": rng.normal(mu, sigma[..., None])},
        "observed_data": {"y": y},
    }
    if stats:
        groups["sample_stats"] = stats
    return from_dict(groups, dims=DIMS)


def _stats(rng: np.random.Generator, **overrides: Any) -> dict[str, Any]:
    stats = {
        "diverging": np.zeros((CHAINS, DRAWS), dtype=bool),
        "tree_depth": np.full((CHAINS, DRAWS), 3),
        "reached_max_treedepth": np.zeros((CHAINS, DRAWS), dtype=bool),
        "energy": rng.normal(0, 1, (CHAINS, DRAWS)),
    }
    return stats | overrides


@contextlib.contextmanager
def _no_pareto_warning() -> Iterator[None]:
    """Silence ArviZ's own high-k warning, which compare_fits turns into per-model sentences."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Estimated shape parameter of Pareto")
        yield


# -- diagnose -------------------------------------------------------------------------------


def test_diagnose_passes_a_clean_fit_and_ignores_observation_level_mu() -> None:
    rng = np.random.default_rng(1)
    tree = _normal_fit(rng, **_stats(rng))
    # mu differs by chain, so its R-hat is huge: it must not count
    tree["posterior"]["mu"] = tree["posterior"]["mu"] + xr.DataArray(
        np.arange(CHAINS), dims="chain"
    )
    result = diagnose(tree, ess_min=100)
    assert parameter_names(tree) == ["a", "sigma"]
    assert result.passed, result.problems
    params = tree["posterior"].to_dataset()[["a", "sigma"]]
    assert result.r_hat_max == pytest.approx(float(azs.rhat(params).to_array().max()))
    assert result.ess_bulk_min == pytest.approx(
        float(azs.ess(params, method="bulk").to_array().min())
    )
    assert result.ess_tail_min == pytest.approx(
        float(azs.ess(params, method="tail").to_array().min())
    )
    assert result.ebfmi_min == pytest.approx(float(azs.bfmi(tree)["energy"].min()))
    assert result.problems == () and result.advice == ()


def test_diagnose_reports_divergences_treedepth_and_rhat_in_sentences() -> None:
    rng = np.random.default_rng(2)
    diverging = np.zeros((CHAINS, DRAWS), dtype=bool)
    diverging[0, :3] = True
    depth = np.full((CHAINS, DRAWS), 4)
    depth[1, :5] = 10
    tree = _normal_fit(rng, **_stats(rng, diverging=diverging, tree_depth=depth))
    tree["posterior"]["a"] = tree["posterior"]["a"] + xr.DataArray([0, 0, 0, 2.0], dims="chain")
    tree["posterior"]["1|g_sigma"] = np.exp(tree["posterior"]["a"] / 10)  # a group-level term
    result = diagnose(tree, ess_min=100)
    assert not result.passed
    assert result.divergences == 3 and result.max_treedepth_hits == 5
    text = "\n".join(result.problems)
    assert f"R-hat is {result.r_hat_max:.3f} for 'a', above 1.01: the chains disagree." in text
    assert "3 of 2000 draws (0.1%) ended in a divergent transition; at most 0 allowed." in text
    assert "5 of 2000 draws hit the maximum tree depth 10." in text
    assert any("target_accept" in a for a in result.advice)
    assert any("noncentered: true" in a for a in result.advice)
    assert any("max_treedepth" in a for a in result.advice)
    assert len(result.advice) == len(set(result.advice))
    assert diagnose(tree, max_divergences=3, rhat_max=10, ess_min=1, max_treedepth=11).passed
    # a model that is non-centered already, or has no group-level term, is not told to be
    already = diagnose(tree, ess_min=100, centered=False)
    assert not any("noncentered" in a for a in already.advice), already.advice
    assert any("target_accept" in a for a in already.advice)
    ungrouped = tree.copy()
    ungrouped["posterior"] = ungrouped["posterior"].to_dataset().drop_vars("1|g_sigma")
    assert not any("noncentered" in a for a in diagnose(ungrouped, ess_min=100).advice)


def test_the_advice_for_longer_chains_asks_for_more_than_the_fit_had() -> None:
    rng = np.random.default_rng(5)
    tree = xr.DataTree.from_dict(
        {"posterior": xr.Dataset({"a": (("chain", "draw"), rng.normal(size=(4, 2000)))})}
    )
    tree["posterior"]["a"] = tree["posterior"]["a"] + xr.DataArray([0, 0, 0, 2.0], dims="chain")
    (advice,) = diagnose(tree).advice
    assert advice.endswith("(e.g. to 4000 each)"), advice  # the seed study said 2000 to 2000
    short = tree.isel(draw=slice(0, 300))
    assert diagnose(short).advice[0].endswith("(e.g. to 2000 each)")


def test_diagnose_reads_nutpie_stat_names_and_falls_back_to_the_flag() -> None:
    rng = np.random.default_rng(3)
    depth = np.full((CHAINS, DRAWS), 4, dtype=np.uint64)
    depth[0, :7] = 6
    flag = np.zeros((CHAINS, DRAWS), dtype=bool)
    flag[0, :2] = True
    diverging = np.zeros((CHAINS, DRAWS), dtype=bool)
    diverging[2, 5] = True
    stats = {"diverging": diverging, "depth": depth, "maxdepth_reached": flag}
    tree = _normal_fit(rng, **stats, energy=rng.normal(size=(CHAINS, DRAWS)))
    assert diagnose(tree, max_treedepth=6).max_treedepth_hits == 7
    assert diagnose(tree, max_treedepth=None).max_treedepth_hits == 2
    assert diagnose(tree).divergences == 1


def test_diagnose_flags_low_ebfmi_per_chain_and_low_ess() -> None:
    rng = np.random.default_rng(4)
    energy = rng.normal(0, 1, (CHAINS, DRAWS))
    energy[2] = np.cumsum(rng.normal(0, 1, DRAWS))  # a random walk: momentum resampling fails
    tree = _normal_fit(rng, **_stats(rng, energy=energy))
    result = diagnose(tree, ess_min=10**6)
    bfmi = azs.bfmi(tree)["energy"]
    assert result.ebfmi_min == pytest.approx(float(bfmi.min()))
    low = f"E-BFMI is below 0.3 in chain 2 ({float(bfmi.sel(chain=2)):.2f})"
    assert any(p.startswith(low) for p in result.problems)
    assert any(p.startswith("bulk ESS is ") and "below 1e+06" in p for p in result.problems)
    assert any(p.startswith("tail ESS is ") for p in result.problems)


def test_diagnose_without_sample_stats_checks_rhat_and_ess_only() -> None:
    result = diagnose(_normal_fit(np.random.default_rng(5)), ess_min=100)
    assert result.passed and result.divergences == 0 and np.isnan(result.ebfmi_min)


# -- predictive checks and LOO --------------------------------------------------------------


def test_ppc_rmsd_and_prediction_rmsd_match_hand_computation() -> None:
    tree = _normal_fit(np.random.default_rng(6))
    y = tree["observed_data"]["y"].values
    y_rep = tree["posterior_predictive"]["y"].values
    per_draw = [
        np.sqrt(np.mean((y_rep[c, d] - y) ** 2)) for c in range(CHAINS) for d in range(DRAWS)
    ]
    assert ppc_rmsd(tree) == pytest.approx(np.mean(per_draw), rel=1e-12)
    point = y_rep.mean(axis=(0, 1))
    assert prediction_rmsd(tree) == pytest.approx(np.sqrt(np.mean((point - y) ** 2)), rel=1e-12)
    assert prediction_rmsd(tree) < ppc_rmsd(tree)
    with pytest.raises(ValueError, match=r"'yy' is not an observed variable of the fit"):
        ppc_rmsd(tree, var_name="yy")


def test_compare_fits_matches_arviz_loo_and_compare() -> None:
    rng = np.random.default_rng(7)
    y = rng.normal(1.0, 1.0, N_OBS)
    fits = {"bad": _normal_fit(rng, shift=0.5, y=y), "good": _normal_fit(rng, y=y)}
    result = compare_fits(fits)
    assert result.criterion == "loo"
    assert [r.model for r in result.rows] == ["good", "bad"] and result.rows[0].rank == 0
    with _no_pareto_warning():
        expected = azs.compare(fits, round_to="none")
        loos = {name: azs.loo(tree) for name, tree in fits.items()}
    for row in result.rows:
        loo = loos[row.model]
        assert row.elpd == pytest.approx(loo.elpd)
        assert row.se == pytest.approx(loo.se)
        assert row.p == pytest.approx(loo.p)
        line = expected.loc[row.model]
        assert row.elpd_diff == pytest.approx(line["elpd_diff"])
        assert row.dse == pytest.approx(line["dse"])
        assert row.weight == pytest.approx(line["weight"], abs=1e-6)
        assert row.rmsd == pytest.approx(ppc_rmsd(fits[row.model]))
        assert row.pareto_k_threshold == pytest.approx(min(1 - 1 / np.log10(2000), 0.7))
    assert sum(r.weight for r in result.rows) == pytest.approx(1.0)


def test_compare_fits_counts_bad_pareto_k_and_warns_by_model() -> None:
    rng = np.random.default_rng(8)
    tree = _normal_fit(rng)
    log_lik = tree["log_likelihood"]["y"]
    heavy = log_lik.values.copy()
    heavy[..., :3] = -np.exp(rng.normal(0, 3, (CHAINS, DRAWS, 3)))  # heavy-tailed ratios
    tree["log_likelihood"]["y"] = log_lik.copy(data=heavy)
    with _no_pareto_warning():
        loo = azs.loo(tree, pointwise=True)
    expected = int((loo.pareto_k > loo.good_k).sum())
    assert expected > 0
    result = compare_fits({"unpooled": tree})
    (row,) = result.rows
    assert row.pareto_k_bad == expected and row.weight == pytest.approx(1.0)
    plural = "s" if expected != 1 else ""
    assert result.warnings == (
        f"{expected} observation{plural} with Pareto k > {loo.good_k:.2f} in 'unpooled':"
        " PSIS-LOO is unreliable there; use kfold (compare: {criterion: kfold}).",
    )


def test_compare_fits_uses_precomputed_elpd_and_refuses_bad_criteria() -> None:
    tree = _normal_fit(np.random.default_rng(9))
    loo = azs.loo(tree, pointwise=True)
    result = compare_fits({"m": tree}, criterion="kfold", elpd={"m": loo})
    assert result.criterion == "kfold" and result.rows[0].elpd == pytest.approx(loo.elpd)
    with pytest.raises(ValueError, match=r"criterion 'kfold' needs refits"):
        compare_fits({"m": tree}, criterion="kfold")
    with pytest.raises(ValueError, match=r"unknown criterion 'waic'; expected 'kfold' or 'loo'"):
        compare_fits({"m": tree}, criterion="waic")


def test_loo_pit_matches_arviz() -> None:
    tree = _normal_fit(np.random.default_rng(10))
    values = loo_pit(tree)
    assert values.shape == (N_OBS,)
    np.testing.assert_allclose(values, azs.loo_pit(tree)["y"].values)
    assert ((values >= 0) & (values <= 1)).all()


# -- parameter table ------------------------------------------------------------------------


def _group_fit(rng: np.random.Generator) -> tuple[xr.DataTree, pd.DataFrame]:
    """A synthetic hierarchical fit over groups a, b, c and the data it was 'fitted' to."""
    shape = (CHAINS, DRAWS)
    posterior = {
        "Intercept": rng.normal(1, 0.1, shape),
        "sigma": np.abs(rng.normal(1.0, 0.1, shape)),
        "1|g_sigma": np.abs(rng.normal(0.8, 0.2, shape)),
        "x|g_sigma": np.abs(rng.normal(0.3, 0.1, shape)),
        "1|g": rng.normal(0, 0.8, (*shape, 3)),
        "x|g": rng.normal(0, 0.3, (*shape, 3)),
        "mu": rng.normal(0, 1, (*shape, 6)),
    }
    tree = from_dict(
        {"posterior": posterior, "observed_data": {"y": rng.normal(size=6)}},
        dims=DIMS,
        coords={"g__factor_dim": ["a", "b", "c"]},
    )
    data = pd.DataFrame({"g": list("aaabbc"), "x": [0, 1, 0, 1, 0, 1], "y": np.zeros(6)})
    return tree, data


def test_parameter_table_is_arviz_summary_with_eti89() -> None:
    tree, _ = _group_fit(np.random.default_rng(11))
    table = parameter_table(tree)
    assert list(table.columns) == [
        "mean", "sd", "eti89_lb", "eti89_ub", "mcse_mean", "ess_bulk", "ess_tail", "r_hat",
    ]  # fmt: skip
    assert "1|g[a]" in table.index and not any(i.startswith("mu") for i in table.index)
    expected = azs.summary(tree, var_names=["1|g"], ci_kind="eti", ci_prob=0.89, round_to="none")
    pd.testing.assert_frame_equal(
        table.loc[["1|g[a]", "1|g[b]", "1|g[c]"]],
        pd.DataFrame(expected)[table.columns].astype(float),
    )
    draws = tree["posterior"]["Intercept"].values.ravel()
    lb, ub = np.quantile(draws, [0.055, 0.945])
    assert table.loc["Intercept", "eti89_lb"] == pytest.approx(lb)
    assert table.loc["Intercept", "eti89_ub"] == pytest.approx(ub)
    assert list(parameter_table(tree, ["sigma"]).index) == ["sigma"]


def test_parameter_table_names_unknown_parameters() -> None:
    tree, _ = _group_fit(np.random.default_rng(12))
    with pytest.raises(SpecError, match=r"unknown parameter 'sigam' \(did you mean 'sigma'\?\)"):
        parameter_table(tree, ["sigam"])


# -- random effects -------------------------------------------------------------------------


def test_random_effects_sizes_sds_and_icc_by_hand() -> None:
    tree, data = _group_fit(np.random.default_rng(13))
    intercept, slope = random_effects(tree, data, "gaussian")
    post = tree["posterior"].to_dataset()
    sd = post["1|g_sigma"].values.ravel()
    sigma = post["sigma"].values.ravel()
    icc = sd**2 / (sd**2 + sigma**2)
    assert (intercept.group, intercept.term, slope.term) == ("g", "1", "x")
    assert intercept.sd_mean == pytest.approx(sd.mean())
    assert (intercept.sd_lb, intercept.sd_ub) == pytest.approx(np.quantile(sd, [0.055, 0.945]))
    assert intercept.icc_mean == pytest.approx(icc.mean(), rel=1e-12)
    assert (intercept.icc_lb, intercept.icc_ub) == pytest.approx(np.quantile(icc, [0.055, 0.945]))
    assert (intercept.n_groups, intercept.obs_min, intercept.obs_median, intercept.obs_max) == (
        3, 1, 2.0, 3,
    )  # fmt: skip
    assert slope.icc_mean is None
    (row, _) = random_effects(tree, data, "bernoulli")
    assert row.icc_mean is None and row.sd_mean == intercept.sd_mean
    with pytest.raises(DataError, match=r"grouping factor 'g' needs the column 'g'"):
        random_effects(tree, data.rename(columns={"g": "h"}), "gaussian")


# -- real fits ------------------------------------------------------------------------------


def _fit(formula: str, data: pd.DataFrame, backend: str = "pymc") -> tuple[Any, xr.DataTree]:
    import bambi as bmb

    kwargs: dict[str, Any] = {"cores": 1, "compute_convergence_checks": False}
    if backend != "pymc":
        kwargs = {}
    with warnings.catch_warnings():
        # third-party chatter while sampling (chain counts, numba, pytensor) is not under test
        warnings.simplefilter("ignore")
        model = bmb.Model(formula, data)
        tree = model.fit(
            draws=200, tune=200, chains=2, inference_method=backend, random_seed=1,
            idata_kwargs={"log_likelihood": True}, progressbar=False, **kwargs,
        )  # fmt: skip
        model.predict(tree, kind="response", random_seed=1)
    return model, tree


@pytest.fixture(scope="module")
def simulated() -> pd.DataFrame:
    """60 groups x 20 observations; intercept SD 1 and sigma 1, so the ICC is 0.5."""
    rng = np.random.default_rng(20221)
    groups, per = 60, 20
    g = np.repeat(np.arange(groups), per)
    x = rng.integers(0, 2, groups * per).astype(float)
    b, c = rng.normal(0, 1.0, groups), rng.normal(0, 0.3, groups)
    y = 0.5 + b[g] + (-0.7 + c[g]) * x + rng.normal(0, 1.0, groups * per)
    return pd.DataFrame({"y": y, "x": x, "g": pd.Categorical([f"g{i:02d}" for i in g])})


@pytest.fixture(scope="module")
def hierarchical(simulated: pd.DataFrame) -> tuple[Any, xr.DataTree]:
    return _fit("y ~ x + (x|g)", simulated)


@pytest.fixture(scope="module")
def small() -> pd.DataFrame:
    """8 groups x 10 observations with a group-level covariate u."""
    rng = np.random.default_rng(5)
    g = np.repeat(np.arange(8), 10)
    u = np.linspace(-1, 1, 8)
    x = np.tile([0.0, 1.0], 40)
    y = 1 + 0.8 * u[g] - 0.6 * x + rng.normal(0, 0.3, 8)[g] + rng.normal(0, 0.5, 80)
    return pd.DataFrame({"y": y, "x": x, "u": u[g], "g": pd.Categorical([f"c{i}" for i in g])})


@pytest.mark.slow
def test_real_fit_icc_and_tables(
    simulated: pd.DataFrame, hierarchical: tuple[Any, xr.DataTree]
) -> None:
    _, tree = hierarchical
    rows = {r.term: r for r in random_effects(tree, simulated, "gaussian")}
    assert set(rows) == {"1", "x"}
    assert rows["1"].n_groups == 60 and rows["1"].obs_min == rows["1"].obs_max == 20
    assert rows["1"].icc_mean == pytest.approx(0.5, abs=0.12)
    assert rows["1"].sd_mean == pytest.approx(1.0, abs=0.25)
    diagnostics = diagnose(tree)
    assert diagnostics.divergences == int(tree["sample_stats"]["diverging"].sum())
    assert np.isfinite(diagnostics.ebfmi_min)
    table = parameter_table(tree)
    assert {"Intercept", "x", "1|g_sigma", "1|g[g00]", "sigma"} <= set(table.index)
    assert "mu" not in parameter_names(tree)


@pytest.mark.slow
def test_real_fits_compare_against_arviz(
    simulated: pd.DataFrame, hierarchical: tuple[Any, xr.DataTree]
) -> None:
    _, pooled = _fit("y ~ x", simulated)
    _, tree = hierarchical
    result = compare_fits({"pooled": pooled, "hierarchical": tree})
    assert [r.model for r in result.rows] == ["hierarchical", "pooled"]
    with _no_pareto_warning():
        loo = azs.loo(tree, pointwise=True)
    best = result.rows[0]
    assert best.elpd == pytest.approx(loo.elpd) and best.p == pytest.approx(loo.p)
    assert best.pareto_k_bad == int((loo.pareto_k > loo.good_k).sum())
    assert best.rmsd is not None and best.rmsd < result.rows[1].rmsd  # type: ignore[operator]
    assert loo_pit(tree).shape == (len(simulated),)


@pytest.mark.slow
def test_group_estimates_hierarchical_match_posterior_sums(
    simulated: pd.DataFrame, hierarchical: tuple[Any, xr.DataTree]
) -> None:
    model, tree = hierarchical
    result = group_estimates(model, tree, simulated, "g", "x", name="hierarchical")
    post = tree["posterior"].to_dataset()
    intercepts = (post["Intercept"] + post["1|g"]).mean(("chain", "draw")).values
    slopes = (post["x"] + post["x|g"]).mean(("chain", "draw")).values
    assert result.model == "hierarchical" and len(result.table) == 60
    np.testing.assert_allclose(result.table["intercept_mean"], intercepts, rtol=1e-9)
    np.testing.assert_allclose(result.table["slope_mean"], slopes, rtol=1e-9)
    assert (result.table["n"] == 20).all()
    assert result.population["intercept"] == pytest.approx(float(post["Intercept"].mean()))
    assert result.population["slope"] == pytest.approx(float(post["x"].mean()))
    assert result.population["slope_lb"] < result.population["slope"]
    assert "mu" in post and post["mu"].sizes["__obs__"] == len(simulated)  # fit untouched


@pytest.mark.slow
def test_group_estimates_unpooled_with_nutpie(small: pd.DataFrame) -> None:
    model, tree = _fit("y ~ 0 + g + g:x", small, backend="nutpie")
    diagnostics = diagnose(tree, max_treedepth=None)  # nutpie's own stat names
    assert diagnostics.max_treedepth_hits == 0 and np.isfinite(diagnostics.ebfmi_min)
    result = group_estimates(model, tree, small, "g", "x")
    post = tree["posterior"].to_dataset()
    np.testing.assert_allclose(
        result.table["intercept_mean"], post["g"].mean(("chain", "draw")).values, rtol=1e-9
    )
    np.testing.assert_allclose(
        result.table["slope_mean"], post["g:x"].mean(("chain", "draw")).values, rtol=1e-9
    )
    assert result.population["slope"] == pytest.approx(float(post["g:x"].mean()))


@pytest.mark.slow
def test_group_estimates_hold_group_level_predictors_at_group_means(small: pd.DataFrame) -> None:
    model, tree = _fit("y ~ x + u + (1|g)", small)
    result = group_estimates(model, tree, small, "g", "x")
    post = tree["posterior"].to_dataset()
    u = xr.DataArray(small.groupby("g", observed=True)["u"].mean().values, dims="g__factor_dim")
    expected = (post["Intercept"] + post["u"] * u + post["1|g"]).mean(("chain", "draw"))
    np.testing.assert_allclose(result.table["intercept_mean"], expected.values, rtol=1e-9)
    np.testing.assert_allclose(result.table["slope_mean"], float(post["x"].mean()), rtol=1e-9)
    only = group_estimates(model, tree, small, "g", None)
    assert not any(c.startswith("slope") for c in only.table.columns)
    with pytest.raises(DataError, match=r"column 'gg' is not in the data \(did you mean 'g'\?\)"):
        group_estimates(model, tree, small, "gg", "x")
    with pytest.raises(DataError, match=r"predictor 'g' must be a numeric column"):
        group_estimates(model, tree, small, "u", "g")


# -- statistics computed once per fit --------------------------------------------------------


def test_the_whole_parameter_table_is_arviz_summary() -> None:
    tree, _ = _group_fit(np.random.default_rng(13))
    table = parameter_table(tree, key="whole-table")
    names = parameter_names(tree)
    expected = azs.summary(tree, var_names=names, ci_kind="eti", ci_prob=0.89, round_to="none")
    pd.testing.assert_frame_equal(table, pd.DataFrame(expected)[table.columns].astype(float))


def test_r_hat_and_ess_are_computed_once_per_fit_and_shared(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tree, _ = _group_fit(np.random.default_rng(14))
    accessor = type(tree["posterior"].to_dataset().azstats)
    calls: list[str] = []
    real = accessor.rhat

    def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append("rhat")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(accessor, "rhat", counted)
    found = diagnose(tree, key="shared")
    stored = tree.copy()  # the same draws read back from the store: another object
    table = parameter_table(stored, key="shared")
    again = diagnose(stored, key="shared")
    assert calls == ["rhat"]
    assert (again.r_hat_max, again.ess_bulk_min, again.ess_tail_min) == (
        found.r_hat_max,
        found.ess_bulk_min,
        found.ess_tail_min,
    )
    assert table.loc["sigma", "r_hat"] <= found.r_hat_max
    # without a key: shared while the same posterior object lives
    diagnose(stored)
    parameter_table(stored)
    assert calls == ["rhat", "rhat"]
    # other draws under the same key (a refit with more draws) are not served old numbers
    longer = tree.copy()
    longer["posterior"] = tree["posterior"].to_dataset().isel(draw=slice(0, 50))
    diagnose(longer, key="shared")
    assert calls == ["rhat", "rhat", "rhat"]
