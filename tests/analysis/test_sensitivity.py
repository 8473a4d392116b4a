"""The log prior power-scaling needs: each draw's prior density, checked against scipy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import radonspec
from radonspec.analysis.predictions import load_predictor
from radonspec.analysis.sensitivity import (
    CONFLICT,
    PRIOR_DOMINATES,
    _diagnosis,
    log_prior,
    scaled_priors,
)


def test_the_log_prior_of_every_draw_is_the_priors_density(
    toy: Path, fake_sampler: Any, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    fits = radonspec.fit_study(toy, store=store, jobs=1)
    model = load_predictor(radonspec.load_study(toy), "varying", store).model
    tree = fits["varying"].tree
    names = scaled_priors(model, tree)
    # the group intercepts' own distribution (or their offsets) is the model's, not a prior
    assert set(names) == {"Intercept", "x", "sigma", "1|g_sigma"}
    found = log_prior(model, tree, names)
    posterior = tree["posterior"]
    component = model.parameters["mu"]
    terms = {"Intercept": component.intercept_term, "x": component.common_terms["x"]}
    for name, term in terms.items():
        prior = term.prior
        mu, sigma = float(prior.args["mu"]), float(prior.args["sigma"])
        expected = stats.norm(mu, sigma).logpdf(posterior[name].values)
        np.testing.assert_allclose(found[name].values, expected, rtol=1e-9)
    prior = model.parameters["mu"].group_specific_terms["1|g"].prior.args["sigma"]
    scale = float(prior.args["sigma"])
    expected = stats.halfnorm(scale=scale).logpdf(posterior["1|g_sigma"].values)
    np.testing.assert_allclose(found["1|g_sigma"].values, expected, rtol=1e-9)


@pytest.mark.parametrize(
    ("prior", "noise", "likelihood", "likelihood_noise", "diagnosis"),
    [
        (0.5, 0.05, 0.5, 0.05, CONFLICT),
        (0.5, 0.05, 0.01, 0.05, PRIOR_DOMINATES),
        # a likelihood sensitivity that noise alone (x 1.5) reaches does not count
        (0.5, 0.05, 0.07, 0.05, PRIOR_DOMINATES),
        (0.06, 0.05, 0.5, 0.05, ""),  # nor does such a prior sensitivity
        (0.01, float("nan"), 0.5, float("nan"), ""),
    ],
)
def test_a_sensitivity_counts_above_threshold_and_noise(
    prior: float, noise: float, likelihood: float, likelihood_noise: float, diagnosis: str
) -> None:
    row = pd.Series(
        {
            "prior": prior,
            "prior_noise": noise,
            "likelihood": likelihood,
            "likelihood_noise": likelihood_noise,
        }  # fmt: skip
    )
    assert _diagnosis(row, 0.05) == diagnosis
