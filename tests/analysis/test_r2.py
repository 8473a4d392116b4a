"""Bayesian R² draw by draw: equal to arviz-stats' residual R², in blocks or not."""

from __future__ import annotations

import arviz_stats as azs
import numpy as np
import pytest
import xarray as xr

from radonspec.analysis.r2 import R2Summary, r2_draws, undefined_reason


@pytest.mark.parametrize("blocks", [1, 3, 7])
def test_r2_draws_equal_arviz_residual_r2(blocks: int) -> None:
    rng = np.random.default_rng(4)
    y = rng.normal(10.0, 2.0, size=50)  # far from zero: the sums are shifted, not raw
    mu = y[None, :] * rng.uniform(0.2, 0.9, size=(40, 1)) + rng.normal(0, 0.5, size=(40, 50))
    edges = np.linspace(0, 50, blocks + 1).astype(int)
    parts = ((slice(a, b), mu[:, a:b]) for a, b in zip(edges[:-1], edges[1:], strict=True))
    found = r2_draws(y, iter(parts))
    tree = xr.DataTree.from_dict(
        {
            "posterior": xr.Dataset({"mu": (("chain", "draw", "obs"), mu.reshape(2, 20, 50))}),
            "observed_data": xr.Dataset({"y": (("obs",), y)}),
        }
    )
    expected = azs.residual_r2(tree, pred_mean="mu", obs_name="y", summary=False)
    np.testing.assert_allclose(found, np.asarray(expected).ravel(), rtol=1e-10)


def test_the_summary_is_mean_median_sd_and_the_89_interval() -> None:
    draws = np.linspace(0.0, 1.0, 1001)
    summary = R2Summary.of(draws)
    assert summary.mean == pytest.approx(0.5) and summary.median == pytest.approx(0.5)
    assert (summary.lb, summary.ub) == pytest.approx((0.055, 0.945))


@pytest.mark.parametrize(
    ("family", "phrase"),
    [
        ("gaussian", None),
        ("bernoulli", None),
        ("poisson", None),
        ("categorical", "not defined for the categorical family"),
        ("cumulative", "not defined for the cumulative family"),
        ("binomial", None),
        ("beta_binomial", None),
        ("zero_inflated_poisson", None),
        ("hurdle_lognormal", None),
        ("asymmetriclaplace", "main parameter is not the expected value"),
    ],
)
def test_where_r2_is_not_defined_it_says_why(family: str, phrase: str | None) -> None:
    reason = undefined_reason(family)
    assert reason is None if phrase is None else phrase in str(reason)


def test_a_binomial_response_with_trials_takes_the_trials_times_p_as_its_expected_value() -> None:
    """R² of ``p(y, n) ~ x + (1|g)`` against the same R² computed by hand from the draws.

    The draws are the prior's (no sampling); the expected count of each row is its trials
    times its probability, as brms' ``posterior_epred`` has it, conditional on the group
    intercepts or (marginal) without them.
    """
    import warnings

    import bambi as bmb
    import pandas as pd

    from radonspec.analysis.r2 import bayes_r2

    rng = np.random.default_rng(5)
    data = pd.DataFrame(
        {"x": rng.normal(size=30), "g": np.repeat(list("abcde"), 6), "n": rng.integers(1, 40, 30)}
    )
    data["y"] = rng.binomial(data["n"], 1 / (1 + np.exp(-(0.3 + 0.8 * data["x"]))))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = bmb.Model("p(y, n) ~ x + (1|g)", data, family="binomial")
        model.build()
        prior = model.prior_predictive(draws=40, random_seed=1)["prior"].to_dataset()
    posterior = prior[["Intercept", "x", "1|g_sigma", "1|g"]]
    tree = xr.DataTree.from_dict(
        {"posterior": posterior, "observed_data": xr.Dataset({"p(y, n)": ("__obs__", data["y"])})}
    )
    found = bayes_r2(model, tree, cells=40 * 7)  # in blocks of 7 rows

    draws = posterior.stack(s=("chain", "draw"))
    eta = draws["Intercept"].values + np.outer(data["x"], draws["x"].values)
    groups = draws["1|g"].transpose(..., "s").values[pd.Categorical(data["g"]).codes]
    n, y = data["n"].to_numpy()[:, None], data["y"].to_numpy()[:, None]

    def by_hand(eta: np.ndarray) -> np.ndarray:
        mu = n / (1 + np.exp(-eta))
        fit, residual = mu.var(axis=0, ddof=1), (y - mu).var(axis=0, ddof=1)
        return np.asarray(fit / (fit + residual))

    assert found.conditional.mean == pytest.approx(by_hand(eta + groups).mean(), rel=1e-10)
    assert found.marginal is not None
    assert found.marginal.mean == pytest.approx(by_hand(eta).mean(), rel=1e-10)


@pytest.mark.parametrize(
    ("family", "dist", "params"),
    [
        ("zero_inflated_poisson", "ZeroInflatedPoisson", {"psi": 0.7, "mu": 2.3}),
        ("zero_inflated_negativebinomial", "ZeroInflatedNegativeBinomial",
         {"psi": 0.7, "mu": 2.3, "alpha": 1.7}),
        ("hurdle_poisson", "HurdlePoisson", {"psi": 0.7, "mu": 2.3}),
        ("hurdle_poisson", "HurdlePoisson", {"psi": 0.4, "mu": 0.05}),  # truncation matters most
        ("hurdle_negativebinomial", "HurdleNegativeBinomial",
         {"psi": 0.7, "mu": 2.3, "alpha": 1.7}),
        ("hurdle_gamma", "HurdleGamma", {"psi": 0.7, "mu": 2.3, "alpha": 1.7}),
        ("hurdle_lognormal", "HurdleLogNormal", {"psi": 0.7, "mu": 0.4, "sigma": 0.6}),
        ("lognormal", "LogNormal", {"mu": 0.4, "sigma": 0.6}),
        ("weibull", "Weibull", {"mu": 2.3, "alpha": 1.7}),
    ],
)  # fmt: skip
def test_the_expected_value_of_a_family_is_the_mean_of_its_pymc_distribution(
    family: str, dist: str, params: dict[str, float]
) -> None:
    """A row's expected value (``psi`` times the non-zero part's mean for a zero family, a
    log-normal's ``exp(mu + sigma^2 / 2)``, a Weibull's ``mu``) against the mean summed
    from PyMC's own density, with the parameters as Bambi passes them."""
    import pymc as pm
    import pytensor
    import pytensor.tensor as pt

    from radonspec.analysis.r2 import mean_of

    found = xr.Dataset({k: (("chain", "draw", "__obs__"), [[[v]]]) for k, v in params.items()})
    value = float(mean_of(family, found, "mu").values.ravel()[0])
    if family == "hurdle_gamma":  # as Bambi passes it: mu, and sigma = mu / sqrt(alpha)
        params = {"psi": params["psi"], "mu": params["mu"],
                  "sigma": params["mu"] / params["alpha"] ** 0.5}  # fmt: skip
    if family == "weibull":  # as Bambi passes it: the scale is mu / Gamma(1 + 1 / alpha)
        from scipy.special import gamma

        alpha = params["alpha"]
        params = {"alpha": alpha, "beta": params["mu"] / gamma(1 + 1 / alpha)}
    x = pt.dvector("x")
    density = pytensor.function([x], pt.exp(pm.logp(getattr(pm, dist).dist(**params), x)))
    if family.endswith(("poisson", "negativebinomial")):
        grid = np.arange(0.0, 400.0)
        expected = float((grid * density(grid)).sum())
    else:  # the point mass at zero adds nothing to the mean
        grid = np.linspace(1e-9, 80.0, 400_001)
        expected = float(np.trapezoid(grid * density(grid), grid))
    assert value == pytest.approx(expected, rel=1e-6)


def test_a_censored_response_has_no_r2_and_says_why() -> None:
    """A censored time is a bound: its residual would be a number without a meaning."""
    from conftest import censored_model

    from radonspec.analysis.model import AnalysisSettings, after_fit

    model = censored_model(["none", "right", "none", "right"])
    found = after_fit("survival", None, model, "exponential", AnalysisSettings())  # type: ignore[arg-type]
    assert "r2" not in found
    assert found["r2_note"] == (
        "Bayesian R² is not computed for 'survival': 2 right-censored observations are bounds,"
        " not values, and the residuals need values"
    )


def test_a_hurdle_count_s_mean_at_a_vanishing_rate_is_psi_not_nan() -> None:
    """mu / P(y > 0) tends to 1 as mu goes to 0: the expected value is psi there."""
    from radonspec.analysis.r2 import mean_of

    found = xr.Dataset(
        {"mu": ("o", [0.0, 1e-20, 1e-9]), "psi": ("o", [0.4] * 3), "alpha": ("o", [1.7] * 3)}
    )
    for family in ("hurdle_poisson", "hurdle_negativebinomial"):
        values = mean_of(family, found, "mu").values
        np.testing.assert_allclose(values, 0.4, rtol=1e-8)
