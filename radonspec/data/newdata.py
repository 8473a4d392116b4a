"""New data to predict for: read in blocks of rows, checked against what a fit saw.

New data is checked like a study's data, and more strictly: every column the model
reads must be there, numeric where the fit's was numeric, without missing or infinite
values, and every level of a categorical predictor must be one the fit saw (a
coefficient exists for no other). Levels of a grouping factor the fit never saw are
allowed: those rows are predicted from the population distribution of the groups,
and reported. Every error names the file, the column and the row (counted from 1,
after the header) and says how to fix it.

A CSV file is read as text, so its own columns come back exactly as written; only the
columns the model reads are converted. Blocks keep memory bounded for any file size.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from radonspec.errors import DataError, did_you_mean, one_of

SUFFIXES = (".csv", ".parquet", ".pq")


@dataclass(frozen=True)
class Needs:
    """What a model reads of new data.

    ``numeric`` columns must hold numbers; ``categorical`` ones a level the fit saw
    (text -> the level as the fit's data holds it); ``groups`` are grouping factors,
    whose unseen levels are new groups; those of ``numeric_groups`` were numbers in the
    fit's data (subject ids), and are compared and typed as numbers.
    """

    model: str
    numeric: tuple[str, ...] = ()
    categorical: Mapping[str, Mapping[str, object]] = field(default_factory=dict)
    groups: Mapping[str, Mapping[str, object]] = field(default_factory=dict)
    numeric_groups: tuple[str, ...] = ()

    @property
    def columns(self) -> list[str]:
        """Every column the model reads, sorted."""
        return sorted({*self.numeric, *self.categorical, *self.groups})


@dataclass(frozen=True)
class Block:
    """One block of new data: as read, typed for the model, and which rows are new groups.

    ``start`` is the 0-based position of its first row in the file; ``new_levels`` maps
    each grouping factor to the unseen levels in this block.
    """

    start: int
    own: pd.DataFrame
    typed: pd.DataFrame
    new_group: np.ndarray
    new_levels: dict[str, list[str]]


def source_name(data: object) -> str:
    """How errors name the new data: its path as given, or 'the new data' for a frame."""
    return str(data) if isinstance(data, str | Path) else "the new data"


def check_source(path: Path) -> Path:
    """The new data file, existing and CSV or Parquet; else a ``DataError`` saying what to do."""
    if path.suffix.lower() not in SUFFIXES:
        raise DataError(f"{path}: new data must be a .csv or .parquet file; convert it")
    if not path.is_file():
        raise DataError(f"{path}: no such file; check the path given to --data")
    return path


def read_blocks(data: pd.DataFrame | Path, rows: int) -> Iterator[tuple[int, pd.DataFrame]]:
    """``(start, block)`` pairs of at most ``rows`` rows, in order.

    A CSV file's cells are text (empty cells missing); a Parquet file keeps its types.
    """
    if isinstance(data, pd.DataFrame):
        for start in range(0, max(len(data), 1), rows):
            yield start, data.iloc[start : start + rows].reset_index(drop=True)
        return
    name = str(data)
    if data.suffix.lower() == ".csv":
        yield from _csv_blocks(data, name, rows)
    else:
        yield from _parquet_blocks(data, name, rows)


def _csv_blocks(path: Path, name: str, rows: int) -> Iterator[tuple[int, pd.DataFrame]]:
    from radonspec.data.load import _first_non_utf8, _header, _refuse_bad_header

    try:
        _refuse_bad_header(path, _header(path))
        reader = pd.read_csv(
            path, dtype=str, keep_default_na=False, na_values=[""], chunksize=rows,
            encoding="utf-8",
        )  # fmt: skip
        start = 0
        with reader:
            for block in reader:
                yield start, block.reset_index(drop=True)
                start += len(block)
        if start == 0:  # a header without rows: its columns are still checked
            yield 0, pd.read_csv(path, dtype=str, nrows=0, encoding="utf-8")
    except pd.errors.EmptyDataError:
        raise DataError(f"{name} is empty; it needs a header row and data") from None
    except UnicodeDecodeError:
        line, column, byte = _first_non_utf8(path)
        raise DataError(
            f"{name} is not UTF-8 (byte 0x{byte:02x} at line {line}, column {column});"
            " re-save it as UTF-8 CSV"
        ) from None
    except pd.errors.ParserError as exc:
        text = " ".join(str(exc).split())
        raise DataError(f"{name} is not valid CSV: {text}; fix that row") from None
    except DataError as exc:
        raise DataError(str(exc).replace(f"data file {path.name}", name)) from None


def _parquet_blocks(path: Path, name: str, rows: int) -> Iterator[tuple[int, pd.DataFrame]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        file = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"{name} is not a readable Parquet file: {exc}") from None
    for column in file.schema_arrow:
        if pa.types.is_nested(column.type):
            raise DataError(
                f"{name}: column '{column.name}' has nested type {column.type}; flatten it"
            )
    start = 0
    for batch in file.iter_batches(batch_size=rows):
        block = batch.to_pandas()
        yield start, block
        start += len(block)
    if start == 0:  # a file without row groups still has its columns
        yield 0, file.schema_arrow.empty_table().to_pandas()


def check_block(block: pd.DataFrame, start: int, needs: Needs, name: str) -> Block:
    """Check one block against ``needs`` and type its columns as the fit's data.

    Raises
    ------
    DataError
        Naming the file, column and row of the first problem.
    """
    present = [str(c) for c in block.columns]
    for column in needs.columns:
        if column not in present:
            raise DataError(
                f"{name}: no column '{column}'{did_you_mean(column, present)}; model"
                f" '{needs.model}' reads {', '.join(repr(c) for c in needs.columns)}, so the"
                " new data needs each of them"
            )
    typed = pd.DataFrame(index=block.index)
    for column in needs.numeric:
        typed[column] = _numbers(block[column], start, name, column)
    for column, known in needs.categorical.items():
        text = _texts(block[column], start, name, column)
        unseen = ~text.isin(list(known))
        if unseen.any():
            level = str(text[unseen].iloc[0])
            raise DataError(
                f"{name}: column '{column}', row {_row(start, unseen)}: level '{level}' is not"
                f" in the data model '{needs.model}' was fitted to, so it has no coefficient"
                f"{did_you_mean(level, known)}; known levels are {one_of(known, ordered=True)}: use"
                " one of them, or refit with data that has this level"
            )
        levels = list(dict.fromkeys(known.values()))
        typed[column] = pd.Categorical(text.map(dict(known)), categories=levels)
    new_group = np.zeros(len(block), dtype=bool)
    new_levels: dict[str, list[str]] = {}
    for column, known in needs.groups.items():
        if column in needs.numeric_groups:
            # numeric ids: compared as numbers (308.0 is 308), typed as the fit's data
            numbers = _numbers(block[column], start, name, column)
            unseen = ~numbers.isin(list(known.values())).to_numpy()
            new_group |= unseen
            if unseen.any():
                new_levels[column] = sorted({f"{v:.15g}" for v in numbers[unseen]})
            whole = all(isinstance(v, int) for v in known.values())
            integral = bool(np.all(np.mod(numbers.to_numpy(), 1) == 0))
            typed[column] = numbers.astype("int64") if whole and integral else numbers
            continue
        text = _texts(block[column], start, name, column)
        unseen = ~text.isin(list(known)).to_numpy()
        new_group |= unseen
        extra = sorted(set(text[unseen]))
        if extra:
            new_levels[column] = extra
        levels = [*dict.fromkeys(known.values()), *extra]
        values = [known.get(t, t) for t in text]
        typed[column] = pd.Categorical(values, categories=levels)
    return Block(start, block, typed, new_group, new_levels)


def _row(start: int, mask: pd.Series | np.ndarray) -> int:
    """The 1-based row (in the file) of the first true entry of ``mask``."""
    return start + int(np.argmax(np.asarray(mask))) + 1


def _missing(series: pd.Series, start: int, name: str, column: str) -> None:
    missing = series.isna()
    if missing.any():
        raise DataError(
            f"{name}: column '{column}', row {_row(start, missing)}: missing value; every column"
            " the model reads needs a value in every row: fill it in or drop the row"
        )


def _numbers(series: pd.Series, start: int, name: str, column: str) -> pd.Series:
    _missing(series, start, name, column)
    if pd.api.types.is_bool_dtype(series.dtype):
        return series.astype(float)
    numbers = pd.to_numeric(series, errors="coerce")
    bad = numbers.isna()
    if bad.any():
        value = series[bad].iloc[0]
        raise DataError(
            f"{name}: column '{column}', row {_row(start, bad)}: {str(value)!r} is not a number;"
            " the model reads this column as numbers: fix the value"
        )
    values = numbers.to_numpy(dtype=float)
    infinite = np.isinf(values)
    if infinite.any():
        raise DataError(
            f"{name}: column '{column}', row {_row(start, infinite)}: infinite value"
            f" ({values[infinite][0]}); replace it with a finite number"
        )
    return pd.Series(values, index=series.index, name=column)


def _texts(series: pd.Series, start: int, name: str, column: str) -> pd.Series:
    """A categorical column as text, as levels are compared (``str`` of each value)."""
    _missing(series, start, name, column)
    if pd.api.types.is_float_dtype(series.dtype):
        # a Parquet column of whole floats (2.0) names the level '2' of an integer factor
        values = series.to_numpy(dtype=float)
        if np.all(values == np.round(values)):
            return pd.Series([str(int(v)) for v in values], index=series.index)
    return series.astype(str)


__all__ = ["Block", "Needs", "check_block", "check_source", "read_blocks", "source_name"]
