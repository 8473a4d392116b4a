"""The report's figures, drawn with matplotlib's object API on the Agg canvas.

Every function takes plain arrays or records and returns a ``Figure``; nothing
here knows what the data are about. One colour per model, assigned once by
``palette`` from the study's model order, is passed in by the caller so a model
looks the same in every figure of a report.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from radonspec.analysis.predictive import PredictiveCheck
from radonspec.report import drawer, figures

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from radonspec.report.drawer import Pending

DPI = 110
WIDTH = 9.0  # inches: 990 px at DPI, the width of the report's column
# Okabe & Ito's colour-blind safe palette without its yellow (too pale on white)
MODEL_COLOURS = (
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#882255", "#117733",
)  # fmt: skip
OBSERVED = "#222222"
NEUTRAL = "#8c8c8c"
STYLE: dict[str, Any] = {
    "font.size": 10,
    "axes.titlesize": 10.5,
    "axes.labelsize": 10,
    "legend.fontsize": 9,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.25,
    "grid.linewidth": 0.6,
    "figure.titlesize": 12,
}


def palette(names: Sequence[str]) -> dict[str, str]:
    """One colour per model name, in order; assigned once per report."""
    colours = list(MODEL_COLOURS)
    missing = len(names) - len(colours)
    if missing > 0:
        import matplotlib as mpl

        tab20 = mpl.colormaps["tab20"]
        colours += [mpl.colors.to_hex(tab20(i)) for i in range(min(missing, 20))]
        # past 28 models, distinct hues matter more than a curated look
        wheel = mpl.colormaps["hsv"]
        colours += [mpl.colors.to_hex(wheel(i / (missing - 20))) for i in range(missing - 20)]
    return {name: colours[i] for i, name in enumerate(names)}


def to_png(figure: Figure) -> bytes:
    """Render a figure to PNG bytes (no timestamp, so equal figures give equal bytes)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def rendered(draw: Callable[..., Any], *args: Any) -> Any:
    """``to_png(draw(*args))``, drawn once per digest of what it shows (``report.figures``).

    A drawing that returns ``(figure, extra, ...)`` gives ``(png, extra, ...)``. The PNG
    is kept in this process and, inside ``figures.kept_figures(folder)``, in that folder;
    a drawing whose arguments cannot be digested is drawn every time.
    """
    return figures.rendered(f"{draw.__module__}:{draw.__qualname__}", draw, args, to_png)


def figure(draw: Callable[..., Figure], *args: Any) -> bytes | Pending:
    """``rendered`` for a drawing that returns a figure alone: it may be drawn meanwhile.

    Inside ``drawer.drawing_with(drawer)`` an idle drawer process draws it while this
    process goes on; ``Image.png`` waits for it.
    """
    return drawer.figure(f"{draw.__module__}:{draw.__qualname__}", draw, args, to_png)


@contextlib.contextmanager
def style() -> Iterator[None]:
    """The report's matplotlib style, for the drawing inside the block."""
    import matplotlib as mpl

    # rcParams are read when artists are created, so the whole drawing runs inside
    with mpl.rc_context(STYLE):  # type: ignore[arg-type]
        yield


def new_figure(nrows: int, ncols: int, height: float, **kwargs: Any) -> tuple[Figure, np.ndarray]:
    """A constrained-layout figure of the report's width with a grid of axes."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH, height), layout="constrained")
    axes = figure.subplots(nrows, ncols, squeeze=False, **kwargs)
    return figure, axes


def warm_up() -> None:
    """Draw a small figure and discard it, so the report's first real one is drawn warm.

    A process's first figure pays about a second for matplotlib's drawing modules, its
    font list and the first font: ``watch`` calls this in the background while the user
    edits, instead of after the edit's fit.
    """
    from matplotlib.lines import Line2D

    # no ``style()``: it sets matplotlib's global rcParams and restores them on leaving,
    # which would undo the style of a figure drawn meanwhile in the main thread
    figure, axes = new_figure(1, 1, 2.0)
    axes[0, 0].set_title("warm-up")
    axes[0, 0].set_xlabel("x")
    figure.legend(handles=[Line2D([], [], label="y")], loc="outside lower center")
    to_png(figure)


def log_x(ax: Axes) -> None:
    """A log x axis labelled 1, 2, 5, 10, 20, ... instead of powers of ten.

    An axis spanning less than a tenfold range is labelled at 3 and 4 (30, 40, ...) too:
    groups of 1 to 4 observations would otherwise show only 1 and 2, the points at 4
    beyond the last label.
    """
    import matplotlib as mpl

    def minor(value: float, _: int) -> str:
        low, high = sorted(ax.get_xlim())
        if low <= 0 or high / low >= 10:
            return ""
        mantissa = value / 10 ** np.floor(np.log10(value))
        return f"{value:g}" if np.isclose(mantissa, 3) or np.isclose(mantissa, 4) else ""

    ax.set_xscale("log")
    ax.xaxis.set_major_locator(mpl.ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(mpl.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(mpl.ticker.FuncFormatter(minor))


def _headroom(ax: Axes) -> None:
    """Room above the data for a legend in the upper corner."""
    low, high = ax.get_ylim()
    ax.set_ylim(low, high + 0.25 * (high - low))


def hide_unused(axes: np.ndarray, used: int) -> None:
    """Hide the panels of a grid past the ``used`` first ones."""
    for ax in axes.ravel()[used:]:
        ax.set_visible(False)


# -- posterior predictive checks ------------------------------------------------------------


def is_discrete(values: np.ndarray, max_levels: int = 25) -> bool:
    """Whether observed values are counts or categories: integer-valued with few levels."""
    finite = values[np.isfinite(values)]
    return bool(np.all(finite == np.round(finite)) and np.unique(finite).size <= max_levels)


def ppc_figure(model: str, colour: str, check: PredictiveCheck) -> Figure:
    """Observed against replicated data (density or frequencies) and the LOO-PIT Δ-ECDF.

    ``check`` is the analysis' summary of the fit's predictive draws
    (``compare.predictive.predictive_check``); without LOO-PIT values the right panel
    is left out.
    """
    with style():
        figure, axes = new_figure(1, 2 if check.pit_ecdf is not None else 1, 3.6)
        if check.kind == "frequencies":
            _frequencies(axes[0, 0], colour, check)
        else:
            _densities(axes[0, 0], colour, check)
        if check.pit_ecdf is not None:
            _loo_pit(axes[0, 1], colour, check.pit_ecdf)
        figure.suptitle(f"Posterior predictive check: {model}")
    return figure


def response_label(response: str) -> str:
    """The response as an axis reads it: Bambi's ``p(cases, herd_size)`` is the cases' count.

    A binomial response with trials is the count of successes, each out of its row's
    trials: ``cases (out of herd_size)``; a censored one is its values, ``time
    (censored)``. Any other response keeps Bambi's name.
    """
    from radonspec.study.formula import response_call

    call = response_call(response)
    if call is not None and call[0] == "p" and len(call[1]) == 2:
        return f"{call[1][0]} (out of {call[1][1]})"
    if call is not None and call[0] == "censored" and call[1]:
        return f"{call[1][0]} (censored)"
    return response


def _densities(ax: Axes, colour: str, check: PredictiveCheck) -> None:
    from matplotlib.lines import Line2D

    for grid, density in check.curves:
        ax.plot(grid, density, color=colour, alpha=0.18, linewidth=0.8)
    ax.plot(check.observed[0], check.observed[1], color=OBSERVED, linewidth=2.0)
    ax.set_xlabel(response_label(check.response))
    ax.set_ylabel("density")
    ax.set_title("Observed vs replicated data")
    _headroom(ax)
    ax.legend(
        handles=[
            Line2D([], [], color=OBSERVED, linewidth=2.0, label="observed"),
            Line2D([], [], color=colour, alpha=0.6, label=f"replicated ({check.draws} draws)"),
        ],
        loc="upper right",
    )


def _frequencies(ax: Axes, colour: str, check: PredictiveCheck) -> None:
    import matplotlib as mpl
    from matplotlib.lines import Line2D

    values = np.asarray(check.values, dtype=float)
    low, mid, high = np.asarray(check.replicated, dtype=float)
    ax.bar(values, check.observed_share, width=0.8, color="none", edgecolor=OBSERVED, linewidth=1.4)
    ax.errorbar(values, mid, yerr=[mid - low, high - mid], fmt="o", color=colour, capsize=3)
    ax.set_xlabel(response_label(check.response))
    ax.set_ylabel("share of observations")
    ax.set_title("Observed vs replicated frequencies")
    if check.labels:
        ax.set_xticks(values, list(check.labels), rotation=30 if len(values) > 6 else 0)
    else:
        ax.xaxis.set_major_locator(mpl.ticker.MaxNLocator(integer=True))
    _headroom(ax)
    ax.legend(
        handles=[
            mpl.patches.Patch(facecolor="none", edgecolor=OBSERVED, label="observed"),
            Line2D([], [], color=colour, marker="o", label="replicated: median, 89% interval"),
        ],
        loc="upper right",
    )


def _loo_pit(ax: Axes, colour: str, pit_ecdf: np.ndarray) -> None:
    # the simultaneous envelope is what makes the Δ-ECDF readable (pointwise bands would
    # flag ~5% of points by chance); both come from the analysis (predictive.pit_ecdf)
    import matplotlib as mpl
    from matplotlib.lines import Line2D

    x, delta, lower, upper = np.asarray(pit_ecdf, dtype=float)
    ax.fill_between(x, lower, upper, color=NEUTRAL, alpha=0.25, step="post")
    ax.step(x, delta, where="post", color=colour, linewidth=1.6)
    ax.axhline(0.0, color=NEUTRAL, linewidth=0.8)
    ax.set_xlim(0, 1)
    # the legend gets a band of its own above the curve and the envelope, which it never
    # covers: a miscalibrated model's curve runs far from zero, wherever that is
    top = float(np.nanmax([upper.max(), delta.max()]))
    bottom = float(np.nanmin([lower.min(), delta.min()]))
    span = top - bottom or 1.0
    ax.set_ylim(bottom - 0.05 * span, top + 0.3 * span)
    ax.set_xlabel("LOO-PIT value")
    ax.set_ylabel("ECDF − uniform CDF")
    ax.set_title("LOO-PIT calibration (Δ-ECDF)")
    ax.legend(
        handles=[
            Line2D([], [], color=colour, linewidth=1.6, label="LOO-PIT Δ-ECDF"),
            mpl.patches.Patch(color=NEUTRAL, alpha=0.25, label="95% simultaneous envelope"),
        ],
        loc="upper center",
        ncol=2,
        fontsize="small",
        handlelength=1.5,
        columnspacing=1.2,
        frameon=True,
        framealpha=0.9,
        edgecolor="none",
    )


# -- prior vs posterior ---------------------------------------------------------------------


def prior_posterior_figure(
    model: str, colour: str, pairs: Sequence[tuple[str, np.ndarray, np.ndarray]]
) -> Figure:
    """One panel per parameter: prior and posterior densities from their draws.

    The x range follows the posterior, widened to the prior's bulk only when the
    prior is not much wider: a vague prior then shows as a flat line, which is
    what it is over the region the data favour.
    """
    import arviz_stats as azs
    from matplotlib.lines import Line2D

    ncols = min(3, len(pairs))
    nrows = -(-len(pairs) // ncols)
    with style():
        figure, axes = new_figure(nrows, ncols, 2.4 * nrows + 0.6)
        for ax, (label, prior, posterior) in zip(axes.ravel(), pairs, strict=False):
            prior, posterior = np.ravel(prior), np.ravel(posterior)
            post_lo, post_hi = np.quantile(posterior, [0.005, 0.995])
            pad = post_hi - post_lo or 1.0
            lo, hi = post_lo - pad, post_hi + pad
            prior_lo, prior_hi = np.quantile(prior, [0.01, 0.99])
            if prior_hi - prior_lo < 10 * pad:
                lo, hi = min(lo, prior_lo), max(hi, prior_hi)
            inside = prior[(prior >= lo) & (prior <= hi)]
            if inside.size > 1:
                grid, density, _ = azs.kde(inside, bound_correction=False)
                # draws outside the window still count in the prior's total mass
                ax.plot(grid, density * inside.size / prior.size, color=NEUTRAL, linestyle="--")
            grid, density, _ = azs.kde(posterior, bound_correction=False)
            ax.plot(grid, density, color=colour, linewidth=1.8)
            ax.set_xlim(lo, hi)
            ax.set_title(label)
            ax.set_xlabel("value")
            ax.set_ylabel("density")
        hide_unused(axes, len(pairs))
        axes[0, 0].legend(
            handles=[
                Line2D([], [], color=NEUTRAL, linestyle="--", label="prior"),
                Line2D([], [], color=colour, linewidth=1.8, label="posterior"),
            ],
            loc="upper right",
        )
        figure.suptitle(f"Prior vs posterior, population-level effects: {model}")
    return figure
