"""The registry snapshot equals what the installed Bambi and PyMC say (rerun scripts/registry.py
after an upgrade), and loading a spec imports neither."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_snapshot_is_of_the_installed_versions() -> None:
    from radonspec.study.registry import BAMBI_VERSION, PYMC_VERSION

    assert BAMBI_VERSION == importlib.metadata.version("bambi")
    assert PYMC_VERSION == importlib.metadata.version("pymc")


def test_the_snapshot_equals_bambi_and_pymc() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "registry.py")],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    generated = done.stdout
    committed = (ROOT / "radonspec" / "study" / "registry.py").read_text()
    # the committed file is the generated one after `ruff format`: compare the data
    namespace_a: dict[str, object] = {}
    namespace_b: dict[str, object] = {}
    exec(generated, namespace_a)  # noqa: S102 - our own generator's output
    exec(committed, namespace_b)  # noqa: S102
    for name in ("FAMILIES", "LINKS", "DISTRIBUTIONS", "REFUSED"):
        assert namespace_a[name] == namespace_b[name], f"regenerate: {name} changed"


def test_loading_and_checking_a_spec_imports_neither_bambi_nor_pymc() -> None:
    """What ``run`` does first (PyMC's verdict on prior arguments waits for validation)."""
    code = (
        "import sys\n"
        "from radonspec.study.loader import load_study\n"
        "from radonspec.study.priors import pymc_verdicts_deferred\n"
        "with pymc_verdicts_deferred():\n"
        f"    study = load_study({str(ROOT / 'specs' / 'radon' / 'seed.yaml')!r})\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'bambi', 'pymc', 'pytensor'}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
