from __future__ import annotations

import os
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "specs"

# Let Bambi and PyTensor keep their compile caches inside the test session's temp tree
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def write_spec(tmp_path: Path) -> Callable[..., Path]:
    """Write a dedented YAML text to ``tmp_path/name`` and return its path."""

    def write(text: str, name: str = "study.yaml") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        return path

    return write


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run the test with the temporary folder as working directory."""
    monkeypatch.chdir(tmp_path)
    return tmp_path
