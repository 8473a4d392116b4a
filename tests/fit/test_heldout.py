"""Held-out rows are scored with PyTensor's C backend: the values of the default backend.

``held_out_loglik`` evaluates Bambi's log density under ``_eval_mode`` (compiled C
kernels cached on disk) instead of PyTensor's default (a numba compile per call). The
reference is the same call under the default backend, for families whose log densities
take different paths: gaussian, bernoulli (a named event), poisson with an offset,
negative binomial and binomial with trials.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pytensor.compile.mode import get_default_mode

from radonspec.api import load_study
from radonspec.compile.model import compile_model
from radonspec.fit import heldout
from radonspec.fit.runner import study_frame
from radonspec.fit.sample import sample_model

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::FutureWarning"),  # Bambi's deprecations
    pytest.mark.filterwarnings("ignore:PyTensor could not link to a BLAS:UserWarning"),
]

STUDY = """\
spec_version: 1
name: heldout
data:
  path: data.csv
  categorical: [g]
defaults:
  sampler: {draws: 30, tune: 30, chains: 1, seed: 2}
models:
  gaussian:
    formula: y ~ x + (1|g)
  bernoulli:
    formula: e[yes] ~ x + (1|g)
    family: bernoulli
  poisson:
    formula: c ~ x + offset(log_e) + (1|g)
    family: poisson
  negbinomial:
    formula: c ~ x + (1|g)
    family: negativebinomial
  binomial:
    formula: p(s, n) ~ x + (1|g)
    family: binomial
"""


@pytest.mark.parametrize("name", ["gaussian", "bernoulli", "poisson", "negbinomial", "binomial"])
def test_held_out_rows_score_as_under_the_default_backend(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    rng = np.random.default_rng(3)
    size = 90
    x = rng.normal(size=size)
    y = x + np.repeat(rng.normal(size=9), 10) + rng.normal(size=size)
    pd.DataFrame(
        {
            "y": y,
            "x": x,
            "g": np.repeat([f"g{i}" for i in range(9)], 10),
            "e": np.where(y + rng.normal(size=size) > 0, "yes", "no"),
            "c": rng.poisson(np.exp(0.4 * x)),
            "log_e": 0.1 * rng.normal(size=size),
            "s": rng.binomial(10, 0.4, size=size),
            "n": np.full(size, 10),
        }
    ).to_csv(tmp_path / "data.csv", index=False)
    (tmp_path / "study.yaml").write_text(STUDY)
    study = load_study(tmp_path / "study.yaml")
    frame = study_frame(study, [name])
    held = frame["g"].isin(["g0", "g1"])
    train = frame[~held].reset_index(drop=True)
    compiled = compile_model(study, name, train, keep_levels=True)
    fit = sample_model(
        compiled,
        key="k",
        sampler=study.models[name].sampler,
        seed=1,
        posterior_only=True,
        reuse_compile=True,
    )
    assert fit.ok, fit.error
    test = compiled.design(frame[held].reset_index(drop=True))
    assert heldout._eval_mode() is not get_default_mode()
    got = heldout.held_out_loglik(compiled.model, fit.tree, test)
    monkeypatch.setattr(heldout, "_eval_mode", get_default_mode)
    expected = heldout.held_out_loglik(compiled.model, fit.tree, test)
    assert got.shape == expected.shape == (1, 30, int(held.sum()))
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
