"""Per-model analysis of a fit: everything the report shows about one model, as data.

``analyse_model`` reads one fit (and, for predictions, its built Bambi model) and
returns a ``ModelAnalysis``: diagnostics, the parameter table and how it splits into
the report's kinds, the random-effects table, the pointwise PSIS-LOO, the posterior
predictive check and LOO-PIT, group estimates and fitted lines, prior and posterior
draws of the population effects, the priors table and the frequentist reference.
Each part is made through ``attempt``: one that fails becomes a note, never a lost
analysis. ``radonspec.analysis.results`` stores these records beside the fit and
reuses them, so a report from stored fits only assembles.
"""

from __future__ import annotations

import hashlib
import json
import logging
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from radonspec.analysis.comparable import ModelledResponse, modelled_response
from radonspec.analysis.diagnostics import DIAGNOSE_DEFAULTS, diagnose
from radonspec.analysis.grouplevel import group_estimates, group_labels, group_lines
from radonspec.analysis.groups import (
    SAMPLE_DIMS,
    GroupEstimates,
    correlations,
    effect_structure,
    random_effects,
    summarise_draws,
)
from radonspec.analysis.parameters import parameter_table
from radonspec.analysis.predictive import (
    NO_PREDICTIVE,
    Censoring,
    PredictiveCheck,
    censoring_of,
    predictive_check,
)
from radonspec.analysis.psis import cached_loo
from radonspec.analysis.records import (
    FittedLine,
    ModelAnalysis,
    Pointwise,
    PriorPosterior,
)
from radonspec.analysis.version import ANALYSIS_VERSION
from radonspec.errors import attempt, did_you_mean
from radonspec.fit.record import Fit
from radonspec.study.checks import report_group
from radonspec.study.correlated import PREFIX as CORRELATION_PREFIX
from radonspec.study.correlated import requested_factors
from radonspec.study.family import ORDINAL_FAMILIES
from radonspec.study.formula import check_formula
from radonspec.study.schema import Study

log = logging.getLogger(__name__)

#: Families whose outcomes are counts or categories (the predictive check counts values).
DISCRETE_FAMILIES = frozenset(
    {
        "bernoulli", "binomial", "beta_binomial", "poisson", "negativebinomial", "categorical",
        "cumulative", "sratio", "zero_inflated_poisson", "zero_inflated_negativebinomial",
        "zero_inflated_binomial", "hurdle_poisson", "hurdle_negativebinomial",
    }
)  # fmt: skip
LARGE = 20  # a vector parameter with more values than this is left to summary.json
# Bambi family parameters that are not regression terms; used only without a built model
AUXILIARY = {"sigma", "alpha", "nu", "kappa", "phi", "psi", "lam", "beta", "theta", "tau"}
POPULATION = "Population-level effects"
GROUP_SDS = "Group-level standard deviations"
GROUP_CORRELATIONS = "Group-level correlations"
AUXILIARIES = "Auxiliary parameters"
MAX_PRIOR_DRAWS = 2000  # draws kept per prior and posterior panel
LINE_POINTS = 25


@dataclass(frozen=True)
class AnalysisSettings:
    """What of a study, besides the fit itself, changes one model's analysis."""

    group: str | None = None
    predictor: str | None = None
    highlight: tuple[str, ...] = ()
    frequentist: bool = False
    thresholds: tuple[tuple[str, float], ...] = tuple(DIAGNOSE_DEFAULTS.items())
    max_treedepth: int | None = 10
    effects: tuple[tuple[str, str | None], ...] = ()
    prior_sensitivity: bool = False
    centered: bool | None = None  # group-specific effects centered (noncentered: false)

    @classmethod
    def of(cls, study: Study, name: str, thresholds: Mapping[str, float] | None = None) -> Any:
        """The settings of model ``name`` of ``study``."""
        report = study.report
        spec = study.models.get(name)
        limits = DIAGNOSE_DEFAULTS | dict(thresholds or {})
        return cls(
            group=report_group(study),
            predictor=report.predictor,
            highlight=tuple(str(h) for h in report.highlight),
            frequentist=bool(report.frequentist),
            thresholds=tuple(sorted(limits.items())),
            max_treedepth=spec.sampler.max_treedepth if spec is not None else 10,
            effects=tuple((e.predictor, e.by) for e in report.effects),
            prior_sensitivity=bool(report.prior_sensitivity),
            centered=not spec.noncentered if spec is not None else None,
        )

    @property
    def limits(self) -> dict[str, float]:
        """The diagnostics' thresholds as keyword arguments of ``diagnose``."""
        return dict(self.thresholds)

    def key(self, fit_key: str) -> str:
        """The analysis key: the fit's key, these settings and ``ANALYSIS_VERSION``."""
        payload = {"version": ANALYSIS_VERSION, "fit": fit_key, "settings": self.__dict__}
        text = json.dumps(payload, sort_keys=True, default=list)
        return hashlib.sha256(text.encode()).hexdigest()


def analyse_model(
    study: Study,
    name: str,
    fit: Fit,
    data: pd.DataFrame,
    *,
    model: Any = None,
    settings: AnalysisSettings | None = None,
) -> ModelAnalysis:
    """Analyse one model's fit (``fit.ok`` is required).

    Parameters
    ----------
    study
        The study the model belongs to.
    name
        The model's name.
    fit
        Its fit, with draws.
    data
        The study's data as loaded (group sizes and highlighted groups come from it).
    model
        The model's ``bambi.Model`` (need not be built): group estimates, fitted
        lines, the priors table and the population terms are read off it; without one
        those parts are notes.
    settings
        Default ``AnalysisSettings.of(study, name)``.
    """
    if not fit.ok or fit.tree is None:
        raise ValueError(f"model '{name}' has no draws to analyse: {fit.error or fit.status}")
    settings = settings or AnalysisSettings.of(study, name)
    spec = study.models[name]
    tree = fit.tree
    notes: list[str] = []
    family = spec.family
    link = _link(model)
    found: dict[str, Any] = {}
    found["diagnostics"] = attempt(
        notes,
        "Diagnostics",
        diagnose,
        tree,
        **settings.limits,
        max_treedepth=settings.max_treedepth,
        key=fit.key,
        centered=settings.centered,
    )
    table = attempt(notes, "The parameter table", parameter_table, tree, key=fit.key)
    ordinal = (
        _threshold_names(_response_levels(tree, data, fit)) if family in ORDINAL_FAMILIES else {}
    )
    if table is not None and ordinal:
        table = table.rename(index=lambda label: ordinal.get(str(label), label))
    if found["diagnostics"] is not None and ordinal:  # its sentences name them as the table
        problems = found["diagnostics"].problems
        for raw, named in ordinal.items():
            problems = tuple(p.replace(f"'{raw}'", f"'{named}'") for p in problems)
        found["diagnostics"] = replace(found["diagnostics"], problems=problems)
    found["table"] = table
    if settings.frequentist:
        reference, found["reference_method"] = _frequentist(study, name, model, data, notes)
        found["reml"] = {ordinal.get(label, label): value for label, value in reference.items()}
    if table is not None:
        sections, omitted = parameter_kinds(tree, table, model, data, settings.group)
        found["sections"], found["omitted"] = sections, omitted
    frame = getattr(model, "data", None)
    frame = frame if isinstance(frame, pd.DataFrame) else data
    effects = attempt(notes, "The random-effects table", random_effects, tree, frame, family)
    found["random_effects"] = tuple(effects or ())
    if effects:
        found["residual"] = residual(tree, family)
        found["correlations"] = tuple(
            attempt(notes, "The correlations of group effects", correlations, tree) or ()
        )
        found["group_effects"] = effect_structure(tree)
    if model is not None:
        from radonspec.compile.model import priors_table

        priors = attempt(notes, "The priors table", priors_table, model, spec)
        if priors is not None:
            found["priors"] = tuple(
                {"term": str(r["term"]), "prior": str(r["prior"]), "source": str(r["source"])}
                for _, r in priors.iterrows()
            )
    if "log_likelihood" in tree.children:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            found["loo"] = attempt(notes, "PSIS-LOO", pointwise_loo, tree)
        # ArviZ's advice reaches the reader; numpy's floating-point chatter does not
        notes += [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    found["modelled"] = attempt(notes, "What the model models", _modelled, study, name, tree, data)
    ppc_notes: list[str] = []
    found["ppc"] = _predictive(
        name, tree, family, data, ppc_notes, fit.meta.get("levels"), censoring_of(model)
    )
    found["prior_posterior"], found["prior_note"] = _prior_posterior(tree, found.get("sections"))
    group_notes: list[str] = []
    rows = model_rows(study, name, data)
    found["groups"], found["lines"], found["factor_estimates"] = _group_views(
        name, tree, model, data, rows, settings, group_notes
    )
    found |= after_fit(name, tree, model, family, settings)
    return ModelAnalysis(
        model=name,
        key=settings.key(fit.key),
        fit_key=fit.key,
        family=family,
        link=link,
        response=_response(tree),
        notes=tuple(notes),
        ppc_notes=tuple(ppc_notes),
        group_notes=tuple(group_notes),
        **{k: v for k, v in found.items() if v is not None},
    )


def after_fit(
    name: str, tree: xr.DataTree, model: Any, family: str, settings: AnalysisSettings
) -> dict[str, Any]:
    """Bayesian R², the conditional effects and (when asked) the prior sensitivity."""
    from radonspec.analysis.effects import NotApplicable, conditional_effect
    from radonspec.analysis.r2 import bayes_r2, undefined_reason
    from radonspec.analysis.sensitivity import prior_sensitivity

    found: dict[str, Any] = {}
    if model is None:
        why = "its model could not be built"
        found["r2_note"] = f"'{name}' has no Bayesian R²: {why}"
        if settings.effects:
            found["effect_notes"] = (f"'{name}' has no conditional effects: {why}",)
        if settings.prior_sensitivity:
            found["sensitivity_note"] = f"'{name}' has no prior sensitivity: {why}"
        return found
    found["r2_note"] = undefined_reason(family)
    censoring = censoring_of(model)
    if found["r2_note"] is None and censoring is not None and censoring.censored:
        found["r2_note"] = (
            f"Bayesian R² is not computed for '{name}': {censoring.describe()} observations"
            " are bounds, not values, and the residuals need values"
        )
    if found["r2_note"] is None:
        failed: list[str] = []
        found["r2"] = attempt(failed, f"The Bayesian R² of '{name}'", bayes_r2, model, tree)
        found["r2_note"] = failed[0] if failed else None
    notes: list[str] = []
    effects = []
    for predictor, by in settings.effects:
        try:
            effect = conditional_effect(name, model, tree, predictor, by, family)
        except NotApplicable as exc:
            notes.append(str(exc))
            continue
        except Exception as exc:  # noqa: BLE001 - one effect that fails is a note
            log.debug("effect of %s in %s failed", predictor, name, exc_info=True)
            text = " ".join(str(exc).split()) or type(exc).__name__
            notes.append(f"The effect of '{predictor}' in '{name}' could not be made: {text}")
            continue
        effects.append(effect)
    found["effects"] = tuple(effects)
    if settings.prior_sensitivity:
        sensitivity_notes: list[str] = []
        found["sensitivity"] = attempt(
            sensitivity_notes, f"The prior sensitivity of '{name}'", prior_sensitivity,
            model, tree,
        )  # fmt: skip
        found["sensitivity_note"] = sensitivity_notes[0] if sensitivity_notes else None
    found["effect_notes"] = tuple(notes)
    return found


def _threshold_names(levels: list[str]) -> dict[str, str]:
    """An ordinal model's thresholds named by the levels they separate (``threshold[low|mid]``).

    Bambi numbers them 0..K-2; threshold k lies between levels k and k + 1, as R's
    ``clm`` names them ``low|mid``.
    """
    return {
        f"threshold[{k}]": f"threshold[{levels[k]}|{levels[k + 1]}]" for k in range(len(levels) - 1)
    }


def _response_levels(tree: xr.DataTree, data: pd.DataFrame, fit: Fit) -> list[str]:
    found = (fit.meta.get("levels") or {}).get("response_levels")
    if found:
        return [str(v) for v in found]
    response = _response(tree)
    if response in data.columns and isinstance(data[response].dtype, pd.CategoricalDtype):
        return [str(c) for c in data[response].cat.categories]
    return []


def model_rows(study: Study, name: str, data: pd.DataFrame) -> np.ndarray:
    """Positions in the study's data of the rows model ``name`` uses (``data.dropna``)."""
    from radonspec.compile.model import used_columns
    from radonspec.study.checks import formula_infos

    spec = study.models[name]
    columns = [c for c in used_columns(formula_infos(spec, list(data.columns))) if c in data]
    if not study.data.dropna or not columns:
        return np.arange(len(data))
    return np.flatnonzero(data[columns].notna().all(axis=1).to_numpy())


def _modelled(
    study: Study, name: str, tree: xr.DataTree, data: pd.DataFrame
) -> ModelledResponse | None:
    response = _response(tree)
    if response is None:
        return None
    observed = np.asarray(tree["observed_data"][response].values)
    rows = model_rows(study, name, data)
    if observed.shape[0] != len(rows):
        raise ValueError(
            f"the fit has {observed.shape[0]} observations but the data give {len(rows)} rows"
        )
    spec = study.models[name]
    return modelled_response(
        spec.formulas[0], observed, data, rows, discrete=spec.family in DISCRETE_FAMILIES
    )


def pointwise_loo(tree: xr.DataTree) -> Pointwise:
    """PSIS-LOO of a fit as a ``Pointwise`` record.

    ArviZ's warning about large Pareto k is left out: the comparison counts those
    observations per model and says what to do.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Estimated shape parameter of Pareto")
        result = cached_loo(tree)
    return Pointwise(
        elpd=float(result.elpd),
        se=float(result.se),
        p=float(result.p),
        n_samples=int(result.n_samples),
        n_data_points=int(result.n_data_points),
        warning=bool(result.warning),
        good_k=float(getattr(result, "good_k", None) or 0.7),
        elpd_i=np.asarray(result.elpd_i, dtype=float).ravel(),
        pareto_k=np.asarray(result.pareto_k, dtype=float).ravel(),
    )


def parameter_kinds(
    tree: xr.DataTree,
    table: pd.DataFrame,
    model: Any,
    data: pd.DataFrame,
    group: str | None,
) -> tuple[tuple[tuple[str, tuple[str, ...]], ...], tuple[str, ...]]:
    """Split the table's labels into the report's kinds; say what is left out.

    Per-group values (Bambi's ``1|g[level]``, or the coefficients of ``0 + g`` when
    ``g`` is the report's grouping factor) are left to the group-level views and to
    summary.json; a table of 85 near-identical rows helps no reader.
    """
    posterior = tree["posterior"]
    levels = {str(v) for v in data[group].unique()} if group in data.columns else set()
    population = _population_names(model)
    kinds: dict[str, list[str]] = {
        POPULATION: [], GROUP_SDS: [], GROUP_CORRELATIONS: [], AUXILIARIES: [],
    }  # fmt: skip
    omitted: list[str] = []
    for var in dict.fromkeys(str(label).split("[")[0] for label in table.index):
        array = posterior[var]
        extra = [str(d) for d in array.dims if d not in SAMPLE_DIMS]
        size = int(np.prod([array.sizes[d] for d in extra])) if extra else 1
        if "|" in var and not var.endswith("_sigma") and not var.startswith(CORRELATION_PREFIX):
            factor = var.split("|", 1)[1]
            omitted.append(f"'{var}': {size} group-specific values, one per level of '{factor}'")
            continue
        if var.startswith(CORRELATION_PREFIX):
            kind = GROUP_CORRELATIONS
        elif "|" in var:
            kind = GROUP_SDS
        elif (population is not None and var not in population) or (
            population is None and var in AUXILIARY
        ):
            kind = AUXILIARIES
        else:
            kind = POPULATION
        per_group = any(
            {str(c) for c in np.asarray(array[d])} == levels
            for d in extra
            if levels and d in array.coords
        )
        if size > LARGE or (per_group and group is not None):
            why = f"one per level of '{group}'" if per_group else "a long vector"
            omitted.append(f"'{var}': {size} values, {why}")
            continue
        kinds[kind] += [str(label) for label in table.index if str(label).split("[")[0] == var]
    return tuple((title, tuple(labels)) for title, labels in kinds.items() if labels), tuple(
        omitted
    )


def residual(tree: xr.DataTree, family: str) -> tuple[float, float, float] | None:
    """Mean and 89% bounds of the residual SD (Gaussian models with a scalar sigma)."""
    sigma = tree["posterior"].to_dataset().get("sigma")
    if family != "gaussian" or sigma is None or set(sigma.dims) != set(SAMPLE_DIMS):
        return None
    stats = summarise_draws(sigma)
    return float(stats["mean"]), float(stats["lb"]), float(stats["ub"])


def _frequentist(
    study: Study, name: str, model: Any, data: pd.DataFrame, notes: list[str]
) -> tuple[dict[str, tuple[float, float]], str]:
    """The estimates and SEs of statsmodels by Bambi label, and the method (REML or ML).

    Where statsmodels has no fit of the model, one sentence in ``notes`` says why.
    """
    from radonspec.analysis.reference import NoReference, frequentist_reference

    spec = study.models[name]
    if model is None:
        notes.append(f"'{name}' has no frequentist reference: its model could not be built.")
        return {}, ""
    frame = getattr(model, "data", None)
    frame = frame if isinstance(frame, pd.DataFrame) else data
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # a full random-effects covariance for correlated effects, a diagonal one otherwise
            joint = bool(requested_factors(spec, check_formula(spec.formulas[0])))
            table = frequentist_reference(
                model, spec.family, list(spec.formulas), frame, correlated=joint
            )
    except NoReference as exc:
        notes.append(f"'{name}' has no frequentist reference: {exc}.")
        return {}, ""
    except Exception as exc:  # noqa: BLE001 - statsmodels' own failures become the note
        reason = " ".join(str(exc).split())[:160]
        notes.append(f"'{name}' has no frequentist reference: statsmodels failed ({reason}).")
        return {}, ""
    found = {str(t): (float(r["estimate"]), float(r["se"])) for t, r in table.iterrows()}
    return found, str(table.attrs.get("method", "ML"))


def _population_names(model: Any) -> set[str] | None:
    """Names of the common terms of the model's main parameter (``None`` without a model)."""
    try:
        parent = model.family.likelihood.parent
        component = model.parameters[parent]
        return {"Intercept", *map(str, component.common_terms)}
    except (AttributeError, KeyError, TypeError):
        return None


def _link(model: Any) -> str:
    try:
        return str(model.family.link[model.family.likelihood.parent].name)
    except (AttributeError, KeyError, TypeError):
        return ""


def _response(tree: xr.DataTree) -> str | None:
    if "observed_data" not in tree.children:
        return None
    names = list(tree["observed_data"].data_vars)
    return str(names[0]) if names else None


def _predictive(
    name: str,
    tree: xr.DataTree,
    family: str,
    data: pd.DataFrame,
    notes: list[str],
    levels: Mapping[str, Any] | None = None,
    censoring: Censoring | None = None,
) -> PredictiveCheck | None:
    if "posterior_predictive" not in tree.children:
        notes.append(
            f"'{name}' has no posterior predictive draws to check"
            " (its sampler has predictive: false)."
        )
        return None
    response = _response(tree)
    labels: tuple[str, ...] = ()
    ordered = [str(v) for v in (levels or {}).get("response_levels") or ()]
    event = (levels or {}).get("event")
    column = (levels or {}).get("response") or response
    if not ordered and column in data.columns:
        if isinstance(data[column].dtype, pd.CategoricalDtype):
            ordered = [str(c) for c in data[column].cat.categories]
    if event is not None and len(ordered) == 2 and str(event) in ordered:
        # Bambi models the response as 0/1 with 1 for the event
        labels = (next(v for v in ordered if v != str(event)), str(event))
    elif ordered:
        labels = tuple(ordered)
    elif response in data.columns and isinstance(data[response].dtype, pd.CategoricalDtype):
        labels = tuple(str(c) for c in data[response].cat.categories)
    if censoring is not None and censoring.censored:
        notes.append(
            f"'{name}': {censoring.describe()} of {censoring.status.size} observations. The"
            " observed curve counts a censored observation at its bound, while the replicated"
            " data are not censored, so the two differ where censoring is heavy even for a"
            " good model; the LOO-PIT allows for censoring (a censored observation's value is"
            " drawn within the range its bound leaves), and the PP RMSD is not computed."
        )
    return attempt(
        notes,
        f"The predictive check of '{name}'",
        predictive_check,
        tree,
        discrete=family in DISCRETE_FAMILIES,
        labels=labels,
        censoring=censoring,
    )


def _prior_posterior(
    tree: xr.DataTree, sections: tuple[tuple[str, tuple[str, ...]], ...] | None
) -> tuple[tuple[PriorPosterior, ...], str | None]:
    """Thinned prior and posterior draws of each population-level effect (fits with priors)."""
    if "prior" not in tree.children:
        return (), None
    wanted = [label.split("[")[0] for title, labels in sections or () if title == POPULATION
              for label in labels]  # fmt: skip
    prior, posterior = tree["prior"], tree["posterior"]
    pairs: list[PriorPosterior] = []
    for var in dict.fromkeys(wanted):
        if var not in prior.data_vars or var not in posterior.data_vars:
            continue
        before = _draws(prior.to_dataset()[var])
        after = _draws(posterior.to_dataset()[var])
        others = [d for d in posterior[var].dims if d not in SAMPLE_DIMS]
        labels = [var]
        if others:
            stacked = posterior[var].stack(__v__=others)["__v__"].values
            labels = [f"{var}[{_label(v)}]" for v in stacked]
        pairs += [PriorPosterior(lb, before[:, i], after[:, i]) for i, lb in enumerate(labels)]
    if not pairs:
        return (), "has no population-level effect with prior draws."
    return tuple(pairs), None


def _draws(array: xr.DataArray) -> np.ndarray:
    others = [d for d in array.dims if d not in SAMPLE_DIMS]
    values = np.asarray(array.transpose(*SAMPLE_DIMS, *others).values, dtype=float)
    values = values.reshape(array.sizes["chain"] * array.sizes["draw"], -1)
    step = max(1, values.shape[0] // MAX_PRIOR_DRAWS)
    return values[::step]


def _label(value: Any) -> str:
    return ", ".join(map(str, value)) if isinstance(value, tuple) else str(value)


def _group_views(
    name: str,
    tree: xr.DataTree,
    model: Any,
    data: pd.DataFrame,
    rows: np.ndarray,
    settings: AnalysisSettings,
    notes: list[str],
) -> tuple[GroupEstimates | None, tuple[FittedLine, ...], dict[str, GroupEstimates]]:
    """The report group's estimates and fitted lines, and every grouping factor's estimates."""
    group, predictor = settings.group, settings.predictor
    if model is None:
        if group is not None:
            notes.append(f"'{name}' has no group estimates: its model could not be built")
        return None, (), {}
    frame = getattr(model, "data", None)
    if not isinstance(frame, pd.DataFrame) or len(frame) != len(rows):
        notes.append(f"'{name}' has no group estimates: its data are not the fit's")
        return None, (), {}
    if predictor is not None and (
        predictor not in frame.columns or not pd.api.types.is_numeric_dtype(frame[predictor])
    ):
        if predictor in data.columns and predictor not in frame.columns:
            notes.append(
                f"'{name}' does not use report.predictor '{predictor}': its group estimates"
                " are intercepts only and its fitted lines are flat"
            )
        predictor_here = None
    else:
        predictor_here = predictor
    factors: dict[str, GroupEstimates] = {}
    for factor in _factors(tree):
        if not all(c in frame.columns for c in factor.split(":")):
            continue
        found = attempt(
            notes, f"The estimates of '{name}' by {factor}", group_estimates, model, tree, frame,
            factor, predictor_here, name=name,
        )  # fmt: skip
        if found is not None:
            factors[factor] = found
    if group is None or group not in data.columns:
        return None, (), factors
    labels = group_labels(data.iloc[rows], group)
    estimates = factors.get(group)
    if estimates is None:
        estimates = attempt(
            notes, f"The group estimates of '{name}'", group_estimates, model, tree, frame,
            group, predictor_here, name=name, labels=labels,
        )  # fmt: skip
    lines: tuple[FittedLine, ...] = ()
    if predictor is not None and predictor in data.columns:
        levels = [str(v) for v in highlight_levels(data, group, settings.highlight, [])]
        xs = np.linspace(float(data[predictor].min()), float(data[predictor].max()), LINE_POINTS)
        if predictor_here is None:
            frame = frame.assign(**{"__x__": 0.0})
        found_lines = attempt(
            notes, f"The fitted lines of '{name}'", group_lines, model, tree, frame, labels,
            predictor_here or "__x__", levels, xs,
        )  # fmt: skip
        lines = tuple(
            FittedLine(
                level, xs, v["mean"], v["lb"], v["ub"], v["link_mean"], v["link_lb"], v["link_ub"]
            )  # fmt: skip
            for level, v in (found_lines or {}).items()
        )
    return estimates, lines, factors


def _factors(tree: xr.DataTree) -> list[str]:
    """The grouping factors of a fit (``county``, ``batch:cask``), in order of appearance."""
    found = []
    for var in map(str, tree["posterior"].data_vars):
        if "|" in var and not var.endswith("_sigma") and not var.startswith("cor|"):
            found.append(var.split("|", 1)[1])
    return list(dict.fromkeys(found))


def highlight_levels(
    data: pd.DataFrame, group: str, highlight: tuple[str, ...], notes: list[str]
) -> list[Any]:
    """The levels named in report.highlight, or the smallest, a median and the largest group."""
    sizes = data.groupby(group, observed=True).size().sort_values(kind="stable")
    by_text = {str(level): level for level in sizes.index}
    if not highlight:
        picks = [sizes.index[0], sizes.index[len(sizes) // 2], sizes.index[-1]]
        notes.append(
            "report.highlight is empty: the fitted lines show the smallest, a median-sized and"
            " the largest group."
        )
        return list(dict.fromkeys(picks))
    levels = []
    for wanted in highlight:
        if str(wanted) in by_text:
            levels.append(by_text[str(wanted)])
        else:
            notes.append(
                f"report.highlight names '{wanted}', which is not a level of '{group}'"
                f"{did_you_mean(str(wanted), by_text)}"
            )
    return levels


__all__ = [
    "ANALYSIS_VERSION",
    "NO_PREDICTIVE",
    "AnalysisSettings",
    "FittedLine",
    "ModelAnalysis",
    "Pointwise",
    "PriorPosterior",
    "analyse_model",
]
