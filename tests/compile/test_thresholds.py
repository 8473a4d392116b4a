"""compile: a cumulative model's thresholds stay ordered under a prior the spec gives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from radonspec.compile.model import compile_model
from radonspec.fit.runner import study_frame
from radonspec.study.loader import load_study_text

STUDY = """\
spec_version: 1
name: t
data: {path: d.csv, levels: {rating: [low, mid, high, top]}}
models:
  m:
    formula: rating ~ x
    family: cumulative
    priors:
      threshold: Normal(0, 10)
      common: Normal(0, 10)
"""


@pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning")
def test_a_given_threshold_prior_is_ordered_and_finite_at_the_initial_point(
    tmp_path: Path,
) -> None:
    rng = np.random.default_rng(1)
    levels = np.array(["low", "mid", "high", "top"])
    pd.DataFrame({"rating": rng.choice(levels, 40), "x": rng.normal(size=40)}).to_csv(
        tmp_path / "d.csv", index=False
    )
    study = load_study_text(STUDY, tmp_path / "study.yaml")
    model = compile_model(study, "m", study_frame(study)).model
    model.build()
    pymc_model = model.backend.model
    point = pymc_model.initial_point()
    logp = pymc_model.compile_logp()(point)
    # before: three thresholds at 0, unordered, and the log density was -inf there
    assert np.isfinite(logp)
    assert "threshold_ordered__" in point
    prior = model.parameters["threshold"].prior
    assert prior.name == "Normal" and prior.args["sigma"] == 10
