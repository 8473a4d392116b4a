"""``predict``: one model's stored fit, new data in, one row of predictions per row out.

The fit comes from the store and is never refitted: a model without a stored fit is
an error saying how to fit it. The study's data is loaded only to build the model as
it was fitted (its levels, its scaling); the new data is read, checked, predicted and
written one block of rows at a time, so memory stays bounded for any number of rows,
and the output file appears only when every row is written.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from radonspec.analysis.groups import parameter_names
from radonspec.analysis.predict import (
    LEVEL_FAMILIES,
    NEW_GROUP,
    PREFIX,
    Predictor,
    needs_of,
    output_columns,
    predict_block,
    supported,
)
from radonspec.data.newdata import check_block, check_source, read_blocks, source_name
from radonspec.data.tables import TableWriter
from radonspec.errors import (
    DataError,
    FitError,
    RadonspecError,
    SpecError,
    counted,
    did_you_mean,
    one_of,
)
from radonspec.study.schema import Study

MARK = "predict"  # what marks an output file as written by `radonspec predict`
DEFAULT_INTERVAL = 0.89


@dataclass(frozen=True)
class Predictions:
    """What ``predict`` made: how many rows, which had new groups, where they are.

    ``frame`` holds the rows when no output file was asked for; ``path`` the file
    written otherwise. ``new_levels`` lists, per grouping factor, the levels the fit
    never saw (their rows were predicted from the population of groups).
    """

    model: str
    rows: int
    interval: float
    columns: tuple[str, ...]
    new_group_rows: int = 0
    new_levels: dict[str, list[str]] = field(default_factory=dict)
    path: Path | None = None
    frame: pd.DataFrame | None = None

    def to_frame(self) -> pd.DataFrame:
        """The predictions as a DataFrame (read back from ``path`` when written to a file)."""
        if self.frame is not None:
            return self.frame
        assert self.path is not None
        if self.path.suffix.lower() == ".csv":
            return pd.read_csv(self.path)
        return pd.read_parquet(self.path)

    def __repr__(self) -> str:
        where = f" in {self.path}" if self.path is not None else ""
        groups = f", {self.new_group_rows} in new groups" if self.new_group_rows else ""
        return (
            f"Predictions({self.model!r}: {counted(self.rows, 'row')}{groups},"
            f" {self.interval:.0%} intervals{where})"
        )

    def _repr_html_(self) -> str:
        return str(self.to_frame().head(20).to_html())


def predict_study(
    study: Study,
    model: str,
    data: pd.DataFrame | str | os.PathLike[str],
    *,
    out: str | os.PathLike[str] | None = None,
    interval: float = DEFAULT_INTERVAL,
    store: Any = None,
    force: bool = False,
    seed: int | None = None,
    block_rows: int | None = None,
) -> Predictions:
    """Predict ``data`` with ``model``'s stored fit; see ``radonspec.api.predict``."""
    if not 0 < interval < 1:
        raise RadonspecError(
            f"the interval must lie between 0 and 1 (0.89 is an 89% interval), got {interval}"
        )
    spec = _model_spec(study, model)
    reason = supported(spec.family)
    if reason is not None:
        raise RadonspecError(f"model '{model}': {reason}")
    source = data if isinstance(data, pd.DataFrame) else check_source(Path(data))
    predictor = load_predictor(study, model, store)
    name = source_name(data)
    columns = output_columns(predictor, interval)
    rows = block_rows or predictor.block_rows()
    seed = spec.sampler.seed if seed is None else seed
    blocks = _predicted(predictor, source, name, rows, interval, seed, columns)
    if out is None:
        parts, total = [], _Totals()
        for block in blocks:
            total.add(block)
            parts.append(block)
        frame = pd.concat(parts, ignore_index=True)
        if isinstance(source, Path):  # read as text to check it; typed as pandas reads a file
            frame = _typed_as_read(
                frame, [c for c in frame.columns if c not in (*columns, NEW_GROUP)]
            )
        return total.record(model, interval, columns, frame=frame)
    target = Path(out)
    writer = TableWriter(
        target, mark=MARK, columns=(NEW_GROUP,), prefix=PREFIX, force=force,
        source=source if isinstance(source, Path) else None,
    )  # fmt: skip
    total = _Totals()
    with writer:
        for block in blocks:
            total.add(block)
            writer.write(block)
    return total.record(model, interval, columns, path=target)


def _typed_as_read(frame: pd.DataFrame, own: list[str]) -> pd.DataFrame:
    """The new data's own columns as numbers where every value is one (as ``read_csv``)."""
    for column in own:
        values = frame[column]
        numbers = pd.to_numeric(values, errors="coerce")
        if numbers.notna().sum() == values.notna().sum():
            frame[column] = numbers
    return frame


@dataclass
class _Totals:
    rows: int = 0
    new: int = 0
    levels: dict[str, set[str]] = field(default_factory=dict)

    def add(self, block: pd.DataFrame) -> None:
        self.rows += len(block)
        self.new += int(block[NEW_GROUP].sum())
        for factor, found in block.attrs.get("new_levels", {}).items():
            self.levels.setdefault(factor, set()).update(found)

    def record(self, model: str, interval: float, columns: tuple[str, ...],
               **where: Any) -> Predictions:  # fmt: skip
        levels = {k: sorted(v) for k, v in self.levels.items()}
        return Predictions(model, self.rows, interval, columns, self.new, levels, **where)


def _predicted(
    predictor: Predictor,
    source: pd.DataFrame | Path,
    name: str,
    rows: int,
    interval: float,
    seed: int,
    columns: tuple[str, ...],
) -> Iterator[pd.DataFrame]:
    """Each block of the new data with its predictions beside its own columns."""
    seen = 0
    for index, (start, block) in enumerate(read_blocks(source, rows)):
        if index == 0:
            taken = [c for c in columns if c in block.columns]
            if taken:
                raise DataError(
                    f"{name} already has a column '{taken[0]}', which the predictions add;"
                    " rename or drop it"
                )
        checked = check_block(block, start, predictor.needs, name)
        if len(block) == 0:
            continue
        state = int(np.random.SeedSequence([seed, index]).generate_state(1)[0])
        found = predict_block(
            predictor, checked.typed, prob=interval, seed=state,
            new_groups=bool(checked.new_group.any()),
        )  # fmt: skip
        result = pd.concat([block, found], axis=1)
        result[NEW_GROUP] = checked.new_group
        result.attrs["new_levels"] = checked.new_levels
        seen += len(block)
        yield result
    if seen == 0:
        raise DataError(f"{name} has no rows to predict for")


def _model_spec(study: Study, model: str) -> Any:
    spec = study.models.get(model)
    if spec is None:
        names = list(study.models)
        raise SpecError(
            f"'{model}' is not a model of {study.source}{did_you_mean(model, names)};"
            f" models are {one_of(names)}"
        )
    return spec


def load_predictor(study: Study, model: str, store: Any = None) -> Predictor:
    """Model ``model`` built as it was fitted, with its stored posterior.

    Raises
    ------
    FitError
        When the store holds no fit of the model, naming the command that fits it.
    """
    from radonspec.compile.model import compile_model
    from radonspec.fit.runner import open_store, plan_fit, study_frame

    frame = study_frame(study, [model])
    planned = plan_fit(study, model, frame)
    if planned.error is not None:
        raise DataError(planned.error)
    fits = open_store(store)
    fit = fits.get(planned.key, lazy=True)
    if fit is None or fit.tree is None:
        from radonspec.fit.store import since_last_fit

        where = study.source
        flag = f" --store {store}" if store is not None else ""
        data = planned.data.fingerprint if planned.data is not None else ""
        why = since_last_fit(fits, study.name, model, data)
        raise FitError(
            f"model '{model}' of {where} has no stored fit (key {planned.key[:12]}){why}, and"
            f" predict never fits; fit it first with: radonspec run {where}{flag}"
        )
    compiled = compile_model(study, model, frame)
    tree = fit.tree
    posterior = tree["posterior"].to_dataset()[parameter_names(tree)].load()
    spec = study.models[model]
    levels: tuple[str, ...] = ()
    if spec.family in LEVEL_FAMILIES:
        levels = tuple(str(level) for level in compiled.model.response_term.levels or ())
    needs = needs_of(model, compiled.model, spec.formulas)
    return Predictor(model, compiled.model, posterior, spec.family, needs, levels)


__all__ = ["DEFAULT_INTERVAL", "Predictions", "load_predictor", "predict_study"]
