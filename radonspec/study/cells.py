"""The cells of a sweep: values per axis, combinations, names, and each cell's spec.

Every problem found on the way is collected as a ``SpecError`` located at the sweep
entry that caused it; errors that would repeat once per cell are reported once.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from radonspec.errors import Location, SpecError, did_you_mean, one_of
from radonspec.study.family import FamilyError, check_family_link, family_params
from radonspec.study.formula import FormulaError, FormulaInfo, check_formula
from radonspec.study.labels import axis_labels, format_number
from radonspec.study.priorkeys import prior_keys
from radonspec.study.priors import PriorNode
from radonspec.study.scaling import scale_prior, unscalable
from radonspec.study.schema import (
    MAX_NAME_LENGTH,
    MAX_SWEEP_CELLS,
    MODEL_NAME_PATTERN,
    SWEEP_LABEL_PATTERN,
    ModelSpec,
    Study,
    SweepSpec,
)

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class SweepCell:
    """One cell of a sweep.

    ``values`` holds every axis's value for this cell (neutral ones included), in
    axis order; ``labels`` the parts of the name after the base's. ``is_base`` marks
    the cell whose values all equal the base's: it is the base model itself.
    ``notes`` says what ``prior_scale`` could not scale. ``changed`` lists the axes
    whose value differs from the base's, ``paths`` where each value stands in the
    spec (``("sweep", "over", axis, index or label)``).
    """

    name: str
    base: str
    values: Mapping[str, Any]
    labels: tuple[str, ...]
    spec: ModelSpec
    is_base: bool = False
    notes: tuple[str, ...] = field(default=())
    changed: tuple[str, ...] = ()
    paths: Mapping[str, Path_] = field(default_factory=dict)


@dataclass(frozen=True)
class _Value:
    """One value of one axis, with its label and where it was written."""

    axis: str
    value: Any
    label: str
    path: Path_
    neutral: bool


def _normal_formulas(value: Any) -> tuple[str, ...]:
    items = (value,) if isinstance(value, str) else tuple(value)
    return tuple(" ".join(str(item).split()) for item in items)


def _normal_terms(text: str) -> str:
    text = " ".join(text.split())
    if text and text[0] not in "+-":
        text = "+ " + text
    return text


def _is_neutral(axis: str, value: Any, base: ModelSpec) -> bool:
    if axis == "formula":
        return _normal_formulas(value) == _normal_formulas(base.formulas)
    if axis == "terms":
        return not str(value).strip()
    if axis == "family":
        return bool(value == base.family)
    if axis == "link":
        return bool(value == (base.link or _default_link(base.family)))
    if axis == "prior_scale":
        return bool(value == 1)
    return bool(value == base.sampler.backend)


def _default_link(family: str) -> str | None:
    from radonspec.study.registry import FAMILIES

    try:
        parent, _ = family_params(family)
    except FamilyError:
        return None
    links: dict[str, str] = FAMILIES[family]["default_links"]
    return links.get(parent)


class _Expander:
    """Computes a study's sweep cells and collects every located problem on the way."""

    def __init__(self, study: Study, sweep: SweepSpec) -> None:
        self.study = study
        self.sweep = sweep
        self.errors: list[SpecError] = []
        self._seen: set[tuple[Location | None, str]] = set()

    def error(self, message: str, location: Location | None) -> None:
        if (location, message) not in self._seen:
            self._seen.add((location, message))
            self.errors.append(SpecError(message, location))

    def axis_values(self, base: ModelSpec) -> dict[str, list[_Value]]:
        found: dict[str, list[_Value]] = {}
        for axis, entries in self.sweep.over.axes().items():
            labels = axis_labels(axis, entries)
            values: list[_Value] = []
            seen: dict[Any, int] = {}
            for index, ((label, value), name) in enumerate(zip(entries, labels, strict=True)):
                path: Path_ = ("sweep", "over", axis, index if label is None else label)
                key = _normal_formulas(value) if axis in ("formula", "terms") else value
                if key in seen:
                    self.error(
                        f"sweep.over.{axis} lists {value!r} twice (entries {seen[key] + 1} and"
                        f" {index + 1}); remove one",
                        self.study.locate(*path),
                    )
                seen[key] = index
                if axis == "formula" and not key:
                    self.error(
                        "sweep.over.formula: a formula list needs at least the main formula",
                        self.study.locate(*path),
                    )
                if label is not None and not re.match(SWEEP_LABEL_PATTERN, label):
                    self.error(
                        f"sweep label '{label}' of axis '{axis}' must match"
                        f" {SWEEP_LABEL_PATTERN} (letters, digits, '_', '-', '.'): it becomes"
                        " part of model names",
                        self.study.locate_key(*path),
                    )
                values.append(_Value(axis, value, name, path, _is_neutral(axis, value, base)))
            found[axis] = values
        return found

    def combinations(self, axes: dict[str, list[_Value]]) -> list[tuple[_Value, ...]]:
        if self.sweep.mode == "grid":
            # counted before the grid is built: 20,000 x 20,000 values once took 23 GB
            count = math.prod(len(values) for values in axes.values())
            if count > MAX_SWEEP_CELLS:
                self.error(
                    f"the sweep has {count:,} cells, more than the {MAX_SWEEP_CELLS} allowed;"
                    " use fewer values, or mode: zip",
                    self.study.locate("sweep", "over"),
                )
                return []
            combos = list(itertools.product(*axes.values()))
        else:
            names = list(axes)
            first = names[0]
            for axis in names[1:]:
                if len(axes[axis]) != len(axes[first]):
                    self.error(
                        f"sweep.over.{axis} has {len(axes[axis])} values but sweep.over.{first}"
                        f" has {len(axes[first])}: in mode 'zip' every axis needs the same"
                        " number of values (or use mode: grid for every combination)",
                        self.study.locate("sweep", "over", axis),
                    )
                    return []
            combos = list(zip(*axes.values(), strict=True))
        if len(combos) > MAX_SWEEP_CELLS:
            self.error(
                f"the sweep has {len(combos)} cells, more than the {MAX_SWEEP_CELLS} allowed;"
                " use fewer values, or mode: zip",
                self.study.locate("sweep", "over"),
            )
            return []
        return combos

    def names(self, combos: list[tuple[_Value, ...]]) -> list[str]:
        base = self.sweep.base

        def name(combo: tuple[_Value, ...], qualified: bool) -> str:
            parts = [
                f"{v.axis}-{v.label}" if qualified else v.label for v in combo if not v.neutral
            ]
            return ".".join([base, *parts])

        names = [name(combo, False) for combo in combos]
        if len(set(names)) != len(names):  # two axes gave the same label: say which is which
            names = [name(combo, True) for combo in combos]
        return names

    def cell(self, name: str, combo: tuple[_Value, ...], base: ModelSpec) -> SweepCell | None:
        values = {v.axis: v.value for v in combo}
        where = self.study.locate(*combo[0].path)
        if all(v.neutral for v in combo):
            return SweepCell(name, self.sweep.base, values, (), base, is_base=True)
        # a neutral value leaves the base's own (link None rather than its default's name)
        chosen = {v.axis: v.value for v in combo if not v.neutral}
        formulas = list(base.formulas)
        formula_where = self.study.locate("models", self.sweep.base, "formula")
        for v in combo:
            if v.axis == "formula" and not v.neutral:
                formulas = list(_normal_formulas(v.value))
                formula_where = self.study.locate(*v.path)
        terms = next((v for v in combo if v.axis == "terms" and not v.neutral), None)
        if terms is not None:
            formulas[0] = f"{formulas[0].rstrip()} {_normal_terms(terms.value)}"
        family = chosen.get("family", base.family)
        link = chosen.get("link", base.link)
        infos = self._check_formulas(formulas, family, terms, formula_where)
        if not self._check_family(family, link, combo):
            return None
        if infos is None:
            return None
        scaled = self.scaled_priors(base, infos, family, combo)
        if scaled is None:
            return None
        priors, notes = scaled
        data = base.model_dump(by_alias=True)
        data.update(
            formula=formulas[0] if len(formulas) == 1 else tuple(formulas),
            family=family,
            link=link,
            priors=priors,
            description=_describe(self.sweep.base, combo, notes),
        )
        backend = chosen.get("backend", base.sampler.backend)
        data["sampler"] = {**data["sampler"], "backend": backend}
        try:
            spec = ModelSpec.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            self.error(f"sweep cell '{name}': {first['msg']}", where)
            return None
        labels = tuple(v.label for v in combo if not v.neutral)
        return SweepCell(
            name,
            self.sweep.base,
            values,
            labels,
            spec,
            notes=tuple(notes),
            changed=tuple(v.axis for v in combo if not v.neutral),
            paths={v.axis: v.path for v in combo},
        )

    def _check_formulas(
        self,
        formulas: list[str],
        family: str,
        terms: _Value | None,
        formula_where: Location | None,
    ) -> list[FormulaInfo] | None:
        infos: list[FormulaInfo] = []
        for index, text in enumerate(formulas):
            try:
                infos.append(check_formula(text, None, main=index == 0, family=family))
            except FormulaError as exc:
                location = formula_where
                if index == 0 and terms is not None:
                    # the added terms sit after the base's formula and one space
                    start = len(text) - len(_normal_terms(terms.value))
                    location = self.study.locate(*terms.path)
                    if location is not None and exc.offset >= start:
                        location = _shift(location, exc.offset - start)
                    source = f"sweep.over.terms value {terms.value!r}"
                else:
                    source = "sweep formula"
                self.error(f"{source}: {exc.message} in the cell formula '{text}'", location)
                return None
        return infos

    def _check_family(self, family: str, link: Any, combo: tuple[_Value, ...]) -> bool:
        try:
            check_family_link(family, link)
        except FamilyError as exc:
            axis = exc.field if any(v.axis == exc.field for v in combo) else "family"
            value = next((v for v in combo if v.axis == axis), None)
            path: Path_ = value.path if value is not None else ("models", self.sweep.base, axis)
            self.error(f"sweep: {exc.message}", self.study.locate(*path))
            return False
        return True

    def _priors(
        self, base: ModelSpec, infos: list[FormulaInfo], family: str, factor: float
    ) -> tuple[dict[str, PriorNode], list[str]]:
        allowed = prior_keys(infos, family)
        merged = {**base.priors, **self.sweep.priors}
        priors = {key: node for key, node in merged.items() if key in allowed}
        notes: list[str] = []
        if factor != 1:
            for key, node in priors.items():
                skipped = unscalable(node)
                if skipped:
                    notes.append(
                        f"prior_scale leaves {', '.join(sorted(set(skipped)))} in the prior on"
                        f" '{key}' unchanged (no scale parameter)"
                    )
            priors = {key: scale_prior(node, factor) for key, node in priors.items()}
        return priors, notes

    def scaled_priors(
        self, base: ModelSpec, infos: list[FormulaInfo], family: str, combo: tuple[_Value, ...]
    ) -> tuple[dict[str, PriorNode], list[str]] | None:
        """``_priors`` for a cell; a factor that makes a prior invalid is a located error."""
        scale = next((v for v in combo if v.axis == "prior_scale" and not v.neutral), None)
        try:
            return self._priors(base, infos, family, scale.value if scale is not None else 1)
        except ValueError as exc:  # e.g. a factor so large a scale overflows to infinity
            path = scale.path if scale is not None else ("sweep", "priors")
            self.error(f"sweep.over.prior_scale: {exc}", self.study.locate(*path))
            return None


def _shift(location: Location, by: int) -> Location:
    return Location(location.file, location.line, location.column + max(by, 0))


def _describe(base: str, combo: tuple[_Value, ...], notes: list[str]) -> str:
    parts = []
    for v in combo:
        if v.neutral:
            continue
        if v.axis == "terms":
            parts.append(f"terms '{_normal_terms(v.value)}'")
        elif v.axis == "formula":
            parts.append(f"formula '{' | '.join(_normal_formulas(v.value))}'")
        elif v.axis == "prior_scale":
            parts.append(f"priors scaled by {format_number(v.value)}")
        else:
            parts.append(f"{v.axis} {v.value}")
    text = f"Sweep cell of '{base}': {', '.join(parts)}."
    if notes:
        text += " " + "; ".join(notes) + "."
    return text


def expand_cells(study: Study, *, existing: set[str]) -> tuple[list[SweepCell], list[SpecError]]:
    """The cells of ``study.sweep`` and every problem found (``existing``: the written models)."""
    sweep = study.sweep
    if sweep is None:
        return [], []
    run = _Expander(study, sweep)
    base = study.models.get(sweep.base)
    if base is None:
        run.error(
            f"sweep.base '{sweep.base}' is not a model of this study"
            f"{did_you_mean(sweep.base, existing)}; models are {one_of(existing)}",
            study.locate("sweep", "base"),
        )
        return [], run.errors
    axes = run.axis_values(base)
    if "prior_scale" in axes and not ({**base.priors, **sweep.priors}):
        run.error(
            f"sweep.over.prior_scale scales explicit priors, and model '{sweep.base}' has none"
            " (Bambi's automatic priors are scaled to the data, not by the sweep); give the"
            " base priors or remove prior_scale",
            study.locate("sweep", "over", "prior_scale"),
        )
    combos = run.combinations(axes)
    if run.errors:
        return [], run.errors
    cells: list[SweepCell] = []
    for name, combo in zip(run.names(combos), combos, strict=True):
        if name in existing and name != sweep.base:
            run.error(
                f"sweep cell '{name}' has the name of a model of this study; rename the"
                " model or give the sweep's values labels ({label: value})",
                study.locate(*combo[0].path),
            )
            continue
        if not re.match(MODEL_NAME_PATTERN, name):  # labels are checked; belt and braces
            run.error(f"sweep cell name '{name}' is not a valid model name", study.locate("sweep"))
            continue
        if len(name) > MAX_NAME_LENGTH:
            run.error(
                f"sweep cell name '{name[:40]}...' has {len(name)} characters, more than the"
                f" {MAX_NAME_LENGTH} a model name may have; give the sweep's values short"
                " labels ({label: value})",
                study.locate(*combo[0].path),
            )
            continue
        made = run.cell(name, combo, base)
        if made is not None:
            cells.append(made)
    _check_sweep_priors(run, cells)
    return cells, run.errors


def _check_sweep_priors(run: _Expander, cells: list[SweepCell]) -> None:
    if run.errors or not cells:
        return
    used = {key for cell in cells for key in cell.spec.priors}
    for key in run.sweep.priors:
        if key not in used:
            names = {k for cell in cells for k in _all_keys(cell.spec)}
            run.error(
                f"sweep.priors '{key}' names no term of any cell{did_you_mean(key, names)};"
                f" the cells' prior keys are {one_of(names)}",
                run.study.locate_key("sweep", "priors", key),
            )


def _all_keys(spec: ModelSpec) -> frozenset[str]:
    infos = [
        check_formula(text, None, main=index == 0, family=spec.family)
        for index, text in enumerate(spec.formulas)
    ]
    return prior_keys(infos, spec.family)
