"""The comparison section: which fits are compared, the table, and the one-sentence verdict."""

from __future__ import annotations

from collections.abc import Mapping

from radonspec.analysis.loo import Comparison
from radonspec.analysis.records import Results
from radonspec.report.content import Content, GroupView, ModelView
from radonspec.report.numbers import fmt


def compare_section(content: Content, results: Results) -> None:
    """Fill the comparison, its verdict and its notes into ``content``."""
    content.comparison_notes.extend(results.comparison_notes)
    content.unranked.extend(results.unranked)
    if len(results.comparison_groups) > 1:
        for ranked in results.comparison_groups:
            found = ranked.comparison
            content.comparison_groups.append(
                GroupView(
                    models=ranked.group.models,
                    response=ranked.group.response,
                    rows=ranked.group.rows,
                    comparison=found,
                    verdict=verdict(found, content.by_name) if found is not None else "",
                    notes=[*ranked.notes, *(found.warnings if found is not None else ())],
                    main=found is not None and found is results.comparison,
                )
            )
    comparison = results.comparison
    if comparison is None:
        return
    content.comparison = comparison
    content.verdict = verdict(comparison, content.by_name)
    if comparison.criterion == "kfold" and results.also_loo is not None:
        content.also_loo = results.also_loo
        group_by = results.study.compare.kfold.group_by
        content.also_loo_note = agreement(comparison, results.also_loo, group_by)


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
