"""summary.json: the machine-readable result, in the layout DESIGN.md fixes.

Plain JSON only: NumPy scalars become Python numbers and NaN or infinite
values become ``null``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from radonspec.report.content import Content, ModelView

PARAMETER_FIELDS = (
    "mean", "sd", "eti89_lb", "eti89_ub", "mcse_mean", "ess_bulk", "ess_tail", "r_hat",
)  # fmt: skip
COMPARISON_FIELDS = (
    "model", "rank", "elpd", "se", "p", "elpd_diff", "dse", "weight", "pareto_k_bad", "rmsd",
)  # fmt: skip


def summary(content: Content) -> dict[str, Any]:
    """The summary document of a report."""
    comparison: dict[str, Any] | None = None
    if content.comparison is not None:
        comparison = {
            "criterion": content.comparison.criterion,
            "table": [
                {name: getattr(row, name) for name in COMPARISON_FIELDS}
                | {"bayes_r2": _r2(content.by_name.get(row.model))}
                for row in sorted(content.comparison.rows, key=lambda r: r.rank)
            ],
            "verdict": content.verdict,
            "notes": list(content.comparison_notes),
        }
    if comparison is not None and content.comparison_groups:
        comparison["groups"] = [
            {
                "models": list(group.models),
                "response": group.response,
                "rows": group.rows,
                "main": group.main,
                "table": [
                    {name: getattr(row, name) for name in COMPARISON_FIELDS}
                    for row in sorted(group.comparison.rows, key=lambda r: r.rank)
                ]
                if group.comparison is not None
                else [],
                "verdict": group.verdict,
                "notes": list(group.notes),
            }
            for group in content.comparison_groups
        ]
    if comparison is not None:
        comparison["not_ranked"] = list(content.unranked)
    if comparison is not None and content.also_loo is not None:
        comparison["psis_loo"] = {
            "table": [
                {name: getattr(row, name) for name in COMPARISON_FIELDS if name != "rmsd"}
                for row in sorted(content.also_loo.rows, key=lambda r: r.rank)
            ],
            "agreement": content.also_loo_note,
        }
    data = content.data
    document = {
        "study": content.name,
        "spec_version": 1,
        "created": content.created,
        "title": content.title,
        "spec_hash": content.spec_hash,
        "versions": dict(content.versions),
        "data": {
            "source": data.source,
            "rows": data.rows,
            "dropped_rows": data.dropped,
            "columns": list(data.columns),
            "group": data.group,
            "groups": data.n_groups,
        },
        "models": {
            view.name: _model(view, content.reference) | _after_fit(view, content)
            for view in content.models
        },
        "comparison": comparison,
        "reference": content.reference,
        "sweep": _sweep(content),
        "prior_predictive": _prior_predictive(content),
    }
    if content.prior_only:
        document["prior_only"] = True
    return plain(document)


def _sweep(content: Content) -> dict[str, Any] | None:
    view = content.sweep
    if view is None:
        return {"error": content.sweep_notes[0], "table": []} if content.sweep_notes else None
    return {
        "base": view.base,
        "axes": list(view.axes),
        "criterion": view.criterion,
        "table": view.table.to_dict(orient="records"),
        "notes": [*view.notes, *content.sweep_notes],
    }


def _prior_predictive(content: Content) -> dict[str, Any] | None:
    view = content.prior_predictive
    if view is None:
        notes = content.prior_predictive_notes
        return {"error": notes[0], "table": []} if notes else None
    return {
        "draws": view.draws,
        "table": view.table.to_dict(orient="records"),
        "notes": [*view.section.notes, *content.prior_predictive_notes],
    }


def _model(view: ModelView, reference: str | None) -> dict[str, Any]:
    diagnostics = None
    if view.diagnostics is not None:
        d = view.diagnostics
        diagnostics = {
            "r_hat_max": d.r_hat_max,
            "ess_bulk_min": d.ess_bulk_min,
            "ess_tail_min": d.ess_tail_min,
            "divergences": d.divergences,
            "max_treedepth_hits": d.max_treedepth_hits,
            "ebfmi_min": d.ebfmi_min,
            "passed": d.passed,
            "problems": list(d.problems),
            "advice": list(d.advice),
        }
    parameters: dict[str, dict[str, Any]] = {}
    if view.table is not None:
        for label, row in view.table.iterrows():
            parameters[str(label)] = {f: row.get(f) for f in PARAMETER_FIELDS if f in row}
    return {
        "status": view.status,
        "error": view.error if not view.ok else None,
        "key": view.key,
        "formula": view.formula,
        "family": view.family,
        "levels": view.levels,
        "rows": view.rows,
        "dropped_rows": view.dropped_rows,
        "fit_path": view.fit_path,
        "diagnostics": diagnostics,
        "seconds": dict(view.seconds),
        "cached": view.cached,
        "parameters": parameters,
        # grouping factor -> "correlated" or "independent" (empty without group terms)
        "group_effects": dict(view.structure),
        # per grouping factor and level: the linear predictor averaged over the level's rows
        "group_estimates": view.group_estimates,
        # from the reference model; None for the reference itself (or when there is none)
        "differences": None if reference is None or view.is_reference else view.differences,
    }


def _r2(view: ModelView | None) -> dict[str, Any] | None:
    """Bayesian R² of a model: conditional and (multilevel) marginal, mean and 89% ETI."""
    if view is None or view.r2 is None:
        return None
    found = view.r2

    def part(s: Any) -> dict[str, Any] | None:
        if s is None:
            return None
        return {"mean": s.mean, "median": s.median, "sd": s.sd, "eti89_lb": s.lb,
                "eti89_ub": s.ub}  # fmt: skip

    return {"conditional": part(found.conditional), "marginal": part(found.marginal)}


def _after_fit(view: ModelView, content: Content) -> dict[str, Any]:
    """A model's Bayesian R² and, when computed, its prior sensitivity per parameter."""
    found: dict[str, Any] = {
        "bayes_r2": _r2(view),
        "bayes_r2_note": view.r2_note if view.ok else None,
    }
    view_of = content.sensitivity
    if view_of is not None:
        row = next((r for r in view_of.rows if r.model == view.name), None)
        found["prior_sensitivity"] = None if row is None else {
            "error": row.error,
            "threshold": view_of.threshold,
            "scaled_priors": list(row.scaled),
            "seconds": row.seconds,
            "flagged": row.flagged,
            "parameters": {
                label: {"prior": prior, "likelihood": likelihood, "diagnosis": diagnosis or None}
                for label, (prior, likelihood, diagnosis) in row.values.items()
            },
        }  # fmt: skip
    return found


def plain(value: Any) -> Any:
    """``value`` with NumPy types turned into Python ones and non-finite floats into None."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return [plain(v) for v in value.tolist()]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        return number if math.isfinite(number) else None
    return value
