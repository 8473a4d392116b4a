"""A large fit's log-likelihood is computed as the store writes it: the same file as PyMC's.

For a log-likelihood above ``DEFER_BYTES`` the sampler skips PyMC's and the tree gets a
lazy group (``radonspec.fit.loglik``), which the store's direct write computes slab by
slab. The reference is the fit sampled the ordinary way (PyMC's log-likelihood, computed
in the sampler's call), at the same seed, for families whose log densities take different
paths; the stored files must hold the same groups, variables, dims, coords, dtypes,
attributes (but for creation times) and values.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr
from test_heldout import write_data

from radonspec.api import load_study
from radonspec.compile.model import compile_model
from radonspec.fit import loglik, sample, store
from radonspec.fit.runner import fit_planned, plan_study, study_frame
from radonspec.fit.sample import sample_model
from radonspec.fit.store import Store

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::FutureWarning"),  # Bambi's deprecations
    pytest.mark.filterwarnings("ignore:PyTensor could not link to a BLAS:UserWarning"),
]


def stored(folder: Path, name: str, key: str) -> tuple[Any, Path]:
    """Fit ``name`` (2 chains x 30 draws) and store it; the fit and its file."""
    study = load_study(folder / "study.yaml")
    frame = study_frame(study, [name])
    compiled = compile_model(study, name, frame)
    sampler = study.models[name].sampler.model_copy(update={"chains": 2})
    fit = sample_model(compiled, key=key, sampler=sampler, seed=1, cores=1)
    assert fit.ok, fit.error
    put = Store(folder / "store").put(fit, {})
    assert put.path is not None
    return fit, Path(put.path)


def plain(attrs: Any) -> list[Any]:
    return sorted((str(k), np.asarray(v).tolist()) for k, v in attrs.items())


def described(tree: xr.DataTree) -> list[Any]:
    """Everything of a stored tree but its values and creation times, in order."""
    out: list[Any] = []
    for node in tree.subtree:
        data = node.to_dataset()
        attrs = {k: v for k, v in data.attrs.items() if k not in ("created_at", "sampling_time")}
        out.append((node.path, list(data.dims.items()), plain(attrs)))
        for name, var in data.variables.items():
            out.append((node.path, name, var.dims, str(var.dtype), plain(var.attrs)))
    return out


@pytest.mark.parametrize("name", ["gaussian", "bernoulli", "poisson", "negbinomial", "cumulative"])
def test_a_deferred_log_likelihood_stores_the_file_pymc_s_would(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    write_data(tmp_path)
    _, expected_path = stored(tmp_path, name, "a" * 64)
    monkeypatch.setattr(sample, "DEFER_BYTES", -1)  # every log-likelihood deferred
    monkeypatch.setattr(store, "IN_MEMORY_BYTES", -1)  # every fit written straight to file
    monkeypatch.setattr(store, "SLAB_BYTES", 1000)  # many slabs of a few draws
    computed: list[int] = []  # draws computed per call
    pointwise = loglik._Pointwise.__call__

    def counting(self: Any, key: tuple[Any, ...]) -> Any:
        out = pointwise(self, key)
        computed.append(int(np.prod(out.shape[:2])))
        return out

    monkeypatch.setattr(loglik._Pointwise, "__call__", counting)
    fit, got_path = stored(tmp_path, name, "b" * 64)
    # each of the 2 x 30 draws computed once, one draw of both chains (1,440 bytes) a slab
    assert computed == [2] * 30
    lazy = next(iter(fit.tree["log_likelihood"].to_dataset().data_vars.values())).variable
    assert not lazy._in_memory  # never computed whole, not even by the write
    # a worker process sends its fit pickled: the group travels as its values
    sent = pickle.loads(pickle.dumps(fit.tree))["log_likelihood"].to_dataset()
    with (
        xr.open_datatree(expected_path, engine="h5netcdf") as expected,
        xr.open_datatree(got_path, engine="h5netcdf") as got,
    ):
        xr.testing.assert_allclose(sent, expected["log_likelihood"].to_dataset(), rtol=1e-12)
        for got_item, expected_item in zip(described(got), described(expected), strict=True):
            assert got_item == expected_item
        for node in expected.subtree:
            for var_name, var in node.to_dataset().variables.items():
                values = got[node.path].to_dataset()[var_name].values
                if var.dtype.kind == "f":
                    np.testing.assert_allclose(values, var.values, rtol=1e-12, atol=0)
                else:
                    np.testing.assert_array_equal(values, var.values)


def test_a_fit_returned_in_memory_holds_its_stored_log_likelihood(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_data(tmp_path)
    monkeypatch.setattr(sample, "DEFER_BYTES", -1)
    monkeypatch.setattr(store, "IN_MEMORY_BYTES", -1)
    study = load_study(tmp_path / "study.yaml")
    fits = fit_planned(study, plan_study(study, ["gaussian"]), store=tmp_path / "store", jobs=1)
    fit = fits["gaussian"]
    assert fit.ok and fit.tree is not None and fit.path is not None
    # read from the file, not computed again at every read
    assert not loglik.has_deferred(fit.tree)
    with xr.open_datatree(fit.path, engine="h5netcdf") as file:
        xr.testing.assert_identical(fit.tree["log_likelihood"], file["log_likelihood"])
