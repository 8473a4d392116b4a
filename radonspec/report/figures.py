"""The report's figures kept as PNG: in this process, and in a folder across processes.

A figure is known by a digest of what draws it: the drawing function's name, its
arguments and ``figure_tag()`` (the versions of the packages that draw and the source of
the report's modules). Arguments are walked value by value (arrays by dtype, shape and
bytes, records by their fields, mappings in order), never pickled, so the digest is the
same in every process and equal inputs name the same PNG; any change of data, colour,
label, drawing code or matplotlib is another name, and a stale PNG is never served.

``kept_figures(folder)`` names the folder (the store's ``figures/``) for the block: a
report written from stored fits to a new folder then draws nothing it drew before, and
``watch`` draws only the figures whose data changed. A file there is only a cache: one
that is missing or damaged is drawn again, one that cannot be written costs nothing but
the drawing next time. Files are written under a temporary name and renamed.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import functools
import hashlib
import importlib.metadata
import json
import os
import secrets
import struct
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

#: The PNG signature: a kept file whose image does not start with it is not served.
PNG = b"\x89PNG\r\n\x1a\n"
#: Packages whose version changes the pixels (``prior_posterior_figure`` draws a KDE).
DRAWING_PACKAGES = ("matplotlib", "numpy", "arviz-stats", "pillow")

_FOLDER: contextvars.ContextVar[Path | None] = contextvars.ContextVar(
    "radonspec_figures", default=None
)
#: Figures drawn or read in this process, by digest (a ``watch`` keeps its process).
_KEPT: OrderedDict[str, tuple[bytes, tuple[Any, ...] | None]] = OrderedDict()
_KEPT_MAX = 64


class Unhashable(TypeError):
    """An argument of a drawing that the digest cannot walk: the figure is not kept."""


@contextlib.contextmanager
def kept_figures(folder: Path | None) -> Iterator[None]:
    """Read figures from ``folder`` and keep those drawn there, inside the block.

    ``None`` keeps them in this process only. The folder is created when a figure is
    first kept, if its parent exists (the store).
    """
    token = _FOLDER.set(folder)
    try:
        yield
    finally:
        _FOLDER.reset(token)


@functools.cache
def figure_tag() -> str:
    """What the pixels depend on beside the arguments: versions and the report's source."""
    digest = hashlib.sha256()
    for package in DRAWING_PACKAGES:
        try:
            version = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            version = "-"
        digest.update(f"{package}={version};".encode())
    # the drawing code, its style and palette: any edit of the report package is another tag
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def figure_key(name: str, args: tuple[Any, ...]) -> str:
    """The digest of drawing ``name(*args)``; ``Unhashable`` when an argument cannot be walked."""
    digest = hashlib.sha256()
    _feed(digest, (figure_tag(), name, args))
    return digest.hexdigest()


def cached(key: str) -> tuple[bytes, tuple[Any, ...] | None] | None:
    """The PNG and extra values (None: the drawing returned a figure alone) kept under ``key``.

    Looked up in this process, then in the folder; None when neither has it.
    """
    found = _KEPT.get(key)
    folder = _FOLDER.get()
    if found is not None:
        _KEPT.move_to_end(key)
        if folder is not None and not (folder / key[:2] / f"{key}.png").exists():
            _write(folder, key, *found)  # drawn for another folder (store) in this process
        return found
    if folder is None:
        return None
    found = _read(folder / key[:2] / f"{key}.png")
    if found is not None:
        _remember(key, found)
    return found


def keep(key: str, png: bytes, extra: tuple[Any, ...] | None = None) -> None:
    """Keep a drawn figure under ``key``: in this process, and in the folder if there is one.

    ``extra`` (what the drawing returned beside its figure) is kept in the folder only
    when it is JSON (numbers, strings, lists); otherwise in this process alone.
    """
    _remember(key, (png, extra))
    folder = _FOLDER.get()
    if folder is not None:
        _write(folder, key, png, extra)


def look_up(
    name: str, args: tuple[Any, ...]
) -> tuple[str | None, tuple[bytes, tuple[Any, ...] | None] | None]:
    """The digest of drawing ``name(*args)`` and what is kept under it (``cached``).

    The digest is None when an argument cannot be walked (nothing is kept then).
    """
    try:
        key = figure_key(name, args)
    except Unhashable:
        return None, None
    return key, cached(key)


def rendered(
    name: str, draw: Callable[..., Any], args: tuple[Any, ...], to_png: Callable[[Any], bytes]
) -> Any:
    """``to_png(draw(*args))``, drawn once per digest of ``(name, args)``.

    A drawing that returns ``(figure, extra, ...)`` gives ``(png, extra, ...)``. A
    drawing whose arguments cannot be walked is drawn every time.
    """
    key, found = look_up(name, args)
    if found is not None:
        return found[0] if found[1] is None else (found[0], *found[1])
    drawn = draw(*args)
    extra: tuple[Any, ...] | None = None
    if isinstance(drawn, tuple):
        png, extra = to_png(drawn[0]), tuple(drawn[1:])
    else:
        png = to_png(drawn)
    if key is not None:
        keep(key, png, extra)
    return png if extra is None else (png, *extra)


def forget() -> None:
    """Forget the figures kept in this process (the folder is left as it is)."""
    _KEPT.clear()


def _remember(key: str, found: tuple[bytes, tuple[Any, ...] | None]) -> None:
    _KEPT[key] = found
    _KEPT.move_to_end(key)
    while len(_KEPT) > _KEPT_MAX:
        _KEPT.popitem(last=False)


# -- the files ------------------------------------------------------------------------------
# One file per figure: a JSON line of the drawing's extra values (null: none), then the PNG.


def _read(path: Path) -> tuple[bytes, tuple[Any, ...] | None] | None:
    try:
        if path.is_symlink():
            return None
        data = path.read_bytes()
    except OSError:
        return None
    head, newline, png = data.partition(b"\n")
    if not newline or not png.startswith(PNG):
        return None  # damaged or someone else's: drawn again
    try:
        extra = json.loads(head)
    except ValueError:
        return None
    if extra is None:
        return png, None
    if not isinstance(extra, list):
        return None
    return png, tuple(extra)


def _write(folder: Path, key: str, png: bytes, extra: tuple[Any, ...] | None) -> None:
    try:
        head = json.dumps(None if extra is None else list(extra), allow_nan=False).encode()
    except (TypeError, ValueError):
        return  # extra values JSON cannot hold: kept in this process only
    target = folder / key[:2]
    path = target / f"{key}.png"
    temporary = target / f".{key}.{secrets.token_hex(6)}.tmp"
    try:
        if not folder.parent.is_dir():
            return  # the store is not there: nothing to keep it in
        target.mkdir(parents=True, exist_ok=True)
        with open(temporary, "xb") as handle:
            handle.write(head + b"\n" + png)
        os.replace(temporary, path)
    except OSError:  # a cache that cannot be written only costs the drawing next time
        with contextlib.suppress(OSError):
            temporary.unlink()


# -- the digest -----------------------------------------------------------------------------


def _feed(digest: Any, value: Any) -> None:
    """Feed ``value`` to ``digest``, tagged by kind, so that different values differ."""
    update = digest.update
    if value is None:
        update(b"N")
    elif isinstance(value, bool | np.bool_):
        update(b"B1" if value else b"B0")
    elif isinstance(value, int | np.integer):
        update(b"I%d;" % int(value))
    elif isinstance(value, float | np.floating):
        update(b"F" + struct.pack("<d", float(value)))
    elif isinstance(value, str):
        text = value.encode()
        update(b"S%d;" % len(text) + text)
    elif isinstance(value, bytes):
        update(b"Y%d;" % len(value) + value)
    elif isinstance(value, np.ndarray):
        _feed_array(digest, value)
    elif isinstance(value, pd.DataFrame):
        update(b"D")
        _feed(digest, [str(c) for c in value.columns])
        _feed_array(digest, np.asarray(value.index))
        for column in value.columns:
            _feed_array(digest, value[column].to_numpy())
    elif isinstance(value, pd.Series | pd.Index):
        update(b"P")
        _feed(digest, None if value.name is None else str(value.name))
        _feed_array(digest, value.to_numpy())
        if isinstance(value, pd.Series):
            _feed_array(digest, np.asarray(value.index))
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        kind = type(value)
        update(b"R")
        _feed(digest, f"{kind.__module__}.{kind.__qualname__}")
        for item in dataclasses.fields(value):
            _feed(digest, item.name)
            _feed(digest, getattr(value, item.name))
    elif isinstance(value, Mapping):
        update(b"M%d;" % len(value))
        for key, item in value.items():
            _feed(digest, key)
            _feed(digest, item)
    elif isinstance(value, list | tuple):
        update((b"L" if isinstance(value, list) else b"T") + b"%d;" % len(value))
        for item in value:
            _feed(digest, item)
    elif isinstance(value, set | frozenset):
        parts = []
        for item in value:
            part = hashlib.sha256()
            _feed(part, item)
            parts.append(part.digest())
        update(b"E%d;" % len(parts) + b"".join(sorted(parts)))
    else:
        raise Unhashable(f"cannot digest a value of type {type(value).__name__}")


def _feed_array(digest: Any, array: np.ndarray) -> None:
    shape = ",".join(str(n) for n in array.shape).encode()
    if array.dtype.hasobject:
        digest.update(b"O" + shape + b";")
        for item in array.ravel().tolist():
            _feed(digest, item)
        return
    digest.update(b"A" + array.dtype.str.encode() + b"|" + shape + b";")
    digest.update(np.ascontiguousarray(array).tobytes())
