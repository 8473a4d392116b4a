"""compile: a cumulative model's thresholds stay ordered under a prior the spec gives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from radonspec.compile.model import compile_model
from radonspec.errors import CompileError
from radonspec.fit.runner import study_frame
from radonspec.study.loader import load_study_text

STUDY = """\
spec_version: 1
name: t
data: {{path: d.csv, levels: {{rating: [low, mid, high, top]}}}}
models:
  m:
    formula: rating ~ x
    family: cumulative
    priors:
      threshold: {prior}
      common: Normal(0, 10)
"""


def _study(tmp_path: Path, prior: str) -> object:
    rng = np.random.default_rng(1)
    levels = np.array(["low", "mid", "high", "top"])
    pd.DataFrame({"rating": rng.choice(levels, 40), "x": rng.normal(size=40)}).to_csv(
        tmp_path / "d.csv", index=False
    )
    return load_study_text(STUDY.format(prior=prior), tmp_path / "study.yaml")


@pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning")
def test_a_given_threshold_prior_is_ordered_and_finite_at_the_initial_point(
    tmp_path: Path,
) -> None:
    study = _study(tmp_path, '"Normal([-2, 0, 2], 10)"')
    model = compile_model(study, "m", study_frame(study)).model  # type: ignore[arg-type]
    model.build()
    pymc_model = model.backend.model
    point = pymc_model.initial_point()
    # before: the thresholds were unordered, free to cross, and Bambi's draws invalid
    assert "threshold_ordered__" in point
    assert np.isfinite(pymc_model.compile_logp()(point))
    prior = model.parameters["threshold"].prior
    assert prior.name == "Normal" and prior.args["sigma"] == 10


@pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning")
def test_one_location_for_every_threshold_is_refused_with_an_example(tmp_path: Path) -> None:
    study = _study(tmp_path, "Normal(0, 10)")
    with pytest.raises(
        CompileError,
        match=r"model 'm': the prior on 'threshold' must give one increasing location per"
        r" threshold \(3 for 4 levels\), lowest first, so that the thresholds start in order;"
        r" for example threshold: Normal\(\[-2, 0, 2\], 10\)",
    ):
        compile_model(study, "m", study_frame(study))  # type: ignore[arg-type]
