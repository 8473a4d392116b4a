"""Dimension names with a comma (``bs(x, df=4)_dim``) survive sampling with nutpie."""

from __future__ import annotations

from pathlib import Path

import pytest

from radonspec.compile.model import compile_model
from radonspec.fit.nutpiedims import STAND_IN, comma_free_dims
from radonspec.fit.runner import study_frame
from radonspec.fit.sample import sample_model
from radonspec.study.loader import load_study_text
from radonspec.study.schema import Study

DATA = Path(__file__).resolve().parents[1] / "fixtures" / "data"
STUDY = f"""\
spec_version: 1
name: spline
data: {{path: {DATA / "airquality.csv"}, dropna: true}}
defaults:
  sampler: {{backend: nutpie, draws: 30, tune: 30, chains: 1, seed: 3}}
models:
  spline:
    formula: Ozone ~ bs(Temp, df=4)
"""

pytestmark = [
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning"),
]


@pytest.fixture
def study(tmp_path: Path) -> Study:
    return load_study_text(STUDY, tmp_path / "study.yaml")


def test_comma_dims_are_renamed_for_the_fit_and_restored(study: Study) -> None:
    model = compile_model(study, "spline", study_frame(study)).model
    model.build()
    pm_model = model.backend.model
    before = (dict(pm_model.coords), dict(pm_model.named_vars_to_dims))
    with comma_free_dims(pm_model) as renames:
        assert renames == {"bs(Temp, df=4)_dim": f"bs(Temp{STAND_IN} df=4)_dim"}
        assert not any("," in dim for dim in pm_model.coords)
        dims = pm_model.named_vars_to_dims["bs(Temp, df=4)"]
        assert tuple(dims) == (f"bs(Temp{STAND_IN} df=4)_dim",)
    assert (dict(pm_model.coords), dict(pm_model.named_vars_to_dims)) == before


@pytest.mark.slow
def test_a_spline_samples_on_nutpie(study: Study) -> None:
    compiled = compile_model(study, "spline", study_frame(study))
    sampler = study.models["spline"].sampler
    fit = sample_model(compiled, key="k", sampler=sampler, seed=3)
    assert fit.ok, fit.error
    assert fit.tree is not None
    posterior = fit.tree["posterior"].to_dataset()
    assert posterior["bs(Temp, df=4)"].dims == ("chain", "draw", "bs(Temp, df=4)_dim")
    assert posterior.sizes["bs(Temp, df=4)_dim"] == 4
