from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from radonspec.analysis.diagnostics import Diagnostics
from radonspec.analysis.loo import Comparison, ComparisonRow

SWEEP_STUDY = """\
spec_version: 1
name: swept
data: {path: example.csv, categorical: [g]}
models:
  pooled:
    formula: y ~ x
  other:
    formula: y ~ 1
sweep:
  base: pooled
  over:
    formula: {hier: "y ~ x + (x|g)", unp: "y ~ 0 + g + g:x"}
compare:
  models: [pooled]
report:
  prior_predictive: true
"""


#: each sweep cell's fit is one of the example fits of the same formula
CELLS = {"pooled": "pooled", "pooled.hier": "hierarchical", "pooled.unp": "unpooled"}


def test_sweep_view_reuses_a_larger_comparison_without_recomputing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dataclasses import replace
    from types import SimpleNamespace

    from radonspec.analysis import sweep as views
    from radonspec.study.loader import load_study

    (tmp_path / "study.yaml").write_text(SWEEP_STUDY)
    study = load_study(tmp_path / "study.yaml")

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("LOO was recomputed")

    monkeypatch.setattr(views, "compare_fits", refuse)
    fits = {n: SimpleNamespace(ok=True, status="ok", cached=False, tree=None) for n in CELLS}
    fits["other"] = SimpleNamespace(ok=True, status="ok", cached=False, tree=None)
    rows = (
        ComparisonRow("pooled.hier", 0, -70.0, 4.0, 5.0, 0.0, 0.0, 0.7, 0),
        ComparisonRow("other", 1, -75.0, 4.0, 1.0, -5.0, 2.0, 0.3, 0),
        ComparisonRow("pooled.unp", 2, -80.0, 4.0, 9.0, -10.0, 3.0, 0.0, 2),
        ComparisonRow("pooled", 3, -88.0, 4.0, 2.0, -18.0, 4.0, 0.0, 0),
    )
    diag = {n: Diagnostics(1.0, 500.0, 500.0, 0, 0, 1.0, True) for n in CELLS}
    view = views.sweep_view(study, fits, Comparison("loo", rows), diag)
    assert list(view.table["model"]) == ["pooled.hier", "pooled.unp", "pooled"]
    assert list(view.table["rank"]) == [0, 1, 2]
    assert list(view.table["dse"]) == [0.0, 3.0, 4.0] and view.notes == ()
    # k-fold, best model not a cell: differences from the best cell, no dSE, and a note
    rows = (replace(rows[1], rank=0), replace(rows[0], rank=1), *rows[2:])
    view = views.sweep_view(study, fits, Comparison("kfold", rows), diag)
    assert view.criterion == "kfold"
    assert list(view.table["elpd_diff"]) == [0.0, -10.0, -18.0]
    assert view.table["dse"].isna().all()
    assert "dSE is not shown: the kfold comparison's differences are from 'other'" in view.notes[0]
