"""Prior sensitivity by power-scaling (Kallioinen, Paananen, Bürkner & Vehtari 2023).

Raising the prior (or the likelihood) to a power near 1 and measuring how far each
marginal posterior moves (by importance weights on the existing draws, no refit) tells
whether a posterior depends on its prior, and whether prior and data pull in different
directions. ``arviz_stats.psense`` does the measuring; it needs the log prior
density of every draw, which a fit does not store. It is computed here from the model:
the log density of each power-scaled prior at the posterior draws, for the priors of
the population-level effects, the auxiliary parameters and the group-level standard
deviations. The group-specific effects' own distribution (``1|county ~ Normal(0,
sigma)``, or the standard normal offsets of a non-centered model) is part of the
model's structure, not a prior anyone chose, and is not scaled (as brms' ``lprior``).

The sensitivities are Monte Carlo estimates: with few draws, or many parameters (whose
log prior and likelihood vary much between draws), noise alone can reach the threshold.
Each parameter's noise level is measured on its own draws shifted in time (``_noise``),
and a sensitivity counts only well above it, so a parameter the data do not inform is not
called a conflict because the likelihood's weights happen to move it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from radonspec.analysis.groups import SAMPLE_DIMS, parameter_names

#: Sensitivity above this is flagged (Kallioinen et al. 2023, arviz-stats' default).
THRESHOLD = 0.05
CONFLICT = "prior-data conflict"
PRIOR_DOMINATES = "prior dominates"  # strong prior / weak likelihood


@dataclass(frozen=True)
class Sensitivity:
    """One model's power-scaling sensitivity per parameter.

    ``table`` has one row per parameter label (``floor``, ``county[AITKIN]``) with
    columns ``prior`` and ``likelihood`` (the sensitivities), ``prior_noise`` and
    ``likelihood_noise`` (what Monte Carlo noise alone gives the parameter; measured only
    where the prior sensitivity reaches the threshold, NaN elsewhere) and
    ``diagnosis`` (``CONFLICT``, ``PRIOR_DOMINATES`` or ``""``). ``scaled`` names the
    priors that were power-scaled; ``seconds`` is what computing it took.
    """

    table: pd.DataFrame
    scaled: tuple[str, ...]
    threshold: float = THRESHOLD
    seconds: float = 0.0

    @property
    def flagged(self) -> pd.DataFrame:
        """The rows with a diagnosis."""
        return self.table[self.table["diagnosis"] != ""]


def prior_sensitivity(
    model: Any, tree: xr.DataTree, *, threshold: float = THRESHOLD
) -> Sensitivity:
    """Power-scaling prior and likelihood sensitivity of each parameter of a fit.

    Parameters
    ----------
    model
        The fit's ``bambi.Model`` (built here if it is not).
    tree
        The fit, with ``posterior`` and ``log_likelihood``.
    threshold
        Sensitivity above which a parameter is flagged.
    """
    import arviz_stats as azs

    started = time.perf_counter()
    if "log_likelihood" not in tree.children:
        raise ValueError("the fit stores no log-likelihood, which power-scaling needs")
    scaled = scaled_priors(model, tree)
    if not scaled:
        raise ValueError("the model has no prior to scale")
    with_prior = xr.DataTree.from_dict(
        {
            "posterior": tree["posterior"].to_dataset()[parameter_names(tree)],
            "log_likelihood": tree["log_likelihood"].to_dataset(),
            "log_prior": log_prior(model, tree, scaled),
        }
    )
    names = [v for v in parameter_names(tree) if not _group_specific(v)]
    parts = {c: azs.psense(with_prior, var_names=names, group=c) for c in ("prior", "likelihood")}
    # only a parameter whose prior sensitivity reaches the threshold can be flagged, so
    # only those need their noise measured (none, for a model with weak priors)
    sensitive = [v for v in names if float(parts["prior"][v].max()) >= threshold]
    for component in ("prior", "likelihood"):
        noise = xr.full_like(parts[component], np.nan)
        if sensitive:
            noise.update(_noise(with_prior, sensitive, component))
        parts[f"{component}_noise"] = noise
    joined = xr.concat(list(parts.values()), dim="component").assign_coords(component=list(parts))
    from arviz_base import dataset_to_dataframe

    found = dataset_to_dataframe(joined, sample_dims=["component"]).T
    table = pd.DataFrame(
        {column: found[column].to_numpy(dtype=float) for column in parts},
        index=[str(label) for label in found.index],
    )
    table["diagnosis"] = [_diagnosis(row, threshold) for _, row in table.iterrows()]
    return Sensitivity(table, tuple(scaled), threshold, time.perf_counter() - started)


#: Shifts, as shares of a chain, of the placebo draws that measure Monte Carlo noise: with
#: 19 of them, a sensitivity that is noise alone exceeds their largest one time in 20.
NOISE_SHIFTS = tuple(k / 20 for k in range(1, 20))
#: A sensitivity counts when it is this many times the largest placebo value: the shifted
#: copies of one chain are correlated, so noise exceeds their largest value more often than
#: one time in 20 (on the seed's unpooled model 3 of the 25 slopes the likelihood cannot
#: touch did, at 8000 draws; none exceeded 1.5 times it).
NOISE_MARGIN = 1.5


def _noise(tree: xr.DataTree, names: list[str], component: str) -> xr.Dataset:
    """The sensitivity Monte Carlo noise alone gives each parameter.

    The same computation on the parameter's own draws shifted in time within each chain
    (by 5%, 10%, ..., 95% of its length): a shift keeps the draws' distribution and
    autocorrelation but breaks their link with the weights, so what sensitivity remains
    is noise. The largest of the 19 is kept: noise alone exceeds it one time in 20. With
    few draws, or a log prior or likelihood that varies much between draws (many
    parameters), this noise reaches the threshold for parameters the weights do not
    touch at all.
    """
    import arviz_stats as azs

    posterior = tree["posterior"].to_dataset()
    draws = posterior.sizes["draw"]
    found = []
    for share in NOISE_SHIFTS:
        shifted = posterior.roll(draw=max(1, int(share * draws)), roll_coords=False)
        placebo = xr.DataTree.from_dict(
            {"posterior": shifted}
            | {k: tree[k].to_dataset() for k in tree.children if k != "posterior"}  # fmt: skip
        )
        found.append(azs.psense(placebo, var_names=names, group=component))
    return xr.concat(found, dim="shift").max("shift")


def _diagnosis(row: pd.Series, threshold: float) -> str:
    """arviz-stats' reading of the two sensitivities, counting only what exceeds the noise.

    A sensitivity counts when it reaches ``threshold`` and ``NOISE_MARGIN`` times what
    Monte Carlo noise alone gives the parameter: both counting is a prior-data conflict,
    the prior alone a prior that dominates a weak likelihood.
    """
    # a comparison with a noise that was not measured (NaN) is false: not flagged
    prior = row["prior"] >= threshold and row["prior"] > NOISE_MARGIN * row["prior_noise"]
    likelihood = (
        row["likelihood"] >= threshold
        and row["likelihood"] > NOISE_MARGIN * row["likelihood_noise"]
    )
    if prior and likelihood:
        return CONFLICT
    if prior:
        return PRIOR_DOMINATES
    return ""


def _group_specific(name: str) -> bool:
    """Bambi's per-group effects (``1|county``) and non-centered offsets, not their SDs."""
    return "|" in name and not name.endswith("_sigma")


def scaled_priors(model: Any, tree: xr.DataTree) -> list[str]:
    """The free variables whose priors are power-scaled (see the module docstring)."""
    if not getattr(model, "built", False):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.build()
    posterior = tree["posterior"]
    return [
        rv.name
        for rv in model.backend.model.free_RVs
        if rv.name in posterior.data_vars and not _group_specific(rv.name)
    ]


def log_prior(model: Any, tree: xr.DataTree, names: list[str]) -> xr.Dataset:
    """The log prior density of ``names`` at every posterior draw, one variable each.

    The densities are those of the constrained values the posterior stores (PyMC's
    model without value transforms), evaluated for all draws in one vectorised call.
    """
    import pytensor
    import pytensor.tensor as pt
    from pymc.model.transform.conditioning import remove_value_transforms
    from pytensor.graph.replace import vectorize_graph

    plain = remove_value_transforms(model.backend.model)
    variables = [plain.named_vars[name] for name in names]
    values = [plain.rvs_to_values[v] for v in variables]
    densities = plain.logp(vars=variables, sum=False)
    batched = [
        pt.tensor(name=f"draws{i}", dtype=v.dtype, shape=(None, *v.type.shape))
        for i, v in enumerate(values)
    ]
    per_draw = vectorize_graph(densities, replace=dict(zip(values, batched, strict=True)))
    summed = [d.reshape((d.shape[0], -1)).sum(axis=1) if d.ndim > 1 else d for d in per_draw]
    function = pytensor.function(batched, summed, on_unused_input="ignore")
    posterior = tree["posterior"].to_dataset()
    chains, draws = (posterior.sizes[d] for d in SAMPLE_DIMS)
    inputs = []
    for name, value in zip(names, values, strict=True):
        array = posterior[name].transpose(*SAMPLE_DIMS, ...).values
        inputs.append(np.asarray(array.reshape(chains * draws, *array.shape[2:]), value.dtype))
    found = function(*inputs)
    return xr.Dataset(
        {
            name: (SAMPLE_DIMS, np.asarray(result, dtype=float).reshape(chains, draws))
            for name, result in zip(names, found, strict=True)
        },
        coords={d: posterior[d].values for d in SAMPLE_DIMS},
    )


__all__ = [
    "CONFLICT",
    "PRIOR_DOMINATES",
    "THRESHOLD",
    "Sensitivity",
    "log_prior",
    "prior_sensitivity",
    "scaled_priors",
]
