"""Figures of the prior predictive checks: what the priors say the data could look like.

Absurd priors predict data thousands of times wider than anything observed, so one
figure compares quantiles on an ``asinh`` axis (linear over the data, logarithmic
beyond), where a prior predicting ±300 on a log scale reads as absurd next to data
between -2 and 4; the other draws whole prior predictive data sets over a window
around the data, saying how much of them falls outside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from radonspec.report.plots import (
    NEUTRAL,
    OBSERVED,
    hide_unused,
    is_discrete,
    new_figure,
    response_label,
    style,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: Quantile pairs drawn as nested intervals, widest first, with their line widths.
INTERVALS = ((0.01, 0.99, 1.0), (0.05, 0.95, 2.6), (0.25, 0.75, 5.5))
DATASETS = 20  # prior predictive data sets drawn per panel


@dataclass(frozen=True)
class PriorRow:
    """One model's prior predictive draws (any shape: they are pooled) and its colour."""

    model: str
    colour: str
    predicted: np.ndarray  # (draws, observations)


def prior_intervals_figure(observed: np.ndarray, rows: Sequence[PriorRow], response: str) -> Figure:
    """Nested 50/90/98% intervals and medians of the observed data and of each model's priors.

    The grey band spans the observed range. The x axis is ``asinh``: linear up to the
    largest observed magnitude, logarithmic beyond, so a prior predictive interval a
    thousand times too wide stays on the page and looks like what it is.
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    observed = _finite(observed)
    labels = ["observed data", *(row.model for row in rows)]
    colours = [OBSERVED, *(row.colour for row in rows)]
    samples = [observed, *(_finite(row.predicted) for row in rows)]
    with style():
        figure, axes = new_figure(1, 1, 1.0 + 0.42 * len(labels))
        ax = axes[0, 0]
        low, high = float(observed.min()), float(observed.max())
        ax.axvspan(low, high, color=NEUTRAL, alpha=0.18, linewidth=0)
        for y, (values, colour) in enumerate(zip(samples, colours, strict=True)):
            if values.size == 0:
                ax.text(low, y, "  no finite draws", va="center", fontsize=9, color=colour)
                continue
            for lo, hi, width in INTERVALS:
                a, b = np.quantile(values, [lo, hi])
                ax.plot([a, b], [y, y], color=colour, linewidth=width, solid_capstyle="butt")
            ax.plot(np.median(values), y, "o", color="white", markeredgecolor=colour, ms=6)
        ax.set_yticks(range(len(labels)), labels)
        ax.set_ylim(len(labels) - 0.5, -0.5)
        ax.grid(axis="y", visible=False)
        _asinh_x(ax, observed)
        ax.set_xlabel(f"{response_label(response)} (linear over the data, logarithmic beyond)")
        ax.set_title("Prior predictive distribution vs the observed data")
        figure.legend(
            handles=[
                Patch(color=NEUTRAL, alpha=0.35, label="observed range"),
                Line2D([], [], color=NEUTRAL, linewidth=5.5, label="50% interval"),
                Line2D([], [], color=NEUTRAL, linewidth=2.6, label="90%"),
                Line2D([], [], color=NEUTRAL, linewidth=1.0, label="98%"),
                Line2D([], [], marker="o", color="white", markeredgecolor=NEUTRAL, label="median"),
            ],
            loc="outside lower center",
            ncols=5,
        )
    return figure


def prior_datasets_figure(observed: np.ndarray, rows: Sequence[PriorRow], response: str) -> Figure:
    """Per model: the observed histogram and a few prior predictive data sets over one window.

    The window is the observed range widened by its own width on each side; values
    of a prior predictive data set outside it are not drawn but still count in its
    total, so a prior that predicts mostly elsewhere draws a flat line near zero.
    Each panel says what share of all prior predictive values fell outside.
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    observed = _finite(observed)
    low, high = float(observed.min()), float(observed.max())
    width = high - low or max(abs(high), 1.0)
    window = (low - width, high + width)
    bins = _bins(observed, window)
    reference, _ = np.histogram(observed, bins=bins)
    sizes = np.diff(bins)
    ncols = min(3, len(rows))
    nrows = -(-len(rows) // ncols)
    with style():
        figure, axes = new_figure(nrows, ncols, 2.7 * nrows + 0.7)
        height = reference / (observed.size * sizes)
        for ax, row in zip(axes.ravel(), rows, strict=False):
            ax.stairs(height, bins, color=OBSERVED, fill=True, alpha=0.3)
            outside, typical = _datasets(ax, row, bins, window)
            # one spiky data set must not flatten the rest: taller ones are cut at the top
            ax.set_ylim(0, 1.4 * max(float(height.max()), typical))
            ax.set_title(f"{row.model}\n{outside:.0%} of values outside this window", fontsize=9.5)
            ax.set_xlim(*window)
            ax.set_xlabel(response_label(response))
            ax.set_ylabel("density")
        hide_unused(axes, len(rows))
        figure.legend(
            handles=[
                Patch(color=OBSERVED, alpha=0.3, label="observed data"),
                Line2D([], [], color=NEUTRAL, label=f"{DATASETS} prior predictive data sets each"),
            ],
            loc="outside lower center",
            ncols=2,
        )
        figure.suptitle("Prior predictive data sets around the observed range")
    return figure


def _datasets(
    ax: Axes, row: PriorRow, bins: np.ndarray, window: tuple[float, float]
) -> tuple[float, float]:
    """Draw a few of the row's data sets as histograms.

    Returns the share of all its values outside the window and the median height of
    the drawn data sets' tallest bins.
    """
    predicted = np.asarray(row.predicted, dtype=float).reshape(np.shape(row.predicted)[0], -1)
    sizes = np.diff(bins)
    picks = np.linspace(0, predicted.shape[0] - 1, min(DATASETS, predicted.shape[0]))
    tops = []
    for i in picks.astype(int):
        counts, _ = np.histogram(predicted[i], bins=bins)
        density = counts / (predicted.shape[1] * sizes)
        ax.stairs(density, bins, color=row.colour, alpha=0.45)
        tops.append(float(density.max()))
    pooled = predicted[np.isfinite(predicted)]
    outside = float(np.mean((pooled < window[0]) | (pooled > window[1]))) if pooled.size else 1.0
    return outside, float(np.median(tops)) if tops else 0.0


def _finite(values: np.ndarray) -> np.ndarray:
    flat = np.asarray(values, dtype=float).ravel()
    return flat[np.isfinite(flat)]


def _bins(observed: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    if is_discrete(observed, max_levels=60):
        return np.arange(np.floor(window[0]) - 0.5, np.ceil(window[1]) + 1.0, 1.0)
    return np.linspace(window[0], window[1], 61)


def _asinh_x(ax: Axes, observed: np.ndarray) -> None:
    """An asinh x axis whose linear part covers the observed values."""
    import matplotlib as mpl
    from matplotlib.ticker import AsinhLocator

    scale = float(np.max(np.abs(np.quantile(observed, [0.01, 0.99])))) or 1.0
    ax.set_xscale("asinh", linear_width=scale)
    # majors are powers of ten; 2 and 5 times them are labelled too, so the data's own
    # range has numbers on it
    ax.xaxis.set_minor_locator(AsinhLocator(scale, subs=(2, 5)))
    label = mpl.ticker.FuncFormatter(lambda v, _: f"{v:g}")
    ax.xaxis.set_major_formatter(label)
    ax.xaxis.set_minor_formatter(label)
    ax.tick_params(axis="x", which="minor", labelsize=8, labelcolor="#59636e")
