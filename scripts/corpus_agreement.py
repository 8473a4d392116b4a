"""The corpus agreement table: every corpus model fitted as the corpus test fits it, against R.

Runs each data set of tests/fixtures/corpus as one study (tests/integration/corpus_studies.py,
the corpus test's sampler: nutpie, 2 chains x 300 draws), two at a time, and writes a
Markdown table with, per model, the largest distance of a posterior mean from R's primary
estimate in R's standard errors (coefficients and thresholds), the largest relative
distance of a group SD, the correlation's absolute distance, and whether every quantity is
within the corpus tolerance (plus 3 Monte Carlo SEs), which is what the corpus test asserts.

    .venv/bin/python scripts/corpus_agreement.py --work /tmp/corpus --out AGREEMENT.md

``--work`` keeps the store, so a second call only re-reads the fits.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from corpus_studies import (  # noqa: E402
    DATASETS,
    HARD,
    checks,
    model_entries,
    reference_fit,
    run_study,
    tolerance,
)

SAMPLER = "{backend: nutpie, draws: 300, tune: 300, chains: 2, seed: 7}"
REPORT = "report:\n  frequentist: true\n"


def agreement(model: str, parameters: dict[str, Any]) -> dict[str, Any]:
    """Distances of one fitted model's posterior means from its references (``checks``)."""
    largest: dict[str, float] = {}
    within = True
    for check in checks(model, parameters):
        row = parameters.get(check.label) or {"mean": float("nan"), "mcse_mean": 0.0}
        distance = abs(row["mean"] - check.estimate)
        within &= distance <= check.allowed + 3 * (row["mcse_mean"] or 0.0)
        largest[check.kind] = max(largest.get(check.kind, 0.0), distance / check.scale)
    return {
        "fixed_z": largest.get("coefficient", 0.0),
        "sd_rel": largest.get("sd", 0.0),
        "cor_abs": largest.get("cor"),
        "within": bool(within),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="folder for studies and store")
    parser.add_argument("--out", type=Path, help="write the Markdown table here too")
    parser.add_argument(
        "--read-only",
        action="store_true",
        help="read the summaries already under WORK/out (the corpus test's folder) and run nothing",
    )
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    outs = {dataset: args.work / "out" / dataset for dataset in DATASETS}
    if not args.read_only:
        outs = run_all(args.work)
    table = agreement_table(outs)
    print(table)
    if args.out:
        args.out.write_text(table)


def run_all(work: Path) -> dict[str, Path]:
    """Every corpus study run (two at a time); their report folders."""
    jobs = {}
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
        for dataset in DATASETS:
            models = [
                m["id"] for m in model_entries(dataset, correlated=True) if m["id"] not in HARD
            ]
            jobs[dataset] = pool.submit(run_study, dataset, str(work), SAMPLER, models, REPORT)
        return {dataset: Path(job.result()) for dataset, job in jobs.items()}


def agreement_table(outs: dict[str, Path]) -> str:
    """The Markdown table of every corpus model's agreement with R."""
    lines = [
        "| data set | model | family | R engine | max \\|Δ\\| / SE (coefficients) "
        "| max relative Δ (group SDs) | \\|Δ\\| correlation | within tolerance |",
        "|---|---|---|---|---:|---:|---:|---|",
    ]
    for dataset, out in outs.items():
        summary = json.loads((out / "summary.json").read_text())
        for entry in model_entries(dataset, correlated=True):
            model = entry["id"]
            if model in HARD:
                continue
            found = summary["models"][model]
            if found["status"] != "ok":
                lines.append(f"| {dataset} | {model} | | | | | | failed: {found['error']} |")
                continue
            a = agreement(model, found["parameters"])
            cor = "" if a["cor_abs"] is None else f"{a['cor_abs']:.2f}"
            sd = f"{a['sd_rel']:.2f}" if reference_fit(model).get("group_sd") else ""
            engine = entry["r"]["engine"]
            if tolerance(model).get("posterior_reference"):
                engine += " (SDs, correlation: brms)"
            lines.append(
                f"| {dataset} | {model} | {entry['bambi']['family']} | {engine} "
                f"| {a['fixed_z']:.2f} | {sd} | {cor} | {'yes' if a['within'] else 'NO'} |"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
