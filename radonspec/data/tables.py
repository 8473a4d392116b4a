"""Writing a table (CSV or Parquet) block by block, safely.

``TableWriter`` writes to a temporary file beside the target and renames it over the
target only when every block is written, so a reader never sees half a file and an
error leaves the old file as it was. It refuses to write through a symbolic link, over
a folder, over the file the rows are read from, or over a file radonspec did not write
(unless asked with ``force``): a file it wrote carries a mark, a metadata key in
Parquet and its own column names in the CSV header.
"""

from __future__ import annotations

import contextlib
import csv
import os
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any

import pandas as pd

from radonspec.errors import DataError

SUFFIXES = (".csv", ".parquet", ".pq")
MARK_KEY = b"radonspec"


class TableWriter:
    """Write blocks of rows to ``path`` (``.csv`` or ``.parquet``) atomically.

    Parameters
    ----------
    path
        The file to write.
    mark
        What marks a file as radonspec's: the Parquet metadata value.
    columns
        Column names the header of a CSV file radonspec wrote contains.
    prefix
        And the header holds at least one column named with this prefix.
    force
        Replace an existing file radonspec did not write.
    source
        The file the rows come from, which is never replaced.
    """

    def __init__(
        self,
        path: Path,
        *,
        mark: str,
        columns: tuple[str, ...],
        prefix: str = "",
        force: bool = False,
        source: Path | None = None,
    ) -> None:
        self.path = Path(path)
        self.mark = mark
        self.columns = columns
        self.prefix = prefix
        self.force = force
        self.source = source
        self.rows = 0
        self._temporary: Path | None = None
        self._handle: Any = None
        self._parquet: Any = None
        self._schema: Any = None

    def __enter__(self) -> TableWriter:
        self._check_target()
        folder = self.path.parent if str(self.path.parent) else Path(".")
        handle, name = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=folder)
        os.close(handle)
        self._temporary = Path(name)
        if self.csv:
            self._handle = open(self._temporary, "w", encoding="utf-8", newline="")  # noqa: SIM115
        return self

    @property
    def csv(self) -> bool:
        """Whether the target is a CSV file."""
        return self.path.suffix.lower() == ".csv"

    def write(self, block: pd.DataFrame) -> None:
        """Append a block of rows (every block has the same columns)."""
        if self.csv:
            block.to_csv(self._handle, header=self.rows == 0, index=False)
        else:
            self._write_parquet(block)
        self.rows += len(block)

    def _write_parquet(self, block: pd.DataFrame) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self._parquet is None:
            table = pa.Table.from_pandas(block, preserve_index=False)
            metadata = dict(table.schema.metadata or {})
            metadata[MARK_KEY] = self.mark.encode()
            self._schema = table.schema.with_metadata(metadata)
            self._parquet = pq.ParquetWriter(self._temporary, self._schema)
        else:
            table = pa.Table.from_pandas(block, schema=self._schema, preserve_index=False)
        self._parquet.write_table(table.replace_schema_metadata(self._schema.metadata))

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        assert self._temporary is not None
        try:
            if self._handle is not None:
                self._handle.flush()
                os.fsync(self._handle.fileno())
                self._handle.close()
            if self._parquet is not None:
                self._parquet.close()
            if kind is None:
                os.chmod(self._temporary, 0o644)
                os.replace(self._temporary, self.path)
        finally:
            if kind is not None or self._temporary.exists():
                with contextlib.suppress(OSError):
                    self._temporary.unlink()

    def _check_target(self) -> None:
        path = self.path
        if path.suffix.lower() not in SUFFIXES:
            raise DataError(f"{path}: the output must end in .csv or .parquet")
        if path.is_symlink():
            raise DataError(
                f"{path} is a symbolic link; radonspec does not write through links: give the"
                " path of a file instead"
            )
        if path.is_dir():
            raise DataError(f"{path} is a folder; give the path of a file to write")
        if path.parent.exists() and not path.parent.is_dir():
            raise DataError(f"{path}: {path.parent} is a file, not a folder; give another path")
        if not path.parent.is_dir():
            raise DataError(f"{path}: the folder {path.parent} does not exist; create it first")
        if self.source is not None and path.exists() and path.samefile(self.source):
            raise DataError(f"{path} is the new data itself; write the predictions to another file")
        if path.exists() and not self.force and not self._ours():
            raise DataError(
                f"{path} exists and was not written by radonspec; choose another output path,"
                " or pass --force to replace it"
            )

    def _ours(self) -> bool:
        """Whether the existing target carries radonspec's mark."""
        try:
            if self.csv:
                with open(self.path, encoding="utf-8", newline="") as handle:
                    header = next(csv.reader(handle), [])
                return all(column in header for column in self.columns) and any(
                    column.startswith(self.prefix) for column in header
                )
            import pyarrow.parquet as pq

            metadata = pq.read_schema(self.path).metadata or {}
            return metadata.get(MARK_KEY) == self.mark.encode()
        except (OSError, UnicodeDecodeError, ValueError, csv.Error):
            return False


__all__ = ["TableWriter"]
