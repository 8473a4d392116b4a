"""The package layout follows the pipeline: no stage imports a later one, no import cycles."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "radonspec"
#: The stages in pipeline order; each may import the ones before it only.
ORDER = ["errors", "study", "data", "compile", "fit", "analysis", "report", "api", "cli"]


def stage(module: str) -> str | None:
    """The stage of a ``radonspec.*`` module name (None for the package itself)."""
    parts = module.split(".")
    if parts[0] != "radonspec" or len(parts) == 1:
        return None
    return parts[1].removesuffix(".py")


def imports(path: Path) -> list[tuple[str, int, bool]]:
    """(module, line, at module level) of every radonspec import in a file."""
    tree = ast.parse(path.read_text())
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("radonspec"):
            for alias in node.names:
                # `from radonspec.x import y` imports the module x.y when there is one
                deeper = f"{node.module}.{alias.name}"
                name = deeper if deeper in MODULES else node.module
                found.append((name, node.lineno, id(node) in top))
        elif isinstance(node, ast.Import):
            found += [(a.name, node.lineno, id(node) in top) for a in node.names
                      if a.name.startswith("radonspec")]  # fmt: skip
    return found


def _modules() -> dict[str, Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = _modules()


def modules() -> dict[str, Path]:
    """Every module of the package by dotted name."""
    return MODULES


@pytest.mark.parametrize("name", sorted(modules()))
def test_no_stage_reaches_ahead(name: str) -> None:
    own = stage(name)
    if own is None or own == "__main__":
        return
    for target, line, _ in imports(modules()[name]):
        other = stage(target)
        if other is None or other == own:
            continue
        assert ORDER.index(other) < ORDER.index(own), (
            f"{name} (stage {own}) imports {target} (stage {other}) at line {line}"
        )


def test_the_report_never_imports_fitting_or_compiling_code() -> None:
    for name, path in modules().items():
        if stage(name) == "report":
            for target, line, _ in imports(path):
                assert stage(target) not in ("compile", "fit"), f"{name}:{line} imports {target}"


def test_imports_have_no_cycle() -> None:
    """Module-level and deferred imports alike; the package itself (``import radonspec``
    for its version) is left out: importing any of its modules imports it first."""
    graph = {
        name: {t for t, _, _ in imports(path) if t in modules() and t not in (name, "radonspec")}
        for name, path in modules().items()
    }
    done: set[str] = set()
    path: list[str] = []

    def visit(node: str) -> None:
        if node in path:
            raise AssertionError("import cycle: " + " -> ".join([*path[path.index(node) :], node]))
        if node in done:
            return
        path.append(node)
        for nxt in sorted(graph[node]):
            visit(nxt)
        path.pop()
        done.add(node)

    for node in sorted(graph):
        visit(node)


def test_test_modules_have_unique_names() -> None:
    """The test folders are not packages, so pytest refuses two test modules of one name."""
    tests = Path(__file__).resolve().parent
    names: dict[str, list[str]] = {}
    for path in tests.rglob("test_*.py"):
        names.setdefault(path.name, []).append(str(path.relative_to(tests)))
    assert {name: paths for name, paths in names.items() if len(paths) > 1} == {}
