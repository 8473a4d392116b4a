"""Static checks of a validated study that need more than one field: no data yet.

Formulas are parsed (never evaluated) and checked against the allow-list,
family and link against Bambi's registry, prior keys against the terms the
formula produces, and cross references between sections.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from radonspec.errors import Location, SpecError, did_you_mean, one_of
from radonspec.study.correlated import PREFIX, requested_factors
from radonspec.study.family import TRIALS_FAMILIES, FamilyError, check_family_link
from radonspec.study.formula import FormulaError, FormulaInfo, check_formula, response_call
from radonspec.study.noncentered import noncentered_problem
from radonspec.study.priorkeys import prior_keys
from radonspec.study.priors import CORRELATION_PRIOR, PriorNode

if TYPE_CHECKING:
    from radonspec.study.schema import ModelSpec, Study


def check_study(study: Study) -> list[SpecError]:
    """Return every static problem of ``study`` (empty when there is none)."""
    errors: list[SpecError] = []
    for name, model in study.models.items():
        errors += check_model(study, name, model)
    errors += _check_references(study)
    return errors


def formula_infos(model: ModelSpec, columns: list[str] | None = None) -> list[FormulaInfo]:
    """Parse each formula of a model (main first); raises ``FormulaError``."""
    return [
        check_formula(text, columns, main=index == 0, family=model.family)
        for index, text in enumerate(model.formulas)
    ]


def grouping_factors(study: Study) -> list[str]:
    """The study's grouping factors that are columns, in the order they first appear.

    An interaction of factors (``herd:pen``, which ``(1 | herd/pen)`` makes too) is no
    column and is left out. A formula that does not parse contributes nothing (the checks
    say why it does not).
    """
    found: dict[str, None] = {}
    for model in study.models.values():
        for index, text in enumerate(model.formulas):
            found.update(dict.fromkeys(_group_factors(text, model.family, index == 0)))
    return [factor for factor in found if ":" not in factor]


def report_group(study: Study) -> str | None:
    """The grouping factor of the report's group-level views.

    ``report.group`` when set; otherwise the study's one grouping factor that is a
    column (``herd`` in ``(1 | herd)``; a nesting such as ``(1 | herd/pen)`` has one,
    ``herd``), so that a multilevel study shows its group estimates without being told
    which; ``None`` where there is none, or several to choose from (the report then says
    how to choose).
    """
    if study.report.group is not None:
        return study.report.group
    factors = grouping_factors(study)
    return factors[0] if len(factors) == 1 else None


@functools.lru_cache(maxsize=256)
def _group_factors(formula: str, family: str, main: bool) -> tuple[str, ...]:
    try:
        return check_formula(formula, None, main=main, family=family).group_factors
    except FormulaError:
        return ()


def _check_trials(study: Study, name: str, model: ModelSpec, main: FormulaInfo) -> list[SpecError]:
    """A binomial family needs ``p(successes, trials)``, and ``p(...)`` needs a binomial family.

    Bambi fails on either mismatch only when it builds the model, with numpy's words
    ("too many indices for array", "Incompatible Elemwise input shapes").
    """
    call = response_call(main.response)
    trials = call is not None and call[0] == "p" and len(call[1]) == 2
    where = study.locate("models", name, "formula")
    if model.family in TRIALS_FAMILIES and not trials:
        return [
            SpecError(
                f"model '{name}': the {model.family} family counts successes out of trials:"
                f" write the response as p(successes, trials), e.g. p({main.response}, n) with"
                " n the column of trials; for one 0/1 outcome per row use family: bernoulli",
                where,
            )
        ]
    if trials and model.family not in TRIALS_FAMILIES:
        return [
            SpecError(
                f"model '{name}': {main.response} is a count of successes out of trials, which"
                f" the {model.family} family cannot model: use family: binomial (or"
                " beta_binomial), or write a single column as the response",
                where,
            )
        ]
    return []


def _check_censored(study: Study, name: str, main: FormulaInfo) -> list[SpecError]:
    """Interval censoring, ``censored(lower, upper, status)``, is refused.

    Bambi 0.21 accepts the three arguments and then reads the second as the status
    codes, so every row is fitted as exact or wrongly censored, without a word.
    """
    call = response_call(main.response)
    if call is None or call[0] != "censored" or len(call[1]) < 3:
        return []
    return [
        SpecError(
            f"model '{name}': {main.response} is interval censoring, which Bambi 0.21 does not"
            " fit (it reads the upper bounds as the censoring codes); use censored(value,"
            " status) with status 'none', 'right' or 'left'",
            study.locate("models", name, "formula"),
        )
    ]


def check_model(
    study: Study, name: str, model: ModelSpec, columns: list[str] | None = None
) -> list[SpecError]:
    """Check one model's formulas, family, link and prior keys."""
    errors: list[SpecError] = []
    infos: list[FormulaInfo] = []
    for index, text in enumerate(model.formulas):
        path: tuple[str | int, ...] = ("models", name, "formula")
        if not isinstance(model.formula, str):
            path = (*path, index)
        try:
            infos.append(check_formula(text, columns, main=index == 0, family=model.family))
        except FormulaError as exc:
            errors.append(
                SpecError(f"model '{name}': {exc.message}", _shift(study.locate(*path), exc))
            )
    try:
        check_family_link(model.family, model.link)
    except FamilyError as exc:
        errors.append(SpecError(f"model '{name}': {exc}", study.locate("models", name, exc.field)))
    if errors or not infos:
        return errors
    errors += _check_trials(study, name, model, infos[0])
    errors += _check_censored(study, name, infos[0])
    errors += _check_correlated(study, name, model, infos[0])
    if errors:
        return errors
    allowed = prior_keys(infos, model.family, requested_factors(model, infos[0]))
    for key, prior in model.priors.items():
        where = study.locate_key("models", name, "priors", key)
        if key.startswith(PREFIX) and key not in allowed:
            factor = key[len(PREFIX) :]
            if factor in infos[0].group_factors:
                errors.append(
                    SpecError(
                        f"model '{name}': prior '{key}' is the correlation of the effects of"
                        f" '{factor}', which are independent; add '{factor}' to correlated,"
                        f" e.g. correlated: [{factor}]",
                        where,
                    )
                )
                continue
        if key in allowed and (key.startswith(PREFIX)) != (prior.dist == CORRELATION_PRIOR):
            errors.append(
                SpecError(
                    f"model '{name}': prior '{key}' is {prior.dist}; "
                    + (
                        f"the correlation of a factor's effects takes {CORRELATION_PRIOR},"
                        f" e.g. '{key}': {CORRELATION_PRIOR}(eta=2)"
                        if key.startswith(PREFIX)
                        else f"{CORRELATION_PRIOR} is only for the correlation of correlated"
                        " effects, under a key such as 'cor|county'"
                    ),
                    where,
                )
            )
            continue
        if key not in allowed:
            errors.append(
                SpecError(
                    f"model '{name}': prior '{key}' names no term of the formula"
                    f" '{model.formulas[0]}'{did_you_mean(key, allowed)};"
                    f" prior keys here are {one_of(allowed)}",
                    where,
                )
            )
    errors += _check_group_priors(study, name, model, infos)
    return errors


def _check_correlated(
    study: Study, name: str, model: ModelSpec, main: FormulaInfo
) -> list[SpecError]:
    """Every factor in ``correlated`` is a factor of the main formula written with '|'."""
    if model.correlated is True:
        if not requested_factors(model, main):
            found = (
                "has no group-specific term"
                if not main.group_factors
                else ("writes every group-specific term with '||' (independent)")
            )
            return [
                SpecError(
                    f"model '{name}': correlated is true, but the main formula {found};"
                    " add a term such as (x | g), or remove correlated",
                    study.locate("models", name, "correlated"),
                )
            ]
        return []
    errors = []
    factors = main.group_factors
    for index, factor in enumerate(model.correlated):
        where = study.locate("models", name, "correlated", index)
        if factor in main.independent_factors:
            errors.append(
                SpecError(
                    f"model '{name}': '{factor}' is in correlated, but the formula writes its"
                    " effects with '||', which means independent (as in lme4); write '|' to"
                    f" correlate them, or remove '{factor}' from correlated",
                    where,
                )
            )
        elif factor not in factors:
            listed = (
                f"its grouping factors are {one_of(factors)}"
                if factors
                else ("it has no group-specific term, e.g. (x | g)")
            )
            errors.append(
                SpecError(
                    f"model '{name}': correlated names '{factor}', which is not a grouping"
                    f" factor of the main formula '{model.formulas[0]}'"
                    f"{did_you_mean(factor, factors)}; {listed}",
                    where,
                )
            )
    return errors


def _check_group_priors(
    study: Study, name: str, model: ModelSpec, infos: list[FormulaInfo]
) -> list[SpecError]:
    """Group-specific priors Bambi can build: with a hyperprior, and non-centrable if asked."""
    group_keys = {"group_specific"} | {
        f"{info.target}_{term}" if info.target else term
        for info in infos
        for term in info.group_terms
    }
    errors = []
    for key, prior in model.priors.items():
        if key in group_keys and not any(isinstance(v, PriorNode) for _, v in prior.args):
            # Bambi refuses it centered or not ("must have hyperpriors"), when it builds
            errors.append(
                SpecError(
                    f"model '{name}': the prior of '{key}' fixes the spread of the"
                    " group-specific effects, and Bambi needs it estimated: give the prior a"
                    f" hyperprior, such as '{key}': Normal(0, sigma=HalfNormal(1))",
                    study.locate_key("models", name, "priors", key),
                )
            )
            continue
        problem = noncentered_problem(prior) if key in group_keys and model.noncentered else None
        if problem:
            errors.append(
                SpecError(
                    f"model '{name}': the prior of '{key}' {problem} (noncentered: true, the"
                    f" default); set noncentered: false in model '{name}', or give '{key}' a"
                    " prior Normal(0, sigma=...) such as Normal(0, sigma=HalfNormal(1))",
                    study.locate_key("models", name, "priors", key),
                )
            )
    return errors


def _shift(location: Location | None, exc: FormulaError) -> Location | None:
    if location is None:
        return None
    return Location(location.file, location.line, location.column + max(exc.offset, 0))


def _check_references(study: Study) -> list[SpecError]:
    errors: list[SpecError] = []
    names = list(study.models)

    def need_model(model: str, *path: str | int) -> None:
        if model not in study.models:
            errors.append(
                SpecError(
                    f"'{model}' is not a model of this study{did_you_mean(model, names)};"
                    f" models are {one_of(names)}",
                    study.locate(*path),
                )
            )

    for index, model in enumerate(study.compare.models or ()):
        need_model(model, "compare", "models", index)
    shrinkage = study.report.shrinkage
    if shrinkage is not None:
        need_model(shrinkage.from_, "report", "shrinkage", "from")
        need_model(shrinkage.to, "report", "shrinkage", "to")
    needs_group = shrinkage or study.report.highlight or study.report.predictor
    if needs_group and report_group(study) is None:
        factors = grouping_factors(study)
        which = (
            f"(the grouping factor: {one_of(factors)})"
            if factors
            else "(a grouping factor), and no model has group-specific terms"
        )
        errors.append(
            SpecError(
                "report.shrinkage, report.highlight and report.predictor need report.group"
                f" {which}",
                study.locate("report"),
            )
        )
    return errors
