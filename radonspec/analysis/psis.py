"""PSIS-LOO of one fit, computed once while the fit lives (LOO and LOO-PIT share it)."""

from __future__ import annotations

import weakref
from typing import Any

import arviz_stats as azs
import xarray as xr

# keyed by id(tree), each entry dropped when its tree is collected (trees are unhashable)
_PSIS: dict[int, Any] = {}


def psis_loo(tree: xr.DataTree) -> Any:
    """``arviz_stats.loo(tree, pointwise=True)``, kept while ``tree`` lives.

    Pareto smoothing is most of the cost of both LOO and LOO-PIT (a Python loop over
    observations in ArviZ): ``loo_pit`` reuses the smoothed weights computed here.
    """
    found = _PSIS.get(id(tree))
    if found is None:
        found = azs.loo(tree, pointwise=True)
        _PSIS[id(tree)] = found
        weakref.finalize(tree, _PSIS.pop, id(tree), None)
    return found


def computed(tree: xr.DataTree) -> Any:
    """The PSIS-LOO result ``psis_loo`` keeps for ``tree``, or None when not computed yet."""
    return _PSIS.get(id(tree))
