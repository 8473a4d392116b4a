"""Fit every model of a study once: compile, key, look up the store, sample the rest."""

from __future__ import annotations

import contextlib
import gc
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from radonspec.compile.model import (
    Compiled,
    compile_model,
    group_only_columns,
    study_base,
    used_columns,
)
from radonspec.data.levels import LevelsError, ModelLevels, model_levels
from radonspec.data.load import Prepared, load_data, prepare
from radonspec.errors import CompileError, RadonspecError
from radonspec.fit import mainguard
from radonspec.fit.executors import Executor, FitJob, make_executor
from radonspec.fit.loglik import has_deferred
from radonspec.fit.record import Event, Fit
from radonspec.fit.sample import model_seed, versions
from radonspec.fit.store import Store, draws_key, fit_key, open_store, tree_bytes
from radonspec.study.checks import formula_infos
from radonspec.study.formula import FormulaError
from radonspec.study.schema import Study
from radonspec.study.sweep import in_sweep

log = logging.getLogger(__name__)

#: A fresh fit's draws above this many bytes are collected as soon as its file is stored.
LARGE_TREE_BYTES = 256 * 2**20

Describe = Callable[[Fit], Mapping[str, Any]]  # a fresh fit -> what meta.json adds about it


@dataclass(frozen=True)
class Planned:
    """A fit to make, keyed, before any sampling or compiling.

    ``label`` names the fit (the model's name, or e.g. ``hierarchical@fold3`` for a
    cross-validation refit); ``model`` is the study's model it fits; ``data`` the
    rows and columns it sees. The key needs no Bambi model: only misses are compiled.
    ``refit`` marks a cross-validation refit: it keeps every level of the columns used
    only as grouping factors and samples through a compiled model reused across data
    sets; ``held_out`` are the rows its worker scores under it (a ``DataFrame``).
    ``shared`` marks a full fit sampled the same way, the compiled model kept for its
    structure (a sweep's cells: those differing only in prior values share one compile);
    ``group`` names the fits expected to share one (the executor hands them to one worker).
    """

    label: str
    model: str
    key: str
    seed: int
    data: Prepared | None
    error: str | None = None
    posterior_only: bool = False
    levels: ModelLevels | None = None  # the event, response order and reference levels
    refit: bool = False
    held_out: Any = None
    shared: bool = False  # sampled through a compile kept for its structure (sweep cells)
    group: str = ""  # fits expected to share one compiled structure

    def compile(self, study: Study) -> Compiled:
        """The Bambi model of this fit (raises ``CompileError`` or ``DataError``)."""
        if self.data is None:
            raise CompileError(self.error or f"model '{self.model}' has no usable data")
        return compile_model(study, self.model, self.data.frame, keep_levels=self.refit)


def study_frame(study: Study, models: list[str] | None = None) -> Any:
    """The study's data with every column its models use, loaded once."""
    names = models or list(study.models)
    columns: set[str] = set()
    for name in names:
        columns |= set(used_columns(formula_infos(study.models[name])))
    return load_data(study.data, study_base(study), sorted(columns))


def plan_study(
    study: Study, models: list[str] | None = None, *, frame: pd.DataFrame | None = None
) -> list[Planned]:
    """Key each model's fit on the study's data (loaded here unless ``frame`` is given)."""
    if frame is None:
        frame = study_frame(study, models)
    return [plan_fit(study, name, frame) for name in models or list(study.models)]


def plan_fit(
    study: Study,
    model: str,
    frame: Any,
    label: str | None = None,
    *,
    posterior_only: bool = False,
    refit: bool = False,
) -> Planned:
    """Key one fit of ``model`` on ``frame`` (the data fingerprint included).

    ``posterior_only`` fits store the posterior and sampler statistics only, no
    log-likelihood or predictive draws: what a cross-validation refit needs, about a
    tenth of the disk and the time to read back. A ``refit`` keeps every level of the
    columns used only as grouping factors (their categories enter the fingerprint) and
    is sampled with its data as inputs of a compiled model shared by every refit of the
    same structure (``radonspec.compile.shared``); that compiled code may round
    differently from Bambi's graph with the data as constants, so the key says so.
    """
    spec = study.models[model]
    label = label or model
    seed = model_seed(spec.sampler.seed, label)
    # a sweep's cells share their structure's compile (the prior values are inputs of it)
    shared = not refit and spec.sampler.backend == "nutpie" and in_sweep(study, model)
    group = f"{spec.family}: {spec.formula}" if shared else ""
    try:
        infos = formula_infos(spec, list(frame.columns))
        keep = group_only_columns(infos) if refit else ()
        data = prepare(frame, study.data, used_columns(infos), keep)
        levels = model_levels(study.data, spec, infos, data.frame)
    except (RadonspecError, FormulaError, LevelsError) as exc:
        message = getattr(exc, "message", str(exc))
        key = fit_key({"model": label, "failed_plan": message})
        return Planned(label, model, key, seed, None, f"model '{model}': {message}", refit=refit)
    key = draws_key(
        spec.model_dump(mode="json"),
        seed=seed,
        data=data.fingerprint,
        versions=versions(spec.sampler.backend),
        posterior_only=posterior_only,
        compile_mode="data-inputs" if refit or shared else None,
    )
    return Planned(
        label,
        model,
        key,
        seed,
        data,
        posterior_only=posterior_only,
        levels=levels,
        refit=refit,
        shared=shared,
        group=group,
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
    describe: Describe | None = None,
) -> dict[str, Fit]:
    """Fit planned items the store lacks; return every item's ``Fit`` by label, in order.

    With ``lazy`` every returned tree is backed by its stored file (fresh fits are
    dropped from memory once stored), so memory stays that of a few fits however
    many the study has; ``lazy="closed"`` returns no trees at all (status and key
    only; load each with ``Store.get`` when needed), for hundreds of refits.
    ``describe`` adds to each fresh fit's ``meta.json`` (the API passes its
    diagnostics summary, which the index lists).
    """
    if mainguard.importing_main():  # a worker re-running a script: its parent holds the locks
        mainguard.ensure_workers_can_start()
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
        refits = all(item.refit or item.shared for item in todo)
        if jobs is None and executor == "local" and all(item.refit for item in todo):
            jobs = refit_workers(study, todo)
        with _executor(executor, jobs, scheduler, len(todo), refits) as runner:
            fresh = _sample_missing(study, todo, runner, fit_store, force, notify, lazy, describe)
            results.update(fresh)
    return {item.label: results[item.label] for item in planned if item.label in results}


def refit_workers(study: Study, todo: list[Planned]) -> int:
    """Worker processes for cross-validation refits by default: cores over chains, at least 1.

    nutpie runs a fit's chains as threads on every core, so one process sampling a
    refit of 4 chains keeps 4 cores busy. Each further process imports the stack again,
    starts numba and LLVM again (its first compile costs two to three times a later one)
    and compiles again every model it refits. Measured on 2 cores (radon study, 3 models x
    10 folds, 4 chains, the machine shared): the refits in this process took 44 s of CPU
    and 83 s, against 58 s and 98 s for two workers. With one worker the refits run here.
    """
    samplers = [study.models[item.model].sampler for item in todo]
    chains = max((s.chains for s in samplers if s.backend == "nutpie"), default=1)
    return min(len(todo), max(1, _cores() // chains))


def _sample_missing(
    study: Study,
    todo: list[Planned],
    runner: Executor,
    store: Store,
    force: bool,
    notify: Event,
    lazy: bool | str = False,
    describe: Describe | None = None,
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
                    refit=item.refit,
                    held_out=item.held_out,
                    shared=item.shared,
                    group=item.group,
                )
            )
            notify(item.label, "started", None)
        for fit in runner.run(jobs):
            item = by_label[fit.model]
            stored = store.put(fit, _meta(study, item, fit, describe))
            large = _large(fit)  # measured once: it walks every variable of the tree
            if lazy == "closed":  # the caller reads the file when it needs the draws
                stored = replace(stored, tree=None)
            elif stored.ok and ((lazy and (len(mine) > 1 or large)) or has_deferred(stored.tree)):
                # let its draws go, the file holds them: kept, the draws of one fit after
                # another would pile up while the others sample (and a deferred
                # log-likelihood would be computed again at every read)
                reread = store.get(stored.key, lazy=bool(lazy))
                stored = stored if reread is None else replace(reread, cached=False)
            results[fit.model] = stored
            notify(fit.model, "done" if fit.ok else "failed", stored)
            if lazy and large:
                # a DataTree's nodes refer to each other: without a collection now, the
                # fresh draws (3.2 GB of log-likelihood at 10^5 rows x 4000 draws) stayed
                # resident through the analysis, which the stored file serves
                del fit, stored
                gc.collect()
    return results


def _large(fit: Fit) -> bool:
    """Whether a fresh fit's draws are worth dropping for the stored file's (read lazily).

    The draws of a small fit sampled alone (a ``watch`` cycle's edit) stay in memory:
    reopening the file just written costs a good part of a second, and the draws read
    back are the same numbers.
    """
    return fit.tree is not None and tree_bytes(fit.tree) > LARGE_TREE_BYTES


def _meta(study: Study, item: Planned, fit: Fit, describe: Describe | None) -> dict[str, Any]:
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
    if item.levels is not None:
        meta["levels"] = item.levels.to_dict()
    if describe is not None and fit.ok and fit.tree is not None:
        try:
            meta.update(describe(fit))
        except Exception:  # a description is a convenience in the index, never a failure
            log.debug("describing %s failed", fit.model, exc_info=True)
    return meta


@contextlib.contextmanager
def _executor(
    kind: str, jobs: int | None, scheduler: str | None, work: int, refits: bool = False
) -> Iterator[Executor]:
    if kind == "local" and jobs is None:
        jobs = min(work, _cores())
    runner = make_executor(kind, jobs, scheduler, work, refits=refits)
    try:
        yield runner
    except BaseException:  # interrupted or failed: fits still running are not wanted
        runner.close(abandon=True)
        raise
    runner.close()


def _cores() -> int:
    from radonspec.fit.executors import default_jobs

    return default_jobs()
