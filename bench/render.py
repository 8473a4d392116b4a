"""RESULTS.md from results.json: one table per section, the targets, and how to rerun."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.phases import ORDER

FULL_COMMAND = ".venv/bin/python -m bench"
QUICK_COMMAND = ".venv/bin/python -m bench --quick"
#: The missed targets explained (gap, profile, what would close it), under the results.
ANALYSIS = Path(__file__).parent / "ANALYSIS.md"
FULL_REPS = 3


def fmt(value: Any, digits: int = 2) -> str:
    """A number for a table cell (``n/a`` when missing)."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:.{digits}f}" if abs(value) >= 0.01 or value == 0 else f"{value:.2e}"
    return str(value)


def stat(summary: dict[str, Any] | None, digits: int = 2) -> str:
    """``median [min, max]`` of a summary, or the median alone for one value."""
    if not summary or summary.get("median") is None:
        return "n/a"
    text = fmt(summary["median"], digits)
    if summary.get("n", 0) > 1:
        text += f" [{fmt(summary['min'], digits)}, {fmt(summary['max'], digits)}]"
    return text


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return [*lines, ""]


def render_markdown(results: dict[str, Any]) -> str:
    """The whole RESULTS.md text."""
    lines = ["# radonspec benchmark results", ""]
    if results["mode"] == "quick":
        lines += [
            "> **Quick mode.** This is a smoke test of the harness (tiny draws, one repetition"
            " each): the figures, ratios and target verdicts below are **not meaningful**."
            f" The full run is `{FULL_COMMAND}`.",
            "",
        ]
    elif results["settings"]["reps"] < FULL_REPS:
        lines += [
            f"> **{results['settings']['reps']} repetition(s)** instead of {FULL_REPS}:"
            + (" no [min, max] ranges, and" if results["settings"]["reps"] == 1 else "")
            + f" one noisy run moves a figure more. The full run is `{FULL_COMMAND}`.",
            "",
        ]
    lines += _header(results)
    lines += _targets(results.get("targets", []))
    sections = results.get("sections", {})
    for title, key, render in (
        ("(a) Seed study from an empty store", "seed_study", _contenders),
        ("(b) Warm store", "warm_store", _contenders),
        ("(c) Hierarchical model: minimum bulk ESS per second", "hierarchical", _hierarchical),
        ("(d) Scaling with the number of rows", "scaling", _scaling),
        ("(e) Peak resident memory", "memory", _memory),
        ("(f) Where the time goes", "profile", _profile),
        ("(g) The spine: reports from stored fits, watch, import", "spine", _spine),
        ("(h) Cross-validation and sweeps: compile once, fit many", "cv", _cv),
    ):
        if key not in sections:
            continue
        lines += [f"## {title}", ""]
        section = sections[key]
        if "error" in section:
            lines += [f"**The section failed:** {section['error']}", ""]
            continue
        if section.get("description"):
            lines += [section["description"].rstrip(".") + ".", ""]
        lines += render(section)
    failures = results.get("failures") or []
    if failures:
        lines += ["## Failed runs", ""]
        lines += [f"- {failure}" for failure in failures] + [""]
    if results["mode"] == "full" and ANALYSIS.is_file():
        # written by hand from a full run's figures and profile; kept across runs
        lines += [ANALYSIS.read_text().rstrip(), ""]
    lines += [
        "## Reproduce",
        "",
        "Full mode (3 repetitions, 4 chains x 1000 draws after 1000 tuning steps):"
        f" `{FULL_COMMAND}` (writes `bench/results.json` and this file)."
        f" Smoke test: `{QUICK_COMMAND}` (writes `bench/out/quick/`)."
        " `bench/README.md` explains the method.",
        "",
    ]
    return "\n".join(lines)


def _header(results: dict[str, Any]) -> list[str]:
    box, ver, settings = results["machine"], results["versions"], results["settings"]
    git = results.get("git", {})
    commit = (git.get("commit") or "unknown")[:12] + (
        " (uncommitted changes)" if git.get("dirty") else ""
    )
    packages = ", ".join(f"{name} {ver.get(name, '?')}" for name in ver)
    return [
        f"Measured {results['created']} in {results['mode']} mode"
        f" (`{results['command']}`, {fmt(results.get('harness_wall_s'), 0)} s in all).",
        "",
        f"- Machine: {box['cpu']}, {box['cores_usable']} usable cores, {box['memory_gb']} GB"
        f" memory, {box['os']}, Python {box['python']}",
        f"- Packages: {packages}",
        f"- Code: commit {commit}",
        f"- Sampling: {settings['chains']} chains x {settings['draws']} draws after"
        f" {settings['tune']} tuning steps, target_accept {settings['target_accept']};"
        f" {settings['reps']} repetition(s) per contender, run round robin, each in a fresh"
        " process. Cells show the median and [min, max] over repetitions.",
        _load(results, box),
        "",
    ]


def _load(results: dict[str, Any], box: dict[str, Any]) -> str:
    load = results.get("load_average") or {}
    start, end = (load.get(key) or [None] for key in ("start", "end"))
    text = f"- Load average (1 min) at start / end: {fmt(start[0])} / {fmt(end[0])}"
    busy = [value for value in (start[0], end[0]) if value is not None]
    if busy and max(busy) > box["cores_usable"]:
        text += " (above the core count: other processes competed for the CPU)"
    return text


def _targets(targets: list[dict[str, Any]]) -> list[str]:
    rows = []
    for item in targets:
        verdict = {True: "met", False: "**not met**", None: "not measured"}[item["met"]]
        value = fmt(item["value"], 3)
        if item.get("note"):
            value += f" ({item['note']})"
        rows.append([item["name"], item["target"], value, verdict])
    return ["## Targets", "", *table(["target", "goal", "measured (median)", "verdict"], rows)]


def _contenders(section: dict[str, Any]) -> list[str]:
    rows = []
    for name, entry in section.get("contenders", {}).items():
        failed = f"{entry['failed']} failed" if entry["failed"] else ""
        rows.append([name, stat(entry["wall_s"], 1), stat(entry["peak_rss_mb"], 0), failed])
    lines = table(["contender", "wall s", "peak RSS MB", "failures"], rows)
    ratios = section.get("ratios", {})
    if ratios:
        lines += table(
            ["ratio of wall times", "median [min, max]"],
            [[k, stat(v, 3)] for k, v in ratios.items()],
        )
    for name, stages in section.get("stages", {}).items():
        parts = ", ".join(
            f"{label} {stat(stages.get(key), 1)} s"
            for label, key in (
                ("R start and packages", "load_s"),
                ("Stan compile", "compile_s"),
                ("sampling", "sample_s"),
                ("LOO", "loo_s"),
            )
        )
        lines += [f"{name}, summed over the models: {parts}.", ""]
    for name, why in section.get("skipped", {}).items():
        lines += [f"{name}: {why}.", ""]
    lines += _errors(section)
    return lines


def _hierarchical(section: dict[str, Any]) -> list[str]:
    rows = []
    for name, entry in section.get("contenders", {}).items():
        rows.append(
            [
                name,
                stat(entry["wall_s"], 1),
                stat(entry.get("ess_bulk_min"), 0),
                stat(entry.get("ess_per_s"), 1),
                stat(entry.get("sample_s"), 2),
                stat(entry.get("ess_per_sample_s"), 0),
                stat(entry["peak_rss_mb"], 0),
            ]
        )
    header = [
        "contender",
        "wall s",
        "min bulk ESS",
        "ESS/s (wall)",
        "sampling s",
        "ESS/s (sampling)",
        "peak RSS MB",
    ]
    lines = table(header, rows)
    ratios = section.get("ratios", {})
    lines += table(["ratio", "value"], [[k, fmt(v, 3)] for k, v in ratios.items()])
    return lines + _errors(section)


def _scaling(section: dict[str, Any]) -> list[str]:
    rows = [
        [
            f"{row['n']:,}",
            f"{row['groups']:,}",
            str(row.get("thin", 1)),
            stat(row["wall_s"], 1),
            stat(row["ess_bulk_min"], 0),
            stat(row["s_per_eff_draw"], 4),
            stat(row["peak_rss_mb"], 0),
            row.get("note") or "",
        ]
        for row in section.get("sizes", [])
    ]
    header = [
        "N",
        "groups",
        "thin",
        "wall s",
        "min bulk ESS",
        "s per effective draw",
        "peak RSS MB",
        "note",
    ]
    exponent = section.get("exponent", {})
    return [
        *table(header, rows),
        "Fitted exponent b of cost ~ N^b (least squares on log-log over the unthinned sizes"
        " measured):"
        f" seconds per effective draw {fmt(exponent.get('s_per_eff_draw'), 3)},"
        f" wall seconds {fmt(exponent.get('wall_s'), 3)}.",
        "",
    ]


def _spine(section: dict[str, Any]) -> list[str]:
    lines = _contenders(section)
    overheads = [v for v in section.get("watch_overhead_s", []) if v is not None]
    if overheads:
        shown = ", ".join(f"{v:.2f} s" for v in overheads)
        lines += [f"Watch cycle beyond the changed model's own fit, per repetition: {shown}.", ""]
    return lines


def _cv(section: dict[str, Any]) -> list[str]:
    lines = _contenders(section)
    kfold = section.get("kfold", {})
    rows = []
    for row in kfold.get("rows", []):
        full, fold, refits = row.get("full", {}), row.get("kfold", {}), row.get("refits", {})
        over = (
            fmt(fold["refits_s"] / full["fit_study_s"], 2)
            if fold.get("refits_s") and full.get("fit_study_s")
            else "n/a"
        )
        rows.append(
            [
                str(row["rep"] + 1),
                fmt(full.get("fit_study_s"), 1),
                fmt(fold.get("refits_s"), 1),
                over,
                f"{refits.get('fits', 'n/a')} / {refits.get('compiles', 'n/a')}"
                f" / {fold.get('processes', 'n/a')}",
                fmt(refits.get("compile_s"), 1),
                fmt(refits.get("sample_s"), 1),
            ]
        )
    header = [
        "rep",
        "full fits s",
        "fold refits s",
        "refits / full",
        "refits / compiles / processes",
        "compile s (summed)",
        "sampling s (summed)",
    ]
    lines += [
        f"k-fold, k = {section.get('k')}: {', '.join(section.get('models', []))}. Seconds"
        " inside each process (full fits: the `fit_study` call; refits: until the last refit"
        " was stored). Compile and sampling seconds are summed over the refits from their"
        " stored records, across worker processes that run at the same time.",
        "",
        *table(header, rows),
        f"Refits / full fits: wall {stat(kfold.get('refits_over_full_wall'), 2)},"
        f" CPU {stat(kfold.get('refits_over_full_cpu'), 2)} (before compile-once:"
        f" {fmt(kfold.get('before'))}).",
        "",
    ]
    extended = section.get("extended")
    if extended:
        found = extended.get("refits") or [{}]
        parts = found[0]
        lines += [
            "The extended study's cross-validation with the seed's fits stored:"
            f" {stat(extended.get('wall_s'), 0)} s, peak {stat(extended.get('peak_rss_mb'), 0)}"
            f" MB; {stat(extended.get('over_before'), 3)} of the"
            f" {fmt(extended.get('before_s'), 0)} s it took before refits compiled once."
            f" Its {parts.get('fits', 'n/a')} refits compiled {parts.get('compiles', 'n/a')}"
            f" times ({fmt(parts.get('compile_s'), 0)} s summed) and sampled for"
            f" {fmt(parts.get('sample_s'), 0)} s summed.",
            "",
        ]
    sweep = section.get("sweep")
    if sweep:
        share = sweep.get("reused_share")
        lines += [
            f"The sweep example from an empty store: {fmt(sweep.get('wall_s'), 0)} s;"
            f" {sweep.get('cells')} cells, {sweep.get('through_cache')} through the compile"
            f" cache, {sweep.get('compiles')} compiles, {sweep.get('reused')} cells served by"
            " another cell's compile"
            + (f" ({share:.0%} of the cells)." if share is not None else "."),
            "",
        ]
    return lines


def _memory(section: dict[str, Any]) -> list[str]:
    rows = [
        [
            row["section"],
            row["contender"],
            stat(row["peak_rss_mb"], 0),
            stat(row["maxrss_mb"], 0),
            stat(row["tree_rss_mb"], 0),
            f"{row['failed']} failed" if row.get("failed") else "",
        ]
        for row in section.get("rows", [])
    ]
    header = ["section", "contender", "peak RSS MB", "largest process MB", "process tree MB", ""]
    return [
        *table(header, rows),
        f"Method: {section.get('method', '')}. Failed runs are included: one stopped at the"
        " memory cap held at least the figure shown.",
        "",
    ]


def _profile(section: dict[str, Any]) -> list[str]:
    phases: dict[str, float] = section.get("phases", {})
    if not phases:
        return ["No profile was recorded.", ""]
    total = sum(phases.values()) or 1.0
    names = [*ORDER, *(name for name in phases if name not in ORDER)]
    rows = [
        [name, fmt(phases.get(name, 0.0), 2), f"{phases.get(name, 0.0) / total:.1%}"]
        for name in names
    ]
    rows.append(["total", fmt(total, 2), "100%"])
    lines = table(["phase", "seconds", "share"], rows)
    leaves = section.get("top_leaves", {})
    ranked = sorted(phases, key=lambda name: phases[name], reverse=True)[:3]
    for name in ranked:
        if leaves.get(name):
            top = ", ".join(f"`{leaf}` {secs:.1f} s" for leaf, secs in leaves[name][:3])
            lines.append(f"- {name}: most time in {top}")
    return [
        *lines,
        "",
        "The phase rules are `PHASES` in `bench/phases.py`; bench/README.md explains them.",
        "",
    ]


def _errors(section: dict[str, Any]) -> list[str]:
    errors = [
        f"- {name}: {error}"
        for name, entry in section.get("contenders", {}).items()
        for error in entry.get("errors", [])
    ]
    return [*errors, ""] if errors else []
