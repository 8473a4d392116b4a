"""What the plain contenders share: the seed study's models written in Bambi, ESS, output.

The priors mirror ``specs/radon/seed.yaml`` term by term, and predictors stay uncentered
(``center_predictors: false`` there), so every contender fits the same posterior.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
RADON_CSV = ROOT / "radonspec" / "data" / "datasets" / "radon.csv"
MODELS = ("pooled", "unpooled", "hierarchical")

FORMULAS = {
    "pooled": "log_radon ~ floor",
    "unpooled": "log_radon ~ 0 + county + county:floor",
    "hierarchical": "log_radon ~ floor + (floor | county)",
}


def radon_priors(name: str) -> dict[str, Any]:
    """The seed study's priors for model ``name``, as Bambi ``Prior`` objects."""
    import bambi as bmb

    wide = bmb.Prior("Normal", mu=0, sigma=100)
    sigma = bmb.Prior("HalfCauchy", beta=5)
    if name == "pooled":
        return {"Intercept": wide, "floor": wide, "sigma": sigma}
    if name == "unpooled":
        return {"county": wide, "county:floor": wide, "sigma": sigma}
    group = bmb.Prior("Normal", mu=0, sigma=bmb.Prior("HalfNormal", sigma=5))
    return {
        "Intercept": wide,
        "floor": wide,
        "1|county": group,
        "floor|county": group,
        "sigma": sigma,
    }


def radon_model(name: str, data: Path = RADON_CSV) -> Any:
    """The Bambi model ``name`` of the seed study, on the radon data."""
    import bambi as bmb
    import pandas as pd

    frame = pd.read_csv(data)
    return bmb.Model(
        FORMULAS[name],
        frame,
        priors=radon_priors(name),
        categorical=["county"],
        center_predictors=False,
        noncentered=False,
    )


def parameter_names(posterior: Any) -> list[str]:
    """Posterior variables that are parameters: no per-observation deterministics."""
    return [
        str(name)
        for name, var in posterior.data_vars.items()
        if "__obs__" not in var.dims
        and not str(name).endswith(("_log__", "_interval__", "_offset"))
    ]


def min_bulk_ess(tree: Any) -> tuple[float, str]:
    """Minimum bulk ESS over every parameter element, and the variable it belongs to.

    ``tree`` is a DataTree (or anything with a ``posterior`` group) from any contender;
    ESS is ArviZ's rank-normalised bulk ESS.
    """
    import arviz as az
    import numpy as np

    posterior = tree["posterior"].to_dataset() if hasattr(tree, "children") else tree.posterior
    names = parameter_names(posterior)
    found = az.ess(posterior[names], method="bulk")
    found = found.to_dataset() if hasattr(found, "to_dataset") else found
    worst = (float("inf"), "")
    for name in names:
        value = float(np.nanmin(np.asarray(found[name])))
        if value < worst[0]:
            worst = (value, name)
    return worst


def sampling_time(tree: Any) -> float | None:
    """Seconds the sampler itself reported (``posterior.attrs['sampling_time']``), if any."""
    attrs = tree["posterior"].attrs if hasattr(tree, "children") else tree.posterior.attrs
    value = attrs.get("sampling_time")
    return float(value) if value is not None else None


def sampler_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the sampler options every contender takes."""
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--target-accept", type=float, default=0.9)
    parser.add_argument("--seed", type=int, default=20221)
    parser.add_argument("--data", type=Path, default=RADON_CSV, help="radon CSV")
    parser.add_argument("--result", type=Path, required=True, help="JSON file to write")


def write_result(path: Path, result: dict[str, Any]) -> None:
    """Write a contender's result for the harness to read."""
    path.write_text(json.dumps(result, indent=2, default=float) + "\n")
