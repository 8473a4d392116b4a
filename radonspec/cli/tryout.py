"""``radonspec try DATA FORMULA``: fit one formula without writing a spec first.

The options become a one-model study in memory, written as the same YAML text that
``--save`` writes, so the saved spec is the model that was fitted: the same
name, spec, seed and data give the same fit key, and ``radonspec run`` on the saved
file finds the fit in the store instead of sampling again.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from radonspec.data.source import data_fields, default_categorical, name_for, yaml_scalar
from radonspec.errors import SpecError, SpecErrors
from radonspec.study.schema import SamplerSpec, Study

#: The schema file beside a saved study (``radonspec init`` writes the same one).
SCHEMA_FILE = "radonspec.schema.json"

DEFAULT_MODEL = "model"


@dataclass(frozen=True)
class TrySpec:
    """The options of ``radonspec try``: one model on one data set."""

    data: str
    formula: str
    family: str = "gaussian"
    link: str | None = None
    categorical: tuple[str, ...] | None = None  # None: the bundled data set's own
    levels: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # data.levels
    priors: Mapping[str, str] = field(default_factory=dict)
    sampler: Mapping[str, Any] = field(default_factory=dict)  # backend, draws, tune, ...
    model: str = DEFAULT_MODEL
    name: str | None = None


def parse_priors(items: Sequence[str]) -> dict[str, str]:
    """``["floor=Normal(0, 1)", ...]`` -> ``{"floor": "Normal(0, 1)"}`` (split at the first '=')."""
    priors: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise SpecError(
                f"--prior '{item}' is not TERM=PRIOR; write e.g. --prior 'floor=Normal(0, 1)'"
            )
        priors[key.strip()] = value.strip()
    return priors


def parse_levels(items: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """``["Sat=Low,Medium,High"]`` -> ``{"Sat": ("Low", "Medium", "High")}`` (data.levels)."""
    levels: dict[str, tuple[str, ...]] = {}
    for item in items:
        column, sep, listed = item.partition("=")
        values = tuple(v.strip() for v in listed.split(",") if v.strip())
        if not sep or not column.strip() or len(values) < 2:
            raise SpecError(
                f"--levels '{item}' is not COLUMN=LEVEL,LEVEL,...; write the levels lowest"
                " first, e.g. --levels 'Sat=Low,Medium,High'"
            )
        levels[column.strip()] = values
    return levels


def try_spec_text(spec: TrySpec, *, relative_to: Path) -> str:
    """The study YAML of ``spec``, its data path relative to the folder ``relative_to``."""
    fields = data_fields(spec.data, relative_to=relative_to)
    categorical = (
        list(spec.categorical) if spec.categorical is not None else default_categorical(fields)
    )
    source = next(iter(fields))
    name = spec.name or name_for(spec.data, "-try")
    lines = [
        f"# yaml-language-server: $schema={SCHEMA_FILE}",
        "# Written by `radonspec try`: the model it fitted, as a study.",
        "spec_version: 1",
        f"name: {name}",
        "",
        "data:",
        f"  {source}: {yaml_scalar(fields[source])}",
    ]
    if categorical:
        lines.append(f"  categorical: [{', '.join(yaml_scalar(c) for c in categorical)}]")
    if spec.levels:
        lines.append("  levels:")
        lines += [
            f"    {yaml_scalar(column)}: [{', '.join(yaml_scalar(v) for v in values)}]"
            for column, values in spec.levels.items()
        ]
    lines += ["", "models:", f"  {yaml_scalar(spec.model)}:"]
    lines.append(f"    formula: {yaml_scalar(spec.formula)}")
    if spec.family != "gaussian":
        lines.append(f"    family: {yaml_scalar(spec.family)}")
    if spec.link is not None:
        lines.append(f"    link: {yaml_scalar(spec.link)}")
    if spec.priors:
        lines.append("    priors:")
        lines += [f"      {yaml_scalar(k)}: {yaml_scalar(v)}" for k, v in spec.priors.items()]
    sampler = {k: v for k, v in spec.sampler.items() if v is not None}
    if sampler:
        lines.append("    sampler:")
        lines += [f"      {k}: {_yaml_value(v)}" for k, v in sampler.items()]
    return "\n".join(lines) + "\n"


def _yaml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return yaml_scalar(str(value))


def try_study(spec: TrySpec, *, initial_point: bool = True) -> Study:
    """The in-memory study of ``spec``, checked like ``radonspec validate`` checks a file.

    Raises
    ------
    SpecErrors
        Every problem, without file locations (there is no file): the messages name
        the model field, the prior or the formula at fault.
    DataError
        When DATA is neither a bundled data set nor a .csv / .parquet file.
    """
    from radonspec.compile.validate import check_against_data
    from radonspec.study.loader import load_study_text

    here = Path.cwd()
    text = try_spec_text(spec, relative_to=here)
    try:
        study = load_study_text(text, here / f"{spec.model}.try.yaml")
        errors = check_against_data(study, initial_point=initial_point)
    except SpecErrors as exc:
        errors = exc.errors
    except SpecError as exc:
        errors = [exc]
    if errors:
        raise SpecErrors([SpecError(_as_option(e.message)) for e in errors])
    return study


def _as_option(message: str) -> str:
    """A message's advice for a spec file (``data.levels``) as ``try``'s option."""
    found = re.search(r"under data\.levels, e\.g\. levels: \{(.+?): \[(.*?)\]\}", message)
    if found is None:
        return message
    column, values = found[1], ",".join(v.strip() for v in found[2].split(","))
    return message.replace(found[0], f"with --levels '{column}={values}'")


@dataclass(frozen=True)
class TryResult:
    """What ``try`` fitted: the study, the fit, its parameter table and diagnostics."""

    study: Study
    fit: Any  # radonspec.fit.record.Fit
    table: pd.DataFrame | None
    diagnostics: Any  # radonspec.analysis.diagnostics.Diagnostics | None


def try_formula(
    spec: TrySpec,
    *,
    store: str | os.PathLike[str] | None = None,
    force: bool = False,
    progress: Any = None,
    study: Study | None = None,
) -> TryResult:
    """Check, fit (or find in the store) and summarise one formula, through the API.

    Parameters
    ----------
    spec
        The model and its data.
    store
        The fit store (default ``.radonspec``); a fit (and its analysis) already there
        is reused.
    force
        Refit even a stored fit.
    progress
        Passed to ``radonspec.api.fit_study``.
    study
        ``try_study(spec)`` when the caller has it already (saves checking twice).
    """
    from radonspec.api import analyse, fit_study

    study = study or try_study(spec)
    fits = fit_study(study, jobs=1, store=store, force=force, progress=progress)
    fit = fits[spec.model]
    if not fit.ok or fit.tree is None:
        return TryResult(study, fit, None, None)
    analysis = analyse(study, fits, store=store).models[spec.model].analysis
    if analysis is None:
        return TryResult(study, fit, None, None)
    return TryResult(study, fit, analysis.table, analysis.diagnostics)


def save_spec(spec: TrySpec, path: Path) -> Path:
    """Write the spec of ``spec`` to ``path`` (data path relative to it) and return ``path``.

    The JSON schema its editor header names goes beside it, as ``radonspec init`` does
    (a different schema file already there is kept).
    """
    from radonspec.cli.scaffold import write_schema

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(try_spec_text(spec, relative_to=path.resolve().parent), encoding="utf-8")
    write_schema(path.parent)
    return path


def sampler_options(**options: Any) -> dict[str, Any]:
    """Sampler fields given on the command line (``None``: left to the default), checked."""
    given = {k: v for k, v in options.items() if v is not None}
    unknown = [k for k in given if k not in SamplerSpec.model_fields]
    if unknown:
        raise SpecError(f"unknown sampler option(s) {', '.join(unknown)}")
    return given


def group_level(label: str) -> bool:
    """Whether a parameter label is one level of a group-specific term (``1|county[AITKIN]``)."""
    return "|" in label and "[" in label
