"""Build the report's ``Content`` from a study's analysis (``compare.results.Results``).

Per model: status, diagnostics, parameter tables, random effects, resolved spec and
priors; then the comparison and its verdict; then the figure sections. Nothing here
computes a statistic: every number comes from the analysis, and this package turns
it into sentences, tables and figures. A failed fit stays in every list with its
error; nothing is dropped silently.
"""

from __future__ import annotations

import dataclasses
import io
from datetime import UTC, datetime
from typing import Any

from ruamel.yaml import YAML

from radonspec.analysis.records import ModelResult, Results
from radonspec.errors import one_of
from radonspec.report.content import (
    Content,
    ModelView,
    PriorPredictiveView,
    Residual,
    Section,
    attempt,
)
from radonspec.report.drawer import finish_drawings
from radonspec.report.effects import effects_section
from radonspec.report.experimentviews import (
    prior_predictive_section,
    reference_section,
    sweep_section,
)
from radonspec.report.groupviews import group_views
from radonspec.report.parameters import parameter_sections
from radonspec.report.plots import palette
from radonspec.report.sensitivity import sensitivity_section
from radonspec.report.verdict import compare_section
from radonspec.report.views import ppc_section, prior_section

NOT_FITTED = "not fitted: this report shows prior predictive checks only"


def build_content(results: Results, *, spec_hash: str = "", figures: bool = True) -> Content:
    """Every number, sentence and (with ``figures``) figure of the report."""
    study = results.study
    colours = palette(list(results.models))
    limits = dict(results.thresholds)
    views = [
        _model_view(results, model, colours[name], limits) for name, model in results.models.items()
    ]
    content = Content(
        name=study.name,
        title=study.report.title or study.name,
        description=study.description,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        spec_hash=spec_hash,
        versions=dict(results.versions),
        data=results.data,
        models=views,
        thresholds=limits,
        prior_only=results.prior_only,
    )
    if not results.prior_only:
        compare_section(content, results)
    reference_section(content, results)
    if not results.prior_only:
        sweep_section(content, results)
    if results.prior_predictive is not None or results.prior_predictive_notes:
        prior_predictive_section(content, results, figures=figures)
    if not results.prior_only:
        content.sensitivity = sensitivity_section(content, results)
    if not figures or results.prior_only:  # summary.json alone needs no picture
        return content
    content.effects = effects_section(content, results)
    content.ppc = ppc_section(content, results)
    content.priors = prior_section(content, results)
    if results.data.group is not None:  # report.group, or the study's one grouping factor
        content.groups = group_views(content, results)
    elif len(results.data.factors) > 1:
        content.group_hint = (
            "Group-level views (each group's estimate against its size, shrinkage, fitted"
            " lines) are drawn for one grouping factor: set report.group to"
            f" {one_of(results.data.factors, ordered=True)}."
        )
    _finish_drawings(content)
    return content


def _finish_drawings(content: Content) -> None:
    """Wait for the figures another process draws (``report.drawer``); note any that failed.

    A figure drawn here that fails is noted where it would have been (``attempt``); one
    drawn elsewhere fails only now, and is noted the same way.
    """
    finish_drawings()
    sections = [content.effects, content.ppc, content.priors, content.groups]
    if content.prior_predictive is not None:
        sections.append(content.prior_predictive.section)
    for section in sections:
        if section is None:
            continue
        kept = []
        for image in section.images:
            if isinstance(image.drawing, bytes):
                kept.append(image)
                continue
            drawn = attempt(section.notes, f"The figure '{image.title}'", lambda i=image: i.png)
            if drawn is not None:
                kept.append(dataclasses.replace(image, drawing=drawn))
        section.images[:] = kept


def _model_view(
    results: Results, model: ModelResult, colour: str, limits: dict[str, float]
) -> ModelView:
    study = results.study
    spec = study.models.get(model.name)
    view = ModelView(
        name=model.name,
        colour=colour,
        status=model.status,
        error=model.error,
        formula="; ".join(spec.formulas) if spec is not None else "",
        family=spec.family if spec is not None else "",
        description=spec.description if spec is not None else None,
        key=model.key,
        fit_path=model.fit_path,
        cached=model.cached,
        seconds=dict(model.seconds),
        rows=model.rows,
        dropped_rows=model.dropped,
        levels=model.levels,
    )
    if results.prior_only:
        view.status, view.error = "skipped", NOT_FITTED
    if spec is not None:
        view.spec_yaml = _yaml(spec.model_dump(mode="json", by_alias=True, exclude_none=True))
    analysis = model.analysis
    if analysis is None:
        if model.status == "ok":  # "ok" without draws cannot be used either
            view.status, view.error = "failed", view.error or "the fit holds no draws"
        return view
    view.notes = list(analysis.notes)
    view.r2, view.r2_note = analysis.r2, analysis.r2_note
    view.priors = [dict(row) for row in analysis.priors]
    view.diagnostics = analysis.diagnostics
    view.table = analysis.table
    if analysis.table is not None:
        view.sections = parameter_sections(analysis, limits)
        view.omitted = list(analysis.omitted)
    view.random_effects = list(analysis.random_effects)
    if analysis.random_effects and analysis.residual is not None:
        sigma = analysis.reml.get("sigma")
        view.residual = Residual(*analysis.residual, sigma[0] if sigma is not None else None)
    view.reml_sd = {
        k: v[0] for k, v in analysis.reml.items() if k.endswith("_sigma") or k.startswith("cor|")
    }
    view.reference_method = analysis.reference_method or "REML"
    view.correlations = list(analysis.correlations)
    view.structure = dict(analysis.group_effects)
    view.group_estimates = {
        factor: [
            {str(k): v for k, v in row.items()} for row in found.table.to_dict(orient="records")
        ]
        for factor, found in analysis.factor_estimates.items()
    }
    return view


def _yaml(value: Any) -> str:
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[assignment]
    buffer = io.StringIO()
    yaml.dump(value, buffer)
    return buffer.getvalue().rstrip()


__all__ = ["NOT_FITTED", "PriorPredictiveView", "Section", "build_content"]
