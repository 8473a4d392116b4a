"""A fit's log-likelihood computed when read, a block of draws at a time.

PyMC computes the pointwise log-likelihood after sampling as one array of draws x
observations: 3 GiB at 10^5 rows and 4000 draws, on top of everything else the fit holds.
For a large fit the sampler skips it; the ``log_likelihood`` group is then a lazy array
(``deferred_log_likelihood``) whose values PyMC's own compiled function computes, draw by
draw as PyMC does, for whatever slice is read. The store writes such an array into the
fit's file in slabs (``radonspec.fit.store``), so the whole array is never in memory, and
the values are those PyMC would have stored: the same function, at the same draws.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class _Pointwise:
    """The log-likelihood of one observed variable at any slice of (chain, draw, obs)."""

    def __init__(self, fn: Any, inputs: dict[str, np.ndarray], index: int, shape: tuple[int, ...]):
        self.fn = fn
        self.inputs = inputs
        self.index = index
        self.shape = shape
        self.dtype = np.dtype("float64")

    def __call__(self, key: tuple[Any, ...]) -> np.ndarray:
        chains = range(self.shape[0])[key[0]]
        draws = range(self.shape[1])[key[1]]
        rest = key[2:]
        out: np.ndarray | None = None
        for i, chain in enumerate(chains if isinstance(chains, range) else [chains]):
            for j, draw in enumerate(draws if isinstance(draws, range) else [draws]):
                point = {name: np.asarray(v[chain, draw]) for name, v in self.inputs.items()}
                value = np.asarray(self.fn(point)[self.index])[rest]
                if out is None:
                    out = np.empty((len(chains), len(draws), *value.shape), self.dtype)
                out[i, j] = value
        assert out is not None
        if not isinstance(draws, range):
            out = out[:, 0]
        if not isinstance(chains, range):
            out = out[0]
        return out


class Deferred:
    """An array computed when read, a slice at a time; for xarray, a duck array.

    xarray keeps it as it is through encoding (a lazily indexed backend array would be
    read whole there), and the store's writer reads it in slabs (``computed_in_slabs``).
    Anything else that needs it as a NumPy array computes it whole, as it would have been.
    """

    computed_in_slabs = True

    def __init__(self, pointwise: _Pointwise) -> None:
        self.pointwise = pointwise
        self.shape = pointwise.shape
        self.dtype = pointwise.dtype
        self.ndim = len(self.shape)
        self.size = int(np.prod(self.shape))
        self.nbytes = self.size * self.dtype.itemsize

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: Any) -> np.ndarray:
        whole = (slice(None),) * self.ndim
        if not isinstance(key, tuple):
            key = (key,)
        if len(key) == self.ndim and all(isinstance(k, slice | int) for k in key):
            return self.pointwise(key)
        return np.asarray(self.pointwise(whole))[key]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        values = self.pointwise((slice(None),) * self.ndim)
        return values if dtype is None else values.astype(dtype)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        return func(*_computed(args), **kwargs)

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        return getattr(ufunc, method)(*_computed(inputs), **kwargs)

    def __reduce__(self) -> Any:
        # another process cannot run this one's compiled function: it gets the values
        return (_values, (np.asarray(self),))


def has_deferred(tree: Any) -> bool:
    """Whether ``tree`` has a group computed when read (``deferred_log_likelihood``)."""
    return any(
        isinstance(var.variable._data, Deferred)
        for node in tree.subtree
        for var in node.to_dataset().data_vars.values()
    )


def _computed(args: Any) -> list[Any]:
    return [np.asarray(a) if isinstance(a, Deferred) else a for a in args]


def _values(values: np.ndarray) -> np.ndarray:
    return values


def deferred_log_likelihood(pymc_model: Any, posterior: Any, attrs: dict[str, Any]) -> Any:
    """The ``log_likelihood`` group of ``posterior`` as PyMC computes it, lazily.

    ``posterior`` holds every free variable of ``pymc_model`` (offsets included) at each
    (chain, draw); the group has PyMC's dims, coords and attributes plus ``attrs``. Its
    values are computed when read, by the elementwise log density PyMC's
    ``compute_log_likelihood`` compiles, at one draw at a time as PyMC evaluates it.
    """
    import xarray as xr
    from pymc.backends.arviz import apply_function_over_dataset, coords_and_dims_for_inferencedata
    from pymc.model.transform.conditioning import remove_value_transforms

    umodel = remove_value_transforms(pymc_model)
    observed = list(umodel.observed_RVs)
    names = [rv.name for rv in observed]
    fn = umodel.compile_fn(
        inputs=umodel.value_vars,
        outs=umodel.logp(vars=observed, sum=False),
        on_unused_input="ignore",
    )
    coords, dims = coords_and_dims_for_inferencedata(umodel)
    free = [rv.name for rv in pymc_model.free_RVs]
    # the value variables' dtypes, as PyMC casts the draws before calling its function
    values = umodel.rvs_to_values
    dtypes = {values[rv].name: values[rv].type.dtype for rv in umodel.free_RVs}
    dataset = posterior[free].astype(dtypes, copy=False)
    inputs = {name: dataset[name].transpose("chain", "draw", ...).values for name in free}
    # one draw computed PyMC's way: the group's dims, coords and attributes
    first = apply_function_over_dataset(
        fn,
        dataset.isel(chain=[0], draw=[0]),
        output_var_names=names,
        sample_dims=("chain", "draw"),
        dims=dims,
        coords=coords,
        progressbar=False,
    )
    chains, draws = dataset.sizes["chain"], dataset.sizes["draw"]
    variables = {}
    for index, name in enumerate(names):
        var = first[name]
        shape = (chains, draws, *var.shape[2:])
        lazy = Deferred(_Pointwise(fn, inputs, index, shape))
        variables[name] = xr.Variable(var.dims, lazy, attrs=var.attrs)
    whole = {"chain": dataset["chain"].values, "draw": dataset["draw"].values}
    # chain and draw first: the order of the group PyMC adds after sampling
    coords_out = {**whole, **{d: first[d].variable for d in first.coords if d not in whole}}
    group = xr.Dataset(coords=coords_out, attrs={**first.attrs, **attrs})
    for name, variable in variables.items():  # after the coords, in the file as in PyMC's
        group[name] = variable
    return group
