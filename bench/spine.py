"""(g) The spine (issue 18): a report from stored fits, an unchanged study, a watch cycle.

Each repetition fits the seed study's models from an empty store (the cold run), then
writes the report to a new folder with every fit stored, runs the unchanged study again
with its report current, and times one ``watch`` cycle after a model's formula changed.
``import radonspec`` is timed in a fresh interpreter.
"""

from __future__ import annotations

import shutil
import sys
from typing import Any

from bench.context import (
    Bench,
    contender_table,
    module_command,
    radonspec_command,
    read_result,
    read_summary,
    summary_checks,
    walls,
)
from bench.results import median_of, ratio, target
from bench.studies import CORE_MODELS, QUICK_MODELS, seed_study

COLD = "radonspec (cold)"
NEW_OUT = "radonspec (fits stored, report to a new folder)"
CURRENT = "radonspec (unchanged, report current)"
WATCH = "watch cycle after one formula change"
IMPORT = "python -c 'import radonspec'"
#: Peak memory of `radonspec run` writing the seed study's report from stored fits
#: (three models, the full run's sampling) before issue 18, measured on commit db59b88 as
#: this section measures it (process tree, two repetitions: 804.2 and 803.7 MB; on the same
#: day the current code took 434.0 and 434.3 MB).
REPORT_PEAK_BEFORE_MB: float | None = 804.2


def section_spine(bench: Bench) -> dict[str, Any]:
    """(g): what a report costs once the fits are stored, and a watch cycle."""
    folder = bench.work / "spine"
    models = CORE_MODELS if bench.mode == "full" else QUICK_MODELS
    for rep in range(bench.reps):
        study = seed_study(folder / f"study-{rep}.yaml", bench.sampling, models)
        store = folder / f"store-{rep}"
        base = [*radonspec_command(), "run", str(study), "--store", str(store)]
        found = bench.run("spine", COLD, rep, [*base, "--out", str(folder / f"cold-{rep}")])
        bench.note("spine", COLD, rep, found, summary_checks(read_summary(folder / f"cold-{rep}")))
        out = folder / f"new-{rep}"
        found = bench.run("spine", NEW_OUT, rep, [*base, "--out", str(out)])
        checks = summary_checks(read_summary(out)) if found.ok else {}
        if found.ok and not checks.get("all_cached"):
            checks.setdefault("error", "a model was fitted again")
        bench.note("spine", NEW_OUT, rep, found, checks)
        bench.run("spine", CURRENT, rep, [*base, "--out", str(out)])
        result = folder / f"watch-{rep}.json"
        command = module_command(
            "bench.watchcycle", str(study), "--store", str(store), "--out",
            str(folder / f"watch-{rep}"), "--model", models[0], "--result", str(result),
        )  # fmt: skip
        found = bench.run("spine", WATCH, rep, command)
        bench.note("spine", WATCH, rep, found, read_result(result))
        bench.run("spine", IMPORT, rep, [sys.executable, "-c", "import radonspec"])
        shutil.rmtree(store, ignore_errors=True)
    table = contender_table(bench, "spine")
    watch_runs = [r for r in bench.runs if r["section"] == "spine" and r["contender"] == WATCH]
    overheads = [r.get("overhead_s") for r in watch_runs if not r.get("error")]
    return {
        "spine": {
            "description": f"{', '.join(models)} of the seed study: cold run from an empty"
            " store; the same with every fit stored and the report written to a new folder;"
            " unchanged with its report current; one watch cycle (in-process) after one"
            " model's formula changed, less that model's own fit; import radonspec",
            "contenders": table,
            "ratios": {
                f"{NEW_OUT} / {COLD}": ratio(
                    walls(bench, "spine", NEW_OUT), walls(bench, "spine", COLD)
                ),
            },
            "watch_overhead_s": overheads,
            "report_peak_before_mb": REPORT_PEAK_BEFORE_MB,
        }
    }


def spine_targets(sections: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 18's targets, each with the value measured in this run."""
    spine = sections.get("spine")
    if not spine:
        return []
    table = spine["contenders"]
    found = [
        target(
            "report from stored fits to a new folder / cold run",
            median_of(spine["ratios"][f"{NEW_OUT} / {COLD}"]),
            0.15,
        ),
        target(
            "unchanged study, report current",
            median_of(table.get(CURRENT, {}).get("wall_s")),
            1.5,
            unit=" s",
        ),
    ]
    overheads = [v for v in spine["watch_overhead_s"] if v is not None]
    found.append(
        target(
            "watch cycle after one formula change, beyond that model's fit",
            sorted(overheads)[len(overheads) // 2] if overheads else None,
            2.0,
            unit=" s",
        )
    )
    found.append(
        target(
            "python -c 'import radonspec'",
            median_of(table.get(IMPORT, {}).get("wall_s")),
            0.3,
            unit=" s",
        )
    )
    before = spine.get("report_peak_before_mb")
    if before:
        found.append(
            target(
                "peak memory of a report from stored fits",
                median_of(table.get(NEW_OUT, {}).get("peak_rss_mb")),
                float(before),
                unit=" MB",
            )
        )
    return found
