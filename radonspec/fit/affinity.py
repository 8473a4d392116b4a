"""Which worker fits what: fits of one compiled structure go to a worker that has compiled it.

A refit (or a sweep cell) reuses the compiled model its worker process keeps for the
model's structure (``radonspec.fit.compile_cache``), so the first fit of a structure in
a process compiles (seconds) and the others take new data in a millisecond. Jobs are
grouped by ``FitJob.compile_group``: a model's refits, or a sweep's cells of one formula
and family (which differ in prior values only). A pool whose workers take jobs in
submission order gives every worker every group: workers x groups compiles. Here a job
is submitted only when a worker is free, and the free worker is the one whose job just
finished, so the next job can be chosen for it: another of a group it has compiled;
else a group nobody fits yet (most jobs first); else, at the end, a group others fit,
but only while its jobs would keep them busy longer than the compile takes. Until then
the free worker pauses (a pause submitted as a task, so that the next job goes to the
worker that is free, not to one left idle).
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable
from typing import NamedTuple

from radonspec.fit.jobs import FitJob
from radonspec.fit.record import Fit


class Step(NamedTuple):
    """What a free worker does next: fit ``job``, or wait ``wait`` seconds, or (both empty) stop."""

    job: FitJob | None
    wait: float = 0.0


class Affinity:
    """The order in which to hand out ``jobs``, by model and by worker."""

    def __init__(self, jobs: Iterable[FitJob]) -> None:
        self._pending: dict[str, deque[FitJob]] = {}
        for job in jobs:
            self._pending.setdefault(job.compile_group, deque()).append(job)
        self._running: Counter[str] = Counter()
        self._known: dict[int, set[str]] = {}
        self._assigned: dict[int, str] = {}
        self._fit_seconds: dict[str, list[float]] = {}
        self._compile_seconds: list[float] = []
        self._first_compile_seconds: list[float] = []
        self._compiled_in: set[int] = set()

    def next_for(self, worker: int | None) -> Step:
        """The next step of ``worker`` (a process id; None: a worker not seen yet)."""
        left = [model for model, queue in self._pending.items() if queue]
        if not left:
            return Step(None)
        known = [model for model in left if model in self._known.get(worker or -1, set())]
        if known:
            return self._take(max(known, key=lambda m: len(self._pending[m])), worker)
        capacity = {model: len(self._fitting(model)) for model in left}
        unfitted = [model for model in left if not capacity[model]]
        if unfitted:  # someone has to compile these: the one with most refits first
            return self._take(max(unfitted, key=lambda m: len(self._pending[m])), worker)
        model = max(left, key=lambda m: len(self._pending[m]) / capacity[m])
        fits = self._fit_seconds.get(model) or [s for v in self._fit_seconds.values() for s in v]
        if worker is None or not fits or not self._first_compile_seconds:
            return self._take(model, worker)
        fit = sum(fits) / len(fits)
        if len(self._pending[model]) * fit / capacity[model] > self._compile_estimate() + fit:
            return self._take(model, worker)
        return Step(None, wait=fit)

    def _fitting(self, model: str) -> set[int]:
        """Workers that fit ``model`` now or have compiled it (negative: not yet seen).

        Between two refits of its model a worker runs none of them, yet takes the next.
        """
        found = {w for w, models in self._known.items() if model in models}
        found |= {w for w, m in self._assigned.items() if m == model}
        unseen = self._running[model] - sum(1 for w, m in self._assigned.items() if m == model)
        found |= {-1 - i for i in range(max(0, unseen))}
        return found

    def finished(self, job: FitJob, worker: int | None, fit: Fit) -> None:
        """Record that ``worker`` fitted ``job`` (so holds its model compiled), and how long."""
        self._running[job.compile_group] -= 1
        self._assigned.pop(worker or -1, None)
        if worker is not None:
            self._known.setdefault(worker, set()).add(job.compile_group)
        record = fit.meta.get("compile") if fit.status == "ok" else None
        total = fit.seconds.get("total")
        if record is None or total is None:
            return
        seconds = self._fit_seconds.setdefault(job.compile_group, [])
        if record["reused"]:
            seconds.append(total)
            return
        first = worker not in self._compiled_in
        self._compiled_in.add(worker or -1)
        compiles = self._first_compile_seconds if first else self._compile_seconds
        compiles.append(record["seconds"])
        seconds.append(max(0.0, total - record["seconds"]))

    def _compile_estimate(self) -> float:
        """Seconds a worker would take to compile one more model.

        The first compile in a process also starts numba and LLVM and loads PyTensor's
        cached kernels: later compiles in the same process took about a third of it
        (radon varying-intercept model, under load: 16-24 s first, 6-8 s after).
        """
        if self._compile_seconds:
            return sum(self._compile_seconds) / len(self._compile_seconds)
        return sum(self._first_compile_seconds) / len(self._first_compile_seconds) / 3

    def _take(self, model: str, worker: int | None) -> Step:
        self._running[model] += 1
        if worker is not None:
            self._assigned[worker] = model
        return Step(self._pending[model].popleft())

    def __len__(self) -> int:
        return sum(len(queue) for queue in self._pending.values())
