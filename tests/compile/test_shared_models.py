"""Every kind of model radonspec builds takes its data as inputs, or is compiled as before.

Fold refits reuse one compile per model only where ``data_as_inputs`` covers the graph
Bambi (and radonspec's own builders) made: correlated LKJ terms, lme4's ``||``,
centred and non-centred terms, reference levels, splines, ordinal, offsets, binomial
trials and a named event. For each, the rewritten model must have Bambi's log density
(PyMC's own, data as constants, is the reference) and two folds must share one
structure; the slow test checks nutpie's machine code compiled on one fold and fed
another against PyMC on that other fold. What the path does not cover goes the way
every fit went before: a model with no rows dimension, and any backend but nutpie.
"""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np
import pandas as pd
import pytest

from radonspec.compile import shared
from radonspec.compile.model import compile_model
from radonspec.fit import compile_cache
from radonspec.fit.runner import plan_fit, study_frame
from radonspec.fit.sample import sample_model
from radonspec.study.loader import load_study
from radonspec.study.schema import Study

pytestmark = [
    pytest.mark.filterwarnings("ignore::FutureWarning"),  # Bambi's deprecations
    pytest.mark.filterwarnings("ignore:PyTensor could not link to a BLAS:UserWarning"),
]

STUDY = """\
spec_version: 1
name: shared-models
data:
  path: data.csv
  categorical: [g, z]
  reference: {z: b}
  levels: {o: [Low, Medium, High]}
defaults:
  sampler: {draws: 20, tune: 20, chains: 1, seed: 4}
models:
  correlated:
    formula: y ~ x + (x|g)
    correlated: [g]
  correlated_centred:
    formula: y ~ x + (x|g)
    correlated: [g]
    noncentered: false
  double_bar:
    formula: y ~ x + (x||g)
  reference:
    formula: y ~ z + x + (1|g)
  spline:
    formula: y ~ bs(x, df=4) + (1|g)
  ordinal:
    formula: o ~ 0 + x + (1|g)
    family: cumulative
  offset:
    formula: c ~ x + offset(log_e) + (1|g)
    family: poisson
  binomial:
    formula: p(s, n) ~ x + (1|g)
    family: binomial
  event:
    formula: e[yes] ~ x + (1|g)
    family: bernoulli
  distributional:
    formula: [y ~ x + (1|g), sigma ~ x]
"""
MODELS = [
    "correlated",
    "correlated_centred",
    "double_bar",
    "reference",
    "spline",
    "ordinal",
    "offset",
    "binomial",
    "event",
    "distributional",
]


def data(seed: int = 8, groups: int = 10, rows: int = 8) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    size = groups * rows
    g = np.repeat([f"g{i}" for i in range(groups)], rows)
    x = rng.normal(size=size)
    effect = np.repeat(rng.normal(size=groups), rows)
    y = x + effect + rng.normal(size=size)
    n = rng.integers(5, 15, size=size)
    return pd.DataFrame(
        {
            "y": y,
            "x": x,
            "g": g,
            "z": rng.choice(["a", "b", "c"], size=size),
            "o": pd.cut(y, [-np.inf, -0.5, 0.5, np.inf], labels=["Low", "Medium", "High"]),
            "c": rng.poisson(np.exp(0.3 * x)),
            "log_e": rng.normal(size=size) * 0.1,
            "s": rng.binomial(n, 0.4),
            "n": n,
            "e": rng.choice(["no", "yes"], size=size),
        }
    )


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Study:
    folder = tmp_path_factory.mktemp("shared-models")
    data().to_csv(folder / "data.csv", index=False)
    (folder / "study.yaml").write_text(STUDY)
    return load_study(folder / "study.yaml")


@pytest.fixture(scope="module")
def folds(study: Study) -> dict[str, pd.DataFrame]:
    """Training rows of two leave-group-out folds of different lengths."""
    frame = study_frame(study)
    return {
        "a": frame[~frame["g"].isin(["g0", "g1"])].reset_index(drop=True),
        "b": frame[~frame["g"].isin(["g2", "g3", "g4"])].reset_index(drop=True),
    }


def pymc_model(study: Study, name: str, frame: pd.DataFrame) -> Any:
    model = compile_model(study, name, frame, keep_levels=True).model
    from radonspec.compile import design

    with design.rows_free():  # as sample_model builds a refit
        model.build()
    return model.backend.model


def random_point(model: Any, seed: int = 5) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {k: v + 0.3 * rng.normal(size=np.shape(v)) for k, v in model.initial_point().items()}


@pytest.mark.parametrize("name", MODELS)
def test_rewritten_model_has_bambis_log_density_and_folds_share_a_structure(
    study: Study, folds: dict[str, pd.DataFrame], name: str
) -> None:
    a = shared.data_as_inputs(pymc_model(study, name, folds["a"]))
    original = pymc_model(study, name, folds["b"])
    b = shared.data_as_inputs(original)
    assert a is not None and b is not None
    assert a.key == b.key
    assert any("rows" in input_name for input_name in b.values)
    point = random_point(original)
    for function in ("compile_logp", "compile_dlogp"):
        expected = getattr(original, function)(mode="FAST_COMPILE")(point)
        got = getattr(b.model, function)(mode="FAST_COMPILE")(point)
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_every_group_is_kept_where_the_grouping_column_is_nothing_else(
    study: Study, folds: dict[str, pd.DataFrame]
) -> None:
    compiled = compile_model(study, "correlated", folds["a"], keep_levels=True)
    assert list(compiled.data.frame["g"].cat.categories) == [f"g{i}" for i in range(10)]
    assert compiled.levels.reference == {}  # g is a grouping factor only
    plain = compile_model(study, "correlated", folds["a"])
    assert len(plain.data.frame["g"].cat.categories) == 8
    # z is a predictor: an unused level would be an empty dummy column
    without_a = folds["a"][folds["a"]["z"] != "a"].reset_index(drop=True)
    kept = compile_model(study, "reference", without_a, keep_levels=True)
    assert list(kept.data.frame["z"].cat.categories) == ["b", "c"]
    assert kept.levels.reference == {"z": "b"}


def compiled_logp(compiled: Any, x: np.ndarray) -> float:
    gradient, logp = np.zeros_like(x), np.zeros(())
    status = compiled.compiled_logp_func.ctypes(
        len(x),
        x.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
        gradient.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
        logp.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
        compiled.user_data.ctypes.data_as(ctypes.c_void_p),
    )
    assert status == 0
    return float(logp)


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_a_compile_fed_another_folds_data_has_that_folds_log_density(
    study: Study, folds: dict[str, pd.DataFrame], name: str
) -> None:
    import nutpie

    cache = compile_cache.CompileCache()
    with compile_cache.reusing_compiles(cache):
        nutpie.compile_pymc_model(pymc_model(study, name, folds["a"]))
        original = pymc_model(study, name, folds["b"])
        compiled = nutpie.compile_pymc_model(original)
    assert (cache.compiles, cache.hits) == (1, 1)
    x = compiled.initial_point_func(7)
    point, start = {}, 0  # the flat vector in the model's order of free variables
    for var in original.free_RVs:
        value = original.rvs_to_values[var]
        size = int(np.prod(compiled.shapes[value.name]))
        point[value.name] = x[start : start + size].reshape(compiled.shapes[value.name])
        start += size
    assert start == len(x)
    expected = original.compile_logp(mode="FAST_COMPILE")(point)
    np.testing.assert_allclose(compiled_logp(compiled, x), expected, rtol=1e-10)


@pytest.mark.slow
def test_a_correlated_refit_through_a_kept_compile_draws_what_a_fresh_compile_draws(
    study: Study, folds: dict[str, pd.DataFrame]
) -> None:
    sampler = study.models["correlated"].sampler

    def fit(frame: pd.DataFrame) -> Any:
        compiled = compile_model(study, "correlated", frame, keep_levels=True)
        done = sample_model(
            compiled, key="k", sampler=sampler, seed=2, posterior_only=True, reuse_compile=True
        )
        assert done.ok, done.error
        return done

    compile_cache.CACHE.clear()
    try:
        fit(folds["a"])
        reused = fit(folds["b"])
        assert (compile_cache.CACHE.compiles, compile_cache.CACHE.hits) == (1, 1)
        compile_cache.CACHE.clear()
        fresh = fit(folds["b"])
        assert (compile_cache.CACHE.compiles, compile_cache.CACHE.hits) == (1, 0)
    finally:
        compile_cache.CACHE.clear()
    assert reused.meta["compile"]["reused"] and not fresh.meta["compile"]["reused"]
    for group in ("posterior", "sample_stats"):
        assert reused.tree[group].to_dataset().equals(fresh.tree[group].to_dataset()), group


def test_other_backends_compile_as_before_and_their_keys_say_so(
    study: Study, folds: dict[str, pd.DataFrame]
) -> None:
    """A refit on the PyMC backend goes through no cache and records no compile."""
    spec = study.models["reference"]
    sampler = spec.sampler.model_copy(update={"backend": "pymc", "draws": 5, "tune": 5})
    compiled = compile_model(study, "reference", folds["a"], keep_levels=True)
    compile_cache.CACHE.clear()
    done = sample_model(
        compiled, key="k", sampler=sampler, seed=2, posterior_only=True, reuse_compile=True
    )
    assert done.ok, done.error
    assert "compile" not in done.meta
    assert (compile_cache.CACHE.compiles, compile_cache.CACHE.hits) == (0, 0)
    # on every row both fits see the same data: the keys differ by how they compile
    frame = study_frame(study)
    refit = plan_fit(study, "reference", frame, label="r@1", posterior_only=True, refit=True)
    full = plan_fit(study, "reference", frame, label="r@1", posterior_only=True)
    assert refit.data is not None and full.data is not None
    assert refit.data.fingerprint == full.data.fingerprint
    assert refit.key != full.key  # never the other's stored draws
