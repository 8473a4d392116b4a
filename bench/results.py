"""Summaries, ratios, targets and the environment record of a benchmark run."""

from __future__ import annotations

import datetime
import importlib.metadata
import math
import os
import platform
import statistics
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = (
    "radonspec",
    "bambi",
    "pymc",
    "pytensor",
    "nutpie",
    "numba",
    "arviz",
    "arviz-base",
    "arviz-stats",
    "numpy",
    "pandas",
    "xarray",
)

Stat = dict[str, float | int | None]


def summarise(values: Sequence[float | None]) -> Stat:
    """Median, minimum and maximum of the values that exist, and how many there were."""
    kept = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not kept:
        return {"median": None, "min": None, "max": None, "n": 0}
    return {
        "median": statistics.median(kept),
        "min": min(kept),
        "max": max(kept),
        "n": len(kept),
    }


def ratio(numerator: Sequence[float | None], denominator: Sequence[float | None]) -> Stat:
    """Ratio of medians, with the range of the per-repetition ratios as [min, max].

    Repetition ``i`` of one contender ran next to repetition ``i`` of the other (round
    robin), so pairing them cancels slow drift of the machine.
    """
    top, bottom = summarise(numerator), summarise(denominator)
    if top["median"] is None or not bottom["median"]:
        return {"median": None, "min": None, "max": None, "n": 0}
    pairs = [
        float(a) / float(b)
        for a, b in zip(numerator, denominator, strict=False)
        if a is not None and b
    ]
    return {
        "median": float(top["median"]) / float(bottom["median"]),
        "min": min(pairs) if pairs else None,
        "max": max(pairs) if pairs else None,
        "n": len(pairs),
    }


def loglog_slope(xs: Sequence[float], ys: Sequence[float | None]) -> float | None:
    """Least-squares slope of log(y) on log(x): the exponent b of y ~ a * x**b."""
    points = [(math.log(x), math.log(y)) for x, y in zip(xs, ys, strict=True) if y and y > 0]
    if len(points) < 2:
        return None
    mean_x = sum(p[0] for p in points) / len(points)
    mean_y = sum(p[1] for p in points) / len(points)
    sxx = sum((p[0] - mean_x) ** 2 for p in points)
    sxy = sum((p[0] - mean_x) * (p[1] - mean_y) for p in points)
    return sxy / sxx if sxx else None


def machine() -> dict[str, Any]:
    """CPU model, cores, memory, operating system and Python of this machine."""
    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 1
    return {
        "cpu": model,
        "cores_logical": os.cpu_count(),
        "cores_usable": usable,
        "memory_gb": round(psutil.virtual_memory().total / 1024**3, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
    }


def versions() -> dict[str, str]:
    """Installed versions of the packages the figures depend on."""
    found: dict[str, str] = {}
    for package in PACKAGES:
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = "absent"
    return found


def git_state() -> dict[str, Any]:
    """The commit measured and whether the working tree had changes (read-only git)."""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False, timeout=30
        )
        return done.stdout.strip()

    try:
        return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def now() -> str:
    """The current time, ISO 8601 with the UTC offset."""
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def median_of(stat: Stat | None) -> float | None:
    """The median of a summary, or None."""
    if not stat:
        return None
    value = stat.get("median")
    return float(value) if value is not None else None


def target(
    name: str, value: float | None, limit: float, *, at_most: bool = True, unit: str = ""
) -> dict[str, Any]:
    """One target and whether the measured value meets it (None: not measured)."""
    met = None if value is None else (value <= limit if at_most else value >= limit)
    return {
        "name": name,
        "target": f"{'<=' if at_most else '>='} {limit:g}{unit}",
        "value": value,
        "met": met,
    }
