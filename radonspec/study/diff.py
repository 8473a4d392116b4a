"""Statistical differences between two models, as sentences.

What counts is what changes the model or its fit key: terms, group-specific terms,
the response, distributional formulas, priors, family, link, parametrisation,
sampler settings and the data. Formulas are compared by the terms they produce
(``spec.formula``), so rewriting ``y ~ a + b`` as ``y ~ b + a`` is no difference.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from radonspec.errors import SpecError, did_you_mean, one_of
from radonspec.study.correlated import DEFAULT_ETA, PREFIX, eta_of, requested_factors
from radonspec.study.formula import FormulaError, FormulaInfo, check_formula
from radonspec.study.priors import PriorNode
from radonspec.study.schema import DataSpec, ModelSpec, Study

Kind = Literal[
    "data", "response", "terms", "group", "formula", "prior", "family", "link", "parametrisation",
    "sampler",
]  # fmt: skip

AUTO_PRIOR = "Bambi's automatic prior"
#: Prior keys that name no term: they apply to whichever terms a model has.
GLOBAL_PRIOR_KEYS = ("common", "group_specific")


@dataclass(frozen=True)
class Difference:
    """One statistical difference of model B from model A, as a sentence about B."""

    kind: Kind
    text: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.text}"


def diff_models(a: ModelSpec, b: ModelSpec) -> list[Difference]:
    """How model ``b`` differs from model ``a``, one sentence per difference.

    Parameters
    ----------
    a, b
        Resolved model specs (``study.models[name]``).

    Returns
    -------
    list of Difference
        Empty when the two specs fit the same model the same way.
    """
    found: list[Difference] = []
    found += _formula_differences(a, b)
    found += _correlation_differences(a, b)
    found += _prior_differences(a, b)
    if a.family != b.family:
        found.append(Difference("family", f"changes the family from '{a.family}' to '{b.family}'"))
    if a.link != b.link:
        found.append(
            Difference("link", f"changes the link from {_link(a.link)} to {_link(b.link)}")
        )
    if a.noncentered != b.noncentered and _has_groups(a) and _has_groups(b):
        found.append(
            Difference(
                "parametrisation",
                "parametrises group-specific terms "
                + ("non-centered" if b.noncentered else "centered")
                + " instead of "
                + ("non-centered" if a.noncentered else "centered"),
            )
        )
    if a.center_predictors != b.center_predictors:
        found.append(
            Difference(
                "parametrisation",
                "centers common predictors (the Intercept is the mean response at average"
                " predictors)"
                if b.center_predictors
                else "no longer centers common predictors (the Intercept is the response at"
                " predictors zero)",
            )
        )
    for name, left, right in _changed(a.sampler.model_dump(), b.sampler.model_dump()):
        if name == "backend":
            text = f"samples with {right} instead of {left}"
        else:
            text = f"changes sampler.{name} from {left} to {right}"
        found.append(Difference("sampler", text))
    return found


def diff_data(a: DataSpec, b: DataSpec) -> list[Difference]:
    """How the data of study B differ from those of study A (source, filter, types)."""
    found = []
    for name, left, right in _changed(a.model_dump(), b.model_dump()):
        found.append(
            Difference("data", f"changes data.{name} from {_show(left)} to {_show(right)}")
        )
    return found


def diff_study_models(
    study_a: Study, model_a: str, study_b: Study, model_b: str
) -> list[Difference]:
    """Differences of ``study_b.models[model_b]`` from ``study_a.models[model_a]``, data included.

    Two models of different names also differ in seed: each model's seed derives
    from the study seed and its name, which a final sentence says.
    """
    found = diff_data(study_a.data, study_b.data)
    found += diff_models(study_a.models[model_a], study_b.models[model_b])
    if model_a != model_b:
        found.append(
            Difference(
                "sampler",
                f"draws with another seed: each model's seed derives from its name"
                f" ('{model_a}' vs '{model_b}')",
            )
        )
    return found


def model_differences(study: Study, reference: str | None = None) -> dict[str, list[str]]:
    """For the report: each model's differences from the study's reference model.

    Parameters
    ----------
    study
        A loaded study.
    reference
        The model to compare against; default ``reference_model(study)``.

    Returns
    -------
    dict
        Model name -> sentences (``"terms: adds the common term 'x'"``), every model
        but the reference, in the study's order. A model identical to the reference
        gets an empty list.
    """
    ref = reference or reference_model(study)
    base = study.models[ref]
    return {
        name: [str(d) for d in diff_models(base, spec)]
        for name, spec in study.models.items()
        if name != ref
    }


def reference_model(study: Study) -> str:
    """The model others are described against.

    ``compare.reference`` if given, else the sweep's base, else the study's first model.
    """
    if study.compare.reference is not None:
        return study.compare.reference
    if study.sweep is not None and study.sweep.base in study.models:
        return study.sweep.base
    return next(iter(study.models))


# Targets on the command line ----------------------------------------------------------


def split_target(target: str) -> tuple[Path, str | None]:
    """``study.yaml:model`` -> (path, model); ``study.yaml`` -> (path, None).

    A target that names an existing file as a whole is a path, colons and all.
    """
    if os.path.exists(target):
        return Path(target), None
    path, sep, model = target.rpartition(":")
    if sep and path and model and not model.startswith(("/", "\\")):
        return Path(path), model
    return Path(target), None


def pick_model(study: Study, model: str | None, target: str) -> str:
    """The model a target names, or the study's only model; a ``SpecError`` otherwise."""
    names = list(study.models)
    if model is None:
        if len(names) == 1:
            return names[0]
        raise SpecError(
            f"{target} has {len(names)} models; name one as {target}:MODEL"
            f" (models are {one_of(names)}), or give two files to compare models by name"
        )
    if model not in study.models:
        raise SpecError(
            f"{target}: '{model}' is not a model of this study{did_you_mean(model, names)};"
            f" models are {one_of(names)}"
        )
    return model


def pair_models(study_a: Study, study_b: Study) -> list[tuple[str | None, str | None]]:
    """Models of two studies paired by name: (a, b), (a, None) or (None, b)."""
    pairs: list[tuple[str | None, str | None]] = []
    for name in study_a.models:
        pairs.append((name, name if name in study_b.models else None))
    pairs += [(None, name) for name in study_b.models if name not in study_a.models]
    return pairs


# Formulas ---------------------------------------------------------------------------


def _infos(spec: ModelSpec) -> dict[str | None, FormulaInfo] | None:
    """Formula infos by target (``None`` for the main formula); None if one does not parse."""
    found: dict[str | None, FormulaInfo] = {}
    try:
        for index, text in enumerate(spec.formulas):
            info = check_formula(text, None, main=index == 0, family=spec.family)
            found[info.target] = info
    except FormulaError:
        return None
    return found


def _formula_differences(a: ModelSpec, b: ModelSpec) -> list[Difference]:
    if _normal(a.formulas) == _normal(b.formulas):
        return []
    infos_a, infos_b = _infos(a), _infos(b)
    if infos_a is None or infos_b is None:
        return [
            Difference(
                "formula",
                f"changes the formula from '{' | '.join(a.formulas)}'"
                f" to '{' | '.join(b.formulas)}'",
            )
        ]
    found: list[Difference] = []
    main_a, main_b = infos_a[None], infos_b[None]
    if main_a.response != main_b.response:
        found.append(
            Difference(
                "response",
                f"changes the response from '{main_a.response}' to '{main_b.response}'",
            )
        )
    found += _term_differences(main_a, main_b, "")
    for target in dict.fromkeys([*infos_a, *infos_b]):
        if target is None:
            continue
        left, right = infos_a.get(target), infos_b.get(target)
        if left is None and right is not None:
            found.append(
                Difference("formula", f"models '{target}' by the formula '{right.formula}'")
            )
        elif right is None and left is not None:
            found.append(
                Difference(
                    "formula", f"no longer models '{target}' by a formula ('{left.formula}')"
                )
            )
        elif left is not None and right is not None:
            found += _term_differences(left, right, f" of '{target}'")
    if not found:
        found.append(
            Difference(
                "formula",
                f"rewrites the formula as '{' | '.join(b.formulas)}' with the same terms",
            )
        )
    return found


def _term_differences(a: FormulaInfo, b: FormulaInfo, where: str) -> list[Difference]:
    found: list[Difference] = []
    common_a = [t for t in a.common_terms if t != "Intercept"]
    common_b = [t for t in b.common_terms if t != "Intercept"]
    had, has = "Intercept" in a.common_terms, "Intercept" in b.common_terms
    if had and not has:
        found.append(Difference("terms", f"drops the intercept{where}"))
    elif has and not had:
        found.append(Difference("terms", f"adds an intercept{where}"))
    found += _set_change("terms", "common term", common_a, common_b, where)
    found += _set_change("terms", "offset", list(a.offsets), list(b.offsets), where)
    found += _set_change(
        "group", "group-specific term", list(a.group_terms), list(b.group_terms), where
    )
    return found


def _set_change(kind: Kind, noun: str, a: list[str], b: list[str], where: str) -> list[Difference]:
    added = [t for t in b if t not in a]
    removed = [t for t in a if t not in b]
    found = []
    if added:
        found.append(Difference(kind, f"adds the {_plural(noun, added)} {_quoted(added)}{where}"))
    if removed:
        found.append(
            Difference(kind, f"removes the {_plural(noun, removed)} {_quoted(removed)}{where}")
        )
    return found


# Priors -----------------------------------------------------------------------------


def _correlated(spec: ModelSpec) -> dict[str, float]:
    infos = _infos(spec)
    if infos is None or None not in infos:
        return {}
    return {f: eta_of(spec, f) for f in requested_factors(spec, infos[None])}


def _correlation_differences(a: ModelSpec, b: ModelSpec) -> list[Difference]:
    """Factors whose effects one model correlates and the other draws independently."""
    joint_a, joint_b = _correlated(a), _correlated(b)
    factors_b = (_infos(b) or {}).get(None)
    found = []
    for factor, eta in joint_b.items():
        if factor not in joint_a:
            found.append(
                Difference(
                    "group",
                    f"correlates the group-specific effects of '{factor}' (drawn jointly, LKJ"
                    f" prior with eta {_number(eta)}) instead of drawing them independently",
                )
            )
    for factor in joint_a:
        if factor not in joint_b and factors_b is not None and factor in factors_b.group_factors:
            found.append(
                Difference(
                    "group",
                    f"draws the group-specific effects of '{factor}' independently instead of"
                    " correlated",
                )
            )
    return found


def _has_groups(spec: ModelSpec) -> bool:
    infos = _infos(spec)
    return infos is None or any(info.group_terms for info in infos.values())


def _prior_differences(a: ModelSpec, b: ModelSpec) -> list[Difference]:
    found: list[Difference] = []
    terms_a, terms_b = _terms(a), _terms(b)
    factors = {
        key: _scale_factor(a.priors[key], b.priors[key])
        for key in a.priors
        if key in b.priors and a.priors[key] != b.priors[key]
    }
    same = set(factors.values())
    unchanged = [key for key in a.priors if key in b.priors and a.priors[key] == b.priors[key]]
    if len(factors) >= 2 and len(same) == 1 and None not in same and not unchanged:
        # a prior_scale sweep: one sentence instead of one per prior
        factor = next(iter(same))
        assert factor is not None
        verb = "widens" if factor > 1 else "narrows"
        found.append(
            Difference(
                "prior",
                f"{verb} every prior by a factor {_number(factor)}"
                f" ({', '.join(repr(k) for k in factors)})",
            )
        )
        a = a.model_copy(update={"priors": {**a.priors, **{k: b.priors[k] for k in factors}}})
    for key in dict.fromkeys([*a.priors, *b.priors]):
        left, right = a.priors.get(key), b.priors.get(key)
        if left == right:
            continue
        if left is None and right is not None:
            named = key in GLOBAL_PRIOR_KEYS or key.startswith(PREFIX)
            if terms_a is not None and key not in terms_a and not named:
                # a term model A lacks had no prior there, automatic or not
                found.append(Difference("prior", f"gives the new term '{key}' the prior {right}"))
            else:
                was = (
                    f"LKJCorr(eta={_number(DEFAULT_ETA)})" if key.startswith(PREFIX) else AUTO_PRIOR
                )
                found.append(Difference("prior", f"gives '{key}' the prior {right} (was {was})"))
        elif right is None and left is not None:
            if terms_b is not None and key not in terms_b:
                continue  # the term itself is gone: the formula sentences say so
            found.append(Difference("prior", f"drops the prior {left} on '{key}' ({AUTO_PRIOR})"))
        elif left is not None and right is not None:
            factor = _scale_factor(left, right)
            if factor is not None:
                verb = "widens" if factor > 1 else "narrows"
                found.append(
                    Difference(
                        "prior",
                        f"{verb} the prior on '{key}' by a factor {_number(factor)}"
                        f" ({left} to {right})",
                    )
                )
            else:
                found.append(
                    Difference("prior", f"changes the prior on '{key}' from {left} to {right}")
                )
    return found


def _terms(spec: ModelSpec) -> frozenset[str] | None:
    from radonspec.study.priorkeys import prior_keys

    infos = _infos(spec)
    return None if infos is None else prior_keys(list(infos.values()), spec.family)


def _scale_factor(a: PriorNode, b: PriorNode) -> float | None:
    """The factor ``f`` with ``scale_prior(a, f) == b``, if there is one."""
    from radonspec.study.sweep import SCALE_POWERS, scale_prior

    if a.dist != b.dist:
        return None
    powers = SCALE_POWERS.get(a.dist, {})
    for (name, left), (other, right) in zip(a.args, b.args, strict=False):
        if name != other:
            return None
        if name in powers and isinstance(left, int | float) and isinstance(right, int | float):
            if left == 0:
                return None
            factor = float((right / left) ** (1 / powers[name]))
            try:
                return factor if factor != 1 and scale_prior(a, factor) == b else None
            except ValueError:
                return None
    # no scale parameter of its own: maybe a nested prior carries the scale
    for (_, left), (_, right) in zip(a.args, b.args, strict=False):
        if isinstance(left, PriorNode) and isinstance(right, PriorNode):
            inner = _scale_factor(left, right)
            if inner is not None:
                try:
                    return inner if scale_prior(a, inner) == b else None
                except ValueError:
                    return None
    return None


# Text helpers -----------------------------------------------------------------------


def _changed(a: Mapping[str, object], b: Mapping[str, object]) -> list[tuple[str, object, object]]:
    return [(k, a.get(k), b.get(k)) for k in dict.fromkeys([*a, *b]) if a.get(k) != b.get(k)]


def _normal(formulas: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(" ".join(f.split()) for f in formulas)


def _link(link: str | Mapping[str, str] | None) -> str:
    if link is None:
        return "the family's default"
    if isinstance(link, str):
        return f"'{link}'"
    return ", ".join(f"{param}: '{name}'" for param, name in link.items())


def _show(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, list | tuple) and not value:
        return "none"
    if isinstance(value, dict) and not value:
        return "none"
    return repr(value) if isinstance(value, str) else str(value)


def _number(value: float) -> str:
    rounded = float(f"{value:.6g}")
    return str(int(rounded)) if rounded.is_integer() else str(rounded)


def _plural(noun: str, items: list[str]) -> str:
    return noun if len(items) == 1 else noun + "s"


def _quoted(items: list[str]) -> str:
    quoted = [f"'{item}'" for item in items]
    if len(quoted) == 1:
        return quoted[0]
    return ", ".join(quoted[:-1]) + " and " + quoted[-1]


def diff_targets(
    a: str, b: str, *, content: Callable[[Study], tuple[str, str] | None] | None = None
) -> list[tuple[str, list[Difference] | None]]:
    """What ``radonspec diff A[:MODEL] B[:MODEL]`` prints: (title, differences) per pair.

    With a model on both sides, that pair. With a model on one side, the other
    study's model of the same name (or its only model). With none, the only models
    of two one-model studies, or every model paired by name; a model on one side
    only gets ``None`` as its differences. ``content`` gives a study's data file and a
    digest of its bytes (the data layer reads it): files that differ in content are a
    difference even where the specs name them alike.
    """
    from radonspec.study.loader import load_study

    path_a, model_a = split_target(a)
    path_b, model_b = split_target(b)
    study_a, study_b = load_study(path_a), load_study(path_b)
    if model_a is None and model_b is None and (len(study_a.models) > 1 or len(study_b.models) > 1):
        pairs = pair_models(study_a, study_b)
    else:
        if model_a is None and model_b is not None and model_b in study_a.models:
            model_a = model_b
        if model_b is None and model_a is not None and model_a in study_b.models:
            model_b = model_a
        pairs = [(pick_model(study_a, model_a, a), pick_model(study_b, model_b, b))]
    files = [content(study_a), content(study_b)] if content is not None else [None, None]
    shared: list[Difference] = []
    if files[0] is not None and files[1] is not None and files[0][1] != files[1][1]:
        shared.append(
            Difference(
                "data",
                f"reads other data: {files[0][0]} and {files[1][0]} differ in content",
            )
        )
    found: list[tuple[str, list[Difference] | None]] = []
    for left, right in pairs:
        if left is None:
            found.append((f"{path_b}:{right}: only in {path_b}", None))
        elif right is None:
            found.append((f"{path_a}:{left}: only in {path_a}", None))
        else:
            title = f"{path_a}:{left} -> {path_b}:{right}"
            found.append((title, shared + diff_study_models(study_a, left, study_b, right)))
    return found
