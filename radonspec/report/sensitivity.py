"""The prior sensitivity section: which posteriors depend on their prior, and what to do.

The sensitivities come from the analysis (``radonspec.analysis.sensitivity``); this
module turns them into one row per model, the flagged parameters and the advice that
follows from each diagnosis.
"""

from __future__ import annotations

from radonspec.analysis.records import Results
from radonspec.analysis.sensitivity import CONFLICT, PRIOR_DOMINATES, THRESHOLD
from radonspec.report.content import Content, Flag, SensitivityRow, SensitivityView

ADVICE = {
    CONFLICT: (
        "Prior and data pull {names} in different directions: the posterior sits between"
        " them and moves with either. Check that the prior is on the scale you meant (units,"
        " centring, the link's scale). If it encodes real knowledge, report the result under a"
        " wider prior beside it; if not, widen it."
    ),
    PRIOR_DOMINATES: (
        "The data say little about {names}: the posterior is mostly the prior. The estimate"
        " is only as good as that prior, so choose it deliberately and report it, or simplify"
        " the model (pool the levels, drop the term) so that the data can speak."
    ),
}
LABELS = {CONFLICT: "prior-data conflict", PRIOR_DOMINATES: "prior dominates, weak likelihood"}


def sensitivity_section(content: Content, results: Results) -> SensitivityView | None:
    """The prior sensitivity of every model, when ``report.prior_sensitivity`` is on."""
    if not results.study.report.prior_sensitivity:
        return None
    rows = []
    threshold = THRESHOLD
    for view in content.models:
        model = results.models.get(view.name)
        analysis = model.analysis if model is not None else None
        row = SensitivityRow(view.name)
        if analysis is None:
            row.error = view.error or "no draws"
        elif analysis.sensitivity is None:
            row.error = analysis.sensitivity_note or "not computed"
        else:
            found = analysis.sensitivity
            threshold = found.threshold
            table = found.table
            row.checked = len(table)
            row.scaled = list(found.scaled)
            row.seconds = found.seconds
            for label, values in table.iterrows():
                flag = Flag(str(label), float(values["prior"]), float(values["likelihood"]))
                row.values[flag.label] = (flag.prior, flag.likelihood, str(values["diagnosis"]))
                if values["diagnosis"] == CONFLICT:
                    row.conflict.append(flag)
                elif values["diagnosis"] == PRIOR_DOMINATES:
                    row.dominated.append(flag)
            for kind, flags in ((CONFLICT, row.conflict), (PRIOR_DOMINATES, row.dominated)):
                if flags:
                    row.advice.append(ADVICE[kind].format(names=_names(flags)))
        rows.append(row)
    return SensitivityView(threshold, rows)


def _names(flags: list[Flag]) -> str:
    shown = [f"'{flag.label}'" for flag in flags[:3]]
    more = len(flags) - len(shown)
    text = ", ".join(shown)
    return text + (f" and {more} more" if more > 0 else "")


__all__ = ["LABELS", "SensitivityRow", "SensitivityView", "sensitivity_section"]
