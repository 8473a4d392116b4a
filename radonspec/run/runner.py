"""Fit every model of a study once: compile, key, look up the store, sample the rest."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from radonspec.compile import Compiled, compile_model, study_base, used_columns
from radonspec.data import load_data
from radonspec.errors import RadonspecError
from radonspec.run.executors import Executor, FitJob, make_executor
from radonspec.run.fit import Fit
from radonspec.run.sample import model_seed, versions
from radonspec.run.store import Store, fit_key
from radonspec.spec.checks import formula_infos
from radonspec.spec.schema import Study

log = logging.getLogger(__name__)

STORE_FORMAT = 1  # bump when the stored tree's layout changes: old fits then miss
DEFAULT_STORE = ".radonspec"

Event = Callable[[str, str, Fit | None], None]  # (model, event, fit) -> None


@dataclass(frozen=True)
class Planned:
    """A model of the study, compiled and keyed, before any sampling."""

    name: str
    key: str
    seed: int
    compiled: Compiled | None
    error: str | None = None


def open_store(store: Store | str | os.PathLike[str] | None) -> Store:
    """A ``Store`` from a path (default ``.radonspec`` in the working directory)."""
    if isinstance(store, Store):
        return store
    return Store(Path(store) if store is not None else Path(DEFAULT_STORE))


def plan_study(study: Study, models: list[str] | None = None) -> list[Planned]:
    """Load the data once, compile each model and compute its fit key."""
    names = models or list(study.models)
    columns: set[str] = set()
    for name in names:
        columns |= set(used_columns(formula_infos(study.models[name])))
    frame = load_data(study.data, study_base(study), sorted(columns))
    planned = []
    for name in names:
        spec = study.models[name]
        seed = model_seed(spec.sampler.seed, name)
        try:
            compiled = compile_model(study, name, frame)
        except RadonspecError as exc:
            key = fit_key({"model": name, "failed_compile": str(exc)})
            planned.append(Planned(name, key, seed, None, str(exc)))
            continue
        payload = {
            "format": STORE_FORMAT,
            "spec": spec.model_dump(mode="json", exclude={"description"}),
            "seed": seed,
            "data": compiled.data.fingerprint,
            "versions": versions(spec.sampler.backend),
        }
        planned.append(Planned(name, fit_key(payload), seed, compiled))
    return planned


def fit_study(
    study: Study,
    *,
    jobs: int | None = None,
    executor: str = "local",
    scheduler: str | None = None,
    store: Store | str | os.PathLike[str] | None = None,
    force: bool = False,
    models: list[str] | None = None,
    on_event: Event | None = None,
) -> dict[str, Fit]:
    """Fit what the store lacks and return every model's ``Fit``, in the study's order.

    Parameters
    ----------
    study
        A loaded study (``load_study``).
    jobs
        Worker processes (default: the number of cores; 1 fits in this process).
    executor
        ``"local"`` (this machine) or ``"dask"``.
    scheduler
        Address of an existing Dask scheduler; default starts a local cluster.
    store
        The fit store or its folder (default ``.radonspec``).
    force
        Refit even what the store holds.
    models
        Fit only these models (default all).
    on_event
        Called with (model, event, fit) as models are cached, started and finished.
    """
    notify = on_event or (lambda model, event, fit: None)
    fit_store = open_store(store)
    planned = plan_study(study, models)
    results: dict[str, Fit] = {}
    todo: list[Planned] = []
    for item in planned:
        if item.compiled is None:
            results[item.name] = Fit(item.name, item.key, "failed", None, error=item.error)
            notify(item.name, "failed", results[item.name])
            continue
        hit = None if force else fit_store.get(item.key)
        if hit is not None:
            results[item.name] = hit
            notify(item.name, "cached", hit)
        else:
            todo.append(item)
    if todo:
        with _executor(executor, jobs, scheduler, len(todo)) as runner:
            results.update(_sample_missing(study, todo, runner, fit_store, force, notify))
    return {name: results[name] for name in (models or list(study.models)) if name in results}


def _sample_missing(
    study: Study,
    todo: list[Planned],
    runner: Executor,
    store: Store,
    force: bool,
    notify: Event,
) -> dict[str, Fit]:
    """Sample under per-key locks, so concurrent runs never sample one key twice."""
    results: dict[str, Fit] = {}
    with contextlib.ExitStack() as locks:
        mine: list[Planned] = []
        # locks are taken in key order: two runs over overlapping studies cannot deadlock
        for item in sorted(todo, key=lambda planned: planned.key):
            locks.enter_context(store.lock(item.key))
            hit = None if force else store.get(item.key)  # another run may have finished it
            if hit is not None:
                results[item.name] = hit
                notify(item.name, "cached", hit)
            else:
                mine.append(item)
        by_name = {item.name: item for item in mine}
        jobs = []
        for item in mine:
            assert item.compiled is not None
            jobs.append(FitJob(study, item.name, item.compiled.data.frame, item.key, item.seed))
            notify(item.name, "started", None)
        for fit in runner.run(jobs):
            item = by_name[fit.model]
            stored = store.put(fit, _meta(study, item, fit))
            results[fit.model] = stored
            notify(fit.model, "done" if fit.ok else "failed", stored)
    return results


def _meta(study: Study, item: Planned, fit: Fit) -> dict[str, Any]:
    assert item.compiled is not None
    spec = study.models[item.name]
    meta: dict[str, Any] = {
        "study": study.name,
        "model": item.name,
        "spec": spec.model_dump(mode="json"),
        "seed": item.seed,
        "backend": spec.sampler.backend,
        "data_fingerprint": item.compiled.data.fingerprint,
        "rows": len(item.compiled.data.frame),
        "dropped_rows": item.compiled.data.dropped,
    }
    if fit.ok and fit.tree is not None:
        meta["diagnostics"] = _diagnostics_summary(fit)
    return meta


def _diagnostics_summary(fit: Fit) -> dict[str, Any]:
    from radonspec.compare import diagnose

    assert fit.tree is not None
    try:
        found = diagnose(fit.tree)
    except Exception:  # diagnostics are a convenience in the index, never a reason to fail
        log.debug("diagnostics of %s failed", fit.model, exc_info=True)
        return {}
    return {
        "r_hat_max": found.r_hat_max,
        "ess_bulk_min": found.ess_bulk_min,
        "ess_tail_min": found.ess_tail_min,
        "divergences": found.divergences,
        "passed": found.passed,
    }


@contextlib.contextmanager
def _executor(kind: str, jobs: int | None, scheduler: str | None, work: int) -> Iterator[Executor]:
    if kind == "local" and jobs is None:
        jobs = min(work, _cores())
    runner = make_executor(kind, jobs, scheduler)
    try:
        yield runner
    finally:
        runner.close()


def _cores() -> int:
    from radonspec.run.executors import default_jobs

    return default_jobs()
