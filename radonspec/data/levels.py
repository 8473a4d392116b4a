"""Levels of categorical columns: their order, reference levels, a binary response's event.

The data step puts every categorical column's levels in one declared order: the order
``data.levels`` gives, else the order an ordered categorical of the file carries
(Parquet), else sorted (numbers as numbers); ``data.reference`` then moves a level to
the front. That order is the design's: the first level is the reference of a
treatment-coded predictor, and an ordinal response's levels run from lowest to highest.

formulae keeps a categorical's order only when it is ordered, and sorts any other one
by value (``Variable.eval_categoric``, ``Call.eval_categoric``), which would drop a
reference level the spec names (radon's only worked because AITKIN comes first in the
alphabet). ``design_frame`` therefore gives Bambi every categorical as ordered, in the
declared order. formulae's ordered and unordered categoricals differ in nothing else.

Bambi models the *first* level of a text response with family bernoulli, P(use = N) for
levels N and Y, where R's ``glm`` models the second; which one is meant is never
guessed. The event is named in the formula (``use[Y] ~ x``), or follows from a declared
order: with ``data.reference`` the reference is the non-event, with ``data.levels`` (or
an ordered file) the last level is the event, as in R. ``design_frame`` then gives Bambi
the response as 0/1, 1 for the event, so Bambi, formulae and new data all agree.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from radonspec.errors import did_you_mean
from radonspec.study.family import ORDINAL_FAMILIES
from radonspec.study.formula import FormulaInfo
from radonspec.study.schema import DataSpec, ModelSpec

#: Families whose response is one of two levels.
BINARY_FAMILIES = frozenset({"bernoulli"})


class LevelsError(ValueError):
    """Levels that are not declared, or declared wrongly; ``path`` locates it in the spec."""

    def __init__(self, message: str, path: tuple[str | int, ...] = ()) -> None:
        self.message = message
        self.path = path
        super().__init__(message)


@dataclass(frozen=True)
class ModelLevels:
    """What a model's categorical columns mean, for the report and ``summary.json``.

    ``response`` is the response column when it is categorical (or names its event);
    ``event`` the level a binary model models, P(response = event); ``response_levels``
    the response's levels in order (lowest first for an ordinal family; the reference
    first for family categorical). ``reference`` maps each categorical predictor to its
    reference level: the baseline of its treatment coding, where its term has one (a
    term coded in full, as in ``0 + g``, has none).
    """

    response: str | None = None
    event: str | None = None
    response_levels: tuple[str, ...] = ()
    reference: dict[str, str] = field(default_factory=dict)
    #: whether Bambi is given the response as 0/1 (a text response, or a named event)
    recode: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data: ``{"response", "event", "response_levels", "reference"}``."""
        return {
            "response": self.response,
            "event": self.event,
            "response_levels": list(self.response_levels),
            "reference": dict(self.reference),
        }


def order_levels(
    column: str, values: Sequence[Any], spec: DataSpec, *, ordered: bool = False
) -> tuple[list[Any], bool]:
    """The declared order of a categorical column's ``values``, and whether it is declared.

    ``values`` are the levels found in the data (in the file's order when ``ordered``).
    Raises ``LevelsError`` when ``data.levels`` misses a level of the data, lists one the
    data lacks (allowed after a filter, which may have removed it), or the reference
    level is absent or disagrees with ``data.levels``.
    """
    found = list(values)
    declared = spec.levels.get(column)
    if declared is not None:
        found, ordered = _declared(column, found, declared, spec), True
    elif not ordered:
        found = sorted_levels(found)
    reference = spec.reference.get(column)
    if reference is not None:
        match = [level for level in found if str(level) == str(reference)]
        if not match:
            raise LevelsError(
                f"reference level '{reference}' is not a level of '{column}'"
                f"{did_you_mean(str(reference), map(str, found))}; its levels are"
                f" {_listed(map(str, found))}",
                ("data", "reference", column),
            )
        if declared is not None and match[0] != found[0]:
            raise LevelsError(
                f"data.reference names '{reference}' for '{column}', but data.levels puts"
                f" '{found[0]}' first; the reference is the first of data.levels: list"
                f" '{reference}' first there, or remove the reference",
                ("data", "reference", column),
            )
        found.remove(match[0])
        found.insert(0, match[0])
    return found, ordered


def sorted_levels(values: Sequence[Any]) -> list[Any]:
    """Levels sorted as formulae would: numbers as numbers, anything mixed as text."""
    try:
        return sorted(values)
    except TypeError:
        return sorted(values, key=str)


def _declared(column: str, found: list[Any], declared: Sequence[Any], spec: DataSpec) -> list[Any]:
    by_text = {str(level): level for level in found}
    missing = [text for text in by_text if text not in {str(d) for d in declared}]
    if missing:
        raise LevelsError(
            f"data.levels for '{column}' leaves out {_listed(missing)}, found in the"
            f" data; list every level of '{column}' in order: {', '.join(by_text)}",
            ("data", "levels", column),
        )
    extra = [str(d) for d in declared if str(d) not in by_text]
    if extra and not spec.filter:
        hint = did_you_mean(extra[0], [t for t in by_text if t not in map(str, declared)])
        raise LevelsError(
            f"data.levels for '{column}' lists '{extra[0]}', which is not a level of"
            f" '{column}'{hint}; its levels are {_listed(by_text)}",
            ("data", "levels", column),
        )
    return [by_text[str(d)] for d in declared if str(d) in by_text]


def model_levels(
    data: DataSpec, spec: ModelSpec, infos: Sequence[FormulaInfo], frame: pd.DataFrame
) -> ModelLevels:
    """The modelled event, response order and reference levels of one model on ``frame``.

    ``frame`` is the model's prepared data (``data.prepare``). Raises ``LevelsError``
    when the response's levels need an order or an event that nothing declares.
    """
    main = infos[0]
    response = main.response if main.response in frame.columns else None
    reference = {
        column: str(frame[column].cat.categories[0])
        for column in predictor_columns(infos)
        if column != response and _categorical(frame, column)
    }
    for column, level in data.reference.items():
        if column in reference and reference[column] != str(level):
            raise LevelsError(
                f"'{column}' has no row at its reference level '{level}' in this model's"
                f" data (after dropping missing values); choose another data.reference",
                ("data", "reference", column),
            )
    if response is None:
        if main.response_level is not None:
            raise LevelsError(
                f"'{main.response}[{main.response_level}]': only a column can name its event"
            )
        return ModelLevels(reference=reference)
    series = frame[response]
    if spec.family in BINARY_FAMILIES:
        if main.response_level is None and not _categorical(frame, response):
            return ModelLevels(response, _numeric_event(series), (), reference)
        event, levels = _event(response, series, main.response_level, data)
        return ModelLevels(response, event, levels, reference, recode=True)
    if main.response_level is not None:
        raise LevelsError(
            f"'{response}[{main.response_level}]' names an event, which only a binary response"
            f" has (family bernoulli); this model's family is '{spec.family}': write"
            f" '{response}' alone"
        )
    if spec.family in ORDINAL_FAMILIES:
        return ModelLevels(response, None, _ordinal(response, series, spec.family), reference)
    if _categorical(frame, response):
        levels = tuple(str(level) for level in series.cat.categories)
        return ModelLevels(response, None, levels, reference)
    return ModelLevels(reference=reference)


def predictor_columns(infos: Sequence[FormulaInfo]) -> list[str]:
    """Columns read by a common term or a group-specific term's expression, not factors."""
    from radonspec.study.formula import describe

    found: dict[str, None] = {}
    for info in infos:
        description = describe(info.formula.split("~", 1)[-1])
        for term in description.common_terms:
            found.update(dict.fromkeys(sorted(term.var_names)))
        for term in description.group_terms:
            found.update(dict.fromkeys(sorted(term.expr.var_names)))
    return list(found)


def design_frame(frame: pd.DataFrame, levels: ModelLevels) -> pd.DataFrame:
    """``frame`` as Bambi must see it: categoricals ordered as declared, the event as 1.

    Apply it to every frame a model is given, new data included (held-out rows), so
    that the fit and its predictions code the levels alike.
    """
    design = frame.copy()
    for column in design.columns:
        series = design[column]
        if isinstance(series.dtype, pd.CategoricalDtype) and not series.dtype.ordered:
            design[column] = series.cat.as_ordered()
    if levels.recode and levels.event is not None and levels.response in design.columns:
        column = design[levels.response]
        design[levels.response] = _is_level(column, levels.event).astype(np.int64)
    return design


def _event(
    response: str, series: pd.Series, named: str | None, data: DataSpec
) -> tuple[str, tuple[str, ...]]:
    if isinstance(series.dtype, pd.CategoricalDtype):
        levels = [str(level) for level in series.cat.categories]
    else:
        levels = [str(level) for level in sorted_levels(list(series.dropna().unique()))]
    if named is not None:
        if not _is_level(series, named).any():
            same = [level for level in levels if level.casefold() == named.casefold()]
            hint = f" (did you mean '{same[0]}'?)" if same else did_you_mean(named, levels)
            raise LevelsError(
                f"'{response}[{named}]': '{named}' is not a level of '{response}'{hint};"
                f" its levels are {_listed(levels)}"
            )
        return named, tuple(levels)
    if len(levels) != 2:
        raise LevelsError(
            f"the response '{response}' has {len(levels)} levels ({_listed(levels)}),"
            f" and family bernoulli models two: name the event to model against all the"
            f" others, e.g. '{response}[{levels[-1]}] ~ ...'"
        )
    if response in data.reference:
        return levels[1], tuple(levels)  # the reference is the non-event, as in R
    if getattr(series.dtype, "ordered", False):
        return levels[1], tuple(levels)  # the second level is the event, as in R's glm
    raise LevelsError(
        f"the response '{response}' is text with levels '{levels[0]}' and '{levels[1]}':"
        f" name the event to model, e.g. '{response}[{levels[1]}] ~ ...' for"
        f" P({response} = {levels[1]}), or declare the order of its levels (data.levels, or"
        " data.reference for the non-event): the second level is then the event, as in R's glm"
    )


def _numeric_event(series: pd.Series) -> str:
    """The event of a numeric (0/1) or boolean response: Bambi models 1, or True."""
    return "True" if pd.api.types.is_bool_dtype(series.dtype) else "1"


def _ordinal(response: str, series: pd.Series, family: str) -> tuple[str, ...]:
    if not isinstance(series.dtype, pd.CategoricalDtype):
        raise LevelsError(
            f"family '{family}' needs a categorical response, and '{response}' is numeric:"
            f" list it under data.categorical (numbers keep their order) or give its order"
            f" under data.levels"
        )
    levels = [str(level) for level in series.cat.categories]
    numeric = pd.api.types.is_numeric_dtype(series.cat.categories.dtype)
    if not series.dtype.ordered and not numeric:
        raise LevelsError(
            f"family '{family}' needs the order of the levels of '{response}', which the"
            f" data does not carry; found {_listed(levels)}: declare the order, lowest"
            f" first, under data.levels, e.g. levels: {{{response}: [{', '.join(levels)}]}}"
            " in the right order",
            ("data", "levels"),
        )
    return tuple(levels)


def _categorical(frame: pd.DataFrame, column: str) -> bool:
    return column in frame.columns and isinstance(frame[column].dtype, pd.CategoricalDtype)


def _is_level(series: pd.Series, level: str) -> pd.Series:
    """Whether each value is ``level`` (compared as text, or as a number for numbers)."""
    values = series.astype(object) if isinstance(series.dtype, pd.CategoricalDtype) else series
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values):
        try:
            return values == float(level)
        except ValueError:
            return pd.Series(False, index=series.index)
    return values.map(lambda value: str(value) == level).astype(bool)


def declared_columns(spec: DataSpec) -> Collection[str]:
    """Columns whose levels the spec declares or references."""
    return list(dict.fromkeys([*spec.levels, *spec.reference]))


def _listed(levels: Iterable[Any]) -> str:
    """``'Low', 'Medium' and 'High'``, in the order given (the first 12)."""
    items = [f"'{level}'" for level in levels]
    if len(items) > 12:
        return ", ".join(items[:12]) + f", ... ({len(items)} in all)"
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
