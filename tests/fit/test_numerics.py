"""``logsumexp_rows`` and ``mean_density`` are scipy's ``logsumexp``, in fewer passes.

PSIS-LOO and held-out scoring (a k-fold fold's (draws, rows) array) use them instead of
scipy's, whose array-API layer dominated scoring a fold. Random cases, with the edge
cases scipy handles specially: rows of -inf, +inf, NaN, a repeated maximum, huge values.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import logsumexp

from radonspec.fit.heldout import mean_density
from radonspec.fit.numerics import logsumexp_rows


def cases(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rows, cols = rng.integers(1, 40), rng.integers(1, 300)
    a = rng.normal(scale=rng.choice([1e-3, 1.0, 50.0, 800.0]), size=(rows, cols))
    a += rng.normal(scale=100.0, size=(rows, 1))
    special = rng.random(size=a.shape)
    a[special < 0.02] = -np.inf
    if rows > 3:
        a[0] = -np.inf  # a row of zero densities
        a[1, : cols // 2] = np.inf
        a[2, 0] = np.nan
        a[3] = a[3, 0]  # every term the maximum
    return a


@pytest.mark.parametrize("seed", range(40))
def test_rows_sum_as_scipy_sums_them(seed: int) -> None:
    a = cases(seed)
    with np.errstate(all="ignore"):
        np.testing.assert_allclose(logsumexp_rows(a), logsumexp(a, axis=1), rtol=1e-13)
        scale = 1 / a.shape[1]
        np.testing.assert_allclose(
            logsumexp_rows(a, scale), logsumexp(a, axis=1, b=scale), rtol=1e-13
        )


@pytest.mark.parametrize("seed", range(20))
def test_a_columns_mean_density_is_scipys_logsumexp_over_draws(seed: int) -> None:
    draws = cases(seed).T  # (draws, rows) as a fold's log-likelihood is scored
    with np.errstate(all="ignore"):
        expected = logsumexp(draws, axis=0, b=1 / draws.shape[0])
        np.testing.assert_allclose(mean_density(draws), expected, rtol=1e-13)
        np.testing.assert_allclose(
            mean_density(draws), logsumexp(draws, axis=0) - np.log(draws.shape[0]), rtol=1e-12
        )
