"""What every section shares: the harness run's state and how to run and read contenders."""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.measure import Measurement, measure
from bench.results import summarise
from bench.studies import Sampling

ROOT = Path(__file__).resolve().parents[1]

# contender names, as they appear in results.json and RESULTS.md
RADONSPEC = "radonspec"
WARM = "radonspec (warm store)"
WARM_REPORT = "radonspec (warm store, report rewritten)"
PLAIN = "plain Bambi (default sampler)"
PLAIN_NUTPIE = "plain Bambi (nutpie)"
NUTPIE = "nutpie direct"
BRMS = "brms (R, Stan compile included)"


@dataclass
class Bench:
    """One harness run: settings, scratch folder, and every measurement so far."""

    mode: str
    sampling: Sampling
    reps: int
    sizes: list[int]
    work: Path
    timeout_s: float
    scaling_timeout_s: float
    mem_cap_mb: float
    scaling_reps: int | None = None  # repetitions of the scaling series [reps]
    runs: list[dict[str, Any]] = field(default_factory=list)

    def run(
        self,
        section: str,
        contender: str,
        rep: int,
        command: list[str],
        *,
        timeout_s: float | None = None,
    ) -> Measurement:
        """Measure one command in a fresh subprocess, print a line, and record it."""
        slug = "".join(c if c.isalnum() else "-" for c in f"{section}-{contender}-{rep}")
        started = time.strftime("%H:%M:%S")
        print(f"[{started}] {section}: {contender} (rep {rep + 1}) ...", flush=True)
        found = measure(
            command,
            cwd=self.work,
            log=self.work / "logs" / f"{slug}.log",
            env=child_env(),
            timeout_s=timeout_s or self.timeout_s,
            mem_cap_mb=self.mem_cap_mb,
        )
        verdict = "ok" if found.ok else f"FAILED: {found.error}"
        print(f"    {found.wall_s:.1f} s, {found.peak_rss_mb:.0f} MB peak, {verdict}", flush=True)
        self.note(section, contender, rep, found, {})
        return found

    def note(
        self, section: str, contender: str, rep: int, found: Measurement, extra: dict[str, Any]
    ) -> dict[str, Any]:
        """Record a run, or add contender-specific figures to one already recorded."""
        for record in self.runs:
            if (record["section"], record["contender"], record["rep"]) == (section, contender, rep):
                record.update(extra)
                break
        else:
            record = {"section": section, "contender": contender, "rep": rep, **found.to_json()}
            record.update(extra)
            self.runs.append(record)
        if extra.get("error"):
            record["ok"] = False
            print(f"    FAILED: {extra['error']}", flush=True)
        return record

    def failures(self) -> list[str]:
        """One line per failed run."""
        return [
            f"{r['section']} / {r['contender']} rep {r['rep'] + 1}: {r['error']}"
            for r in self.runs
            if r.get("error")
        ]


def child_env() -> dict[str, str]:
    """The children's environment: this checkout first on the import path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if "PYTHONPATH" in env else "")
    return env


def radonspec_command() -> list[str]:
    """The ``radonspec`` console script of this interpreter's environment."""
    script = Path(sys.executable).parent / "radonspec"
    return [str(script)] if script.exists() else [sys.executable, "-m", "radonspec"]


def module_command(module: str, *args: str) -> list[str]:
    """``python -m MODULE ARGS`` with this interpreter."""
    return [sys.executable, "-m", module, *args]


def read_summary(out: Path) -> dict[str, Any] | None:
    """The ``summary.json`` a radonspec run wrote to ``out``, if any."""
    try:
        loaded: dict[str, Any] = json.loads((out / "summary.json").read_text())
        return loaded
    except (OSError, ValueError):
        return None


def summary_checks(summary: dict[str, Any] | None) -> dict[str, Any]:
    """Per-model status, cache flag and seconds from a summary; an error if a fit failed."""
    if summary is None:
        return {"error": "no summary.json was written"}
    models = summary.get("models", {})
    failed = [f"{name}: {m.get('error')}" for name, m in models.items() if m.get("status") != "ok"]
    found: dict[str, Any] = {
        "models": {
            name: {
                "status": m.get("status"),
                "cached": m.get("cached"),
                "seconds": m.get("seconds"),
                "ess_bulk_min": (m.get("diagnostics") or {}).get("ess_bulk_min"),
            }
            for name, m in models.items()
        },
        "all_cached": bool(models) and all(m.get("cached") for m in models.values()),
    }
    if failed:
        found["error"] = "model fits failed: " + "; ".join(failed)
    return found


def fit_figures(fit_path: str) -> dict[str, Any]:
    """Minimum bulk ESS and the sampler's own seconds, read from a stored fit."""
    import xarray as xr

    from bench.contenders.shared import min_bulk_ess, sampling_time

    with xr.open_datatree(fit_path, engine="h5netcdf") as tree:
        posterior = xr.DataTree(tree["posterior"].to_dataset().load())
        holder = xr.DataTree(children={"posterior": posterior})
        ess, worst = min_bulk_ess(holder)
        return {"ess_bulk_min": ess, "ess_bulk_min_var": worst, "sample_s": sampling_time(holder)}


def read_result(path: Path) -> dict[str, Any]:
    """A contender script's result file (empty if it did not write one)."""
    try:
        loaded: dict[str, Any] = json.loads(path.read_text())
        return loaded
    except (OSError, ValueError):
        return {}


def contender_table(bench: Bench, section: str) -> dict[str, Any]:
    """Every contender of a section: its runs and the summaries of its figures."""
    names = list(dict.fromkeys(r["contender"] for r in bench.runs if r["section"] == section))
    table: dict[str, Any] = {}
    for name in names:
        runs = [r for r in bench.runs if r["section"] == section and r["contender"] == name]
        ok = [r for r in runs if not r.get("error")]
        entry: dict[str, Any] = {
            "runs": runs,
            "failed": len(runs) - len(ok),
            "errors": [r["error"] for r in runs if r.get("error")],
            "wall_s": summarise([r["wall_s"] for r in ok]),
            "peak_rss_mb": summarise([r["peak_rss_mb"] for r in ok]),
        }
        for key in ("ess_bulk_min", "sample_s", "ess_per_s", "ess_per_sample_s"):
            if any(key in r for r in runs):
                entry[key] = summarise([r.get(key) for r in ok])
        table[name] = entry
    return table


def walls(bench: Bench, section: str, contender: str) -> list[float | None]:
    """Wall seconds of a contender per repetition (None where the run failed)."""
    by_rep = {
        r["rep"]: (None if r.get("error") else r["wall_s"])
        for r in bench.runs
        if r["section"] == section and r["contender"] == contender
    }
    return [by_rep.get(rep) for rep in range(bench.reps)]
