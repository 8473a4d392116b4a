"""Held-out rows are scored as Bambi scores them, compiled once per structure.

``held_out_loglik`` evaluates Bambi's log density under ``_eval_mode`` (compiled C
kernels cached on disk) instead of PyTensor's default (a numba compile per call), and
through ``_Structures``, which compiles a graph's function once and feeds it the next
graph's arrays. The references are the same call under the default backend and Bambi's
own ``eval`` (a compile per call), for families whose log densities take different
paths: gaussian, bernoulli (a named event), poisson with an offset, negative binomial,
binomial with trials, cumulative and categorical (whose response Bambi needs as level
codes for new rows). The ordinal one is also written out by hand.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
import pytest
from pytensor.compile.mode import get_default_mode
from scipy.special import expit

from radonspec.api import load_study
from radonspec.compile.model import compile_model
from radonspec.fit import heldout
from radonspec.fit.runner import study_frame
from radonspec.fit.sample import sample_model

pytestmark = [
    pytest.mark.filterwarnings("ignore::FutureWarning"),  # Bambi's deprecations
    pytest.mark.filterwarnings("ignore:PyTensor could not link to a BLAS:UserWarning"),
]

STUDY = """\
spec_version: 1
name: heldout
data:
  path: data.csv
  categorical: [g]
  levels: {o: [Low, Medium, High]}
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
  cumulative:
    formula: o ~ 0 + x + (1|g)
    family: cumulative
  categorical:
    formula: o ~ x + (1|g)
    family: categorical
"""


def write_data(folder: Path) -> None:
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
            "o": pd.cut(y, [-np.inf, -0.5, 0.5, np.inf], labels=["Low", "Medium", "High"]),
            "s": rng.binomial(10, 0.4, size=size),
            "n": np.full(size, 10),
        }
    ).to_csv(folder / "data.csv", index=False)
    (folder / "study.yaml").write_text(STUDY)


def refit(folder: Path, name: str, held: Callable[[pd.DataFrame], Any]) -> tuple[Any, Any, Any]:
    """The compiled model and fit on the rows ``held`` leaves, and the held rows, coded."""
    write_data(folder)
    study = load_study(folder / "study.yaml")
    frame = study_frame(study, [name])
    mask = held(frame)
    compiled = compile_model(study, name, frame[~mask].reset_index(drop=True), keep_levels=True)
    fit = sample_model(
        compiled,
        key="k",
        sampler=study.models[name].sampler,
        seed=1,
        posterior_only=True,
        reuse_compile=True,
    )
    assert fit.ok, fit.error
    return compiled, fit, compiled.design(frame[mask].reset_index(drop=True))


def two_groups(frame: pd.DataFrame) -> Any:
    return frame["g"].isin(["g0", "g1"])


FAMILIES = [
    "gaussian",
    "bernoulli",
    "poisson",
    "negbinomial",
    "binomial",
    "cumulative",
    "categorical",
]


@pytest.mark.slow
@pytest.mark.parametrize("name", FAMILIES)
def test_held_out_rows_score_as_under_the_default_backend(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    compiled, fit, test = refit(tmp_path, name, two_groups)
    assert heldout._eval_mode() is not get_default_mode()
    got = heldout.held_out_loglik(compiled.model, fit.tree, test)
    monkeypatch.setattr(heldout, "_eval_mode", get_default_mode)
    expected = heldout.held_out_loglik(compiled.model, fit.tree, test)
    assert got.shape == expected.shape == (1, 30, len(test))
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("name", FAMILIES)
def test_a_structure_compiles_once_and_scores_as_bambis_own_eval(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    compiled, fit, test = refit(tmp_path, name, two_groups)
    structures = heldout._Structures()
    monkeypatch.setattr(heldout, "STRUCTURES", structures)
    few = test.iloc[:7]  # other rows, fewer of them: the same structure
    got = heldout.held_out_loglik(compiled.model, fit.tree, test)
    got_few = heldout.held_out_loglik(compiled.model, fit.tree, few)
    assert (structures.compiles, structures.hits) == (1, 1)
    monkeypatch.setattr(heldout, "_evaluating_once_per_structure", contextlib.nullcontext)
    expected = heldout.held_out_loglik(compiled.model, fit.tree, test)
    expected_few = heldout.held_out_loglik(compiled.model, fit.tree, few)
    assert got.shape == expected.shape and got_few.shape == expected_few.shape == (1, 30, 7)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got_few, expected_few, rtol=1e-12, atol=1e-12)


def test_graphs_differing_in_arrays_share_a_compile_and_in_constants_do_not() -> None:
    structures = heldout._Structures()
    rng = np.random.default_rng(0)

    def normal(mu: np.ndarray, sigma: float, y: np.ndarray) -> Any:
        with heldout._evaluating_once_per_structure(structures):
            return pm.logp(pm.Normal.dist(mu=mu, sigma=sigma), y).eval()

    for size in (5, 12, 3):
        mu, y = rng.normal(size=(2, size))
        got = normal(mu, 2.0, y)
        by_pytensor = pm.logp(pm.Normal.dist(mu=mu, sigma=2.0), y).eval()  # compiled anew
        np.testing.assert_allclose(got, by_pytensor, rtol=1e-14)
        by_hand = -0.5 * ((y - mu) / 2.0) ** 2 - np.log(2.0) - 0.5 * np.log(2 * np.pi)
        np.testing.assert_allclose(got, by_hand, rtol=1e-8)  # PyMC's -0.5 is float32
    assert (structures.compiles, structures.hits) == (1, 2)
    normal(np.zeros(4), 3.0, np.ones(4))  # another scale is another function
    assert structures.compiles == 2
    # broadcasting is part of the structure: one mean for every row
    got = normal(np.zeros(1), 3.0, np.arange(4.0))
    assert structures.compiles == 3
    np.testing.assert_allclose(got, pm.logp(pm.Normal.dist(0.0, 3.0), np.arange(4.0)).eval())


def test_a_graph_with_free_inputs_is_left_to_pytensor() -> None:
    structures = heldout._Structures()
    x = pt.vector("x")
    assert structures.evaluator(x + np.ones(3)) is None
    with heldout._evaluating_once_per_structure(structures):
        value = pm.logp(pm.Normal.dist(mu=x, sigma=1.0), np.zeros(3))
        assert value.eval({x: np.zeros(3)}).shape == (3,)
    assert structures.compiles == 0


def test_outside_the_block_pymc_logp_is_untouched() -> None:
    structures = heldout._Structures()
    with heldout._evaluating_once_per_structure(structures):
        pass
    value = pm.logp(pm.Normal.dist(mu=np.zeros(3), sigma=1.0), np.zeros(3))
    assert not getattr(value, "_fn_cache", None)
    assert value.eval().shape == (3,)
    assert structures.compiles == 0


@pytest.mark.slow
def test_an_ordinal_rows_log_density_is_the_cumulative_logit_written_out(tmp_path: Path) -> None:
    """Rows of groups the fit saw: P(y = k) = F(t_k - eta) - F(t_(k-1) - eta), F logistic."""
    compiled, fit, test = refit(tmp_path, "cumulative", lambda frame: frame.index % 6 == 0)
    got = heldout.held_out_loglik(compiled.model, fit.tree, test)
    post = fit.tree["posterior"]
    groups = list(post["1|g"].coords["g__factor_dim"].values)
    effect = post["1|g"].values[:, :, [groups.index(g) for g in test["g"]]]
    eta = post["x"].values[:, :, None] * test["x"].to_numpy() + effect
    cuts = np.concatenate(
        [
            np.full((*eta.shape[:2], 1), -np.inf),
            post["threshold"].values,
            np.full((*eta.shape[:2], 1), np.inf),
        ],
        axis=-1,
    )
    level = test["o"].cat.codes.to_numpy()
    assert list(test["o"].cat.categories) == ["Low", "Medium", "High"]
    expected = np.log(expit(cuts[..., level + 1] - eta) - expit(cuts[..., level] - eta))
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)
