"""The benchmark's sections: each runs its contenders round robin and summarises them."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from bench.contenders import brms_seed
from bench.context import (
    BRMS,
    NUTPIE,
    PLAIN,
    PLAIN_NUTPIE,
    RADONSPEC,
    WARM,
    WARM_REPORT,
    Bench,
    contender_table,
    fit_figures,
    module_command,
    radonspec_command,
    read_result,
    read_summary,
    summary_checks,
    walls,
)
from bench.measure import Measurement
from bench.phases import phase_table
from bench.results import loglog_slope, median_of, ratio, summarise, target
from bench.studies import (
    CORE_MODELS,
    QUICK_MODELS,
    SCALING_VALUES,
    SEED_STUDY,
    scaling_data,
    scaling_study,
    scaling_thin,
    seed_study,
)

FIFTEEN_MINUTES = 900.0


def _reused(found: Measurement) -> int:
    """How many models a run's output says it reused from the store, and nothing sampled."""
    text = Path(found.log).read_text(errors="replace")
    return -1 if "sampling" in text else text.count("stored fit reused")


def section_seed(bench: Bench) -> dict[str, Any]:
    """(a) and (b): the seed study's three models from an empty store, then a warm store."""
    folder = bench.work / "seed"
    # quick mode leaves out unpooled: Bambi's default sampler on its dense design took 36 s
    # of the smoke test's two minutes, even at 50 draws
    models = CORE_MODELS if bench.mode == "full" else QUICK_MODELS
    study = seed_study(folder / "study.yaml", bench.sampling, models)
    brms_skipped = _brms_skipped(bench)
    plain = module_command(
        "bench.contenders.plain_bambi", *bench.sampling.argv(), "--models", *models
    )
    for rep in range(bench.reps):
        store, out = folder / f"store-{rep}", folder / f"out-{rep}"
        command = [*radonspec_command(), "run", str(study), "--store", str(store)]
        command += ["--out", str(out)]
        (out / "summary.json").unlink(missing_ok=True)
        found = bench.run("seed", RADONSPEC, rep, command)
        bench.note("seed", RADONSPEC, rep, found, summary_checks(read_summary(out)))
        # nothing changed: the stored fits and the report written from them are reused
        found = bench.run("warm", WARM, rep, command)
        checks: dict[str, Any] = {"models_reused": _reused(found)} if found.ok else {}
        if found.ok and checks["models_reused"] != len(models):
            checks["error"] = "the warm run sampled or rewrote what it had"
        bench.note("warm", WARM, rep, found, checks)
        # the same with the report gone, so the comparison and report are made again
        for name in ("summary.json", "report.html", "report.md", ".report-inputs.json"):
            (out / name).unlink(missing_ok=True)
        found = bench.run("warm", WARM_REPORT, rep, command)
        checks = summary_checks(read_summary(out)) if found.ok else {}
        if found.ok and not checks.get("all_cached"):
            checks.setdefault("error", "the warm run refitted models it had stored")
        bench.note("warm", WARM_REPORT, rep, found, checks)
        for name, extra in ((PLAIN, []), (PLAIN_NUTPIE, ["--method", "nutpie"])):
            result = folder / f"{'nutpie' if extra else 'default'}-{rep}.json"
            found = bench.run("seed", name, rep, [*plain, "--result", str(result), *extra])
            bench.note("seed", name, rep, found, {"result": read_result(result)})
        if brms_skipped is None:
            result = folder / f"brms-{rep}.json"
            command = brms_seed.command(bench.sampling, models, result)
            found = bench.run("seed", BRMS, rep, command)
            bench.note("seed", BRMS, rep, found, _brms_checks(found.ok, read_result(result)))
    seed = walls(bench, "seed", RADONSPEC)
    ratios = {
        f"{RADONSPEC} / {PLAIN}": ratio(seed, walls(bench, "seed", PLAIN)),
        f"{RADONSPEC} / {PLAIN_NUTPIE}": ratio(seed, walls(bench, "seed", PLAIN_NUTPIE)),
    }
    brms: dict[str, Any] = {}
    if brms_skipped is None:
        ratios[f"{RADONSPEC} / {BRMS}"] = ratio(seed, walls(bench, "seed", BRMS))
        brms["stages"] = {BRMS: _brms_stages(bench)}
    else:
        brms["skipped"] = {BRMS: brms_skipped}
    return {
        "seed_study": {
            "description": f"{', '.join(models)}; fit from an empty store, LOO"
            " comparison (radonspec: and its report)",
            "contenders": contender_table(bench, "seed"),
            "ratios": ratios,
            **brms,
        },
        "warm_store": {
            "description": "the same study run again on its store: nothing refitted; first"
            " unchanged (the report written from the same fits is reused), then with the report"
            " deleted (comparison and report made again)",
            "contenders": contender_table(bench, "warm"),
        },
    }


def _brms_skipped(bench: Bench) -> str | None:
    """Why the brms contender does not run in this harness run, or None if it does."""
    if bench.mode != "full":
        # Stan compiles each model for about a minute here, longer than quick mode's whole
        # seed section; the smoke test checks the harness, not brms
        return "not run in quick mode: Stan compiles each model for about a minute"
    return brms_seed.unavailable()


def _brms_checks(ok: bool, result: dict[str, Any]) -> dict[str, Any]:
    """The brms script's result, and an error if it exited 0 without one."""
    if ok and not result.get("models"):
        return {"result": result, "error": "brms_seed.R wrote no result"}
    return {"result": result}


def _brms_stages(bench: Bench) -> dict[str, Any]:
    """Seconds of brms's stages summed over the models, summarised over repetitions."""
    runs = [r for r in bench.runs if r["section"] == "seed" and r["contender"] == BRMS]
    stages: dict[str, Any] = {}
    for key in ("compile_s", "sample_s", "loo_s"):
        values: list[float | None] = []
        for run in runs:
            models = (run.get("result") or {}).get("models") or {}
            values.append(sum(m[key] for m in models.values()) if models else None)
        stages[key] = summarise(values)
    stages["load_s"] = summarise([(r.get("result") or {}).get("load_s") for r in runs])
    return stages


def section_hierarchical(bench: Bench) -> dict[str, Any]:
    """(c): minimum bulk ESS per second of the hierarchical model alone."""
    folder = bench.work / "hierarchical"
    study = seed_study(folder / "study.yaml", bench.sampling, ("hierarchical",))
    args = bench.sampling.argv()
    for rep in range(bench.reps):
        out = folder / f"out-{rep}"
        command = [*radonspec_command(), "run", str(study), "--store", str(folder / f"store-{rep}")]
        found = bench.run("hierarchical", RADONSPEC, rep, [*command, "--out", str(out)])
        extra = summary_checks(read_summary(out)) if found.ok else {}
        if found.ok and "error" not in extra:
            fit_path = read_summary(out)["models"]["hierarchical"]["fit_path"]  # type: ignore[index]
            extra.update(fit_figures(fit_path))
        _ess_rates(bench, RADONSPEC, rep, found, extra)
        for name, module, more in (
            (NUTPIE, "bench.contenders.nutpie_direct", []),
            (PLAIN, "bench.contenders.plain_bambi", ["--models", "hierarchical", "--no-compare"]),
        ):
            result = folder / f"{module.rsplit('.', 1)[1]}-{rep}.json"
            command = module_command(module, *args, "--result", str(result), *more)
            found = bench.run("hierarchical", name, rep, command)
            figures = read_result(result).get("models", {}).get("hierarchical", {})
            _ess_rates(bench, name, rep, found, dict(figures))
    table = contender_table(bench, "hierarchical")
    rates = {name: median_of(entry.get("ess_per_s")) for name, entry in table.items()}
    return {
        "hierarchical": {
            "description": "log_radon ~ floor + (floor | county), centered; minimum bulk ESS"
            " over all parameters per second of the contender's whole wall time (ess_per_s)"
            " and per second of sampling alone (ess_per_sample_s)",
            "contenders": table,
            "ratios": {
                f"ESS/s {RADONSPEC} / {NUTPIE}": _rate_ratio(rates, RADONSPEC, NUTPIE),
                f"ESS/s {RADONSPEC} / {PLAIN}": _rate_ratio(rates, RADONSPEC, PLAIN),
            },
        }
    }


def _ess_rates(
    bench: Bench, name: str, rep: int, found: Measurement, extra: dict[str, Any]
) -> None:
    ess, sample_s = extra.get("ess_bulk_min"), extra.get("sample_s")
    if found.ok and ess is not None:
        extra["ess_per_s"] = ess / found.wall_s
        if sample_s:
            extra["ess_per_sample_s"] = ess / sample_s
    elif found.ok and "error" not in extra:
        extra["error"] = "the contender reported no ESS"
    bench.note("hierarchical", name, rep, found, extra)


def _rate_ratio(rates: dict[str, float | None], top: str, bottom: str) -> float | None:
    a, b = rates.get(top), rates.get(bottom)
    return a / b if a is not None and b else None


def section_scaling(bench: Bench) -> dict[str, Any]:
    """(d): seconds per effective draw of ``y ~ x + (1|g)`` against the number of rows."""
    folder = bench.work / "scaling"
    studies: dict[int, tuple[Path, int]] = {}
    thin = {n: scaling_thin(n, bench.sampling) for n in bench.sizes}
    for n in bench.sizes:
        data, groups = scaling_data(folder / f"n{n}" / "data.csv", n)
        study = scaling_study(folder / f"n{n}" / "study.yaml", data, bench.sampling, thin[n])
        studies[n] = (study, groups)
    skipped: dict[int, str] = {}
    for rep in range(bench.scaling_reps or bench.reps):
        previous: tuple[int, float] | None = None
        for n in bench.sizes:
            if n in skipped:
                continue
            if previous is not None and rep == 0:
                # thinning cuts the per-draw work after sampling (log-likelihood, store, LOO)
                guess = previous[1] * n / previous[0] * thin[previous[0]] / thin[n]
                if guess > bench.scaling_timeout_s:
                    skipped[n] = (
                        f"not run: N={previous[0]} took {previous[1]:.0f} s, so linear scaling"
                        f" predicts {guess:.0f} s, over the {bench.scaling_timeout_s:.0f} s limit"
                    )
                    continue
            wall, error = _scaling_run(bench, n, rep, studies[n][0], folder / f"n{n}")
            if error is not None:
                # a larger N would fail the same way, only later
                for m in bench.sizes:
                    if m >= n:
                        skipped.setdefault(m, error if m == n else f"not run: N={n} failed")
                break
            previous = (n, wall)
    rows: list[dict[str, Any]] = []
    for n in bench.sizes:
        runs = [r for r in bench.runs if r["section"] == "scaling" and r["contender"] == f"N={n}"]
        ok = [r for r in runs if not r.get("error")]
        rows.append(
            {
                "n": n,
                "groups": studies[n][1],
                "thin": thin[n],
                "wall_s": summarise([r["wall_s"] for r in ok]),
                "ess_bulk_min": summarise([r.get("ess_bulk_min") for r in ok]),
                "s_per_eff_draw": summarise([r.get("s_per_eff_draw") for r in ok]),
                "peak_rss_mb": summarise([r["peak_rss_mb"] for r in ok]),
                "note": skipped.get(n),
                "runs": runs,
            }
        )
    # ESS of thinned draws is not that of the chains: the exponent uses unthinned sizes only
    measured = [row for row in rows if row["wall_s"]["median"] is not None and row["thin"] == 1]
    xs = [float(row["n"]) for row in measured]
    return {
        "scaling": {
            "description": "synthetic y = a[g] + b x + noise, J = min(N/10, 10000) groups,"
            " model y ~ x + (1|g) run through radonspec (JSON report only); sizes whose"
            f" log-likelihood would pass {SCALING_VALUES:.0e} values keep one draw in 'thin'"
            " (ESS then counts the kept draws only, so their s per effective draw is not"
            " comparable and the exponent leaves them out)",
            "sizes": rows,
            "exponent": {
                "s_per_eff_draw": loglog_slope(
                    xs, [median_of(row["s_per_eff_draw"]) for row in measured]
                ),
                "wall_s": loglog_slope(xs, [median_of(row["wall_s"]) for row in measured]),
            },
            "time_limit_s": bench.scaling_timeout_s,
        }
    }


def _scaling_run(
    bench: Bench, n: int, rep: int, study: Path, folder: Path
) -> tuple[float, str | None]:
    """One scaling run from an empty store; its wall seconds, or why it failed."""
    out, store = folder / f"out-{rep}", folder / f"store-{rep}"
    command = [*radonspec_command(), "run", str(study), "--out", str(out), "--store", str(store)]
    found = bench.run("scaling", f"N={n}", rep, command, timeout_s=bench.scaling_timeout_s)
    extra = summary_checks(read_summary(out)) if found.ok else {}
    try:
        if found.ok and "error" not in extra:
            summary = read_summary(out) or {}
            extra.update(fit_figures(summary["models"]["varying_intercept"]["fit_path"]))
            extra["s_per_eff_draw"] = found.wall_s / extra["ess_bulk_min"]
    finally:
        # a large N's fit holds gigabytes of log-likelihood and predictions
        shutil.rmtree(store, ignore_errors=True)
    record = bench.note("scaling", f"N={n}", rep, found, extra)
    error = record.get("error")
    return found.wall_s, (f"failed: {error}" if error else None)


def section_profile(bench: Bench) -> dict[str, Any]:
    """(f): one ``radonspec run`` of the seed study under the phase profiler."""
    folder = bench.work / "profile"
    folder.mkdir(parents=True, exist_ok=True)
    # full mode profiles the seed study as committed; quick mode a tiny copy of its quick
    # models (every phase is there; the smoke test needs no third compile)
    study = (
        SEED_STUDY
        if bench.mode == "full"
        else seed_study(folder / "study.yaml", bench.sampling, QUICK_MODELS)
    )
    result = folder / "phases.json"
    command = module_command("bench.phases", "--out", str(result), "--", "run", str(study))
    command += ["--store", str(folder / "store"), "--out", str(folder / "out")]
    command += ["--jobs", "1", "--quiet"]
    found = bench.run("profile", "radonspec (profiled, --jobs 1)", 0, command)
    profile = read_result(result)
    if profile:
        profile["process_wall_s"] = found.wall_s
        profile["phases"]["interpreter start + exit"] = max(0.0, found.wall_s - profile["wall_s"])
        print(phase_table({"phases": profile["phases"]}), flush=True)
    return {
        "profile": {
            "description": "one radonspec run under bench/phases.py (stack sampling), fits"
            " in-process (--jobs 1), empty store",
            "study": "specs/radon/seed.yaml" if bench.mode == "full" else "quick seed copy",
            "run": bench.runs[-1],
            **profile,
        }
    }


def section_memory(bench: Bench) -> dict[str, Any]:
    """(e): peak resident memory of every contender, from the subprocess measurements.

    Failed runs count too: a run stopped at the memory cap held at least that much.
    """
    rows = []
    keys = list(dict.fromkeys((r["section"], r["contender"]) for r in bench.runs))
    for section, contender in keys:
        runs = [r for r in bench.runs if (r["section"], r["contender"]) == (section, contender)]
        rows.append(
            {
                "section": section,
                "contender": contender,
                "peak_rss_mb": summarise([r["peak_rss_mb"] for r in runs]),
                "maxrss_mb": summarise([r["maxrss_mb"] for r in runs]),
                "tree_rss_mb": summarise([r["tree_rss_mb"] for r in runs]),
                "failed": sum(1 for r in runs if r.get("error")),
            }
        )
    return {"memory": {"method": MEMORY_METHOD, "rows": rows}}


MEMORY_METHOD = (
    "peak_rss_mb = max(maxrss_mb, tree_rss_mb); maxrss_mb: ru_maxrss of the command (largest"
    " single process of the tree), read by bench/peak.py, which forks it, so the harness's own"
    " peak is not carried into it; tree_rss_mb: largest sum of RSS over the command and its"
    " descendants, psutil polling every 0.1 s"
)


def targets(sections: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets, each with the measured value and whether it is met."""
    seed = sections.get("seed_study", {})
    ratios = seed.get("ratios", {})
    found = [
        target(
            "seed study wall: radonspec / plain Bambi (default)",
            median_of(ratios.get(f"{RADONSPEC} / {PLAIN}")),
            0.15,  # issue 14 (0.20 before it)
        ),
        target(
            "seed study wall: radonspec / plain Bambi (nutpie)",
            median_of(ratios.get(f"{RADONSPEC} / {PLAIN_NUTPIE}")),
            0.25,  # issue 14 (0.35 before it)
        ),
    ]
    warm = sections.get("warm_store", {}).get("contenders", {}).get(WARM, {})
    found.append(target("warm-store run wall", median_of(warm.get("wall_s")), 3.0, unit=" s"))
    hier = sections.get("hierarchical", {}).get("ratios", {})
    found.append(
        target(
            "hierarchical ESS/s: radonspec / nutpie direct",
            hier.get(f"ESS/s {RADONSPEC} / {NUTPIE}"),
            1.0,
            at_most=False,
        )
    )
    rs = seed.get("contenders", {}).get(RADONSPEC, {})
    # issue 14: no higher than when it was filed (the full run of 2026-11-24: 1,349 MB)
    found.append(target("seed study peak RSS", median_of(rs.get("peak_rss_mb")), 1349, unit=" MB"))
    scaling = sections.get("scaling", {})
    found.append(
        target(
            "scaling exponent of s per effective draw",
            scaling.get("exponent", {}).get("s_per_eff_draw"),
            1.0,
        )
    )
    million = [row for row in scaling.get("sizes", []) if row["n"] == 10**6]
    entry = target(
        "N = 10^6 fit wall",
        median_of(million[0]["wall_s"]) if million else None,
        FIFTEEN_MINUTES,
        unit=" s",
    )
    if million and million[0]["wall_s"]["median"] is None and million[0].get("note"):
        entry["met"] = False
        entry["note"] = million[0]["note"]
    found.append(entry)
    lakh = [row for row in scaling.get("sizes", []) if row["n"] == 10**5 and row["thin"] == 1]
    found.append(
        target(
            "N = 10^5 unthinned peak RSS",
            median_of(lakh[0]["peak_rss_mb"]) if lakh else None,
            4096,
            unit=" MB",
        )
    )
    return found
