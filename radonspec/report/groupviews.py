"""The group-level views: shrinkage, group estimates by size, fitted lines in chosen groups.

Group estimates and fitted lines come from the analysis (read off each model's own
predictions, so they work for any parametrisation of the groups); this module draws them.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from radonspec.analysis.groups import GroupEstimates
from radonspec.analysis.records import Results
from radonspec.errors import did_you_mean
from radonspec.report import groupplots, plots
from radonspec.report.content import Content, Image, Section, attempt


def group_views(content: Content, results: Results) -> Section:
    """Shrinkage, estimates against group size and fitted lines in highlighted groups."""
    section = Section()
    study = results.study
    report = study.report
    group, predictor = results.data.group, report.predictor
    assert group is not None
    if report.group is None:
        section.notes.append(
            f"report.group is not set: these views are of '{group}', the one grouping factor"
            " of the study's models."
        )
    columns = results.data.all_columns
    if group not in columns:
        section.notes.append(
            f"report.group '{group}' is not a column of the data"
            f"{did_you_mean(group, columns)}; no group-level views"
        )
        return section
    if predictor is not None and predictor not in columns:
        section.notes.append(
            f"report.predictor '{predictor}' is not a column of the data"
            f"{did_you_mean(predictor, columns)}; showing intercepts only"
        )
        predictor = None
    estimates: dict[str, GroupEstimates] = {}
    links: dict[str, str] = {}
    for view in content.models:
        model = results.models.get(view.name)
        analysis = model.analysis if model is not None else None
        if analysis is None:
            section.notes.append(f"'{view.name}' has no group estimates: {view.error}")
            continue
        links[view.name] = analysis.link
        section.notes.extend(analysis.group_notes)
        if analysis.groups is not None:
            estimates[view.name] = analysis.groups
    if report.shrinkage is not None:
        image = attempt(
            section.notes,
            "The shrinkage plot",
            _shrinkage,
            content,
            results,
            estimates,
            links,
            predictor,
        )
        if image is not None:
            section.images.append(image)
    quantities = ["intercept", "slope"] if predictor else ["intercept"]
    if predictor and estimates and not any(_varies(e, "slope") for e in estimates.values()):
        quantities.remove("slope")
        section.notes.append(
            f"No model lets the slope of {predictor} vary by '{group}': every group has its"
            " model's one slope, so no figure of group slopes is drawn."
        )
    for quantity in quantities:
        image = attempt(
            section.notes,
            f"The {quantity} plot",
            _estimates,
            content,
            estimates,
            quantity,
            _labels(links, list(estimates), predictor),
            group,
        )
        if image is not None:
            section.images.append(image)
    if predictor is None:
        section.notes.append("Set report.predictor to draw fitted lines in highlighted groups.")
    else:
        section.notes.extend(results.panel_notes)
        image = attempt(
            section.notes, "The fitted lines", _highlights, content, results, predictor,
            section.notes,
        )  # fmt: skip
        if image is not None:
            section.images.append(image)
    return section


def _labels(links: Mapping[str, str], names: list[str], predictor: str | None) -> dict[str, str]:
    """Axis labels of the group estimates, naming the link scale of the models shown."""
    shown = {links[name] for name in names if name in links} - {"identity", ""}
    scale = f" ({'/'.join(sorted(shown))} scale)" if shown else ""
    if predictor is None:
        return {"intercept": f"group mean of the linear predictor{scale}"}
    return {
        "intercept": f"linear predictor at {predictor} = 0{scale}",
        "slope": f"slope of {predictor}{scale}",
    }


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
        groups=tuple(str(g) for g in table.index),
    )


def _shrinkage(
    content: Content,
    results: Results,
    estimates: Mapping[str, GroupEstimates],
    links: Mapping[str, str],
    predictor: str | None,
) -> Image | None:
    spec = results.study.report.shrinkage
    assert spec is not None
    missing = [name for name in (spec.from_, spec.to) if name not in estimates]
    if missing:
        raise ValueError(
            f"report.shrinkage names {', '.join(repr(m) for m in missing)}, which has no group"
            " estimates (see the notes above)"
        )
    before, after = estimates[spec.from_], estimates[spec.to]
    labels = _labels(links, [spec.from_, spec.to], predictor)
    order = before.table["group"]
    quantities = ["intercept", "slope"] if predictor else ["intercept"]
    plane = len(quantities) == 2 and all(_varies(e, q) for e in (before, after) for q in quantities)
    if not plane:
        quantities = ["slope"] if predictor and not _varies(after, "intercept") else ["intercept"]
    png, clipped = plots.rendered(
        groupplots.shrinkage_figure,
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
    return Image("shrinkage", f"Shrinkage: {spec.from_} → {spec.to}", caption, png)


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
    common = groupplots.common_size(shown)
    where = (
        " against its number of observations (spread slightly where sizes tie)"
        if common is None
        else f", the groups ranked by their mean (every group has {common} observations, so"
        " size cannot explain their spread)"
    )
    caption = (
        f"Each point is one level of '{group}': its posterior mean and 89% interval{where}."
        " A group's value is the"
        " model's linear predictor averaged over the group's own rows (the population terms at"
        " the group's own covariate values plus its group-specific deviations; offsets left"
        " out), on the link scale. The dashed line and grey"
        " band are the population-level mean and its 89% interval. A model without"
        " group-specific terms puts every group on one value; without pooling, small groups"
        " scatter furthest with the widest intervals. Points beyond the axis sit on its edge"
        " as triangles."
    )
    png = plots.figure(groupplots.estimates_figure, shown, content.colours, labels[quantity])
    title = f"Group {quantity}s by group size" if common is None else f"Group {quantity}s, ranked"
    return Image(f"groups-{quantity}", title, caption, png)


def _highlights(
    content: Content, results: Results, predictor: str, notes: list[str]
) -> Image | None:
    if not results.panels:
        return None
    response = next((a.response for a in results.analyses.values() if a.response), None)
    lines: dict[str, dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]] = {}
    for view in content.models:
        model = results.models.get(view.name)
        analysis = model.analysis if model is not None else None
        if analysis is None or not analysis.lines:
            continue
        if analysis.response != response:
            notes.append(
                f"'{view.name}' models '{analysis.response}', not '{response}': it has no"
                " line in the fitted-lines panels"
            )
            continue
        lines[view.name] = {ln.level: (ln.x, ln.mean, ln.lb, ln.ub) for ln in analysis.lines}
    panels = [
        groupplots.Panel(
            title=panel.title,
            x=panel.x,
            y=panel.y,
            lines={
                m: by_level[panel.level] for m, by_level in lines.items() if panel.level in by_level
            },  # fmt: skip
        )
        for panel in results.panels
    ]
    caption = (
        f"Observed data (black; jittered along {predictor} when it takes few values) and each"
        " model's fitted mean with its 89% band, per group, on the response scale (the mean of"
        " the response distribution). Each line is averaged over the group's own rows, so every"
        " other predictor takes the group's own values."
    )
    png = plots.figure(
        groupplots.highlight_figure, panels, content.colours, predictor, str(response)
    )
    return Image("groups-lines", "Fitted lines in selected groups", caption, png)
