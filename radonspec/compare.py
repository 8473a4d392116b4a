"""Diagnostics, model comparison, parameter tables, random effects and group estimates.

ArviZ computes everything statistical here (R-hat, ESS, E-BFMI, PSIS-LOO,
stacking weights, LOO-PIT, summaries); this module picks the variables,
applies thresholds and turns the numbers into records and sentences. The
group-level summaries live in ``radonspec.groups`` and are re-exported here.
"""

from __future__ import annotations

import warnings
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import arviz_stats as azs
import numpy as np
import pandas as pd
import xarray as xr
from arviz_base import dataset_to_dataframe

from radonspec import psis
from radonspec.errors import SpecError, did_you_mean, one_of
from radonspec.groups import (
    PROB,
    SAMPLE_DIMS,
    GroupEstimates,
    RandomEffectRow,
    group_estimates,
    parameter_names,
    random_effects,
)

__all__ = [
    "Comparison",
    "ComparisonRow",
    "Diagnostics",
    "GroupEstimates",
    "RandomEffectRow",
    "compare_fits",
    "diagnose",
    "group_estimates",
    "loo_pit",
    "parameter_names",
    "parameter_statistics",
    "parameter_table",
    "ppc_rmsd",
    "prediction_rmsd",
    "random_effects",
]

PARAMETER_COLUMNS = [
    "mean", "sd", "eti89_lb", "eti89_ub", "mcse_mean", "ess_bulk", "ess_tail", "r_hat",
]  # fmt: skip
#: Why a predictive check is missing from a fit sampled with ``sampler.predictive: false``.
NO_PREDICTIVE = "not computed: the fit stores no predictive draws (sampler.predictive: false)"
# sample_stats names of the same quantity: PyMC first, then nutpie
DEPTH_STATS = ("tree_depth", "depth")
DEPTH_FLAGS = ("reached_max_treedepth", "maxdepth_reached")


@dataclass(frozen=True)
class Diagnostics:
    """Convergence diagnostics of one fit against thresholds (Vehtari et al. 2021).

    R-hat and ESS cover the parameters only (``parameter_names``), not
    per-observation deterministics such as Bambi's ``mu``. ``ebfmi_min`` is NaN
    when the fit has no ``energy`` statistic.
    """

    r_hat_max: float
    ess_bulk_min: float
    ess_tail_min: float
    divergences: int
    max_treedepth_hits: int
    ebfmi_min: float
    passed: bool
    problems: tuple[str, ...] = ()  # one readable sentence per failed check
    advice: tuple[str, ...] = ()  # what to try: raise target_accept, non-centered, more draws


ADVICE = {
    "more_draws": "run longer chains: raise sampler.draws and sampler.tune (e.g. to 2000 each)",
    "target_accept": "raise sampler.target_accept (e.g. to 0.95 or 0.99) for smaller steps",
    "noncentered": "reparameterise group-specific terms: set noncentered: true",
    "treedepth": "raise sampler.max_treedepth, or center/scale predictors"
    " (center_predictors: true) so the posterior is better conditioned",
    "tune": "lengthen warm-up (sampler.tune) so the sampler adapts to the posterior's scale",
}


def diagnose(
    tree: xr.DataTree,
    *,
    rhat_max: float = 1.01,
    ess_min: float = 400,
    max_divergences: int = 0,
    ebfmi_min: float = 0.3,
    max_treedepth: int | None = 10,
    key: str | None = None,
) -> Diagnostics:
    """Diagnose one fit.

    Parameters
    ----------
    tree
        The fit; reads ``posterior`` and, where present, ``sample_stats``.
    rhat_max
        Largest acceptable rank-normalised split R-hat.
    ess_min
        Smallest acceptable bulk and tail effective sample size.
    max_divergences
        Largest acceptable number of divergent transitions.
    ebfmi_min
        Smallest acceptable E-BFMI of any chain.
    max_treedepth
        A draw whose tree depth reaches this counts as saturated (``tree_depth``
        from PyMC, ``depth`` from nutpie). ``None``: count the sampler's own flag
        (``reached_max_treedepth`` / ``maxdepth_reached``) instead.
    key
        The fit's store key: its statistics are computed once per process and shared
        with ``parameter_table`` (see ``parameter_statistics``).
    """
    params = tree["posterior"].to_dataset()[parameter_names(tree)]
    found = parameter_statistics(tree, key=key)
    rhat = _extreme(found.sel(summary="r_hat", drop=True), max)
    bulk = _extreme(found.sel(summary="ess_bulk", drop=True), min)
    tail = _extreme(found.sel(summary="ess_tail", drop=True), min)
    stats = tree["sample_stats"].to_dataset() if "sample_stats" in tree.children else None
    total = int(np.prod([params.sizes[d] for d in SAMPLE_DIMS if d in params.sizes]))
    divergences = int(stats["diverging"].sum()) if stats is not None and "diverging" in stats else 0
    hits = _treedepth_hits(stats, max_treedepth)
    bfmi = _bfmi(tree) if stats is not None and "energy" in stats else None

    problems: list[str] = []
    advice: list[str] = []
    if rhat[0] > rhat_max:
        problems.append(
            f"R-hat is {rhat[0]:.3f} for '{rhat[1]}', above {rhat_max:g}: the chains disagree."
        )
        advice.append(ADVICE["more_draws"])
    for kind, (value, label) in (("bulk", bulk), ("tail", tail)):
        if value < ess_min:
            problems.append(
                f"{kind} ESS is {value:.0f} for '{label}', below {ess_min:g} (from {total} draws)."
            )
            advice.append(ADVICE["more_draws"])
    if divergences > max_divergences:
        problems.append(
            f"{divergences} of {total} draws ({100 * divergences / total:.1f}%) ended in a"
            f" divergent transition; at most {max_divergences} allowed."
        )
        advice += [ADVICE["target_accept"], ADVICE["noncentered"]]
    if hits:
        where = f" {max_treedepth}" if max_treedepth is not None else ""
        problems.append(f"{hits} of {total} draws hit the maximum tree depth{where}.")
        advice.append(ADVICE["treedepth"])
    low = [] if bfmi is None else [(c, v) for c, v in bfmi.items() if v < ebfmi_min]
    if low:
        chains = ", ".join(f"chain {c} ({v:.2f})" for c, v in low)
        problems.append(f"E-BFMI is below {ebfmi_min:g} in {chains}: momentum resampling is poor.")
        advice += [ADVICE["noncentered"], ADVICE["tune"]]
    return Diagnostics(
        r_hat_max=rhat[0],
        ess_bulk_min=bulk[0],
        ess_tail_min=tail[0],
        divergences=divergences,
        max_treedepth_hits=hits,
        ebfmi_min=min(bfmi.values()) if bfmi else float("nan"),
        passed=not problems,
        problems=tuple(problems),
        advice=tuple(dict.fromkeys(advice)),
    )


def _extreme(values: xr.Dataset, pick: Any) -> tuple[float, str]:
    """Largest or smallest finite value of a per-parameter statistic, with its label."""
    found: list[tuple[float, str]] = []
    for name, array in values.data_vars.items():
        flat = array.stack(__flat__=array.dims) if array.dims else array.expand_dims("__flat__")
        finite = flat.where(np.isfinite(flat), drop=True)
        if finite.size == 0:
            continue
        i = int(np.argmax(finite.values) if pick is max else np.argmin(finite.values))
        coords = [finite[d].values[i] for d in array.dims]
        label = f"{name}[{', '.join(map(str, coords))}]" if coords else str(name)
        found.append((float(finite.values[i]), label))
    if not found:
        return float("nan"), ""
    return pick(found, key=lambda item: item[0])


def _treedepth_hits(stats: xr.Dataset | None, max_treedepth: int | None) -> int:
    if stats is None:
        return 0
    depth = next((stats[n] for n in DEPTH_STATS if n in stats), None)
    if max_treedepth is not None and depth is not None:
        return int((depth >= max_treedepth).sum())
    flag = next((stats[n] for n in DEPTH_FLAGS if n in stats), None)
    return int(flag.sum()) if flag is not None else 0


def _bfmi(tree: xr.DataTree) -> dict[Any, float]:
    values = azs.bfmi(tree)["energy"]
    return {c.item(): float(values.sel(chain=c)) for c in values["chain"]}


@dataclass(frozen=True)
class ComparisonRow:
    """One model's line in the comparison table."""

    model: str
    rank: int
    elpd: float
    se: float
    p: float
    elpd_diff: float
    dse: float
    weight: float
    pareto_k_bad: int  # observations with k > pareto_k_threshold
    rmsd: float | None = None
    # ArviZ's sample-size dependent good-k: min(1 - 1/log10(S), 0.7) for S draws
    pareto_k_threshold: float = 0.7


@dataclass(frozen=True)
class Comparison:
    """The comparison of several fits by one criterion."""

    criterion: str  # "loo" or "kfold"
    rows: tuple[ComparisonRow, ...]
    warnings: tuple[str, ...] = ()


CRITERIA = ("loo", "kfold")


def compare_fits(
    trees: Mapping[str, xr.DataTree],
    *,
    criterion: str = "loo",
    elpd: Mapping[str, Any] | None = None,
) -> Comparison:
    """PSIS-LOO comparison of fits (elpd, se, p_loo, elpd_diff, dse, stacking weights).

    Rows come best first. ``pareto_k_bad`` counts observations whose Pareto k
    exceeds ArviZ's good-k threshold ``min(1 - 1/log10(S), 0.7)`` for ``S``
    posterior draws (0.62 for 400 draws, 0.7 from 2200 on); each model with such
    observations gets a warning. ``rmsd`` is ``ppc_rmsd`` where the fit has a
    posterior predictive group.

    Parameters
    ----------
    trees
        Fits by model name.
    criterion
        ``"loo"`` computes PSIS-LOO here; ``"kfold"`` needs ``elpd``.
    elpd
        Precomputed ELPD results by model name (e.g. from ``arviz_stats.loo_kfold``),
        used instead of PSIS-LOO. Required for ``"kfold"``, which refits the models.
    """
    if criterion not in CRITERIA:
        raise ValueError(f"unknown criterion '{criterion}'; expected {one_of(CRITERIA)}")
    if criterion == "kfold" and elpd is None:
        raise ValueError(
            "criterion 'kfold' needs refits: compute each model's ELPD with"
            " arviz_stats.loo_kfold and pass them as elpd={name: result}"
        )
    if not trees and not elpd:
        raise ValueError("compare_fits needs at least one fit")
    notes: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if elpd is not None:
            results = dict(elpd)
        else:
            results = {name: psis_loo(tree) for name, tree in trees.items()}
        table = azs.compare(results, method="stacking", round_to="none")
    # ArviZ's advice passes through, except the Pareto-k warning, which the per-model
    # sentences below replace; numpy's floating-point chatter is dropped
    notes += [
        str(w.message)
        for w in caught
        if issubclass(w.category, UserWarning) and "Pareto distribution" not in str(w.message)
    ]
    rows = []
    for name, line in table.iterrows():
        result = results[str(name)]
        bad, threshold = _bad_k(result)
        if bad:
            notes.append(
                f"{bad} observation{'s' if bad != 1 else ''} with Pareto k > {threshold:.2f} in"
                f" '{name}': PSIS-LOO is unreliable there; use kfold"
                " (compare: {criterion: kfold})."
            )
        tree = trees.get(str(name))
        has_pp = tree is not None and "posterior_predictive" in tree.children
        rows.append(
            ComparisonRow(
                model=str(name),
                rank=int(line["rank"]),
                elpd=float(line["elpd"]),
                se=float(line["se"]),
                p=float(line["p"]),
                elpd_diff=float(line["elpd_diff"]),
                dse=float(line["dse"]),
                weight=float(line["weight"]),
                pareto_k_bad=bad,
                rmsd=ppc_rmsd(tree) if has_pp and tree is not None else None,
                pareto_k_threshold=threshold,
            )
        )
    return Comparison(criterion=criterion, rows=tuple(rows), warnings=tuple(dict.fromkeys(notes)))


def _bad_k(result: Any) -> tuple[int, float]:
    threshold = float(getattr(result, "good_k", None) or 0.7)
    pareto_k = getattr(result, "pareto_k", None)
    if pareto_k is None:
        return 0, threshold
    return int((np.asarray(pareto_k) > threshold).sum()), threshold


def _observed_name(tree: xr.DataTree, var_name: str | None, group: str) -> str:
    """Name the observed variable: the only one, or ``var_name`` after checking it."""
    if group == "posterior_predictive" and group not in tree.children:
        raise ValueError(NO_PREDICTIVE)
    if group not in tree.children or "observed_data" not in tree.children:
        raise ValueError(f"the fit has no '{group}' or 'observed_data' group")
    names = [str(n) for n in tree["observed_data"].data_vars if n in tree[group].data_vars]
    if var_name is not None:
        if var_name not in names:
            raise ValueError(
                f"'{var_name}' is not an observed variable of the fit"
                f"{did_you_mean(var_name, names)}; expected {one_of(names)}"
            )
        return var_name
    if len(names) != 1:
        raise ValueError(
            f"the fit has {len(names)} observed variables; pick one of {one_of(names)}"
        )
    return names[0]


def ppc_rmsd(tree: xr.DataTree, *, var_name: str | None = None) -> float:
    """Posterior predictive RMSD: root mean squared difference of replicated and observed data.

    For each draw, ``sqrt(mean((y_rep - y)**2))`` over the observations; returns
    the posterior mean of that. It includes the observation noise; see
    ``prediction_rmsd`` for the error of the posterior mean prediction.
    """
    name = _observed_name(tree, var_name, "posterior_predictive")
    y = tree["observed_data"][name]
    y_rep = tree["posterior_predictive"][name]
    per_draw = np.sqrt(((y_rep - y) ** 2).mean([d for d in y.dims]))
    return float(per_draw.mean())


def prediction_rmsd(tree: xr.DataTree, *, var_name: str | None = None) -> float:
    """RMSD of the posterior predictive mean: ``sqrt(mean((E[y_rep] - y)**2))``.

    The error of the model's point prediction; smaller than ``ppc_rmsd``, which
    also counts the spread of the replicated data.
    """
    name = _observed_name(tree, var_name, "posterior_predictive")
    y = tree["observed_data"][name]
    expected = tree["posterior_predictive"][name].mean(SAMPLE_DIMS)
    return float(np.sqrt(((expected - y) ** 2).mean()))


# keyed by id(tree), each entry dropped when its tree is collected (trees are unhashable)
_PSIS: dict[int, Any] = {}


def psis_loo(tree: xr.DataTree) -> Any:
    """``arviz_stats.loo(tree, pointwise=True)``, kept while ``tree`` lives.

    Computed by ``radonspec.psis`` (the same numbers, observations smoothed together
    rather than in ArviZ's Python loop). Pareto smoothing is most of the cost of both
    LOO and LOO-PIT: ``loo_pit`` reuses the smoothed weights computed here.
    """
    found = _PSIS.get(id(tree))
    if found is None:
        found = psis.psis_loo(tree, pointwise=True)
        _PSIS[id(tree)] = found
        weakref.finalize(tree, _PSIS.pop, id(tree), None)
    return found


def loo_pit(tree: xr.DataTree, *, var_name: str | None = None) -> np.ndarray:
    """LOO-PIT values of the observed variable, one per observation (flattened).

    Equal to ``arviz_stats.loo_pit`` (computed by ``radonspec.psis``); uniform on [0, 1]
    for a calibrated model. When ``psis_loo`` has smoothed this tree's weights they are
    reused (the same values).
    """
    name = _observed_name(tree, var_name, "posterior_predictive")
    smoothed = _PSIS.get(id(tree))
    log_weights = getattr(smoothed, "log_weights", None) if smoothed is not None else None
    values = psis.loo_pit(tree, name, log_weights=log_weights)
    return np.asarray(values).ravel()


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
