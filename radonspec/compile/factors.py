"""Grouping factors as level indices, never as dense indicator matrices.

formulae evaluates the factor of a group-specific term such as ``(1 | county)`` as a
dense ``n x J`` indicator matrix (int64), and Bambi reads only its ``argmax`` back: the
level of each row. The design matrix it then builds is sparse, but the indicator is
not: 10^5 rows in 10^4 groups took 16 GB (measured: about 16 bytes per row and level,
so the build grew with ``n * J`` and 10^6 rows could not be built at all).

``install`` replaces ``GroupSpecificTerm.set_data`` and ``eval_new_data`` with versions
that compute each row's level code directly. The factor's ``data`` becomes a
``LevelCodes``, which answers ``argmax(axis=1)``, ``shape`` and ``ndim`` as the dense
matrix would and turns into it only if something asks for the full array. Levels,
contrast labels, group names and the sparse design are the same as formulae's, except
that an interaction factor (``g:h``, and ``(1|g/h)``'s ``g:h``) has a level for each
combination of levels that occurs in the data, as in lme4, where formulae makes one for
every combination, most of them empty for nested data; a test compares them term by
term. formulae is pinned (``formulae==0.6.2``); factors whose components are not plain
columns (a call such as ``C(g)``) keep formulae's own path.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd


class LevelCodes:
    """An ``n x k`` one-hot indicator matrix held as the ``n`` column indices of its ones."""

    ndim = 2

    def __init__(self, codes: np.ndarray, levels: int) -> None:
        self.codes = codes
        self.shape = (len(codes), levels)

    def argmax(self, axis: int | None = None) -> np.ndarray:
        """The level of each row (``axis=1``), as ``np.argmax`` of the dense matrix."""
        if axis != 1:
            return np.asarray(np.asarray(self).argmax(axis))
        return self.codes

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        dense = np.zeros(self.shape, dtype=dtype or np.int64)
        dense[np.arange(len(self.codes)), self.codes] = 1
        return dense

    def __len__(self) -> int:
        return len(self.codes)


def _plain(factor: Any) -> bool:
    from formulae.terms.variable import Variable

    return all(type(c) is Variable and not c.is_response for c in factor.components)


def _levels(values: Any) -> list[Any]:
    """The levels formulae gives a categorical column: its own order if ordered, else sorted."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        if values.dtype.ordered:
            return list(values.dtype.categories)
        present = np.unique(pd.Categorical(values).codes)
        return sorted(values.dtype.categories[present[present >= 0]].tolist())
    return sorted(np.unique(values).tolist())


def _codes(values: Any, levels: list[Any]) -> np.ndarray:
    """Each value's position in ``levels``; -1 for a value not among them."""
    index = pd.Index(levels)
    if isinstance(getattr(values, "dtype", None), pd.CategoricalDtype):
        categorical = pd.Categorical(values)
        per_category = np.append(index.get_indexer(categorical.categories), -1)
        return per_category[categorical.codes].astype(np.int64)  # code -1 (missing) -> -1
    return index.get_indexer(np.asarray(values)).astype(np.int64)


def _factor_codes(factor: Any) -> tuple[np.ndarray, int]:
    """Set up the factor's components as formulae would; return row codes and level count."""
    from formulae.categorical import ContrastMatrix

    codes: np.ndarray | None = None
    size = 1
    for component in factor.components:
        values = component._intermediate_data
        component.levels = _levels(values)
        # formulae's identity, one byte a cell (int64 was 800 MB for 10^4 levels)
        component.contrast_matrix = ContrastMatrix(
            np.eye(len(component.levels), dtype=np.int8), [str(v) for v in component.levels]
        )
        component.spans_intercept = True
        own = _codes(values, component.levels)
        component.value = LevelCodes(own, len(component.levels))
        # formulae's interaction matrix numbers the columns a * len(b) + b
        codes = own if codes is None else codes * len(component.levels) + own
        size *= len(component.levels)
    assert codes is not None
    return codes, size


def _set_data(self: Any, spans_intercept: Any) -> None:
    if not _plain(self.factor):
        return _ORIGINAL["set_data"](self, spans_intercept)
    from formulae.utils import row_khatri_rao_sparse

    self.expr.set_data(spans_intercept)
    codes, size = _factor_codes(self.factor)
    self.kind = self.expr.kind
    labels = [component.contrast_matrix.labels for component in self.factor.components]
    if len(labels) > 1:
        # an interaction factor (g:h, and the h within g of (1|g/h)) has a level for each
        # combination that occurs, as in lme4: formulae makes one for every combination
        # (510 levels, 425 of them empty, for 85 observed ones)
        observed = np.unique(codes)
        codes = np.searchsorted(observed, codes)
        size = len(observed)
        sizes = [len(own) for own in labels]
        positions = np.unravel_index(observed, sizes)
        self.groups = [
            ":".join(labels[k][i] for k, i in enumerate(combination))
            for combination in zip(*(p.tolist() for p in positions), strict=True)
        ]
        self._observed_combinations = observed
    else:
        self.groups = list(labels[0])
    self.factor.data = LevelCodes(codes, size)
    expr = self.expr.data
    if expr.ndim == 1:
        expr = expr[:, np.newaxis]
    self.data = row_khatri_rao_sparse(expr, codes, size)
    return None


def _eval_new_data(self: Any, data: pd.DataFrame) -> Any:
    if not _plain(self.factor) or not all(hasattr(c, "levels") for c in self.factor.components):
        return _ORIGINAL["eval_new_data"](self, data)
    from formulae.config import config
    from formulae.utils import row_khatri_rao_sparse

    expr = self.expr.eval_new_data(data)
    codes = np.zeros(len(data), dtype=np.int64)
    unseen = np.zeros(len(data), dtype=bool)
    size = 1
    for component in self.factor.components:
        own = _codes(data[component.name], component.levels)
        if (own < 0).any():
            _unseen_levels(component, data[component.name][own < 0], config)
        unseen |= own < 0
        codes = codes * len(component.levels) + own
        size *= len(component.levels)
    observed = getattr(self, "_observed_combinations", None)
    if observed is not None:  # a combination the fit never saw is a new group
        at = np.minimum(np.searchsorted(observed, codes), len(observed) - 1)
        unseen |= observed[at] != codes
        codes, size = at, len(observed)
    if unseen.any():  # formulae gives rows of a new group one extra column
        codes[unseen] = size
        size += 1
    if expr.ndim == 1:
        expr = expr[:, np.newaxis]
    return row_khatri_rao_sparse(expr, codes, size)


def _unseen_levels(component: Any, values: pd.Series, config: Any) -> None:
    """Raise or warn about levels the fit never saw, as formulae's own evaluation does."""
    difference = ", ".join(str(v) for v in sorted(set(values), key=str))
    if config["EVAL_UNSEEN_CATEGORIES"] == "error":
        raise ValueError(
            f"The levels ({difference}) in '{component.name}' are not present in the "
            "original data set."
        )
    if config["EVAL_UNSEEN_CATEGORIES"] == "warning":
        warnings.warn(
            f"The levels ({difference}) in '{component.name}' are not present in the "
            "original data set. It's impossible to select appropriate contrasts for them. "
            "Setting all the indicator variables to zero.",
            UserWarning,
            stacklevel=2,
        )


_ORIGINAL: dict[str, Any] = {}


def install() -> None:
    """Evaluate group factors as level codes in every model built after this (idempotent)."""
    from formulae.terms.terms import GroupSpecificTerm

    if not _ORIGINAL:
        _ORIGINAL["set_data"] = GroupSpecificTerm.set_data
        _ORIGINAL["eval_new_data"] = GroupSpecificTerm.eval_new_data
    GroupSpecificTerm.set_data = _set_data
    GroupSpecificTerm.eval_new_data = _eval_new_data


def uninstall() -> None:
    """Go back to formulae's own evaluation (for the tests that compare the two)."""
    from formulae.terms.terms import GroupSpecificTerm

    if _ORIGINAL:
        GroupSpecificTerm.set_data = _ORIGINAL["set_data"]
        GroupSpecificTerm.eval_new_data = _ORIGINAL["eval_new_data"]
