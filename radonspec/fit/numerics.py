"""Arithmetic that does not depend on where the compiled code came from.

PyTensor compiles a model's log density for nutpie with Numba, by default in
``fastmath`` mode, and keeps the machine code in an on-disk cache. Fast math lets LLVM
reorder floating-point operations, and it did so differently when a function was
compiled afresh than when it was loaded from the cache: the same model, data and seed
gave other draws (posterior means 0.026 apart here) depending on whether the cache was
warm, which under load and with concurrent runs (a Dask cluster beside a local run) is a
matter of timing. With ``numba__fastmath`` off, a cold and a warm cache give the same
bits (measured: same sampling time within noise). Chains, cores and threads do not
change the draws: nutpie seeds each chain from (seed, chain) alone.

``logsumexp_rows`` is scipy's ``logsumexp`` with scipy's operations in fewer passes,
shared by PSIS-LOO (``radonspec.analysis.psis``) and held-out scoring
(``radonspec.fit.heldout``).
"""

from __future__ import annotations

import numpy as np

#: Goes into every fit key: fits sampled with fast math are not these fits.
NUMERICS = {"numba_fastmath": False}


def use_exact_math() -> None:
    """Make PyTensor compile Numba code without fast math, in this process, from now on."""
    import pytensor

    pytensor.config.numba__fastmath = NUMERICS["numba_fastmath"]


def logsumexp_rows(a: np.ndarray, scale: float | None = None) -> np.ndarray:
    """``scipy.special.logsumexp(a, axis=1, b=scale)`` with scipy's operations, fewer passes.

    scipy 1.18 separates the largest terms of each row from the sum and adds them
    back through ``log1p``; where that is not finite it takes ``log(sum(exp(a)))``.
    The same steps give the same numbers; scipy's extra pass over every row (for
    that fallback) runs here only on the rows that need it.
    """
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        top = np.max(a, axis=1, keepdims=True)
        at_top = a == top
        if scale is None:
            m = np.count_nonzero(at_top, axis=1).astype(float)[:, None]
        else:
            m = np.sum(scale * at_top, axis=1, keepdims=True)
        terms = np.subtract(a, top)
        np.exp(terms, out=terms)
        # scipy sets the largest terms to -inf before shifting: the same zeros where the
        # row's maximum is finite, and a non-finite result (then replaced) where it is not
        np.copyto(terms, 0.0, where=at_top)
        if scale is not None:
            terms *= scale
        s = np.sum(terms, axis=1, keepdims=True)
        s = np.where(s == 0, s, s / m)
        sign = np.sign(s + 1) * np.sign(m)
        s = np.where(s < -1, -s - 2, s)
        out = (np.log1p(s) + np.log(np.abs(m)) + top)[:, 0]
        out[sign[:, 0] < 0] = np.nan
        direct = np.flatnonzero(~np.isfinite(out))
        if direct.size:
            exp = np.exp(a[direct]) if scale is None else scale * np.exp(a[direct])
            out[direct] = np.log(np.sum(exp, axis=1))
    return out
