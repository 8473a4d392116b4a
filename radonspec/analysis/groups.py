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
import numpy as np
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


def group_estimates(
    model: Any,
    tree: xr.DataTree,
    data: pd.DataFrame,
    group: str,
    predictor: str | None,
    *,
    name: str = "",
) -> GroupEstimates:
    """Each group's intercept and slope against ``predictor``, read off model predictions.

    Works for any parametrisation (``0 + g + g:x``, ``x + (x|g)``, ``(1|g)`` with
    more predictors) because it asks the model itself: Bambi predicts the linear
    predictor of each group at ``predictor = 0`` and ``predictor = 1``; the
    intercept is the first, the slope the difference, draw by draw. Other numeric
    columns sit at the group's mean (so group-level predictors such as a county's
    uranium count in its intercept), other categorical columns at their reference
    (first) level. Values are on the link scale (the response scale for identity links).
    Without a predictor every numeric column sits at the group's mean, so the
    "intercept" is the group's fitted mean.

    The population line comes from the common terms alone (group-specific terms
    left out, other numeric columns at their overall mean) when ``group`` only
    enters through group-specific terms; when it enters the common terms (the
    unpooled model) the population line is the draw-wise mean of the group lines.

    Parameters
    ----------
    model
        The ``bambi.Model`` the fit came from (it need not be built).
    tree
        The fit.
    data
        The data the model was fitted to.
    group
        The grouping column.
    predictor
        A numeric column, or ``None`` for intercepts only.
    name
        The model's name, recorded in the result.
    """
    for column in (group, predictor):
        if column is not None and column not in data.columns:
            raise DataError(
                f"column '{column}' is not in the data{did_you_mean(column, data.columns)};"
                f" the columns are: {', '.join(map(str, data.columns))}"
            )
    if predictor is not None and not pd.api.types.is_numeric_dtype(data[predictor]):
        raise DataError(
            f"predictor '{predictor}' must be a numeric column to read slopes against it,"
            f" but it has dtype {data[predictor].dtype}; choose a numeric predictor"
        )
    counts = data.groupby(group, observed=True, sort=True).size()
    levels = list(counts.index)
    values: list[float | None] = [0.0, 1.0] if predictor is not None else [None]
    rows = _grid(data, group, predictor, levels, values, by_group=True)
    lines = _linear_predictor(model, tree, rows, include_group_specific=True)
    # rows run level by level, predictor values fastest
    lines = xr.DataArray(
        lines.transpose(*SAMPLE_DIMS, "__obs__").values.reshape(
            lines.sizes["chain"], lines.sizes["draw"], len(levels), len(values)
        ),
        dims=(*SAMPLE_DIMS, "group", "at"),
        coords={"group": levels},
    )
    table = pd.DataFrame({"group": levels, "n": counts.to_numpy()})
    estimates = {"intercept": lines.isel(at=0)}
    if predictor is not None:
        estimates["slope"] = lines.isel(at=1) - lines.isel(at=0)
    if _in_common_terms(model, group):
        population = {q: draws.mean("group") for q, draws in estimates.items()}
    else:
        common = _grid(data, group, predictor, levels[:1], values, by_group=False)
        line = _linear_predictor(model, tree, common, include_group_specific=False)
        population = {"intercept": line.isel(__obs__=0)}
        if predictor is not None:
            population["slope"] = line.isel(__obs__=1) - line.isel(__obs__=0)
    summary: dict[str, float] = {}
    for quantity, draws in estimates.items():
        stats = summarise_draws(draws)
        for stat in ("mean", "sd", "lb", "ub"):
            table[f"{quantity}_{stat}"] = stats[stat]
        overall = summarise_draws(population[quantity])
        summary[quantity] = float(overall["mean"])
        summary |= {f"{quantity}_{b}": float(overall[b]) for b in ("lb", "ub")}
    return GroupEstimates(model=name, table=table, population=summary)


def _grid(
    data: pd.DataFrame,
    group: str,
    predictor: str | None,
    levels: list[Any],
    values: list[float | None],
    *,
    by_group: bool,
) -> pd.DataFrame:
    """One row per (level, predictor value), other columns held at a typical value."""
    grid = pd.DataFrame({group: np.repeat(np.asarray(levels, dtype=object), len(values))})
    for column in data.columns:
        if column in (group, predictor):
            continue
        series = data[column]
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            if by_group:
                means = series.groupby(data[group], observed=True).mean()
                grid[column] = means.reindex(levels).to_numpy().repeat(len(values))
            else:
                grid[column] = series.mean()
        else:
            grid[column] = _reference(series)
        if isinstance(series.dtype, pd.CategoricalDtype):
            grid[column] = pd.Categorical(grid[column], categories=series.cat.categories)
    if isinstance(data[group].dtype, pd.CategoricalDtype):
        grid[group] = pd.Categorical(grid[group], categories=data[group].cat.categories)
    if predictor is not None:
        grid[predictor] = np.tile(np.asarray(values, dtype=float), len(levels))
    return grid


def _reference(series: pd.Series) -> Any:
    if isinstance(series.dtype, pd.CategoricalDtype):
        return series.cat.categories[0]
    return sorted(series.dropna().unique())[0]


def _linear_predictor(
    model: Any, tree: xr.DataTree, rows: pd.DataFrame, *, include_group_specific: bool
) -> xr.DataArray:
    """Draws of the linear predictor at ``rows``, without copying the whole fit."""
    # Bambi's predict deep-copies (inplace=False) or mutates (inplace=True) what it is
    # given; a tree holding only the parameters keeps both cheap and the fit untouched
    posterior = tree["posterior"].to_dataset()
    slim = xr.DataTree.from_dict({"posterior": posterior[parameter_names(tree)]})
    model.predict(
        slim, kind="response_params", data=rows, inplace=True,
        include_group_specific=include_group_specific,
    )  # fmt: skip
    parent = model.family.likelihood.parent
    values = slim["posterior"].to_dataset()[parent]
    link = model.family.link[parent]
    if link.name != "identity":
        values = xr.apply_ufunc(link.link, values)
    return values


def _in_common_terms(model: Any, group: str) -> bool:
    component = model.parameters[model.family.likelihood.parent]
    return any(group in term.term.var_names for term in component.common_terms.values())
