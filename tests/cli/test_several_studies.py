"""`run` and `report` given several studies with `--out`: one report folder per study.

Fits come from ``fake_sampler`` (conftest): real draws recorded once per session.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from radonspec.cli.app import app

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")


def _studies(toy: Path) -> list[Path]:
    """The toy study three times: as toy.yaml, as other.yaml, and as toy.yaml in a subfolder."""
    base = toy.parent
    other = base / "other.yaml"
    other.write_text(toy.read_text().replace("name: toy", "name: other", 1))
    (base / "sub").mkdir()
    shutil.copy(base / "toy.csv", base / "sub" / "toy.csv")
    again = base / "sub" / "toy.yaml"
    again.write_text(toy.read_text().replace("name: toy", "name: toy-again", 1))
    return [toy, other, again]


def test_several_studies_get_one_report_folder_each(toy: Path, fake_sampler: object) -> None:
    studies = _studies(toy)
    out, store = toy.parent / "reports", toy.parent / "store"
    args = ["--out", str(out), "--store", str(store)]
    found = CliRunner().invoke(app, ["run", *map(str, studies), "--jobs", "1", *args])
    assert found.exit_code == 0, found.output
    # two files share the stem 'toy': numbered by their place on the command line
    assert sorted(p.name for p in out.iterdir()) == ["other", "toy-1", "toy-3"]
    names = {
        folder.name: json.loads((folder / "summary.json").read_text())["study"]
        for folder in out.iterdir()
    }
    assert names == {"toy-1": "toy", "other": "other", "toy-3": "toy-again"}

    again = toy.parent / "again"
    found = CliRunner().invoke(
        app, ["report", *map(str, studies[:2]), "--out", str(again), "--store", str(store)]
    )
    assert found.exit_code == 0, found.output
    assert sorted(p.name for p in again.iterdir()) == ["other", "toy"]
