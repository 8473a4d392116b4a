"""Prior sensitivity by power-scaling (Kallioinen, Paananen, Bürkner & Vehtari 2023).

Raising the prior (or the likelihood) to a power near 1 and measuring how far each
marginal posterior moves (by importance weights on the existing draws, no refit) tells
whether a posterior depends on its prior, and whether prior and data pull in different
directions. ``arviz_stats.psense_summary`` does the measuring; it needs the log prior
density of every draw, which a fit does not store. It is computed here from the model:
the log density of each power-scaled prior at the posterior draws, for the priors of
the population-level effects, the auxiliary parameters and the group-level standard
deviations. The group-specific effects' own distribution (``1|county ~ Normal(0,
sigma)``, or the standard normal offsets of a non-centered model) is part of the
model's structure, not a prior anyone chose, and is not scaled (as brms' ``lprior``).
"""

from __future__ import annotations

import logging
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
    columns ``prior`` and ``likelihood`` (the sensitivities) and ``diagnosis``
    (``CONFLICT``, ``PRIOR_DOMINATES`` or ``""``). ``scaled`` names the priors that were
    power-scaled; ``seconds`` is what computing it took.
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
    # arviz-stats logs a pointer to its documentation when it finds something; the
    # report says what the findings mean instead
    quiet = logging.getLogger("arviz_stats.psense")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        found = azs.psense_summary(with_prior, var_names=names, threshold=threshold, round_to=6)
    finally:
        quiet.setLevel(level)
    table = pd.DataFrame(
        {
            "prior": found["prior"].to_numpy(dtype=float),
            "likelihood": found["likelihood"].to_numpy(dtype=float),
            "diagnosis": [
                _diagnosis(p, lk, threshold)
                for p, lk in zip(found["prior"], found["likelihood"], strict=True)
            ],
        },  # fmt: skip
        index=[str(label) for label in found.index],
    )
    return Sensitivity(table, tuple(scaled), threshold, time.perf_counter() - started)


def _diagnosis(prior: float, likelihood: float, threshold: float) -> str:
    """arviz-stats' reading of the two sensitivities, as a short code."""
    if prior >= threshold and likelihood >= threshold:
        return CONFLICT
    if prior > threshold > likelihood:
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
