"""Static checks of a validated study that need more than one field: no data yet.

Formulas are parsed (never evaluated) and checked against the allow-list,
family and link against Bambi's registry, prior keys against the terms the
formula produces, and cross references between sections.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from radonspec.errors import Location, SpecError, did_you_mean, one_of
from radonspec.study.family import FamilyError, check_family_link, prior_keys
from radonspec.study.formula import FormulaError, FormulaInfo, check_formula
from radonspec.study.noncentered import noncentered_problem

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
    allowed = prior_keys(infos, model.family)
    for key in model.priors:
        if key not in allowed:
            errors.append(
                SpecError(
                    f"model '{name}': prior '{key}' names no term of the formula"
                    f" '{model.formulas[0]}'{did_you_mean(key, allowed)};"
                    f" prior keys here are {one_of(allowed)}",
                    study.locate_key("models", name, "priors", key),
                )
            )
    if model.noncentered:
        errors += _check_noncentered(study, name, model, infos)
    return errors


def _check_noncentered(
    study: Study, name: str, model: ModelSpec, infos: list[FormulaInfo]
) -> list[SpecError]:
    group_keys = {"group_specific"} | {
        f"{info.target}_{term}" if info.target else term
        for info in infos
        for term in info.group_terms
    }
    errors = []
    for key, prior in model.priors.items():
        problem = noncentered_problem(prior) if key in group_keys else None
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
    if (shrinkage or study.report.highlight or study.report.predictor) and not study.report.group:
        errors.append(
            SpecError(
                "report.shrinkage, report.highlight and report.predictor need report.group"
                " (the grouping factor, e.g. group: county)",
                study.locate("report"),
            )
        )
    return errors
