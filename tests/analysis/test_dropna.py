"""``dropna: true`` says how many rows it dropped, and counts groups after dropping.

datasets::airquality (tests/fixtures/data): 153 days, 42 of them without Ozone or
Solar.R, so lm(Ozone ~ Solar.R + Wind + Temp) uses 111 (references.json).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from radonspec.analysis.results import data_summary
from radonspec.fit.record import Fit
from radonspec.fit.runner import _meta, plan_fit, study_frame
from radonspec.report.content import ModelView
from radonspec.report.summary import _model
from radonspec.study.loader import load_study_text
from radonspec.study.schema import Study

DATA = Path(__file__).resolve().parents[1] / "fixtures" / "data"
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
    meta = _meta(study, item, Fit("lm", item.key, "failed", None), None)
    assert (meta["rows"], meta["dropped_rows"]) == (REFERENCE["rows"], REFERENCE["dropped"])
    assert meta["levels"]["reference"] == {}


def test_the_report_counts_rows_and_groups_after_dropping(study: Study) -> None:
    summary = data_summary(study, study_frame(study))
    assert (summary.rows, summary.dropped) == (111, 42)
    kept = pd.read_csv(DATA / "airquality.csv").dropna(subset=["Ozone", "Solar.R"])
    sizes = kept.groupby("Month").size()
    assert summary.group_sizes == (sizes.min(), sizes.median(), sizes.max())
    assert summary.n_groups == 5


def test_summary_json_has_each_model_s_rows_levels_and_dropped_rows() -> None:
    levels = {"response": "y", "event": "y", "response_levels": ["n", "y"], "reference": {}}
    view = ModelView("m", "#000", "ok", None, "f", "bernoulli", rows=111)
    view.levels, view.dropped_rows = levels, 42
    found = _model(view, None)
    assert (found["rows"], found["dropped_rows"], found["levels"]) == (111, 42, levels)
