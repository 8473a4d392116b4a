"""Which models can be ranked against each other: the same values modelled, on the same rows.

An elpd is a sum of log predictive densities of the values a model models. Two models'
elpd compare only when those values are the same numbers on the same rows: ``log(y)``
against ``y``, a model that dropped rows with missing values against one that did
not, or a probability of counts against a density of the same counts all differ by
terms that have nothing to do with how well either predicts.

Rule (stated in the README):

- Models are ranked together when they model the same values (the fit's
  ``observed_data``), on the same rows of the study's data, with families of the same
  kind (probabilities of discrete outcomes, or densities of continuous ones).
- A model whose response is a monotone transform ``z = g(y)`` of a column ``y``
  (``log``, ``log2``, ``log10``, ``log1p``, ``sqrt``, ``exp``, ``exp2``) joins the models
  of ``y`` itself (or of another such transform of ``y``) on the same rows: its
  pointwise elpd is put on the scale of ``y`` by adding the log Jacobian,
  ``log p(y_i) = log p(z_i) + log |g'(y_i)|`` (for ``log``, minus ``log y_i``), as in
  the loo literature (Vehtari's "LOO for transformed target" note; Gelman et al. 2020).
- Any other response expression (``I(y / 2)``, ``scale(y)``, ``log(y + 1)``) is ranked
  only with models of the very same values.

``modelled_response`` makes the per-model record (kept in ``ModelAnalysis``);
``comparison_groups`` partitions the compared models and says why groups differ.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

#: Transforms whose Jacobian is known: name -> (g, log |g'(y)|).
TRANSFORMS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], Any]]] = {
    "log": (np.log, lambda y: -np.log(y)),
    "log2": (np.log2, lambda y: -np.log(y) - np.log(np.log(2.0))),
    "log10": (np.log10, lambda y: -np.log(y) - np.log(np.log(10.0))),
    "log1p": (np.log1p, lambda y: -np.log1p(y)),
    "sqrt": (np.sqrt, lambda y: -np.log(2.0) - 0.5 * np.log(y)),
    "exp": (np.exp, lambda y: y),
    "exp2": (np.exp2, lambda y: y * np.log(2.0) + np.log(np.log(2.0))),
}


@dataclass(frozen=True)
class ModelledResponse:
    """What one model's elpd is a density of: its response, values and rows.

    ``column`` is the data column the response is read from and ``transform`` the
    function of it the model models (None: the column itself; a name in
    ``TRANSFORMS``; ``"other"`` for any other expression). ``values_key`` hashes the
    modelled values, ``rows_key`` the rows of the study's data used. Where the values
    are ``column`` or a transform in ``TRANSFORMS`` of it, ``column_key`` hashes the
    column's values on those rows and ``jacobian`` holds ``log |g'(y_i)|`` (None for
    the column itself).
    """

    expression: str
    column: str | None
    transform: str | None
    discrete: bool
    rows: int
    rows_key: str
    values_key: str
    column_key: str | None = None
    jacobian: np.ndarray | None = None
    note: str | None = None

    @property
    def direct(self) -> tuple[str, str, bool, str]:
        """Models with equal ``direct`` keys model the same values on the same rows."""
        wrapper = self.expression if self.transform == "other" else ""
        return (self.rows_key, self.values_key, self.discrete, wrapper)

    @property
    def on_column(self) -> tuple[str, str, bool, str] | None:
        """Models with equal keys here can be put on the scale of the same column."""
        if self.column_key is None or self.column is None:
            return None
        return (self.rows_key, self.column_key, self.discrete, self.column)


@dataclass(frozen=True)
class ComparisonGroup:
    """Models ranked together; ``jacobian`` gives the sum added to each transformed one."""

    models: tuple[str, ...]
    response: str  # what the group's elpd is a density of, in words
    rows: int
    jacobian: dict[str, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


def _digest(values: np.ndarray) -> str:
    array = np.ascontiguousarray(np.asarray(values, dtype=np.float64))
    return hashlib.sha256(array.tobytes() + str(array.shape).encode()).hexdigest()


def response_parts(formula: str) -> tuple[str, str | None, str | None]:
    """``(expression, column, transform)`` of a formula's response (formulae parses it).

    ``transform`` is None when the response is a column, a name in ``TRANSFORMS``
    when it is such a call of one column, else ``"other"``.
    """
    from radonspec.study.formula import describe

    description = describe(formula)
    term = description.response.term
    expression = str(term.name)
    component = term.components[0]
    call = getattr(component, "call", None)
    if call is None:
        return expression, str(component.name), None
    args = list(getattr(call, "args", []))
    callee = str(getattr(call, "callee", ""))
    if callee in TRANSFORMS and len(args) == 1 and type(args[0]).__name__ == "LazyVariable":
        return expression, str(args[0].name), callee
    # the first column the expression reads (``p(s, n)``: the successes)
    names = [str(a.name) for a in args if type(a).__name__ == "LazyVariable"]
    names += sorted(n for n in map(str, getattr(term, "var_names", ())) if n)
    return expression, names[0] if names else None, "other"


def modelled_response(
    formula: str,
    observed: np.ndarray,
    data: pd.DataFrame,
    rows: np.ndarray,
    *,
    discrete: bool,
) -> ModelledResponse:
    """The record of what a model models, from its formula, fit and the study's data.

    Parameters
    ----------
    formula
        The model's (main) formula.
    observed
        The fit's observed response values, one per row used.
    data
        The study's data as loaded.
    rows
        Positions in ``data`` of the rows the model used, in order.
    discrete
        Whether the family gives probabilities of discrete outcomes.
    """
    expression, column, transform = response_parts(formula)
    values = np.asarray(observed, dtype=np.float64).reshape(len(rows), -1)
    rows_key = _digest(np.asarray(rows, dtype=np.float64))
    values_key = _digest(values)
    base = dict(
        expression=expression, column=column, transform=transform, discrete=discrete,
        rows=len(rows), rows_key=rows_key, values_key=values_key,
    )  # fmt: skip
    if transform == "other" or column is None or column not in data.columns:
        return ModelledResponse(**base)  # type: ignore[arg-type]
    series = data[column].iloc[rows]
    if not pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series):
        return ModelledResponse(**base)  # type: ignore[arg-type]
    y = series.to_numpy(dtype=np.float64)
    if values.shape[1] != 1:
        return ModelledResponse(**base)  # type: ignore[arg-type]
    if transform is None:
        if not np.array_equal(values[:, 0], y):
            return ModelledResponse(**base)  # type: ignore[arg-type]
        return ModelledResponse(**base, column_key=_digest(y))  # type: ignore[arg-type]
    forward, log_derivative = TRANSFORMS[transform]
    with np.errstate(all="ignore"):
        expected = forward(y)
        jacobian = np.asarray(log_derivative(y), dtype=np.float64)
    if not np.allclose(values[:, 0], expected, rtol=1e-9, atol=1e-12):
        note = f"its values are not {transform}({column}) of the data"
        return ModelledResponse(**base, note=note)  # type: ignore[arg-type]
    if not np.isfinite(jacobian).all():
        note = f"{transform}'s derivative is not finite at some {column} (a zero?)"
        return ModelledResponse(**base, note=note)  # type: ignore[arg-type]
    return ModelledResponse(**base, column_key=_digest(y), jacobian=jacobian)  # type: ignore[arg-type]


def comparison_groups(
    responses: Mapping[str, ModelledResponse | None], order: Sequence[str]
) -> tuple[list[ComparisonGroup], list[str]]:
    """Partition models into groups that can be ranked; one sentence per group set apart.

    Models without a record (an analysis from before this version) each stand alone
    unless ``responses`` is all None, in which case they form one group as before.
    Groups come in the order of their first model in ``order``.
    """
    names = [n for n in order if n in responses]
    if all(responses[n] is None for n in names):
        return ([ComparisonGroup(tuple(names), "the response", 0)] if names else []), []
    # models of the same values on the same rows
    direct: dict[Any, list[str]] = {}
    for name in names:
        found = responses[name]
        key = ("unknown", name) if found is None else found.direct
        direct.setdefault(key, []).append(name)
    # direct groups that can be put on the scale of one column
    merged: dict[Any, list[list[str]]] = {}
    for members in direct.values():
        first = responses[members[0]]
        scale = first.on_column if first is not None else None
        merged.setdefault(scale if scale is not None else ("alone", members[0]), []).append(members)
    groups: list[ComparisonGroup] = []
    for key, parts in merged.items():
        models = tuple(n for part in parts for n in part)
        first = responses[models[0]]
        rows = first.rows if first is not None else 0
        if len(parts) == 1:
            groups.append(ComparisonGroup(models, _described(first), rows))
            continue
        column = str(key[3])
        jacobian: dict[str, float] = {}
        notes = []
        for name in models:
            found = responses[name]
            assert found is not None
            if found.jacobian is None:
                continue
            total = float(np.sum(found.jacobian))
            jacobian[name] = total
            notes.append(
                f"'{name}' models {found.expression}; its elpd is put on the scale of {column}"
                f" by adding the log Jacobian of {found.transform}, {total:.1f} in all"
                f" (log |d {found.expression} / d {column}| summed over the {found.rows} rows)."
            )
        groups.append(ComparisonGroup(models, f"{column}", rows, jacobian, tuple(notes)))
    groups.sort(key=lambda g: names.index(g.models[0]))
    return groups, _apart(groups, responses)


def _described(found: ModelledResponse | None) -> str:
    if found is None:
        return "its own response"
    return found.expression


def _apart(
    groups: list[ComparisonGroup], responses: Mapping[str, ModelledResponse | None]
) -> list[str]:
    """Why each group after the first is not ranked with the nearest group before it.

    The nearest is an earlier group of the same column (the same response on other
    rows, or in another kind of family), else the first group.
    """
    if len(groups) < 2:
        return []
    sentences = []
    for index, group in enumerate(groups[1:], start=1):
        found = responses[group.models[0]]
        head = groups[0]
        for earlier in groups[:index]:
            other = responses[earlier.models[0]]
            if found is not None and other is not None and other.column == found.column:
                head = earlier
                break
        reference = responses[head.models[0]]
        who, against = _names(group.models), _names(head.models)
        if found is None or reference is None:
            why = "its analysis predates the check of what is modelled; run the report again"
        else:
            why = _why(found, reference, head.response)
        sentences.append(f"{who} {'is' if len(group.models) == 1 else 'are'} not ranked"
                         f" against {against}: {why}.")  # fmt: skip
    return sentences


def _why(found: ModelledResponse, reference: ModelledResponse, theirs: str) -> str:
    if found.discrete != reference.discrete:
        kind = "probabilities of discrete outcomes" if found.discrete else "a density"
        other = "a density" if found.discrete else "probabilities of discrete outcomes"
        return (
            f"its family gives {kind} and theirs {other}, so the two elpd are on different scales"
        )
    same_response = found.expression == reference.expression or (
        found.column is not None and found.column == reference.column
    )
    if found.rows_key != reference.rows_key:
        if same_response:
            counts = (
                f"{found.rows} rows each, but not the same ones"
                if found.rows == reference.rows
                else f"{found.rows} against {reference.rows}"
            )
            return (
                f"it is fitted on other rows ({counts}: data.dropna drops the rows missing in"
                " each model's own columns); give the models the same columns or drop those"
                " rows from the data"
            )
        return (
            f"it models {found.expression} on {found.rows} rows, they model"
            f" {theirs} on {reference.rows}"
        )
    if found.note is not None or reference.note is not None:
        return f"it models {found.expression}, they model {theirs} ({found.note or reference.note})"
    if found.expression != reference.expression:
        transforms = ", ".join(sorted(TRANSFORMS))
        if found.column == reference.column and "other" in (found.transform, reference.transform):
            return (
                f"it models {found.expression}, they model {theirs}; radonspec puts"
                f" a response on the scale of its column only for {transforms}"
            )
        return f"it models {found.expression}, they model {theirs}"
    return f"its modelled values of {found.expression} differ from theirs"


def _names(models: Sequence[str]) -> str:
    quoted = [f"'{m}'" for m in models]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def on_scale(elpd_i: np.ndarray, jacobian: np.ndarray | None) -> np.ndarray:
    """Pointwise elpd moved to the scale of the response's column (``+ log |g'(y_i)|``)."""
    if jacobian is None:
        return elpd_i
    return np.asarray(elpd_i, dtype=np.float64) + jacobian


__all__ = [
    "TRANSFORMS",
    "ComparisonGroup",
    "ModelledResponse",
    "comparison_groups",
    "modelled_response",
    "on_scale",
    "response_parts",
]
