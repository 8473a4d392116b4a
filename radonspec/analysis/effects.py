"""Conditional effects: what one predictor does to the expected response, per model.

Each effect of ``report.effects`` is computed with Bambi's ``interpret.predictions`` on
the response scale (``target="mean"``: the expected value, the probability for a
Bernoulli model, each level's probability for categorical and ordinal ones) with the
89% equal-tailed interval. The predictor runs over its observed range (50 points) or its
levels; ``by`` gives one line per level of a categorical column (the most frequent
``MAX_LINES``) or per quartile of a numeric one. Bambi holds the other covariates at
their mean (numeric) or most frequent value; group-specific effects are set to zero
here unless ``by`` is their grouping factor, so a multilevel model's curve is that of a
typical group (brms' ``re_formula = NA``) and not of Bambi's most frequent group.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from radonspec.analysis.groups import parameter_names
from radonspec.analysis.r2 import MEAN_FAMILIES

PROB = 0.89
POINTS = 50
MAX_LINES = 8
QUARTILES = (0.25, 0.5, 0.75)
MAX_INTEGER_LEVELS = 12  # an integer predictor with at most this many values is drawn by level


@dataclass(frozen=True)
class EffectLine:
    """One line of an effect plot: the expected response along the predictor."""

    label: str  # '' when the plot has one line
    mean: np.ndarray
    lb: np.ndarray
    ub: np.ndarray


@dataclass(frozen=True)
class Effect:
    """One model's conditional effect of ``predictor`` (optionally by ``by``).

    ``by`` is the column asked for, even when the model does not use it (``note`` then
    says so and there is one line). ``x`` holds the predictor's values (numbers) or,
    when ``levels`` is true, its levels as text. ``held`` says where the other
    covariates are held, ``quantity`` what the y axis shows. ``note`` says what was left
    out or changed.
    """

    model: str
    predictor: str
    by: str | None
    x: np.ndarray
    levels: bool
    lines: tuple[EffectLine, ...]
    quantity: str
    held: tuple[tuple[str, str], ...] = ()
    population: bool = False
    note: str | None = None


class NotApplicable(ValueError):  # noqa: N818 - a reason, not a failure
    """The effect cannot be drawn for this model (the reason is the message)."""


def conditional_effect(
    name: str, model: Any, tree: xr.DataTree, predictor: str, by: str | None, family: str
) -> Effect:
    """The conditional effect of ``predictor`` (by ``by``) in one fitted model.

    Raises
    ------
    NotApplicable
        When the model does not use ``predictor``.
    """
    from bambi.interpret import predictions
    from bambi.interpret.utils import get_model_covariates

    covariates = [str(c) for c in get_model_covariates(model)]
    if predictor not in covariates:
        raise NotApplicable(f"'{name}' does not use '{predictor}'")
    data: pd.DataFrame = model.data
    notes: list[str] = []
    used = by
    if by is not None and by not in covariates:
        notes.append(f"it does not use '{by}', so it has one line")
        used = None
    conditional: dict[str, Any] = {predictor: _values(data[predictor])}
    if used is not None:
        conditional[used] = _by_values(data[used], notes)
    kept = {f for f in group_factors(model) if any(part in conditional for part in f.split(":"))}
    posterior = _population(tree, kept)
    slim = xr.DataTree.from_dict({"posterior": posterior})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        found = predictions(
            model, slim, conditional=conditional, target="mean", prob=PROB, use_hdi=False
        ).summary
    dims = [c for c in found.columns if c not in covariates and not _is_stat(c)]
    held = tuple(
        (column, _text(found[column].iloc[0]))
        for column in covariates
        if column not in conditional and column in found and column not in _zeroed(model, kept)
    )
    x, levels = _axis(data[predictor], conditional[predictor])
    lines = _lines(found, predictor, x, levels, [used] if used else [], dims)
    return Effect(
        model=name,
        predictor=predictor,
        by=by,
        x=np.asarray([str(v) for v in x], dtype=object) if levels else np.asarray(x, float),
        levels=levels,
        lines=tuple(lines),
        quantity=_quantity(model, family, bool(dims)),
        held=held,
        population=bool(group_factors(model) - kept),
        note="; ".join(notes) or None,
    )


def group_factors(model: Any) -> set[str]:
    """The grouping factors of the model's group-specific terms (``county``, ``a:b``)."""
    found = set()
    for component in model.conditional_parameters.values():
        for term in (getattr(component, "group_specific_terms", None) or {}).values():
            found.add(str(term.name).split("|", 1)[1])
    return found


def _zeroed(model: Any, kept: set[str]) -> set[str]:
    """Columns that only index group-specific effects set to zero (their value is moot)."""
    return {part for f in group_factors(model) - kept for part in f.split(":")}


def _population(tree: xr.DataTree, kept: set[str]) -> xr.Dataset:
    """The posterior with the group-specific effects of every factor but ``kept`` at zero."""
    posterior = tree["posterior"].to_dataset()[parameter_names(tree)]
    for var in list(posterior.data_vars):
        factors = [str(d).removesuffix("__factor_dim") for d in posterior[var].dims
                   if str(d).endswith("__factor_dim")]  # fmt: skip
        if factors and not set(factors) <= kept:
            posterior[var] = xr.zeros_like(posterior[var])
    return posterior


def _values(series: pd.Series) -> Any:
    """The predictor's values: its levels, its distinct integers, or 50 points over its range."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        present = series.cat.remove_unused_categories().cat.categories
        return list(present)
    if pd.api.types.is_integer_dtype(series.dtype) and series.nunique() <= POINTS:
        return np.sort(series.unique())
    return np.linspace(float(series.min()), float(series.max()), POINTS)


def _by_values(series: pd.Series, notes: list[str]) -> Any:
    if isinstance(series.dtype, pd.CategoricalDtype):
        counts = series.value_counts(sort=True)
        counts = counts[counts > 0]
        if len(counts) > MAX_LINES:
            notes.append(
                f"'{series.name}' has {len(counts)} levels: the {MAX_LINES} most frequent are drawn"
            )
        picked = set(counts.index[:MAX_LINES])
        return [level for level in series.cat.categories if level in picked]
    values = np.quantile(series.to_numpy(dtype=float), QUARTILES)
    if pd.api.types.is_integer_dtype(series.dtype):
        return np.unique(np.round(values)).astype(series.dtype)
    return np.unique(values)


def _axis(series: pd.Series, values: Any) -> tuple[list[Any], bool]:
    """The x values, and whether they are drawn as separate levels.

    An integer predictor with few values (a 0/1 indicator such as ``floor``) is drawn
    level by level: a line between 0 and 1 would suggest values that cannot occur.
    """
    if isinstance(series.dtype, pd.CategoricalDtype):
        return list(values), True
    if pd.api.types.is_integer_dtype(series.dtype) and len(values) <= MAX_INTEGER_LEVELS:
        return [int(v) for v in sorted(values)], True
    return sorted(float(v) for v in values), False


def _is_stat(column: str) -> bool:
    return column == "estimate" or column.startswith(("lower_", "upper_"))


def _lines(
    found: pd.DataFrame,
    predictor: str,
    x: list[Any],
    levels: bool,
    by: list[str],
    dims: list[str],
) -> list[EffectLine]:
    lower = next(c for c in found.columns if c.startswith("lower_"))
    upper = next(c for c in found.columns if c.startswith("upper_"))
    keys = by + dims
    groups = found.groupby(keys, observed=True, sort=False) if keys else [((), found)]
    lines = []
    for key, part in groups:
        values = key if isinstance(key, tuple) else (key,)
        label = ", ".join(
            f"{name} = {_text(v)}" if name in by else _text(v)
            for name, v in zip(keys, values, strict=True)
        )
        position = {
            (str(v) if levels else float(v)): i for i, v in enumerate(part[predictor].tolist())
        }
        order = [position[str(v) if levels else float(v)] for v in x]
        lines.append(
            EffectLine(
                label,
                part["estimate"].to_numpy(dtype=float)[order],
                part[lower].to_numpy(dtype=float)[order],
                part[upper].to_numpy(dtype=float)[order],
            )
        )
    return lines


def _quantity(model: Any, family: str, per_level: bool) -> str:
    term = model.response_term
    response = str(getattr(term, "name", "the response"))
    if per_level:
        return f"probability of each level of {response}"
    if family == "bernoulli":
        event = getattr(term, "success", None)
        return (
            f"probability that {response} = {event}"
            if event is not None
            else (f"probability of {response}")
        )
    if family in MEAN_FAMILIES:
        return f"expected {response}"
    return f"'{model.family.likelihood.parent}' of {response}"


def _text(value: Any) -> str:
    if isinstance(value, float | np.floating):
        # a mean of centred values is 0 up to rounding: "9.6e-17" read as a real value
        return "0" if abs(float(value)) < 1e-12 else f"{float(value):.3g}"
    return str(value)


__all__ = ["Effect", "EffectLine", "NotApplicable", "conditional_effect", "group_factors"]
