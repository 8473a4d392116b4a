"""Row-sparse design matrices: ``X @ b`` as a gather instead of a dense product.

Bambi multiplies a model's common terms as one dense design matrix. For
categorical predictors and their interactions nearly every entry is zero (the
unpooled radon model, ``0 + county + county:floor``, has 919 x 170 entries and
at most two non-zeros per row), yet the dense product and its gradient cost
``n * p`` per log-density evaluation. Written as a gather of the few non-zero
columns of each row the cost is ``n * k``: on this machine the unpooled radon
model then samples in 0.3 s instead of 20 s (4 chains x 1000 draws, nutpie).

The product is exact algebra, not an approximation: with ``c`` the most frequent
value of each column, ``X = S + 1 c'`` where ``S`` has few non-zeros per row, so
``X @ b = S @ b + c @ b``. Subtracting ``c`` keeps the gain for designs Bambi
centres (a centred dummy column is constant except where the level occurs).
Draws differ from the dense product's only by floating-point rounding.

Bambi builds the product in ``bambi.backend.model_components`` with ``pt.dot``;
``install`` points that module's ``pt`` at a view of ``pytensor.tensor`` whose
``dot`` is ``row_sparse_dot``. Every other name resolves to pytensor itself,
and designs that are not sparse get ``pt.dot`` unchanged. Bambi is pinned
(``bambi==0.21.0``); a test fails if the hook stops being reached.
"""

from __future__ import annotations

import contextlib
import contextvars
import types
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytensor.tensor as pt

#: Below this many columns a dense product is as cheap as a gather.
MIN_COLUMNS = 8
#: The gather is used when a row's non-zeros are at most this share of the columns.
MAX_ROW_SHARE = 0.25


def row_sparse_dot(data: Any, coefs: Any) -> Any:
    """``data @ coefs``, gathered when ``data`` is a constant matrix with sparse rows.

    Parameters
    ----------
    data : array_like or TensorVariable
        The design matrix, shape ``(n, p)``. Anything but a 2-D numpy array is
        multiplied densely.
    coefs : TensorVariable
        Coefficients, shape ``(p,)`` or ``(p, m)``.

    Returns
    -------
    TensorVariable
        Shape ``(n,)`` or ``(n, m)``, equal to ``pt.dot(data, coefs)``.
    """
    layout = sparse_layout(data)
    if layout is None:
        return pt.dot(data, coefs)
    columns, values, offset = layout
    n, k = columns.shape
    index: Any = columns.ravel()
    rows: Any = n
    if _ROWS_FREE.get():
        # the (n, k) layout stays an array of the graph (radonspec.compile.shared makes
        # it an input) and the row count is read from it, not written in as a number
        index = pt.as_tensor(columns).ravel()
        rows = -1
    # a 1-D index keeps the gather (and its scatter-add gradient) on the fast path
    gathered = coefs[index]
    if coefs.ndim == 1:
        product = (gathered.reshape((rows, k)) * values).sum(axis=1)
    else:
        product = (gathered.reshape((rows, k, coefs.shape[1])) * values[:, :, None]).sum(axis=1)
    if np.any(offset != 0):
        product = product + pt.dot(offset, coefs)
    return product


_ROWS_FREE: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "radonspec_rows_free", default=False
)


@contextlib.contextmanager
def rows_free() -> Iterator[None]:
    """Within the block, products are built with the number of rows left to the data.

    For models whose data become inputs (``radonspec.compile.shared``): a graph with the
    row count written in as a constant would compile once per data length.
    """
    token = _ROWS_FREE.set(True)
    try:
        yield
    finally:
        _ROWS_FREE.reset(token)


def sparse_layout(data: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The gathered form of a sparse-row matrix, or None when a dense product is better.

    Returns ``(columns, values, offset)``: per row the indices and values of its
    non-zeros after subtracting ``offset`` (each column's most frequent value),
    padded with zero values to the same count ``k``.
    """
    if not isinstance(data, np.ndarray) or data.ndim != 2 or data.dtype.kind not in "fiu":
        return None
    n, p = data.shape
    if p < MIN_COLUMNS or n == 0:
        return None
    offset = _column_modes(data)
    rest = data - offset
    nonzero = rest != 0
    k = max(int(nonzero.sum(axis=1).max()), 1)
    if k > MAX_ROW_SHARE * p:
        return None
    # a stable sort on "is zero" lists each row's non-zero columns first, in order
    columns = np.argsort(~nonzero, axis=1, kind="stable")[:, :k]
    values = np.take_along_axis(rest, columns, axis=1)
    return columns.astype(np.int64), values.astype(data.dtype, copy=False), offset


def _column_modes(data: np.ndarray) -> np.ndarray:
    ordered = np.sort(data, axis=0)
    modes = np.empty(data.shape[1], dtype=data.dtype)
    for j in range(data.shape[1]):
        values, counts = np.unique(ordered[:, j], return_counts=True)
        modes[j] = values[np.argmax(counts)]
    return modes


class _PytensorWithSparseDot(types.ModuleType):
    """``pytensor.tensor`` as Bambi's model builder sees it: ``dot`` is ``row_sparse_dot``."""

    def __init__(self) -> None:
        super().__init__("pytensor.tensor")
        self.dot = row_sparse_dot

    def __getattr__(self, name: str) -> Any:
        return getattr(pt, name)


def install() -> None:
    """Make Bambi build its common-term product with ``row_sparse_dot`` (idempotent)."""
    from bambi.backend import model_components

    if not isinstance(model_components.pt, _PytensorWithSparseDot):
        model_components.pt = _PytensorWithSparseDot()


def installed() -> bool:
    """Whether Bambi's model builder uses ``row_sparse_dot``."""
    from bambi.backend import model_components

    return isinstance(model_components.pt, _PytensorWithSparseDot)
