"""Where fits run: in this process, in a process pool, or on a Dask cluster.

Executors and the sampler sit on opposite sides of one small protocol: a
``FitJob`` (everything one fit needs, picklable) goes in, a ``Fit`` comes back.
Workers never touch the store; the client writes it, so no shared file system
is needed.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import (
    FIRST_COMPLETED,
    Future,
    ProcessPoolExecutor,
    as_completed,
    wait,
)
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.connection import Connection
from typing import Any, Protocol

import pandas as pd

from radonspec.errors import MissingExtraError, RadonspecError
from radonspec.fit import mainguard, pool
from radonspec.fit.jobs import FitJob
from radonspec.fit.record import Fit


def run_job(job: FitJob) -> Fit:
    """Run one job, in a child process of its own when its sampler has a time limit."""
    limit = job.study.models[job.model].sampler.time_limit
    if limit is None or multiprocessing.current_process().daemon:
        # daemonic workers (Dask's) cannot start children: the limit is not enforced there
        return fit_job(job)
    return _fit_with_limit(job, limit)


def _fit_with_limit(job: FitJob, limit: float) -> Fit:
    mainguard.ensure_workers_can_start(mainguard.LIMITED)
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_fit_and_send, args=(job, sender, os.getpid()), daemon=True)
    child.start()
    sender.close()
    try:
        if receiver.poll(limit):
            fit: Fit = receiver.recv()
            return fit
        failure = (
            f"the fit took longer than its time limit of {limit:g} s and was stopped;"
            " raise sampler.time_limit, or lower draws or tune"
        )
    except EOFError:
        failure = f"the process fitting it died (exit code {child.exitcode})"
    finally:
        if child.is_alive():
            child.kill()
        child.join()
        receiver.close()
    return failed_fit(job, failure)


def _fit_and_send(job: FitJob, sender: Connection, parent: int) -> None:
    # as a pool worker: dies with the process waiting for it, leaves quietly on Ctrl-C
    _worker_start(parent, None)
    sender.send(fit_job(job))
    sender.close()


def failed_fit(job: FitJob, reason: str) -> Fit:
    """The record of a job that produced no fit."""
    return Fit(model=job.name, key=job.key, status="failed", tree=None, error=reason)


#: Rows of data from which a fit's model is freed by a full collection right after it.
COLLECT_ROWS = 20_000


def fit_job(job: FitJob) -> Fit:
    """Compile and sample one job, here and now."""
    from radonspec.compile.model import compile_model
    from radonspec.fit.sample import sample_model

    tick = time.perf_counter()
    try:
        compiled = compile_model(job.study, job.model, job.frame, keep_levels=job.refit)
    except RadonspecError as exc:
        return failed_fit(job, str(exc))
    built = time.perf_counter() - tick
    sampler = job.study.models[job.model].sampler
    fit = sample_model(
        compiled,
        key=job.key,
        sampler=sampler,
        seed=job.seed,
        label=job.name,
        posterior_only=job.posterior_only,
        reuse_compile=job.reuses_compile,
    )
    if job.held_out is not None and fit.ok:
        tick = time.perf_counter()
        fit = _scored(fit, compiled, job.held_out)
        fit.seconds["held_out"] = time.perf_counter() - tick
    fit.seconds["model"] = built  # the Bambi model, before sampling (``total`` is sampling's)
    # The Bambi/PyMC model lives in reference cycles the collector frees late; hundreds
    # of fold refits in one process would otherwise pile up (tens of MB each), and a large
    # data set's model is worth freeing now. A small model alone (a ``watch`` cycle's
    # edit) is left to the collector: a full collection costs most of a second.
    del compiled
    if len(job.frame) >= COLLECT_ROWS or (job.reuses_compile and _collection_due()):
        gc.collect()
        if job.reuses_compile:
            _freeze_survivors()
    return fit


#: Refits reusing a compile per full collection: one refit's garbage is tens of MB, and
#: a collection 30-50 ms (after ``_freeze_survivors``), 5% of a small refit.
COLLECT_EVERY = 4
_REFITS: list[int] = [0]


def _collection_due() -> bool:
    """Whether to collect after the refit just done: the first, then every ``COLLECT_EVERY``-th.

    So at most ``COLLECT_EVERY`` refits' garbage waits at once.
    """
    _REFITS[0] += 1
    return _REFITS[0] % COLLECT_EVERY == 1


def _scored(fit: Fit, compiled: Any, held_out: pd.DataFrame) -> Fit:
    """``fit`` with its held-out rows' log predictive densities in ``meta["held_out"]``.

    Scored here, where the model and the draws already are, rather than by the process
    that stores the fits, one fold after the other, from the file
    (``radonspec.analysis.kfold`` uses them when the rows' fingerprint matches, and
    scores again otherwise). A model that cannot score the rows (a level no fold saw)
    leaves that to the caller, which explains it.
    """
    import dataclasses

    from radonspec.data.load import fingerprint
    from radonspec.fit.heldout import held_out_elpd

    assert fit.tree is not None
    try:
        elpd_i = held_out_elpd(compiled.model, fit.tree, compiled.design(held_out))
    except Exception:  # the caller scores again and says why it cannot
        return fit
    record = {"rows": fingerprint(held_out), "elpd_i": [float(v) for v in elpd_i]}
    return dataclasses.replace(fit, meta={**fit.meta, "held_out": record})


_FROZEN: list[bool] = []


def _freeze_survivors() -> None:
    """After the first refit of this process, let the collector skip what survived it.

    What is alive then (modules, the compiled models kept for reuse) lives as long as the
    process, yet each full collection above walked all of it: 0.8 s a refit, as long as
    sampling it, measured under load on the radon varying-intercept model; after
    ``gc.freeze`` 0.02 s. Objects that exist before the freeze and later become cyclic
    garbage are not freed until ``_thaw`` (at most one fit's worth).
    """
    if not _FROZEN:
        gc.freeze()
        _FROZEN.append(True)


def _thaw() -> None:
    """Undo ``_freeze_survivors`` in a process that goes on (the one running radonspec)."""
    if _FROZEN:
        gc.unfreeze()
        _FROZEN.clear()


class Executor(Protocol):
    """Runs jobs and yields their fits as they finish (in any order)."""

    def run(self, jobs: Iterable[FitJob]) -> Iterator[Fit]:
        """Run ``jobs``; yield each ``Fit`` when it is done."""
        ...

    def close(self, *, abandon: bool = False) -> None:
        """Release workers; ``abandon``: stop running fits too (an interrupted run)."""
        ...


class LocalExecutor:
    """Fits one after the other in this process."""

    def run(self, jobs: Iterable[FitJob]) -> Iterator[Fit]:
        """Run each job here, in order."""
        for job in jobs:
            yield run_job(job)

    def close(self, *, abandon: bool = False) -> None:
        """Let the collector see again what refits froze in this process."""
        _thaw()


#: Fits a pool worker makes before it is replaced. Each fit leaves its compiled model
#: (machine code that is never unloaded) in the worker, about 10 MB a fit here: the 425
#: refits of the extended radon study peaked at 4.4 GB. A new worker costs its imports,
#: about 5 s. Workers of refits are not replaced: a refit reuses its model's compiled
#: code (``radonspec.compile.shared``), and 60 of them in one process stayed at
#: 540-580 MB; a new worker would compile again.
TASKS_PER_WORKER = 20


def _run_in_worker(job: FitJob) -> tuple[int, Fit | None, float]:
    """Run ``job``; say which process fitted it (so holds its model compiled), and when."""
    fit = pool.run_noting(run_job, job)  # reported as started, for blame if the worker dies
    return os.getpid(), fit, time.time()


def _pause_in_worker(seconds: float) -> tuple[int, Fit | None, float]:
    """Keep this worker busy for ``seconds`` (see ``radonspec.fit.affinity``)."""
    time.sleep(seconds)
    return os.getpid(), None, time.time()


def _drain(plan: Any) -> list[FitJob]:
    """Every job ``plan`` has not handed out yet."""
    left = []
    while len(plan):
        step = plan.next_for(None)
        if step.job is None:
            break
        left.append(step.job)
    return left


def _broke(future: Future[Any]) -> bool:
    """Whether ``future`` failed because its pool broke (a worker died), not by itself."""
    return not future.cancelled() and isinstance(future.exception(), BrokenProcessPool)


def _harvest(futures: dict[Future[Fit], FitJob], broken: list[FitJob]) -> Iterator[Fit]:
    """Take the finished ``futures`` out; yield their fits, put a broken pool's on ``broken``."""
    for future in [f for f in futures if f.done()]:
        job = futures.pop(future)
        if _broke(future):
            broken.append(job)
        else:
            yield _outcome(future, job)


def _outcome(future: Future[Fit], job: FitJob) -> Fit:
    try:
        return future.result()
    except Exception as exc:  # a crashed worker fails its model, not the study
        return failed_fit(job, f"the worker process fitting it crashed ({exc!r})")


def _worker_start(parent: int, then: Callable[[], None] | None) -> None:
    """Start a pool worker: it dies with the radonspec process that started it.

    A killed parent (``kill -9``, a crashed terminal) cannot shut its pool down, and its
    workers would go on sampling fits nobody stores. On Linux the kernel stops them.
    Ctrl-C reaches every process of the terminal's group: a worker leaves at once and
    quietly (its fit is lost, it never wrote anything), the parent says what happened.
    A parent that ignores SIGINT (started in the background) has workers that ignore it.
    """
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        # ignored here only where the parent's was too (``nohup``, a shell's ``&``): the
        # run goes on, and so must its workers
        signal.signal(signal.SIGINT, _leave_quietly)
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before the line above
            os._exit(1)
    if then is not None:
        then()


PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def _leave_quietly(signum: int, frame: object) -> None:
    os._exit(128 + signum)


class PoolExecutor:
    """One model per worker process, chains inside it.

    With ``in_parent`` this process is one of the ``jobs`` workers: the pool has one
    process fewer and this one fits the jobs no worker has started yet. For a study of a
    few models that saves a process's imports (seconds) and its memory (hundreds of MB);
    it is not used for many fits, whose compiled code would pile up here.
    """

    def __init__(
        self,
        jobs: int,
        initializer: Callable[[], None] | None = None,
        *,
        in_parent: bool = False,
        refits: bool = False,
    ) -> None:
        mainguard.ensure_workers_can_start()
        self._context = multiprocessing.get_context("spawn")
        self._in_parent = in_parent and jobs > 1
        self._workers = jobs - 1 if self._in_parent else jobs
        self._initializer = initializer
        self._refits = refits
        self._started = self._context.SimpleQueue()  # (pid, key) as each worker starts a fit
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self._workers,
            mp_context=self._context,
            initializer=pool.start_worker,
            initargs=(self._started, os.getpid(), self._initializer, _worker_start),
            max_tasks_per_child=None if self._refits else TASKS_PER_WORKER,
        )

    def run(self, jobs: Iterable[FitJob]) -> Iterator[Fit]:
        """Submit every job, yield fits as they complete.

        A worker that dies fails only the job it was running: the others, running or
        waiting, are fitted again in a fresh pool (see ``radonspec.fit.pool``). Refits
        (more than workers) are handed out one per free worker, each to a worker that
        has compiled its model where one can (``radonspec.fit.affinity``).
        """
        listed = list(jobs)
        shared = all(job.reuses_compile for job in listed)
        if not self._in_parent and len(listed) > self._workers and shared:
            yield from self._run_by_affinity(listed)
        else:
            yield from self._run_all(listed)

    def _run_all(self, jobs: list[FitJob]) -> Iterator[Fit]:
        """Submit every job at once; jobs of a broken pool are fitted again, or blamed."""
        todo, first, breaks = list(jobs), True, dict[str, int]()
        last: dict[int, str] = {}
        while todo:
            futures = {self._pool.submit(pool.run_noting, run_job, j): j for j in todo}
            todo, broken = [], list[FitJob]()
            if self._in_parent and first:
                # the last submitted start last: take them back, while no worker has begun them
                for future in reversed(list(futures)):
                    if future in futures and future.cancel():
                        job = futures.pop(future)
                        try:
                            fit = run_job(job)
                        except BaseException:
                            # Ctrl-C while this process fitted: the fits workers finished
                            # meanwhile are handed on (and stored) before the interrupt is
                            yield from _harvest(futures, [])
                            raise
                        yield fit
                        yield from _harvest(futures, broken)
            first = False
            for future in as_completed(list(futures)):
                if _broke(future):
                    broken.append(futures[future])
                else:
                    yield _outcome(future, futures[future])
            if not broken:
                break
            blamed = pool.died_on_their_own(dict(self._pool._processes), self._started, last)
            for job in broken:
                if job.key in blamed:
                    how = pool.describe_exit(blamed[job.key])
                    yield failed_fit(
                        job,
                        f"the worker process fitting it died ({how}); the run's other models"
                        " were fitted on",
                    )
                    continue
                breaks[job.key] = breaks.get(job.key, 0) + 1
                if breaks[job.key] > pool.MAX_UNBLAMED_BREAKS:
                    yield failed_fit(job, "the worker processes fitting it kept dying")
                else:
                    todo.append(job)
            self._pool.shutdown(wait=True)
            self._pool = self._new_pool()

    def _run_by_affinity(self, jobs: list[FitJob]) -> Iterator[Fit]:
        """Hand refits out one per free worker; a broken pool's jobs go to ``_run_all``.

        When a worker dies, the job it was running is blamed (as ``_run_all`` does) and
        every other refit not yet fitted is fitted in a fresh pool, in submission order.
        """
        from radonspec.fit.affinity import Affinity

        plan = Affinity(jobs)
        running: dict[Future[tuple[int, Fit | None, float]], FitJob | None] = {}
        broken: list[FitJob] = []
        last: dict[int, str] = {}

        def hand(worker: int | None) -> None:
            """Submit the next step of ``worker``, the one free process of the pool."""
            if broken:
                return
            step = plan.next_for(worker)
            if step.job is None and step.wait <= 0:
                return
            try:
                if step.job is not None:
                    running[self._pool.submit(_run_in_worker, step.job)] = step.job
                else:  # keeps the worker busy, so the next refit goes to the free one
                    running[self._pool.submit(_pause_in_worker, step.wait)] = None
            except BrokenProcessPool:
                broken.extend([step.job] if step.job is not None else [])

        for _ in range(self._workers):
            hand(None)
        while running and not broken:
            wait(list(running), return_when=FIRST_COMPLETED)
            # read the workers' start reports as they come: hundreds of refits would
            # fill the pipe they are written to, and a worker writing to it would wait
            while not self._started.empty():
                pid, key = self._started.get()
                last[pid] = key
            finished = []
            for future in [f for f in running if f.done()]:
                job = running.pop(future)
                if _broke(future):
                    broken.extend([job] if job is not None else [])
                    continue
                try:
                    worker, fit, at = future.result()
                except Exception as exc:  # a job that failed by itself fails its model
                    reason = f"the worker process fitting it crashed ({exc!r})"
                    worker, fit, at = None, None if job is None else failed_fit(job, reason), 0.0
                if job is not None and fit is not None:
                    plan.finished(job, worker, fit)
                finished.append((at, worker, fit))
            # Free workers take submitted jobs in the order they became free (the first
            # waits on the pool's queue, the others behind it): hand out in that order,
            # all before the caller stores the fits, so each job reaches its worker.
            finished.sort(key=lambda item: item[0])
            for _, worker, _ in finished:
                hand(worker)
            yield from (fit for _, _, fit in finished if fit is not None)
        if not broken:
            return
        wait(list(running))  # the pool is broken: what still runs ends now too
        for future, job in running.items():
            if job is None:
                continue
            if _broke(future):
                broken.append(job)
                continue
            try:
                _, fit, _ = future.result()
            except Exception as exc:
                fit = failed_fit(job, f"the worker process fitting it crashed ({exc!r})")
            if fit is not None:
                yield fit
        blamed = pool.died_on_their_own(dict(self._pool._processes), self._started, last)
        rest = []
        for job in [*broken, *_drain(plan)]:
            if job.key in blamed:
                how = pool.describe_exit(blamed[job.key])
                yield failed_fit(
                    job,
                    f"the worker process fitting it died ({how}); the run's other models"
                    " were fitted on",
                )
            else:
                rest.append(job)
        self._pool.shutdown(wait=True)
        self._pool = self._new_pool()
        yield from self._run_all(rest)

    def close(self, *, abandon: bool = False) -> None:
        """Shut the pool down, cancelling what has not started (and stopping what has)."""
        _thaw()
        if abandon:
            # Python 3.14 has ProcessPoolExecutor.terminate_workers; 3.12 only this
            for process in list(getattr(self._pool, "_processes", {}).values()):
                process.kill()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._started.close()


class DaskExecutor:
    """Fits on a Dask cluster: a local one by default, or an existing scheduler."""

    def __init__(self, scheduler: str | None = None, jobs: int | None = None) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise MissingExtraError(
                "--executor dask needs the 'distributed' package; install it with:"
                ' pip install "radonspec[dask]"'
            ) from None
        self._cluster: Any = None
        if scheduler is None:
            mainguard.ensure_workers_can_start()
            self._cluster = LocalCluster(
                n_workers=jobs or default_jobs(), threads_per_worker=1, processes=True
            )
            self._client = Client(self._cluster)
        else:
            try:
                self._client = Client(scheduler, timeout="10s")
            except OSError as exc:
                raise RadonspecError(
                    f"cannot reach the Dask scheduler at {scheduler} ({exc});"
                    " check the address and that `dask scheduler` is running"
                ) from None

    def run(self, jobs: Iterable[FitJob]) -> Iterator[Fit]:
        """Submit jobs to the cluster; yield fits as they complete."""
        from distributed import as_completed as dask_completed

        listed = list(jobs)
        futures = [self._client.submit(run_job, job, pure=False) for job in listed]
        by_future = dict(zip(futures, listed, strict=True))
        for future in dask_completed(futures):
            job = by_future[future]
            try:
                yield future.result()
            except Exception as exc:  # a lost worker fails its model, not the study
                yield failed_fit(job, f"the Dask worker fitting it failed ({exc!r})")

    def close(self, *, abandon: bool = False) -> None:
        """Close the client (and the local cluster if we started it)."""
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()


def default_jobs() -> int:
    """Worker processes by default: the cores this process may use."""
    from radonspec.fit.sample import usable_cores

    return usable_cores()


def make_executor(
    kind: str,
    jobs: int | None,
    scheduler: str | None = None,
    work: int | None = None,
    *,
    refits: bool = False,
) -> Executor:
    """The executor for ``--executor`` and ``--jobs``.

    ``work``: how many fits it will run; ``refits``: whether they are all refits, whose
    workers keep their compiled models (never replaced).
    """
    if kind == "dask":
        return DaskExecutor(scheduler, jobs)
    n = jobs or default_jobs()
    if kind == "local" and n > 1:
        return PoolExecutor(n, in_parent=work is not None and work <= 2 * n, refits=refits)
    return LocalExecutor()
