"""k-fold refits against the full fits: the issue 14 target, measured in fresh processes.

    .venv/bin/python -m bench.kfold_refits --work /tmp/kf [--reps 2] [--k 10]
        [--models pooled,varying_intercept,varying_slope] [--code DIR]

Each repetition runs, each in a fresh Python process and on an empty store:

1. ``full``: the models' full fits (``fit_study``), timed inside the process from the
   call to its return, and as the process's wall time;
2. ``kfold``: in a second process on that store (full fits are hits), leave-county-out
   cross-validation (``kfold_study``); timed until its last fold refit is stored
   ("refits"), and to the end including scoring.

Besides wall times, the CPU seconds of each call (the process and the worker processes
it reaped, ``getrusage``) are recorded: on a machine shared with other work they vary
far less than wall times.

``--code DIR`` runs another checkout of radonspec (put first on ``PYTHONPATH``), e.g. the
code before compiled models were reused, to measure both on the same machine load.
The 1-minute load average is recorded before and after each process (the machine is
shared). Prints one JSON line per process and a summary.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, os, resource, sys, time
started = time.perf_counter()
def cpu():
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
from radonspec.api import load_study
from radonspec.api import fit_study
study = load_study(sys.argv[1])
models = sys.argv[3].split(",")
out = {"phase": sys.argv[2], "load_before": os.getloadavg()[0]}
tick, used = time.perf_counter(), cpu()
fits = fit_study(study, models=models, store=sys.argv[4])
out["fit_study_s"] = time.perf_counter() - tick
out["fit_study_cpu_s"] = cpu() - used
out["failed"] = [name for name, fit in fits.items() if not fit.ok]
if sys.argv[2] == "kfold":
    from radonspec.analysis.kfold import kfold_study
    last = [tick]
    compiles = []
    def event(model, what, fit):
        if what in ("done", "failed"):
            last[0] = time.perf_counter()
            record = (fit.meta or {}).get("compile") if fit is not None else None
            if record is not None:
                compiles.append([model, record["process"], record["reused"]])
            if fit is not None and fit.status != "ok":
                out.setdefault("fold_failures", []).append([model, fit.error])
    tick, used = time.perf_counter(), cpu()
    results = kfold_study(study, models, full_fits=fits, store=sys.argv[4], on_event=event)
    end = time.perf_counter()
    out["kfold_cpu_s"] = cpu() - used
    out["refits_s"] = last[0] - tick
    out["kfold_s"] = end - tick
    out["elpd"] = {name: r.elpd for name, r in results.items()}
    out["errors"] = {name: r.error for name, r in results.items() if r.error}
    out["refits"] = len(compiles) or None
    out["compiles"] = sum(1 for _, _, reused in compiles if not reused) if compiles else None
    out["processes"] = len({p for _, p, _ in compiles}) if compiles else None
out["process_s"] = time.perf_counter() - started
out["load_after"] = os.getloadavg()[0]
print("RESULT " + json.dumps(out))
"""


def extended_copy(work: Path) -> Path:
    """The extended radon study, written to ``work`` so that a study may extend it.

    Only a file with ``spec_version:`` at its top level may be extended, and
    ``specs/radon/extended.yaml`` (itself extending ``seed.yaml``) has none: the copy
    gets it, and its ``extends:`` the seed's absolute path.
    """
    radon = (ROOT / "specs" / "radon").resolve()
    lines = []
    for line in (radon / "extended.yaml").read_text().splitlines():
        if line.startswith("extends:"):
            parent = line.split(":", 1)[1].strip()
            line = f"spec_version: 1\nextends: {radon / parent}"
        lines.append(line)
    copy = work / "extended.yaml"
    copy.write_text("\n".join(lines) + "\n")
    return copy


def study_text(k: int, models: list[str], extended: Path) -> str:
    """A study extending the extended radon study, cross-validating ``models`` by county."""
    return textwrap.dedent(
        f"""\
        extends: {extended}
        name: radon-kfold-bench
        compare:
          criterion: kfold
          kfold: {{k: {k}, group_by: county}}
          models: [{", ".join(models)}]
        """
    )


def run(
    code: Path | None, study: Path, phase: str, models: list[str], store: Path
) -> dict[str, object]:
    """One fresh process; its RESULT line, with the process's wall time."""
    env = dict(os.environ)
    if code is not None:
        env["PYTHONPATH"] = str(code)
    tick = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(study), phase, ",".join(models), str(store)],
        capture_output=True,
        text=True,
        env=env,
        cwd=study.parent,
        check=False,
    )
    wall = time.perf_counter() - tick
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        return {"phase": phase, "error": done.stderr[-2000:], "wall_s": wall}
    result: dict[str, object] = json.loads(lines[-1][len("RESULT ") :])
    result["wall_s"] = wall
    return result


def main() -> None:
    """Measure, print JSON lines and a summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--models", default="pooled,varying_intercept,varying_slope")
    parser.add_argument("--code", type=Path, action="append", default=[])
    args = parser.parse_args()
    models = args.models.split(",")
    args.work.mkdir(parents=True, exist_ok=True)
    study = args.work / "study.yaml"
    study.write_text(study_text(args.k, models, extended_copy(args.work)))
    codes: list[Path | None] = [None, *args.code]
    rows = []
    for rep in range(args.reps):
        for index, code in enumerate(codes):  # round robin: drift hits every checkout alike
            store = args.work / f"store-{rep}-{index}"
            label = "this checkout" if code is None else str(code)
            for phase in ("full", "kfold"):
                result = run(code, study, phase, models, store)
                result.update(code=label, rep=rep)
                print(json.dumps(result), flush=True)
                rows.append(result)
    for label in dict.fromkeys(str(row["code"]) for row in rows):
        full = [r for r in rows if r["code"] == label and r["phase"] == "full"]
        kfold = [r for r in rows if r["code"] == label and r["phase"] == "kfold"]
        for f, kf in zip(full, kfold, strict=True):
            if "error" in f or "error" in kf:
                print(f"{label}: failed")
                continue
            ratio = float(kf["refits_s"]) / float(f["fit_study_s"])  # type: ignore[arg-type]
            cpu = float(kf["kfold_cpu_s"]) / float(f["fit_study_cpu_s"])  # type: ignore[arg-type]
            print(
                f"{label} rep {f['rep']}: full fits {f['fit_study_s']:.1f} s"
                f" (process {f['wall_s']:.1f} s); fold refits {kf['refits_s']:.1f} s,"
                f" k-fold with scoring {kf['kfold_s']:.1f} s (process {kf['wall_s']:.1f} s);"
                f" refits / full fits = {ratio:.2f}; CPU: k-fold {kf['kfold_cpu_s']:.0f} s /"
                f" full fits {f['fit_study_cpu_s']:.0f} s = {cpu:.2f};"
                f" compiles {kf.get('compiles')}"
                f" in {kf.get('processes')} processes; load {f['load_before']:.1f}"
                f" -> {kf['load_after']:.1f}"
            )


if __name__ == "__main__":
    main()
