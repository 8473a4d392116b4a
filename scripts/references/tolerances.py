"""Write each reference model's comparison tolerances into tests/fixtures/corpus/corpus.json.

    python scripts/references/tolerances.py      # after corpus.R, from the repository root

The rule and its reasons are in tests/fixtures/corpus/README.md ("Tolerances"); this script
applies it to the numbers in references.json (groups per factor, estimates, profile
intervals, rows), so that a test reads one number per quantity. Standard library only.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "corpus"

FIXED_SE = 0.5  # coefficients and thresholds: multiple of the reference SE
BOUNDARY_SD = 0.5  # relative tolerance of an SD whose profile interval reaches 0
# hand-set, each with its reason (README "Tolerances")
OVERRIDES: dict[str, dict[str, Any]] = {
    "orthodont_corr": {
        "cor": 0.35,
        "note": "profile fails (intercept at age 0 is far from the data): the correlation is"
        " weakly identified",
    },
}


def sd_tolerance(groups: int, rows: int) -> float:
    """Relative tolerance of a group SD estimated from ``groups`` levels and ``rows`` rows.

    ``1.5 / sqrt(2 (J - 1))`` is 1.5 relative SEs of an SD whose groups are each well measured;
    with under 10 rows per group the SD is less certain than J says (grouseticks' broods, 3.4
    chicks each: posterior mean 9.5% above the Laplace fit), so the floor rises to 0.2.
    """
    floor = 0.20 if rows / groups < 10 else 0.10
    return round(max(floor, 1.5 / math.sqrt(2 * (groups - 1))), 2)


def profile_interval(entry: dict[str, Any], term: str) -> list[float] | None:
    """The 95% profile interval of a group term's SD from any fit of the model that has one."""
    for fit in entry["fits"].values():
        for row in fit["group_sd"]:
            if row["term"] == term and row.get("ci95_profile"):
                interval: list[float] = row["ci95_profile"]
                return interval
    return None


def cor_tolerance(rho: float, groups: int) -> float:
    """Absolute tolerance of a correlation: 1.5 Fisher-z SEs on the rho scale, at least 0.15."""
    return round(max(0.15, 1.5 * (1 - rho**2) / math.sqrt(groups - 3)), 2)


def sigma_tolerance(rows: int) -> float:
    """Relative tolerance of a residual SD from ``rows`` observations."""
    return 0.05 if rows >= 100 else 0.10 if rows >= 30 else 0.15


def alpha_tolerance(family: str, rows: int, mixed: bool) -> float:
    """Relative tolerance of a negative binomial theta or a Gamma shape."""
    if family == "gamma":
        return 0.25 if rows < 100 else 0.10
    return 0.20 if mixed else 0.15


def tolerance(model: dict[str, Any], entry: dict[str, Any]) -> dict[str, Any]:
    """The tolerance block of one model, from its primary reference fit."""
    fit = entry["fits"][entry["primary"]]
    found: dict[str, Any] = {"fixed_se": FIXED_SE}
    if fit.get("thresholds"):
        found["thresholds_se"] = FIXED_SE
    sds: dict[str, float] = {}
    boundary: list[str] = []
    for row in fit["group_sd"]:
        interval = profile_interval(entry, row["term"])
        if interval is not None and interval[0] <= 1e-8:
            sds[row["term"]] = BOUNDARY_SD
            boundary.append(row["term"])
            continue
        sds[row["term"]] = sd_tolerance(fit["ngroups"][row["group"]], fit["nobs"])
        if interval is not None:
            # little information per group (bacteria: 2-5 binary visits per child) widens the
            # profile far beyond what the number of groups alone says
            half = (interval[1] - interval[0]) / 2
            sds[row["term"]] = max(sds[row["term"]], round(0.5 * half / row["sd"], 2))
    if sds:
        found["group_sd_rel"] = sds
    for row in fit["group_cor"]:
        found.setdefault("cor_abs", {})[" ~ ".join(row["terms"])] = cor_tolerance(
            row["cor"], fit["ngroups"][row["group"]]
        )
    if "sigma" in fit:
        found["sigma_rel"] = sigma_tolerance(fit["nobs"])
    if "alpha" in fit:
        found["alpha_rel"] = alpha_tolerance(model["bambi"]["family"], fit["nobs"], bool(sds))
    notes = []
    if boundary:
        notes.append(f"profile interval reaches 0 for {', '.join(boundary)}: boundary-adjacent")
    override = OVERRIDES.get(model["id"], {})
    if "cor" in override:
        found["cor_abs"] = {key: override["cor"] for key in found.get("cor_abs", {})}
    if "note" in override:
        notes.append(override["note"])
    if notes:
        found["note"] = "; ".join(notes)
    found["plus"] = "3 * mcse of the posterior mean"
    return found


def main() -> None:
    """Add or replace every model's ``tolerance`` in corpus.json."""
    corpus = json.loads((CORPUS / "corpus.json").read_text())
    references = json.loads((CORPUS / "references.json").read_text())["models"]
    for dataset in corpus["datasets"]:
        for model in dataset["models"]:
            model["tolerance"] = tolerance(model, references[model["id"]])
    text = json.dumps(corpus, indent=2, ensure_ascii=False) + "\n"
    (CORPUS / "corpus.json").write_text(text)


if __name__ == "__main__":
    main()
