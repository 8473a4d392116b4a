"""The group-level views: shrinkage, group estimates by size, fitted lines in chosen groups.

They need the built Bambi models: group estimates and fitted lines are read off
model predictions (``radonspec.compare.loo.group_estimates``), so they work for any
parametrisation of the groups.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from radonspec.compare.groups import summarise_draws
from radonspec.compare.loo import GroupEstimates, group_estimates, parameter_names
from radonspec.errors import did_you_mean
from radonspec.report import groupplots, plots
from radonspec.report.content import Content, Image, Section, attempt, response_name
from radonspec.study.schema import Study

LINE_POINTS = 25
Line = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # x, mean, lower, upper


def group_views(
    content: Content,
    study: Study,
    data: pd.DataFrame,
    trees: Mapping[str, xr.DataTree],
    models: Mapping[str, Any],
) -> Section:
    """Shrinkage, estimates against group size and fitted lines in highlighted groups."""
    section = Section()
    report = study.report
    group, predictor = report.group, report.predictor
    assert group is not None
    if group not in data.columns:
        section.notes.append(
            f"report.group '{group}' is not a column of the data"
            f"{did_you_mean(group, data.columns)}; no group-level views"
        )
        return section
    if predictor is not None and predictor not in data.columns:
        section.notes.append(
            f"report.predictor '{predictor}' is not a column of the data"
            f"{did_you_mean(predictor, data.columns)}; showing intercepts only"
        )
        predictor = None
    estimates: dict[str, GroupEstimates] = {}
    for view in content.models:
        tree, model = trees.get(view.name), models.get(view.name)
        if tree is None:
            section.notes.append(f"'{view.name}' has no group estimates: {view.error}")
        elif model is None:
            section.notes.append(
                f"'{view.name}' has no group estimates: the report was given no built model"
            )
        else:
            frame = _frame(model, data, [group, predictor])
            found = attempt(
                section.notes,
                f"The group estimates of '{view.name}'",
                group_estimates,
                model,
                tree,
                frame,
                group,
                predictor,
                name=view.name,
            )
            if found is not None:
                estimates[view.name] = found
    if report.shrinkage is not None:
        image = attempt(
            section.notes,
            "The shrinkage plot",
            _shrinkage,
            content,
            study,
            estimates,
            models,
            predictor,
        )
        if image is not None:
            section.images.append(image)
    for quantity in ("intercept", "slope") if predictor else ("intercept",):
        image = attempt(
            section.notes,
            f"The {quantity} plot",
            _estimates,
            content,
            estimates,
            quantity,
            _labels(models, list(estimates), predictor),
            group,
        )
        if image is not None:
            section.images.append(image)
    if predictor is None:
        section.notes.append("Set report.predictor to draw fitted lines in highlighted groups.")
    else:
        image = attempt(
            section.notes,
            "The fitted lines",
            _highlights,
            content,
            study,
            data,
            trees,
            models,
            predictor,
            section.notes,
        )
        if image is not None:
            section.images.append(image)
    return section


def _frame(model: Any, data: pd.DataFrame, needed: list[str | None]) -> pd.DataFrame:
    """The data the model saw when it holds the needed columns, else the study's data.

    A model that does not use the grouping column (complete pooling) was built
    on a frame without it; its predictions ignore the column either way.
    """
    frame = getattr(model, "data", None)
    if isinstance(frame, pd.DataFrame) and all(c is None or c in frame for c in needed):
        return frame
    return data


def _labels(models: Mapping[str, Any], names: list[str], predictor: str | None) -> dict[str, str]:
    """Axis labels of the group estimates, naming the link scale of the models shown."""
    links = {_link(models[name]) for name in names if name in models} - {"identity", ""}
    scale = f" ({'/'.join(sorted(links))} scale)" if links else ""
    if predictor is None:
        return {"intercept": f"group mean of the linear predictor{scale}"}
    return {
        "intercept": f"intercept at {predictor} = 0{scale}",
        "slope": f"slope of {predictor}{scale}",
    }


def _link(model: Any) -> str:
    try:
        return str(model.family.link[model.family.likelihood.parent].name)
    except (AttributeError, KeyError, TypeError):
        return ""


def _varies(found: GroupEstimates, quantity: str) -> bool:
    column = f"{quantity}_mean"
    if column not in found.table:
        return False
    values = found.table[column].to_numpy(dtype=float)
    return bool(np.ptp(values) > 1e-8 * max(1.0, float(np.abs(values).max())))


def _as_plot(
    found: GroupEstimates, quantity: str, order: pd.Series | None = None
) -> groupplots.Estimates:
    table = found.table.set_index("group")
    if order is not None:
        table = table.reindex(order)
    population = found.population
    return groupplots.Estimates(
        model=found.model,
        n=table["n"].to_numpy(dtype=float),
        mean=table[f"{quantity}_mean"].to_numpy(dtype=float),
        lb=table[f"{quantity}_lb"].to_numpy(dtype=float),
        ub=table[f"{quantity}_ub"].to_numpy(dtype=float),
        population=population.get(quantity),
        population_lb=population.get(f"{quantity}_lb"),
        population_ub=population.get(f"{quantity}_ub"),
    )


def _shrinkage(
    content: Content,
    study: Study,
    estimates: Mapping[str, GroupEstimates],
    models: Mapping[str, Any],
    predictor: str | None,
) -> Image | None:
    spec = study.report.shrinkage
    assert spec is not None
    missing = [name for name in (spec.from_, spec.to) if name not in estimates]
    if missing:
        raise ValueError(
            f"report.shrinkage names {', '.join(repr(m) for m in missing)}, which has no group"
            " estimates (see the notes above)"
        )
    before, after = estimates[spec.from_], estimates[spec.to]
    labels = _labels(models, [spec.from_, spec.to], predictor)
    order = before.table["group"]
    quantities = ["intercept", "slope"] if predictor else ["intercept"]
    plane = len(quantities) == 2 and all(_varies(e, q) for e in (before, after) for q in quantities)
    if not plane:
        quantities = ["slope"] if predictor and not _varies(after, "intercept") else ["intercept"]
    figure, clipped = groupplots.shrinkage_figure(
        [_as_plot(before, q) for q in quantities],
        [_as_plot(after, q, order) for q in quantities],
        content.colours,
        [labels[q] for q in quantities],
    )
    caption = (
        f"Each arrow runs from a group's estimate under '{spec.from_}' (open circle) to its"
        f" estimate under '{spec.to}' (filled); marker area grows with the group's size."
        " Partial pooling moves the estimates of small groups furthest towards the"
        " population mean."
    )
    if clipped:
        caption += (
            f" {clipped} {'estimates' if clipped != 1 else 'estimate'} under '{spec.from_}'"
            f" {'lie' if clipped != 1 else 'lies'} outside the drawn range (typically tiny"
            " groups that only the prior pins down), drawn on its edge as triangles."
        )
    return Image("shrinkage", f"Shrinkage: {spec.from_} → {spec.to}", caption, plots.to_png(figure))


def _estimates(
    content: Content,
    estimates: Mapping[str, GroupEstimates],
    quantity: str,
    labels: Mapping[str, str],
    group: str,
) -> Image | None:
    shown = [_as_plot(e, quantity) for e in estimates.values() if f"{quantity}_mean" in e.table]
    if not shown:
        return None
    caption = (
        f"Each point is one level of '{group}': its posterior mean and 89% interval against its"
        " number of observations (spread slightly where sizes tie). The dashed line and grey"
        " band are the population-level mean and its 89% interval. A model without"
        " group-specific terms puts every group on one value; without pooling, small groups"
        " scatter furthest with the widest intervals. Points beyond the axis sit on its edge"
        " as triangles."
    )
    figure = groupplots.estimates_figure(shown, content.colours, labels[quantity])
    title = f"Group {quantity}s by group size"
    return Image(f"groups-{quantity}", title, caption, plots.to_png(figure))


def _highlights(
    content: Content,
    study: Study,
    data: pd.DataFrame,
    trees: Mapping[str, xr.DataTree],
    models: Mapping[str, Any],
    predictor: str,
    notes: list[str],
) -> Image | None:
    group = study.report.group
    assert group is not None
    levels = _highlight_levels(study, data, group, notes)
    if not levels:
        return None
    response = next((response_name(t) for t in trees.values() if response_name(t)), None)
    if response is None or response not in data.columns:
        raise ValueError(f"the response '{response}' is not a column of the data")
    xs = np.linspace(float(data[predictor].min()), float(data[predictor].max()), LINE_POINTS)
    lines: dict[str, dict[Any, Line]] = {}
    for view in content.models:
        tree, model = trees.get(view.name), models.get(view.name)
        if tree is None or model is None:
            continue
        if response_name(tree) != response:
            notes.append(
                f"'{view.name}' models '{response_name(tree)}', not '{response}': it has no"
                " line in the fitted-lines panels"
            )
            continue
        frame = _frame(model, data, [group, predictor])
        found = attempt(
            notes,
            f"The fitted lines of '{view.name}'",
            fitted_lines,
            model,
            tree,
            frame,
            group,
            predictor,
            levels,
            xs,
        )
        if found:
            lines[view.name] = found
    panels = []
    for level in levels:
        rows = data[data[group].astype(str) == str(level)]
        panels.append(
            groupplots.Panel(
                title=f"{group} = {level} (n = {len(rows)})",
                x=rows[predictor].to_numpy(dtype=float),
                y=rows[response].to_numpy(dtype=float),
                lines={m: by_level[level] for m, by_level in lines.items() if level in by_level},
            )
        )
    caption = (
        f"Observed data (black; jittered along {predictor} when it takes few values) and each"
        " model's fitted mean with its 89% band, per group. Lines are drawn with other"
        " numeric predictors at the group's mean."
    )
    figure = groupplots.highlight_figure(panels, content.colours, predictor, response)
    return Image("groups-lines", "Fitted lines in selected groups", caption, plots.to_png(figure))


def _highlight_levels(study: Study, data: pd.DataFrame, group: str, notes: list[str]) -> list[Any]:
    """The levels named in report.highlight, or the smallest, a median and the largest group."""
    sizes = data.groupby(group, observed=True).size().sort_values(kind="stable")
    by_text = {str(level): level for level in sizes.index}
    if not study.report.highlight:
        picks = [sizes.index[0], sizes.index[len(sizes) // 2], sizes.index[-1]]
        notes.append(
            "report.highlight is empty: the fitted lines show the smallest, a median-sized and"
            " the largest group."
        )
        return list(dict.fromkeys(picks))
    levels = []
    for wanted in study.report.highlight:
        if str(wanted) in by_text:
            levels.append(by_text[str(wanted)])
        else:
            notes.append(
                f"report.highlight names '{wanted}', which is not a level of '{group}'"
                f"{did_you_mean(str(wanted), by_text)}"
            )
    return levels


def fitted_lines(
    model: Any,
    tree: xr.DataTree,
    frame: pd.DataFrame,
    group: str,
    predictor: str,
    levels: list[Any],
    xs: np.ndarray,
) -> dict[Any, Line]:
    """Each level's fitted mean (response scale) and 89% band along ``xs``.

    Other numeric columns sit at the group's mean, other categorical ones at their
    first level. Levels the model never saw are left out.
    """
    known = {str(v) for v in frame[group].unique()} if group in frame else None
    levels = [lv for lv in levels if known is None or str(lv) in known]
    if not levels:
        return {}
    grid = _grid(frame, group, predictor, levels, xs)
    posterior = tree["posterior"].to_dataset()
    # a tree of the parameters only: Bambi's predict then writes into a small copy
    slim = xr.DataTree.from_dict({"posterior": posterior[parameter_names(tree)]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        model.predict(slim, kind="response_params", data=grid, inplace=True)
    parent = model.family.likelihood.parent
    stats = summarise_draws(slim["posterior"].to_dataset()[parent])
    found = {}
    for i, level in enumerate(levels):
        part = slice(i * xs.size, (i + 1) * xs.size)
        found[level] = (xs, stats["mean"][part], stats["lb"][part], stats["ub"][part])
    return found


def _grid(
    frame: pd.DataFrame, group: str, predictor: str, levels: list[Any], xs: np.ndarray
) -> pd.DataFrame:
    grid = pd.DataFrame(index=range(len(levels) * xs.size))
    keys = np.repeat(np.asarray([str(v) for v in levels], dtype=object), xs.size)
    for column in frame.columns:
        series = frame[column]
        if column in (group, predictor):
            continue
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            if group in frame:
                means = series.groupby(frame[group].astype(str)).mean()
                grid[column] = means.reindex(keys).to_numpy()
            else:
                grid[column] = series.mean()
        elif isinstance(series.dtype, pd.CategoricalDtype):
            grid[column] = pd.Categorical(
                [series.cat.categories[0]] * len(grid), series.cat.categories
            )
        else:
            grid[column] = sorted(series.dropna().unique())[0]
    values = np.repeat(np.asarray(levels, dtype=object), xs.size)
    if group in frame and isinstance(frame[group].dtype, pd.CategoricalDtype):
        grid[group] = pd.Categorical(values, categories=frame[group].cat.categories)
    else:
        grid[group] = values
    grid[predictor] = np.tile(xs, len(levels))
    return grid
