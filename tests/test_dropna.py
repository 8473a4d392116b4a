"""``dropna: true`` says how many rows it dropped, and counts groups after dropping.

datasets::airquality (tests/fixtures/data): 153 days, 42 of them without Ozone or
Solar.R, so lm(Ozone ~ Solar.R + Wind + Temp) uses 111 (references.json).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console

from radonspec.report.build import _data_summary, _level_facts
from radonspec.report.content import ModelView
from radonspec.report.summary import _model
from radonspec.run.fit import Fit
from radonspec.run.runner import _meta, plan_fit, study_frame
from radonspec.session import _print_summary
from radonspec.spec.loader import load_study_text
from radonspec.spec.schema import Study

DATA = Path(__file__).resolve().parent / "fixtures" / "data"
REFERENCE = json.loads((DATA / "references.json").read_text())["airquality_lm"]


@pytest.fixture
def study(tmp_path: Path) -> Study:
    text = f"""\
spec_version: 1
name: air
data: {{path: {DATA / "airquality.csv"}, dropna: true}}
report: {{group: Month}}
models:
  lm:
    formula: Ozone ~ Solar.R + Wind + Temp + (1|Month)
"""
    return load_study_text(text, tmp_path / "study.yaml")


def test_the_fit_meta_counts_the_dropped_rows(study: Study) -> None:
    item = plan_fit(study, "lm", study_frame(study))
    meta = _meta(study, item, Fit("lm", item.key, "failed", None))
    assert (meta["rows"], meta["dropped_rows"]) == (REFERENCE["rows"], REFERENCE["dropped"])


def test_run_prints_the_dropped_rows(study: Study) -> None:
    console = Console(record=True, width=200)
    fit = Fit("lm", "k", "ok", None, meta={"rows": 111, "dropped_rows": 42})
    _print_summary(console, study, {"lm": fit}, {}, 1.0)
    printed = console.export_text()
    assert "lm: 42 rows with missing values dropped (data.dropna), 111 used" in printed


def test_the_report_counts_rows_and_groups_after_dropping(study: Study) -> None:
    frame = study_frame(study)
    summary = _data_summary(study, frame)
    assert (summary.rows, summary.dropped) == (111, 42)
    kept = pd.read_csv(DATA / "airquality.csv").dropna(subset=["Ozone", "Solar.R"])
    sizes = kept.groupby("Month").size()
    assert summary.group_sizes == (sizes.min(), sizes.median(), sizes.max())
    assert summary.n_groups == 5


def test_summary_json_has_each_model_s_rows_levels_and_dropped_rows(study: Study) -> None:
    levels, dropped = _level_facts(study, "lm", study_frame(study))
    view = ModelView("lm", "#000", "ok", None, "f", "gaussian", rows=111)
    view.levels, view.dropped_rows = levels, dropped
    found = _model(view, None)
    assert (found["rows"], found["dropped_rows"]) == (111, 42)
    assert found["levels"] == {
        "response": None,
        "event": None,
        "response_levels": [],
        "reference": {},
    }
