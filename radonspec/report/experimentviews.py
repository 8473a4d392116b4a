"""The report's experiment sections: the sweep, differences from the reference, prior checks.

The numbers come from the analysis (``radonspec.analysis.records.Results``); this module
places them in the ``Content`` and draws the prior predictive figures. Each figure is made
through ``attempt``: one that fails is a note where it would have been.
"""

from __future__ import annotations

from typing import Any

from radonspec.analysis.records import MAX_PRIOR_PANELS, Results
from radonspec.report import plots
from radonspec.report.content import Content, Image, PriorPredictiveView, Section, attempt
from radonspec.report.drawer import Pending
from radonspec.report.priorplots import PriorRow, prior_datasets_figure, prior_intervals_figure


def sweep_section(content: Content, results: Results) -> None:
    """Fill ``content.sweep`` from the analysis."""
    content.sweep = results.sweep
    content.sweep_notes.extend(results.sweep_notes)


def reference_section(content: Content, results: Results) -> None:
    """Give every model view its differences from the study's reference model."""
    reference = results.reference
    views = content.by_name
    if reference is None or reference not in views:
        return
    content.reference = reference
    views[reference].is_reference = True
    for name, sentences in results.differences.items():
        if name == reference:
            views[name].notes.extend(sentences)  # why the differences could not be made
        elif name in views:
            views[name].differences = list(sentences)


PRIOR_CAPTION = (
    "Each model's prior predictive distribution (all draws pooled) against the observed"
    " data: nested 50%, 90% and 98% intervals and the median; the grey band is the observed"
    " range. The axis is linear over the data and logarithmic beyond, so priors that predict"
    " data far wider than anything observed stand out."
)
DATASETS_CAPTION = (
    "Observed data (grey) and {n} data sets drawn from each model's prior predictive"
    " distribution, over the observed range widened by its width on each side. Values outside"
    " the window still count in each data set's density, so a prior that predicts mostly"
    " elsewhere draws a flat line near zero; the panel title says what share of predicted"
    " values fell outside."
)


def prior_predictive_section(content: Content, results: Results, *, figures: bool = True) -> None:
    """Fill ``content.prior_predictive`` from the analysis' prior predictive checks."""
    content.prior_predictive_notes.extend(results.prior_predictive_notes)
    found = results.prior_predictive
    if found is None:
        return
    section = Section(notes=list(found.notes))
    if figures and found.observed is not None and found.predicted:
        _figures(content, found.observed, found.predicted, found.response, section)
    content.prior_predictive = PriorPredictiveView(found.draws, found.table, section)


def _figures(
    content: Content,
    observed: Any,
    predicted: dict[str, Any],
    response: str,
    section: Section,
) -> None:
    colours = content.colours
    rows = [
        PriorRow(name, colours.get(name, plots.NEUTRAL), values)
        for name, values in predicted.items()
    ]
    image = attempt(
        section.notes,
        "The prior predictive intervals",
        lambda: _image(
            "prior-predictive",
            "Prior predictive intervals",
            PRIOR_CAPTION,
            plots.figure(prior_intervals_figure, observed, rows, response),
        ),
    )
    if image is not None:
        section.images.append(image)
    shown = rows[:MAX_PRIOR_PANELS]
    caption = DATASETS_CAPTION.format(n=20)
    if len(rows) > len(shown):
        caption += f" The first {len(shown)} of {len(rows)} models are shown."
    image = attempt(
        section.notes,
        "The prior predictive data sets",
        lambda: _image(
            "prior-predictive-datasets",
            "Prior predictive data sets",
            caption,
            plots.figure(prior_datasets_figure, observed, shown, response),
        ),
    )
    if image is not None:
        section.images.append(image)


def _image(name: str, title: str, caption: str, png: bytes | Pending) -> Image:
    return Image(name, title, caption, png)
