"""The report's experiment sections: the sweep, differences from the reference, prior checks.

The numbers come from ``radonspec.study`` and ``radonspec.compare`` (``sweep_view``,
``model_differences``, ``prior_predictives``); this module places them in the ``Content``
and draws the prior predictive figures. Each part is made through ``attempt``: one that fails is
a note where it would have been.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from radonspec.compare.prior import (
    PriorDraws,
    capped_draws,
    checks_of,
    observed_values,
    predicted_values,
    prior_predictives,
    prior_table,
    response_name,
)
from radonspec.compare.sweep import sweep_view
from radonspec.report import plots
from radonspec.report.content import Content, Image, PriorPredictiveView, Section, attempt
from radonspec.report.priorplots import PriorRow, prior_datasets_figure, prior_intervals_figure
from radonspec.study.diff import model_differences, reference_model
from radonspec.study.schema import Study

MAX_PRIOR_PANELS = 12


def sweep_section(content: Content, study: Study, fits: Mapping[str, Any]) -> None:
    """Fill ``content.sweep`` from the fits, reusing the report's comparison and diagnostics."""
    if study.sweep is None:
        return
    diagnostics = {v.name: v.diagnostics for v in content.models if v.diagnostics is not None}
    content.sweep = attempt(
        content.sweep_notes,
        "The sweep view",
        sweep_view,
        study,
        fits,
        content.comparison,
        diagnostics,
    )


def reference_section(content: Content, study: Study) -> None:
    """Give every model view its differences from the study's reference model."""
    reference = reference_model(study)
    views = content.by_name
    if reference not in views:
        return
    content.reference = reference
    views[reference].is_reference = True
    found = attempt(
        views[reference].notes,
        f"The differences from the reference model '{reference}'",
        model_differences,
        study,
        reference,
    )
    for name, sentences in (found or {}).items():
        if name in views:
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


def prior_predictive_section(
    content: Content,
    study: Study,
    data: pd.DataFrame,
    models: Mapping[str, Any],
    *,
    found: Mapping[str, PriorDraws] | None = None,
    figures: bool = True,
) -> None:
    """Fill ``content.prior_predictive``: draw each model's prior predictive and compare.

    ``found`` are draws made by the caller (``run --prior-only`` prints them too);
    otherwise they are drawn here, reusing the built models, at most 500 per model
    and fewer for large data.
    """
    notes = content.prior_predictive_notes
    if found is None:
        draws = capped_draws(len(data))
        found = attempt(
            notes,
            "The prior predictive draws",
            prior_predictives,
            study,
            draws=draws,
            models=[v.name for v in content.models if v.name in study.models],
            built=models,
            data=data,
        )
        if found is None:
            return
    checks = checks_of(found)
    trees = {name: item.tree for name, item in found.items() if item.tree is not None}
    draws = max((_draws(tree) for tree in trees.values()), default=0)
    section = Section()
    for check in checks.values():
        if check.error is not None:
            section.notes.append(f"'{check.model}' has no prior predictive draws: {check.error}")
        else:
            section.notes.extend(f"'{check.model}': {problem}" for problem in check.problems)
    if figures and trees:
        _figures(content, trees, section)
    content.prior_predictive = PriorPredictiveView(draws, prior_table(checks), section)


def _figures(content: Content, trees: Mapping[str, Any], section: Section) -> None:
    colours = content.colours
    observed, response = None, ""
    rows: list[PriorRow] = []
    for name, tree in trees.items():
        values = attempt(section.notes, f"The prior predictive of '{name}'", _values, tree)
        if values is None:
            continue
        if observed is None:
            observed, response = values[0], values[2]
        rows.append(PriorRow(name, colours.get(name, plots.NEUTRAL), values[1]))
    if observed is None or not rows:
        return
    image = attempt(
        section.notes,
        "The prior predictive intervals",
        lambda: _image(
            "prior-predictive",
            "Prior predictive intervals",
            PRIOR_CAPTION,
            prior_intervals_figure(observed, rows, response),
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
            prior_datasets_figure(observed, shown, response),
        ),
    )
    if image is not None:
        section.images.append(image)


def _values(tree: Any) -> tuple[np.ndarray, np.ndarray, str]:
    name = response_name(tree)
    return observed_values(tree, name), predicted_values(tree, name), name


def _image(name: str, title: str, caption: str, figure: Any) -> Image:
    return Image(name, title, caption, plots.to_png(figure))


def _draws(tree: Any) -> int:
    sizes = tree["prior_predictive"].sizes
    return int(sizes.get("chain", 1) * sizes.get("draw", 0))
