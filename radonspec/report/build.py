"""Build the report's ``Content`` from a study, its data and its fits.

Per model: diagnostics, parameter tables, random effects, resolved spec and
priors; then the comparison and its verdict; then the figure sections. A failed
fit stays in every list with its error; nothing is dropped silently.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from ruamel.yaml import YAML

from radonspec.compare import Comparison, diagnose, parameter_table, random_effects
from radonspec.experiment.prior import PriorDraws
from radonspec.groups import correlations, effect_structure
from radonspec.report.content import Content, DataSummary, ModelView, attempt
from radonspec.report.experimentviews import (
    prior_predictive_section,
    reference_section,
    sweep_section,
)
from radonspec.report.groupviews import group_views
from radonspec.report.parameters import parameter_sections, reml_estimates, residual
from radonspec.report.plots import palette
from radonspec.report.verdict import compare_section
from radonspec.report.views import ppc_section, prior_section
from radonspec.run.fit import Fit
from radonspec.spec.schema import Study

CORE_VERSIONS = ("radonspec", "bambi", "pymc", "arviz")
DIAGNOSE_DEFAULTS = {"rhat_max": 1.01, "ess_min": 400.0, "max_divergences": 0, "ebfmi_min": 0.3}


def build_content(
    study: Study,
    data: pd.DataFrame,
    fits: Mapping[str, Fit],
    *,
    models: Mapping[str, Any],
    priors: Mapping[str, pd.DataFrame],
    spec_hash: str,
    versions: Mapping[str, str] | None,
    comparison: Comparison | None,
    thresholds: Mapping[str, Any],
    figures: bool = True,
) -> Content:
    """Compute every number, sentence and (with ``figures``) figure of the report."""
    names = list(dict.fromkeys([*study.models, *fits]))
    colours = palette(names)
    limits = DIAGNOSE_DEFAULTS | dict(thresholds)
    views = [
        _model_view(study, name, fits.get(name), colours[name], data, models, priors, limits)
        for name in names
    ]
    content = Content(
        name=study.name,
        title=study.report.title or study.name,
        description=study.description,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        spec_hash=spec_hash,
        versions=_versions(versions, fits),
        data=_data_summary(study, data),
        models=views,
        thresholds=limits,
    )
    compare_section(content, study, fits, comparison)
    reference_section(content, study)
    sweep_section(content, study, fits)
    if study.report.prior_predictive:
        prior_predictive_section(content, study, data, models, figures=figures)
    if not figures:  # summary.json alone needs no picture
        return content
    trees = {name: fit.tree for name, fit in fits.items() if fit.ok and fit.tree is not None}
    content.ppc = ppc_section(content, trees)
    content.priors = prior_section(content, trees)
    if study.report.group is not None:
        content.groups = group_views(content, study, data, trees, models)
    return content


def build_prior_content(
    study: Study,
    data: pd.DataFrame,
    *,
    models: Mapping[str, Any],
    found: Mapping[str, PriorDraws] | None = None,
    spec_hash: str,
    versions: Mapping[str, str] | None,
    figures: bool = True,
) -> Content:
    """The report of ``run --prior-only``: the prior predictive checks, the specs and priors.

    Nothing was fitted: every model is ``skipped``, and there is no posterior section.
    ``found`` are prior predictive draws made by the caller; drawn here otherwise.
    """
    names = list(study.models)
    colours = palette(names)
    views = []
    for name in names:
        view = _model_view(study, name, None, colours[name], data, models, {}, DIAGNOSE_DEFAULTS)
        view.error = "not fitted: this report shows prior predictive checks only"
        views.append(view)
    content = Content(
        name=study.name,
        title=study.report.title or study.name,
        description=study.description,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        spec_hash=spec_hash,
        versions=_versions(versions, {}),
        data=_data_summary(study, data),
        models=views,
        thresholds=dict(DIAGNOSE_DEFAULTS),
        prior_only=True,
    )
    reference_section(content, study)
    prior_predictive_section(content, study, data, models, found=found, figures=figures)
    return content


def _model_view(
    study: Study,
    name: str,
    fit: Fit | None,
    colour: str,
    data: pd.DataFrame,
    models: Mapping[str, Any],
    priors: Mapping[str, pd.DataFrame],
    limits: Mapping[str, Any],
) -> ModelView:
    spec = study.models.get(name)
    view = ModelView(
        name=name,
        colour=colour,
        status=fit.status if fit is not None else "skipped",
        error=fit.error if fit is not None else "no fit was given for this model",
        formula="; ".join(spec.formulas) if spec is not None else "",
        family=spec.family if spec is not None else "",
        description=spec.description if spec is not None else None,
    )
    if spec is not None:
        view.spec_yaml = _yaml(spec.model_dump(mode="json", by_alias=True, exclude_none=True))
    view.priors = _priors(name, spec, models.get(name), priors.get(name), view.notes)
    if fit is None:
        return view
    view.key, view.fit_path, view.cached = fit.key, fit.path, fit.cached
    view.seconds = dict(fit.seconds)
    view.rows = fit.meta.get("rows")
    if not fit.ok or fit.tree is None:
        if fit.status == "ok":  # "ok" without draws cannot be used either
            view.status, view.error = "failed", view.error or "the fit holds no draws"
        return view
    tree = fit.tree
    # tree-depth hits count against the depth this model was sampled with
    depth: dict[str, Any] = {"max_treedepth": spec.sampler.max_treedepth} if spec else {}
    # R-hat and ESS are computed once per fit, shared by both (and by the run's index)
    found = depth | dict(limits) | {"key": fit.key}
    view.diagnostics = attempt(view.notes, "Diagnostics", diagnose, tree, **found)
    view.table = attempt(view.notes, "The parameter table", parameter_table, tree, key=fit.key)
    model = models.get(name)
    reml = reml_estimates(study, name, data) if study.report.frequentist else {}
    if view.table is not None:
        view.sections, view.omitted = parameter_sections(
            tree, view.table, model, study, data, limits, reml
        )
    frame = getattr(model, "data", None)
    frame = frame if isinstance(frame, pd.DataFrame) else data
    view.random_effects = (
        attempt(
            view.notes,
            "The random-effects table",
            random_effects,
            tree,
            frame,
            view.family or "gaussian",
        )
        or []
    )
    if view.random_effects:
        view.residual = residual(tree, view.family, reml.get("sigma"))
        view.reml_sd = {
            k: v[0] for k, v in reml.items() if k.endswith("_sigma") or k.startswith("cor|")
        }
        view.correlations = attempt(view.notes, "The correlations", correlations, tree) or []
        view.structure = effect_structure(tree)
    return view


def _priors(
    name: str, spec: Any, model: Any, given: pd.DataFrame | None, notes: list[str]
) -> list[dict[str, str]]:
    if given is None and model is not None and spec is not None:
        given = attempt(notes, "The priors table", _priors_table, model, spec)
    if given is None:
        return []
    return [
        {"term": str(r["term"]), "prior": str(r["prior"]), "source": str(r["source"])}
        for _, r in given.iterrows()
    ]


def _priors_table(model: Any, spec: Any) -> pd.DataFrame:
    from radonspec.compile import priors_table

    return priors_table(model, spec)


def _yaml(value: Any) -> str:
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[assignment]
    buffer = io.StringIO()
    yaml.dump(value, buffer)
    return buffer.getvalue().rstrip()


def _versions(given: Mapping[str, str] | None, fits: Mapping[str, Fit]) -> dict[str, str]:
    """The versions the caller gave, else the fits'; the core packages filled in from here."""
    import importlib.metadata

    import radonspec

    found = dict(given or next((f.versions for f in fits.values() if f.versions), {}))
    for package in CORE_VERSIONS:
        if package not in found:
            if package == "radonspec":
                found[package] = radonspec.__version__
                continue
            try:
                found[package] = importlib.metadata.version(package)
            except importlib.metadata.PackageNotFoundError:
                found[package] = "absent"
    return found


def _data_summary(study: Study, data: pd.DataFrame) -> DataSummary:
    spec = study.data
    source = f"bundled data set '{spec.dataset}'" if spec.dataset else f"file {spec.path}"
    used: set[str] = set()
    for model in study.models.values():
        for formula in model.formulas:
            used |= _formula_columns(formula)
    columns = [str(c) for c in data.columns if str(c) in used]
    group = study.report.group
    if group is None or group not in data.columns:
        return DataSummary(source, len(data), columns, group)
    sizes = data.groupby(group, observed=True).size()
    return DataSummary(
        source,
        len(data),
        columns,
        group,
        int(sizes.size),
        (int(sizes.min()), float(sizes.median()), int(sizes.max())),
    )


def _formula_columns(formula: str) -> set[str]:
    import formulae

    from radonspec.spec.formula import expand_double_bars

    try:
        return {str(n) for n in formulae.model_description(expand_double_bars(formula)).var_names}
    except Exception:  # noqa: BLE001 - a formula formulae cannot parse lists no columns
        return set()
