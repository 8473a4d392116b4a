"""A study's plan kept in the store: each model's fit key, for one spec, data file and versions.

Keying a study's fits loads its data and reads every formula, which imports formulae,
pandas and SciPy: most of the time of a run whose report is already current. The keys
are a function of the resolved spec, the bytes of the data file and the packages'
versions, so a run that planned a study keeps the keys under a hash of exactly those
(``plan_digest``); a later run of the same study reads them back (``read_plan``)
instead. A changed spec, data file or version is another hash, which finds no record
and plans (and checks) the study in full. The record is a cache: one that cannot be
read or written only costs the planning.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import logging
import os
import re
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from radonspec.fit.versions import package_version, versions
from radonspec.study.schema import Study

log = logging.getLogger(__name__)

#: Bumped when what a record holds, or what its hash covers, changes.
PLAN_FORMAT = 1
PLANS_FOLDER = "plans"
#: Packages that read the data or the formulas, beside those in every fit key.
PLANNING_PACKAGES = ("formulae", "numpy", "pandas", "pyarrow", "pydantic")
_KEY = re.compile(r"[0-9a-f]{64}")


def plan_digest(study: Study) -> str | None:
    """Hash of everything a study's fit keys are made from; None when it cannot be told.

    Covers the resolved study (every model, the data section, sweeps expanded), the
    study file's place (relative data paths resolve against it), the data file's bytes
    (a bundled data set's file too) and the versions of radonspec, the sampler backends
    and the packages that read the data, and the code of the modules that key fits
    (``KEYING_MODULES``). None when the study has no file or its data
    file cannot be read: such a study is always planned in full.
    """
    if not study.source or study.source == "<memory>":  # made in code, not read from a file
        return None
    data = _data_digest(study)
    if data is None:
        return None
    backends = sorted({spec.sampler.backend for spec in study.models.values()})
    payload = {
        "format": PLAN_FORMAT,
        "source": str(Path(study.source).resolve()),
        "study": json.loads(study.model_dump_json(by_alias=True)),
        "data": data,
        "fit_versions": {backend: versions(backend) for backend in backends},
        "planning_versions": {name: package_version(name) for name in PLANNING_PACKAGES},
        "keying_code": _keying_code(),
    }
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def read_plan(root: Path, digest: str) -> dict[str, str] | None:
    """The fit key of every model (by name) kept under ``digest``, or None."""
    record = _read_record(root, digest)
    if record is None or record.get("format") != PLAN_FORMAT:
        return None
    keys = record.get("keys")
    if not isinstance(keys, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and _KEY.fullmatch(v) for k, v in keys.items()
    ):
        return None
    return dict(keys)


def read_columns(root: Path, digest: str) -> list[str] | None:
    """The data columns the study kept under ``digest`` uses, or None (not kept, or damaged).

    What ``compile.validate.study_columns`` found when the study was planned: the data is
    then loaded without reading the formulas again.
    """
    record = _read_record(root, digest)
    if record is None:
        return None
    columns = record.get("columns")
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        return None
    return list(columns)


def write_plan(
    root: Path, digest: str, keys: Mapping[str, str], columns: list[str] | None = None
) -> bool:
    """Keep the fit keys of a study planned (and checked) in full; whether it was written.

    ``columns`` are the data columns the study uses (``read_columns``). Written under a
    temporary name and renamed, so a reader sees a whole record or none.
    """
    folder = root / PLANS_FOLDER
    record: dict[str, Any] = {"format": PLAN_FORMAT, "digest": digest, "keys": dict(keys)}
    if columns is not None:
        record["columns"] = list(columns)
    temporary = folder / f".{digest}.{secrets.token_hex(6)}.tmp"
    try:
        if not root.is_dir() or folder.is_symlink():
            return False
        folder.mkdir(exist_ok=True)
        temporary.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        os.replace(temporary, folder / f"{digest}.json")
    except OSError as exc:
        log.debug("plan %s not kept: %s", digest[:12], exc)
        with contextlib.suppress(OSError):
            temporary.unlink()
        return False
    return True


def _data_digest(study: Study) -> dict[str, str] | None:
    spec = study.data
    if spec.dataset is not None:
        found = importlib.util.find_spec("radonspec.data")
        if found is None or found.origin is None:
            return None
        # the package's folder, not its module: importing it imports pandas
        folder = Path(found.origin).parent / "datasets"
        files = [folder / f"{spec.dataset}.csv", folder / f"{spec.dataset}.json"]
    elif spec.path is not None:
        files = [(Path(study.source).resolve().parent / spec.path).resolve()]
    else:
        return None
    found_files: dict[str, str] = {}
    for path in files:
        try:
            with open(path, "rb") as handle:
                found_files[str(path)] = hashlib.file_digest(handle, "sha256").hexdigest()
        except OSError:
            return None
    return found_files


#: The modules whose code decides a fit's key (what is planned, how it is keyed): a record
#: made by other code of these is no plan, even under the same version number.
KEYING_MODULES = ("fit/runner.py", "fit/store.py", "study/sweep.py", "data/load.py")


def _keying_code() -> str:
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for name in KEYING_MODULES:
        digest.update(name.encode())
        digest.update((root / name).read_bytes())
    return digest.hexdigest()


def _read_record(root: Path, digest: str) -> dict[str, Any] | None:
    """The plan file kept under ``digest`` as read, if it is a record of that digest."""
    path = root / PLANS_FOLDER / f"{digest}.json"
    try:
        if path.is_symlink() or not path.is_file():
            return None
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("digest") != digest:
        return None
    return record


__all__ = ["PLAN_FORMAT", "plan_digest", "read_plan", "write_plan"]
