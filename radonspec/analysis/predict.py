"""Predictions for new data from a stored fit, in blocks of rows.

For every row: the posterior mean and sd of the expected value of the response (on the
response scale: the probability of the event for a Bernoulli model) and the bounds of
an equal-tailed predictive interval for the response itself, from Bambi's ``predict``
on the stored posterior (``kind="response"``). Rows in a level of a grouping factor
the fit never saw get that factor's group-specific effects from the population of
groups: Bambi's ``sample_new_groups``, which takes, for each draw, the effects of a
randomly chosen fitted group (brms' ``sample_new_levels = "uncertainty"``), so their
intervals carry the spread between groups.

Categorical and ordinal models get, instead of one mean and sd, the mean and sd of
each level's probability; ordinal ones also the levels bounding the predictive
interval.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import xarray as xr

from radonspec.analysis.groups import SAMPLE_DIMS
from radonspec.analysis.r2 import BLOCK_CELLS, MEAN_FAMILIES
from radonspec.data.newdata import Needs

#: Families whose predictions are the probabilities of the response's levels.
LEVEL_FAMILIES = frozenset({"categorical", "cumulative", "sratio"})
ORDINAL = frozenset({"cumulative", "sratio"})
#: Families whose predictive draws are counts or classes: interval bounds are draws' values.
DISCRETE = frozenset({"bernoulli", "poisson", "negativebinomial"})
PREFIX = "pred_"
NEW_GROUP = "new_group"


@dataclass(frozen=True)
class Predictor:
    """One stored fit, ready to predict: its model, posterior, family and what it reads."""

    name: str
    model: Any  # bambi.Model
    posterior: xr.Dataset
    family: str
    needs: Needs
    levels: tuple[str, ...] = ()  # the response's levels (categorical and ordinal)

    @property
    def draws(self) -> int:
        """Posterior draws (all chains)."""
        return int(np.prod([self.posterior.sizes[d] for d in SAMPLE_DIMS]))

    def block_rows(self, cells: int = BLOCK_CELLS) -> int:
        """Rows predicted at once, so that draws x rows stays near ``cells``."""
        return max(1, cells // max(self.draws, 1))


def supported(family: str) -> str | None:
    """Why predictions are not made for ``family`` (None when they are)."""
    if family in MEAN_FAMILIES or family in LEVEL_FAMILIES:
        return None
    return (
        f"predictions are not made for the {family} family yet: its likelihood's main"
        " parameter is not the expected value of the response; families supported:"
        f" {', '.join(sorted(MEAN_FAMILIES | LEVEL_FAMILIES))}"
    )


def needs_of(name: str, model: Any, formulas: tuple[str, ...]) -> Needs:
    """What model ``name`` reads of new data: its predictors, typed as in its fit.

    The columns are those on the right of its formulas (offsets and transforms'
    arguments included); grouping factors that are not also common predictors are
    ``groups``, whose unseen levels are new groups.
    """
    from radonspec.study.formula import describe

    data: pd.DataFrame = model.data
    columns: set[str] = set()
    factors: set[str] = set()
    predictors: set[str] = set()
    for formula in formulas:
        description = describe(formula)
        response = set(description.response.var_names) if description.response else set()
        columns |= set(description.var_names) - response
        for term in description.terms:
            factor = getattr(term, "factor", None)
            if factor is not None:
                factors |= set(factor.var_names)
                predictors |= set(term.expr.var_names)
            else:
                predictors |= set(getattr(term, "var_names", set()))
    numeric, categorical, groups, numeric_groups = [], {}, {}, []
    for column in sorted(c for c in columns if c in data.columns):
        series = data[column]
        if isinstance(series.dtype, pd.CategoricalDtype):
            known = {str(level): level for level in series.cat.categories}
            if column in factors and column not in predictors:
                groups[column] = known
            else:
                categorical[column] = known
        elif column in factors and column not in predictors:
            # a grouping factor of numbers (subject ids): its levels are the values seen
            groups[column] = {str(v): v for v in sorted(series.dropna().unique().tolist())}
            numeric_groups.append(column)
        else:
            numeric.append(column)
    return Needs(name, tuple(numeric), categorical, groups, tuple(numeric_groups))


def predict_block(
    predictor: Predictor,
    frame: pd.DataFrame,
    *,
    prob: float,
    seed: int,
    new_groups: bool,
) -> pd.DataFrame:
    """The prediction columns for the rows of ``frame`` (typed as the fit's data).

    Columns: ``pred_mean`` and ``pred_sd`` of the expected value, and
    ``pred_lower_<width>`` and ``pred_upper_<width>`` of the predictive interval; for
    categorical and ordinal families ``pred_mean[level]`` and ``pred_sd[level]`` per level.
    """
    model = predictor.model
    part = xr.DataTree.from_dict({"posterior": predictor.posterior})
    options: dict[str, Any] = {}
    with warnings.catch_warnings():
        # Bambi announces that new groups will be handled automatically one day; until
        # then they need the flag, and only rows of new groups ask for it
        warnings.simplefilter("ignore", FutureWarning)
        if new_groups:
            options["sample_new_groups"] = True
        model.predict(part, kind="response", data=frame, inplace=True, random_seed=seed, **options)
    parent = model.family.likelihood.parent
    expected = _draws(part["posterior"].to_dataset()[parent])
    response = next(iter(part["posterior_predictive"].data_vars))
    predicted = _draws(part["posterior_predictive"].to_dataset()[response])
    found: dict[str, Any] = {}
    width = interval_label(prob)
    low, high = (1 - prob) / 2, (1 + prob) / 2
    if expected.ndim == 3:  # draws x rows x levels
        labels = predictor.levels or tuple(str(i) for i in range(expected.shape[2]))
        for i, level in enumerate(labels):
            found[f"{PREFIX}mean[{level}]"] = expected[:, :, i].mean(axis=0)
            found[f"{PREFIX}sd[{level}]"] = expected[:, :, i].std(axis=0, ddof=1)
        if predictor.family in ORDINAL:
            codes = np.quantile(predicted, [low, high], axis=0, method="inverted_cdf")
            names = np.asarray(labels, dtype=object)
            found[f"{PREFIX}lower_{width}"] = names[codes[0].astype(int)]
            found[f"{PREFIX}upper_{width}"] = names[codes[1].astype(int)]
        return pd.DataFrame(found, index=frame.index)
    found[f"{PREFIX}mean"] = expected.mean(axis=0)
    found[f"{PREFIX}sd"] = expected.std(axis=0, ddof=1)
    # a count's interval bounds are counts: the draws' own values, not interpolations
    method: Literal["inverted_cdf", "linear"] = (
        "inverted_cdf" if predictor.family in DISCRETE else "linear"
    )
    bounds = np.quantile(predicted, [low, high], axis=0, method=method)
    found[f"{PREFIX}lower_{width}"] = bounds[0]
    found[f"{PREFIX}upper_{width}"] = bounds[1]
    return pd.DataFrame(found, index=frame.index)


def interval_label(prob: float) -> str:
    """The interval's width as it appears in column names: 0.89 -> '89', 0.955 -> '95.5'."""
    return f"{100 * prob:.10g}"


def output_columns(predictor: Predictor, prob: float) -> tuple[str, ...]:
    """The columns predictions add to the new data's own, in order."""
    width = interval_label(prob)
    if predictor.family in LEVEL_FAMILIES:
        names = [f"{PREFIX}{s}[{level}]" for level in predictor.levels for s in ("mean", "sd")]
        if predictor.family in ORDINAL:
            names += [f"{PREFIX}lower_{width}", f"{PREFIX}upper_{width}"]
        return (*names, NEW_GROUP)
    return (f"{PREFIX}mean", f"{PREFIX}sd", f"{PREFIX}lower_{width}", f"{PREFIX}upper_{width}",
            NEW_GROUP)  # fmt: skip


def _draws(array: xr.DataArray) -> np.ndarray:
    """Draws first (chains stacked), then observations, then any level dimension."""
    others = [d for d in array.dims if d not in SAMPLE_DIMS]
    values = np.asarray(array.transpose(*SAMPLE_DIMS, *others).values)
    return values.reshape(-1, *values.shape[2:])


__all__ = [
    "NEW_GROUP",
    "Predictor",
    "interval_label",
    "needs_of",
    "output_columns",
    "predict_block",
    "supported",
]
