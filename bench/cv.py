"""(h) Cross-validation and sweeps (issue 14): what refitting costs once models compile once.

Three measurements, each in fresh processes:

- **k-fold refits**: pooled, varying_intercept and varying_slope of the extended radon study,
  10 leave-county-out folds (``bench/kfold_refits.py``'s two processes: the full fits from an
  empty store, then k-fold on that store). Target: the fold refits cost at most 1.5 times
  the full fits.
- **The extended study's cross-validation** (full mode): ``radonspec run`` of
  ``specs/radon/extended.yaml`` (5 models x 85 leave-one-county-out folds, 425 refits) with
  the seed study's fits already stored, as its README section describes. Target: at most
  0.15 of the time it took before models compiled once (``EXTENDED_BEFORE_S``).
- **The sweep example** (full mode): ``radonspec run specs/radon/sweep.yaml`` from an empty
  store; how many of its cells were served by a compile another cell made.

Every refit's stored ``meta.json`` says whether its compile was reused and how long its
sampling took, so the section also says where the refits' time went.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

from bench.context import ROOT, Bench, contender_table, radonspec_command, read_summary
from bench.kfold_refits import CHILD, extended_copy, study_text
from bench.results import median_of, ratio, summarise, target

FULL_FITS = "k-fold: full fits"
KFOLD = "k-fold: fold refits"
SEED_FIRST = "extended: seed study first (not timed for the target)"
EXTENDED = "extended: cross-validation, seed fits stored"
SWEEP = "sweep example from an empty store"
KFOLD_MODELS = ["pooled", "varying_intercept", "varying_slope"]
#: The extended study with the seed's fits stored, before refits compiled once: 17.5 minutes
#: on commit 7a4e4b1's parent line (main before the compile-once merge), 2 cores, the test
#: suite running beside it (2026-11-30); the issue's own figure was "about 17 minutes".
EXTENDED_BEFORE_S = 1050.0
#: Before compile-once, the fold refits cost 4.0 times the full fits (the issue's figure).
KFOLD_BEFORE = 4.0


def section_cv(bench: Bench) -> dict[str, Any]:
    """(h): k-fold refits against full fits; in full mode also the extended study and sweep."""
    folder = bench.work / "cv"
    folder.mkdir(parents=True, exist_ok=True)
    full = bench.mode == "full"
    k, models = (10, KFOLD_MODELS) if full else (2, KFOLD_MODELS[:1])
    extended = extended_copy(folder)
    study = folder / "kfold.yaml"
    text = study_text(k, models, extended)
    if not full:  # the smoke test: a few draws, so the harness's path runs in seconds
        text += _sampler_override(models, bench)
    study.write_text(text)
    results: dict[str, Any] = {"k": k, "models": models}
    kfold_rows = []
    for rep in range(bench.reps):
        store = folder / f"kfold-store-{rep}"
        shutil.rmtree(store, ignore_errors=True)
        row: dict[str, Any] = {"rep": rep}
        for phase, contender in (("full", FULL_FITS), ("kfold", KFOLD)):
            command = [sys.executable, "-c", CHILD, str(study), phase, ",".join(models), str(store)]
            found = bench.run("cv", contender, rep, command)
            child = _child_result(Path(found.log))
            extra = {key: child[key] for key in _CHILD_KEYS if key in child}
            if found.ok and not child:
                extra["error"] = "the k-fold process printed no result"
            if child.get("failed") or child.get("errors") or child.get("fold_failures"):
                extra["error"] = "fits failed: " + json.dumps(
                    {key: child.get(key) for key in ("failed", "errors", "fold_failures")}
                )
            bench.note("cv", contender, rep, found, extra)
            row[phase] = extra
        row["refits"] = _refit_figures(store)
        kfold_rows.append(row)
    results["kfold"] = {
        "rows": kfold_rows,
        "refits_over_full_wall": _ratio(kfold_rows, "refits_s", "fit_study_s"),
        "refits_over_full_cpu": _ratio(kfold_rows, "kfold_cpu_s", "fit_study_cpu_s"),
        "before": KFOLD_BEFORE,
    }
    if full:
        results["extended"] = _extended(bench, folder, extended)
        results["sweep"] = _sweep(bench, folder)
    results["contenders"] = contender_table(bench, "cv")
    results["description"] = (
        f"leave-county-out k-fold (k = {k}) of {', '.join(models)} from the extended radon study,"
        " each phase in a fresh process"
        + (
            "; the extended study's cross-validation (425 refits) with the seed's fits stored;"
            " the sweep example from an empty store"
            if full
            else ""
        )
    )
    return {"cv": results}


_CHILD_KEYS = (
    "fit_study_s",
    "fit_study_cpu_s",
    "refits_s",
    "kfold_s",
    "kfold_cpu_s",
    "refits",
    "compiles",
    "processes",
    "elpd",
    "failed",
    "errors",
    "fold_failures",
    "load_before",
    "load_after",
)


def _sampler_override(models: list[str], bench: Bench) -> str:
    sampling = bench.sampling
    block = f"{{draws: {sampling.draws}, tune: {sampling.tune}, chains: {sampling.chains}}}"
    return "models:\n" + "".join(f"  {name}:\n    sampler: {block}\n" for name in models)


def _child_result(log: Path) -> dict[str, Any]:
    try:
        lines = [line for line in log.read_text().splitlines() if line.startswith("RESULT ")]
    except OSError:
        return {}
    if not lines:
        return {}
    loaded: dict[str, Any] = json.loads(lines[-1][len("RESULT ") :])
    return loaded


def _ratio(rows: list[dict[str, Any]], top: str, bottom: str) -> dict[str, Any]:
    return ratio(
        [row.get("kfold", {}).get(top) for row in rows],
        [row.get("full", {}).get(bottom) for row in rows],
    )


def _refit_figures(store: Path) -> dict[str, Any]:
    """What the store's fits say about their compiles and their sampling seconds."""
    fresh = reused = 0
    compile_s = sample_s = total_s = held_out_s = model_s = 0.0
    fits = 0
    for meta_path in store.glob("fits/*/*/meta.json"):
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            continue
        record = meta.get("compile")
        if not record:
            continue  # a full fit, compiled as it always was
        fits += 1
        seconds = meta.get("seconds") or {}
        compiled = 0.0 if record.get("reused") else float(record.get("seconds") or 0.0)
        reused += 1 if record.get("reused") else 0
        fresh += 0 if record.get("reused") else 1
        compile_s += compiled
        # the compile happens inside the sampler call: sampling is the rest of it
        sample_s += max(0.0, float(seconds.get("sample") or 0.0) - compiled)
        total_s += float(seconds.get("total") or 0.0)
        held_out_s += float(seconds.get("held_out") or 0.0)
        model_s += float(seconds.get("model") or 0.0)
    return {
        "fits": fits,
        "compiles": fresh,
        "reused": reused,
        "compile_s": compile_s,
        "sample_s": sample_s,
        "total_s": total_s,
        "held_out_s": held_out_s,  # scoring the held-out rows, in the fitting process
        "model_s": model_s,  # building the fold's Bambi model
    }


def _extended(bench: Bench, folder: Path, extended: Path) -> dict[str, Any]:
    seed = folder / "seed.yaml"
    seed.write_text(
        f"spec_version: 1\nextends: {(ROOT / 'specs' / 'radon' / 'seed.yaml').resolve()}\n"
    )
    walls_: list[float | None] = []
    peaks: list[float | None] = []
    refits = []
    for rep in range(1 if bench.reps > 0 else 0):  # 12+ minutes a run: once
        store = folder / f"extended-store-{rep}"
        shutil.rmtree(store, ignore_errors=True)
        base = [*radonspec_command(), "run"]
        first = bench.run(
            "cv", SEED_FIRST, rep, [*base, str(seed), "--store", str(store), "--out",
                                     str(folder / f"seed-out-{rep}")],
        )  # fmt: skip
        if not first.ok:
            walls_.append(None)
            peaks.append(None)
            continue
        out = folder / f"extended-out-{rep}"
        found = bench.run(
            "cv", EXTENDED, rep, [*base, str(extended), "--store", str(store), "--out", str(out)]
        )
        summary = read_summary(out) or {}
        failed = [n for n, m in summary.get("models", {}).items() if m.get("status") != "ok"]
        if found.ok and failed:
            bench.note("cv", EXTENDED, rep, found, {"error": f"models failed: {failed}"})
        walls_.append(found.wall_s if found.ok and not failed else None)
        peaks.append(found.peak_rss_mb if found.ok else None)
        refits.append(_refit_figures(store))
        shutil.rmtree(store, ignore_errors=True)
    return {
        "wall_s": summarise(walls_),
        "peak_rss_mb": summarise(peaks),
        "before_s": EXTENDED_BEFORE_S,
        "over_before": summarise([None if w is None else w / EXTENDED_BEFORE_S for w in walls_]),
        "refits": refits,
    }


def _sweep(bench: Bench, folder: Path) -> dict[str, Any]:
    study = folder / "sweep.yaml"
    study.write_text(
        f"spec_version: 1\nextends: {(ROOT / 'specs' / 'radon' / 'sweep.yaml').resolve()}\n"
    )
    store = folder / "sweep-store"
    shutil.rmtree(store, ignore_errors=True)
    out = folder / "sweep-out"
    found = bench.run(
        "cv", SWEEP, 0, [*radonspec_command(), "run", str(study), "--store", str(store),
                         "--out", str(out)],
    )  # fmt: skip
    summary = read_summary(out) or {}
    cells = len(summary.get("models", {}))
    figures = _refit_figures(store)
    shutil.rmtree(store, ignore_errors=True)
    return {
        "ok": found.ok,
        "wall_s": found.wall_s,
        "cells": cells,
        "through_cache": figures["fits"],
        "compiles": figures["compiles"],
        "reused": figures["reused"],
        "reused_share": figures["reused"] / cells if cells else None,
    }


def cv_targets(sections: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 14's cross-validation targets, each with the value measured in this run."""
    cv = sections.get("cv")
    if not cv or "error" in cv:
        return []
    found = [
        target(
            "k-fold: fold refits / full fits (wall)",
            median_of(cv["kfold"]["refits_over_full_wall"]),
            1.5,
        )
    ]
    extended = cv.get("extended")
    if extended:
        found.append(
            target(
                "extended study cross-validation / before compile-once",
                median_of(extended["over_before"]),
                0.15,
            )
        )
    return found
