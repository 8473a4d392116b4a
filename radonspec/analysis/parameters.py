"""The parameter table of one fit: ArviZ's summary statistics, computed once per fit."""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any

import arviz_stats as azs
import pandas as pd
import xarray as xr
from arviz_base import dataset_to_dataframe

from radonspec.analysis.groups import PROB, SAMPLE_DIMS, parameter_names
from radonspec.errors import SpecError, did_you_mean, one_of

PARAMETER_COLUMNS = [
    "mean", "sd", "eti89_lb", "eti89_ub", "mcse_mean", "ess_bulk", "ess_tail", "r_hat",
]  # fmt: skip
#: Why a predictive check is missing from a fit sampled with ``sampler.predictive: false``.


def parameter_table(
    tree: xr.DataTree, var_names: Sequence[str] | None = None, *, key: str | None = None
) -> pd.DataFrame:
    """ArviZ summary (mean, sd, eti89 bounds, mcse_mean, ess_bulk, ess_tail, r_hat).

    The index holds ArviZ's labels (``floor``, ``1|county[AITKIN]``). By default
    every parameter (``parameter_names``) is listed, from ``parameter_statistics``
    (``key``: see there); ``var_names`` selects posterior variables by name,
    per-observation ones included if named.

    Raises
    ------
    SpecError
        When a name in ``var_names`` is not a posterior variable.
    """
    available = [str(n) for n in tree["posterior"].data_vars]
    names = list(var_names) if var_names is not None else parameter_names(tree)
    for name in names:
        if name not in available:
            raise SpecError(
                f"unknown parameter '{name}'{did_you_mean(name, available)};"
                f" the fit's parameters are {one_of(parameter_names(tree))}"
            )
    if not names:
        return pd.DataFrame(columns=PARAMETER_COLUMNS, dtype=float)
    if var_names is None:
        table = dataset_to_dataframe(parameter_statistics(tree, key=key), sample_dims=["summary"])
        return pd.DataFrame(table.T)[PARAMETER_COLUMNS].astype(float)
    table = azs.summary(
        tree, var_names=names, kind="all", ci_kind="eti", ci_prob=PROB, round_to="none"
    )
    return pd.DataFrame(table)[PARAMETER_COLUMNS].astype(float)


#: Per-parameter statistics by fit: (store key or id of the posterior) -> (stamp, values).
_STATISTICS: dict[str | int, tuple[tuple[Any, ...], xr.Dataset]] = {}
#: Fits whose statistics are kept by key (a report of a larger study recomputes the rest).
_STATISTICS_KEPT = 64


def parameter_statistics(tree: xr.DataTree, *, key: str | None = None) -> xr.Dataset:
    """Every parameter's ``PARAMETER_COLUMNS`` along a ``summary`` dimension.

    Computed as ArviZ's ``summary`` does, without its ``mcse_sd`` (nothing here shows it).

    R-hat and the ESS are most of the cost of diagnostics and of the parameter table
    (10^4 group parameters x 4000 draws: 36 s for diagnostics and 25 s for the table,
    each computing them again). They are computed once per fit: per store ``key``
    within this process, or, without a key, while the posterior object lives.
    """
    posterior = tree["posterior"]
    names = parameter_names(tree)
    stamp = (
        tuple(names),
        tuple(posterior.sizes.get(d) for d in SAMPLE_DIMS),
        posterior.attrs.get("created_at"),
    )
    slot: str | int = key if key is not None else id(posterior)
    cached = _STATISTICS.get(slot)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    params = posterior.to_dataset()[names]
    dims = list(SAMPLE_DIMS)
    stats = params.azstats
    parts = [
        stats.mean(dim=dims).expand_dims(summary=["mean"]),
        stats.std(dim=dims).expand_dims(summary=["sd"]),
        stats.eti(prob=PROB, dim=dims)
        .rename({"ci_bound": "summary"})
        .assign_coords(summary=["eti89_lb", "eti89_ub"]),
        stats.mcse(sample_dims=dims, method="mean").expand_dims(summary=["mcse_mean"]),
        stats.ess(sample_dims=dims, method="bulk").expand_dims(summary=["ess_bulk"]),
        stats.ess(sample_dims=dims, method="tail").expand_dims(summary=["ess_tail"]),
        stats.rhat(sample_dims=dims).expand_dims(summary=["r_hat"]),
    ]
    found = xr.concat(parts, dim="summary")
    if key is None:
        weakref.finalize(posterior, _STATISTICS.pop, slot, None)
    else:
        keyed = [k for k in _STATISTICS if isinstance(k, str)]
        for old in keyed[: max(0, len(keyed) + 1 - _STATISTICS_KEPT)]:
            del _STATISTICS[old]
    _STATISTICS[slot] = (stamp, found)
    return found
