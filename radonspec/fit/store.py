"""The content-addressed fit store: one folder per fit key, and an SQLite index of runs.

Layout under ``root`` (default ``.radonspec``, chosen by the caller)::

    fits/<key[:2]>/<key>/fit.nc     the DataTree (NetCDF4 via h5netcdf); absent for failed fits
    fits/<key[:2]>/<key>/meta.json  spec, data fingerprint, versions, timings, status, checksum
    fits/<key[:2]>/<key>/analysis-<analysis key>.npz   the fit's analysis (derived, re-made
                                    when missing or unreadable; see radonspec.analysis.results)
    tmp/<key>.<kind>.<random>/      folders being written or moved aside; never read
    locks/<key>.lock                per-key ``flock`` files (left in place: removing is racy)
    index.sqlite                    one row per fit folder, rebuilt from the folders when lost
    plans/<digest>.json             a study's fit keys by model, for one spec, data file and
                                    versions (derived; see radonspec.fit.plans)
    envelopes/pit-<n>-<tag>.npz     LOO-PIT envelopes by size (derived; analysis.predictive)
    figures/<d[:2]>/<d>.png         the report's figures by a digest of what they show
                                    (derived; see radonspec.report.figures)

The folders are the truth and the index only caches their ``meta.json`` for listing.
A folder only ever appears under ``fits/`` complete (written under ``tmp/``, synced,
then renamed), and is only served when its ``fit.nc`` matches the recorded checksum.

The store shares its folder with whatever else is there (``--store .`` is allowed), so
it only ever deletes, replaces or rewrites what it can tell it made: temporary folders
named ``<key>.(new|old|bad).<random>`` that hold nothing but a fit's two files, fit
folders under ``fits/``, and an index that carries radonspec's SQLite application id
(``PRAGMA application_id``). It follows no symbolic link inside the store: a planted
``tmp``, ``fits``, ``locks`` or index link is refused, never written through.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import sqlite3
import stat
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from radonspec.errors import ForeignFileError, StoreError
from radonspec.fit.record import Fit

if TYPE_CHECKING:  # fits are opened with xarray; a store read for its records needs none
    import xarray as xr

log = logging.getLogger(__name__)

FIT_FILE = "fit.nc"
META_FILE = "meta.json"
ANALYSIS_PREFIX = "analysis-"  # analysis-<analysis key>.npz beside fit.nc
ANALYSIS_SUFFIX = ".npz"
_ANALYSIS_NAME = re.compile(
    r"(analysis-[0-9A-Za-z_-]+\.npz|\.analysis-[0-9A-Za-z_-]+\.[0-9a-f]+\.tmp)"
)
INDEX_FILE = "index.sqlite"
INDEX_VERSION = 2  # PRAGMA user_version; a different value makes the index rebuild itself
#: ``PRAGMA application_id`` of radonspec's index ("rdsp"): a database without it is
#: another program's, and is never dropped, rebuilt or written.
APPLICATION_ID = 0x72647370
_SQLITE_MAGIC = b"SQLite format 3\x00"
BUSY_SECONDS = 30.0
_KEY = re.compile(r"[0-9A-Za-z_-]{2,128}")
_TMP_NAME = re.compile(r"(?P<key>[0-9A-Za-z_-]{2,128})\.(new|old|bad)\.[0-9A-Za-z_]+")
_COLUMNS = (
    "key", "model", "study", "status", "created", "seconds",
    "r_hat_max", "ess_bulk_min", "divergences", "backend", "path",
)  # fmt: skip
_SCHEMA = """CREATE TABLE runs (
    key TEXT PRIMARY KEY, model TEXT NOT NULL, study TEXT NOT NULL, status TEXT NOT NULL,
    created TEXT NOT NULL, seconds REAL, r_hat_max REAL, ess_bulk_min REAL,
    divergences INTEGER, backend TEXT, path TEXT NOT NULL)"""
_READ_ONLY = {errno.EROFS, errno.EACCES, errno.EPERM}
_FULL = {errno.ENOSPC, errno.EDQUOT}
T = TypeVar("T")


def fit_key(payload: Mapping[str, Any]) -> str:
    """Return the sha256 hex digest of ``payload`` as canonical JSON.

    Keys are sorted, separators fixed and floats written by ``repr`` (the shortest
    string that round-trips), so equal payloads give one key in every process.
    NumPy scalars count as the Python numbers they hold; tuples as lists.
    """
    text = json.dumps(
        _canonical(payload, strict=True),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


#: Bump when what a key covers or the stored tree's layout changes: fits stored under an
#: older format then miss (and ``radonspec runs`` lists them as such). 2: the key lists the
#: fields that change the draws explicitly (``time_limit`` no longer refits).
STORE_FORMAT = 2
#: The model fields a fit's draws depend on; the rest (``NOT_IN_KEY``) never enter its key.
KEY_MODEL_FIELDS = (
    "formula", "family", "link", "priors", "noncentered", "center_predictors",
)  # fmt: skip
#: Model fields added after format 2: in the key only when set, so that a model without
#: them keeps the key it had (``correlated: []`` is Bambi's model, as before).
KEY_MODEL_FIELDS_IF_SET = ("correlated",)
#: Sampler settings that change the draws or what is stored with them.
KEY_SAMPLER_FIELDS = (
    "backend", "draws", "tune", "chains", "target_accept", "max_treedepth", "init", "thin",
    "predictive",
)  # fmt: skip
#: Fields that do not change the draws: a change to them reuses the stored fit.
NOT_IN_KEY = {
    "model": ("description", "sampler"),
    "sampler": ("seed", "time_limit"),  # the seed enters as the model's own seed
}


def draws_key(
    model: Mapping[str, Any],
    *,
    seed: int,
    data: str,
    versions: Mapping[str, str],
    posterior_only: bool = False,
    compile_mode: str | None = None,
) -> str:
    """The key of one fit: a hash of exactly what its draws depend on.

    Parameters
    ----------
    model
        The resolved model spec as JSON-like data (``ModelSpec.model_dump(mode="json")``);
        only ``KEY_MODEL_FIELDS`` (and ``KEY_MODEL_FIELDS_IF_SET`` when set) and the
        sampler's ``KEY_SAMPLER_FIELDS`` are read.
    seed
        The model's own seed (from the study seed and the fit's label).
    data
        Fingerprint of the data the fit sees (its columns, levels and values).
    versions
        Versions of the packages the draws depend on.
    posterior_only
        A fit that stores its posterior alone (a cross-validation refit).
    compile_mode
        How the model was compiled when not as Bambi builds it: ``"data-inputs"`` for a
        refit sampled with its data as inputs of a reused compile (whose code may round
        differently). Absent from the key when None, so other keys stay what they were.
    """
    sampler = model.get("sampler") or {}
    fields = {field: model.get(field) for field in KEY_MODEL_FIELDS}
    fields |= {field: model[field] for field in KEY_MODEL_FIELDS_IF_SET if model.get(field)}
    payload = {
        "format": STORE_FORMAT,
        "model": fields,
        "sampler": {field: sampler.get(field) for field in KEY_SAMPLER_FIELDS},
        "seed": seed,
        "data": data,
        "versions": dict(versions),
        "stores": "posterior" if posterior_only else "all",
    }
    if compile_mode is not None:
        payload["compile"] = compile_mode
    if sampler.get("backend", "nutpie") == "nutpie":
        # Numba-compiled: with fast math the draws depended on the compile cache (numerics)
        from radonspec.fit.numerics import NUMERICS

        payload["numerics"] = dict(NUMERICS)
    return fit_key(payload)


def _canonical(value: Any, *, strict: bool) -> Any:
    """JSON-ready copy of ``value``; ``strict`` refuses what has no stable text form."""
    if value is None or isinstance(value, bool | str):
        return value
    # a NumPy value exists only once NumPy is imported (a store read for records needs none)
    np = sys.modules.get("numpy")
    if np is not None and isinstance(value, np.generic):
        return _canonical(value.item(), strict=strict)
    if isinstance(value, Enum):
        return _canonical(value.value, strict=strict)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, Mapping):
        out = {str(k): _canonical(v, strict=strict) for k, v in value.items()}
        if len(out) != len(value):
            raise TypeError(f"mapping keys collide once written as text: {list(value)}")
        return out
    if isinstance(value, list | tuple) or (np is not None and isinstance(value, np.ndarray)):
        return [_canonical(v, strict=strict) for v in value]
    if isinstance(value, set | frozenset):
        items = [_canonical(v, strict=strict) for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, os.PathLike):
        return Path(value).as_posix()
    if strict:
        raise TypeError(
            f"fit_key cannot hash a {type(value).__name__} ({value!r}); pass JSON-like values"
        )
    return str(value)


@dataclasses.dataclass(frozen=True)
class RunRecord:
    """One row of the store's index: a fit folder, summarised.

    ``path`` is the absolute path of ``fit.nc`` (of ``meta.json`` for a failed fit);
    ``seconds`` is the fit's total wall time.
    """

    key: str
    model: str
    study: str
    status: str
    created: str
    seconds: float | None
    r_hat_max: float | None
    ess_bulk_min: float | None
    divergences: int | None
    backend: str | None
    path: str


class Store:
    """A folder of fits addressed by key (see the module docstring for the layout).

    Nothing is created until the first write. Safe across processes: writes are
    atomic renames, ``lock`` serialises work on one key, the index is SQLite in WAL mode.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        # absolute now, so a later chdir cannot move the store under the caller
        self.root = Path(root).expanduser().absolute()
        if self.root.exists() and not self.root.is_dir():
            # refused now: read as a store, every fit in it looked damaged (not a folder)
            raise self._not_a_folder()

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"

    @property
    def index_path(self) -> Path:
        """The SQLite index file."""
        return self.root / INDEX_FILE

    def folder(self, key: str) -> Path:
        """Return the folder of one fit: ``root/fits/<key[:2]>/<key>`` (sharded for ``ls``)."""
        _check_key(key)
        return self.root / "fits" / key[:2] / key

    # -- reading ------------------------------------------------------------------------

    def read_meta(self, key: str) -> dict[str, Any] | None:
        """Return the ``meta.json`` of a stored fit, failed ones included; ``None`` if absent.

        Fields radonspec reads are of the types it wrote (a tampered file's others are
        dropped): ``seconds``, ``versions`` and ``diagnostics`` mappings, ``error`` text.
        """
        try:
            return _typed(_read_json(self.folder(key) / META_FILE))
        except (OSError, ValueError):
            return None

    def get(self, key: str, *, lazy: bool = False) -> Fit | None:
        """Return the stored fit of ``key``, fully loaded, or ``None`` (a miss).

        Failed fits are never a hit. A fit whose file is missing, truncated or altered
        is removed (logged as a warning) so the caller refits it. With ``lazy`` the
        tree stays backed by its file and arrays are read when used: a study of many
        fits then holds only what is being computed on, not every draw at once.
        """
        folder = self.folder(key)
        try:
            meta = _typed(_read_json(folder / META_FILE))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            self._discard(key, None, f"its {META_FILE} is unreadable ({exc})")
            return None
        if meta.get("key") != key:  # e.g. a folder copied or renamed by hand: not this fit
            self._discard(key, meta.get("checksum"), _wrong_key(meta))
            return None
        if meta.get("status") != "ok":
            return None
        path = folder / FIT_FILE
        # The full sha256 is checked on every hit, not only in ``verify``: for a tree the size
        # of the hierarchical radon fit (70 MB, 169 variables) it costs ~40 ms against
        # ~0.5 s for xarray to open and load it, and unlike size+mtime it catches bit rot.
        problem = _damage(path, meta)
        if problem is None:
            try:
                tree = _open_tree(path) if lazy else _load_tree(path)
            except Exception as exc:  # the checksum matched, yet h5netcdf cannot read it
                problem = f"{FIT_FILE} cannot be read ({type(exc).__name__}: {exc})"
        if problem is not None:
            self._discard(key, meta.get("checksum"), problem)
            return None
        return Fit(
            model=str(meta.get("model", "")),
            key=key,
            status="ok",
            tree=tree,
            seconds=dict(meta.get("seconds") or {}),
            versions=dict(meta.get("versions") or {}),
            meta=meta,
            cached=True,
            path=str(path),
        )

    # -- analyses kept beside fits --------------------------------------------------------

    def read_analysis(self, key: str, name: str) -> bytes | None:
        """The bytes of analysis ``name`` kept beside the fit of ``key``, or None.

        Analyses are derived data: one that is missing, unreadable or of another
        version is simply made again by the caller.
        """
        _check_key(name)
        path = self.folder(key) / f"{ANALYSIS_PREFIX}{name}{ANALYSIS_SUFFIX}"
        try:
            if path.is_symlink():
                return None
            return path.read_bytes()
        except OSError:
            return None

    def write_analysis(self, key: str, name: str, data: bytes) -> bool:
        """Keep an analysis beside the stored fit of ``key``; whether it was written.

        Written under a temporary name in the fit's folder, then renamed, so a reader
        sees the whole file or none. The fit must be stored; a store that cannot be
        written (read-only, full) only loses the cache, never the run.
        """
        _check_key(name)
        folder = self.folder(key)
        if not _is_real_dir(folder) or not (folder / META_FILE).is_file():
            return False  # not stored, or a link planted in the store: nothing to write into
        path = folder / f"{ANALYSIS_PREFIX}{name}{ANALYSIS_SUFFIX}"
        temporary = folder / f".{ANALYSIS_PREFIX}{name}.{secrets.token_hex(6)}.tmp"
        try:
            _write_file(temporary, data)
            os.replace(temporary, path)
        except OSError as exc:
            log.debug("analysis of %s not kept: %s", key, exc)
            with contextlib.suppress(OSError):
                temporary.unlink()
            return False
        return True

    def runs(self, study: str | None = None) -> list[RunRecord]:
        """Return the index's rows, newest first; only ``study``'s when given.

        A folder that holds no store (no ``fits/`` and no index) lists nothing and is left
        as it is: listing never creates files.
        """
        if not self.root.is_dir():
            if self.root.exists():
                raise self._not_a_folder()
            return []
        if not (self.root / "fits").exists() and not _lexists(self.index_path):
            return []
        sql = f"SELECT {', '.join(_COLUMNS)} FROM runs"
        args: tuple[str, ...] = ()
        if study is not None:
            sql, args = sql + " WHERE study = ?", (study,)
        sql += " ORDER BY created DESC, key"

        def read(con: sqlite3.Connection) -> tuple[set[str], list[tuple[Any, ...]]]:
            keys = {key for (key,) in con.execute("SELECT key FROM runs")}
            return keys, con.execute(sql, args).fetchall()

        try:
            indexed, rows = self._transact(read, write=False)
            if indexed != {folder.name for folder in self._folders()}:
                # a writer killed between its rename and its index row, or folders removed
                # by hand: the folders are the truth, so the index is rebuilt from them
                log.info("index %s is out of date; rebuilding it", self.index_path)
                self.rebuild_index()
                rows = self._transact(lambda con: con.execute(sql, args).fetchall(), write=False)
        except ForeignFileError:
            raise  # not radonspec's index: say so rather than list a store that is not there
        except StoreError as exc:  # e.g. a read-only store: list from the folders instead
            log.info("%s; listing the fit folders instead", exc)
            found = [r for r in self._scan() if study is None or r[2] == study]
            rows = sorted(sorted(found, key=lambda r: r[0]), key=lambda r: r[4], reverse=True)
        return [RunRecord(*(row[:-1] + (str(self.root / row[-1]),))) for row in rows]

    def verify(self, key: str | None = None, *, remove: bool = False) -> list[str]:
        """Check every stored ``fit.nc`` (or ``key``'s) against its checksum.

        Returns the keys of damaged fits; ``remove=True`` also deletes them, as ``get``
        would. Failed fits have no file and pass when their ``meta.json`` reads.
        """
        keys = [key] if key is not None else [p.name for p in self._folders()]
        bad: list[str] = []
        for name in keys:
            folder = self.folder(name)
            if not folder.exists():
                continue
            try:
                meta = _read_json(folder / META_FILE)
                problem = _damage(folder / FIT_FILE, meta) if meta.get("status") == "ok" else None
                if meta.get("key") != name:
                    problem = _wrong_key(meta)
            except (OSError, ValueError) as exc:
                meta, problem = {}, f"its {META_FILE} is unreadable ({exc})"
            if problem is not None:
                bad.append(name)
                if remove:
                    self._discard(name, meta.get("checksum"), problem)
        return bad

    # -- writing ------------------------------------------------------------------------

    def put(self, fit: Fit, meta: Mapping[str, Any]) -> Fit:
        """Store ``fit`` atomically and index it; return it with ``path`` and ``meta`` set.

        ``path`` is the absolute path of ``fit.nc`` (of ``meta.json`` for a failed fit).

        A failed or skipped fit (no tree) is recorded by its ``meta.json`` alone.
        ``meta`` (spec, data fingerprint, study, backend, diagnostics, ...) is merged
        under the store's own fields: key, model, status, error, seconds, versions,
        created, checksum, size.
        """
        if fit.status == "ok" and fit.tree is None:
            raise ValueError(f"fit {fit.model!r} has status 'ok' but no tree to store")
        folder = self.folder(fit.key)
        with self.lock(fit.key):
            self._clean_quietly()
            stored = self._write(fit, meta, folder)
            try:
                self._transact(lambda con: _upsert(con, _row(stored, self.root)))
            except StoreError as exc:  # the fit is safe in its folder; the index is a cache
                log.warning("fit %s stored, but not indexed: %s", fit.key[:12], exc)
        path = folder / (FIT_FILE if stored["checksum"] else META_FILE)
        return dataclasses.replace(fit, meta=stored, path=str(path), cached=False)

    def remove(self, key: str) -> None:
        """Delete a stored fit and its index row; nothing happens when it is absent."""
        with self.lock(key):
            folder = self.folder(key)
            try:
                if folder.exists():
                    aside = self._aside(key, "bad")
                    os.rename(folder, aside)
                    shutil.rmtree(aside, ignore_errors=True)
            except OSError as exc:
                raise self._os_error(exc, "remove") from exc
            self._transact(lambda con: con.execute("DELETE FROM runs WHERE key = ?", (key,)))

    def rebuild_index(self) -> int:
        """Rebuild the index from the folders' ``meta.json``; return the number of rows."""

        def refill(con: sqlite3.Connection) -> int:
            con.execute("DELETE FROM runs")
            rows = self._scan()
            for row in rows:
                _upsert(con, row)
            return len(rows)

        return self._transact(refill)

    def clean(self) -> int:
        """Delete leftovers under ``tmp/`` (e.g. of a writer killed mid-write); return how many.

        Only what a writer of this store leaves is deleted: a real folder (not a link)
        named ``<key>.(new|old|bad).<random>`` holding nothing but a fit folder's files
        (``fit.nc``, ``meta.json``, analyses), once nobody holds that key's lock (every
        writer holds it from before its temporary folder exists until after the rename).
        Anything else in ``tmp/`` is another program's and is left alone, whatever its age.
        """
        tmp = self.root / "tmp"
        if not _is_real_dir(tmp):
            return 0  # absent, or a link or file planted there: nothing of ours to clean
        removed = 0
        for entry in list(tmp.iterdir()):
            match = _TMP_NAME.fullmatch(entry.name)
            if match is None or not _is_leftover(entry):
                continue
            try:
                with self._hold(self._lock_path(match["key"]), timeout=0) as free:
                    if not free:
                        continue
                    shutil.rmtree(entry)
            except FileNotFoundError:
                continue
            except OSError as exc:
                if isinstance(exc, StoreError):
                    raise
                raise self._os_error(exc, "remove", entry) from exc
            removed += 1
        return removed

    @contextlib.contextmanager
    def lock(self, key: str, timeout: float | None = None) -> Iterator[None]:
        """Hold ``key``'s inter-process lock (``flock`` on ``locks/<key>.lock``).

        Blocks until free, or raises ``StoreError`` after ``timeout`` seconds. Re-entrant
        within one thread, so ``put`` and ``get`` can run inside it.
        """
        with self._hold(self._lock_path(key), timeout) as held:
            if not held:
                raise StoreError(
                    f"fit {key[:12]} in store {self.root} stayed locked by another radonspec"
                    f" process for {timeout:g} s; wait for it to finish, or delete"
                    f" {self._lock_path(key)} if no radonspec process is running"
                )
            yield

    # -- internals ----------------------------------------------------------------------

    def _lock_path(self, name: str) -> Path:
        _check_key(name)
        return self.root / "locks" / f"{name}.lock"

    @contextlib.contextmanager
    def _hold(self, path: Path, timeout: float | None) -> Iterator[bool]:
        """Yield whether the lock at ``path`` is held (``timeout=0``: try once)."""
        ident = (os.getpid(), threading.get_ident(), str(path))
        with _HELD_GUARD:
            mine = _HELD.get(ident)
            if mine is not None:
                _HELD[ident] = (mine[0], mine[1] + 1)
        if mine is not None:
            try:
                yield True
            finally:
                with _HELD_GUARD:
                    fd, count = _HELD[ident]
                    _HELD[ident] = (fd, count - 1)
            return
        try:
            self._own_dir(path.parent)
            # O_NOFOLLOW: a lock file planted as a link must not open (or create) its target
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError as exc:
            if isinstance(exc, StoreError):
                raise
            if exc.errno == errno.ELOOP:
                raise self._link_error(path) from None
            raise self._os_error(exc, "create", path) from exc
        try:
            got = _flock(fd, timeout)
            if got:
                with _HELD_GUARD:
                    _HELD[ident] = (fd, 1)
            try:
                yield got
            finally:
                if got:
                    with _HELD_GUARD:
                        del _HELD[ident]
                    fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def _write(self, fit: Fit, meta: Mapping[str, Any], folder: Path) -> dict[str, Any]:
        """Write the folder under ``tmp/``, sync it, rename it into place."""
        tmp = self.root / "tmp"
        stored: dict[str, Any] = {
            **_canonical(fit.meta, strict=False),
            **_canonical(meta, strict=False),
            "key": fit.key,
            "format": STORE_FORMAT,
            "model": fit.model,
            "status": fit.status,
            "error": fit.error,
            "seconds": _canonical(fit.seconds, strict=False),
            "versions": _canonical(fit.versions, strict=False),
            "created": datetime.now(UTC).isoformat(timespec="microseconds"),
            "file": None,
            "size": None,
            "checksum": None,
        }
        work: Path | None = None
        old: Path | None = None
        try:
            self._own_dir(tmp)
            work = Path(tempfile.mkdtemp(prefix=f"{fit.key}.new.", dir=tmp))
            os.chmod(work, 0o755)  # mkdtemp's 0o700 would hide the fit from other users
            if fit.status == "ok" and fit.tree is not None:
                if tree_bytes(fit.tree) <= IN_MEMORY_BYTES:
                    stored["checksum"], stored["size"] = _write_via_memory(fit.tree, work)
                else:
                    stored["checksum"], stored["size"] = _write_direct(fit.tree, work)
                stored["file"] = FIT_FILE
            _write_json(work / META_FILE, stored)
            _sync_dir(work)
            self._own_dir(folder.parent)
            if folder.is_symlink() or (_lexists(folder) and not folder.is_dir()):
                raise self._link_error(folder)  # never replace what is not a fit folder
            if folder.exists():
                old = self._aside(fit.key, "old")
                os.rename(folder, old)
            os.rename(work, folder)
            work = None
            _sync_dir(folder.parent)
        except BaseException as exc:
            if old is not None and not folder.exists():
                with contextlib.suppress(OSError):
                    os.rename(old, folder)
                    old = None
            if work is not None:
                shutil.rmtree(work, ignore_errors=True)
            if isinstance(exc, OSError) and not isinstance(exc, StoreError):
                raise self._os_error(exc, "write") from exc
            raise
        finally:
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        return stored

    def _aside(self, key: str, kind: str) -> Path:
        self._own_dir(self.root / "tmp")
        return self.root / "tmp" / f"{key}.{kind}.{secrets.token_hex(6)}"

    def _discard(self, key: str, checksum: str | None, problem: str) -> None:
        """Remove a damaged fit folder (and its row) unless someone is writing the key now."""
        folder = self.folder(key)
        log.warning(
            "stored fit %s at %s is damaged: %s; removing it so it is refitted",
            key[:12], folder, problem,
        )  # fmt: skip
        try:
            with self._hold(self._lock_path(key), timeout=0) as free:
                current = self.read_meta(key) or {}
                if not free or not folder.exists() or current.get("checksum") != checksum:
                    return  # being rewritten, or already replaced or removed
                if not _is_real_dir(folder):
                    return  # a link planted in the store: not a folder of ours to remove
                aside = self._aside(key, "bad")
                os.rename(folder, aside)
                shutil.rmtree(aside, ignore_errors=True)
                self._transact(lambda con: con.execute("DELETE FROM runs WHERE key = ?", (key,)))
        except OSError as exc:  # StoreError included: a read-only store keeps its damage
            log.warning("could not remove damaged fit %s: %s", folder, exc)

    def _clean_quietly(self) -> None:
        try:
            self.clean()
        except OSError as exc:
            log.debug("cleaning %s failed: %s", self.root / "tmp", exc)

    def _folders(self) -> list[Path]:
        """The fit folders: real folders only (a link planted under ``fits/`` is skipped)."""
        fits = self.root / "fits"
        if not _is_real_dir(fits):
            return []
        found = []
        for shard in fits.iterdir():
            if _is_real_dir(shard):
                found += [p for p in shard.iterdir() if _KEY.fullmatch(p.name) and _is_real_dir(p)]
        return sorted(found)

    def _scan(self) -> list[tuple[Any, ...]]:
        """Index rows from the folders' ``meta.json``; unreadable ones are skipped."""
        rows = []
        for folder in self._folders():
            try:
                meta = _read_json(folder / META_FILE)
                if meta.get("key") != folder.name:
                    log.warning("skipping fit folder %s: %s", folder, _wrong_key(meta))
                    continue
                rows.append(_row(meta, self.root))
            except (OSError, ValueError, KeyError) as exc:
                log.warning("skipping fit folder %s: %s unreadable (%s)", folder, META_FILE, exc)
        return rows

    def _transact(self, work: Callable[[sqlite3.Connection], T], write: bool = True) -> T:
        """Run ``work`` in one transaction; a missing or corrupt index is rebuilt first."""
        for attempt in range(2):
            try:
                con = self._connect()
                try:
                    con.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                    try:
                        result = work(con)
                    except BaseException:
                        with contextlib.suppress(sqlite3.Error):
                            con.execute("ROLLBACK")
                        raise
                    con.execute("COMMIT")
                    return result
                finally:
                    con.close()
            except sqlite3.DatabaseError as exc:
                if attempt == 0 and _is_corrupt(exc):
                    self._drop_index(exc)
                    continue
                raise self._sqlite_error(exc) from exc
            except OSError as exc:
                if isinstance(exc, StoreError):
                    raise
                raise self._os_error(exc, "write", self.index_path) from exc
        raise AssertionError("unreachable")

    def _connect(self) -> sqlite3.Connection:
        if self.root.exists() and not self.root.is_dir():
            raise self._not_a_folder()
        self.root.mkdir(parents=True, exist_ok=True)
        self._check_index_file()
        con = sqlite3.connect(self.index_path, timeout=BUSY_SECONDS, isolation_level=None)
        try:
            con.execute(f"PRAGMA busy_timeout = {int(BUSY_SECONDS * 1000)}")
            application = con.execute("PRAGMA application_id").fetchone()[0]
            if application not in (0, APPLICATION_ID) or (
                application == 0 and not _is_blank_or_legacy(con)
            ):
                raise self._foreign_index()
            if con.execute("PRAGMA user_version").fetchone()[0] != INDEX_VERSION or not application:
                self._create_index(con)
            else:
                con.execute("PRAGMA journal_mode = WAL")
        except BaseException:
            con.close()
            raise
        return con

    def _create_index(self, con: sqlite3.Connection) -> None:
        """Make a new or outdated index current and fill it from the folders."""
        con.execute("PRAGMA journal_mode = WAL")  # not allowed inside a transaction
        con.execute("BEGIN IMMEDIATE")
        try:
            application = con.execute("PRAGMA application_id").fetchone()[0]
            if application == 0 and not _is_blank_or_legacy(con):
                raise self._foreign_index()  # another program made it between our checks
            if con.execute("PRAGMA user_version").fetchone()[0] != INDEX_VERSION:
                con.execute("DROP TABLE IF EXISTS runs")
                con.execute(_SCHEMA)
                for row in self._scan():
                    _upsert(con, row)
                con.execute(f"PRAGMA user_version = {INDEX_VERSION}")
            con.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            con.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                con.execute("ROLLBACK")
            raise

    def _drop_index(self, exc: sqlite3.DatabaseError) -> None:
        """Delete a corrupt index file (it is rebuilt on the next connect).

        Only a file whose header says it is radonspec's index: a damaged database of
        another program, or any other file named like the index, is left alone.
        """
        if _header_application_id(self.index_path) != APPLICATION_ID:
            raise self._foreign_index(damaged=True)
        with self._hold(self._lock_path("index"), timeout=None):
            try:  # another process may have rebuilt it while we waited for the lock
                with contextlib.closing(sqlite3.connect(self.index_path, timeout=1)) as con:
                    con.execute("SELECT count(*) FROM sqlite_master").fetchone()
                    return
            except sqlite3.DatabaseError:
                pass
            log.warning("index %s is unreadable (%s); rebuilding it from the fit folders",
                        self.index_path, exc)  # fmt: skip
            for suffix in ("", "-wal", "-shm", "-journal"):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(f"{self.index_path}{suffix}")

    def _check_index_file(self) -> None:
        """Refuse an index (or its journal files) that is a link, or not a regular file."""
        for suffix in ("", "-wal", "-shm", "-journal"):
            path = Path(f"{self.index_path}{suffix}")
            try:
                mode = path.lstat().st_mode
            except FileNotFoundError:
                continue
            if stat.S_ISLNK(mode):
                raise self._link_error(path)
            if not stat.S_ISREG(mode):
                raise ForeignFileError(
                    f"{path} is not a regular file, so it is not radonspec's index; radonspec"
                    " leaves it alone: move it away, or pass --store DIR naming another folder"
                )
        if _header_application_id(self.index_path) not in (None, 0, APPLICATION_ID):
            raise self._foreign_index()

    def _own_dir(self, path: Path) -> None:
        """Make ``path`` (a folder of the store) exist as a real folder, never a link."""
        try:
            os.mkdir(path)
        except FileExistsError:
            pass
        except FileNotFoundError:
            if path.parent == self.root:
                self.root.mkdir(parents=True, exist_ok=True)
            else:
                self._own_dir(path.parent)
            with contextlib.suppress(FileExistsError):
                os.mkdir(path)
        if not _is_real_dir(path):
            raise self._link_error(path)

    def _link_error(self, path: Path) -> ForeignFileError:
        kind = "a symbolic link" if path.is_symlink() else "not a folder radonspec made"
        return ForeignFileError(
            f"fit store {self.root}: {path} is {kind}; radonspec neither follows links nor"
            " replaces files it did not make inside its store: remove it, or pass --store DIR"
            " naming another folder"
        )

    def _not_a_folder(self) -> StoreError:
        return StoreError(
            f"fit store {self.root} is a file, not a folder; pass --store DIR naming a folder"
            " (a new one is created)"
        )

    def _foreign_index(self, *, damaged: bool = False) -> ForeignFileError:
        what = "is damaged and is not recognisably" if damaged else "is not"
        return ForeignFileError(
            f"{self.index_path} {what} radonspec's index (another program's file?); radonspec"
            " leaves it alone: pass --store DIR naming another folder, or delete the file if it"
            " was radonspec's (the index is rebuilt from the fit folders)"
        )

    def _os_error(self, exc: OSError, doing: str, path: Path | None = None) -> StoreError:
        where = exc.filename or path or self.root
        if exc.errno in {errno.ENOTDIR, errno.EEXIST} and not self.root.is_dir():
            return self._not_a_folder()
        if exc.errno in _READ_ONLY:
            return StoreError(
                f"fit store {self.root} is read-only (cannot {doing} {where}: {exc.strerror});"
                " make it writable or pass --store DIR to use another folder"
            )
        if exc.errno in _FULL:
            return StoreError(
                f"no space left for fit store {self.root} (cannot {doing} {where});"
                " free some space or pass --store DIR to use a folder on another disk"
            )
        return StoreError(
            f"fit store {self.root}: cannot {doing} {where} ({exc.strerror or exc});"
            " check the folder or pass --store DIR to use another folder"
        )

    def _sqlite_error(self, exc: sqlite3.DatabaseError) -> StoreError:
        name = getattr(exc, "sqlite_errorname", "")
        if name in {"SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_AUTH"}:
            return self._os_error(OSError(errno.EROFS, str(exc)), "write", self.index_path)
        if name == "SQLITE_FULL":
            return self._os_error(OSError(errno.ENOSPC, str(exc)), "write", self.index_path)
        if name in {"SQLITE_BUSY", "SQLITE_LOCKED"}:
            return StoreError(
                f"index {self.index_path} stayed locked for {BUSY_SECONDS:g} s; wait for other"
                " radonspec runs on this store to finish, then retry"
            )
        return StoreError(
            f"index {self.index_path} failed ({exc}); delete it and it is rebuilt from the"
            " fit folders"
        )


_HELD: dict[tuple[int, int, str], tuple[int, int]] = {}  # (pid, thread, path) -> (fd, depth)
_HELD_GUARD = threading.Lock()


def _flock(fd: int, timeout: float | None) -> bool:
    if timeout is None:
        fcntl.flock(fd, fcntl.LOCK_EX)  # blocks; Ctrl-C still interrupts it
        return True
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)


def _check_key(key: str) -> None:
    # keys become path components: refuse anything that could leave the store
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise ValueError(f"invalid fit key {key!r}: expected 2-128 of [0-9A-Za-z_-]")


def _wrong_key(meta: Mapping[str, Any]) -> str:
    return f"its {META_FILE} records the key {str(meta.get('key'))[:12]!r}, not its folder's"


def _damage(path: Path, meta: Mapping[str, Any]) -> str | None:
    """Why ``path`` does not match ``meta``'s record of it, or ``None`` when it does."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return f"{FIT_FILE} is missing"
    if meta.get("size") is not None and size != meta["size"]:
        return f"{FIT_FILE} has {size} bytes, {meta['size']} were written"
    if _sha256(path) != meta.get("checksum"):
        return f"{FIT_FILE} does not match the checksum in {META_FILE}"
    return None


def _open_tree(path: Path) -> xr.DataTree:
    import xarray as xr

    # lazily indexed: values are read from the file on access and not kept
    return xr.open_datatree(path, engine="h5netcdf", cache=False)


def _load_tree(path: Path) -> xr.DataTree:
    import xarray as xr

    # load everything and close: no handle stays open, so the folder can be replaced
    tree = xr.open_datatree(path, engine="h5netcdf")
    try:
        return tree.load()
    finally:
        tree.close()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def _local_write_lock() -> Iterator[None]:
    """Let xarray lock the in-memory write with a thread lock, whatever Dask is active.

    With a Dask client in the process xarray takes a cluster-wide lock named after
    the target; for an in-memory buffer that name is unique and the cluster's
    semaphore bookkeeping can lose it ("Semaphore or Lock ... not known").
    """
    if "dask" not in sys.modules:
        yield
        return
    import dask

    with dask.config.set(scheduler="synchronous"):
        yield


#: Trees up to this many bytes of arrays are written to memory first, then to the file.
#: Larger ones go to the file directly: a copy in memory would double the peak (the 10^5-row
#: scaling fit's 3.2 GB log-likelihood became 6.4 GB while it was stored).
IN_MEMORY_BYTES = 256 * 2**20
#: Free space a direct write leaves beyond the arrays (HDF5's metadata, other writers).
SPACE_MARGIN = 64 * 2**20


def tree_bytes(tree: xr.DataTree) -> int:
    """Bytes of every array of ``tree`` (coordinates included)."""
    return sum(
        int(var.nbytes) for node in tree.subtree for var in node.to_dataset().variables.values()
    )


def _write_via_memory(tree: xr.DataTree, folder: Path) -> tuple[str, int]:
    """Write ``tree`` as ``folder/fit.nc`` through an in-memory copy; its sha256 and size."""
    # HDF5 writes into memory and Python writes the file: HDF5 left to hit a full
    # disk itself leaves a half-closed file that segfaults the next garbage
    # collection (h5py 3, HDF5 1.14); this way ENOSPC is a plain OSError
    with _local_write_lock():
        data = tree.to_netcdf(engine="h5netcdf")
    try:
        return _write_file(folder / FIT_FILE, data)
    finally:
        # xarray hands out a view of its BytesIO: a failed write's traceback kept
        # the view alive until the collector freed the BytesIO first, which is a
        # SystemError ("deallocated BytesIO object has exported buffers") and a
        # segmentation fault
        if isinstance(data, memoryview):
            data.release()


def _write_direct(tree: xr.DataTree, folder: Path) -> tuple[str, int]:
    """Write a large ``tree`` straight to ``folder/fit.nc``; its sha256 and size.

    HDF5 writes the file itself, so the free space is checked first (see
    ``_write_via_memory`` for what a full disk does to HDF5); a disk that fills during
    the write from elsewhere is the one case left to HDF5.
    """
    path = folder / FIT_FILE
    needed = tree_bytes(tree) + SPACE_MARGIN
    if shutil.disk_usage(folder).free < needed:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
    with _local_write_lock(), _writing_in_slabs():
        tree.to_netcdf(path, engine="h5netcdf")
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())
    return _sha256(path), path.stat().st_size


#: A lazily computed array (a deferred log-likelihood) is written this many bytes at a time.
SLAB_BYTES = 64 * 2**20


@contextlib.contextmanager
def _writing_in_slabs() -> Iterator[None]:
    """Within the block, xarray writes lazily computed arrays slab by slab.

    xarray hands each array to HDF5 whole (``target[...] = source``), which computes a
    lazy array (``radonspec.fit.loglik``) all at once: 3 GiB for a 10^5-row
    log-likelihood. Its ``ArrayWriter`` is replaced for the write by one that reads and
    writes such an array in slabs along its draws; the file is the same (xarray still
    creates every variable, with its encoding and attributes).
    """
    import numpy as np
    from xarray.backends import writers
    from xarray.backends.common import ArrayWriter, is_chunked_array

    class SlabWriter(ArrayWriter):
        __slots__ = ()

        def add(self, source: Any, target: Any, region: Any = None) -> None:
            lazy = getattr(source, "computed_in_slabs", False)
            if region or is_chunked_array(source) or not lazy or source.ndim == 0:
                super().add(source, target, region)
                return
            axis = 1 if source.ndim >= 2 else 0
            size = source.shape[axis]
            per_index = max(1, source.dtype.itemsize * int(np.prod(source.shape)) // max(1, size))
            step = max(1, SLAB_BYTES // per_index)
            for start in range(0, size, step):
                key = (slice(None),) * axis + (slice(start, start + step),)
                key += (slice(None),) * (source.ndim - axis - 1)
                target[key] = np.asarray(source[key])

    original = writers.ArrayWriter
    writers.ArrayWriter = SlabWriter  # type: ignore[misc]
    try:
        yield
    finally:
        writers.ArrayWriter = original  # type: ignore[misc]


def _write_file(path: Path, data: bytes | memoryview) -> tuple[str, int]:
    """Write ``data`` to ``path``, synced; return its sha256 and size.

    The digest is taken in a thread while the file is written and synced (both let go
    of the interpreter's lock), so a fit's file costs the longer of the two.
    """
    digest = hashlib.sha256()
    hashing = threading.Thread(target=digest.update, args=(data,), name="radonspec-sha256")
    hashing.start()
    try:
        with open(path, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    finally:
        hashing.join()
    return digest.hexdigest(), len(data)


def _sync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno != errno.EINVAL:  # some file systems cannot sync a folder
            raise
    finally:
        os.close(fd)


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, ensure_ascii=False)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())


def _read_json(path: Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    if not isinstance(data, dict):
        raise ValueError(f"{path} holds a {type(data).__name__}, not an object")
    return data


def _typed(meta: dict[str, Any]) -> dict[str, Any]:
    """``meta`` with the fields radonspec reads back of the type it wrote them in.

    A ``meta.json`` is read from disk, where anyone may have edited it: ``seconds: true``
    crashed the lookup with a ``TypeError``.
    """
    out = dict(meta)
    for field in ("seconds", "versions", "diagnostics", "spec"):
        if field in out and not isinstance(out[field], Mapping):
            del out[field]
    if isinstance(out.get("seconds"), Mapping):
        out["seconds"] = {str(k): float(v) for k, v in out["seconds"].items() if _is_number(v)}
    for field in ("error", "model", "study", "backend", "file", "created"):
        if out.get(field) is not None and not isinstance(out[field], str):
            out[field] = str(out[field])
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _lexists(path: Path) -> bool:
    return os.path.lexists(path)


def _is_real_dir(path: Path) -> bool:
    """Whether ``path`` is a folder itself, not a link to one."""
    try:
        return stat.S_ISDIR(path.lstat().st_mode)
    except OSError:
        return False


def _is_leftover(path: Path) -> bool:
    """Whether ``path`` is what a writer of this store leaves: a real folder of fit files."""
    if not _is_real_dir(path):
        return False
    try:
        return all(_is_fit_file(entry.name) and stat.S_ISREG(entry.lstat().st_mode)
                   for entry in path.iterdir())  # fmt: skip
    except OSError:
        return False


def _is_fit_file(name: str) -> bool:
    """A file a fit folder holds: the fit, its meta, its analyses (and their temporaries)."""
    return name in (FIT_FILE, META_FILE) or bool(_ANALYSIS_NAME.fullmatch(name))


def _header_application_id(path: Path) -> int | None:
    """The application id in an SQLite file's header; ``None`` when it is no SQLite file.

    An empty file counts as a new database (0).
    """
    try:
        with open(path, "rb") as handle:
            head = handle.read(100)
    except OSError:
        return None
    if not head:
        return 0
    if len(head) < 72 or not head.startswith(_SQLITE_MAGIC):
        return None
    return int.from_bytes(head[68:72], "big")


def _is_blank_or_legacy(con: sqlite3.Connection) -> bool:
    """A database without radonspec's application id that is still radonspec's to use.

    Either new (no table at all) or an index written before the id was set: only the
    ``runs`` table, with radonspec's columns, at radonspec's index version.
    """
    tables = con.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    ).fetchall()
    if not tables:
        return True
    if [name for (name,) in tables] != ["runs"]:
        return False
    if con.execute("PRAGMA user_version").fetchone()[0] not in range(1, INDEX_VERSION + 1):
        return False  # radonspec's index versions so far, all with these columns
    columns = tuple(row[1] for row in con.execute("PRAGMA table_info(runs)"))
    return columns == _COLUMNS


def _row(meta: Mapping[str, Any], root: Path) -> tuple[Any, ...]:
    """Build an index row from a ``meta.json``; ``path`` is relative to ``root``."""
    key = meta["key"]
    _check_key(key)
    name = FIT_FILE if meta.get("status") == "ok" else META_FILE
    diag = meta.get("diagnostics") or {}
    seconds = meta.get("seconds")
    total = seconds.get("total") if isinstance(seconds, Mapping) else seconds
    rel = (Path("fits") / key[:2] / key / name).as_posix()
    status = str(meta.get("status", ""))
    if _number(meta.get("format"), int) != STORE_FORMAT:
        # a fit of an older store format is never a hit again: listed, and said why
        status = f"{status}, old format (refitted on its next run)"
    return (
        key,
        str(meta.get("model", "")),
        str(meta.get("study", "")),
        status,
        str(meta.get("created", "")),
        _number(total, float),
        _number(diag.get("r_hat_max"), float),
        _number(diag.get("ess_bulk_min"), float),
        _number(diag.get("divergences"), int),
        None if meta.get("backend") is None else str(meta["backend"]),
        rel,
    )


def _number(value: Any, kind: type[float] | type[int]) -> Any:
    try:
        return None if value is None else kind(value)
    except (TypeError, ValueError):
        return None


def _upsert(con: sqlite3.Connection, row: tuple[Any, ...]) -> None:
    marks = ", ".join("?" for _ in _COLUMNS)
    con.execute(f"INSERT OR REPLACE INTO runs ({', '.join(_COLUMNS)}) VALUES ({marks})", row)


def _is_corrupt(exc: sqlite3.DatabaseError) -> bool:
    name = getattr(exc, "sqlite_errorname", "")
    text = str(exc).lower()
    return name in {"SQLITE_NOTADB", "SQLITE_CORRUPT"} or (
        "not a database" in text or "malformed" in text
    )


#: The store's folder by default, in the working directory.
DEFAULT_STORE = ".radonspec"


def since_last_fit(store: Store, study: str, model: str, fingerprint: str) -> str:
    """Why a model has no stored fit, when the store holds an older fit of it: a clause.

    ``", though the store has one of 2026-12-01 07:01 from other data: the data changed
    since"``, or ``... with other settings ...``; ``""`` when it holds none (or cannot say).
    """
    try:
        rows = [row for row in store.runs(study) if row.model == model and row.status == "ok"]
        meta = store.read_meta(rows[0].key) if rows else None
    except (OSError, StoreError):
        return ""
    if meta is None:
        return ""
    when = str(rows[0].created)[:16].replace("T", " ")
    if meta.get("data_fingerprint") not in (None, fingerprint):
        return f", though the store has one of {when} from other data: the data changed since"
    return (
        f", though the store has one of {when} with other settings or package versions: the"
        " spec or the installed packages changed since"
    )


def open_store(store: Store | str | os.PathLike[str] | None) -> Store:
    """A ``Store`` from a path (default ``.radonspec`` in the working directory)."""
    if isinstance(store, Store):
        return store
    return Store(Path(store) if store is not None else Path(DEFAULT_STORE))
