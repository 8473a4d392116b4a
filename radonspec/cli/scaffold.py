"""``radonspec init``: a commented, valid study with the pooling trio for any grouped data.

The radon design (Gelman & Hill 2007, ch. 12) for a response ``y``, predictors
``x...`` and a grouping factor ``g``:

- ``pooled``: ``y ~ x`` (complete pooling: groups ignored),
- ``unpooled``: ``y ~ 0 + g + g:x`` (no pooling: one intercept and slope per group),
- ``hierarchical``: ``y ~ x + (x | g)`` (partial pooling: group effects share a prior).

Priors are explicit and weakly informative, scaled to the data the way Bambi
scales its automatic ones; explicit because the unpooled ``g:x`` terms are
constant within groups measured under one condition only, which leaves Bambi's
automatic prior without a scale.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from radonspec.data.levels import BINARY_FAMILIES, sorted_levels
from radonspec.data.source import (
    data_fields,
    default_categorical,
    load_frame,
    name_for,
    require_columns,
    yaml_scalar,
)
from radonspec.errors import DataError, RadonspecError
from radonspec.study.formula import quote
from radonspec.study.jsonschema import study_json_schema

#: Families whose response scale the priors can be read from (an identity link and a
#: residual ``sigma``); other families get priors on the link scale.
DATA_SCALE_FAMILIES = ("gaussian", "t")
#: Prior standard deviations in units of sd(y) / sd(x), as Bambi's automatic priors.
WIDTH = 2.5


@dataclass(frozen=True)
class Design:
    """What ``init`` was asked for, checked against the data."""

    response: str
    group: str
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    family: str

    @property
    def predictors(self) -> tuple[str, ...]:
        """Every predictor, numeric first, in the order given."""
        return self.numeric + self.categorical


def scaffold_study(
    data: str,
    response: str,
    group: str,
    predictors: Sequence[str] = (),
    *,
    output: Path,
    family: str = "gaussian",
    name: str | None = None,
) -> str:
    """The YAML text of a study with the pooled / unpooled / hierarchical trio.

    Parameters
    ----------
    data
        A bundled data set's name or a .csv / .parquet path.
    response, group
        The response column and the grouping factor.
    predictors
        Common predictors (each also varies by group in the unpooled and hierarchical
        models); none gives the intercept-only trio.
    output
        Where the study will be written: its data path is relative to this file.
    family
        A Bambi family.
    name
        The study's name; default derived from the data's name.

    Raises
    ------
    DataError
        When a column is missing, not usable in a formula, or the response is constant.
    """
    folder = output.resolve().parent
    fields = data_fields(data, relative_to=folder)
    frame = load_frame(fields, folder)
    predictors = list(dict.fromkeys(predictors))
    require_columns(frame, [response], "response")
    require_columns(frame, [group], "group")
    require_columns(frame, predictors, "predictor")
    clash = {response, group} & set(predictors)
    if response == group or clash:
        raise DataError(
            f"'{next(iter(clash or {group}))}' is given twice (response, group, predictors);"
            " each column plays one role"
        )
    design = _design(frame, response, group, predictors, family)
    used = [response, group, *design.predictors]
    missing = int(frame[used].isna().any(axis=1).sum())
    categorical = list(dict.fromkeys([*default_categorical(fields), group, *design.categorical]))
    categorical = [c for c in categorical if c in used or c in default_categorical(fields)]
    study_name = name or name_for(data)
    return _render(design, frame.dropna(subset=used), fields, categorical, missing, study_name)


#: The JSON schema ``init`` writes beside the study, for editors' YAML language servers.
SCHEMA_FILE = "radonspec.schema.json"


@dataclass(frozen=True)
class SchemaFile:
    """The schema file beside a study: ``written``, ``unchanged`` (identical) or ``kept``.

    ``kept``: a different file of that name was there and was left alone.
    """

    path: Path
    action: Literal["written", "unchanged", "kept"]


@dataclass(frozen=True)
class Scaffold:
    """What ``write_scaffold`` wrote: the study, and the schema file beside it."""

    study: Path
    schema: SchemaFile | None


def write_scaffold(
    data: str,
    response: str,
    group: str,
    predictors: Sequence[str] = (),
    *,
    output: Path,
    family: str = "gaussian",
    name: str | None = None,
    force: bool = False,
    schema: bool = True,
) -> Scaffold:
    """Write ``scaffold_study``'s text to ``output`` (never over a file unless ``force``).

    With ``schema``, the JSON schema is written beside it as ``radonspec.schema.json``
    (``write_schema``), which the study's ``yaml-language-server`` header names.
    """
    if output.exists() and not force:
        raise RadonspecError(
            f"{output} exists; choose another --output or pass --force to overwrite it"
        )
    text = scaffold_study(
        data, response, group, predictors, output=output, family=family, name=name
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    written = write_schema(output.parent, force=force) if schema else None
    return Scaffold(output, written)


def schema_document() -> dict[str, Any]:
    """The JSON Schema of the spec format, with the bundled data sets' names."""
    from radonspec.data.datasets import bundled

    return study_json_schema(sorted(bundled()))


def schema_text() -> str:
    """The JSON schema as ``radonspec schema`` prints it."""
    return json.dumps(schema_document(), indent=2) + "\n"


def write_schema(folder: Path, *, force: bool = False) -> SchemaFile:
    """Write ``radonspec.schema.json`` into ``folder``.

    An identical file is left as it is (``unchanged``). A different one, e.g. from
    another radonspec version or written by hand, is kept (``kept``) unless ``force``.
    """
    path = folder / SCHEMA_FILE
    text = schema_text()
    try:
        present = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        present = None
    except (OSError, UnicodeDecodeError):
        present = ""  # unreadable as text: different from ours
    if present == text:
        return SchemaFile(path, "unchanged")
    if present is not None and not force:
        return SchemaFile(path, "kept")
    path.write_text(text, encoding="utf-8")
    return SchemaFile(path, "written")


def _response(design: Design, frame: pd.DataFrame) -> str:
    """The response as a formula writes it, with its event when it is binary text."""
    y = frame[design.response]
    name = quote(design.response)
    if design.family not in BINARY_FAMILIES or pd.api.types.is_numeric_dtype(y.dtype):
        return name
    levels = [str(level) for level in sorted_levels(list(y.dropna().unique()))]
    if len(levels) != 2:
        return name
    event = levels[1]
    return (
        f"{name}[{event}]"
        if re.fullmatch(r"[A-Za-z][A-Za-z0-9_.]*", event)
        else (f'{name}["{event}"]' if "'" in event else f"{name}['{event}']")
    )


def _design(
    frame: pd.DataFrame, response: str, group: str, predictors: list[str], family: str
) -> Design:
    y = frame[response]
    if family in DATA_SCALE_FAMILIES:
        if not pd.api.types.is_numeric_dtype(y.dtype) or pd.api.types.is_bool_dtype(y.dtype):
            raise DataError(
                f"response '{response}' has type {y.dtype}; family '{family}' needs a numeric"
                " response (choose another --family for a binary or categorical one)"
            )
        if not np.nanstd(y.to_numpy(dtype=float)) > 0:
            raise DataError(f"response '{response}' is constant: there is nothing to model")
    numeric, categorical = [], []
    for column in predictors:
        series = frame[column]
        if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(
            series.dtype
        ):
            if not np.nanstd(series.to_numpy(dtype=float)) > 0:
                raise DataError(
                    f"predictor '{column}' is constant: it cannot explain anything; drop it"
                )
            numeric.append(column)
        else:
            categorical.append(column)
    return Design(response, group, tuple(numeric), tuple(categorical), family)


def _nice(value: float) -> str:
    """Two significant digits, written the way a person would: 0.82, 1.3, 250."""
    rounded = float(f"{value:.2g}")
    return str(int(rounded)) if rounded.is_integer() else repr(rounded)


@dataclass(frozen=True)
class _Scales:
    center: str
    y: str
    slope: dict[str, str]
    text: str  # the comment explaining them


def _scales(design: Design, frame: pd.DataFrame) -> _Scales:
    if design.family in DATA_SCALE_FAMILIES:
        y = frame[design.response].to_numpy(dtype=float)
        sd_y, mean_y = float(np.std(y)), float(np.mean(y))
        unit = "sd(y)"
        note = f"sd(y) = {_nice(sd_y)}, mean(y) = {_nice(mean_y)}"
    else:  # priors on the link scale, where one unit is already a large effect
        sd_y, mean_y = 1.0, 0.0
        unit = "1"
        note = f"family '{design.family}': priors on the link scale"
    slope = {}
    for column in design.numeric:
        sd_x = float(np.std(frame[column].to_numpy(dtype=float)))
        slope[column] = _nice(WIDTH * sd_y / sd_x)
    for column in design.categorical:
        slope[column] = _nice(WIDTH * sd_y)
    text = (
        f"# Priors are weakly informative and scaled to the data ({note}):\n"
        f"# intercepts Normal(mean(y), {WIDTH} {unit}), slopes Normal(0, {WIDTH} {unit} / sd(x)),\n"
        f"# group-level sds HalfNormal({unit}) or HalfNormal({unit} / sd(x))"
        + (
            f", residual sd HalfNormal({unit}).\n"
            if design.family in DATA_SCALE_FAMILIES
            else ".\n"
        )
    )
    return _Scales(_nice(mean_y), _nice(sd_y), slope, text)


def _render(
    design: Design,
    frame: pd.DataFrame,
    fields: dict[str, str],
    categorical: list[str],
    missing: int,
    name: str,
) -> str:
    scales = _scales(design, frame)
    y, g, xs = design.response, design.group, design.predictors
    wide = _nice(WIDTH * float(scales.y))
    aux = design.family in DATA_SCALE_FAMILIES
    source = next(iter(fields))
    lines = [
        # the schema file `init` writes beside the study; editors resolve the path from here
        f"# yaml-language-server: $schema={SCHEMA_FILE}",
        f"# Written by `radonspec init`: the three classic designs for '{y}' grouped by '{g}'",
        "# (Gelman & Hill 2007, ch. 12), as in radonspec's radon study:",
        "#   pooled        one regression for every row; the groups are ignored (complete pooling)",
        "#   unpooled      a separate intercept (and slope) per group (no pooling)",
        "#   hierarchical  group intercepts (and slopes) drawn from a common distribution whose",
        "#                 spread is estimated (partial pooling)",
        scales.text.rstrip("\n"),
        "# `radonspec show` lists every prior; `radonspec run` fits, compares and reports.",
        "spec_version: 1",
        f"name: {name}",
        f"description: Complete, no and partial pooling of {y} by {g}.",
        "",
        "data:",
        f"  {source}: {yaml_scalar(fields[source])}"
        + ("  # relative to this file" if source == "path" else "  # a bundled data set"),
        f"  categorical: [{', '.join(yaml_scalar(c) for c in categorical)}]",
    ]
    if missing:
        rows = "1 row has" if missing == 1 else f"{missing} rows have"
        lines.append(f"  dropna: true  # {rows} missing values in the columns used: dropped")
    lines += [
        "",
        "defaults:",
        f"  family: {design.family}",
        "  sampler: {backend: nutpie, draws: 1000, tune: 1000, chains: 4, seed: 20221}",
        "",
        "models:",
    ]
    # in formulas, names such as 'Solar R' need backquotes, and a text binary response
    # names the event it models (the second level, as R's glm would)
    fy, fg, fxs = _response(design, frame), quote(g), [quote(x) for x in xs]
    pooled = f"{fy} ~ {' + '.join(fxs) if fxs else '1'}"
    unpooled = f"{fy} ~ 0 + {fg}" + "".join(f" + {fg}:{x}" for x in fxs)
    varying = f"({' + '.join(fxs)} | {fg})" if fxs else f"(1 | {fg})"
    hierarchical = f"{fy} ~ {' + '.join(fxs) if fxs else '1'} + {varying}"
    sigma = [("sigma", f"HalfNormal({scales.y})")] if aux else []
    slopes = [(x, f"Normal(0, {scales.slope[x]})") for x in xs]
    intercept = ("Intercept", f"Normal({scales.center}, {wide})")
    lines += _model(
        "pooled",
        f"One intercept{' and one slope per predictor' if xs else ''} for every row.",
        pooled,
        [intercept, *slopes, *sigma],
        "complete pooling",
    )
    lines += _model(
        "unpooled",
        f"A separate intercept{' and slopes' if xs else ''} for each level of {g},"
        " estimated independently.",
        unpooled,
        [
            (g, f"Normal({scales.center}, {wide})"),
            *((f"{g}:{x}", f"Normal(0, {scales.slope[x]})") for x in xs),
            *sigma,
        ],
        "no pooling: a group with few rows gets a noisy estimate",
    )
    group_priors = [(f"1|{g}", f"Normal(0, sigma=HalfNormal({scales.y}))")] + [
        (f"{x}|{g}", f"Normal(0, sigma=HalfNormal({_nice(float(scales.slope[x]) / WIDTH)}))")
        for x in xs
    ]
    lines += _model(
        "hierarchical",
        f"Intercepts{' and slopes' if xs else ''} by {g} drawn from a common normal whose"
        " spread is estimated.",
        hierarchical,
        [intercept, *slopes, *group_priors, *sigma],
        "partial pooling: small groups shrink most toward the overall estimate",
    )
    lines += [
        "compare:",
        "  criterion: loo  # or kfold, e.g. kfold: {k: 10, group_by: " + g + "} (leave groups out)",
        "",
        "report:",
        f"  title: {yaml_scalar(f'{y} by {g}')}",
        f"  group: {g}",
        "  shrinkage: {from: unpooled, to: hierarchical}  # arrows from no to partial pooling",
    ]
    if design.numeric:
        lines.append(f"  predictor: {design.numeric[0]}  # x axis of the per-group fitted lines")
    return "\n".join(lines) + "\n"


def _model(
    name: str, description: str, formula: str, priors: list[tuple[str, str]], comment: str
) -> list[str]:
    lines = [f"  # {comment}", f"  {name}:", f"    description: {yaml_scalar(description)}"]
    lines.append(f"    formula: {yaml_scalar(formula)}")
    lines.append("    priors:")
    lines += [f"      {yaml_scalar(key)}: {yaml_scalar(value)}" for key, value in priors]
    lines.append("")
    return lines
