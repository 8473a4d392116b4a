"""Group-level estimates and fitted lines, read off the posterior terms themselves.

A group's estimate is the model's linear predictor averaged over the group's own rows:
the population terms at the group's own covariate values plus the group's deviations
(``Intercept + 1|g[j]``, plus ``u * u_j`` for a group-level predictor ``u``, plus the
effect of a boy's ``Sex`` for a boy's group, plus the mean deviation of the levels of a
nested or crossed factor that the group's rows fall in). With ``predictor`` given, the
intercept is that average with ``predictor`` set to 0 on each row, and the slope the
change when it is set to 1. Offsets are left out (a Poisson group's intercept is its log
rate, not its log count). Values are on the link scale.

Nothing is predicted row by row over every draw: because the linear predictor is
linear in the design, the average over a group's rows is the group's average design
row times the coefficients, so the work is ``rows x columns`` once plus ``groups x
draws x columns``, whatever the number of rows. It reads the design matrices Bambi
built (``design.common``, ``design.group``) and its posterior variables in the order
Bambi's own ``predict`` uses them.

The fitted lines of a few groups are averages over each group's rows too, of the
response mean (the inverse link of each row's linear predictor); at most
``MAX_LINE_ROWS`` rows of a group and ``MAX_LINE_DRAWS`` draws enter them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import xarray as xr

from radonspec.analysis.groups import SAMPLE_DIMS, GroupEstimates, summarise_draws
from radonspec.errors import DataError, did_you_mean

MAX_LINE_ROWS = 200  # rows of one group averaged for its fitted line (evenly spaced)
MAX_LINE_DRAWS = 1000  # draws behind each fitted line


def group_labels(data: pd.DataFrame, factor: str) -> pd.Series:
    """Each row's level of ``factor`` (``g``, or ``a:b`` for a nested or interaction factor)."""
    columns = factor.split(":")
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise DataError(
            f"column '{missing[0]}' is not in the data{did_you_mean(missing[0], data.columns)};"
            f" the columns are: {', '.join(map(str, data.columns))}"
        )
    labels = data[columns[0]].astype(str)
    for column in columns[1:]:
        labels = labels + ":" + data[column].astype(str)
    return labels.reset_index(drop=True)


def group_estimates(
    model: Any,
    tree: xr.DataTree,
    data: pd.DataFrame,
    group: str,
    predictor: str | None,
    *,
    name: str = "",
    labels: pd.Series | None = None,
) -> GroupEstimates:
    """Each group's intercept (and slope against ``predictor``) from the posterior terms.

    Parameters
    ----------
    model
        The ``bambi.Model`` the fit came from (it need not be built).
    tree
        The fit.
    data
        The data the model was fitted to (``model.data``), one row per observation.
    group
        The grouping column, or ``a:b`` for the levels of a nested factor.
    predictor
        A numeric column of ``data``, or None: then the "intercept" is the group's
        mean linear predictor.
    name
        The model's name, recorded in the result.
    labels
        Each row's group label, when ``data`` lacks the grouping column (a model that
        does not use it: complete pooling).
    """
    if labels is None:
        labels = group_labels(data, group)
    if predictor is not None:
        if predictor not in data.columns:
            raise DataError(
                f"column '{predictor}' is not in the data{did_you_mean(predictor, data.columns)};"
                f" the columns are: {', '.join(map(str, data.columns))}"
            )
        if not pd.api.types.is_numeric_dtype(data[predictor]):
            raise DataError(
                f"predictor '{predictor}' must be a numeric column to read slopes against it,"
                f" but it has dtype {data[predictor].dtype}; choose a numeric predictor"
            )
    component = _component(model)
    codes, levels = _codes(labels)
    counts = np.bincount(codes, minlength=len(levels))
    average = _averaging(codes, len(levels))
    overall = sp.csr_matrix(np.full((1, len(codes)), 1.0 / len(codes)))
    posterior = tree["posterior"].to_dataset()
    values: list[float | None] = [0.0, 1.0] if predictor is not None else [None]
    at_group, at_population = [], []
    for value in values:
        frame = data if value is None or predictor is None else _set(data, predictor, value)
        at_group.append(_mean_linear_predictor(component, posterior, frame, average, True))
        at_population.append(_mean_linear_predictor(component, posterior, frame, overall, False))
    estimates = {"intercept": at_group[0]}
    population = {"intercept": at_population[0].isel(group=0)}
    if predictor is not None:
        estimates["slope"] = at_group[1] - at_group[0]
        population["slope"] = (at_population[1] - at_population[0]).isel(group=0)
    table = pd.DataFrame({"group": levels, "n": counts})
    summary: dict[str, float] = {}
    for quantity, draws in estimates.items():
        if not np.isfinite(draws.values).all():
            raise ValueError(
                f"the {quantity} is not finite at {predictor} = 0 or 1 (does the model"
                f" transform {predictor}, e.g. log({predictor})?)"
            )
        stats = summarise_draws(draws)
        for stat in ("mean", "sd", "lb", "ub"):
            table[f"{quantity}_{stat}"] = stats[stat]
        overall_stats = summarise_draws(population[quantity])
        summary[quantity] = float(overall_stats["mean"])
        summary |= {f"{quantity}_{b}": float(overall_stats[b]) for b in ("lb", "ub")}
    return GroupEstimates(model=name, table=table, population=summary)


def group_lines(
    model: Any,
    tree: xr.DataTree,
    data: pd.DataFrame,
    labels: pd.Series,
    predictor: str,
    levels: Sequence[str],
    xs: np.ndarray,
) -> dict[str, dict[str, np.ndarray]]:
    """Fitted lines of some groups along ``xs``, each averaged over the group's own rows.

    Returns, per level, ``mean``, ``lb`` and ``ub`` of the response mean (the inverse
    link of each row's linear predictor, averaged over the group's rows) and
    ``link_mean``, ``link_lb``, ``link_ub`` of the linear predictor, at each ``x``.
    """
    component = _component(model)
    link = model.family.link[model.family.likelihood.parent]
    posterior = _thinned(tree["posterior"].to_dataset(), MAX_LINE_DRAWS)
    found: dict[str, dict[str, np.ndarray]] = {}
    for level in levels:
        rows = np.flatnonzero(labels.to_numpy() == str(level))
        if rows.size == 0:
            continue
        if rows.size > MAX_LINE_ROWS:
            rows = rows[np.linspace(0, rows.size - 1, MAX_LINE_ROWS).astype(int)]
        own = data.iloc[rows].reset_index(drop=True)
        # every row of the group at every x: len(rows) * len(xs) rows, x fastest
        grid = own.loc[np.repeat(np.arange(len(own)), xs.size)].reset_index(drop=True)
        grid[predictor] = np.tile(xs, len(own))
        eta = _linear_predictor(component, posterior, grid, include_group_specific=True)
        eta = eta.reshape(eta.shape[0], len(own), xs.size)
        mean = np.asarray(link.linkinv(eta), dtype=float).mean(axis=1)
        linear = eta.mean(axis=1)
        stats = {}
        for prefix, draws in (("", mean), ("link_", linear)):
            stats[f"{prefix}mean"] = draws.mean(axis=0)
            stats[f"{prefix}lb"], stats[f"{prefix}ub"] = np.quantile(draws, [0.055, 0.945], axis=0)
        found[str(level)] = stats
    return found


def _set(data: pd.DataFrame, column: str, value: float) -> pd.DataFrame:
    frame = data.copy()
    frame[column] = value
    return frame


def _component(model: Any) -> Any:
    parent = model.family.likelihood.parent
    component = model.parameters[parent]
    if getattr(component, "hsgp_terms", None):
        raise ValueError("group estimates are not computed for models with HSGP terms")
    return component


def _codes(labels: pd.Series) -> tuple[np.ndarray, list[str]]:
    categories = pd.Categorical(labels.astype(str))
    levels = [str(c) for c in categories.categories]
    return np.asarray(categories.codes, dtype=np.int64), levels


def _averaging(codes: np.ndarray, size: int) -> sp.csr_matrix:
    """The ``groups x rows`` matrix whose product with a design gives each group's mean row."""
    counts = np.bincount(codes, minlength=size).astype(float)
    weights = 1.0 / counts[codes]
    return sp.csr_matrix((weights, (codes, np.arange(len(codes)))), shape=(size, len(codes)))


def _mean_linear_predictor(
    component: Any, posterior: xr.Dataset, frame: pd.DataFrame, average: sp.csr_matrix,
    include_group_specific: bool,
) -> xr.DataArray:  # fmt: skip
    """Draws of the linear predictor averaged by ``average``: (chain, draw, group)."""
    common, coefs = _common(component, posterior, frame)
    total = np.zeros((*coefs.shape[:2], average.shape[0]))
    if common is not None:
        total += np.einsum("gp,cdp->cdg", np.asarray(average @ common), coefs)
    if include_group_specific and component.design.group:
        z, u = _group(component, posterior, frame)
        # sparse groups x effects times effects x draws: as dense einsum this was groups x
        # effects x draws multiplications (4 x 10^11 for 10^4 groups and 4000 draws: hours)
        mean_z = sp.csr_matrix(average @ z)
        draws = u.shape[0] * u.shape[1]
        total += np.asarray(mean_z @ u.reshape(draws, -1).T).T.reshape(total.shape)
    return xr.DataArray(total, dims=(*SAMPLE_DIMS, "group"))


def _linear_predictor(
    component: Any, posterior: xr.Dataset, frame: pd.DataFrame, *, include_group_specific: bool
) -> np.ndarray:
    """Draws of each row's linear predictor without offsets: (chain * draw, rows)."""
    common, coefs = _common(component, posterior, frame)
    draws = coefs.shape[0] * coefs.shape[1]
    total = np.zeros((draws, len(frame)))
    if common is not None:
        total += coefs.reshape(draws, -1) @ common.T
    if include_group_specific and component.design.group:
        z, u = _group(component, posterior, frame)
        total += (z @ u.reshape(draws, -1).T).T
    return total


def _common(
    component: Any, posterior: xr.Dataset, frame: pd.DataFrame
) -> tuple[np.ndarray | None, np.ndarray]:
    """The common design of ``frame`` (offsets removed) and its coefficients' draws."""
    sizes = posterior.sizes
    if not component.design.common:
        return None, np.zeros((sizes["chain"], sizes["draw"], 0))
    design = component.design.common.evaluate_new_data(frame)
    matrix = np.asarray(design.design_matrix, dtype=float)
    dropped = [
        np.arange(matrix.shape[1])[component.design.common.slices[term]]
        for term in component.offset_terms
    ]
    if dropped:
        matrix = np.delete(matrix, np.concatenate(dropped), axis=1)
    names = [_alias(term) for term in component.common_terms.values()]
    if component.intercept_term:
        names.insert(0, _alias(component.intercept_term))
    parts = []
    for name in names:
        draws = posterior[name].transpose(*SAMPLE_DIMS, ...)
        values = np.asarray(draws.values, dtype=float)
        parts.append(values.reshape(sizes["chain"], sizes["draw"], -1))
    coefs = np.concatenate(parts, axis=-1)
    if coefs.shape[-1] != matrix.shape[1]:
        raise ValueError(
            f"the design has {matrix.shape[1]} columns but the posterior {coefs.shape[-1]}"
            " coefficients"
        )
    return matrix, coefs


def _group(
    component: Any, posterior: xr.Dataset, frame: pd.DataFrame
) -> tuple[sp.csr_matrix, np.ndarray]:
    """The group-specific design of ``frame`` and the deviations' draws, in Bambi's order."""
    import formulae as fm

    previous = fm.config["EVAL_UNSEEN_CATEGORIES"]
    fm.config["EVAL_UNSEEN_CATEGORIES"] = "silent"
    try:
        design = component.design.group.evaluate_new_data(frame)
    finally:
        fm.config["EVAL_UNSEEN_CATEGORIES"] = previous
    z = sp.csr_matrix(design.design_matrix)
    sizes = posterior.sizes
    parts = []
    for term in component.group_specific_terms.values():
        if term.alias:
            expr_dim, factor_dim = term.alias + "__expr_dim", term.alias + "__factor_dim"
        else:
            expr, factor = term.name.split("|")
            expr_dim, factor_dim = expr + "__expr_dim", factor + "__factor_dim"
        draws = posterior[_alias(term)]
        if expr_dim in draws.dims:
            draws = draws.stack(column=(factor_dim, expr_dim))
        values = np.asarray(draws.transpose(*SAMPLE_DIMS, ...).values, dtype=float)
        parts.append(values.reshape(sizes["chain"], sizes["draw"], -1))
    u = np.concatenate(parts, axis=-1)
    if u.shape[-1] != z.shape[1]:
        raise ValueError(
            f"the group design has {z.shape[1]} columns but the posterior {u.shape[-1]}"
            " group-specific values"
        )
    return z, u


def _alias(term: Any) -> str:
    return str(term.alias) if getattr(term, "alias", None) else str(term.name)


def _thinned(posterior: xr.Dataset, most: int) -> xr.Dataset:
    total = posterior.sizes["chain"] * posterior.sizes["draw"]
    step = max(1, -(-total // most))
    return posterior.isel(draw=slice(None, None, step)) if step > 1 else posterior


__all__ = ["MAX_LINE_DRAWS", "MAX_LINE_ROWS", "group_estimates", "group_labels", "group_lines"]
