"""The parameter tables: population-level effects, group-level SDs and correlations, auxiliary.

Per-group values (Bambi's ``1|g[level]``, or the coefficients of ``0 + g`` when
``g`` is the report's grouping factor) are left to the group-level views and to
summary.json; a table of 85 near-identical rows helps no reader.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from radonspec.correlated import PREFIX as CORRELATION_PREFIX
from radonspec.groups import SAMPLE_DIMS, summarise_draws
from radonspec.report.content import ParamRow, ParamSection, Residual, attempt
from radonspec.spec.schema import Study

LARGE = 20  # a vector parameter with more values than this is left to summary.json
# Bambi family parameters that are not regression terms; used only without a built model
AUXILIARY = {"sigma", "alpha", "nu", "kappa", "phi", "psi", "lam", "beta", "theta", "tau"}


def parameter_sections(
    tree: xr.DataTree,
    table: pd.DataFrame,
    model: Any,
    study: Study,
    data: pd.DataFrame,
    limits: Mapping[str, Any],
    reml: Mapping[str, tuple[float, float]],
) -> tuple[list[ParamSection], list[str]]:
    """Split the parameters into the report's three kinds; list what is left out.

    ``reml`` holds statsmodels estimates and SEs by label, shown beside the posterior.
    """
    posterior = tree["posterior"]
    group = study.report.group
    levels = {str(v) for v in data[group].unique()} if group in data.columns else set()
    population = _population_names(model)
    kinds: dict[str, list[ParamRow]] = {
        "Population-level effects": [],
        "Group-level standard deviations": [],
        "Group-level correlations": [],
        "Auxiliary parameters": [],
    }
    omitted: list[str] = []
    for var in dict.fromkeys(str(label).split("[")[0] for label in table.index):
        array = posterior[var]
        extra = [str(d) for d in array.dims if d not in SAMPLE_DIMS]
        size = int(np.prod([array.sizes[d] for d in extra])) if extra else 1
        if "|" in var and not var.endswith("_sigma") and not var.startswith(CORRELATION_PREFIX):
            factor = var.split("|", 1)[1]
            omitted.append(f"'{var}': {size} group-specific values, one per level of '{factor}'")
            continue
        if var.startswith(CORRELATION_PREFIX):
            kind = "Group-level correlations"
        elif "|" in var:
            kind = "Group-level standard deviations"
        elif (population is not None and var not in population) or (
            population is None and var in AUXILIARY
        ):
            kind = "Auxiliary parameters"
        else:
            kind = "Population-level effects"
        per_group = any(
            {str(c) for c in np.asarray(array[d])} == levels
            for d in extra
            if levels and d in array.coords
        )
        if size > LARGE or (per_group and group is not None):
            why = f"one per level of '{group}'" if per_group else "a long vector"
            omitted.append(f"'{var}': {size} values, {why}")
            continue
        labels = [str(label) for label in table.index if str(label).split("[")[0] == var]
        kinds[kind] += [_row(label, table.loc[label], limits, reml.get(label)) for label in labels]
    return [ParamSection(title, rows) for title, rows in kinds.items() if rows], omitted


def _population_names(model: Any) -> set[str] | None:
    """Names of the common terms of the model's main parameter (``None`` without a model)."""
    try:
        parent = model.family.likelihood.parent
        component = model.parameters[parent]
        return {"Intercept", *map(str, component.common_terms)}
    except (AttributeError, KeyError, TypeError):
        return None


def _row(
    label: str, values: pd.Series, limits: Mapping[str, Any], reml: tuple[float, float] | None
) -> ParamRow:
    stats = {str(k): float(v) for k, v in values.items()}
    flags = set()
    if stats.get("r_hat", 0.0) > limits["rhat_max"]:
        flags.add("r_hat")
    for column in ("ess_bulk", "ess_tail"):
        if stats.get(column, np.inf) < limits["ess_min"]:
            flags.add(column)
    return ParamRow(label, stats, frozenset(flags), reml)


def _correlated_factors(spec: Any) -> tuple[str, ...]:
    """The factors whose effects a model correlates (its REML fit then has a full covariance)."""
    from radonspec.correlated import requested_factors
    from radonspec.spec.formula import check_formula

    return requested_factors(spec, check_formula(spec.formulas[0]))


def residual(tree: xr.DataTree, family: str, reml: tuple[float, float] | None) -> Residual | None:
    """The residual SD row of the random-effects table, for Gaussian models with a scalar sigma."""
    sigma = tree["posterior"].to_dataset().get("sigma")
    if family != "gaussian" or sigma is None or set(sigma.dims) != set(SAMPLE_DIMS):
        return None
    stats = summarise_draws(sigma)
    return Residual(
        float(stats["mean"]),
        float(stats["lb"]),
        float(stats["ub"]),
        reml[0] if reml is not None else None,
    )


def reml_estimates(study: Study, name: str, data: pd.DataFrame) -> dict[str, tuple[float, float]]:
    """The statsmodels REML estimates and SEs by Bambi label, where the model allows one."""
    from radonspec.frequentist import mixedlm_table

    spec = study.models[name]
    if spec.family != "gaussian" or len(spec.formulas) != 1 or "|" not in spec.formula:
        return {}
    joint = bool(_correlated_factors(spec))
    table = attempt([], "REML", mixedlm_table, spec.formulas[0], data, correlated=joint)
    if table is None:
        return {}
    return {str(t): (float(r["estimate"]), float(r["se"])) for t, r in table.iterrows()}
