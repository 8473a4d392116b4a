"""k-fold compiles each model once per process, and scores what compiling every fold scores."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from radonspec.analysis.kfold import fold_label, held_out_elpd, kfold_study, make_folds
from radonspec.compile.model import compile_model
from radonspec.fit import compile_cache
from radonspec.fit.runner import open_store, study_frame
from radonspec.study.loader import load_study
from radonspec.study.schema import Study

pytestmark = pytest.mark.slow

STUDY = """\
spec_version: 1
name: kfold-compile-once
data: {dataset: radon, categorical: [county]}
defaults:
  sampler: {draws: 40, tune: 40, chains: 2, seed: 9}
models:
  pooled:
    formula: log_radon ~ floor
  varying:
    formula: log_radon ~ floor + (1|county)
    noncentered: true
compare:
  criterion: kfold
  kfold: {k: 3, group_by: county}
"""


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Study:
    path = tmp_path_factory.mktemp("compile-once") / "study.yaml"
    path.write_text(STUDY)
    return load_study(path)


def kfold(study: Study, models: list[str], store: Path, jobs: int) -> tuple[Any, list[Any]]:
    events: list[Any] = []
    results = kfold_study(
        study, models, jobs=jobs, store=store, on_event=lambda m, e, f: events.append((m, e, f))
    )
    return results, events


def compiles(events: list[Any]) -> Counter[tuple[int, str]]:
    """Compiles per (process, model), from the fits' records."""
    counted: Counter[tuple[int, str]] = Counter()
    for label, event, fit in events:
        if event == "done":
            record = fit.meta["compile"]
            counted[(record["process"], label.split("@")[0])] += not record["reused"]
    return counted


def test_pool_workers_compile_each_model_once_and_a_rerun_samples_nothing(
    study: Study, tmp_path: Path
) -> None:
    results, events = kfold(study, ["pooled", "varying"], tmp_path / "store", jobs=2)
    assert all(result.error is None for result in results.values())
    done = [label for label, event, _ in events if event == "done"]
    assert len(done) == 6
    counted = compiles(events)
    assert set(counted.values()) <= {0, 1}  # never twice in one process
    assert sum(counted.values()) < 6  # and refits did reuse
    _, again = kfold(study, ["pooled", "varying"], tmp_path / "store", jobs=2)
    fold_events = [event for label, event, _ in again if "@" in label]
    assert fold_events and set(fold_events) == {"cached"}


def test_one_compile_per_model_scores_what_a_compile_per_fold_scores(
    study: Study, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    compile_cache.CACHE.clear()
    reused, events = kfold(study, ["varying"], tmp_path / "reused", jobs=1)
    assert (compile_cache.CACHE.compiles, compile_cache.CACHE.hits) == (1, 2)
    assert sum(compiles(events).values()) == 1
    # a cache that keeps nothing: every fold compiled from scratch, as before
    compile_cache.CACHE.clear()
    monkeypatch.setattr(compile_cache.CACHE, "capacity", 0)
    fresh, _ = kfold(study, ["varying"], tmp_path / "fresh", jobs=1)
    assert (compile_cache.CACHE.compiles, compile_cache.CACHE.hits) == (3, 0)
    compile_cache.CACHE.clear()
    np.testing.assert_array_equal(reused["varying"].elpd_i, fresh["varying"].elpd_i)
    assert reused["varying"].elpd == fresh["varying"].elpd
    # and the stored fold posteriors are the same draws
    for _, event, fit in events:
        if event == "done":
            again = open_store(tmp_path / "fresh").get(fit.key)
            first = open_store(tmp_path / "reused").get(fit.key)
            assert first is not None and again is not None
            assert first.tree["posterior"].to_dataset().equals(again.tree["posterior"].to_dataset())


def test_workers_score_the_held_out_rows_as_scoring_the_stored_fit_does(
    study: Study, tmp_path: Path
) -> None:
    _, events = kfold(study, ["varying"], tmp_path / "store", jobs=1)
    by_label = {label: fit for label, event, fit in events if event == "done"}
    frame = study_frame(study)
    folds = make_folds(frame, 3, "county", seed=study.models["varying"].sampler.seed)
    for index, test in enumerate(folds):
        fit = by_label[fold_label("varying", index)]
        stored = open_store(tmp_path / "store").get(fit.key)
        assert stored is not None and stored.tree is not None
        train = frame.drop(index=test).reset_index(drop=True)
        compiled = compile_model(study, "varying", train, keep_levels=True)
        expected = held_out_elpd(compiled.model, stored.tree, compiled.design(frame.iloc[test]))
        np.testing.assert_array_equal(fit.meta["held_out"]["elpd_i"], expected)


@pytest.mark.dask
def test_dask_workers_keep_their_compiles_and_score_as_one_process_does(
    study: Study, tmp_path: Path
) -> None:
    models = ["pooled", "varying"]
    here, _ = kfold(study, models, tmp_path / "here", jobs=1)
    events: list[Any] = []
    there = kfold_study(
        study,
        models,
        jobs=2,
        executor="dask",
        store=tmp_path / "there",
        on_event=lambda m, e, f: events.append((m, e, f)),
    )
    assert set(compiles(events).values()) <= {0, 1}
    for name in models:
        np.testing.assert_array_equal(there[name].elpd_i, here[name].elpd_i)


@pytest.mark.parametrize(("cores", "expected"), [(1, 1), (2, 1), (4, 2), (16, 8)])
def test_refits_get_a_process_per_cores_over_chains_by_default(
    study: Study, monkeypatch: pytest.MonkeyPatch, cores: int, expected: int
) -> None:
    """nutpie's chains are threads on every core: a process per `chains` cores, here 2."""
    from radonspec.fit import runner

    frame = study_frame(study)
    todo = [
        runner.plan_fit(study, name, frame, label=fold_label(name, i), refit=True)
        for name in ("pooled", "varying")
        for i in range(10)
    ]
    monkeypatch.setattr(runner, "_cores", lambda: cores)
    assert runner.refit_workers(study, todo) == expected
    assert runner.refit_workers(study, todo[:1]) == 1
