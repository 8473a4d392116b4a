"""A resolved model spec and its data become a checked ``bambi.Model``.

Checks made here need the data: columns exist with usable values, grouping
factors have at least two levels, and no automatic prior is infinite or zero
(Bambi scales its default priors by the predictor's spread, so a predictor
constant within the data, e.g. ``county:floor`` for a county measured only in
basements, gets an infinite scale and fails at the initial point).
"""

from __future__ import annotations

import contextlib
import math
import re
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from radonspec.compile import correlated
from radonspec.compile.usable import check_before_build, check_built
from radonspec.data.levels import (
    LevelsError,
    ModelLevels,
    design_frame,
    model_levels,
    predictor_columns,
)
from radonspec.data.load import Prepared, prepare
from radonspec.errors import CompileError, DataError, counted
from radonspec.study.checks import formula_infos
from radonspec.study.correlated import PREFIX, correlation_key
from radonspec.study.formula import (
    FormulaError,
    FormulaInfo,
    expand_double_bars,
    formula_namespace,
    response_call,
)
from radonspec.study.priorkeys import nest_priors
from radonspec.study.priors import to_bambi
from radonspec.study.schema import ModelSpec, Study


@dataclass(frozen=True)
class Compiled:
    """A model ready to sample: the Bambi model, the data it saw, its priors table."""

    name: str
    spec: ModelSpec
    model: Any  # bambi.Model; typed loosely because bambi ships no type information
    data: Prepared
    infos: tuple[FormulaInfo, ...]
    levels: ModelLevels = ModelLevels()

    def design(self, frame: pd.DataFrame) -> pd.DataFrame:
        """New rows (e.g. held-out ones) coded as the model's data was (``design_frame``)."""
        return design_frame(frame, self.levels)


def used_columns(infos: list[FormulaInfo] | tuple[FormulaInfo, ...]) -> list[str]:
    """Every data column a model's formulas read, in a stable order."""
    return sorted({column for info in infos for column in info.columns})


def compile_model(
    study: Study, name: str, frame: pd.DataFrame, *, keep_levels: bool = False
) -> Compiled:
    """Build the Bambi model of ``study.models[name]`` on ``frame``.

    With ``keep_levels`` every category of a column used only as a grouping factor
    stays a group of the model, with rows or not (``group_only_columns``): what a
    cross-validation refit needs to keep the shape of the full data's model.

    Raises
    ------
    CompileError
        Naming the model and its spec line, when Bambi refuses the model or a
        prior would be degenerate.
    DataError
        When the columns the formula uses are missing or unusable.
    """
    spec = study.models[name]
    where = study.locate("models", name)
    prefix = f"{where}: model '{name}'" if where else f"model '{name}'"
    try:
        infos = tuple(formula_infos(spec, list(frame.columns)))
    except FormulaError as exc:
        raise CompileError(f"{prefix}: {exc.message}") from None
    try:
        keep = group_only_columns(infos) if keep_levels else ()
        prepared = prepare(frame, study.data, used_columns(infos), keep)
    except DataError as exc:
        raise DataError(f"{prefix}: {exc}") from None
    _check_groups(prepared.frame, infos, prefix)
    _check_levels(prepared.frame, infos, prefix, filtered=bool(study.data.filter))
    _check_counts(prepared.frame, infos[0], prefix)
    try:
        levels = model_levels(study.data, spec, infos, prepared.frame)
    except LevelsError as exc:
        raise CompileError(f"{prefix}: {exc.message}") from None
    frame = design_frame(prepared.frame, levels)
    check_before_build(spec, infos, frame, prefix)
    model = _build_bambi(spec, infos, frame, prefix)
    check_built(model, prefix)
    _order_thresholds(model, prefix)
    _check_auto_priors(model, prefix)
    try:
        correlated.plan_model(model, spec, infos[0])
    except ValueError as exc:
        at = study.locate("models", name, "correlated")
        raise CompileError(f"{at}: model '{name}': {exc}" if at else f"{prefix}: {exc}") from None
    return Compiled(name, spec, model, prepared, infos, levels)


def group_only_columns(infos: Sequence[FormulaInfo]) -> list[str]:
    """Columns the formulas use as grouping factors and nowhere else, in a stable order.

    A refit on part of the data keeps all their levels: a group without rows then takes
    its effects from the group distribution, as a new group would, and the model keeps
    the shape of the full data's (so one compiled model serves every fold). A column
    that is also a predictor or the response keeps only its used levels: an empty dummy
    column would have no data to scale its prior by. Every categorical reaches Bambi
    ordered (``design_frame``), and an ordered column's categories are all its levels.
    """
    grouping = {column for info in infos for f in info.group_factors for column in f.split(":")}
    mentioned = set(predictor_columns(infos))
    for info in infos:
        mentioned |= set(re.findall(r"\w+", info.response or ""))
    return sorted(grouping - mentioned)


@contextlib.contextmanager
def _bambi_settings() -> Iterator[Any]:
    import bambi as bmb

    from radonspec.compile import design, factors, sources

    sources.install()  # no file left in /tmp per function Numba compiles
    design.install()  # every model compiled here builds its common terms sparsely
    factors.install()  # and its group factors as level codes, not n x J indicators
    correlated.install()  # and the terms of a factor in `correlated:` jointly
    previous = bmb.config["UNUSED_PRIORS"]
    bmb.config["UNUSED_PRIORS"] = "error"
    try:
        with warnings.catch_warnings():
            # Bambi's prior scaler divides by a predictor's sd; a zero sd is reported
            # by _check_auto_priors with the term's name, not as numpy's warning.
            warnings.simplefilter("ignore", RuntimeWarning)
            warnings.filterwarnings("ignore", category=FutureWarning, module="bambi")
            # an ordinal model's thresholds take the intercept's place: the report says so
            warnings.filterwarnings("ignore", message="The intercept is omitted in ordinal")
            yield bmb
    finally:
        bmb.config["UNUSED_PRIORS"] = previous


def _build_bambi(
    spec: ModelSpec, infos: tuple[FormulaInfo, ...], data: pd.DataFrame, prefix: str
) -> Any:
    with _bambi_settings() as bmb:
        given = {k: v for k, v in spec.priors.items() if not k.startswith(PREFIX)}
        priors = nest_priors({key: to_bambi(node) for key, node in given.items()}, infos)
        categorical = [c for c in data.columns if isinstance(data[c].dtype, pd.CategoricalDtype)]
        try:
            return bmb.Model(
                bmb.Formula(*map(expand_double_bars, spec.formulas)),
                data,
                family=spec.family,
                link=spec.link,
                priors=priors or None,
                categorical=categorical or None,
                noncentered=spec.noncentered,
                center_predictors=spec.center_predictors,
                extra_namespace=formula_namespace(),
                dropna=False,
            )
        except Exception as exc:  # Bambi raises bare ValueError/KeyError/...; reword them all
            early = _interaction_first(infos[0]) if isinstance(exc, IndexError) else None
            if early is not None:
                raise CompileError(
                    f"{prefix}: Bambi cannot build an interaction written before one of its"
                    f" main effects ('{early[0]}' before '{early[1]}'); write '{early[1]}'"
                    f" first, e.g. ... + {early[1]} + {early[0]}"
                ) from exc
            raise CompileError(
                f"{prefix}: Bambi cannot build the model: {_first_line(exc)}"
            ) from exc


def _interaction_first(info: FormulaInfo) -> tuple[str, str] | None:
    """An interaction term before one of its own main effects, as (interaction, effect).

    formulae 0.6 fails on ``y ~ a + a:b + b`` with "list index out of range" (``y ~ a +
    b + a:b`` builds): the order is the only problem, and the message says which.
    """
    terms = list(info.common_terms)
    for index, term in enumerate(terms):
        if ":" not in term:
            continue
        later = [t for t in terms[index + 1 :] if t in term.split(":")]
        if later:
            return term, later[0]
    return None


def _order_thresholds(model: Any, prefix: str) -> None:
    """Keep a cumulative model's thresholds ordered under a prior the spec gives.

    Bambi orders the thresholds of its own default prior (an ``ordered`` transform,
    means spread over -2..2) but passes a given prior such as ``Normal(0, 10)`` on
    as it is: unordered thresholds, whose cumulative likelihood has no finite density
    wherever two cross. The transform is added; the prior's locations must then be
    increasing, one per threshold, since its initial point is there (a scalar
    location would start every threshold at one value, where the ordered transform
    is undefined; PyMC's ``initval`` would avoid that, but nutpie refuses models
    that set one).
    """
    import pymc as pm
    from bambi.families.univariate import Cumulative

    if not isinstance(model.family, Cumulative):
        return
    component = model.parameters.get("threshold")
    prior = getattr(component, "prior", None)
    if prior is None or getattr(prior, "auto_scale", True) or not hasattr(prior, "args"):
        return
    if "transform" in prior.args:
        return
    count = len(model.response_term.levels) - 1
    location = next((prior.args[k] for k in ("mu", "alpha", "nu") if k in prior.args), None)
    spread = np.round(np.linspace(-2, 2, num=count), 2)
    values = np.atleast_1d(np.asarray(location, dtype=float)) if location is not None else None
    if values is None or values.shape != (count,) or not np.all(np.diff(values) > 0):
        example = f"{prior.name}([{', '.join(f'{v:g}' for v in spread)}], 10)"
        raise CompileError(
            f"{prefix}: the prior on 'threshold' must give one increasing location per"
            f" threshold ({count} for {count + 1} levels), lowest first, so that the"
            f" thresholds start in order; for example threshold: {example}"
        )
    prior.update(transform=pm.distributions.transforms.ordered)


def _check_levels(
    data: pd.DataFrame, infos: tuple[FormulaInfo, ...], prefix: str, *, filtered: bool
) -> None:
    """A categorical predictor with one level in the rows used has no contrast to estimate.

    Bambi builds a term of no columns for it and fails after sampling, with numpy's
    "cannot reshape array of size 0"; here it is refused before anything is sampled.
    """
    for info in infos:
        if "Intercept" not in info.common_terms:
            continue  # without an intercept a one-level factor is the intercept's column
        for column in info.common_terms:  # main effects: an interaction x:a keeps a slope
            if column not in data or not isinstance(data[column].dtype, pd.CategoricalDtype):
                continue
            present = data[column].dropna().unique()
            if len(present) < 2:
                level = f" ('{present[0]}')" if len(present) else ""
                where = " after data.filter" if filtered else ""
                raise CompileError(
                    f"{prefix}: the categorical predictor '{column}' has one level{level}"
                    f" in the rows the model uses{where}, so it has no effect to estimate:"
                    " drop it from the formula, or keep rows of another level"
                )


def _check_counts(data: pd.DataFrame, main: FormulaInfo, prefix: str) -> None:
    """The columns of ``p(successes, trials)`` hold numbers, not categories.

    Bambi fails on a categorical one with pandas' "cannot perform the numpy op remainder".
    """
    call = response_call(main.response)
    if call is None or call[0] != "p":
        return
    for role, column in zip(("successes", "trials"), call[1], strict=False):
        if column in data and not pd.api.types.is_numeric_dtype(data[column].dtype):
            listed = isinstance(data[column].dtype, pd.CategoricalDtype)
            raise CompileError(
                f"{prefix}: the {role} of {main.response}, '{column}', are categories, not"
                f" numbers{' (data.categorical lists it)' if listed else ''}: p(successes,"
                " trials) counts successes out of trials, both columns of numbers"
            )


def _check_groups(data: pd.DataFrame, infos: tuple[FormulaInfo, ...], prefix: str) -> None:
    for info in infos:
        for factor in info.group_factors:
            for column in factor.split(":"):
                if column in data and data[column].nunique() < 2:
                    raise CompileError(
                        f"{prefix}: grouping factor '{column}' has"
                        f" {counted(data[column].nunique(), 'level')}; a group-specific term"
                        " needs at least two groups"
                    )


def _check_auto_priors(model: Any, prefix: str) -> None:
    """Refuse priors with infinite, NaN or zero scale before any sampling."""
    for component_name, component in model.parameters.items():
        terms = getattr(component, "terms", None)
        items = terms.items() if terms else [(component_name, component)]
        for term_name, term in items:
            prior = getattr(term, "prior", None)
            if prior is None or isinstance(prior, int | float):
                continue
            bad = _degenerate_arg(prior)
            if bad is not None:
                raise CompileError(
                    f"{prefix}: the automatic prior of term '{term_name}' is degenerate"
                    f" ({bad}): its predictor has no variance in the data (for example a level"
                    f" measured under one condition only); give '{term_name}' an explicit prior"
                    f" under priors, e.g. '{term_name}': Normal(0, 10)"
                )


def _degenerate_arg(prior: Any) -> str | None:
    for arg, value in getattr(prior, "args", {}).items():
        if hasattr(value, "args"):  # a hyperprior
            nested = _degenerate_arg(value)
            if nested is not None:
                return nested
            continue
        try:
            array = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            continue
        if not np.all(np.isfinite(array)):
            return f"{arg} is {_worst(array)}"
        if arg in {"sigma", "tau", "beta", "lam", "alpha"} and np.any(array <= 0):
            return f"{arg} is 0"
    return None


def _worst(array: np.ndarray) -> str:
    flat = array.ravel()
    bad = flat[~np.isfinite(flat)]
    value = bad[0]
    return "NaN" if math.isnan(value) else ("inf" if value > 0 else "-inf")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def priors_table(model: Any, spec: ModelSpec) -> pd.DataFrame:
    """Every prior of a built Bambi model, marking which the spec gave and which are automatic."""
    from bambi.terms import CommonTerm, GroupSpecificTerm

    rows = []
    given = set(spec.priors)
    for component_name, component in model.parameters.items():
        terms = getattr(component, "terms", None)
        if terms:
            alias = getattr(component, "prefix", "") or ""
            for term_name, term in terms.items():
                key = f"{alias}_{term_name}" if alias else term_name
                # 'common' and 'group_specific' reach the main parameter's terms that have
                # no prior of their own, as Bambi's DistributionalComponent.update_priors does
                by_kind = not alias and (
                    ("group_specific" in given and isinstance(term, GroupSpecificTerm))
                    or (
                        "common" in given
                        and isinstance(term, CommonTerm)
                        and getattr(term, "kind", None) != "offset"
                    )
                )
                # a distributional parameter's terms are keyed with its prefix only
                from_spec = key in given or by_kind
                rows.append(_prior_row(key, term.prior, from_spec))
        else:
            rows.append(_prior_row(component_name, component.prior, component_name in given))
    plan = getattr(model, correlated.ATTRIBUTE, None)
    for factor, eta in (plan.eta if plan is not None else {}).items():
        key = correlation_key(factor)
        source = "spec" if key in given else "radonspec"  # radonspec's default, not Bambi's
        rows.append({"term": key, "prior": f"LKJCorr(eta={eta:g})", "source": source})
    return pd.DataFrame(rows, columns=["term", "prior", "source"])


def _prior_row(term: str, prior: Any, given: bool) -> dict[str, str]:
    text = " ".join(str(prior).split())
    return {"term": term, "prior": text, "source": "spec" if given else "auto"}


def study_base(study: Study) -> Path:
    """Folder relative paths of the study resolve against."""
    return Path(study.source).resolve().parent
