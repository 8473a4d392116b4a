"""The DATA argument of ``try`` and ``init``: a bundled data set's name or a file's path."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pandas as pd

from radonspec.data.datasets import bundled
from radonspec.data.load import load_data
from radonspec.errors import DataError, did_you_mean, one_of
from radonspec.study.formula import usable
from radonspec.study.schema import NAME_PATTERN, DataSpec

SUFFIXES = (".csv", ".parquet", ".pq")


def data_fields(data: str, *, relative_to: Path) -> dict[str, Any]:
    """The ``data:`` fields for DATA: ``{"dataset": name}`` or ``{"path": ...}``.

    A path is written relative to ``relative_to`` (the folder of the spec that will
    hold it), as the spec format wants.

    Raises
    ------
    DataError
        When DATA is neither a bundled data set nor an existing .csv/.parquet file.
    """
    path = Path(data)
    if path.is_file():
        if path.suffix.lower() not in SUFFIXES:
            raise DataError(f"{data} is neither .csv nor .parquet; convert it to one of these")
        return {"path": _relative(path.resolve(), relative_to.resolve())}
    sets = bundled()
    if data in sets:
        return {"dataset": data}
    hint = did_you_mean(data, sets)
    raise DataError(
        f"DATA '{data}' is neither a bundled data set{hint} ({one_of(sets)}) nor an existing"
        " .csv or .parquet file; check the path"
    )


def _relative(path: Path, folder: Path) -> str:
    try:
        return Path(os.path.relpath(path, folder)).as_posix()
    except ValueError:  # another drive on Windows: only an absolute path works
        return path.as_posix()


def default_categorical(fields: dict[str, Any]) -> list[str]:
    """Columns a bundled data set declares categorical (none for files)."""
    name = fields.get("dataset")
    return list(bundled()[name].categorical) if name else []


def load_frame(fields: dict[str, Any], base: Path) -> pd.DataFrame:
    """Every column of the data ``fields`` name (paths relative to ``base``)."""
    return load_data(DataSpec.model_validate(fields), base)


def require_columns(frame: pd.DataFrame, columns: list[str], what: str) -> None:
    """``DataError`` naming the first of ``columns`` the data lacks or a formula cannot use."""
    available = [str(c) for c in frame.columns]
    for column in columns:
        if column not in available:
            raise DataError(
                f"{what} '{column}' is not a column of the data{did_you_mean(column, available)};"
                f" columns are {one_of(available)}"
            )
        if not usable(column):
            raise DataError(
                f"column '{column}' cannot be named in a formula, even in backquotes (it has a"
                " '`', a '__', a leading '_' or a character that is not printable ASCII);"
                " rename the column"
            )


def yaml_scalar(text: str) -> str:
    """``text`` as a YAML scalar: plain when YAML reads it back unchanged, else quoted."""
    from ruamel.yaml import YAML

    if text and text == text.strip() and "\n" not in text:
        try:
            loaded = YAML(typ="safe", pure=True).load(f"k: {text}\n")
        except Exception:  # noqa: BLE001 - anything YAML cannot read back gets quoted
            loaded = None
        if isinstance(loaded, dict) and loaded.get("k") == text:
            return text
    return json.dumps(text, ensure_ascii=False)


def name_for(data: str, suffix: str = "") -> str:
    """A study name (``[a-z0-9][a-z0-9_-]*``) from DATA: ``data/My Homes.csv`` -> ``my-homes``."""
    stem = Path(data).stem.lower()
    slug = re.sub(r"[^a-z0-9_-]+", "-", stem).strip("-_") or "study"
    if not re.match(NAME_PATTERN, slug):
        slug = "study-" + slug
    return slug + suffix
