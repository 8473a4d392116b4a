"""Analysis records to bytes and back, safely: JSON for the structure, NumPy arrays beside it.

A record (``ModelAnalysis`` and the records it holds) is written as one ``.npz`` file:
the arrays under their own names, and the structure as JSON in the member ``__json__``.
Reading never unpickles (``allow_pickle=False``) and only rebuilds the dataclasses
named in ``RECORDS``, so a tampered file can at worst hold wrong numbers, never run
code. A file that does not decode is a cache miss, and the analysis is made again.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

JSON_MEMBER = "__json__"


class CacheFormatError(ValueError):
    """The bytes are not an analysis record this version can read."""


def encode(record: Any, records: Mapping[str, type]) -> bytes:
    """``record`` (a dataclass of ``records``) as the bytes of an ``.npz`` file."""
    arrays: dict[str, np.ndarray] = {}
    names = {cls: name for name, cls in records.items()}
    tree = _encode(record, arrays, names)
    buffer = io.BytesIO()
    text = json.dumps(tree, allow_nan=True, separators=(",", ":")).encode()
    members: dict[str, Any] = {JSON_MEMBER: np.frombuffer(text, dtype=np.uint8), **arrays}
    np.savez(buffer, allow_pickle=False, **members)
    return buffer.getvalue()


def decode(data: bytes, records: Mapping[str, type]) -> Any:
    """The record ``encode`` wrote; ``CacheFormatError`` for anything else."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as members:
            arrays = {name: members[name] for name in members.files}
        tree = json.loads(arrays.pop(JSON_MEMBER).tobytes().decode())
        return _decode(tree, arrays, records)
    except CacheFormatError:
        raise
    except Exception as exc:  # noqa: BLE001 - any damage is the same thing: a miss
        raise CacheFormatError(f"not a readable analysis record: {exc}") from None


def _encode(value: Any, arrays: dict[str, np.ndarray], names: Mapping[type, str]) -> Any:
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | np.integer) and not isinstance(value, np.bool_):
        return int(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        return number if math.isfinite(number) else {"$float": repr(number)}
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            return {"$list": [_encode(v, arrays, names) for v in value.tolist()]}
        slot = f"a{len(arrays)}"
        arrays[slot] = value
        return {"$array": slot}
    if isinstance(value, pd.DataFrame):
        return {
            "$frame": {
                "columns": [_encode(str(c), arrays, names) for c in value.columns],
                "index": len(value)
                if value.index.equals(pd.RangeIndex(len(value)))
                else _encode(np.asarray(value.index.astype(str)), arrays, names),
                "values": [_encode(value[c].to_numpy(), arrays, names) for c in value.columns],
            }
        }
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        name = names.get(type(value))
        if name is None:
            raise TypeError(f"{type(value).__name__} is not a cacheable record")
        fields = {f.name: _encode(getattr(value, f.name), arrays, names) for f in _fields(value)}
        return {"$record": name, "fields": fields}
    if isinstance(value, tuple):
        return {"$tuple": [_encode(v, arrays, names) for v in value]}
    if isinstance(value, list):
        return [_encode(v, arrays, names) for v in value]
    if isinstance(value, Mapping):
        return {"$dict": [[_encode(k, arrays, names), _encode(v, arrays, names)]
                          for k, v in value.items()]}  # fmt: skip
    raise TypeError(f"cannot cache a value of type {type(value).__name__}")


def _decode(tree: Any, arrays: Mapping[str, np.ndarray], records: Mapping[str, type]) -> Any:
    if tree is None or isinstance(tree, bool | int | float | str):
        return tree
    if isinstance(tree, list):
        return [_decode(v, arrays, records) for v in tree]
    if not isinstance(tree, dict) or len(tree) not in (1, 2):
        raise CacheFormatError("unexpected structure")
    if "$array" in tree:
        return arrays[str(tree["$array"])]
    if "$float" in tree:
        return float(str(tree["$float"]))
    if "$list" in tree:
        return np.asarray([_decode(v, arrays, records) for v in tree["$list"]], dtype=object)
    if "$tuple" in tree:
        return tuple(_decode(v, arrays, records) for v in tree["$tuple"])
    if "$dict" in tree:
        return {_decode(k, arrays, records): _decode(v, arrays, records) for k, v in tree["$dict"]}
    if "$frame" in tree:
        part = tree["$frame"]
        columns = [_decode(c, arrays, records) for c in part["columns"]]
        values = [_decode(v, arrays, records) for v in part["values"]]
        stored = part["index"]
        index: Any = (
            pd.RangeIndex(stored)
            if isinstance(stored, int)
            else [str(i) for i in _decode(stored, arrays, records)]
        )
        frame = pd.DataFrame(dict(zip(columns, values, strict=True)), columns=columns)
        return frame.set_axis(index) if len(columns) else pd.DataFrame(index=index)
    if "$record" in tree:
        cls = records.get(str(tree["$record"]))
        if cls is None:
            raise CacheFormatError(f"unknown record {tree['$record']!r}")
        fields = {k: _decode(v, arrays, records) for k, v in tree["fields"].items()}
        expected = {f.name for f in _fields(cls)}
        if set(fields) != expected:
            raise CacheFormatError(f"record {tree['$record']!r} has other fields")
        return cls(**fields)
    raise CacheFormatError("unexpected structure")


def _fields(value: Any) -> tuple[dataclasses.Field[Any], ...]:
    return tuple(f for f in dataclasses.fields(value) if f.init)
