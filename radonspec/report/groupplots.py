"""Figures of the group-level views: shrinkage, estimates by group size, fitted lines.

Drawn like every figure of the report (``radonspec.report.plots``): plain arrays
in, a matplotlib ``Figure`` out, each model in its palette colour.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from radonspec.report.plots import NEUTRAL, OBSERVED, hide_unused, log_x, new_figure, style

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


@dataclass(frozen=True)
class Estimates:
    """One model's per-group estimates of one quantity, as the group figures need them."""

    model: str
    n: np.ndarray  # observations per group
    mean: np.ndarray
    lb: np.ndarray
    ub: np.ndarray
    population: float | None = None
    population_lb: float | None = None
    population_ub: float | None = None
    groups: tuple[str, ...] = ()  # the groups' names, in the order of ``n`` (when known)


def common_size(estimates: Sequence[Estimates]) -> int | None:
    """The number of observations every group has, when all groups have the same (else None).

    Balanced designs (subjects measured the same number of times, items answered by every
    person) make group size say nothing: their estimates are drawn ranked instead.
    """
    sizes = np.unique(np.concatenate([np.asarray(e.n, dtype=float) for e in estimates]))
    return int(sizes[0]) if sizes.size == 1 else None


#: Ranked group estimates are labelled by name up to this many groups.
MAX_NAMED_GROUPS = 30


def _sizes(n: np.ndarray, largest: float) -> np.ndarray:
    """Marker areas growing with the square root of the group size."""
    return 10 + 90 * np.sqrt(np.asarray(n, dtype=float) / max(largest, 1.0))


def _size_legend(figure: Figure, ax: Axes, n: np.ndarray, **kwargs: Any) -> Any:
    picks = sorted({int(np.min(n)), int(np.median(n)), int(np.max(n))})
    handles = [
        ax.scatter([], [], s=_sizes(np.array([k]), np.max(n))[0], color=NEUTRAL, label=f"n = {k}")
        for k in picks
    ]
    return figure.legend(handles=handles, title="group size", **kwargs)


def _range(values: Sequence[np.ndarray], core: Sequence[np.ndarray]) -> tuple[float, float]:
    """Axis limits: everything in ``core``, and ``values`` up to Tukey's outer fences.

    The fences lie three interquartile ranges beyond the quartiles; an estimate
    past them (typically a no-pooling estimate of a tiny group that only its prior
    pins down) would squash everything else, so callers draw it on the edge.
    """
    lows = [float(np.nanmin(c)) for c in core if np.size(c)]
    highs = [float(np.nanmax(c)) for c in core if np.size(c)]
    for v in values:
        if np.size(v):
            q1, q3 = np.nanquantile(v, [0.25, 0.75])
            fence = 3.0 * (q3 - q1)
            lows.append(max(float(np.nanmin(v)), q1 - fence))
            highs.append(min(float(np.nanmax(v)), q3 + fence))
    lo, hi = min(lows), max(highs)
    pad = 0.08 * (hi - lo or 1.0)
    return lo - pad, hi + pad


def _clip(values: np.ndarray, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
    """Values pulled inside ``[lo, hi]``, and which ones were outside."""
    outside = (values < lo) | (values > hi)
    return np.clip(values, lo, hi), outside


def shrinkage_figure(
    before: Sequence[Estimates],
    after: Sequence[Estimates],
    colours: Mapping[str, str],
    labels: Sequence[str],
) -> tuple[Figure, int]:
    """Arrows from one model's group estimates to another's.

    With two quantities (``before``/``after`` hold intercept and slope) the plane is
    intercept against slope; with one, the estimate against group size. Returns
    the figure and the number of ``before`` points outside the drawn range,
    drawn on its edge as triangles.
    """
    with style():
        figure, axes = new_figure(1, 1, 5.6)
        ax = axes[0, 0]
        first, last = before[0], after[0]
        largest = float(np.max(first.n))
        if len(before) == 2:
            xs0, ys0, xs1, ys1 = before[0].mean, before[1].mean, after[0].mean, after[1].mean
            xlim = _range([xs0], [xs1])
            ylim = _range([ys0], [ys1])
            ax.set_xlabel(labels[0])
            ax.set_ylabel(labels[1])
        else:
            xs0 = xs1 = np.asarray(first.n, dtype=float)
            ys0, ys1 = first.mean, last.mean
            lo = max(float(np.min(xs0)) / 1.3, 0.5)
            xlim = (lo, float(np.max(xs0)) * 1.3)
            ylim = _range([ys0], [ys1])
            log_x(ax)
            ax.set_xlabel("observations in group (log scale)")
            ax.set_ylabel(labels[0])
        cx, out_x = _clip(np.asarray(xs0, dtype=float), *xlim)
        cy, out_y = _clip(np.asarray(ys0, dtype=float), *ylim)
        outside = out_x | out_y
        sizes = _sizes(first.n, largest)
        for x0, y0, x1, y1 in zip(cx, cy, xs1, ys1, strict=True):
            ax.annotate(
                "",
                xy=(x1, y1),
                xytext=(x0, y0),
                arrowprops={"arrowstyle": "-|>", "color": NEUTRAL, "lw": 0.7, "alpha": 0.7},
            )
        inside = ~outside
        ax.scatter(
            cx[inside], cy[inside], s=sizes[inside], facecolors="none",
            edgecolors=colours[first.model], linewidths=1.2, label=first.model,
        )  # fmt: skip
        if outside.any():
            ax.scatter(
                cx[outside], cy[outside], s=40, marker=_edge_marker(out_x, out_y, cx, cy, xlim,
                ylim), color=colours[first.model], label=f"{first.model}, outside the range",
            )  # fmt: skip
        ax.scatter(xs1, ys1, s=sizes, color=colours[last.model], alpha=0.85, label=last.model)
        _population_marks(ax, after, len(before) == 2, colours)
        ax.set_xlim(*xlim)
        ax.set_ylim(*ylim)
        handles, names = ax.get_legend_handles_labels()
        figure.legend(handles, names, loc="outside right upper", title="model")
        _size_legend(figure, ax, first.n, loc="outside right lower")
        ax.set_title(f"Partial pooling: {first.model} → {last.model}")
    return figure, int(outside.sum())


def _edge_marker(
    out_x: np.ndarray,
    out_y: np.ndarray,
    cx: np.ndarray,
    cy: np.ndarray,
    xlim: tuple[float, float],
    ylim: tuple[float, float],
) -> str:
    # one marker for all clipped points: the side most of them left through
    sides = []
    for i in np.flatnonzero(out_x | out_y):
        if out_y[i]:
            sides.append("^" if cy[i] >= ylim[1] else "v")
        else:
            sides.append(">" if cx[i] >= xlim[1] else "<")
    return max(set(sides), key=sides.count)


def _population_marks(
    ax: Axes, after: Sequence[Estimates], plane: bool, colours: Mapping[str, str]
) -> None:
    last = after[0]
    if plane and after[0].population is not None and after[1].population is not None:
        ax.scatter(
            [after[0].population], [after[1].population], marker="X", s=110, color=OBSERVED,
            zorder=5, label=f"population mean ({last.model})",
        )  # fmt: skip
    elif not plane and last.population is not None:
        ax.axhline(
            last.population, color=colours[last.model], linestyle="--", linewidth=1.0,
            label=f"population mean ({last.model})",
        )  # fmt: skip


def estimates_figure(
    estimates: Sequence[Estimates], colours: Mapping[str, str], label: str
) -> Figure:
    """Each model's group estimates (mean, 89% interval) against group size, population line.

    One panel per model, sharing the y axis, so complete, no and partial pooling
    read side by side. When every group has the same size (``common_size``), each panel
    shows its groups ranked by their mean instead.
    """
    import matplotlib as mpl
    from matplotlib.lines import Line2D

    ncols = 2 if len(estimates) == 4 else min(3, len(estimates))
    nrows = -(-len(estimates) // ncols)
    means = [e.mean for e in estimates]
    ylim = _range(means, [np.array([e.population]) for e in estimates if e.population is not None])
    common = common_size(estimates)
    with style():
        # ranked panels each order their groups: named ticks must not be shared
        named = common is not None and all(
            len(e.groups) == len(e.n) and len(e.n) <= MAX_NAMED_GROUPS for e in estimates
        )
        # short names (judges 1-9) read level; longer or many stand on end, with room below
        upright = named and all(
            len(e.n) * ncols <= 12 and max(map(len, e.groups), default=0) <= 3 for e in estimates
        )
        height = (3.3 + (1.0 if named and not upright else 0.0)) * nrows + 0.5
        figure, axes = new_figure(nrows, ncols, height, sharey=True, sharex=common is None)
        rng = np.random.default_rng(0)
        for i, (ax, est) in enumerate(zip(axes.ravel(), estimates, strict=False)):
            colour = colours[est.model]
            order = np.argsort(np.asarray(est.mean, dtype=float), kind="stable")
            ranks = np.arange(1, len(order) + 1)
            if common is None:
                # groups of equal size would hide each other: spread them a little (log scale)
                n = np.asarray(est.n, dtype=float) * np.exp(rng.uniform(-0.07, 0.07, len(est.n)))
            else:  # size says nothing: rank 1 is the group with the lowest mean
                n = np.empty(len(order))
                n[order] = ranks
            mean, outside = _clip(np.asarray(est.mean, dtype=float), *ylim)
            ax.vlines(n, est.lb, est.ub, color=colour, alpha=0.45, linewidth=1.0)
            ax.scatter(n[~outside], mean[~outside], s=14, color=colour, zorder=3)
            for side, marker in ((mean >= ylim[1], "^"), (mean <= ylim[0], "v")):
                if (outside & side).any():
                    ax.scatter(
                        n[outside & side], mean[outside & side], s=26, marker=marker,
                        color=colour, zorder=3,
                    )  # fmt: skip
            if est.population is not None:
                ax.axhline(est.population, color=OBSERVED, linestyle="--", linewidth=1.0)
                if est.population_lb is not None and est.population_ub is not None:
                    ax.axhspan(est.population_lb, est.population_ub, color=NEUTRAL, alpha=0.15)
            if common is None:
                log_x(ax)
                ax.set_xlabel("observations in group (log scale)")
            elif named:
                names = [est.groups[k] for k in order]
                ax.set_xticks(ranks, names, rotation=0 if upright else 90)
                ax.tick_params(axis="x", labelsize="small")
                ax.set_xlabel("group, ranked by its mean")
            else:
                ax.xaxis.set_major_locator(mpl.ticker.MaxNLocator(integer=True))
                ax.set_xlabel("group, ranked by its mean")
            # a panel above an empty slot is a bottom panel too: keep its tick labels
            ax.tick_params(labelbottom=True)
            ax.set_ylim(*ylim)
            ax.set_title(est.model)
            ax.set_ylabel(label if i % ncols == 0 else "")  # shared y: label the first column
        hide_unused(axes, len(estimates))
        figure.legend(
            handles=[
                Line2D([], [], color=NEUTRAL, marker="o", label="group: mean and 89% interval"),
                Line2D([], [], color=OBSERVED, linestyle="--", label="population mean"),
                mpl.patches.Patch(color=NEUTRAL, alpha=0.15, label="population 89% interval"),
            ],
            loc="outside lower center",
            ncols=3,
        )
        by = "by group size" if common is None else f"ranked (each group: {common} observations)"
        figure.suptitle(f"Group estimates {by}: {label}")
    return figure


@dataclass(frozen=True)
class Panel:
    """One highlighted group: its data and each model's fitted line with an 89% band."""

    title: str
    x: np.ndarray
    y: np.ndarray
    lines: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]  # x, mean, lb, ub


def highlight_figure(
    panels: Sequence[Panel], colours: Mapping[str, str], xlabel: str, ylabel: str
) -> Figure:
    """Small multiples: one panel per group, data points and every model's fitted line."""
    from matplotlib.lines import Line2D

    ncols = min(4, len(panels))
    nrows = -(-len(panels) // ncols)
    every_x = np.concatenate([p.x for p in panels])
    few_values = np.unique(every_x).size <= 10
    span = float(np.ptp(every_x)) or 1.0
    ys = [p.y for p in panels] + [line[1] for p in panels for line in p.lines.values()]
    ylim = _range([], ys)
    rng = np.random.default_rng(0)
    with style():
        figure, axes = new_figure(nrows, ncols, 3.0 * nrows + 0.9, sharey=True, sharex=True)
        for i, (ax, panel) in enumerate(zip(axes.ravel(), panels, strict=False)):
            for model, (x, mean, lb, ub) in panel.lines.items():
                ax.fill_between(x, lb, ub, color=colours[model], alpha=0.15, linewidth=0)
                ax.plot(x, mean, color=colours[model], linewidth=1.8)
            jitter = rng.uniform(-0.03, 0.03, panel.x.size) * span if few_values else 0.0
            ax.scatter(panel.x + jitter, panel.y, s=14, color=OBSERVED, alpha=0.7, zorder=3)
            ax.tick_params(labelbottom=True)
            ax.set_ylim(*ylim)
            ax.set_title(panel.title)
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel if i % ncols == 0 else "")
        hide_unused(axes, len(panels))
        handles = [Line2D([], [], color=OBSERVED, marker="o", linestyle="", label="observed")]
        models = dict.fromkeys(m for p in panels for m in p.lines)
        handles += [
            Line2D([], [], color=colours[m], linewidth=1.8, label=f"{m} (89% band)") for m in models
        ]
        figure.legend(handles=handles, loc="outside lower center", ncols=min(4, len(handles)))
        figure.suptitle("Fitted lines in selected groups")
    return figure
