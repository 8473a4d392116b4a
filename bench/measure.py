"""Run one command in a fresh subprocess and measure its wall time and peak memory.

How memory is measured (two numbers, both recorded):

- ``maxrss_mb``: ``ru_maxrss`` of the command. The kernel reports the largest resident
  set of the process *or of any descendant it waited for*, so it is exact for the biggest
  single process but does not add up processes alive at the same time (a process pool's
  workers). Linux carries a process's peak across ``exec``, so a command forked straight
  from this harness would start from the harness's own peak (a bare ``import radonspec``
  read 653 MB that way): the command runs under ``bench/peak.py``, a bare interpreter
  that forks it and writes its ``ru_maxrss`` to a file. A run killed with its group
  writes none; its figure is then the polled one.
- ``tree_rss_mb``: the largest sum of the resident sets of the child and all its
  descendants, sampled with psutil every ``POLL_SECONDS``. It sees concurrent workers but
  can miss a spike shorter than the polling interval.

``peak_rss_mb`` is the larger of the two: what the machine had to hold. We do not use
``getrusage(RUSAGE_CHILDREN)`` deltas: that value is a maximum over all children ever
reaped by this process, so it never goes down between runs.

The same polling loop enforces a memory cap and a time limit: a run that passes either is
killed (its whole process group) and recorded as failed, so one oversized run cannot push
the machine into its out-of-memory killer.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil

POLL_SECONDS = 0.1
MB = 1024 * 1024
PEAK = Path(__file__).with_name("peak.py")


@dataclass(frozen=True)
class Measurement:
    """One subprocess run: what ran, how long, how much memory, and how it ended."""

    command: list[str]
    wall_s: float
    maxrss_mb: float
    tree_rss_mb: float
    returncode: int
    error: str | None
    log: str

    @property
    def peak_rss_mb(self) -> float:
        """The larger of the two memory figures (see the module docstring)."""
        return max(self.maxrss_mb, self.tree_rss_mb)

    @property
    def ok(self) -> bool:
        """Whether the command exited 0 within its limits."""
        return self.returncode == 0 and self.error is None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready record, with ``peak_rss_mb`` and ``ok`` included."""
        record = asdict(self)
        record["peak_rss_mb"] = self.peak_rss_mb
        record["ok"] = self.ok
        return record


def measure(
    command: Sequence[str],
    *,
    cwd: Path,
    log: Path,
    env: Mapping[str, str] | None = None,
    timeout_s: float = 3600.0,
    mem_cap_mb: float | None = None,
) -> Measurement:
    """Run ``command`` in a new session and measure it; never raises for a failing command.

    Parameters
    ----------
    command
        The argument vector.
    cwd
        Working directory of the child.
    log
        File that receives the child's stdout and stderr (kept for the error message).
    env
        Environment of the child (default: this process's).
    timeout_s
        Wall-clock limit; past it the child's process group is killed.
    mem_cap_mb
        Limit on the process tree's resident memory; past it the group is killed.

    Returns
    -------
    Measurement
        Wall seconds from start to reaping, both memory figures, the exit code, and an
        error text (the log's tail, or why the run was stopped) when it did not succeed.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    stopped: str | None = None
    tree_peak = 0
    handle, peak_file = tempfile.mkstemp(prefix="peak-", suffix=".kb")
    os.close(handle)
    with log.open("wb") as sink:
        started = time.perf_counter()
        # a new session makes the child a process-group leader: killing the group ends
        # the pool workers and compilers it started, and nothing of ours
        child = subprocess.Popen(
            [sys.executable, "-S", str(PEAK), peak_file, "--", *command],
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        watched = psutil.Process(child.pid)
        while True:
            pid, status, _ = os.wait4(child.pid, os.WNOHANG)
            if pid == child.pid:
                break
            tree_peak = max(tree_peak, _tree_rss(watched))
            if stopped is None:
                elapsed = time.perf_counter() - started
                if elapsed > timeout_s:
                    stopped = f"stopped after {elapsed:.0f} s (time limit {timeout_s:.0f} s)"
                elif mem_cap_mb is not None and tree_peak > mem_cap_mb * MB:
                    stopped = (
                        f"stopped at {tree_peak / MB:.0f} MB resident"
                        f" (memory cap {mem_cap_mb:.0f} MB)"
                    )
                if stopped is not None:
                    _kill_group(child.pid)
            time.sleep(POLL_SECONDS)
        wall = time.perf_counter() - started
    # Popen must not try to reap the child we already reaped
    child.returncode = os.waitstatus_to_exitcode(status)
    largest = _read_kb(peak_file)
    code = child.returncode
    error = stopped
    if error is None and code != 0:
        error = f"exit code {code}: {_tail(log)}"
    return Measurement(
        command=list(command),
        wall_s=wall,
        maxrss_mb=largest / 1024 if largest is not None else tree_peak / MB,
        tree_rss_mb=tree_peak / MB,
        returncode=code,
        error=error,
        log=str(log),
    )


def _read_kb(path: str) -> int | None:
    """The kilobytes ``bench/peak.py`` wrote (None when it wrote none); removes the file."""
    try:
        text = Path(path).read_text().strip()
    except OSError:
        return None
    finally:
        Path(path).unlink(missing_ok=True)
    return int(text) if text.isdigit() else None


def _tree_rss(process: psutil.Process) -> int:
    """Resident bytes of the descendants of ``bench/peak.py``'s process now (0 if gone)."""
    total = 0
    try:
        members = process.children(recursive=True)
    except psutil.Error:
        return 0
    for member in members:
        try:
            total += member.memory_info().rss
        except psutil.Error:  # exited between listing and reading
            continue
    return total


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _tail(log: Path, lines: int = 8, chars: int = 1500) -> str:
    """The last lines of a log, joined on one line, for an error message."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return "(no log)"
    kept = [line.strip() for line in text.strip().splitlines()[-lines:] if line.strip()]
    return " | ".join(kept)[-chars:] or "(empty log)"
