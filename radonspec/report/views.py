"""The report's per-model figure sections: posterior predictive checks, prior vs posterior.

Each function hands the analysis' arrays to ``radonspec.report.plots`` and returns a
``Section`` of rendered images plus notes for whatever could not be drawn. The
group-level views live in ``radonspec.report.groupviews``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from radonspec.analysis.records import MAX_PRIOR_PANELS, Results
from radonspec.report import plots
from radonspec.report.content import Content, Image, Section, attempt


def _image(name: str, title: str, caption: str, draw: Callable[..., Any], *args: Any) -> Image:
    """Draw a figure and render it (once per what it shows); both fail (and are noted) together."""
    return Image(name, title, caption, plots.figure(draw, *args))


# -- posterior predictive checks ------------------------------------------------------------

PPC_CAPTION = (
    "Left: the observed data (black) against {draws} data sets replicated from the"
    " posterior. Right: the LOO-PIT Δ-ECDF, which stays inside the grey 95% envelope for a"
    " calibrated model; above zero on the left and below on the right means predictive"
    " distributions that are too narrow, the reverse too wide, and one hump above (below)"
    " zero predictions that are too high (too low)."
)


def ppc_section(content: Content, results: Results) -> Section:
    """One posterior predictive check per model: density (or frequencies) and LOO-PIT."""
    section = Section()
    for view in content.models:
        analysis = results.models[view.name].analysis if view.name in results.models else None
        if analysis is None:
            section.notes.append(f"'{view.name}' has no check: {view.error or view.status}.")
            continue
        section.notes.extend(analysis.ppc_notes)
        check = analysis.ppc
        if check is None:
            continue
        png = attempt(
            section.notes,
            f"The predictive check of '{view.name}'",
            plots.figure,
            plots.ppc_figure,
            view.name,
            view.colour,
            check,
        )
        image = None
        if png is not None:
            caption = PPC_CAPTION.format(draws=check.draws)
            image = Image(f"ppc-{view.name}", f"Posterior predictive check: {view.name}",
                          caption, png)  # fmt: skip
        if image is not None:
            section.images.append(image)
    return section


# -- prior vs posterior ---------------------------------------------------------------------


def prior_section(content: Content, results: Results) -> Section:
    """Prior and posterior of each population-level effect, for fits holding prior draws."""
    section = Section()
    for view in content.models:
        analysis = results.models[view.name].analysis if view.name in results.models else None
        if analysis is None:
            continue
        if analysis.prior_note is not None:
            section.notes.append(f"'{view.name}' {analysis.prior_note}")
        pairs = analysis.prior_posterior
        if not pairs:
            continue
        shown = pairs[:MAX_PRIOR_PANELS]
        caption = (
            "Dashed grey: the prior; solid: the posterior. Where the posterior is much"
            " narrower than the prior, the data dominate; where the two agree, the prior does."
        )
        if len(pairs) > len(shown):
            caption += f" The first {len(shown)} of {len(pairs)} effects are shown."
        image = attempt(
            section.notes,
            f"The prior-posterior plot of '{view.name}'",
            _image,
            f"prior-{view.name}",
            f"Prior vs posterior: {view.name}",
            caption,
            plots.prior_posterior_figure,
            view.name,
            view.colour,
            [(p.label, p.prior, p.posterior) for p in shown],
        )
        if image is not None:
            section.images.append(image)
    return section
