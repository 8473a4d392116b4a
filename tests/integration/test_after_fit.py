"""After the fit, with real sampling: predictions, Bayes R², prior sensitivity, effects.

Two studies, fitted once per module with small draws: the seed radon study (plus a
copy of the pooled model with a deliberately over-tight prior on ``floor``) and a
simulated non-Gaussian study (Bernoulli, Poisson and categorical models with a
grouping factor). References are independent of radonspec: Bambi's own ``predict``
on the same posterior, statsmodels' OLS, and R² recomputed by hand from the draws.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import arviz_stats as azs
import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
import xarray as xr

import radonspec
from radonspec.analysis.predictions import load_predictor
from radonspec.analysis.r2 import expected_values, r2_draws
from radonspec.analysis.sensitivity import CONFLICT, PRIOR_DOMINATES
from radonspec.data.datasets import load_bundled

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
RADON = """\
extends: {seed}
name: radon-after
defaults:
  sampler: {{draws: 500, tune: 500, chains: 2}}
models:
  unpooled:  # fast (sparse design); power-scaling needs many draws for 170 parameters
    sampler: {{draws: 4000, tune: 500, chains: 2}}
  tight:
    description: The pooled model with a prior that insists floor has no effect.
    formula: log_radon ~ floor
    priors:
      Intercept: Normal(0, 100)
      floor: Normal(0, 0.05)
      sigma: HalfCauchy(5)
report:
  effects: [floor]
  prior_sensitivity: true
"""
SIMULATED = """\
spec_version: 1
name: counts-and-choices
data: {path: sim.csv, categorical: [c, g, choice]}
defaults:
  sampler: {draws: 400, tune: 400, chains: 2, seed: 5}
models:
  bern:
    formula: z ~ x + c + (1|g)
    family: bernoulli
  pois:
    formula: k ~ x + c + (1|g)
    family: poisson
  cat:
    formula: choice ~ x
    family: categorical
report:
  effects:
    - x
    - {predictor: x, by: c}
"""


def _run(path: Path, folder: Path) -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = radonspec.run(path, store=folder / "store", out=folder / "out", jobs=1)
    assert all(fit.ok for fit in result.fits.values()), {n: f.error for n, f in result.fits.items()}
    assert result.results is not None
    return {"path": path, "store": folder / "store", "result": result}


@pytest.fixture(scope="module")
def radon(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("radon-after")
    path = folder / "radon-after.yaml"
    path.write_text(RADON.format(seed=ROOT / "specs/radon/seed.yaml"))
    return _run(path, folder)


def simulated_frame(n: int = 240, seed: int = 3) -> pd.DataFrame:
    """Counts, a binary outcome and a three-way choice driven by x, c and a group g."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    c = rng.choice(["lo", "mid", "hi"], size=n)
    g = rng.choice([f"g{i}" for i in range(8)], size=n)
    shift = {"lo": -0.5, "mid": 0.0, "hi": 0.5}
    group = dict(zip([f"g{i}" for i in range(8)], rng.normal(0, 0.4, 8), strict=True))
    eta = 0.2 + 0.8 * x + np.array([shift[v] for v in c]) + np.array([group[v] for v in g])
    z = rng.binomial(1, 1 / (1 + np.exp(-eta)))
    k = rng.poisson(np.exp(0.5 + 0.4 * x + np.array([shift[v] for v in c])
                           + np.array([group[v] for v in g])))  # fmt: skip
    scores = np.stack([np.zeros(n), 1.0 * x, -1.0 * x], axis=1) + rng.gumbel(size=(n, 3))
    choice = np.array(["a", "b", "c"])[scores.argmax(axis=1)]
    return pd.DataFrame({"x": x, "c": c, "g": g, "z": z, "k": k, "choice": choice})


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("simulated")
    simulated_frame().to_csv(folder / "sim.csv", index=False)
    path = folder / "sim.yaml"
    path.write_text(SIMULATED)
    return _run(path, folder)


def bambi_predictions(case: dict[str, Any], model: str, rows: pd.DataFrame, seed: int) -> Any:
    """Bambi's ``predict`` on the stored posterior: expected values and predictive draws."""
    predictor = load_predictor(radonspec.load_study(case["path"]), model, case["store"])
    data = predictor.model.data
    frame = rows.copy()
    for column in frame.columns:
        if column in data and isinstance(data[column].dtype, pd.CategoricalDtype):
            frame[column] = pd.Categorical(frame[column], categories=data[column].cat.categories)
    tree = xr.DataTree.from_dict({"posterior": predictor.posterior})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        predictor.model.predict(tree, kind="response", data=frame, inplace=True,
                                random_seed=seed)  # fmt: skip
    parent = predictor.model.family.likelihood.parent
    mu = tree["posterior"][parent].stack(s=("chain", "draw")).transpose("s", ...).values
    response = next(iter(tree["posterior_predictive"].data_vars))
    y = tree["posterior_predictive"][response].stack(s=("chain", "draw")).transpose("s", ...)
    return mu, y.values


def first_block_seed(seed: int) -> int:
    return int(np.random.SeedSequence([seed, 0]).generate_state(1)[0])


@pytest.mark.parametrize(
    ("case", "model", "rows", "method"),
    [
        ("radon", "hierarchical_nc",
         {"county": ["HENNEPIN", "HENNEPIN", "AITKIN", "CASS"], "floor": [0, 1, 0, 1]}, "linear"),
        ("simulated", "pois",
         {"x": [-1.0, 0.0, 1.2], "c": ["lo", "mid", "hi"], "g": ["g0", "g3", "g7"]},
         "inverted_cdf"),
        ("simulated", "bern",
         {"x": [-1.0, 0.0, 1.2], "c": ["lo", "mid", "hi"], "g": ["g0", "g3", "g7"]},
         "inverted_cdf"),
    ],
)  # fmt: skip
def test_predictions_for_fitted_groups_agree_with_bambi(
    request: pytest.FixtureRequest, case: str, model: str, rows: dict[str, list[Any]], method: str
) -> None:
    fixture = request.getfixturevalue(case)
    new = pd.DataFrame(rows)
    found = radonspec.predict(fixture["path"], model, new, store=fixture["store"], seed=7)
    frame = found.to_frame()
    mu, y = bambi_predictions(fixture, model, new, first_block_seed(7))
    np.testing.assert_allclose(frame["pred_mean"], mu.mean(axis=0), rtol=1e-10)
    np.testing.assert_allclose(frame["pred_sd"], mu.std(axis=0, ddof=1), rtol=1e-10)
    np.testing.assert_allclose(frame["pred_lower_89"], np.quantile(y, 0.055, axis=0, method=method))
    np.testing.assert_allclose(frame["pred_upper_89"], np.quantile(y, 0.945, axis=0, method=method))
    assert not frame["new_group"].any()


def test_a_new_county_gets_the_population_prediction_with_a_wider_interval(
    radon: dict[str, Any],
) -> None:
    rows = pd.DataFrame({"county": ["HENNEPIN", "ATLANTIS"], "floor": [0, 0]})
    frame = radonspec.predict(radon["path"], "hierarchical_nc", rows,
                              store=radon["store"]).to_frame()  # fmt: skip
    assert frame["new_group"].tolist() == [False, True]
    posterior = radon["result"].fits["hierarchical_nc"].tree["posterior"]
    intercept = posterior["Intercept"].values.ravel()
    spread = posterior["1|county_sigma"].values.ravel()
    # the new county's expected value: the population intercept plus the effect of a county
    # drawn from the fitted ones, so its mean is the intercept's, up to the mean of the 85
    # fitted effects (sd about sigma / sqrt(85)) and Monte Carlo error (sigma / sqrt(draws))
    tolerance = 3 * np.sqrt(np.mean(spread**2) * (1 / 85 + 1 / intercept.size))
    assert abs(frame.loc[1, "pred_mean"] - intercept.mean()) < tolerance
    assert frame.loc[1, "pred_sd"] > 2 * intercept.std()
    assert frame.loc[1, "pred_sd"] > frame.loc[0, "pred_sd"]
    width = frame["pred_upper_89"] - frame["pred_lower_89"]
    assert width[1] > width[0]


def test_a_new_group_widens_a_poisson_prediction(simulated: dict[str, Any]) -> None:
    rows = pd.DataFrame({"x": [0.3, 0.3], "c": ["mid", "mid"], "g": ["g2", "g99"]})
    frame = radonspec.predict(simulated["path"], "pois", rows,
                              store=simulated["store"]).to_frame()  # fmt: skip
    assert frame["new_group"].tolist() == [False, True]
    assert frame.loc[1, "pred_sd"] > frame.loc[0, "pred_sd"]


def test_r2_of_the_pooled_model_is_the_classical_r2(radon: dict[str, Any]) -> None:
    """Bayes R² of ``log_radon ~ floor`` against statsmodels' OLS R².

    Under flat priors each draw's coefficients scatter around the OLS estimate by
    ``delta``; that adds ``d = var(X delta)``, about ``sigma² / n``, to the variance of
    the fit and of the residuals alike, so the posterior mean of R² exceeds the
    classical R² by ``d (1 - 2 R²) / var(y)`` to first order (0.0009 here). Beyond that
    the two must agree within Monte Carlo error (4 MCSE of the posterior mean).
    """
    data = load_bundled("radon")
    ols = smf.ols("log_radon ~ floor", data).fit()
    analysis = radon["result"].results.models["pooled"].analysis
    summary = analysis.r2.conditional
    fit = radon["result"].fits["pooled"]
    tree = fit.tree
    predictor = load_predictor(radonspec.load_study(radon["path"]), "pooled", radon["store"])
    y = data["log_radon"].to_numpy()
    draws = r2_draws(y, expected_values(predictor.model, tree))
    # the same draws by hand, from the coefficients alone
    post = tree["posterior"]
    mu = (post["Intercept"].values.reshape(-1, 1)
          + post["floor"].values.reshape(-1, 1) * data["floor"].to_numpy()[None, :])  # fmt: skip
    by_hand = mu.var(axis=1) / (mu.var(axis=1) + (y[None, :] - mu).var(axis=1))
    np.testing.assert_allclose(draws, by_hand, rtol=1e-9)
    assert summary.mean == pytest.approx(draws.mean(), rel=1e-12)
    chains = post.sizes["chain"]
    mcse = float(azs.mcse(draws.reshape(chains, -1), method="mean"))
    bias = ols.scale / len(y) * (1 - 2 * ols.rsquared) / y.var()
    assert abs(summary.mean - (ols.rsquared + bias)) < 4 * mcse, (
        summary.mean, ols.rsquared, bias, mcse)  # fmt: skip
    assert summary.lb < ols.rsquared < summary.ub
    assert analysis.r2.marginal is None


def test_multilevel_r2_is_conditional_and_marginal(radon: dict[str, Any]) -> None:
    r2 = radon["result"].results.models["hierarchical_nc"].analysis.r2
    pooled = radon["result"].results.models["pooled"].analysis.r2.conditional
    assert r2.marginal is not None and r2.marginal.mean < r2.conditional.mean
    # without the county terms the model is the pooled one (near-identical fixed effects)
    assert abs(r2.marginal.mean - pooled.mean) < 0.03
    summary = json.loads((radon["store"].parent / "out" / "summary.json").read_text())
    assert summary["models"]["hierarchical_nc"]["bayes_r2"]["marginal"]["mean"] == pytest.approx(
        r2.marginal.mean
    )


def test_prior_sensitivity_flags_the_tight_prior_and_not_the_seed_priors(
    radon: dict[str, Any],
) -> None:
    models = radon["result"].results.models
    tight = models["tight"].analysis.sensitivity.table
    assert tight.loc["floor", "diagnosis"] == CONFLICT, tight
    for name in ("pooled", "hierarchical", "hierarchical_nc"):
        table = models[name].analysis.sensitivity.table
        assert (table["diagnosis"] == "").all(), (name, table)
        assert table["prior"].max() < 0.05
    # unpooled: the slopes of the 25 counties measured in basements only are their
    # Normal(0, 100) prior (no data inform them), and exactly those are flagged; the
    # likelihood's sensitivity of a slope it does not touch is noise, so nearly all read
    # "prior dominates" (one in twenty may cross its noise level by chance)
    unpooled = models["unpooled"].analysis.sensitivity.table
    data = load_bundled("radon")
    one_floor = {c for c, part in data.groupby("county", observed=True)
                 if part["floor"].nunique() == 1}  # fmt: skip
    flagged = unpooled[unpooled["diagnosis"] != ""]
    assert set(flagged.index) == {f"county:floor[{c}]" for c in one_floor}, flagged
    assert (flagged["diagnosis"] == PRIOR_DOMINATES).sum() >= 0.8 * len(flagged)


def test_effects_render_for_every_family(simulated: dict[str, Any]) -> None:
    results = simulated["result"].results
    for name, family in (("bern", "bernoulli"), ("pois", "poisson"), ("cat", "categorical")):
        effects = results.models[name].analysis.effects
        assert len(effects) == 2, (name, results.models[name].analysis.effect_notes)
        alone, by_c = effects
        if family == "categorical":  # one line per level of the response
            assert [line.label for line in alone.lines] == ["a", "b", "c"]
            total = np.sum([line.mean for line in alone.lines], axis=0)
            np.testing.assert_allclose(total, 1.0, rtol=1e-9)
            assert "it does not use 'c'" in (by_c.note or "")
        else:
            assert len(alone.lines) == 1 and len(by_c.lines) == 3
            assert {line.label for line in by_c.lines} == {"c = hi", "c = lo", "c = mid"}
            mean = alone.lines[0].mean
            assert np.all(np.diff(mean) > 0)  # x raises both the probability and the rate
            if family == "bernoulli":
                assert np.all((mean > 0) & (mean < 1)) and alone.quantity.startswith("probab")
            assert alone.population  # the group effects held at zero
    written = simulated["result"].written
    figures = written["markdown"].parent / "figures"
    for name in ("effect-1-x.png", "effect-2-x.png"):
        assert (figures / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Conditional effect of x by c" in written["html"].read_text()
    note = results.models["cat"].analysis.r2_note
    assert note is not None and "not defined for the categorical family" in note


def test_categorical_predictions_are_level_probabilities(simulated: dict[str, Any]) -> None:
    rows = pd.DataFrame({"x": [-2.0, 0.0, 2.0]})
    found = radonspec.predict(simulated["path"], "cat", rows, store=simulated["store"])
    frame = found.to_frame()
    means = frame[["pred_mean[a]", "pred_mean[b]", "pred_mean[c]"]].to_numpy()
    np.testing.assert_allclose(means.sum(axis=1), 1.0, rtol=1e-9)
    assert frame.loc[2, "pred_mean[b]"] > frame.loc[0, "pred_mean[b]"]  # b rises with x
    assert "pred_lower_89" not in frame  # no interval for unordered levels
