"""Contender: the seed study in R's brms (``brms_seed.R``), and whether this machine can run it.

The fitting is R (``bench/contenders/brms_seed.R``); this module only says whether R and brms
are installed and builds the command line, so the harness runs it like any other contender:
in a fresh process, timed from R's start to its exit, Stan's compilation included.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from bench.studies import Sampling

SCRIPT = Path(__file__).resolve().with_name("brms_seed.R")
#: The R packages the script loads.
PACKAGES = ("brms", "rstan", "loo", "jsonlite", "posterior")


def unavailable(rscript: str | None = None) -> str | None:
    """Why brms cannot run here (no ``Rscript``, or a package missing), or None if it can."""
    found = rscript or shutil.which("Rscript")
    if found is None:
        return "not run: Rscript is not installed (R is not part of CI)"
    check = (
        f"missing <- Filter(function(p) !requireNamespace(p, quietly = TRUE), "
        f"c({', '.join(repr(p) for p in PACKAGES)})); "
        "cat(missing); quit(status = length(missing) > 0)"
    )
    try:
        done = subprocess.run(
            [found, "--vanilla", "-e", check],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"not run: {found} could not be started ({exc})"
    if done.returncode != 0:
        missing = ", ".join(done.stdout.split()) or done.stderr.strip()[-200:]
        return f"not run: R packages missing: {missing}"
    return None


def command(sampling: Sampling, models: tuple[str, ...], result: Path) -> list[str]:
    """The command line that fits ``models`` with brms and writes ``result``."""
    rscript = shutil.which("Rscript") or "Rscript"
    return [
        rscript,
        str(SCRIPT),
        *sampling.argv(),
        "--data",
        str(SCRIPT.parents[2] / "radonspec" / "data" / "datasets" / "radon.csv"),
        "--result",
        str(result),
        "--models",
        *models,
    ]
