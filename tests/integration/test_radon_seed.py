"""The seed notebook's findings hold on the seed study (reduced draws)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from radonspec.analysis.frequentist import mixedlm_table
from radonspec.analysis.grouplevel import group_estimates
from radonspec.analysis.loo import compare_fits
from radonspec.api import fit_study
from radonspec.fit.runner import plan_study
from radonspec.study.loader import load_study

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def seed(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("seed")
    path = folder / "seed-small.yaml"
    path.write_text(
        f"extends: {ROOT / 'specs/radon/seed.yaml'}\n"
        "name: radon-seed-small\n"
        "defaults:\n  sampler: {draws: 500, tune: 500}\n"
    )
    study = load_study(path)
    fits = fit_study(study, store=folder / "store", jobs=2)
    assert all(fit.ok for fit in fits.values()), {n: f.error for n, f in fits.items()}
    planned = {item.label: item for item in plan_study(study)}
    estimates = {}
    for name in ("unpooled", "hierarchical"):
        compiled = planned[name].compile(study)
        estimates[name] = group_estimates(
            compiled.model, fits[name].tree, compiled.data.frame, "county", "floor", name=name
        )
    data = planned["hierarchical"].compile(study).data.frame
    return {"study": study, "fits": fits, "estimates": estimates, "data": data}


def test_hierarchical_floor_effect(seed: dict) -> None:
    floor = seed["fits"]["hierarchical"].tree["posterior"]["floor"].values.mean()
    assert -0.85 <= floor <= -0.45


def test_cass_unpooled_slope_absurd_hierarchical_sensible(seed: dict) -> None:
    unpooled = seed["estimates"]["unpooled"].table.set_index("group").loc["CASS"]
    hier = seed["estimates"]["hierarchical"]
    population = hier.population["slope"]
    cass = hier.table.set_index("group").loc["CASS"]
    far = unpooled["slope_mean"] < population - 1.0
    wide = unpooled["slope_ub"] - unpooled["slope_lb"] > 2.0
    assert far or wide, unpooled
    assert abs(cass["slope_mean"] - population) < 0.3


def test_partial_pooling_shrinks_county_intercepts(seed: dict) -> None:
    spread = {name: est.table["intercept_mean"].std() for name, est in seed["estimates"].items()}
    assert spread["hierarchical"] < spread["unpooled"]


def test_hierarchical_has_the_best_loo(seed: dict) -> None:
    trees = {n: seed["fits"][n].tree for n in ("pooled", "unpooled", "hierarchical")}
    comparison = compare_fits(trees)
    assert comparison.rows[0].model == "hierarchical"


def test_mixedlm_agrees_with_the_posterior(seed: dict) -> None:
    table = mixedlm_table("log_radon ~ floor + (floor|county)", seed["data"])
    posterior = seed["fits"]["hierarchical"].tree["posterior"]
    for term in ("Intercept", "floor"):
        draws = posterior[term].values
        assert abs(table.loc[term, "estimate"] - draws.mean()) < draws.std(), term
    assert np.isfinite(table["estimate"]).all()
