"""`radonspec run` end to end as a user calls it: fits once, reuses, refits only what changed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

STUDY = """\
spec_version: 1
name: tiny
data: {dataset: radon, categorical: [county]}
defaults:
  sampler: {draws: 100, tune: 100, chains: 2}
models:
  pooled:
    formula: log_radon ~ floor
    priors:
      floor: Normal(0, 5)
  varying:
    formula: log_radon ~ floor + (1|county)
report:
  group: county
  predictor: floor
  highlight: [CASS]
"""


def radonspec(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "radonspec", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cli")
    (folder / "study.yaml").write_text(STUDY)
    return folder


def test_first_run_fits_and_reports(workdir: Path) -> None:
    result = radonspec("run", "study.yaml", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert "pooled: sampling" in result.stdout and "varying: sampling" in result.stdout
    # the summary table: both fits were sampled now, not taken from the store
    rows = [row for row in result.stdout.splitlines() if "│ pooled" in row or "│ varying" in row]
    assert len(rows) == 2 and all("│ no " in row or "│     no │" in row for row in rows), rows
    out = workdir / "radonspec-out" / "tiny"
    for name in ("report.html", "report.md", "summary.json"):
        assert (out / name).is_file()
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["models"]) == {"pooled", "varying"}
    fit_path = Path(summary["models"]["varying"]["fit_path"])
    assert fit_path.is_absolute() and fit_path.is_file()
    assert summary["models"]["varying"]["status"] == "ok"


def test_second_run_samples_nothing(workdir: Path) -> None:
    result = radonspec("run", "study.yaml", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert "sampling" not in result.stdout
    assert result.stdout.count("stored fit reused") == 2
    rows = [row for row in result.stdout.splitlines() if "│ pooled" in row or "│ varying" in row]
    assert len(rows) == 2 and all("yes" in row for row in rows), rows


def test_changed_prior_refits_only_that_model(workdir: Path) -> None:
    changed = STUDY.replace("floor: Normal(0, 5)", "floor: Normal(0, 2)")
    (workdir / "changed.yaml").write_text(changed)
    result = radonspec("run", "changed.yaml", "--out", "changed-out", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert "pooled: sampling" in result.stdout
    assert "varying: stored fit reused" in result.stdout


def test_report_from_store_and_runs_index(workdir: Path) -> None:
    result = radonspec("report", "study.yaml", "--out", "again", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert (workdir / "again" / "report.html").is_file()
    runs = radonspec("runs", cwd=workdir)
    assert runs.returncode == 0
    assert "pooled" in runs.stdout and "varying" in runs.stdout


def test_report_without_fits_names_the_command(workdir: Path, tmp_path: Path) -> None:
    result = radonspec("report", str(workdir / "study.yaml"), "--store", str(tmp_path), cwd=workdir)
    assert result.returncode == 2
    assert "has no stored fit" in result.stderr
    assert "fit it with: radonspec run" in result.stderr
    assert "Traceback" not in result.stderr


def test_schema_and_datasets(workdir: Path) -> None:
    schema = radonspec("schema", cwd=workdir)
    assert schema.returncode == 0
    parsed = json.loads(schema.stdout)
    assert "gaussian" in json.dumps(parsed) and "radon" in json.dumps(parsed)
    datasets = radonspec("datasets", cwd=workdir)
    assert datasets.returncode == 0
    assert "radon" in datasets.stdout and "919 rows" in datasets.stdout
