"""Bayesian R² per model (Gelman, Goodrich, Gabry & Vehtari 2019), draw by draw.

For each posterior draw ``s``, ``R²_s = var(mu_s) / (var(mu_s) + var(y - mu_s))``, the
variances taken over the observations, with ``mu_s`` the expected value of each
observation's response under draw ``s`` (for a binomial response with trials, ``p(y, n)``,
the trials times the probability: brms' ``posterior_epred``). This is the residual form
brms' ``bayes_R2`` and rstanarm use (and ``arviz_stats.residual_r2``); its posterior
median is close to the classical R² of the same regression under weak priors. For a
multilevel model the *conditional* R² uses the group-specific effects and the *marginal*
R² leaves them out (``mu_s`` from the population-level terms only), as
``performance::r2_bayes`` does with ``re.form = NA``.

The expected values are predicted by Bambi in blocks of observations and only the sums
each variance needs are kept, so memory stays bounded whatever the number of rows.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from radonspec.analysis.groups import SAMPLE_DIMS, parameter_names
from radonspec.study.family import TRIALS_FAMILIES

PROB = 0.89
#: Families whose likelihood's main parameter is the expected value of the response.
MEAN_FAMILIES = frozenset(
    {
        "gaussian", "t", "bernoulli", "poisson", "negativebinomial", "gamma", "beta",
        "exponential", "wald", "laplace", "weibull",
    }
)  # fmt: skip
#: Families mixing a point mass at zero with another distribution; ``psi`` is the share of
#: the other distribution (PyMC's parametrisation, Bambi's too), and the expected value of a
#: row is ``psi`` times that distribution's mean (truncated at zero for a hurdle count).
ZERO_FAMILIES = frozenset(
    {
        "zero_inflated_poisson", "zero_inflated_negativebinomial", "zero_inflated_binomial",
        "hurdle_poisson", "hurdle_negativebinomial", "hurdle_gamma", "hurdle_lognormal",
    }
)  # fmt: skip
#: Cells (draws x rows) predicted at once: 2^23 float64 values are 64 MiB per array.
BLOCK_CELLS = 1 << 23


@dataclass(frozen=True)
class R2Summary:
    """Posterior summary of R² draws: mean, median, sd and the 89% equal-tailed interval."""

    mean: float
    median: float
    sd: float
    lb: float
    ub: float

    @classmethod
    def of(cls, draws: np.ndarray) -> R2Summary:
        """Summarise R² draws."""
        lb, ub = np.quantile(draws, [(1 - PROB) / 2, (1 + PROB) / 2])
        return cls(
            float(np.mean(draws)), float(np.median(draws)), float(np.std(draws, ddof=1)),
            float(lb), float(ub),
        )  # fmt: skip


@dataclass(frozen=True)
class BayesR2:
    """A model's Bayesian R²: conditional, and marginal when it has group-specific terms."""

    conditional: R2Summary
    marginal: R2Summary | None = None
    draws: int = 0


def undefined_reason(family: str) -> str | None:
    """Why R² is not computed for ``family`` (None when it is)."""
    if family in MEAN_FAMILIES | TRIALS_FAMILIES | ZERO_FAMILIES | {"lognormal"}:
        return None
    if family in ("categorical", "cumulative", "sratio", "multinomial", "dirichlet_multinomial"):
        return (
            f"Bayesian R² is not defined for the {family} family: its response has no numeric"
            " scale to take variances on"
        )
    return (
        f"Bayesian R² is not computed for the {family} family: its likelihood's main parameter"
        " is not the expected value of the response"
    )


def bayes_r2(model: Any, tree: xr.DataTree, *, cells: int = BLOCK_CELLS) -> BayesR2:
    """Bayesian R² of a fit, conditional and (with group-specific terms) marginal.

    Parameters
    ----------
    model
        The fit's ``bambi.Model`` (built on the data it was fitted to).
    tree
        The fit, with ``posterior`` and ``observed_data``.
    cells
        Draws times rows predicted at once (bounds the memory used).
    """
    response = str(next(iter(tree["observed_data"].data_vars)))
    y = np.asarray(tree["observed_data"][response].values, dtype=float).ravel()
    conditional = r2_draws(y, expected_values(model, tree, cells=cells, groups=True))
    marginal = None
    if has_group_terms(model):
        marginal = R2Summary.of(
            r2_draws(y, expected_values(model, tree, cells=cells, groups=False))
        )
    return BayesR2(R2Summary.of(conditional), marginal, int(conditional.size))


def has_group_terms(model: Any) -> bool:
    """Whether any parameter of the model has group-specific terms."""
    return any(
        getattr(component, "group_specific_terms", None)
        for component in model.conditional_parameters.values()
    )


def r2_draws(y: np.ndarray, blocks: Iterator[tuple[slice, np.ndarray]]) -> np.ndarray:
    """R² per draw from blocks of expected values (``(draws, rows)`` each) of ``y``.

    Sums of ``mu`` and ``y - mu`` and of their squares are accumulated per draw,
    shifted by the mean of ``y`` so that no large number is squared.
    """
    centre = float(np.mean(y))
    sums: np.ndarray | None = None
    for rows, mu in blocks:
        fit = mu - centre
        residual = (y[rows] - centre)[np.newaxis, :] - fit
        part = np.stack(
            [fit.sum(1), (fit**2).sum(1), residual.sum(1), (residual**2).sum(1)], axis=0
        )
        sums = part if sums is None else sums + part
    assert sums is not None
    n = y.size
    var_fit = (sums[1] - sums[0] ** 2 / n) / (n - 1)
    var_res = (sums[3] - sums[2] ** 2 / n) / (n - 1)
    return np.asarray(var_fit / (var_fit + var_res))


def expected_values(
    model: Any, tree: xr.DataTree, *, cells: int = BLOCK_CELLS, groups: bool = True
) -> Iterator[tuple[slice, np.ndarray]]:
    """The expected value of each observation under each draw, in blocks of rows.

    Yields ``(rows, values)`` with ``values`` of shape ``(chains * draws, len(rows))``.
    ``groups=False`` leaves the group-specific effects out.
    """
    posterior = tree["posterior"].to_dataset()
    slim = posterior[parameter_names(tree)]
    draws = int(np.prod([posterior.sizes[d] for d in SAMPLE_DIMS]))
    data: pd.DataFrame = model.data
    n = len(data)
    step = max(1, cells // max(draws, 1))
    parent = model.family.likelihood.parent
    trials = _trials(model)
    for start in range(0, n, step):
        rows = slice(start, min(n, start + step))
        part = xr.DataTree.from_dict({"posterior": slim})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            model.predict(
                part,
                kind="response_params",
                data=None if step >= n else data.iloc[rows],
                include_group_specific=groups,
                inplace=True,
            )
        found = part["posterior"].to_dataset()
        values = mean_of(model.family.name, found, parent).transpose(*SAMPLE_DIMS, "__obs__")
        expected = np.asarray(values.values, dtype=float).reshape(draws, -1)
        yield rows, expected if trials is None else expected * trials[rows]


def mean_of(family: str, found: xr.Dataset, parent: str) -> xr.DataArray:
    """Each row's expected value from its parameters (``found``, Bambi's response params).

    The main parameter itself, or for a zero-inflated or hurdle family ``psi`` times the
    mean of the non-zero part: a hurdle count's Poisson or negative binomial is truncated
    at zero (its mean over ``P(y > 0)``), a (hurdle) log-normal's mean is ``exp(mu +
    sigma^2 / 2)``. A Weibull's ``mu`` is its mean already (Bambi sets the scale to ``mu /
    Gamma(1 + 1 / alpha)``). The trials of a binomial are applied by the caller.
    """
    main = found[parent]
    if family in ("lognormal", "hurdle_lognormal"):  # mu and sigma are the log's
        main = xr.apply_ufunc(np.exp, main + found["sigma"] ** 2 / 2)
    if family not in ZERO_FAMILIES:
        return main
    if family == "hurdle_poisson":  # P(y > 0) = 1 - exp(-mu)
        return found["psi"] * _truncated(main, -xr.apply_ufunc(np.expm1, -main))
    if family == "hurdle_negativebinomial":  # P(y > 0) = 1 - (alpha / (alpha + mu))^alpha
        alpha = found["alpha"]
        zero = -alpha * xr.apply_ufunc(np.log1p, main / alpha)
        return found["psi"] * _truncated(main, -xr.apply_ufunc(np.expm1, zero))
    return found["psi"] * main


def _truncated(mean: xr.DataArray, positive: xr.DataArray) -> xr.DataArray:
    """A count's mean given it is above zero, ``mean / P(y > 0)``: 1 as the mean goes to 0."""
    small = mean <= 1e-12
    return xr.where(small, 1.0, mean / positive.where(~small, 1.0))


def _trials(model: Any) -> np.ndarray | None:
    """Each row's trials, for a binomial response with trials (``None`` otherwise)."""
    if model.family.name not in TRIALS_FAMILIES:
        return None
    data = np.asarray(model.response_term.data)
    return np.asarray(data[:, 1], dtype=float) if data.ndim == 2 and data.shape[1] == 2 else None


__all__ = ["BayesR2", "R2Summary", "bayes_r2", "r2_draws", "undefined_reason"]
