"""Group-level summaries of a fit: random-effect SDs with ICCs, and per-group estimates.

Both read Bambi's naming: a group-specific term ``expr|factor`` is stored as the
posterior variable ``expr|factor`` over the dimension ``factor__factor_dim``, and
its standard deviation as ``expr|factor_sigma`` (``1|county_sigma``,
``floor|county_sigma``). The effects of a factor in a model's ``correlated:`` add
their correlations, ``cor|factor`` over pairs of terms (``radonspec.compile.correlated``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import arviz_stats as azs
import pandas as pd
import xarray as xr

from radonspec.errors import DataError, did_you_mean
from radonspec.study.correlated import PREFIX as CORRELATION_PREFIX

PROB = 0.89  # the interval probability of every table here (ArviZ's default)
SAMPLE_DIMS = ("chain", "draw")
# Bambi's observation dimension; also found through the observed_data group
BAMBI_OBS_DIM = "__obs__"


@dataclass(frozen=True)
class RandomEffectRow:
    """One grouping factor and term, lme4 style."""

    group: str
    term: str
    sd_mean: float
    sd_lb: float
    sd_ub: float
    n_groups: int
    obs_min: int
    obs_median: float
    obs_max: int
    icc_mean: float | None = None
    icc_lb: float | None = None
    icc_ub: float | None = None


@dataclass(frozen=True)
class CorrelationRow:
    """The correlation of two group-specific effects of one factor (lme4's ``Corr``).

    ``label`` is the parameter's label in the summary (``cor|county[1, floor]``);
    ``first`` and ``second`` are the terms' expressions (``1``, ``floor``).
    """

    group: str
    first: str
    second: str
    label: str
    mean: float
    lb: float
    ub: float


@dataclass(frozen=True)
class GroupEstimates:
    """Per-group intercept (and slope) estimates of one model.

    ``table`` has one row per group: ``group``, ``n``, ``intercept_mean``,
    ``intercept_sd``, ``intercept_lb``, ``intercept_ub`` and, when a predictor was
    given, the same four ``slope_*`` columns. ``population`` holds ``intercept``,
    ``intercept_lb``, ``intercept_ub`` (and ``slope*``) of the population-level line.
    Bounds are 89% equal-tailed intervals.
    """

    model: str
    table: pd.DataFrame
    population: dict[str, float] = field(default_factory=dict)


def observation_dims(tree: xr.DataTree) -> set[str]:
    """Dimensions that index observations: those of ``observed_data``, and Bambi's ``__obs__``."""
    dims = {BAMBI_OBS_DIM}
    if "observed_data" in tree.children:
        dims.update(str(d) for d in tree["observed_data"].dims)
    return dims


def parameter_names(tree: xr.DataTree) -> list[str]:
    """Posterior variables that are parameters, not per-observation deterministics.

    Bambi stores the linear predictor (``mu``, one value per observation) in the
    posterior; anything over an observation dimension is left out.
    """
    obs = observation_dims(tree)
    posterior = tree["posterior"]
    return [
        str(n) for n, v in posterior.data_vars.items() if not obs.intersection(map(str, v.dims))
    ]


def summarise_draws(draws: xr.DataArray) -> dict[str, Any]:
    """Posterior mean, sd and 89% ETI bounds, reduced over chain and draw."""
    interval = azs.eti(draws, prob=PROB, dim=list(SAMPLE_DIMS))
    return {
        "mean": draws.mean(SAMPLE_DIMS).values,
        "sd": draws.std(SAMPLE_DIMS).values,
        "lb": interval.isel(ci_bound=0).values,
        "ub": interval.isel(ci_bound=1).values,
    }


def random_effects(tree: xr.DataTree, data: pd.DataFrame, family: str) -> list[RandomEffectRow]:
    """Group-level SDs, group sizes and (Gaussian) intraclass correlations.

    One row per group-specific term found in the posterior. For ``family ==
    "gaussian"`` with a scalar ``sigma``, intercept terms (``1|g``) get the ICC,
    computed draw by draw as ``sd_g**2 / (sum of all intercept variances +
    sigma**2)``: with one grouping factor this is ``sd_g**2 / (sd_g**2 + sigma**2)``;
    with crossed factors it is the share of variance due to ``g``.

    Parameters
    ----------
    tree
        The fit.
    data
        The data the model was fitted to; group sizes are counted there.
    family
        The model's family name (``"gaussian"``, ``"bernoulli"``, ...).
    """
    posterior = tree["posterior"].to_dataset()
    terms = _group_terms(posterior)
    sigma = posterior.get("sigma")
    icc_ok = family == "gaussian" and sigma is not None and set(sigma.dims) == set(SAMPLE_DIMS)
    intercept_var: Any = 0.0
    for name, expr, _ in terms:
        if expr == "1":
            intercept_var = intercept_var + posterior[f"{name}_sigma"] ** 2
    rows = []
    for name, expr, factor in terms:
        sizes = _group_sizes(data, factor)
        sd_draws = posterior[f"{name}_sigma"]
        n_groups = posterior[name].sizes.get(f"{factor}__factor_dim", len(sizes))
        icc: dict[str, Any] = {}
        if icc_ok and expr == "1" and sigma is not None:
            icc = summarise_draws(sd_draws**2 / (intercept_var + sigma**2))
        extra = [d for d in sd_draws.dims if d not in SAMPLE_DIMS]
        stacked = sd_draws.stack(__level__=extra) if extra else sd_draws.expand_dims("__level__")
        sd = summarise_draws(stacked)
        levels = stacked["__level__"].values if extra else [None]
        for i, level in enumerate(levels):
            rows.append(
                RandomEffectRow(
                    group=factor,
                    term=expr if level is None else f"{expr}[{_level_label(level)}]",
                    sd_mean=float(sd["mean"][i]),
                    sd_lb=float(sd["lb"][i]),
                    sd_ub=float(sd["ub"][i]),
                    n_groups=int(n_groups),
                    obs_min=int(sizes.min()),
                    obs_median=float(sizes.median()),
                    obs_max=int(sizes.max()),
                    icc_mean=float(icc["mean"]) if icc else None,
                    icc_lb=float(icc["lb"]) if icc else None,
                    icc_ub=float(icc["ub"]) if icc else None,
                )
            )
    return rows


def correlations(tree: xr.DataTree) -> list[CorrelationRow]:
    """Posterior mean and 89% interval of every correlation between group-specific effects.

    One row per pair of terms of each factor whose effects are correlated (a
    ``cor|factor`` variable in the posterior); none for independent effects.
    """
    posterior = tree["posterior"].to_dataset()
    rows = []
    for name in map(str, posterior.data_vars):
        if not name.startswith(CORRELATION_PREFIX):
            continue
        draws = posterior[name]
        (dim,) = [d for d in draws.dims if d not in SAMPLE_DIMS]
        stats = summarise_draws(draws)
        for i, pair in enumerate(map(str, draws[dim].values)):
            first, second = pair.split(", ", 1)
            rows.append(
                CorrelationRow(
                    group=name[len(CORRELATION_PREFIX) :],
                    first=first,
                    second=second,
                    label=f"{name}[{pair}]",
                    mean=float(stats["mean"][i]),
                    lb=float(stats["lb"][i]),
                    ub=float(stats["ub"][i]),
                )
            )
    return rows


def effect_structure(tree: xr.DataTree) -> dict[str, str]:
    """For each grouping factor of a fit, whether its effects are correlated or independent.

    ``{"county": "correlated"}`` when the effects of ``county`` were drawn jointly with
    an LKJ prior on their correlation, ``"independent"`` when each term was drawn on its
    own (Bambi's ``(x | g)``, lme4's ``(x || g)``). Empty for a model without
    group-specific terms.
    """
    posterior = tree["posterior"].to_dataset()
    found = {}
    for _, _, factor in _group_terms(posterior):
        joint = f"{CORRELATION_PREFIX}{factor}" in posterior.data_vars
        found[factor] = "correlated" if joint else "independent"
    return found


def _group_terms(posterior: xr.Dataset) -> list[tuple[str, str, str]]:
    """``(name, expr, factor)`` of every ``expr|factor`` with an ``expr|factor_sigma``."""
    found = []
    for name in map(str, posterior.data_vars):
        if "|" in name and f"{name}_sigma" in posterior.data_vars:
            expr, factor = name.split("|", 1)
            found.append((name, expr, factor))
    return found


def _group_sizes(data: pd.DataFrame, factor: str) -> pd.Series:
    columns = factor.split(":")
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise DataError(
            f"grouping factor '{factor}' needs the column '{missing[0]}', which the data lacks"
            f"{did_you_mean(missing[0], data.columns)}; pass the data the model was fitted to"
        )
    return data.groupby(columns, observed=True).size()


def _level_label(level: Any) -> str:
    return ", ".join(map(str, level)) if isinstance(level, tuple) else str(level)
