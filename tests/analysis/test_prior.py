from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from rich.console import Console

from radonspec.analysis.prior import prior_check, prior_checks, prior_table
from radonspec.cli.experiment import print_prior_checks
from radonspec.cli.scaffold import write_scaffold
from radonspec.study.loader import load_study

ROOT = Path(__file__).resolve().parents[2]


def tree(observed: np.ndarray, predicted: np.ndarray) -> xr.DataTree:
    obs = xr.Dataset({"y": (("__obs__",), observed)})
    pred = xr.Dataset({"y": (("chain", "draw", "__obs__"), predicted)})
    return xr.DataTree.from_dict({"observed_data": obs, "prior_predictive": pred})


def test_a_sensible_prior_passes() -> None:
    rng = np.random.default_rng(0)
    check = prior_check(tree(rng.normal(size=200), rng.normal(0, 1.5, (1, 100, 200))), model="m")
    assert check.passed and check.problems == ()
    assert check.variable == "y" and check.draws == 100
    assert 0.7 < check.share_in_range < 1
    assert 1 < check.spread_ratio < 2


def test_an_absurd_prior_is_flagged_with_the_interval_it_predicts() -> None:
    rng = np.random.default_rng(0)
    check = prior_check(tree(rng.normal(size=200), rng.normal(0, 100, (2, 50, 200))), model="m")
    assert not check.passed
    assert check.share_in_range < 0.05
    assert check.problems[0].startswith("only 2% of prior predictive values of 'y' fall inside")
    assert "the priors allow data nothing like these" in check.problems[0]
    assert "times as wide as the data's (at most 10 expected)" in check.problems[1]
    table = prior_table({"m": check})
    assert list(table["passed"]) == [False]
    assert table.loc[0, "prior_q95"] > 100


@pytest.mark.slow
def test_the_seed_priors_are_flagged_and_init_priors_pass(tmp_path: Path) -> None:
    seed = load_study(ROOT / "specs/radon/seed.yaml")
    checks = prior_checks(seed, draws=100, models=["pooled"])
    assert not checks["pooled"].passed  # Normal(0, 100) on log radon
    output = tmp_path / "init.yaml"
    write_scaffold("radon", "log_radon", "county", ["floor"], output=output)
    sensible = prior_checks(load_study(output), draws=100)
    assert list(sensible) == ["pooled", "unpooled", "hierarchical"]
    assert all(check.passed for check in sensible.values()), prior_table(sensible)
    buffer = io.StringIO()
    code = print_prior_checks(
        {"seed": checks["pooled"], **sensible}, Console(file=buffer, width=200)
    )
    assert code == 2
    assert "implausible" in buffer.getvalue() and "pooled: only" in buffer.getvalue()


TOY = """\
spec_version: 1
name: toy
data: {path: toy.csv}
models:
  vague:
    formula: y ~ x
    priors: {Intercept: "Normal(0, 100)", x: "Normal(0, 100)", sigma: "HalfNormal(100)"}
  tight:
    formula: y ~ x
    priors: {Intercept: "Normal(0.5, 1)", x: "Normal(0, 1)", sigma: "HalfNormal(1)"}
compare:
  reference: tight
"""


@pytest.mark.slow
def test_run_prior_only_writes_a_report_of_the_prior_checks_alone(tmp_path: Path) -> None:
    import json
    import re

    from typer.testing import CliRunner

    from radonspec.cli.app import app
    from radonspec.report.manifest import REPORT_MANIFEST

    rng = np.random.default_rng(3)
    x = rng.normal(size=40)
    frame = pd.DataFrame({"y": 0.5 + x + rng.normal(0, 0.3, 40), "x": x})
    frame.to_csv(tmp_path / "toy.csv", index=False)
    (tmp_path / "toy.yaml").write_text(TOY)
    out = tmp_path / "out"
    out.mkdir()
    # a full report's manifest: left in place, `run` would serve this report as its own
    (out / REPORT_MANIFEST).write_text("{}")
    result = CliRunner().invoke(app, ["run", "--prior-only", str(tmp_path / "toy.yaml"),
                                      "--out", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    printed = " ".join(result.output.split())
    assert f"markdown: {out / 'report.md'}" in printed and f"html: {out / 'report.html'}" in printed
    assert not (out / REPORT_MANIFEST).exists()
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]
    markdown = (out / "report.md").read_text()
    headings = re.findall(r"^## (.*)$", markdown, flags=re.MULTILINE)
    assert headings == ["Contents", "Prior predictive checks", "Appendix: specs and priors"]
    html = (out / "report.html").read_text()
    assert re.findall(r"<h2[^>]*>(.*?)</h2>", html)[1:] == headings[1:]
    assert "prior predictive checks only: nothing was fitted" in markdown
    assert "skipped" not in markdown and "Model comparison" not in html
    summary = json.loads((out / "summary.json").read_text())
    assert summary["prior_only"] is True and summary["comparison"] is None
    assert {m["status"] for m in summary["models"].values()} == {"skipped"}
    table = {row["model"]: row for row in summary["prior_predictive"]["table"]}
    assert not table["vague"]["passed"] and table["tight"]["passed"]
    assert "| **vague** |" in markdown and "| **implausible** |" in markdown
    assert summary["reference"] == "tight"
    assert "*The reference model:*" in markdown.split("### tight")[1]
    vague = markdown.split("### vague")[1]
    assert "Differs from the reference model 'tight' in:" in vague
    assert "- prior: widens the prior on 'x' by a factor 100" in vague
    assert (out / "figures" / "prior-predictive.png").read_bytes().startswith(b"\x89PNG")


def test_prior_only_never_writes_over_the_fitted_report_and_keeps_out_per_study(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """By default beside ``radonspec-out/<name>``; with several studies, ``--out``/<stem>."""
    from typer.testing import CliRunner

    from radonspec.cli.app import app

    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(3)
    x = rng.normal(size=40)
    pd.DataFrame({"y": 0.5 + x + rng.normal(0, 0.3, 40), "x": x}).to_csv("toy.csv", index=False)
    Path("toy.yaml").write_text(TOY)
    name = next(line.split(":", 1)[1].strip() for line in TOY.splitlines()
                if line.startswith("name:"))  # fmt: skip
    Path("other.yaml").write_text(TOY.replace(f"name: {name}", "name: other"))
    fitted = Path("radonspec-out") / name / "report.md"
    fitted.parent.mkdir(parents=True)
    fitted.write_text("the fitted report")
    result = CliRunner().invoke(app, ["run", "--prior-only", "toy.yaml"])
    assert result.exit_code == 0, result.output
    assert fitted.read_text() == "the fitted report"
    assert (Path("radonspec-out") / f"{name}-prior" / "report.md").exists()
    result = CliRunner().invoke(app, ["run", "--prior-only", "toy.yaml", "other.yaml",
                                      "--out", "po"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert all((Path("po") / stem / "report.md").exists() for stem in ("toy", "other"))
    assert fitted.read_text() == "the fitted report"
