"""Load a study's data (bundled, CSV or Parquet), prepare the used columns, fingerprint them."""

from __future__ import annotations

import codecs
import csv
import hashlib
import os
import re
import warnings
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from radonspec.data.datasets import info, load_bundled
from radonspec.data.levels import LevelsError, order_levels, sorted_levels
from radonspec.errors import DataError, counted, did_you_mean, one_of
from radonspec.study.schema import DataSpec

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
    return _parquet_names(path)


def _parquet_names(path: Path) -> list[str]:
    """The columns of a Parquet file; two of one name are refused, as in a CSV header."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        names = list(pq.read_schema(path).names)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(
            f"data file {path.name} is not a readable Parquet file: {_line(exc)}"
        ) from None
    seen: dict[str, int] = {}
    for index, name in enumerate(names, start=1):
        if name in seen:
            raise DataError(
                f"data file {path.name} has two columns named '{name}' (columns {seen[name]}"
                f" and {index}); rename one so each column has its own name"
            )
        seen[name] = index
    return names


def _line(exc: BaseException) -> str:
    """An exception's message on one line (pyarrow's carry the schema, line by line)."""
    text = " ".join(str(exc).split())
    return text if len(text) <= 300 else text[:297] + "..."


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


def prepare(
    frame: pd.DataFrame,
    spec: DataSpec,
    columns: Collection[str],
    keep_levels: Collection[str] = (),
) -> Prepared:
    """Select a model's columns, check their values, drop NaN rows if asked, fingerprint.

    Levels of a categorical column that no row uses are dropped, except in the columns
    named in ``keep_levels`` (a cross-validation refit keeps every group of the full
    data, so its parameters have the same shape whichever rows it sees).
    """
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
        if isinstance(part[column].dtype, pd.CategoricalDtype) and column not in keep_levels:
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
    if not path.exists():
        raise DataError(
            f"data file {spec.path} not found (looked for {path}); paths are relative to the spec"
        )
    if not path.is_file():
        kind = "a folder" if path.is_dir() else "not a regular file (a FIFO, socket or device)"
        raise DataError(f"data file {spec.path} ({path}) is {kind}; name a .csv or .parquet file")
    try:  # O_NONBLOCK: the file may have been replaced by a FIFO since the check above
        os.close(os.open(path, os.O_RDONLY | os.O_NONBLOCK))
    except OSError as exc:
        raise DataError(
            f"cannot read data file {spec.path} ({exc.strerror}); check its permissions"
        ) from None
    return path


#: What a CSV field may say for a missing value: pandas' markers less "None", which is a
#: level word in real data (MASS's survey: Exer is None, Some or Freq), not Python's None.
NA_MARKERS = (
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "n/a", "nan", "null",
)  # fmt: skip


def _read_csv(path: Path, **kwargs: object) -> pd.DataFrame:
    try:
        with warnings.catch_warnings():
            # mixed types are refused below, by column and row: pandas' own warning about
            # them would come first, as noise before the one located line
            warnings.simplefilter("ignore", pd.errors.DtypeWarning)
            frame = pd.read_csv(
                path,
                encoding="utf-8",
                keep_default_na=False,
                na_values=list(NA_MARKERS),
                **kwargs,
            )
        header = _header(path)
    except pd.errors.EmptyDataError:
        raise DataError(f"data file {path.name} is empty; it needs a header row and data") from None
    except UnicodeDecodeError:
        # pandas decodes in chunks, so its offsets are not the file's: find the byte ourselves
        line, column, byte = _first_non_utf8(path)
        raise DataError(
            f"data file {path.name} is not UTF-8 (byte 0x{byte:02x} at line {line}, column"
            f" {column}); re-save it as UTF-8 CSV (in a spreadsheet: CSV UTF-8)"
        ) from None
    except pd.errors.ParserError as exc:
        text = " ".join(str(exc).split())
        raise DataError(f"data file {path.name} is not valid CSV: {text}") from None
    except ValueError as exc:  # usecols naming absent columns, bad types
        raise DataError(f"data file {path.name}: {exc}") from None
    _refuse_bad_header(path, header)
    if "nrows" not in kwargs and len(frame):
        _refuse_ragged_rows(path)
    return frame


def _header(path: Path) -> list[str]:
    """The header's names as written (pandas renames a repeated 'x' to 'x.1')."""
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return next(csv.reader(handle), [])


def _refuse_bad_header(path: Path, header: list[str]) -> None:
    if len(header) == 1:
        found = [sep for sep in (";", "\t", "|") if sep in header[0]]
        if found:
            shown = "TAB" if found[0] == "\t" else f"'{found[0]}'"
            raise DataError(
                f"data file {path.name} reads as one column, {header[0]!r}: it looks delimited"
                f" by {shown}, and radonspec reads comma-separated CSV; save it with ',' as the"
                " delimiter (in a spreadsheet: CSV UTF-8, comma delimited)"
            )
    seen: dict[str, int] = {}
    for index, name in enumerate(header, start=1):
        if name in seen:
            raise DataError(
                f"data file {path.name} has two columns named '{name}' (columns {seen[name]}"
                f" and {index}); rename one so each column has its own name"
            )
        seen[name] = index


def _refuse_ragged_rows(path: Path) -> None:
    """Refuse rows whose number of fields differs from the header's.

    pandas fills a short row with NaN and, reading only some columns, ignores a long
    one; a long row is nearly always an unquoted ',' inside a value, which shifts the
    values after it into the wrong columns. Arrow's streaming reader checks every row in
    bounded memory (one column kept, 4 MB blocks).
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    try:
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(
                skip_rows=1, autogenerate_column_names=True, block_size=1 << 22
            ),
            convert_options=pacsv.ConvertOptions(
                include_columns=["f0"], column_types={"f0": pa.string()}
            ),
        )
        for _ in reader:
            pass
    except pa.ArrowInvalid as exc:
        text = " ".join(str(exc).split()).removeprefix("CSV parse error: ")
        raise DataError(
            f"data file {path.name}: a row does not match the header ({text}); a ',' inside a"
            ' value needs quotes ("Smith, J"): fix that row'
        ) from None


def _first_non_utf8(path: Path) -> tuple[int, int, int]:
    """Line, column (1-based) and value of the first byte that is not UTF-8."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    line, line_start, offset = 1, 0, 0
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                bad = offset + exc.start
                head = chunk[: exc.start]
                if b"\n" in head:
                    line_start = offset + head.rindex(b"\n") + 1
                return line + head.count(b"\n"), bad - line_start + 1, chunk[exc.start]
            line += chunk.count(b"\n")
            if b"\n" in chunk:
                line_start = offset + chunk.rindex(b"\n") + 1
            offset += len(chunk)
    return line, offset - line_start + 1, 0


def _read_parquet(path: Path, columns: list[str] | None) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    _parquet_names(path)
    try:
        table = pq.read_table(path, columns=columns)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(
            f"data file {path.name} is not a readable Parquet file: {_line(exc)}"
        ) from None
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
    listed = set(spec.categorical) | set(spec.levels)
    for column in frame.columns:
        series = frame[column]
        if isinstance(series.dtype, pd.CategoricalDtype):
            # a file's categorical (Parquet): its order counts only if the file says ordered
            found, ordered = list(series.cat.categories), bool(series.dtype.ordered)
        elif column in listed:
            # dictionary-encode first: building the Categorical straight from 10^7 strings
            # materialises them as Python objects (hundreds of MB)
            series = series.astype("category")
            found, ordered = list(series.cat.categories), False
            if len(found) > MAX_LEVELS:
                raise DataError(
                    f"{_name(spec)}: categorical column '{column}' has {len(found):,} levels,"
                    f" more than {MAX_LEVELS:,}; is it an identifier?"
                )
        elif series.dtype == object or pd.api.types.is_string_dtype(series.dtype):
            _refuse_mixed(series, column, spec)
            found, ordered = list(series.dropna().unique()), False
            _refuse_formatted_numbers(sorted_levels(found), column, spec)
        else:
            if column in spec.reference:
                raise DataError(
                    f"{_name(spec)}: data.reference names a level of '{column}', which is"
                    f" numeric; list '{column}' under data.categorical to treat it as levels",
                    ("data", "reference", column),
                )
            continue
        try:
            levels, ordered = order_levels(column, found, spec, ordered=ordered)
        except LevelsError as exc:
            raise DataError(f"{_name(spec)}: {exc.message}", exc.path) from None
        dtype = pd.CategoricalDtype(levels, ordered=ordered)
        frame[column] = (
            series.cat.set_categories(levels, ordered=ordered)
            if isinstance(series.dtype, pd.CategoricalDtype)
            else pd.Categorical(series, dtype=dtype)
        )
    return frame


_FORMATTED_NUMBER = re.compile(
    r"\s*[-+]?[$€£]?\s*(\d{1,3}(,\d{3})+(\.\d+)?|\d+,\d+|\d+(\.\d+)?)\s*%?\s*"
)


def _refuse_formatted_numbers(levels: list[object], column: str, spec: DataSpec) -> None:
    """A text column of '1,000' or '2,5' is numbers a spreadsheet exported with formatting."""
    texts = [str(level) for level in levels]
    numeric = [t for t in texts if _FORMATTED_NUMBER.fullmatch(t)]
    formatted = [t for t in numeric if "," in t or "%" in t or any(c in t for c in "$€£")]
    if formatted and len(numeric) >= 0.5 * len(texts):
        raise DataError(
            f"{_name(spec)}: column '{column}' holds numbers written with formatting (e.g."
            f" {formatted[0]!r}: a thousands separator, decimal comma, currency or percent"
            " sign), so it would be read as text; export the data without number formatting,"
            " or list the column under data.categorical if it is a factor"
        )


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
        _refuse_nul(series, column, spec)
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
            f"{_name(spec)}: column '{column}' has"
            f" {counted(int(infinite.sum()), 'infinite value')},"
            f" first at row {row + 1} ({values[row]}); remove or replace them"
        )


def _refuse_nul(series: pd.Series, column: str, spec: DataSpec) -> None:
    """A level holding a NUL byte cannot be stored with the fit (NetCDF strings end at NUL)."""
    bad = [level for level in series.cat.categories if isinstance(level, str) and "\x00" in level]
    if bad:
        raise DataError(
            f"{_name(spec)}: column '{column}' has a value with a NUL byte (row"
            f" {_first_row(series == bad[0])}: {bad[0]!r}); remove the NUL from the data"
        )


def _first_row(mask: pd.Series) -> int:
    return int(np.argmax(mask.to_numpy())) + 1
