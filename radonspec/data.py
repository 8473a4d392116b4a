"""Load a study's data (bundled, CSV or Parquet), prepare the used columns, fingerprint them."""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from radonspec.datasets import info, load_bundled
from radonspec.errors import DataError, did_you_mean, one_of
from radonspec.spec.schema import DataSpec

MAX_LEVELS = 100_000


@dataclass(frozen=True)
class Prepared:
    """The data a model sees: only its columns, NaN handled, categoricals typed."""

    frame: pd.DataFrame
    dropped: int  # rows dropped for NaN (dropna: true)
    fingerprint: str


def source_path(spec: DataSpec, base: Path) -> Path | None:
    """The file a ``path:`` data spec points at (relative to the spec file), else None."""
    return None if spec.path is None else (base / spec.path).resolve()


def columns_of(spec: DataSpec, base: Path) -> list[str]:
    """Column names of the data, read cheaply (header or provenance only)."""
    if spec.dataset is not None:
        return list(info(spec.dataset).columns)
    path = _existing(spec, base)
    if path.suffix.lower() == ".csv":
        return list(_read_csv(path, nrows=0).columns)
    import pyarrow.parquet as pq

    return list(pq.read_schema(path).names)


def load_data(spec: DataSpec, base: Path, columns: Collection[str] | None = None) -> pd.DataFrame:
    """Read the data, keep ``columns`` (all when None), apply ``filter`` and categorical types."""
    wanted = None if columns is None else sorted(set(columns) | set(spec.filter))
    if wanted is not None:
        available = columns_of(spec, base)
        _require_columns(wanted, available, spec)
    if spec.dataset is not None:
        frame = load_bundled(spec.dataset, wanted)
    else:
        path = _existing(spec, base)
        frame = (
            _read_csv(path, usecols=wanted)
            if path.suffix.lower() == ".csv"
            else _read_parquet(path, wanted)
        )
    if frame.empty and len(frame.columns) == 0:
        raise DataError(f"{_name(spec)}: the data has no columns")
    frame = _apply_filter(frame, spec)
    if len(frame) == 0:
        raise DataError(
            f"{_name(spec)}: no rows left"
            + (
                " after data.filter; check its values"
                if spec.filter
                else "; the file has a header only"
            )
        )
    return _categorize(frame, spec)


def prepare(frame: pd.DataFrame, spec: DataSpec, columns: Collection[str]) -> Prepared:
    """Select a model's columns, check their values, drop NaN rows if asked, fingerprint."""
    used = [c for c in frame.columns if c in set(columns)]
    _require_columns(list(columns), list(frame.columns), spec)
    part = frame[used]
    for column in used:
        _check_values(part[column], column, spec)
    dropped = 0
    missing = part.isna().any(axis=1)
    if missing.any():
        if not spec.dropna:
            counts = part.isna().sum()
            worst = [
                f"'{c}' ({n} rows, first at row {_first_row(part[c].isna())})"
                for c, n in counts.items()
                if n
            ]
            raise DataError(
                f"{_name(spec)}: missing values (NaN) in {', '.join(worst)};"
                " clean the data or set data.dropna: true to drop those rows"
            )
        dropped = int(missing.sum())
        part = part.loc[~missing]
        if len(part) == 0:
            raise DataError(f"{_name(spec)}: every row has a missing value in a used column")
    part = part.reset_index(drop=True)
    for column in part.columns:
        if isinstance(part[column].dtype, pd.CategoricalDtype):
            part[column] = part[column].cat.remove_unused_categories()
    return Prepared(part, dropped, fingerprint(part))


def fingerprint(frame: pd.DataFrame) -> str:
    """SHA-256 of the columns' names, types, categorical levels (in order) and values."""
    digest = hashlib.sha256()
    for column in frame.columns:
        series = frame[column]
        digest.update(f"{column}\x00{series.dtype}\x00".encode())
        if isinstance(series.dtype, pd.CategoricalDtype):
            digest.update("\x1f".join(map(str, series.cat.categories)).encode())
            digest.update(series.cat.codes.to_numpy(dtype=np.int64).tobytes())
        elif pd.api.types.is_numeric_dtype(series.dtype):
            digest.update(series.to_numpy(dtype=np.float64, na_value=np.nan).tobytes())
        else:
            digest.update("\x1f".join(series.astype(str)).encode())
    return digest.hexdigest()


def _name(spec: DataSpec) -> str:
    return f"data set '{spec.dataset}'" if spec.dataset else f"data file {spec.path}"


def _existing(spec: DataSpec, base: Path) -> Path:
    path = source_path(spec, base)
    assert path is not None
    if not path.is_file():
        raise DataError(
            f"data file {spec.path} not found (looked for {path}); paths are relative to the spec"
        )
    return path


def _read_csv(path: Path, **kwargs: object) -> pd.DataFrame:
    try:
        return pd.read_csv(path, encoding="utf-8", **kwargs)
    except pd.errors.EmptyDataError:
        raise DataError(f"data file {path.name} is empty; it needs a header row and data") from None
    except UnicodeDecodeError as exc:
        raise DataError(
            f"data file {path.name} is not UTF-8 (byte 0x{exc.object[exc.start]:02x} near byte"
            f" {exc.start}); re-save it as UTF-8 CSV"
        ) from None
    except pd.errors.ParserError as exc:
        raise DataError(f"data file {path.name} is not valid CSV: {exc}".strip()) from None
    except ValueError as exc:  # usecols naming absent columns, bad types
        raise DataError(f"data file {path.name}: {exc}") from None


def _read_parquet(path: Path, columns: list[str] | None) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path, columns=columns)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"data file {path.name} is not a readable Parquet file: {exc}") from None
    for field in table.schema:
        if pa.types.is_nested(field.type):
            raise DataError(
                f"data file {path.name}: column '{field.name}' has nested type {field.type};"
                " flatten it into plain columns"
            )
    return table.to_pandas()


def _require_columns(wanted: list[str], available: list[str], spec: DataSpec) -> None:
    missing = [c for c in wanted if c not in available]
    if not missing:
        return
    column = missing[0]
    hint = did_you_mean(column, available)
    delim = ""
    if len(available) == 1 and any(sep in available[0] for sep in ";\t|"):
        delim = "; the file has a single column: is it delimited by something other than ','?"
    raise DataError(
        f"{_name(spec)} has no column '{column}'{hint}; columns are {one_of(available)}{delim}"
    )


def _apply_filter(frame: pd.DataFrame, spec: DataSpec) -> pd.DataFrame:
    for column, wanted in spec.filter.items():
        values = wanted if isinstance(wanted, list) else [wanted]
        frame = frame.loc[frame[column].isin(values)]
    return frame.reset_index(drop=True)


def _categorize(frame: pd.DataFrame, spec: DataSpec) -> pd.DataFrame:
    for column in spec.categorical:
        if column not in frame:
            continue
        levels = sorted(frame[column].dropna().unique().tolist(), key=str)
        if len(levels) > MAX_LEVELS:
            raise DataError(
                f"{_name(spec)}: categorical column '{column}' has {len(levels):,} levels,"
                f" more than {MAX_LEVELS:,}; is it an identifier?"
            )
        reference = spec.reference.get(column)
        if reference is not None:
            match = [lv for lv in levels if str(lv) == str(reference)]
            if not match:
                raise DataError(
                    f"{_name(spec)}: reference level '{reference}' is not a level of '{column}'"
                    f"{did_you_mean(str(reference), map(str, levels))}",
                    ("data", "reference", column),
                )
            levels.remove(match[0])
            levels.insert(0, match[0])
        frame[column] = pd.Categorical(frame[column], categories=levels)
    for column in frame.columns:
        series = frame[column]
        if isinstance(series.dtype, pd.CategoricalDtype) or not (
            series.dtype == object or pd.api.types.is_string_dtype(series.dtype)
        ):
            continue
        _refuse_mixed(series, column, spec)
        frame[column] = pd.Categorical(series, categories=sorted(series.dropna().unique(), key=str))
    return frame


def _refuse_mixed(series: pd.Series, column: str, spec: DataSpec) -> None:
    """A text column that is mostly numbers is a typo in the data, not a factor."""
    present = series.dropna()
    numeric = pd.to_numeric(present, errors="coerce")
    if len(present) and numeric.notna().mean() >= 0.5 and numeric.isna().any():
        position = int(np.argmax(numeric.isna().to_numpy()))
        row = int(present.index[position]) + 1
        raise DataError(
            f"{_name(spec)}: column '{column}' mixes numbers and text (row {row}:"
            f" {present.iloc[position]!r}); fix that value, or list the column under"
            " data.categorical if it is a factor"
        )


def _check_values(series: pd.Series, column: str, spec: DataSpec) -> None:
    if isinstance(series.dtype, pd.CategoricalDtype):
        if series.nunique() < 1:
            raise DataError(f"{_name(spec)}: column '{column}' has no values")
        return
    if not pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
        if pd.api.types.is_bool_dtype(series.dtype):
            return
        raise DataError(
            f"{_name(spec)}: column '{column}' has type {series.dtype}, neither numeric nor"
            " categorical; list it under data.categorical or fix its values"
        )
    values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    if np.isnan(values).all():
        raise DataError(f"{_name(spec)}: column '{column}' has no values (all NaN)")
    infinite = np.isinf(values)
    if infinite.any():
        row = int(np.argmax(infinite))
        raise DataError(
            f"{_name(spec)}: column '{column}' has {int(infinite.sum())} infinite values,"
            f" first at row {row + 1} ({values[row]}); remove or replace them"
        )


def _first_row(mask: pd.Series) -> int:
    return int(np.argmax(mask.to_numpy())) + 1
