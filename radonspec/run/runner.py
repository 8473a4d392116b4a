"""Fit every model of a study once: compile, key, look up the store, sample the rest."""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from radonspec.compile import Compiled, compile_model, study_base, used_columns
from radonspec.data import Prepared, load_data, prepare
from radonspec.errors import CompileError, RadonspecError
from radonspec.run.executors import Executor, FitJob, make_executor
from radonspec.run.fit import Fit
from radonspec.run.sample import model_seed, versions
from radonspec.run.store import Store, fit_key
from radonspec.spec.checks import formula_infos
from radonspec.spec.formula import FormulaError
from radonspec.spec.schema import Study

log = logging.getLogger(__name__)

STORE_FORMAT = 1  # bump when the stored tree's layout changes: old fits then miss
DEFAULT_STORE = ".radonspec"

Event = Callable[[str, str, Fit | None], None]  # (model, event, fit) -> None


@dataclass(frozen=True)
class Planned:
    """A fit to make, keyed, before any sampling or compiling.

    ``label`` names the fit (the model's name, or e.g. ``hierarchical@fold3`` for a
    cross-validation refit); ``model`` is the study's model it fits; ``data`` the
    rows and columns it sees. The key needs no Bambi model: only misses are compiled.
    """

    label: str
    model: str
    key: str
    seed: int
    data: Prepared | None
    error: str | None = None
    posterior_only: bool = False

    def compile(self, study: Study) -> Compiled:
        """The Bambi model of this fit (raises ``CompileError`` or ``DataError``)."""
        if self.data is None:
            raise CompileError(self.error or f"model '{self.model}' has no usable data")
        return compile_model(study, self.model, self.data.frame)


def open_store(store: Store | str | os.PathLike[str] | None) -> Store:
    """A ``Store`` from a path (default ``.radonspec`` in the working directory)."""
    if isinstance(store, Store):
        return store
    return Store(Path(store) if store is not None else Path(DEFAULT_STORE))


def study_frame(study: Study, models: list[str] | None = None) -> Any:
    """The study's data with every column its models use, loaded once."""
    names = models or list(study.models)
    columns: set[str] = set()
    for name in names:
        columns |= set(used_columns(formula_infos(study.models[name])))
    return load_data(study.data, study_base(study), sorted(columns))


def plan_study(study: Study, models: list[str] | None = None) -> list[Planned]:
    """Load the data once, compile each model and compute its fit key."""
    frame = study_frame(study, models)
    return [plan_fit(study, name, frame) for name in models or list(study.models)]


def plan_fit(
    study: Study,
    model: str,
    frame: Any,
    label: str | None = None,
    *,
    posterior_only: bool = False,
) -> Planned:
    """Key one fit of ``model`` on ``frame`` (the data fingerprint included).

    ``posterior_only`` fits store the posterior and sampler statistics only, no
    log-likelihood or predictive draws: what a cross-validation refit needs, about a
    tenth of the disk and the time to read back.
    """
    spec = study.models[model]
    label = label or model
    seed = model_seed(spec.sampler.seed, label)
    try:
        infos = formula_infos(spec, list(frame.columns))
        data = prepare(frame, study.data, used_columns(infos))
    except (RadonspecError, FormulaError) as exc:
        message = getattr(exc, "message", str(exc))
        key = fit_key({"model": label, "failed_plan": message})
        return Planned(label, model, key, seed, None, f"model '{model}': {message}")
    dumped = spec.model_dump(mode="json", exclude={"description"})
    # Sampler settings added after fits were first stored (thin, predictive) enter the key
    # only when they differ from their default, so every fit stored before them keeps its key.
    for field, default in (("thin", 1), ("predictive", True)):
        if dumped["sampler"].get(field, default) == default:
            dumped["sampler"].pop(field, None)
    if not dumped.get("correlated"):  # likewise for models without correlated effects
        dumped.pop("correlated", None)
    payload = {
        "format": STORE_FORMAT,
        "spec": dumped,
        "seed": seed,
        "data": data.fingerprint,
        "versions": versions(spec.sampler.backend),
    }
    if posterior_only:  # absent otherwise, so keys of full fits stay what they were
        payload["stores"] = "posterior"
    return Planned(label, model, fit_key(payload), seed, data, posterior_only=posterior_only)


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
    planned = plan_study(study, models)
    return fit_planned(
        study,
        planned,
        jobs=jobs,
        executor=executor,
        scheduler=scheduler,
        store=store,
        force=force,
        on_event=on_event,
    )


def fit_planned(
    study: Study,
    planned: list[Planned],
    *,
    jobs: int | None = None,
    executor: str = "local",
    scheduler: str | None = None,
    store: Store | str | os.PathLike[str] | None = None,
    force: bool = False,
    on_event: Event | None = None,
    lazy: bool | str = False,
) -> dict[str, Fit]:
    """Fit planned items the store lacks; return every item's ``Fit`` by label, in order.

    With ``lazy`` every returned tree is backed by its stored file (fresh fits are
    dropped from memory once stored), so memory stays that of a few fits however
    many the study has; ``lazy="closed"`` returns no trees at all (status and key
    only; load each with ``Store.get`` when needed), for hundreds of refits.
    """
    notify = on_event or (lambda model, event, fit: None)
    fit_store = open_store(store)
    results: dict[str, Fit] = {}
    todo: list[Planned] = []
    for item in planned:
        if item.data is None:
            results[item.label] = Fit(item.label, item.key, "failed", None, error=item.error)
            notify(item.label, "failed", results[item.label])
            continue
        hit = None if force else fit_store.get(item.key, lazy=bool(lazy))
        if lazy == "closed" and hit is not None and hit.tree is not None:
            hit.tree.close()  # checked and closed: the caller loads what it needs when it needs it
            hit = replace(hit, tree=None)
        if hit is not None:
            results[item.label] = hit
            notify(item.label, "cached", hit)
        else:
            todo.append(item)
    if todo:
        with _executor(executor, jobs, scheduler, len(todo)) as runner:
            fresh = _sample_missing(study, todo, runner, fit_store, force, notify, lazy)
            results.update(fresh)
    return {item.label: results[item.label] for item in planned if item.label in results}


def _sample_missing(
    study: Study,
    todo: list[Planned],
    runner: Executor,
    store: Store,
    force: bool,
    notify: Event,
    lazy: bool | str = False,
) -> dict[str, Fit]:
    """Sample under per-key locks, so concurrent runs never sample one key twice."""
    results: dict[str, Fit] = {}
    with contextlib.ExitStack() as locks:
        mine: list[Planned] = []
        # locks are taken in key order: two runs over overlapping studies cannot deadlock
        for item in sorted(todo, key=lambda planned: planned.key):
            locks.enter_context(store.lock(item.key))
            hit = None if force else store.get(item.key, lazy=bool(lazy))  # finished meanwhile?
            if lazy == "closed" and hit is not None and hit.tree is not None:
                hit.tree.close()
                hit = replace(hit, tree=None)
            if hit is not None:
                results[item.label] = hit
                notify(item.label, "cached", hit)
            else:
                mine.append(item)
        by_label = {item.label: item for item in mine}
        jobs = []
        for item in mine:
            assert item.data is not None
            jobs.append(
                FitJob(
                    study,
                    item.model,
                    item.data.frame,
                    item.key,
                    item.seed,
                    item.label,
                    posterior_only=item.posterior_only,
                )
            )
            notify(item.label, "started", None)
        for fit in runner.run(jobs):
            item = by_label[fit.model]
            stored = store.put(fit, _meta(study, item, fit))
            if lazy and stored.ok:  # let this fit's draws go: the file holds them
                reread = store.get(stored.key, lazy=True)
                stored = stored if reread is None else replace(reread, cached=False)
            if lazy == "closed" and stored.tree is not None:
                stored.tree.close()
                stored = replace(stored, tree=None)
            results[fit.model] = stored
            notify(fit.model, "done" if fit.ok else "failed", stored)
    return results


def _meta(study: Study, item: Planned, fit: Fit) -> dict[str, Any]:
    assert item.data is not None
    spec = study.models[item.model]
    meta: dict[str, Any] = {
        "study": study.name,
        "model": item.label,
        "spec": spec.model_dump(mode="json"),
        "seed": item.seed,
        "backend": spec.sampler.backend,
        "data_fingerprint": item.data.fingerprint,
        "rows": len(item.data.frame),
        "dropped_rows": item.data.dropped,
    }
    if fit.ok and fit.tree is not None:
        meta["diagnostics"] = _diagnostics_summary(fit)
    return meta


def _diagnostics_summary(fit: Fit) -> dict[str, Any]:
    from radonspec.compare import diagnose

    assert fit.tree is not None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # small fits make ArviZ warn; the numbers say it
            found = diagnose(fit.tree, key=fit.key)  # kept for the report of this run
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
    runner = make_executor(kind, jobs, scheduler, work)
    try:
        yield runner
    except BaseException:  # interrupted or failed: fits still running are not wanted
        runner.close(abandon=True)
        raise
    runner.close()


def _cores() -> int:
    from radonspec.run.executors import default_jobs

    return default_jobs()
