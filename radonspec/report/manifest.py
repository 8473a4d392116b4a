"""Whether a report folder is current: a manifest of what its report was made from.

``run`` writes the manifest with the report, in the same folder write (so it never
describes another report). When the study, the fits behind it and radonspec are
unchanged, the files listed there are the report that would be written again, and
nothing is analysed or rendered.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

REPORT_MANIFEST = ".report-inputs.json"
#: The file of each report format (here, so checking a report is current imports no
#: rendering, plotting or statistics code).
FILES = {"html": "report.html", "markdown": "report.md", "json": "summary.json"}
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
    """The files of an up-to-date report in ``folder``, or None when it must be rebuilt.

    The manifest names the report's files (its format's file names only: a manifest
    that points elsewhere is not believed), and the folder must hold nothing else.
    """
    from radonspec.report.output import foreign_entries

    try:
        manifest = json.loads((folder / REPORT_MANIFEST).read_text())
        if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
            return None
        listed = manifest["files"]
        files = {k: folder / FILES[k] for k, name in listed.items() if FILES.get(k) == name}
        if (
            manifest.get("inputs") != inputs
            or not files
            or len(files) != len(listed)
            or not all(p.is_file() and not p.is_symlink() for p in files.values())
            or foreign_entries(folder)
        ):
            return None
    except (OSError, ValueError):
        return None
    return files


def manifest_bytes(inputs: str, formats: Iterable[str]) -> bytes:
    """The manifest of a report of ``formats`` made from ``inputs``, to write with it."""
    data: dict[str, Any] = {"inputs": inputs, "files": {k: FILES[k] for k in formats}}
    return json.dumps(data, indent=1).encode()
