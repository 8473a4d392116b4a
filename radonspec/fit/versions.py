"""The packages a fit's draws depend on, and their installed versions (cheap to import)."""

from __future__ import annotations

import functools
import importlib.metadata
from typing import Any

# backend -> modules it needs and the distribution whose version goes into the fit key
BACKENDS: dict[str, dict[str, Any]] = {
    "nutpie": {"modules": ("nutpie",), "package": "nutpie", "extra": None},
    "pymc": {"modules": (), "package": "pymc", "extra": None},
    "numpyro": {"modules": ("jax", "numpyro"), "package": "numpyro", "extra": "jax"},
    "blackjax": {"modules": ("jax", "blackjax"), "package": "blackjax", "extra": "jax"},
}
CORE_PACKAGES = ("radonspec", "bambi", "pymc", "pytensor", "arviz-base", "arviz-stats")


@functools.cache
def package_version(package: str) -> str:
    """The installed version of a distribution, or ``absent``.

    Read once per process (each read scans the installed distributions, 10-20 ms for the
    seven of a fit, at every fold refit): the modules a process has imported are those
    of the version it found first.
    """
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "absent"


def versions(backend: str) -> dict[str, str]:
    """Versions of everything a fit's draws depend on."""
    packages = [*CORE_PACKAGES, BACKENDS[backend]["package"]]
    return {package: package_version(package) for package in dict.fromkeys(packages)}


__all__ = ["BACKENDS", "CORE_PACKAGES", "package_version", "versions"]
