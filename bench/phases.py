"""Where a ``radonspec run`` spends its time, by phase, from a stack-sampling profile.

Run: ``python -m bench.phases --out phases.json -- run STUDY --store DIR --out DIR --jobs 1``.

A thread reads the main thread's Python stack every ``--interval`` seconds
(``sys._current_frames``) and charges the wall time since its previous look to one phase:
the phase of the frame *nearest the leaf* that matches a rule of ``PHASES``. Imports win
over everything (a frame of ``importlib._bootstrap`` or a module body anywhere below the
leaf's phase frame means the time is import time). Frames outside every rule count as
``other``. The numbers are wall seconds of the main thread; chains that nutpie runs on its
own threads show as the main thread waiting inside ``nutpie.sample``.

Why not cProfile: on Python 3.12 (``sys.monitoring``) its per-function totals for this
program add up to 2.4x the wall time (135 s for a 55 s run) and the outer frames
(``run_studies``, the CLI command) are missing from the stats, so phase sums built from
them are wrong. Sampling whole stacks attributes each instant exactly once. ``--jobs 1``
keeps the fits in the profiled process.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from types import CodeType, FrameType
from typing import Any

#: (phase, path fragment, function names or None for any function in that path), tried in
#: order on each frame from the leaf towards the root; the first frame that matches wins.
PHASES: list[tuple[str, str, frozenset[str] | None]] = [
    ("import", "importlib/__init__.py", frozenset({"import_module"})),
    ("data", "radonspec/data/", None),
    ("data", "pandas/io/", None),
    ("spec + validate", "radonspec/study/", None),
    ("spec + validate", "radonspec/compile/validate.py", None),
    ("compile", "nutpie/compile_pymc.py", None),
    ("compile", "numba/", None),
    ("compile", "llvmlite/", None),
    ("compile", "pytensor/graph/rewriting/", None),
    ("compile", "pytensor/link/c/", None),
    ("compile", "pytensor/compile/function/__init__.py", frozenset({"function"})),
    ("compile", "pytensor/compile/function/pfunc.py", None),
    ("compile", "pytensor/compile/function/types.py", frozenset({"orig_function", "create"})),
    ("compile", "pymc/pytensorf.py", frozenset({"compile", "compile_pymc"})),
    ("log-likelihood", "pymc/stats/log_density.py", None),
    ("posterior predictive", "bambi/models.py", frozenset({"predict"})),
    ("posterior predictive", "pymc/sampling/forward.py", None),
    ("tune + sample", "nutpie/sample.py", None),
    ("tune + sample", "pymc/sampling/", None),
    ("tune + sample", "pymc/step_methods/", None),
    ("tune + sample", "pymc/backends/", None),
    ("tune + sample", "bambi/backend/pymc.py", frozenset({"run", "_run_mcmc"})),
    ("build (bambi)", "radonspec/compile/", None),
    ("build (bambi)", "bambi/models.py", frozenset({"__init__", "build"})),
    ("build (bambi)", "bambi/backend/pymc.py", frozenset({"build"})),
    ("LOO", "arviz_stats/loo/", None),
    ("LOO", "radonspec/analysis/", frozenset({"compare_fits", "loo_pit", "_bad_k"})),
    ("LOO", "radonspec/analysis/kfold.py", None),
    ("diagnostics", "radonspec/analysis/", frozenset({"diagnose", "_bfmi", "_extreme"})),
    ("diagnostics", "radonspec/fit/runner.py", frozenset({"_diagnostics_summary"})),
    ("store", "radonspec/fit/store.py", None),
    ("store", "h5netcdf/", None),
    ("store", "h5py/", None),
    ("store", "xarray/backends/", None),
    ("report", "radonspec/report/", None),
    ("report", "radonspec/analysis/groups.py", None),
    ("report", "radonspec/analysis/frequentist.py", None),
    ("report", "matplotlib/", None),
    ("report", "arviz_plots/", None),
    ("report", "jinja2/", None),
    ("report", "statsmodels/", None),
]
#: The order of the printed table.
ORDER = [
    "import",
    "spec + validate",
    "data",
    "build (bambi)",
    "compile",
    "tune + sample",
    "log-likelihood",
    "posterior predictive",
    "store",
    "diagnostics",
    "LOO",
    "report",
    "other",
]


def classify(frames: list[tuple[str, str]]) -> str:
    """The phase of a stack given as (filename, function) pairs, leaf first."""
    for filename, function in frames:
        # a module body runs only while it is imported, whatever it calls
        if function == "<module>" or "<frozen importlib._bootstrap" in filename:
            return "import"
    for filename, function in frames:
        path = filename.replace("\\", "/")
        for phase, fragment, functions in PHASES:
            if fragment in path and (functions is None or function in functions):
                return phase
    return "other"


class StackSampler:
    """Samples one thread's stack on a timer and adds up wall time per phase."""

    def __init__(self, interval: float, stop_at: CodeType) -> None:
        self.interval = interval
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self.leaves: defaultdict[str, defaultdict[str, float]] = defaultdict(
            lambda: defaultdict(float)
        )
        self._stop_at = stop_at
        self._target = threading.get_ident()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="phase-sampler", daemon=True)

    def start(self) -> None:
        """Start sampling the calling thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop sampling and wait for the sampler thread."""
        self._done.set()
        self._thread.join()

    def _loop(self) -> None:
        last = time.perf_counter()
        while not self._done.wait(self.interval):
            frame = sys._current_frames().get(self._target)
            now = time.perf_counter()
            if frame is not None:
                self._charge(frame, now - last)
            last = now

    def _charge(self, frame: FrameType, seconds: float) -> None:
        frames: list[tuple[str, str]] = []
        current: FrameType | None = frame
        while current is not None and current.f_code is not self._stop_at:
            frames.append((current.f_code.co_filename, current.f_code.co_name))
            current = current.f_back
        phase = classify(frames)
        self.seconds[phase] += seconds
        if frames:
            leaf = f"{_short(frames[0][0])}:{frames[0][1]}"
            self.leaves[phase][leaf] += seconds


def _short(path: str) -> str:
    for marker in ("site-packages/", "/work/main/", "<frozen "):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def _profiled_main(argv: list[str]) -> int:
    """Import and run the radonspec CLI with ``argv``; return its exit code."""
    sys.argv = ["radonspec", *argv]
    from radonspec.cli.app import main

    try:
        main()
    except SystemExit as stop:
        code = stop.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0


def profile_run(argv: list[str], interval: float) -> tuple[int, dict[str, Any]]:
    """Run ``radonspec ARGV`` here under the stack sampler; return exit code and profile."""
    sampler = StackSampler(interval, _profiled_main.__code__)
    started = time.perf_counter()
    sampler.start()
    try:
        code = _profiled_main(argv)
    finally:
        sampler.stop()
    wall = time.perf_counter() - started
    profile = {
        "method": "stack sampling of the main thread (bench/phases.py)",
        "interval_s": interval,
        "wall_s": wall,
        "exit_code": code,
        "phases": {phase: sampler.seconds.get(phase, 0.0) for phase in ORDER},
        "top_leaves": {
            phase: [[name, leaves[name]] for name in sorted(leaves, key=leaves.__getitem__)[::-1]][
                :8
            ]
            for phase, leaves in sampler.leaves.items()
        },
    }
    return code, profile


def phase_table(profile: dict[str, Any]) -> str:
    """The profile's phases as a fixed-width text table with shares of the total."""
    phases: dict[str, float] = profile["phases"]
    total = sum(phases.values()) or 1.0
    lines = [f"{'phase':<22}{'seconds':>10}{'share':>8}"]
    for phase in [*ORDER, *(name for name in phases if name not in ORDER)]:
        secs = phases.get(phase, 0.0)
        lines.append(f"{phase:<22}{secs:>10.2f}{secs / total:>8.1%}")
    lines.append(f"{'total (sampled)':<22}{total:>10.2f}{1:>8.0%}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Profile `radonspec ARGS` by phase.")
    parser.add_argument("--out", type=Path, required=True, help="JSON file for the profile")
    parser.add_argument("--interval", type=float, default=0.005, help="seconds between samples")
    parser.add_argument("radonspec_args", nargs=argparse.REMAINDER, help="-- then radonspec args")
    args = parser.parse_args(argv)
    forwarded = list(args.radonspec_args)
    if forwarded[:1] == ["--"]:
        forwarded = forwarded[1:]
    code, profile = profile_run(forwarded, args.interval)
    args.out.write_text(json.dumps(profile, indent=2) + "\n")
    print(phase_table(profile))
    return code


if __name__ == "__main__":
    raise SystemExit(main())
