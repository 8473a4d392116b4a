"""Write radonspec/study/registry.py: Bambi's families and links and PyMC's distributions as data.

Loading a spec checks family, link and distribution names. Asking Bambi and PyMC means
importing them (seconds); the registry is a snapshot of the pinned versions instead, and
tests/study/test_registry.py checks that it still equals what they say. Rerun after
upgrading Bambi or PyMC:

    .venv/bin/python scripts/registry.py > radonspec/study/registry.py
"""

from __future__ import annotations

import importlib.metadata
import pprint


def families() -> dict[str, dict[str, object]]:
    from bambi.defaults.families import BUILTIN_FAMILIES

    found: dict[str, dict[str, object]] = {}
    for name in sorted(BUILTIN_FAMILIES):
        entry = BUILTIN_FAMILIES[name]
        supported = entry["family"].SUPPORTED_LINKS
        links = (
            list(supported)
            if isinstance(supported, list)
            else {param: list(values) for param, values in supported.items()}
        )
        found[name] = {
            "parent": entry["likelihood"]["parent"],
            "params": tuple(entry["likelihood"]["params"]),
            "links": links,
            "default_links": dict(entry.get("link", {})),
        }
    return found


def links() -> tuple[str, ...]:
    from bambi.families.link import LINKS

    return tuple(sorted(LINKS))


def distributions() -> tuple[dict[str, tuple[tuple[str, ...], ...]], dict[str, str]]:
    from radonspec.study.priors import live_distributions

    allowed, refused = live_distributions()
    return (
        {
            name: (info.name, info.positional, info.params, info.required)
            for name, info in allowed.items()
        },
        dict(refused),
    )


def main() -> None:
    allowed, refused = distributions()
    print('"""Bambi\'s families and links and PyMC\'s distributions, as data (generated).')
    print()
    print(
        "Written by scripts/registry.py from bambi",
        importlib.metadata.version("bambi"),
        "and pymc",
        importlib.metadata.version("pymc") + "; tests/study/test_registry.py",
    )
    print("checks it still equals what the installed packages say. Do not edit by hand.")
    print('"""')
    print()
    print("from typing import Any")
    print()
    print(f"BAMBI_VERSION = {importlib.metadata.version('bambi')!r}")
    print(f"PYMC_VERSION = {importlib.metadata.version('pymc')!r}")
    print()
    print("#: family -> parent parameter, parameters, supported links, default links")
    print(
        "FAMILIES: dict[str, dict[str, Any]] = "
        + pprint.pformat(families(), width=96, sort_dicts=False)
    )
    print()
    print("LINKS: tuple[str, ...] = " + pprint.pformat(links(), width=96))
    print()
    print("#: name -> (class name, positional parameters, parameters, required parameters)")
    print("DISTRIBUTIONS: dict[str, tuple[Any, ...]] = " + pprint.pformat(allowed, width=96))
    print()
    print("#: names a prior may not use -> why")
    print("REFUSED: dict[str, str] = " + pprint.pformat(refused, width=96))


if __name__ == "__main__":
    main()
