"""Data as inputs of the compiled model: one compile, any data set of the structure.

Each test compares against an independent path: PyMC's own log density of the model
Bambi built (data as constants), or a fresh nutpie compile of the same data.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest

from radonspec.compile import shared
from radonspec.compile.model import compile_model
from radonspec.fit import compile_cache
from radonspec.fit.runner import study_frame
from radonspec.fit.sample import sample_model
from radonspec.study.loader import load_study
from radonspec.study.schema import Study

STUDY = """\
spec_version: 1
name: shared-inputs
data: {dataset: radon, categorical: [county]}
defaults:
  sampler: {draws: 30, tune: 30, chains: 2, seed: 3}
models:
  varying:
    formula: log_radon ~ floor + (1|county)
    priors:
      floor: Normal(0, 10)
      1|county: Normal(0, sigma=HalfNormal(2))
  varying_wide:
    formula: log_radon ~ floor + (1|county)
    priors:
      floor: Normal(0, 100)
      1|county: Normal(0, sigma=HalfNormal(20))
  slope:
    formula: log_radon ~ floor + (0 + floor|county)
"""


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Study:
    path = tmp_path_factory.mktemp("shared") / "study.yaml"
    path.write_text(STUDY)
    return load_study(path)


@pytest.fixture(scope="module")
def folds(study: Study) -> dict[str, pd.DataFrame]:
    """Training rows of two leave-county-out folds, and all rows."""
    frame = study_frame(study)
    counties = frame["county"].cat.categories
    return {
        "all": frame,
        "a": frame[~frame["county"].isin(counties[:5])].reset_index(drop=True),
        "b": frame[~frame["county"].isin(counties[5:12])].reset_index(drop=True),
    }


def pymc_model(study: Study, name: str, frame: pd.DataFrame, keep_levels: bool = True) -> Any:
    model = compile_model(study, name, frame, keep_levels=keep_levels).model
    model.build()
    return model.backend.model


def inputs(study: Study, name: str, frame: pd.DataFrame, **kwargs: Any) -> shared.Inputs:
    found = shared.data_as_inputs(pymc_model(study, name, frame), **kwargs)
    assert found is not None
    return found


def test_folds_of_a_model_share_one_structure(study: Study, folds: dict[str, pd.DataFrame]) -> None:
    a, b = inputs(study, "varying", folds["a"]), inputs(study, "varying", folds["b"])
    assert a.key == b.key
    # the inputs hold each fold's own rows, packed by dtype
    rows_a = {name: v.shape for name, v in a.values.items() if "rows" in name}
    rows_b = {name: v.shape for name, v in b.values.items() if "rows" in name}
    assert rows_a.keys() == rows_b.keys()
    assert {s[1] for s in rows_a.values()} == {len(folds["a"])}
    assert {s[1] for s in rows_b.values()} == {len(folds["b"])}


def test_structure_key_tells_structures_apart(study: Study, folds: dict[str, pd.DataFrame]) -> None:
    key = inputs(study, "varying", folds["a"]).key
    assert inputs(study, "slope", folds["a"]).key != key  # another formula
    # without the held-out counties the model has fewer groups: another structure
    fewer = shared.data_as_inputs(pymc_model(study, "varying", folds["a"], keep_levels=False))
    assert fewer is not None and fewer.key != key
    # prior values are inputs: models differing only there share a compile, unless not
    assert inputs(study, "varying_wide", folds["a"]).key == key
    narrow = inputs(study, "varying", folds["a"], priors=False).key
    assert inputs(study, "varying_wide", folds["a"], priors=False).key != narrow


def test_variables_keep_their_names_dims_and_order(
    study: Study, folds: dict[str, pd.DataFrame]
) -> None:
    original = pymc_model(study, "varying", folds["a"])
    found = shared.data_as_inputs(original)
    assert found is not None
    model = found.model
    for attribute in ("free_RVs", "observed_RVs", "deterministics"):
        names = [var.name for var in getattr(model, attribute)]
        assert names == [var.name for var in getattr(original, attribute)]

    def dims(m: Any) -> dict[str, tuple[str, ...]]:
        return {name: tuple(d) for name, d in m.named_vars_to_dims.items() if d}

    assert dims(model) == dims(original)
    assert {k: list(v) for k, v in model.coords.items()} == {
        k: list(v) for k, v in original.coords.items()
    }


@pytest.mark.parametrize("name", ["varying", "slope"])
def test_rewritten_model_has_the_log_density_of_bambis(
    study: Study, folds: dict[str, pd.DataFrame], name: str
) -> None:
    original = pymc_model(study, name, folds["b"])
    found = shared.data_as_inputs(original)
    assert found is not None
    rng = np.random.default_rng(5)
    point = {k: v + rng.normal(size=np.shape(v)) for k, v in original.initial_point().items()}
    for function in ("compile_logp", "compile_dlogp"):
        expected = getattr(original, function)(mode="FAST_COMPILE")(point)
        got = getattr(found.model, function)(mode="FAST_COMPILE")(point)
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_a_compile_fed_other_data_has_that_datas_log_density(
    study: Study, folds: dict[str, pd.DataFrame]
) -> None:
    """nutpie's machine code, compiled on fold a and given fold b, against PyMC on fold b."""
    import nutpie

    compile_cache.install()
    cache = compile_cache.CompileCache()
    with compile_cache.reusing_compiles(cache):
        nutpie.compile_pymc_model(pymc_model(study, "varying", folds["a"]))
        original = pymc_model(study, "varying", folds["b"])
        compiled = nutpie.compile_pymc_model(original)
    assert (cache.compiles, cache.hits) == (1, 1)
    x = compiled.initial_point_func(7)
    gradient, logp = np.zeros_like(x), np.zeros(())
    status = compiled.compiled_logp_func.ctypes(
        len(x),
        x.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
        gradient.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
        logp.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
        compiled.user_data.ctypes.data_as(ctypes.c_void_p),
    )
    assert status == 0
    point = {}  # the flat vector in the model's order of free variables
    start = 0
    for var in original.free_RVs:
        value = original.rvs_to_values[var]
        size = int(np.prod(compiled.shapes[value.name]))
        point[value.name] = x[start : start + size].reshape(compiled.shapes[value.name])
        start += size
    expected = original.compile_logp(mode="FAST_COMPILE")(point)
    np.testing.assert_allclose(logp, expected, rtol=1e-10)


@pytest.fixture(scope="module")
def refits(study: Study, folds: dict[str, pd.DataFrame]) -> Iterator[dict[str, Any]]:
    """Fold b refitted after fold a (one compile), then again from an empty cache."""
    sampler = study.models["varying"].sampler
    results: dict[str, Any] = {}

    def fit(frame: pd.DataFrame) -> Any:
        compiled = compile_model(study, "varying", frame, keep_levels=True)
        done = sample_model(
            compiled, key="k", sampler=sampler, seed=11, posterior_only=True, reuse_compile=True
        )
        assert done.ok, done.error
        return done

    compile_cache.CACHE.clear()
    results["a"] = fit(folds["a"])
    results["b"] = fit(folds["b"])
    results["counts"] = (compile_cache.CACHE.compiles, compile_cache.CACHE.hits)
    compile_cache.CACHE.clear()
    results["b fresh"] = fit(folds["b"])
    results["fresh counts"] = (compile_cache.CACHE.compiles, compile_cache.CACHE.hits)
    yield results
    compile_cache.CACHE.clear()


@pytest.mark.slow
def test_refit_with_new_data_draws_what_a_fresh_compile_draws(refits: dict[str, Any]) -> None:
    reused, fresh = refits["b"].tree, refits["b fresh"].tree
    for group in ("posterior", "sample_stats"):
        assert reused[group].to_dataset().equals(fresh[group].to_dataset()), group
    # every county is a group of each fold's model, held out or not
    assert reused["posterior"].sizes["county__factor_dim"] == 85


@pytest.mark.slow
def test_refits_of_one_structure_compile_once(refits: dict[str, Any]) -> None:
    assert refits["counts"] == (1, 1)
    assert refits["fresh counts"] == (1, 0)
    records = [refits[name].meta["compile"] for name in ("a", "b", "b fresh")]
    assert [record["reused"] for record in records] == [False, True, False]
    assert len({record["structure"] for record in records}) == 1


def test_outside_reusing_compiles_nutpie_is_called_as_before(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import nutpie
    from pymc.sampling import mcmc

    compile_cache.install()
    assert compile_cache.installed()
    calls: list[str] = []
    monkeypatch.setitem(
        compile_cache._ORIGINAL, "compile_pymc_model", lambda model, **kw: calls.append("compile")
    )
    monkeypatch.setitem(
        compile_cache._ORIGINAL,
        "assign_step_methods",
        lambda model, step, methods: calls.append("steps"),
    )
    nutpie.compile_pymc_model(object())
    mcmc.assign_step_methods(object(), None, methods=())
    assert calls == ["compile", "steps"]


def test_models_without_rows_are_left_alone() -> None:
    import pymc as pm

    with pm.Model() as model:
        pm.Normal("x")
    assert shared.data_as_inputs(model) is None
