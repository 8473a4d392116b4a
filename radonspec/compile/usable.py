"""Checks that a model's data can be used as its spec says, before and after Bambi builds it.

Each refuses what ``validate`` used to accept and ``run`` could not use, or used
wrongly: a text response under a numeric family (Bambi fitted its one-hot matrix, a
wrong answer with exit 0), a response with one value, columns named like the family's
parameters (Bambi's "Variable name sigma already exists"), a design too large to build,
and values a transform makes infinite (``log`` of a value <= 0), which Bambi's automatic
priors turned into "its predictor has no variance".
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from radonspec.errors import CompileError, counted
from radonspec.study.family import FamilyError, family_params
from radonspec.study.formula import FormulaInfo
from radonspec.study.schema import ModelSpec

#: Families whose response may be text (levels): the others need numbers.
TEXT_FAMILIES = frozenset({"bernoulli", "categorical", "cumulative", "sratio"})
#: Most columns the common (population-level) terms of a model may make, counted from the
#: data before anything is built: an interaction of two 1,000-level factors would make a
#: million.
MAX_COMMON_COLUMNS = 20_000


def check_before_build(
    spec: ModelSpec, infos: tuple[FormulaInfo, ...], frame: pd.DataFrame, prefix: str
) -> None:
    """Refuse a model whose data cannot be used as its formulas and family say."""
    _check_names(spec, infos, prefix)
    main = infos[0]
    response = main.response
    if response is not None and response in frame.columns:
        _check_response(spec.family, response, frame[response], prefix)
    for info in infos:
        _check_columns_count(info, frame, prefix)


def check_built(model: Any, prefix: str) -> None:
    """Refuse a built model whose response or common terms hold values that are not finite."""
    response = getattr(model, "response_term", None)
    values = _values(getattr(response, "data", None))
    if response is not None and values is not None and values.dtype.kind == "f":
        _refuse_not_finite(values, f"the response '{response.name}'", prefix)
    for component in model.parameters.values():
        for name, term in (getattr(component, "terms", None) or {}).items():
            if type(term).__name__ != "CommonTerm":
                continue
            data = _values(getattr(term, "data", None))
            if data is not None and data.dtype.kind == "f":
                _refuse_not_finite(data, f"term '{name}'", prefix)


def _check_names(spec: ModelSpec, infos: tuple[FormulaInfo, ...], prefix: str) -> None:
    try:
        parent, auxiliary = family_params(spec.family)
    except FamilyError:
        return  # reported by the static checks
    reserved = {parent, *auxiliary, "Intercept"}
    for info in infos:
        for column in sorted(info.columns & reserved):
            raise CompileError(
                f"{prefix}: column '{column}' has the name of "
                + (
                    "the intercept"
                    if column == "Intercept"
                    else f"the {spec.family} family's parameter '{column}'"
                )
                + ", which Bambi cannot tell apart from it; rename the column in the data"
                f" (e.g. '{column}_obs')"
            )
    main = infos[0]
    response = main.response
    if response is not None and response in _rhs_columns(main):
        raise CompileError(
            f"{prefix}: the response '{response}' is also a predictor in '{main.formula}';"
            " remove it from the right side of '~'"
        )


def _rhs_columns(info: FormulaInfo) -> set[str]:
    from radonspec.study.formula import describe

    try:
        return {str(name) for name in describe(info.formula.split("~", 1)[-1]).var_names}
    except Exception:  # noqa: BLE001 - formulae refused it: the build reports why
        return set()


def _check_response(family: str, name: str, values: pd.Series, prefix: str) -> None:
    text = isinstance(values.dtype, pd.CategoricalDtype) or not (
        pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype)
    )
    if text and family not in TEXT_FAMILIES:
        levels = values.dropna().unique()
        shown = ", ".join(repr(str(level)) for level in list(levels)[:3])
        more = ", ..." if len(levels) > 3 else ""
        raise CompileError(
            f"{prefix}: the response '{name}' is text or categorical ({len(levels)} levels:"
            f" {shown}{more}), and family '{family}' needs numbers; a response with levels"
            " needs family 'bernoulli' (two levels; name the event as"
            f" {name}[level] ~ ...), 'categorical' (unordered levels) or 'cumulative' or"
            " 'sratio' (ordered levels, listed under data.levels); if the values are"
            f" numbers, remove '{name}' from data.categorical"
        )
    if not text:
        present = values.dropna()
        if len(present) > 0 and present.nunique() == 1:
            raise CompileError(
                f"{prefix}: the response '{name}' has the same value ({present.iloc[0]}) in"
                " every row used; there is nothing to model: check data.filter and the data"
            )


def _check_columns_count(info: FormulaInfo, frame: pd.DataFrame, prefix: str) -> None:
    from radonspec.study.formula import describe

    try:
        terms = describe(info.formula.split("~", 1)[-1]).common_terms
    except Exception:  # noqa: BLE001 - formulae refused it: the build reports why
        return
    total = 0
    for term in terms:
        count = 1
        for component in getattr(term, "components", ()):
            count *= _component_columns(component, frame)
        total += count
        if total > MAX_COMMON_COLUMNS:
            raise CompileError(
                f"{prefix}: term '{term.name}' brings the population-level terms to"
                f" {total:,} columns, more than the {MAX_COMMON_COLUMNS:,} allowed; model"
                " many levels as a group-specific term instead, e.g. (1|g) or (x|g)"
            )


def _component_columns(component: Any, frame: pd.DataFrame) -> int:
    call = getattr(component, "call", None)
    if call is None:
        return _levels(frame, component.name)
    callee = getattr(call, "callee", "")
    args = list(getattr(call, "args", ()))
    if callee == "C" and args:
        return _levels(frame, getattr(args[0], "name", ""))
    size = {"bs": "df", "poly": "degree"}.get(callee)
    if size is None:
        return 1
    found = getattr(call, "kwargs", {}).get(size)
    if found is None and len(args) > 1:
        found = args[1]
    value = getattr(found, "value", None)
    return int(value) if isinstance(value, int) and value > 0 else 10


def _levels(frame: pd.DataFrame, column: str) -> int:
    if column not in frame.columns:
        return 1
    series = frame[column]
    numeric = pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(
        series.dtype
    )
    if numeric and not isinstance(series.dtype, pd.CategoricalDtype):
        return 1
    return max(1, int(series.nunique()))


def _values(data: Any) -> np.ndarray | None:
    if data is None:
        return None
    if hasattr(data, "toarray"):
        return None  # sparse terms hold indicators, always finite
    array = np.asarray(data)
    return array if array.dtype.kind in "fiub" else None


def _refuse_not_finite(values: np.ndarray, what: str, prefix: str) -> None:
    flat = values.reshape(len(values), -1) if values.ndim else values.reshape(1, -1)
    bad = ~np.isfinite(flat).all(axis=1)
    if bad.any():
        row = int(np.argmax(bad))
        shown = flat[row][~np.isfinite(flat[row])][0]
        raise CompileError(
            f"{prefix}: {what} is {shown} in {counted(int(bad.sum()), 'row')}, first at row"
            f" {row + 1}"
            " of the rows used; a transform is undefined there (log or sqrt of a value <= 0,"
            " division by 0?): change the transform or filter those rows"
        )
