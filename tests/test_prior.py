from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from rich.console import Console

from radonspec.experiment.commands import print_prior_checks
from radonspec.experiment.prior import prior_check, prior_checks, prior_table
from radonspec.experiment.scaffold import write_scaffold
from radonspec.spec.loader import load_study

ROOT = Path(__file__).resolve().parents[1]


def tree(observed: np.ndarray, predicted: np.ndarray) -> xr.DataTree:
    obs = xr.Dataset({"y": (("__obs__",), observed)})
    pred = xr.Dataset({"y": (("chain", "draw", "__obs__"), predicted)})
    return xr.DataTree.from_dict({"observed_data": obs, "prior_predictive": pred})


def test_a_sensible_prior_passes() -> None:
    rng = np.random.default_rng(0)
    check = prior_check(tree(rng.normal(size=200), rng.normal(0, 1.5, (1, 100, 200))), model="m")
    assert check.passed and check.problems == ()
    assert check.variable == "y" and check.draws == 100
    assert 0.7 < check.share_in_range < 1
    assert 1 < check.spread_ratio < 2


def test_an_absurd_prior_is_flagged_with_the_interval_it_predicts() -> None:
    rng = np.random.default_rng(0)
    check = prior_check(tree(rng.normal(size=200), rng.normal(0, 100, (2, 50, 200))), model="m")
    assert not check.passed
    assert check.share_in_range < 0.05
    assert check.problems[0].startswith("only 2% of prior predictive values of 'y' fall inside")
    assert "the priors allow data nothing like these" in check.problems[0]
    assert "times as wide as the data's (at most 10 expected)" in check.problems[1]
    table = prior_table({"m": check})
    assert list(table["passed"]) == [False]
    assert table.loc[0, "prior_q95"] > 100


@pytest.mark.slow
def test_the_seed_priors_are_flagged_and_init_priors_pass(tmp_path: Path) -> None:
    seed = load_study(ROOT / "specs/radon/seed.yaml")
    checks = prior_checks(seed, draws=100, models=["pooled"])
    assert not checks["pooled"].passed  # Normal(0, 100) on log radon
    output = tmp_path / "init.yaml"
    write_scaffold("radon", "log_radon", "county", ["floor"], output=output)
    sensible = prior_checks(load_study(output), draws=100)
    assert list(sensible) == ["pooled", "unpooled", "hierarchical"]
    assert all(check.passed for check in sensible.values()), prior_table(sensible)
    buffer = io.StringIO()
    code = print_prior_checks(
        {"seed": checks["pooled"], **sensible}, Console(file=buffer, width=200)
    )
    assert code == 2
    assert "implausible" in buffer.getvalue() and "pooled: only" in buffer.getvalue()
