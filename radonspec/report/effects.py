"""The conditional-effects section: one figure per ``report.effects`` item, a panel per model.

The curves come from the analysis (``radonspec.analysis.effects``, Bambi's
``interpret.predictions``); this module draws them with matplotlib, each model's panel
in its palette colour when it has one line, in a shared palette of the ``by`` values
otherwise. A numeric predictor is a line with its 89% band, a categorical one a point
with its 89% interval per level.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from radonspec.analysis.effects import Effect
from radonspec.analysis.records import Results
from radonspec.report.content import Content, Image, Section, attempt
from radonspec.report.plots import figure, hide_unused, new_figure, style

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

MAX_COLUMNS = 3
CAPTION = (
    "The {quantity} as {predictor} varies, with its 89% interval (the spread of single"
    " observations around it is not shown)."
)


def effects_section(content: Content, results: Results) -> Section | None:
    """One figure per item of ``report.effects``: a panel for each model that uses it."""
    wanted = results.study.report.effects
    if not wanted:
        return None
    section = Section()
    for view in content.models:
        analysis = results.models[view.name].analysis if view.name in results.models else None
        if analysis is None:
            section.notes.append(f"'{view.name}' has no conditional effects: {view.error}")
            continue
        section.notes.extend(analysis.effect_notes)
    for index, item in enumerate(wanted):
        found = [
            effect
            for view in content.models
            if (model := results.models.get(view.name)) is not None and model.analysis
            for effect in model.analysis.effects
            if (effect.predictor, effect.by) == (item.predictor, item.by)
        ]
        if not found:
            section.notes.append(f"No model has a conditional effect of '{item.predictor}'.")
            continue
        title = f"Conditional effect of {item.predictor}" + (f" by {item.by}" if item.by else "")
        image = attempt(
            section.notes,
            f"The effect plot of '{item.predictor}'",
            _image,
            f"effect-{index + 1}-{_slug(item.predictor)}",
            title,
            _caption(found, item.predictor),
            found,
            content.colours,
        )
        if image is not None:
            section.images.append(image)
    return section


def _image(
    name: str, title: str, caption: str, found: Sequence[Effect], colours: dict[str, str]
) -> Image:
    return Image(name, title, caption, figure(effects_figure, title, list(found), colours))


def _caption(found: Sequence[Effect], predictor: str) -> str:
    quantities = list(dict.fromkeys(effect.quantity for effect in found))
    text = CAPTION.format(quantity=" or the ".join(quantities), predictor=predictor)
    held = []
    for effect in found:
        parts = [f"{name} = {value}" for name, value in effect.held]
        if effect.population:
            parts.append("group-specific effects at zero (a typical group)")
        if parts:
            held.append(f"{effect.model}: {', '.join(parts)}")
    if held:
        text += " Held fixed: " + "; ".join(held) + "."
    notes = [f"{e.model}: {e.note}" for e in found if e.note]
    if notes:
        text += " " + "; ".join(notes) + "."
    return text


def effects_figure(title: str, effects: Sequence[Effect], colours: dict[str, str]) -> Figure:
    """A panel per model: the expected response along the predictor, one line per ``by``."""
    import matplotlib as mpl
    from matplotlib.lines import Line2D

    ncols = min(MAX_COLUMNS, len(effects))
    nrows = -(-len(effects) // ncols)
    labels = list(dict.fromkeys(line.label for e in effects for line in e.lines if line.label))
    palette = mpl.colormaps["tab10"]
    by_colour = {label: mpl.colors.to_hex(palette(i % 10)) for i, label in enumerate(labels)}
    with style():
        figure, axes = new_figure(nrows, ncols, 3.0 * nrows + 0.9, sharey=True)
        for ax, effect in zip(axes.ravel(), effects, strict=False):
            own = colours.get(effect.model, "#0072B2")
            _panel(ax, effect, own, by_colour)
        hide_unused(axes, len(effects))
        for ax in axes[:, 0]:
            ax.set_ylabel(effects[0].quantity if len({e.quantity for e in effects}) == 1
                          else "expected response")  # fmt: skip
        if labels:
            handles = [Line2D([], [], color=by_colour[label], linewidth=2, label=label)
                       for label in labels]  # fmt: skip
            figure.legend(handles=handles, loc="outside lower center",
                          ncols=min(4, len(handles)))  # fmt: skip
        figure.suptitle(title)
    return figure


def _panel(ax: Axes, effect: Effect, own: str, by_colour: dict[str, str]) -> None:
    count = len(effect.lines)
    for i, line in enumerate(effect.lines):
        colour = by_colour.get(line.label, own) if line.label else own
        if effect.levels:
            positions = np.arange(effect.x.size) + (i - (count - 1) / 2) * min(0.6 / count, 0.15)
            ax.errorbar(
                positions, line.mean, yerr=[line.mean - line.lb, line.ub - line.mean],
                fmt="o", color=colour, capsize=3, markersize=4,
            )  # fmt: skip
        else:
            # many overlapping bands turn to mud: fainter as there are more of them
            alpha = 0.18 if count <= 2 else 0.08
            ax.fill_between(effect.x, line.lb, line.ub, color=colour, alpha=alpha, linewidth=0)
            ax.plot(effect.x, line.mean, color=colour, linewidth=1.8)
    if effect.levels:
        ax.set_xticks(np.arange(effect.x.size), [str(v) for v in effect.x],
                      rotation=30 if effect.x.size > 5 else 0)  # fmt: skip
    ax.set_xlabel(effect.predictor)
    ax.set_title(effect.model, color=own)


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in text)


__all__ = ["effects_figure", "effects_section"]
