"""Which fit's worker died, when a process pool breaks.

A worker that dies (``kill -9``, the kernel's out-of-memory killer, a crash in native
code) breaks Python's ``ProcessPoolExecutor``: every unfinished future fails with
``BrokenProcessPool`` and the other workers are terminated, so one dead worker used to
fail every model of the run. Workers here report each job as they start it; when the
pool breaks, the worker that died on its own (its exit code is not the SIGTERM the pool
sent the others) names the one job to blame, and every other unfinished job is fitted
again in a fresh pool.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from multiprocessing.queues import SimpleQueue
from typing import Any

from radonspec.fit.record import Fit

#: Times a job may be in a broken pool without being blamed before it is given up: a
#: worker that dies before it reports (e.g. while importing) cannot be told apart.
MAX_UNBLAMED_BREAKS = 2

_STARTED: SimpleQueue[tuple[int, str]] | None = None  # set in each worker


def start_worker(
    started: SimpleQueue[tuple[int, str]],
    parent: int,
    then: Callable[[], None] | None,
    setup: Callable[[int, Callable[[], None] | None], None],
) -> None:
    """Initialise a pool worker: keep the queue it reports starts on, then ``setup``."""
    global _STARTED
    _STARTED = started
    setup(parent, then)


def run_noting(run: Callable[[Any], Fit], job: Any) -> Fit:
    """Report ``job`` as started by this process, then run it."""
    if _STARTED is not None:
        _STARTED.put((os.getpid(), job.key))  # written to the pipe before the fit begins
    return run(job)


def died_on_their_own(processes: dict[int, Any], started: SimpleQueue[tuple[int, str]],
                      last: dict[int, str]) -> dict[str, int]:  # fmt: skip
    """Job key -> exit code, for each job whose worker died of something else than the pool.

    ``processes`` are the broken pool's (pid -> ``Process``); ``last`` is updated with
    the reports read from ``started`` (pid -> the key it started last).
    """
    while not started.empty():
        pid, key = started.get()
        last[pid] = key
    blamed: dict[str, int] = {}
    for pid, process in list(processes.items()):
        process.join(timeout=10)
        code = process.exitcode
        if code is None or code == -signal.SIGTERM or pid not in last:
            continue
        blamed[last[pid]] = code
    return blamed


def describe_exit(code: int) -> str:
    """``killed by signal 9 (SIGKILL)`` or ``exit code 1``."""
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = "unknown"
        return f"killed by signal {-code} ({name})"
    return f"exit code {code}"
