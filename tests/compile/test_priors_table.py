"""compile: the priors table says which priors the spec gave."""

from __future__ import annotations

from pathlib import Path

import pytest

from radonspec.compile.model import compile_model, priors_table
from radonspec.fit.runner import study_frame
from radonspec.study.loader import load_study_text

STUDY = """\
spec_version: 1
name: p
data: {dataset: radon, categorical: [county]}
models:
  m:
    formula: [log_radon ~ floor + (1|county), sigma ~ floor]
    priors:
      common: Normal(0, 10)
      group_specific: Normal(0, sigma=HalfNormal(2))
      Intercept: Normal(1, 5)
"""


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_common_and_group_specific_priors_are_from_the_spec(tmp_path: Path) -> None:
    study = load_study_text(STUDY, tmp_path / "study.yaml")
    compiled = compile_model(study, "m", study_frame(study))
    table = priors_table(compiled.model, compiled.spec).set_index("term")
    assert table.loc["Intercept", "prior"] == "Normal(mu: 1.0, sigma: 5.0)"
    assert table.loc["floor", "prior"] == "Normal(mu: 0.0, sigma: 10.0)"
    assert table.loc["1|county", "prior"] == "Normal(mu: 0.0, sigma: HalfNormal(sigma: 2.0))"
    assert table["source"].to_dict() == {
        "Intercept": "spec",
        "floor": "spec",
        "1|county": "spec",
        # 'common' reaches the main parameter's terms only, as in Bambi
        "sigma_Intercept": "auto",
        "sigma_floor": "auto",
    }
