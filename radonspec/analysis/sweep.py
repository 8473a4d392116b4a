"""The sweep view: one row per cell of a study's sweep, ranked, with its diagnostics.

The report renders; this module only computes. (Each model's difference from the
reference model is ``study.diff.model_differences``; the prior predictive section is
``compare.prior.prior_table``.)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from radonspec.analysis.diagnostics import Diagnostics, diagnose
from radonspec.analysis.loo import Comparison, ComparisonRow, compare_fits
from radonspec.analysis.psis import cached_loo
from radonspec.study.schema import Study
from radonspec.study.sweep import SweepCell, sweep_cells

#: Short flags for the sweep view, by a phrase of ``Diagnostics.problems``.
FLAGS = {
    "R-hat": "r_hat",
    "bulk ESS": "ess_bulk",
    "tail ESS": "ess_tail",
    "divergent": "divergences",
    "tree depth": "treedepth",
    "E-BFMI": "ebfmi",
}

SWEEP_COLUMNS = [
    "model", "base", "rank", "elpd", "se", "elpd_diff", "dse", "pareto_k_bad", "status",
    "passed", "flags", "r_hat_max", "ess_bulk_min", "divergences", "cached",
]  # fmt: skip


@dataclass(frozen=True)
class SweepView:
    """The sweep view of a report: ``sweep_table``'s frame and what it was ranked by.

    ``criterion`` is the comparison's (``loo`` or ``kfold``); ``notes`` say what
    could not be shown (e.g. why ``dse`` is missing).
    """

    base: str
    axes: tuple[str, ...]
    criterion: str
    table: pd.DataFrame
    notes: tuple[str, ...] = ()

    @property
    def rows(self) -> list[dict[str, Any]]:
        """The table's rows as dicts, best first."""
        return [{str(k): v for k, v in row.items()} for row in self.table.to_dict("records")]


def sweep_table(
    study: Study,
    fits: Mapping[str, Any],
    comparison: Comparison | None = None,
    diagnostics: Mapping[str, Diagnostics] | None = None,
    *,
    elpd: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """The sweep view: one row per cell, best expected predictive accuracy first.

    Parameters
    ----------
    study
        A study with a ``sweep`` (an empty frame otherwise).
    fits
        ``Fit`` records by model name (``fit_study``'s result).
    comparison
        The study's comparison, reused whenever it covers every fitted cell: as it is
        when it covers exactly those, or when its best model is the best cell (its
        differences are then from that cell); otherwise its ELPDs are kept and the
        differences taken from the best cell, their standard errors (``dse``) from
        PSIS-LOO of the cells for a LOO comparison and NaN for k-fold. Without a
        comparison covering the cells, they are compared here by PSIS-LOO.
        ``elpd_diff`` follows ArviZ: 0 for the best, negative for the rest.
    diagnostics
        Diagnostics by model name; computed from the fits where missing.
    elpd
        PSIS-LOO results by model name (ArviZ records) for cells the comparison does
        not rank; computed from the fits where missing.

    Returns
    -------
    pandas.DataFrame
        Columns ``model``, ``base`` (the base model's row), one column per sweep
        axis (the cell's value), ``rank`` (0 best), ``elpd``, ``se``, ``elpd_diff``,
        ``dse``, ``pareto_k_bad``, ``status``, ``passed`` (diagnostics),
        ``flags`` (failed checks, e.g. ``"r_hat, divergences"``), ``r_hat_max``,
        ``ess_bulk_min``, ``divergences``, ``cached``. Failed fits come last.
    """
    return sweep_view(study, fits, comparison, diagnostics, elpd=elpd).table


def sweep_view(
    study: Study,
    fits: Mapping[str, Any],
    comparison: Comparison | None = None,
    diagnostics: Mapping[str, Diagnostics] | None = None,
    *,
    elpd: Mapping[str, Any] | None = None,
) -> SweepView:
    """``sweep_table`` with the criterion it ranks by and notes on what it could not show."""
    if study.sweep is None:
        return SweepView("", (), "loo", pd.DataFrame(columns=SWEEP_COLUMNS))
    cells = _with_base(study, sweep_cells(study))
    axes = list(study.sweep.over.axes())
    ok = [c.name for c in cells if _ok(fits.get(c.name))]
    scores, criterion, notes = _scores(ok, fits, comparison, elpd or {})
    rows = []
    for cell in cells:
        fit = fits.get(cell.name)
        diag = (diagnostics or {}).get(cell.name)
        if diag is None and _ok(fit):
            diag = _diagnose(study, cell.name, fit)
        score = scores.get(cell.name, {})
        row: dict[str, Any] = {"model": cell.name, "base": cell.is_base}
        row |= {axis: _shown(axis, cell.values.get(axis)) for axis in axes}
        row |= {
            "rank": score.get("rank", np.nan),
            "elpd": score.get("elpd", np.nan),
            "se": score.get("se", np.nan),
            "elpd_diff": score.get("elpd_diff", np.nan),
            "dse": score.get("dse", np.nan),
            "pareto_k_bad": score.get("pareto_k_bad", np.nan),
            "status": getattr(fit, "status", "skipped") if fit is not None else "skipped",
            "passed": bool(diag.passed) if diag is not None else False,
            "flags": _flags(diag) if diag is not None else "",
            "r_hat_max": diag.r_hat_max if diag is not None else np.nan,
            "ess_bulk_min": diag.ess_bulk_min if diag is not None else np.nan,
            "divergences": diag.divergences if diag is not None else np.nan,
            "cached": bool(getattr(fit, "cached", False)),
        }
        rows.append(row)
    columns = ["model", "base", *axes, *SWEEP_COLUMNS[2:]]
    table = pd.DataFrame(rows, columns=columns)
    table["_failed"] = table["elpd"].isna()
    table = table.sort_values(["_failed", "elpd"], ascending=[True, False], kind="stable")
    table = table.drop(columns="_failed").reset_index(drop=True)
    return SweepView(study.sweep.base, tuple(axes), criterion, table, tuple(notes))


def _with_base(study: Study, cells: list[SweepCell]) -> list[SweepCell]:
    """The cells, with the base model first as a cell when no cell equals it."""
    assert study.sweep is not None
    if any(cell.is_base for cell in cells):
        return cells
    base = study.models[study.sweep.base]
    values = {
        "formula": base.formula,
        "terms": "",
        "family": base.family,
        "link": base.link,
        "prior_scale": 1.0,
        "backend": base.sampler.backend,
    }
    used = study.sweep.over.axes()
    own = SweepCell(
        study.sweep.base,
        study.sweep.base,
        {axis: values[axis] for axis in used},
        (),
        base,
        is_base=True,
    )
    return [own, *cells]


def _ok(fit: Any) -> bool:
    return fit is not None and bool(getattr(fit, "ok", False))


def _scores(
    names: list[str],
    fits: Mapping[str, Any],
    comparison: Comparison | None,
    elpd: Mapping[str, Any],
) -> tuple[dict[str, dict[str, float]], str, list[str]]:
    """Rank, elpd, se, elpd_diff, dse and Pareto-k count per cell; the criterion; notes."""
    if not names:
        return {}, comparison.criterion if comparison is not None else "loo", []
    rows = {row.model: row for row in comparison.rows} if comparison is not None else {}
    if comparison is not None and set(names) <= set(rows):
        ranked = sorted(names, key=lambda n: -rows[n].elpd)
        best = rows[ranked[0]]
        if set(rows) == set(names) or best.rank == 0:
            # the comparison's differences are from its best model, which is the best cell
            scores = {n: _score(rows[n], ranked.index(n)) for n in names}
            return scores, comparison.criterion, []
        if comparison.criterion == "loo":
            # the pointwise differences behind dse are not kept: compare the cells alone
            return _loo_scores(names, fits, elpd), "loo", []
        scores = {n: _score(rows[n], ranked.index(n)) for n in names}
        for n in names:
            scores[n] |= {"elpd_diff": rows[n].elpd - best.elpd, "dse": np.nan}
        note = (
            f"dSE is not shown: the {comparison.criterion} comparison's differences are from"
            f" '{min(rows.values(), key=lambda r: r.rank).model}', which is not a cell, and"
            " its pointwise values are not kept; Δelpd is from the best cell"
        )
        return scores, comparison.criterion, [note]
    notes = []
    if comparison is not None and comparison.criterion != "loo":
        missing = ", ".join(f"'{n}'" for n in names if n not in rows)
        notes.append(
            f"the {comparison.criterion} comparison lacks {missing}: the cells are ranked by"
            " PSIS-LOO instead"
        )
    return _loo_scores(names, fits, elpd), "loo", notes


def _score(row: ComparisonRow, rank: int) -> dict[str, float]:
    return {
        "rank": rank,
        "elpd": row.elpd,
        "se": row.se,
        "elpd_diff": row.elpd_diff,
        "dse": row.dse,
        "pareto_k_bad": row.pareto_k_bad,
    }


def _loo_scores(
    names: list[str], fits: Mapping[str, Any], elpd: Mapping[str, Any]
) -> dict[str, dict[str, float]]:
    given = {n: elpd[n] for n in names if n in elpd}
    trees = {n: fits[n].tree for n in names if n not in given}
    chosen = compare_fits(trees, elpd={**given, **{n: cached_loo(t) for n, t in trees.items()}})
    return {row.model: _score(row, row.rank) for row in chosen.rows if row.model in names}


def _diagnose(study: Study, name: str, fit: Any) -> Diagnostics | None:
    if getattr(fit, "tree", None) is None:
        return None
    spec = study.models.get(name)
    depth = spec.sampler.max_treedepth if spec is not None else 10
    try:
        centered = not spec.noncentered if spec is not None else None
        return diagnose(
            fit.tree, max_treedepth=depth, key=getattr(fit, "key", None), centered=centered
        )
    except Exception:  # noqa: BLE001 - a view without diagnostics beats no view
        return None


def _flags(diag: Diagnostics) -> str:
    found = [flag for phrase, flag in FLAGS.items() if any(phrase in p for p in diag.problems)]
    return ", ".join(found)


def _shown(axis: str, value: Any) -> Any:
    if axis == "formula" and isinstance(value, tuple):
        return " | ".join(value)
    if axis == "terms":
        return " ".join(str(value).split())
    if axis == "link" and value is None:
        return "default"
    return value
