"""The analysis of a whole study: every model's ``ModelAnalysis`` and what compares them.

``analyse`` is the pipeline's analysis step. Per model it reads the analysis kept
beside the fit (``Store.read_analysis``) or makes it (``analyse_model``) and keeps it;
then it compares the models (PSIS-LOO from the kept pointwise values, or a k-fold
comparison the caller made), builds the sweep view, the differences from the reference
model, the highlighted groups' data and (when asked) the prior predictive checks. The
result, ``Results``, is everything the report shows, as data: ``radonspec.report``
only formats it.
"""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from radonspec.analysis.cache import CacheFormatError, decode, encode
from radonspec.analysis.comparable import (
    TRANSFORMS,
    ComparisonGroup,
    comparison_groups,
    on_scale,
)
from radonspec.analysis.diagnostics import DIAGNOSE_DEFAULTS
from radonspec.analysis.loo import Comparison, compare_fits
from radonspec.analysis.model import AnalysisSettings, analyse_model, highlight_levels
from radonspec.analysis.predictive import NO_PREDICTIVE, kept_envelopes
from radonspec.analysis.prior import PriorDraws
from radonspec.analysis.records import (
    RECORDS,
    DataSummary,
    GroupPanel,
    ModelAnalysis,
    ModelResult,
    PriorPredictive,
    RankedGroup,
    Results,
)
from radonspec.analysis.sweep import sweep_view
from radonspec.errors import attempt
from radonspec.fit.record import Fit
from radonspec.fit.store import Store
from radonspec.study.checks import grouping_factors, report_group
from radonspec.study.diff import model_differences, reference_model
from radonspec.study.schema import Study

log = logging.getLogger(__name__)

CORE_VERSIONS = ("radonspec", "bambi", "pymc", "arviz")
#: The store's folder of LOO-PIT envelopes (``predictive.kept_envelopes``).
ENVELOPES_FOLDER = "envelopes"
Builder = Callable[[str], Any]  # model name -> bambi.Model or None


def analyse(
    study: Study,
    fits: Mapping[str, Fit],
    data: pd.DataFrame,
    *,
    comparison: Comparison | None = None,
    build: Builder | None = None,
    store: Store | None = None,
    thresholds: Mapping[str, float] | None = None,
    prior_draws: Mapping[str, PriorDraws] | None = None,
) -> Results:
    """Analyse every fit of a study and compare them.

    Parameters
    ----------
    study
        The validated study.
    fits
        One ``Fit`` per model name (failed ones included; lazy trees are fine).
    data
        The study's data as loaded.
    comparison
        A comparison made by the caller (k-fold); by default the models are compared
        by PSIS-LOO here.
    build
        Returns a model's ``bambi.Model`` (or None); called only for analyses that are
        not kept in ``store``.
    store
        Where analyses are kept beside their fits; None computes them all.
    thresholds
        Diagnostics thresholds (``rhat_max``, ``ess_min``, ...).
    prior_draws
        Prior predictive draws made by the caller; with ``report.prior_predictive``
        they are otherwise drawn here.
    """
    names = list(dict.fromkeys([*study.models, *fits]))
    with kept_envelopes(None if store is None else store.root / ENVELOPES_FOLDER):
        models = {
            name: _model_result(study, name, fits.get(name), data, build, store, thresholds)
            for name in names
        }
    results = Results(
        study=study,
        models=models,
        data=data_summary(study, data),
        versions=_versions(fits),
        thresholds=DIAGNOSE_DEFAULTS | dict(thresholds or {}),
    )
    results = _compared(results, comparison)
    results = _differences(results)
    results = _sweep(results)
    results = _panels(results, data)
    if study.report.prior_predictive or prior_draws is not None:
        results = _prior_predictive(results, data, build, prior_draws)
    return results


def model_analysis(
    study: Study,
    name: str,
    fit: Fit,
    data: pd.DataFrame,
    *,
    build: Builder | None = None,
    store: Store | None = None,
    thresholds: Mapping[str, float] | None = None,
) -> ModelAnalysis:
    """One model's analysis: the one kept beside its fit, else made now (and kept)."""
    settings = AnalysisSettings.of(study, name, thresholds)
    key = settings.key(fit.key)
    if store is not None:
        kept = store.read_analysis(fit.key, key)
        if kept is not None:
            try:
                found = decode(kept, RECORDS)
            except CacheFormatError as exc:
                log.debug("analysis %s of %s unreadable: %s", key[:12], name, exc)
            else:
                if isinstance(found, ModelAnalysis) and found.key == key:
                    return replace(found, model=name)
    if fit.tree is None:  # a record of a stored fit: its draws are read now
        loaded = store.get(fit.key, lazy=True) if store is not None else None
        if loaded is None or loaded.tree is None:
            raise ValueError(f"model '{name}' has no draws to analyse (its stored fit is gone)")
        fit = replace(fit, tree=loaded.tree)
    model = build(name) if build is not None else None
    found = analyse_model(study, name, fit, data, model=model, settings=settings)
    if store is not None:
        try:
            store.write_analysis(fit.key, key, encode(found, RECORDS))
        except TypeError:  # a record this version cannot keep: computed again next time
            log.debug("analysis of %s not kept", name, exc_info=True)
    return found


def _model_result(
    study: Study,
    name: str,
    fit: Fit | None,
    data: pd.DataFrame,
    build: Builder | None,
    store: Store | None,
    thresholds: Mapping[str, float] | None,
) -> ModelResult:
    if fit is None:
        return ModelResult(name, "skipped", "no fit was given for this model")
    base = ModelResult(
        name=name,
        status=fit.status,
        error=fit.error,
        key=fit.key,
        fit_path=fit.path,
        cached=fit.cached,
        seconds=dict(fit.seconds),
        rows=fit.meta.get("rows"),
        dropped=int(fit.meta.get("dropped_rows") or 0),
        levels=fit.meta.get("levels"),
    )
    if fit.status != "ok":
        return base
    if name not in study.models:
        return replace(base, status="failed", error=f"'{name}' is not a model of the study")
    notes: list[str] = []
    found = attempt(
        notes, "The analysis", model_analysis, study, name, fit, data,
        build=build, store=store, thresholds=thresholds,
    )  # fmt: skip
    if found is None:
        return replace(base, status="failed", error=notes[0] if notes else "no analysis")
    return replace(base, analysis=found)


def _compared(results: Results, given: Comparison | None) -> Results:
    """Rank the compared models, in groups of models that model the same values.

    Each group is ranked on its own (``comparison_groups``); the largest is the
    study's ``comparison``. PSIS-LOO comes from each model's kept pointwise values, a
    k-fold comparison from the caller's pointwise values; a model whose response is
    a transform of another's column enters with its Jacobian added.
    """
    study = results.study
    notes: list[str] = []
    wanted = list(study.compare.models or list(results.models))
    usable: dict[str, ModelAnalysis] = {}
    for name in wanted:
        model = results.models.get(name)
        if model is None or not model.ok or model.analysis is None:
            reason = model.error if model is not None and model.error else "it has no fit"
            notes.append(f"'{name}' is not compared: {reason}")
            continue
        usable[name] = model.analysis
    left_out = [name for name in results.models if name not in wanted]
    if left_out:
        names = ", ".join(f"'{name}'" for name in left_out)
        notes.append(f"{names} {'is' if len(left_out) == 1 else 'are'} not in compare.models")
    kfold = given is not None and given.criterion == "kfold"
    if given is None and study.compare.criterion != "loo":
        notes.append(
            f"compare.criterion is '{study.compare.criterion}' but no such comparison was"
            " made; PSIS-LOO is shown instead"
        )
    if kfold:
        assert given is not None
        scored = {row.model for row in given.rows}
        candidates = [n for n in usable if n in scored]
    else:
        candidates = [n for n in usable if usable[n].loo is not None]
        notes += [
            f"'{n}' is not compared: its fit stores no log-likelihood"
            for n in usable
            if usable[n].loo is None
        ]
    if not candidates:
        if given is not None:
            notes += list(given.warnings)
        if not usable:
            notes.append("no model has a usable fit, so nothing is compared")
        return replace(results, comparison_notes=tuple(notes))
    groups, unranked = comparison_groups({n: usable[n].modelled for n in candidates}, candidates)
    if kfold and given is not None and not given.pointwise:
        # a caller's k-fold table without pointwise values cannot be regrouped: used as it is
        groups = [ComparisonGroup(tuple(candidates), "the response", 0)]
        unranked = []
    ranked: list[RankedGroup] = []
    for group in groups:
        if kfold and given is not None and not given.pointwise:
            ranked.append(RankedGroup(group, _with_rmsd(given, usable, study.compare.rmsd)))
            continue
        group_notes: list[str] = list(group.notes)
        elpd = {
            name: _elpd(usable[name], group, given if kfold else None, study.compare.kfold.k)
            for name in group.models
        }
        found = attempt(group_notes, "The comparison", compare_fits, {},
                        criterion="kfold" if kfold else "loo", elpd=elpd)  # fmt: skip
        if found is not None:
            found = _with_rmsd(found, usable, study.compare.rmsd)
            if kfold and given is not None:
                found = _with_kfold_rows(found, given)
        ranked.append(RankedGroup(group, found, tuple(group_notes)))
    main = max(ranked, key=lambda g: len(g.group.models))  # the first of the largest
    comparison = main.comparison
    if comparison is None:
        return replace(results, comparison_notes=tuple([*notes, *main.notes]),
                       comparison_groups=tuple(ranked), unranked=tuple(unranked))  # fmt: skip
    if kfold and given is not None:
        notes += [w for w in given.warnings if w not in comparison.warnings]
    notes += list(main.notes)
    notes += list(comparison.warnings)
    if study.compare.rmsd:
        notes += [
            f"PP RMSD of '{row.model}' {NO_PREDICTIVE}"
            for row in comparison.rows
            if row.model in usable and usable[row.model].ppc is None
        ]
    also = None
    if kfold:
        compared = {
            row.model: _elpd(usable[row.model], main.group, None, 0)
            for row in comparison.rows
            if usable[row.model].loo is not None
        }
        if compared:
            also = attempt(notes, "PSIS-LOO beside k-fold", compare_fits, {}, elpd=compared)
    return replace(
        results,
        comparison=comparison,
        comparison_notes=tuple(dict.fromkeys(notes)),
        also_loo=also,
        comparison_groups=tuple(ranked),
        unranked=tuple(unranked),
    )


def _elpd(analysis: ModelAnalysis, group: Any, kfold: Comparison | None, folds: int) -> Any:
    """The model's pointwise elpd as ArviZ's record, on the group's scale."""
    jacobian = None
    if analysis.modelled is not None and analysis.model in group.jacobian:
        jacobian = analysis.modelled.jacobian
    loo = analysis.loo
    if kfold is None:
        assert loo is not None
        if jacobian is None:
            return loo.elpd_data()
        values = on_scale(loo.elpd_i, jacobian)
        return replace(loo, elpd=float(values.sum()), se=_se(values), elpd_i=values).elpd_data()
    from radonspec.analysis.kfold import KFoldResult, to_elpd

    row = next(r for r in kfold.rows if r.model == analysis.model)
    kept = kfold.pointwise.get(analysis.model)
    if kept is None:  # no pointwise values: the caller's numbers as they are
        alone = np.full(1, row.elpd)
        return to_elpd(KFoldResult(row.model, row.elpd, row.se, row.p, alone, folds),
                       loo.n_samples if loo else 1000)  # fmt: skip
    values = on_scale(kept, jacobian)
    result = KFoldResult(row.model, float(values.sum()), _se(values), row.p, values, folds)
    return to_elpd(result, loo.n_samples if loo is not None else 1000)


def _se(values: np.ndarray) -> float:
    return float(np.sqrt(len(values) * np.var(values)))


def _with_kfold_rows(found: Comparison, given: Comparison) -> Comparison:
    """Keep the caller's pointwise values and Pareto counts (k-fold has none)."""
    return replace(found, pointwise={n: v for n, v in given.pointwise.items()
                                     if n in {r.model for r in found.rows}})  # fmt: skip


def _with_rmsd(
    comparison: Comparison, analyses: Mapping[str, ModelAnalysis], wanted: bool
) -> Comparison:
    rows = []
    for row in comparison.rows:
        analysis = analyses.get(row.model)
        rmsd = None
        if wanted and analysis is not None and analysis.ppc is not None:
            rmsd = analysis.ppc.rmsd
        rows.append(replace(row, rmsd=rmsd))
    return replace(comparison, rows=tuple(rows))


def _differences(results: Results) -> Results:
    study = results.study
    reference = reference_model(study)
    if reference not in results.models:
        return results
    notes: list[str] = []
    found = attempt(
        notes,
        f"The differences from the reference model '{reference}'",
        model_differences,
        study,
        reference,
    )
    differences = {name: tuple(sentences) for name, sentences in (found or {}).items()}
    if notes:  # shown with the reference model's own notes
        differences[reference] = tuple(notes)
    return replace(results, reference=reference, differences=differences)


def _sweep(results: Results) -> Results:
    study = results.study
    if study.sweep is None:
        return results
    notes: list[str] = []
    diagnostics = {n: m.diagnostics for n, m in results.models.items() if m.diagnostics}
    elpd = {n: a.loo.elpd_data() for n, a in results.analyses.items() if a.loo is not None}
    view = attempt(
        notes, "The sweep view", sweep_view, study, results.models, results.comparison,
        diagnostics, elpd=elpd,
    )  # fmt: skip
    return replace(results, sweep=view, sweep_notes=tuple(notes))


def _panels(results: Results, data: pd.DataFrame) -> Results:
    """The observed data of the groups whose fitted lines the report draws."""
    report = results.study.report
    group, predictor = report_group(results.study), report.predictor
    if group is None or predictor is None or group not in data or predictor not in data:
        return results
    first = next((a for a in results.analyses.values() if a.response), None)
    response = first.response if first is not None else None
    notes: list[str] = []
    levels = highlight_levels(data, group, tuple(map(str, report.highlight)), notes)
    values = _response_values(first, data)
    if response is None or values is None:
        return replace(results, panel_notes=tuple(notes))
    panels = []
    for level in levels:
        rows = (data[group].astype(str) == str(level)).to_numpy()
        panels.append(
            GroupPanel(
                str(level),
                f"{group} = {level} (n = {int(rows.sum())})",
                data.loc[rows, predictor].to_numpy(dtype=float),
                values[rows],
            )
        )
    return replace(results, panels=tuple(panels), panel_notes=tuple(notes))


def _response_values(analysis: ModelAnalysis | None, data: pd.DataFrame) -> np.ndarray | None:
    """The modelled response on every row of the data: a column, or a transform of one."""
    if analysis is None or analysis.response is None:
        return None
    if analysis.response in data.columns:
        column = data[analysis.response]
        if not pd.api.types.is_numeric_dtype(column):
            return None
        return column.to_numpy(dtype=float)
    modelled = analysis.modelled
    if modelled is None or modelled.column not in data.columns:
        return None
    if modelled.transform not in TRANSFORMS:
        return None
    forward = TRANSFORMS[str(modelled.transform)][0]
    with np.errstate(all="ignore"):
        return np.asarray(forward(data[str(modelled.column)].to_numpy(dtype=float)))


def _prior_predictive(
    results: Results,
    data: pd.DataFrame,
    build: Builder | None,
    found: Mapping[str, PriorDraws] | None,
) -> Results:
    from radonspec.analysis.prior import (
        capped_draws,
        checks_of,
        observed_values,
        predicted_values,
        prior_predictives,
        prior_table,
        response_name,
    )

    study = results.study
    notes: list[str] = []
    if found is None:
        built = {}
        for name in study.models:
            model = build(name) if build is not None else None
            if model is not None:
                built[name] = model
        found = attempt(
            notes, "The prior predictive draws", prior_predictives, study,
            draws=capped_draws(len(data)), models=list(study.models), built=built, data=data,
        )  # fmt: skip
        if found is None:
            return replace(results, prior_predictive_notes=tuple(notes))
    checks = checks_of(found)
    trees = {name: item.tree for name, item in found.items() if item.tree is not None}
    draws = max((_prior_draws(tree) for tree in trees.values()), default=0)
    section_notes: list[str] = []
    for check in checks.values():
        if check.error is not None:
            section_notes.append(f"'{check.model}' has no prior predictive draws: {check.error}")
        else:
            section_notes.extend(f"'{check.model}': {problem}" for problem in check.problems)
    observed, response = None, ""
    predicted: dict[str, np.ndarray] = {}
    for name, tree in trees.items():
        values = attempt(
            section_notes,
            f"The prior predictive of '{name}'",
            lambda t: (observed_values(t), predicted_values(t), response_name(t)),
            tree,
        )
        if values is None:
            continue
        if observed is None:
            observed, response = values[0], values[2]
        predicted[name] = values[1]
    view = PriorPredictive(
        draws, checks, prior_table(checks), observed, predicted, response, tuple(section_notes)
    )
    return replace(results, prior_predictive=view, prior_predictive_notes=tuple(notes))


def _prior_draws(tree: Any) -> int:
    sizes = tree["prior_predictive"].sizes
    return int(sizes.get("chain", 1) * sizes.get("draw", 0))


def data_summary(study: Study, data: pd.DataFrame) -> DataSummary:
    """Source, rows, the columns the models use and the sizes of the report's groups."""
    spec = study.data
    source = f"bundled data set '{spec.dataset}'" if spec.dataset else f"file {spec.path}"
    used: set[str] = set()
    for model in study.models.values():
        for formula in model.formulas:
            used |= _formula_columns(formula)
    columns = [str(c) for c in data.columns if str(c) in used]
    group = report_group(study)
    every = tuple(str(c) for c in data.columns)
    dropped = 0
    if spec.dropna and columns:  # rows and groups are counted as the models keep them
        complete = data[columns].notna().all(axis=1)
        dropped = int((~complete).sum())
        data = data.loc[complete]
    factors = () if study.report.group else tuple(grouping_factors(study))  # to choose from
    if group is None or group not in data.columns:
        return DataSummary(
            source, len(data), columns, group, all_columns=every, dropped=dropped, factors=factors
        )
    sizes = data.groupby(group, observed=True).size()
    return DataSummary(
        source,
        len(data),
        columns,
        group,
        int(sizes.size),
        (int(sizes.min()), float(sizes.median()), int(sizes.max())),
        every,
        dropped,
        factors,
    )


def _formula_columns(formula: str) -> set[str]:
    from radonspec.study.formula import describe

    try:
        return {str(n) for n in describe(formula).var_names}
    except Exception:  # noqa: BLE001 - a formula formulae cannot parse lists no columns
        return set()


def _versions(fits: Mapping[str, Fit]) -> dict[str, str]:
    """The versions recorded in the fits; the core packages filled in from here."""
    import radonspec

    found = dict(next((f.versions for f in fits.values() if f.versions), {}))
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


__all__ = ["DataSummary", "ModelResult", "Results", "analyse", "model_analysis"]
