"""The benchmark harness: every contender in a fresh subprocess, round robin, one command.

``python -m bench`` (full mode: writes ``bench/results.json`` and ``bench/RESULTS.md``) or
``python -m bench --quick`` (smoke test: tiny draws, writes under ``bench/out/quick/``).
``bench/README.md`` describes the sections, the contenders and how each figure is measured.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from bench.context import ROOT, Bench
from bench.cv import cv_targets, section_cv
from bench.render import render_markdown
from bench.results import git_state, machine, now, versions
from bench.sections import (
    FIFTEEN_MINUTES,
    section_hierarchical,
    section_memory,
    section_profile,
    section_scaling,
    section_seed,
    targets,
)
from bench.spine import section_spine, spine_targets
from bench.studies import Sampling

FULL = {"draws": 1000, "tune": 1000, "chains": 4, "reps": 3, "sizes": [10**3, 10**4, 10**5, 10**6]}
QUICK = {"draws": 50, "tune": 50, "chains": 2, "reps": 1, "sizes": [300, 10**3]}
SECTIONS = ("seed", "hierarchical", "scaling", "profile", "spine", "cv")

# what each runner adds to results["sections"]
SECTION_KEYS = {
    "seed": ("seed_study", "warm_store"),
    "hierarchical": ("hierarchical",),
    "scaling": ("scaling",),
    "profile": ("profile",),
    "spine": ("spine",),
    "cv": ("cv",),
}
SECTION_RUNNERS: dict[str, Callable[[Bench], dict[str, Any]]] = {
    "seed": section_seed,
    "hierarchical": section_hierarchical,
    "scaling": section_scaling,
    "profile": section_profile,
    "spine": section_spine,
    "cv": section_cv,
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="radonspec benchmark harness (see bench/README.md)"
    )
    parser.add_argument("--quick", action="store_true", help="smoke test: tiny draws, 1 rep")
    parser.add_argument("--reps", type=int, help="repetitions per contender [full 3, quick 1]")
    parser.add_argument("--draws", type=int, help="draws per chain [full 1000, quick 50]")
    parser.add_argument("--tune", type=int, help="tuning steps per chain [full 1000, quick 50]")
    parser.add_argument("--chains", type=int, help="chains [full 4, quick 2]")
    parser.add_argument("--sizes", type=int, nargs="+", help="scaling N values")
    parser.add_argument(
        "--scaling-reps", type=int, help="repetitions of the scaling series [--reps]"
    )
    parser.add_argument(
        "--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS), help="what to run"
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="folder for results.json and RESULTS.md [full bench/, quick bench/out/quick/]",
    )
    parser.add_argument(
        "--render",
        type=Path,
        metavar="RESULTS_JSON",
        help="only rewrite RESULTS.md beside an existing results.json, measuring nothing",
    )
    parser.add_argument("--work", type=Path, help="scratch folder [a new temporary one]")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per run")
    parser.add_argument(
        "--scaling-timeout", type=float, default=FIFTEEN_MINUTES, help="seconds per scaling run"
    )
    memory = psutil.virtual_memory()
    parser.add_argument(
        "--mem-cap-gb",
        type=float,
        default=round(min(0.6 * memory.total, 0.8 * memory.available) / 1024**3, 1),
        help="kill a run whose process tree passes this resident size [the smaller of 60%% of"
        " RAM and 80%% of the memory available at start]",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the selected sections, write results.json and RESULTS.md; 1 if any run failed."""
    args = parse_args(argv)
    if args.render is not None:
        rendered = args.render.parent / "RESULTS.md"
        rendered.write_text(render_markdown(json.loads(args.render.read_text())))
        print(f"wrote {rendered}")
        return 0
    mode = "quick" if args.quick else "full"
    preset = QUICK if args.quick else FULL
    sampling = Sampling(
        draws=args.draws or int(preset["draws"]),  # type: ignore[call-overload]
        tune=args.tune or int(preset["tune"]),  # type: ignore[call-overload]
        chains=args.chains or int(preset["chains"]),  # type: ignore[call-overload]
    )
    out = args.out or (ROOT / "bench" / "out" / "quick" if args.quick else ROOT / "bench")
    work = args.work or Path(tempfile.mkdtemp(prefix="radonspec-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    bench = Bench(
        mode=mode,
        sampling=sampling,
        reps=args.reps or int(preset["reps"]),  # type: ignore[call-overload]
        sizes=args.sizes or list(preset["sizes"]),  # type: ignore[call-overload]
        work=work,
        timeout_s=args.timeout,
        scaling_timeout_s=args.scaling_timeout,
        mem_cap_mb=args.mem_cap_gb * 1024,
        scaling_reps=args.scaling_reps,
    )
    started = time.perf_counter()
    results: dict[str, Any] = {
        "schema": 1,
        "mode": mode,
        "created": now(),
        "command": " ".join(["python -m bench", *(argv if argv is not None else sys.argv[1:])]),
        "machine": machine(),
        "load_average": {"start": os.getloadavg()},
        "versions": versions(),
        "git": git_state(),
        "settings": {
            "draws": sampling.draws,
            "tune": sampling.tune,
            "chains": sampling.chains,
            "target_accept": sampling.target_accept,
            "reps": bench.reps,
            "scaling_reps": bench.scaling_reps or bench.reps,
            "scaling_sizes": bench.sizes,
            "sections": args.sections,
            "memory_cap_mb": bench.mem_cap_mb,
        },
        "sections": {},
    }
    crashes: list[str] = []
    for name in args.sections:
        try:
            results["sections"].update(SECTION_RUNNERS[name](bench))
        except Exception as exc:  # one broken section must not lose the others' figures
            message = f"section {name} crashed: {type(exc).__name__}: {exc}"
            print(message, flush=True)
            traceback.print_exc()
            crashes.append(message)
            for key in SECTION_KEYS[name]:
                results["sections"][key] = {"error": message}
    results["sections"].update(section_memory(bench))
    results["targets"] = (
        targets(results["sections"])
        + cv_targets(results["sections"])
        + spine_targets(results["sections"])
    )
    failures = crashes + bench.failures()
    results["failures"] = failures
    results["harness_wall_s"] = time.perf_counter() - started
    results["load_average"]["end"] = os.getloadavg()
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    (out / "RESULTS.md").write_text(render_markdown(results))
    if not args.keep and args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    print(f"wrote {out / 'results.json'} and {out / 'RESULTS.md'}", flush=True)
    print(f"harness wall time: {results['harness_wall_s']:.0f} s", flush=True)
    if failures:
        print(f"{len(failures)} run(s) or section(s) failed:", flush=True)
        for failure in failures:
            print(f"  - {failure}", flush=True)
        return 1
    return 0
