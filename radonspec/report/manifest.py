"""Whether a report folder is current: a manifest of what its report was made from.

``run`` writes the manifest beside the report. When the study, the fits behind it and
radonspec are unchanged, the files listed there are the report that would be written
again, and nothing is analysed or rendered.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

REPORT_MANIFEST = ".report-inputs.json"
#: Bump when what a report shows of the same analysis changes: older reports are redone.
REPORT_VERSION = 1


def report_inputs(
    spec_hash: str, fits: Mapping[str, tuple[str, str, str | None]], extra: str
) -> str:
    """Hash of everything a report is made from: the spec, each fit's (key, status, error).

    The versions of radonspec, of its analyses and of the report are part of it, so a
    report made by older code is written again.
    """
    from radonspec import __version__
    from radonspec.analysis.version import ANALYSIS_VERSION

    parts = {
        "radonspec": __version__,
        "analysis": ANALYSIS_VERSION,
        "report": REPORT_VERSION,
        "spec": spec_hash,
        "fits": {name: list(fit) for name, fit in fits.items()},
        "comparison": extra,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def current_report(folder: Path, inputs: str) -> dict[str, Path] | None:
    """The files of an up-to-date report in ``folder``, or None when it must be rebuilt."""
    try:
        manifest = json.loads((folder / REPORT_MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict):
        return None
    listed = manifest.get("files", {})
    files = (
        {str(kind): Path(path) for kind, path in listed.items()} if isinstance(listed, dict) else {}
    )
    if (
        manifest.get("inputs") != inputs
        or not files
        or not all(p.is_file() for p in files.values())
    ):
        return None
    return files


def write_manifest(folder: Path, inputs: str, files: Mapping[str, Path]) -> None:
    """Record what the report in ``folder`` was made from (atomically)."""
    data: dict[str, Any] = {"inputs": inputs, "files": {k: str(p) for k, p in files.items()}}
    path = folder / REPORT_MANIFEST
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(data, indent=1))
    os.replace(temporary, path)


def forget(folder: Path) -> None:
    """Drop the manifest, so the next ``run`` writes its report anew."""
    (folder / REPORT_MANIFEST).unlink(missing_ok=True)
