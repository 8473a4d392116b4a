"""Full validation of a study file: the spec, then its data and every model's compilation."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from radonspec.compile.model import Compiled, compile_model, study_base, used_columns
from radonspec.data.levels import declared_columns
from radonspec.data.load import columns_of, fingerprint, load_data
from radonspec.errors import CompileError, DataError, Location, SpecError, SpecErrors
from radonspec.study.checks import check_model, formula_infos
from radonspec.study.loader import load_study
from radonspec.study.schema import Study


@dataclass
class Checked:
    """A study checked against its data: the problems found, the data and the built models.

    ``frame`` is the data as loaded once for the whole run (every column a model, the
    report or cross-validation uses); ``compiled`` holds each model that compiled, so
    later steps reuse it instead of building it again.
    """

    study: Study
    errors: list[SpecError]
    frame: pd.DataFrame | None = None
    compiled: dict[str, Compiled] = field(default_factory=dict)


def validate(path: str | os.PathLike[str], *, initial_point: bool = True) -> Study:
    """Load ``path`` and check it against its data; raise ``SpecErrors`` listing every problem.

    Parameters
    ----------
    path
        The study file.
    initial_point
        Also evaluate each model's log density at its initial point (catches data
        outside the family's support and degenerate priors Bambi did not flag).
    """
    study = load_study(path)
    errors = check_against_data(study, initial_point=initial_point)
    if errors:
        raise SpecErrors(errors)
    return study


def check_against_data(study: Study, *, initial_point: bool = True) -> list[SpecError]:
    """Every data-aware problem of a loaded study (columns, values, priors, initial point)."""
    return check_study(study, initial_point=initial_point).errors


def study_columns(study: Study, columns: list[str]) -> list[str]:
    """Every column of the data the study uses: its models', the report's, k-fold's, filters."""
    wanted = {c for m in study.models.values() for c in used_columns(formula_infos(m, columns))}
    # so declared levels and reference levels are checked too
    wanted |= set(study.data.categorical) | set(declared_columns(study.data))
    named = [study.report.group, study.report.predictor, study.compare.kfold.group_by]
    wanted |= {c for c in named if c is not None and c in columns}
    return sorted(wanted)


def frame_columns(study: Study) -> list[str]:
    """The columns ``load_study_frame`` loads: every column of the data the study uses."""
    return study_columns(study, columns_of(study.data, study_base(study)))


def load_study_frame(study: Study, columns: list[str] | None = None) -> pd.DataFrame:
    """The study's data with every column it uses, without building any model.

    ``columns`` are those ``frame_columns`` found for this very study and data (the
    plan the store keeps): given, the formulas are not read again. Raises ``DataError``
    (unlocated) when the data cannot be read; ``check_study`` says the same located,
    with every other problem.
    """
    base = study_base(study)
    if columns is None:
        columns = study_columns(study, columns_of(study.data, base))
    return load_data(study.data, base, columns)


class BuiltModels:
    """Models that passed an earlier check in this process, kept for the next one.

    ``watch`` checks the whole study on every save, although one model changed; a model
    is built again only when what it is built from changed: its name and spec, the
    study's data section, the data's fingerprint (and radonspec, which does not change
    within a process). Only the models of the latest check are kept, so memory stays
    that of one study's models. ``built`` and ``reused`` count, for tests and timings.
    """

    def __init__(self) -> None:
        self._kept: dict[str, Compiled] = {}
        self.built = 0
        self.reused = 0

    @staticmethod
    def key(study: Study, name: str, data_fingerprint: str, initial_point: bool) -> str:
        """What a model's build (and its check) depends on, hashed."""
        payload = json.dumps(
            [name, study.models[name].model_dump(mode="json"),
             study.data.model_dump(mode="json"), data_fingerprint, initial_point],
            sort_keys=True, default=str,
        )  # fmt: skip
        return hashlib.sha256(payload.encode()).hexdigest()

    def get(self, key: str) -> Compiled | None:
        """The model kept under ``key``, or None."""
        found = self._kept.get(key)
        if found is not None:
            self.reused += 1
        return found

    def keep(self, kept: Mapping[str, Compiled]) -> None:
        """Keep exactly ``kept`` (key -> model): the models of the latest check."""
        self._kept = dict(kept)


def check_study(
    study: Study, *, initial_point: bool = True, built: BuiltModels | None = None
) -> Checked:
    """Check a loaded study against its data, loading the data once and keeping the models.

    With ``built``, a model whose spec, data section and data are those of a model built
    by an earlier check is taken from it instead of being built again.
    """
    base = study_base(study)
    data_where = study.locate("data", "path" if study.data.path else "dataset")
    try:
        columns = columns_of(study.data, base)
    except DataError as exc:
        return Checked(study, [SpecError(str(exc), data_where)])
    errors: list[SpecError] = []
    for name, model in study.models.items():
        errors += check_model(study, name, model, columns)
        errors += _pymc_verdicts(study, name)
    errors += _check_columns(study, columns)
    if errors:
        return Checked(study, errors)
    try:
        frame = load_data(study.data, base, study_columns(study, columns))
    except DataError as exc:
        where = study.locate(*exc.path) if exc.path else data_where
        return Checked(study, [SpecError(str(exc), where)])
    errors += _check_highlight(study, frame)
    compiled: dict[str, Compiled] = {}
    keys: dict[str, str] = {}
    data_fingerprint = fingerprint(frame) if built is not None else ""
    for name in study.models:
        where = study.locate("models", name, "formula")
        if built is not None:
            keys[name] = built.key(study, name, data_fingerprint, initial_point)
            kept = built.get(keys[name])
            if kept is not None:
                compiled[name] = kept
                continue
        try:
            compiled[name] = compile_model(study, name, frame)
            if built is not None:
                built.built += 1
            if initial_point:
                _check_initial_point(compiled[name].model, name)
        except (CompileError, DataError) as exc:
            errors.append(SpecError(_strip_location(str(exc)), where))
    if built is not None and not errors:  # a failed check keeps the last good models
        built.keep({keys[name]: model for name, model in compiled.items()})
    return Checked(study, errors, frame, compiled)


def _pymc_verdicts(study: Study, name: str) -> list[SpecError]:
    """PyMC's objections to a model's priors (left out when the spec was loaded fast)."""
    from radonspec.study.priors import pymc_verdicts

    errors = []
    for key, node in study.models[name].priors.items():
        where = study.locate("models", name, "priors", key)
        errors += [SpecError(message, where) for message in dict.fromkeys(pymc_verdicts(node))]
    return errors


def _check_highlight(study: Study, frame: pd.DataFrame) -> list[SpecError]:
    """Each level ``report.highlight`` names is a level of the report's group in the data."""
    from radonspec.errors import did_you_mean, one_of
    from radonspec.study.checks import report_group

    group = report_group(study)
    if not study.report.highlight or group is None or group not in frame:
        return []
    levels = [str(v) for v in frame[group].dropna().unique()]
    return [
        SpecError(
            f"report.highlight names '{level}', which is not a level of '{group}' in the"
            f" data{did_you_mean(str(level), levels)}; levels are {one_of(levels)}",
            study.locate("report", "highlight", index),
        )
        for index, level in enumerate(study.report.highlight)
        if str(level) not in levels
    ]


def _check_columns(study: Study, columns: list[str]) -> list[SpecError]:
    from radonspec.errors import did_you_mean, one_of

    errors = []
    named: list[tuple[str | None, tuple[str | int, ...]]] = [
        (study.report.group, ("report", "group")),
        (study.report.predictor, ("report", "predictor")),
        (study.compare.kfold.group_by, ("compare", "kfold", "group_by")),
    ]
    for i, effect in enumerate(study.report.effects):
        named.append((effect.predictor, ("report", "effects", i, "predictor")))
        named.append((effect.by, ("report", "effects", i, "by")))
    named += [(c, ("data", "categorical", i)) for i, c in enumerate(study.data.categorical)]
    named += [(c, ("data", "levels", c)) for c in study.data.levels]
    named += [(c, ("data", "reference", c)) for c in study.data.reference]
    named += [(c, ("data", "filter", c)) for c in study.data.filter]
    for column, path in named:
        if column is not None and column not in columns:
            errors.append(
                SpecError(
                    f"'{column}' is not a column of the data{did_you_mean(column, columns)};"
                    f" columns are {one_of(columns)}",
                    study.locate(*path),
                )
            )
    return errors


#: Jittered starting points tried when the model's own initial point fails, as the
#: samplers do (PyMC's and nutpie's initialisation jitter it): validate refused gamma with
#: an identity link, whose unjittered start has mu = 0, although run fitted it.
JITTERED_STARTS = 20


def _check_initial_point(model: Any, name: str) -> None:
    import math
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.build()
            pymc_model = model.backend.model
            logps = pymc_model.point_logps()
            if not all(math.isfinite(v) for v in logps.values()):
                logps = _jittered_logps(pymc_model, logps)
    except Exception as exc:  # Bambi or PyMC refusing to build: one line, not a traceback
        text = " ".join(str(exc).split()) or type(exc).__name__
        raise CompileError(f"model '{name}': Bambi cannot build the model: {text[:300]}") from exc
    bad = [term for term, value in logps.items() if not math.isfinite(value)]
    if bad:
        raise CompileError(
            f"model '{name}': the log density is not finite at the initial point for"
            f" {', '.join(repr(b) for b in bad)}; check those priors (a zero or infinite scale)"
            " and that the data lie in the family's support"
        )


def _jittered_logps(pymc_model: Any, first: dict[str, float]) -> dict[str, float]:
    """The log densities at the first jittered start where all are finite; else ``first``."""
    import math

    from pymc.initial_point import make_initial_point_fn

    start = make_initial_point_fn(
        model=pymc_model, jitter_rvs=set(pymc_model.free_RVs), return_transformed=True
    )
    for seed in range(JITTERED_STARTS):
        logps = pymc_model.point_logps(start(seed))
        if all(math.isfinite(v) for v in logps.values()):
            return dict(logps)
    return first


def _strip_location(message: str) -> str:
    """Compile errors carry 'file:line:col: ' already; the SpecError adds its own."""
    head, sep, rest = message.partition(": model ")
    if sep and head.count(":") >= 2:
        return "model " + rest
    return message


__all__ = [
    "BuiltModels",
    "Checked",
    "Location",
    "check_against_data",
    "check_study",
    "load_study_frame",
    "validate",
]
