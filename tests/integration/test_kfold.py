"""Leave-group-out cross-validation: folds, scoring, stored refits, progress and refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from radonspec.analysis.diagnostics import diagnose
from radonspec.analysis.kfold import cross_validate, fold_label, kfold_study, make_folds
from radonspec.api import fit_study
from radonspec.fit.runner import open_store
from radonspec.fit.sample import DIAGNOSTIC_STATS
from radonspec.study.loader import load_study

pytestmark = pytest.mark.slow

STUDY = """\
spec_version: 1
name: tiny-kfold
data: {dataset: radon, categorical: [county]}
defaults:
  sampler: {draws: 100, tune: 100, chains: 2, seed: 7}
models:
  pooled:
    formula: log_radon ~ floor
  varying:
    formula: log_radon ~ floor + (1|county)
  unpooled:
    formula: log_radon ~ 0 + county + floor
compare:
  criterion: kfold
  kfold: {k: 3, group_by: county}
  models: [pooled, varying, unpooled]
"""


def test_group_folds_hold_out_whole_groups_once() -> None:
    frame = pd.DataFrame({"g": list("aabbbcdde"), "y": range(9)})
    folds = make_folds(frame, 3, "g", seed=1)
    held = np.concatenate(folds)
    assert sorted(held) == list(range(9))  # every row held out exactly once
    for test in folds:
        inside = set(frame.g.iloc[test])
        outside = set(frame.g.drop(index=test))
        assert not inside & outside  # a group is never split between train and test
    assert [list(f) for f in folds] == [list(f) for f in make_folds(frame, 3, "g", seed=1)]


def test_row_folds_cover_every_row_once() -> None:
    frame = pd.DataFrame({"y": range(10)})
    folds = make_folds(frame, 4, None, seed=2)
    assert len(folds) == 4 and sorted(np.concatenate(folds)) == list(range(10))


@pytest.fixture(scope="module")
def study_and_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, Path]:
    folder = tmp_path_factory.mktemp("kfold")
    (folder / "study.yaml").write_text(STUDY)
    return load_study(folder / "study.yaml"), folder / "store"


def test_leave_group_out_scores_pooled_models_and_explains_unpooled(
    study_and_store: tuple[object, Path],
) -> None:
    study, store = study_and_store
    events: list[tuple[str, str]] = []
    fits = fit_study(study, store=store, jobs=1)
    comparison = cross_validate(
        study, fits, jobs=1, store=store, on_event=lambda m, e, f: events.append((m, e))
    )
    assert comparison.criterion == "kfold"
    assert {row.model for row in comparison.rows} == {"pooled", "varying"}
    elpd = {row.model: row.elpd for row in comparison.rows}
    # 919 rows: elpd per row of a Gaussian log-radon model sits near -1.1 to -1.4
    assert all(-1.6 * 919 < value < -0.9 * 919 for value in elpd.values())
    (note,) = [w for w in comparison.warnings if "unpooled" in w]
    assert "cannot predict a group it never saw" in note
    # scoring is shown per model, so minutes of reading draws never look frozen
    assert ("varying (k-fold)", "scoring") in events
    assert ("varying (k-fold)", "scored") in events
    assert ("unpooled (k-fold)", "unscored") in events


def test_second_run_samples_no_fold_again(study_and_store: tuple[object, Path]) -> None:
    study, store = study_and_store
    events: list[tuple[str, str]] = []
    fits = fit_study(study, store=store, jobs=1)
    again = kfold_study(
        study,
        ["pooled", "varying"],
        full_fits=fits,
        jobs=1,
        store=store,
        on_event=lambda m, e, f: events.append((m, e)),
    )
    assert not [e for e in events if e[1] == "started"]
    assert sum(1 for m, e in events if e == "cached" and "@fold" in m) == 6
    assert all(result.error is None for result in again.values())
    assert len(again["varying"].elpd_i) == 919 and np.isfinite(again["varying"].elpd_i).all()


def test_fold_refits_store_only_what_scoring_reads(study_and_store: tuple[object, Path]) -> None:
    study, store = study_and_store
    found = open_store(store)
    records = [r for r in found.runs() if r.model == fold_label("varying", 0)]
    assert records, "the fold refit is in the store's index"
    fit = found.get(records[0].key)
    assert fit is not None and fit.tree is not None
    assert "posterior" in fit.tree.children
    assert "posterior_predictive" not in fit.tree.children
    assert "log_likelihood" not in fit.tree.children
    # of the sampler statistics, what the diagnostics read (each is an HDF5 variable to write)
    stats = set(fit.tree["sample_stats"].data_vars)
    assert {"diverging", "energy"} <= stats <= set(DIAGNOSTIC_STATS)
    assert np.isfinite(diagnose(fit.tree).ebfmi_min)
