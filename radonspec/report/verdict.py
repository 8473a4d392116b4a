"""The comparison section: which fits are compared, the table, and the one-sentence verdict."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import xarray as xr

from radonspec.compare.loo import NO_PREDICTIVE, Comparison, compare_fits, ppc_rmsd
from radonspec.report.content import Content, ModelView, attempt
from radonspec.report.numbers import fmt
from radonspec.run.fit import Fit
from radonspec.study.schema import Study


def compare_section(
    content: Content, study: Study, fits: Mapping[str, Fit], given: Comparison | None
) -> None:
    """Fill the comparison, its verdict and its notes into ``content``.

    Failed or missing fits are left out with a note; ``given`` (e.g. k-fold,
    computed by the caller) is used as it is, else PSIS-LOO is computed here.
    """
    notes = content.comparison_notes
    views = content.by_name
    wanted = list(study.compare.models or [v.name for v in content.models])
    trees: dict[str, xr.DataTree] = {}
    for name in wanted:
        view = views.get(name)
        fit = fits.get(name)
        if view is None or fit is None or not view.ok or fit.tree is None:
            reason = view.error if view is not None and view.error else "it has no fit"
            notes.append(f"'{name}' is not compared: {reason}")
            continue
        trees[name] = fit.tree
    left_out = [v.name for v in content.models if v.name not in wanted]
    if left_out:
        names = ", ".join(f"'{name}'" for name in left_out)
        notes.append(f"{names} {'is' if len(left_out) == 1 else 'are'} not in compare.models")
    comparison = given
    if comparison is None:
        if study.compare.criterion != "loo":
            notes.append(
                f"compare.criterion is '{study.compare.criterion}' but no such comparison was"
                " passed to the report; PSIS-LOO is shown instead"
            )
        if not trees:
            notes.append("no model has a usable fit, so nothing is compared")
            return
        comparison = attempt(notes, "The comparison", compare_fits, trees, criterion="loo")
        if comparison is None:
            return
    comparison = _with_rmsd(comparison, trees, study.compare.rmsd)
    notes += list(comparison.warnings)
    if study.compare.rmsd:
        notes += [
            f"PP RMSD of '{row.model}' {NO_PREDICTIVE}"
            for row in comparison.rows
            if row.model in trees and "posterior_predictive" not in trees[row.model].children
        ]
    content.comparison = comparison
    content.verdict = verdict(comparison, views)
    if comparison.criterion == "kfold":
        compared = {row.model: trees[row.model] for row in comparison.rows if row.model in trees}
        loo = attempt(notes, "PSIS-LOO beside k-fold", compare_fits, compared, criterion="loo")
        if loo is not None:
            content.also_loo = loo
            content.also_loo_note = agreement(comparison, loo, study.compare.kfold.group_by)


def _with_rmsd(
    comparison: Comparison, trees: Mapping[str, xr.DataTree], wanted: bool
) -> Comparison:
    rows = []
    for row in comparison.rows:
        rmsd = row.rmsd
        tree = trees.get(row.model)
        if not wanted:
            rmsd = None
        elif rmsd is None and tree is not None and "posterior_predictive" in tree.children:
            rmsd = attempt([], "RMSD", ppc_rmsd, tree)
        rows.append(replace(row, rmsd=rmsd))
    return Comparison(comparison.criterion, tuple(rows), comparison.warnings)


def verdict(comparison: Comparison, views: Mapping[str, ModelView]) -> str:
    """One sentence: which model predicts best, and whether the lead is large relative to its SE.

    Follows Sivula, Magnusson & Vehtari (2022): an elpd difference below 4 is small
    whatever its standard error; above that it is clear when it exceeds twice its SE.
    """
    rows = sorted(comparison.rows, key=lambda r: r.rank)
    label = f"elpd_{comparison.criterion}"
    if not rows:
        return ""
    best = rows[0]
    if len(rows) == 1:
        return (
            f"Only '{best.model}' was compared ({label} {fmt(best.elpd)}), so there is no choice."
        )
    second = rows[1]
    diff, dse = abs(second.elpd_diff), second.dse
    if diff < 4:
        sentence = (
            f"'{best.model}' has the highest {label} ({fmt(best.elpd)}), but '{second.model}'"
            f" is only {fmt(diff)} lower: a difference below 4 is small, so the two predict"
            " about equally well."
        )
    elif diff > 2 * dse:
        sentence = (
            f"'{best.model}' predicts best: the next best, '{second.model}', is {fmt(diff)}"
            f" lower in {label}, {fmt(diff / dse)} times the standard error of the difference"
            f" ({fmt(dse)}), so the difference is clear."
        )
    else:
        sentence = (
            f"'{best.model}' has the highest {label}: the next best, '{second.model}', is"
            f" {fmt(diff)} lower, but that is only {fmt(diff / dse)} times the standard error"
            f" of the difference ({fmt(dse)}), so which predicts better is uncertain."
        )
    view = views.get(best.model)
    if view is not None and view.badge:
        sentence += f" Caution: '{best.model}' failed its diagnostics, so its {label} may be off."
    return sentence


def agreement(kfold: Comparison, loo: Comparison, group_by: str | None) -> str:
    """One sentence on whether PSIS-LOO ranks the models as k-fold does, and what each asks."""
    by_kfold = [row.model for row in sorted(kfold.rows, key=lambda r: r.rank)]
    by_loo = [row.model for row in sorted(loo.rows, key=lambda r: r.rank)]
    if group_by is not None:
        question = (
            f"PSIS-LOO asks how well a model predicts a new observation in a {group_by} it has"
            f" seen; leaving whole {group_by} levels out asks how well it predicts a {group_by}"
            " it has not seen."
        )
    else:
        question = "Both estimate how well a model predicts a new observation."
    if by_kfold == by_loo:
        return f"PSIS-LOO ranks the models as k-fold does. {question}"
    if by_kfold[0] == by_loo[0]:
        return f"Both criteria rank '{by_kfold[0]}' first; the order below differs. {question}"
    return f"PSIS-LOO ranks '{by_loo[0]}' first where k-fold ranks '{by_kfold[0]}'. {question}"
