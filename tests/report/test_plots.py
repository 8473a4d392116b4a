from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from radonspec.report.groupplots import Estimates, Panel, highlight_figure, shrinkage_figure
from radonspec.report.plots import MODEL_COLOURS, palette, ppc_figure, to_png, warm_up

PNG = b"\x89PNG\r\n\x1a\n"


def test_palette_is_assigned_once_in_order_and_never_runs_out() -> None:
    colours = palette(["a", "b", "c"])
    assert list(colours.values()) == list(MODEL_COLOURS[:3])
    many = palette([f"m{i}" for i in range(30)])
    assert len(set(many.values())) == 30


def test_the_warm_up_figure_draws_without_warnings_in_a_thread() -> None:
    # watch draws it in a background thread; filterwarnings=error turns a layout warning
    # (a figure too small for its legend) into a failure here
    import threading

    errors: list[BaseException] = []

    def draw() -> None:
        try:
            warm_up()
        except BaseException as exc:  # noqa: BLE001 - handed to the test's thread
            errors.append(exc)

    thread = threading.Thread(target=draw)
    thread.start()
    thread.join()
    assert errors == []


def _texts(figure: Any) -> tuple[str, list[str], list[str], bool]:
    axes = [ax for ax in figure.axes if ax.get_visible()]
    title = figure._suptitle.get_text() if figure._suptitle else ""
    has_legend = bool(figure.legends) or any(ax.get_legend() for ax in axes)
    return title, [ax.get_xlabel() for ax in axes], [ax.get_ylabel() for ax in axes], has_legend


def predictive_tree(observed: np.ndarray, replicated: np.ndarray) -> Any:
    """A fit's groups as the predictive check reads them: observed and replicated data."""
    import xarray as xr

    n = observed.size
    return xr.DataTree.from_dict(
        {
            "observed_data": xr.Dataset({"count": ("__obs__", observed)}),
            "posterior_predictive": xr.Dataset(
                {"count": (("chain", "draw", "__obs__"), replicated.reshape(2, -1, n))}
            ),
        }
    )


@pytest.mark.parametrize("discrete", [False, True])
def test_ppc_figure_has_title_labels_and_legend(discrete: bool) -> None:
    from dataclasses import replace

    from radonspec.analysis.predictive import predictive_check

    rng = np.random.default_rng(0)
    observed = rng.poisson(3, 60).astype(float) if discrete else rng.normal(size=60)
    replicated = rng.poisson(3, (80, 60)).astype(float) if discrete else rng.normal(size=(80, 60))
    check = predictive_check(predictive_tree(observed, replicated), discrete=discrete, pit=False)
    assert check.kind == ("frequencies" if discrete else "density")
    from radonspec.analysis.predictive import pit_ecdf

    figure = ppc_figure("m", "#0072B2", replace(check, pit_ecdf=pit_ecdf(rng.uniform(size=60))))
    title, xlabels, ylabels, legend = _texts(figure)
    assert title == "Posterior predictive check: m"
    assert xlabels == ["count", "LOO-PIT value"] and all(ylabels) and legend
    assert to_png(figure).startswith(PNG)


@pytest.mark.parametrize(
    ("a", "b"), [(1.0, 1.0), (1.0, 0.6), (0.6, 1.0), (0.6, 0.6), (1.6, 1.6)],
    ids=["calibrated", "too-low", "too-high", "too-narrow", "too-wide"],
)  # fmt: skip
def test_the_loo_pit_legend_never_covers_the_curve_or_its_envelope(a: float, b: float) -> None:
    """A model predicting too low ran its Δ-ECDF under a legend in the lower right corner."""
    from dataclasses import replace

    from matplotlib.transforms import Bbox

    from radonspec.analysis.predictive import pit_ecdf, predictive_check

    rng = np.random.default_rng(5)
    check = predictive_check(
        predictive_tree(rng.normal(size=60), rng.normal(size=(80, 60))), discrete=False, pit=False
    )
    pit = pit_ecdf(rng.beta(a, b, size=60))
    figure = ppc_figure("m", "#0072B2", replace(check, pit_ecdf=pit))
    figure.canvas.draw()
    ax = figure.axes[1]
    legend = ax.get_legend().get_window_extent()
    curve = ax.lines[0]
    assert (
        not curve.get_transform()
        .transform_path(curve.get_path())
        .intersects_bbox(legend, filled=False)
    )
    x, _, lower, upper = pit
    envelope = Bbox.union([Bbox(ax.transData.transform([[0, lower.min()], [1, upper.max()]]))])
    assert not envelope.overlaps(legend)


def _estimates(sizes: np.ndarray) -> list[Estimates]:
    rng = np.random.default_rng(2)
    groups = tuple(f"s{i}" for i in range(len(sizes)))
    shown = []
    for model in ("pooled", "hierarchical"):
        mean = rng.normal(1.0, 0.5, len(sizes))
        shown.append(
            Estimates(
                model, sizes, mean, mean - 0.3, mean + 0.3, 1.0, 0.9, 1.1, groups=groups
            )  # fmt: skip
        )
    return shown


def test_groups_of_one_size_are_ranked_by_their_mean_and_named() -> None:
    """Balanced designs: size says nothing, and a spread log axis suggested sizes that differ."""
    from radonspec.report.groupplots import estimates_figure

    shown = _estimates(np.full(12, 10))
    figure = estimates_figure(shown, {"pooled": "#0072B2", "hierarchical": "#D55E00"}, "y")
    title, xlabels, _, legend = _texts(figure)
    assert title == "Group estimates ranked (each group: 10 observations): y" and legend
    assert xlabels == ["group, ranked by its mean"] * 2
    for ax, est in zip(figure.axes, shown, strict=True):
        assert ax.get_xscale() == "linear"
        names = [t.get_text() for t in ax.get_xticklabels()]
        assert names == [est.groups[k] for k in np.argsort(est.mean)]  # each panel its order
        ranks = ax.collections[1].get_offsets()[:, 0]  # the points (after the intervals)
        assert sorted(ranks) == list(range(1, 13))
        assert ranks[np.argmin(est.mean)] == 1 and ranks[np.argmax(est.mean)] == 12


def test_groups_of_differing_sizes_stay_on_a_log_axis_of_size() -> None:
    from radonspec.report.groupplots import estimates_figure

    sizes = np.array([1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 10, 10])
    figure = estimates_figure(
        _estimates(sizes), {"pooled": "#0072B2", "hierarchical": "#D55E00"}, "y"
    )
    title, xlabels, _, _ = _texts(figure)
    assert title == "Group estimates by group size: y"
    assert xlabels == ["observations in group (log scale)"] * 2
    assert all(ax.get_xscale() == "log" for ax in figure.axes)


def test_short_names_of_few_groups_read_level_and_others_stand_on_end() -> None:
    from dataclasses import replace

    from radonspec.report.groupplots import estimates_figure

    colours = {"pooled": "#0072B2", "hierarchical": "#D55E00"}
    judges = [
        replace(e, groups=tuple(str(i) for i in range(1, 10))) for e in _estimates(np.full(9, 8))
    ][:1]
    (ax,) = estimates_figure(judges, colours, "y").axes
    assert {t.get_rotation() for t in ax.get_xticklabels()} == {0.0}
    items = _estimates(np.full(12, 10))  # two panels of twelve
    assert all(
        {t.get_rotation() for t in ax.get_xticklabels()} == {90.0}
        for ax in estimates_figure(items, colours, "y").axes
    )


def test_many_groups_of_one_size_are_ranked_without_names() -> None:
    from radonspec.report.groupplots import estimates_figure

    figure = estimates_figure(
        _estimates(np.full(85, 4)), {"pooled": "#0072B2", "hierarchical": "#D55E00"}, "y"
    )
    assert all(
        not any(t.get_text().startswith("s") for t in ax.get_xticklabels()) for ax in figure.axes
    )


def test_a_continuous_family_with_whole_number_data_gets_densities_of_bounded_size() -> None:
    """Diameters in whole millimetres: one bar per distinct replicated value hung the report."""
    from radonspec.analysis.predictive import PPC_DRAWS, predictive_check

    rng = np.random.default_rng(1)
    observed = np.round(rng.normal(24, 2, 5_000))  # 15-ish distinct whole numbers
    replicated = rng.normal(24, 2, (400, 5_000))  # every replicated value distinct
    check = predictive_check(predictive_tree(observed, replicated), discrete=False, pit=False)
    assert check.kind == "density" and check.draws == PPC_DRAWS
    assert check.curves.shape[0] == PPC_DRAWS and check.curves.size < 200_000


def test_shrinkage_figure_draws_prior_dominated_estimates_on_the_edge() -> None:
    n = np.array([1, 2, 5, 10, 20, 40, 60, 80, 100, 120])
    wild = np.array([40.0, 1.0, 1.2, 0.8, 1.1, 0.9, 1.0, 1.05, 0.95, 1.0])
    before = [Estimates("unpooled", n, wild, wild - 1, wild + 1)]
    after = [Estimates("hierarchical", n, np.full(10, 1.0), np.zeros(10), np.full(10, 2.0), 1.0)]
    colours = {"unpooled": "#D55E00", "hierarchical": "#009E73"}
    figure, clipped = shrinkage_figure(before, after, colours, ["intercept"])
    assert clipped == 1
    title, xlabels, ylabels, legend = _texts(figure)
    assert figure.axes[0].get_title() == "Partial pooling: unpooled → hierarchical"
    assert xlabels == ["observations in group (log scale)"] and ylabels == ["intercept"] and legend
    assert figure.axes[0].get_ylim()[1] < 10


def test_highlight_figure_has_one_panel_per_group() -> None:
    x = np.array([0.0, 1.0, 1.0])
    line = (np.linspace(0, 1, 5), np.zeros(5), -np.ones(5), np.ones(5))
    panels = [Panel(f"g = {i}", x, x * 2, {"a": line, "b": line}) for i in range(5)]
    figure = highlight_figure(panels, {"a": "#000000", "b": "#111111"}, "x", "y")
    title, xlabels, ylabels, legend = _texts(figure)
    assert len([ax for ax in figure.axes if ax.get_visible()]) == 5
    assert title == "Fitted lines in selected groups" and legend
    assert set(xlabels) == {"x"} and ylabels == ["y", "", "", "", "y"]  # first column only


def test_prior_predictive_figures_put_absurd_priors_on_a_readable_axis() -> None:
    from radonspec.report.priorplots import PriorRow, prior_datasets_figure, prior_intervals_figure

    rng = np.random.default_rng(0)
    observed = rng.normal(1.0, 0.8, 200)
    rows = [
        PriorRow("vague", "#0072B2", rng.normal(0, 100, (50, 200))),
        PriorRow("sensible", "#D55E00", rng.normal(1, 1, (50, 200))),
    ]
    figure = prior_intervals_figure(observed, rows, "log_radon")
    ax = figure.axes[0]
    assert ax.get_xscale() == "asinh"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["observed data", "vague", "sensible"]
    assert ax.get_xlim()[1] > 100  # the vague prior's 98% interval is on the page
    assert "logarithmic beyond" in ax.get_xlabel() and figure.legends
    assert to_png(figure).startswith(PNG)
    figure = prior_datasets_figure(observed, rows, "log_radon")
    titles = [ax.get_title() for ax in figure.axes if ax.get_visible()]
    vague, share = titles[0].split("\n")
    assert vague == "vague" and share.endswith("% of values outside this window")
    assert int(share.split("%")[0]) > 90
    assert titles[1] == "sensible\n0% of values outside this window"
    # a data set piling up in one bin is cut at the top instead of flattening the rest
    assert figure.axes[0].get_ylim()[1] < 1.0
    assert to_png(figure).startswith(PNG)


@pytest.fixture(autouse=True)
def _no_open_figures() -> Iterator[None]:
    # the report draws on Figure objects, never through pyplot's global state
    import matplotlib.pyplot as plt

    before = len(plt.get_fignums())
    yield
    assert len(plt.get_fignums()) == before


def test_a_figure_is_drawn_again_only_when_what_it_shows_changed() -> None:
    from matplotlib.figure import Figure

    from radonspec.report import plots

    drawn: list[float] = []

    def draw(values: np.ndarray, label: str) -> tuple[Figure, int]:
        drawn.append(float(values.sum()))
        figure = Figure(figsize=(2, 1))
        figure.add_subplot().plot(values, label=label)
        return figure, len(values)

    first, count = plots.rendered(draw, np.arange(3.0), "a")
    assert first.startswith(b"\x89PNG") and count == 3
    assert plots.rendered(draw, np.arange(3.0), "a") == (first, 3) and len(drawn) == 1
    assert plots.rendered(draw, np.arange(3.0) + 1, "a")[0] != first and len(drawn) == 2
    plots.rendered(draw, np.arange(3.0), "b")
    assert len(drawn) == 3


def _size_labels(sizes: np.ndarray) -> list[str]:
    """The labelled ticks of a size axis, as drawn."""
    from radonspec.report.groupplots import estimates_figure

    colours = {"pooled": "#0072B2", "hierarchical": "#D55E00"}
    ax = estimates_figure(_estimates(sizes)[:1], colours, "y").axes[0]
    ax.figure.canvas.draw()
    low, high = ax.get_xlim()
    shown = [
        (label.get_position()[0], label.get_text())
        for label in ax.get_xticklabels(which="both")
        if label.get_text() and low <= label.get_position()[0] <= high
    ]
    return [text for _, text in sorted(shown)]


def test_a_size_axis_under_a_tenfold_range_is_labelled_up_to_its_largest_group() -> None:
    # cbpp's herds: 1 to 4 periods each; only 1 and 2 were labelled, the points at 4 past them
    assert _size_labels(np.array([1, 4, 4, 4, 3, 4, 4, 4, 4, 4, 4, 4])) == ["1", "2", "3", "4"]
    # radon's counties (1 to 116 homes): 1, 2, 5, 10, ... as before, no 3 or 4 crowding them
    wide = _size_labels(np.array([1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 116, 10]))
    assert wide == ["1", "2", "5", "10", "20", "50", "100"]


def test_a_binomial_response_with_trials_reads_as_its_count_out_of_the_trials() -> None:
    from radonspec.report.plots import response_label

    assert response_label("p(incidence, size)") == "incidence (out of size)"
    assert response_label("p(y,n)") == "y (out of n)"
    for other in ("log_radon", "log(Volume)", "pp(y)", "use[Y]"):
        assert response_label(other) == other
