"""Convergence diagnostics of one fit against thresholds, with advice.

ArviZ computes R-hat, ESS and E-BFMI; this module picks the variables, applies the
thresholds (keyword arguments, never hidden constants) and words the problems.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import arviz_stats as azs
import numpy as np
import xarray as xr

from radonspec.analysis.groups import SAMPLE_DIMS, parameter_names
from radonspec.analysis.parameters import parameter_statistics

#: The thresholds of the diagnostics, unless the caller gives others.
DIAGNOSE_DEFAULTS: dict[str, float] = {
    "rhat_max": 1.01,
    "ess_min": 400.0,
    "max_divergences": 0,
    "ebfmi_min": 0.3,
}
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
    "more_draws": "run longer chains: raise sampler.draws and sampler.tune (e.g. to {more} each)",
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
    centered: bool | None = None,
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
    centered
        Whether the model's group-specific effects are centered (``noncentered: false``);
        ``noncentered: true`` is advised only then, and only for a fit with group-specific
        terms. ``None``: not known, advised for any fit with them.
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
    grouped = any("|" in str(name) for name in params.data_vars)
    # twice what this fit kept per chain, at least 2000: advice to raise 2000 draws to 2000
    # would say nothing
    more = max(2000, 2 * int(params.sizes.get("draw", 0)))
    longer = ADVICE["more_draws"].format(more=more)
    noncenter = [ADVICE["noncentered"]] if grouped and centered is not False else []
    if rhat[0] > rhat_max:
        problems.append(
            f"R-hat is {rhat[0]:.3f} for '{rhat[1]}', above {rhat_max:g}: the chains disagree."
        )
        advice.append(longer)
    for kind, (value, label) in (("bulk", bulk), ("tail", tail)):
        if value < ess_min:
            problems.append(
                f"{kind} ESS is {value:.0f} for '{label}', below {ess_min:g} (from {total} draws)."
            )
            advice.append(longer)
    if divergences > max_divergences:
        problems.append(
            f"{divergences} of {total} draws ({100 * divergences / total:.1f}%) ended in a"
            f" divergent transition; at most {max_divergences} allowed."
        )
        advice += [ADVICE["target_accept"], *noncenter]
    if hits:
        where = f" {max_treedepth}" if max_treedepth is not None else ""
        problems.append(f"{hits} of {total} draws hit the maximum tree depth{where}.")
        advice.append(ADVICE["treedepth"])
    low = [] if bfmi is None else [(c, v) for c, v in bfmi.items() if v < ebfmi_min]
    if low:
        chains = ", ".join(f"chain {c} ({v:.2f})" for c, v in low)
        problems.append(f"E-BFMI is below {ebfmi_min:g} in {chains}: momentum resampling is poor.")
        advice += [*noncenter, ADVICE["tune"]]
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


def diagnostics_summary(fit: Any) -> dict[str, Any]:
    """What a fit's ``meta.json`` (and the store's index) records of its diagnostics."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # small fits make ArviZ warn; the numbers say it
        spec = (fit.meta or {}).get("spec", {})
        depth = spec.get("sampler", {}).get("max_treedepth", 10) if spec else 10
        centered = not spec.get("noncentered", True) if spec else None
        found = diagnose(fit.tree, key=fit.key, max_treedepth=depth, centered=centered)
    return {
        "diagnostics": {
            "r_hat_max": found.r_hat_max,
            "ess_bulk_min": found.ess_bulk_min,
            "ess_tail_min": found.ess_tail_min,
            "divergences": found.divergences,
            "passed": found.passed,
            "problems": list(found.problems),
        }
    }
