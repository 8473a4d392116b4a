"""The studies and data the harness hands to ``radonspec run``, written to a temporary folder.

Each study is a standalone YAML file (no ``extends``): the seed study's models cannot be
removed by a deep merge, and section (a) needs exactly three of its four.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[1]
SEED_STUDY = ROOT / "specs" / "radon" / "seed.yaml"
CORE_MODELS = ("pooled", "unpooled", "hierarchical")
#: The seed study's models in quick (smoke) mode.
QUICK_MODELS = ("pooled", "hierarchical")


@dataclass(frozen=True)
class Sampling:
    """Sampler settings shared by every contender of a run."""

    draws: int
    tune: int
    chains: int
    target_accept: float = 0.9
    seed: int = 20221

    def yaml(self) -> dict[str, Any]:
        """The settings as a study's ``defaults.sampler`` mapping (nutpie backend)."""
        return {
            "backend": "nutpie",
            "draws": self.draws,
            "tune": self.tune,
            "chains": self.chains,
            "seed": self.seed,
            "target_accept": self.target_accept,
        }

    def argv(self) -> list[str]:
        """The settings as arguments of the plain contender scripts."""
        return [
            f"--draws={self.draws}",
            f"--tune={self.tune}",
            f"--chains={self.chains}",
            f"--target-accept={self.target_accept}",
            f"--seed={self.seed}",
        ]


def read_yaml(path: Path) -> dict[str, Any]:
    """A YAML file as plain dicts and lists."""
    loaded: dict[str, Any] = YAML(typ="safe").load(path.read_text())
    return loaded


def write_yaml(data: dict[str, Any], path: Path) -> Path:
    """Write ``data`` as YAML to ``path`` and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    yaml = YAML(typ="safe")
    yaml.default_flow_style = False
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[assignment]  # model order
    with path.open("w") as stream:
        yaml.dump(data, stream)
    return path


def seed_study(
    path: Path,
    sampling: Sampling,
    models: tuple[str, ...] = CORE_MODELS,
    seed: Path = SEED_STUDY,
) -> Path:
    """The seed study restricted to ``models``, with ``sampling`` as every model's sampler.

    The report keeps the seed's settings; a shrinkage section whose models are not both
    kept is dropped, since it would name a missing model.
    """
    study = copy.deepcopy(read_yaml(seed))
    study["name"] = "bench-seed" if models == CORE_MODELS else "bench-" + "-".join(models)
    study["models"] = {name: study["models"][name] for name in models}
    for spec in study["models"].values():
        spec.pop("sampler", None)  # a model's own sampler would beat the defaults
    study.setdefault("defaults", {})["sampler"] = sampling.yaml()
    study["compare"] = {**study.get("compare", {}), "models": list(models)}
    report = study.get("report", {})
    shrinkage = report.get("shrinkage") or {}
    if shrinkage and not {shrinkage.get("from"), shrinkage.get("to")} <= set(models):
        report.pop("shrinkage")
    return write_yaml(study, path)


def scaling_data(path: Path, rows: int, seed: int = 1) -> tuple[Path, int]:
    """Radon-like synthetic data: ``rows`` rows in J = min(rows/10, 10000) groups.

    ``y = a[g] + b * x + noise`` with binary ``x``; every group gets at least one row
    (groups are dealt round-robin, then shuffled). Returns the CSV path and J.
    """
    import pandas as pd

    groups = max(1, min(rows // 10, 10_000))
    rng = np.random.default_rng(seed)
    g = rng.permutation(np.arange(rows) % groups)
    x = rng.integers(0, 2, size=rows)
    a = rng.normal(1.5, 0.5, size=groups)
    y = a[g] - 0.6 * x + rng.normal(0.0, 0.75, size=rows)
    frame = pd.DataFrame({"y": np.round(y, 6), "x": x, "g": [f"g{j}" for j in g]})
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path, groups


#: The most log-likelihood values a scaling fit keeps (3.2 GB as float64): the 10^5-row fit
#: with 4 x 1000 draws. Larger N keep one draw in ``scaling_thin``.
SCALING_VALUES = 4 * 10**8


def scaling_thin(n: int, sampling: Sampling) -> int:
    """``sampler.thin`` of the N-row scaling fit: 1 up to 10^5 rows at full settings.

    Beyond that the log-likelihood (draws x rows) outgrows memory, 32 GB at 10^6 rows,
    and PSIS-LOO needs all of it at once; a user would thin, as the memory refusal says.
    """
    return max(1, -(-sampling.draws * sampling.chains * n // SCALING_VALUES))


def scaling_study(path: Path, data: Path, sampling: Sampling, thin: int = 1) -> Path:
    """A one-model study ``y ~ x + (1|g)`` over ``data`` (Bambi's default priors).

    The report is JSON only: the figure is the cost of fitting and comparing, and per-group
    plots of up to 10000 groups would measure matplotlib instead. No posterior predictive
    draws are stored (``predictive: false``), at every size alike: at 10^5 rows they alone
    are 3.2 GB, and nothing the section measures reads them. ``thin``: see ``scaling_thin``.
    """
    sampler = {**sampling.yaml(), "predictive": False}
    if thin > 1:
        sampler["thin"] = thin
    study = {
        "spec_version": 1,
        "name": "bench-scaling",
        "data": {"path": str(data), "categorical": ["g"]},
        "defaults": {"family": "gaussian", "sampler": sampler},
        "models": {"varying_intercept": {"formula": "y ~ x + (1|g)"}},
        "compare": {"criterion": "loo", "models": ["varying_intercept"]},
        "report": {"title": "Scaling", "formats": ["json"]},
    }
    return write_yaml(study, path)
