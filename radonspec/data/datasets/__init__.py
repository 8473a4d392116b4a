"""Data sets that ship with radonspec, each a CSV with a JSON provenance note beside it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import pandas as pd

from radonspec.errors import DataError, did_you_mean, one_of


@dataclass(frozen=True)
class DatasetInfo:
    """A bundled data set's provenance note (the JSON file beside its CSV)."""

    name: str
    title: str
    rows: int
    description: str
    source: str
    citation: str
    transforms: tuple[str, ...]
    columns: dict[str, str]
    categorical: tuple[str, ...]
    sha256: str


@cache
def bundled() -> dict[str, DatasetInfo]:
    """All bundled data sets by name."""
    found: dict[str, DatasetInfo] = {}
    for entry in sorted(resources.files(__name__).iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json"):
            raw: dict[str, Any] = json.loads(entry.read_text(encoding="utf-8"))
            raw["transforms"] = tuple(raw["transforms"])
            raw["categorical"] = tuple(raw["categorical"])
            found[raw["name"]] = DatasetInfo(**raw)
    return found


def info(name: str) -> DatasetInfo:
    """The provenance of one bundled data set; ``DataError`` names the choices otherwise."""
    sets = bundled()
    if name not in sets:
        raise DataError(
            f"no bundled data set '{name}'{did_you_mean(name, sets)};"
            f" bundled: {one_of(sets)} (see `radonspec datasets`)"
        )
    return sets[name]


def load_bundled(name: str, columns: list[str] | None = None) -> pd.DataFrame:
    """Read a bundled data set (optionally only some columns) as a DataFrame."""
    meta = info(name)
    with resources.files(__name__).joinpath(f"{name}.csv").open("rb") as handle:
        frame = pd.read_csv(handle, usecols=columns)
    for column in meta.categorical:
        if column in frame:
            frame[column] = frame[column].astype("string")
    return frame
