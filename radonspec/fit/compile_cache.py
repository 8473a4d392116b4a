"""Compiled nutpie models kept per process and fed new data: one compile per structure.

``radonspec.compile.shared`` rewrites a model with its data as inputs and gives its structure
key; here compiled models are kept under that key, in each process (PyTensor
compilation is not thread-safe, and compiled machine code cannot move between
processes), and a model of a known structure gets the kept compile fed its data
(``with_data``, well under a millisecond) instead of a compile of its own (seconds).

``install`` wraps ``nutpie.compile_pymc_model`` and PyMC's ``assign_step_methods``,
which ``pm.sample`` calls when Bambi samples with nutpie; the wrappers go through the
cache only inside ``reusing_compiles`` and call the originals unchanged everywhere else.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from radonspec.compile.shared import INPUT_PREFIX, Inputs, data_as_inputs


@dataclass
class CompileCache:
    """Compiled nutpie models of this process, by structure key (least recently used out).

    ``compiles`` counts compilations and ``hits`` reuses, for tests and timings. PyMC's
    choice of step methods (which takes the gradient of the log density once per
    variable, 0.4 s for the radon varying-intercept model) is kept by structure too.
    """

    capacity: int = 32
    compiles: int = 0
    hits: int = 0
    _models: OrderedDict[str, tuple[Any, dict[str, Any]]] = field(default_factory=OrderedDict)
    _steps: dict[str, dict[Any, list[str]]] = field(default_factory=dict)
    _pending: tuple[Any, Inputs | None] | None = None
    _lock: threading.RLock = field(default_factory=threading.RLock)

    def inputs(self, model: Any) -> Inputs | None:
        """``data_as_inputs(model)``, computed once for the model being sampled."""
        if self._pending is None or self._pending[0] is not model:
            self._pending = (model, data_as_inputs(model))
        return self._pending[1]

    def compile(self, compile_fn: Callable[..., Any], model: Any, **kwargs: Any) -> Any:
        """``compile_fn(model, **kwargs)``, or the cached compile of its structure fed its data."""
        with self._lock:
            inputs = self.inputs(model)
            self._pending = None
            if inputs is None:
                return compile_fn(model, **kwargs)
            key = hashlib.sha256(
                f"{inputs.key}\n{sorted((k, repr(v)) for k, v in kwargs.items())}".encode()
            ).hexdigest()
            found = self._models.get(key)
            if found is not None:
                self._models.move_to_end(key)
                self.hits += 1
                _record(reused=True, key=key, seconds=0.0)
                compiled, cached_inputs = found
                return _with_data(compiled, cached_inputs, inputs)
            tick = time.perf_counter()
            with _plain_extraction():
                compiled = compile_fn(inputs.model, **kwargs)
            self.compiles += 1
            _record(reused=False, key=key, seconds=time.perf_counter() - tick)
            self._models[key] = (compiled, _shared_inputs(inputs.model))
            while len(self._models) > self.capacity:
                self._models.popitem(last=False)
            return compiled

    def assign_steps(self, assign_fn: Callable[..., Any], model: Any, methods: Any) -> Any:
        """PyMC's ``assign_step_methods(model, None, methods)``, kept by structure."""
        with self._lock:
            inputs = self.inputs(model)
            if inputs is None:
                return assign_fn(model, None, methods=methods)
            key = f"{inputs.key} {[method.__qualname__ for method in methods or ()]}"
            found = self._steps.get(key)
            if found is None:
                provided, selected = assign_fn(model, None, methods=methods)
                self._steps[key] = {step: [v.name for v in vs] for step, vs in selected.items()}
                return provided, selected
            by_name = {var.name: var for var in model.value_vars}
            return [], {step: [by_name[name] for name in names] for step, names in found.items()}

    def clear(self) -> None:
        """Forget every compiled model and reset the counts."""
        with self._lock:
            self._models.clear()
            self._steps.clear()
            self._pending = None
            self.compiles = self.hits = 0


@contextlib.contextmanager
def _plain_extraction() -> Iterator[None]:
    from nutpie import compile_pymc

    if "make_extraction_fn" not in _ORIGINAL:
        _ORIGINAL["make_extraction_fn"] = compile_pymc.make_extraction_fn
    compile_pymc.make_extraction_fn = _extraction_fn
    try:
        yield
    finally:
        compile_pymc.make_extraction_fn = _ORIGINAL["make_extraction_fn"]


def _with_data(compiled: Any, cached_inputs: dict[str, Any], inputs: Inputs) -> Any:
    """The cached compile fed the new model's data, coordinates and dims."""
    from nutpie.compile_pymc import _prepare_dims_and_coords

    known = {var.name for var in compiled.shared_var_keys}
    # The initial-point function was compiled from the cached model's graph: setting its
    # inputs gives it the new values (a prior's mean is where its variable starts).
    for name, var in cached_inputs.items():
        var.set_value(inputs.values[name], borrow=True)
    fed = compiled.with_data(**{k: v for k, v in inputs.values.items() if k in known})
    dims, coords = _prepare_dims_and_coords(
        inputs.model, compiled.shape_info, compiled.reparameterized_names
    )
    return dataclasses.replace(fed, dims=dims, _coords=coords)


def _shared_inputs(model: Any) -> dict[str, Any]:
    from pytensor.compile.sharedvalue import SharedVariable
    from pytensor.graph.traversal import graph_inputs

    variables = [*model.basic_RVs, *model.deterministics, *model.potentials]
    variables += list(model.rvs_to_values.values())
    return {
        str(var.name): var
        for var in graph_inputs(variables)
        if isinstance(var, SharedVariable) and (var.name or "").startswith(INPUT_PREFIX)
    }


def _extraction_fn(inner: Any, shared_data: Any, keys: Any, record_dtype: Any) -> Any:
    """The unpacking of shared inputs nutpie compiles, written out for the inputs at hand.

    nutpie 0.16.11 (``compile_pymc.make_extraction_fn``) unpacks the inputs in a
    ``numba.literal_unroll`` loop whose typing alone took longer than compiling the rest
    of the radon varying-intercept model (profiled: 8.5 s of 28 s under load, against
    9 s for the whole model with its data as constants). Here the same unpacking is one
    line per input: each input's address and shape read from nutpie's record, viewed
    as an array, passed to ``inner`` in ``keys`` order, as nutpie does.
    """
    import numba
    from nutpie.compile_pymc import address_as_void_pointer

    if not keys:
        return _ORIGINAL["make_extraction_fn"](inner, shared_data, keys, record_dtype)
    namespace: dict[str, Any] = {
        "numba": numba,
        "np": np,
        "inner": inner,
        "record_dtype": record_dtype,
        "address_as_void_pointer": address_as_void_pointer,
    }
    lines = [
        "def extract_shared(x, user_data_):",
        "    shared = numba.carray(user_data_, (), record_dtype)['shared']",
    ]
    for i, key in enumerate(keys):
        value = shared_data[key]
        namespace[f"dtype{i}"] = numba.from_dtype(value.dtype)
        shape = "".join(f"int(shared['shape'][{key!r}][{d}])," for d in range(value.ndim))
        lines.append(f"    pointer{i} = address_as_void_pointer(shared['data'][{key!r}][()])")
        lines.append(f"    array{i} = numba.carray(pointer{i}, ({shape}), dtype{i})")
    lines.append(f"    return inner(x, {', '.join(f'array{i}' for i in range(len(keys)))})")
    exec(compile("\n".join(lines), "<radonspec.fit.compile_cache extraction>", "exec"), namespace)
    return numba.njit(inline="always")(namespace["extract_shared"])


@dataclass(frozen=True)
class CompileRecord:
    """How the last compile of this thread went: reused or compiled, its key and seconds."""

    reused: bool
    key: str
    seconds: float


_LAST: contextvars.ContextVar[CompileRecord | None] = contextvars.ContextVar(
    "radonspec_last_compile", default=None
)
_ACTIVE: contextvars.ContextVar[CompileCache | None] = contextvars.ContextVar(
    "radonspec_compile_cache", default=None
)
#: The compiled models of this process.
CACHE = CompileCache()
_ORIGINAL: dict[str, Callable[..., Any]] = {}


def _record(*, reused: bool, key: str, seconds: float) -> None:
    _LAST.set(CompileRecord(reused, key, seconds))


def last_compile() -> CompileRecord | None:
    """The record of the last compile through the cache in this context, if any."""
    return _LAST.get()


def _compile_pymc_model(model: Any, **kwargs: Any) -> Any:
    cache = _ACTIVE.get()
    original = _ORIGINAL["compile_pymc_model"]
    if cache is None or kwargs.get("backend", "numba") != "numba":
        return original(model, **kwargs)
    return cache.compile(original, model, **kwargs)


def _assign_step_methods(model: Any, step: Any = None, methods: Any = None) -> Any:
    cache = _ACTIVE.get()
    original = _ORIGINAL["assign_step_methods"]
    if cache is None or step is not None:
        return original(model, step, methods=methods)
    return cache.assign_steps(original, model, methods)


def install() -> None:
    """Route nutpie's PyMC compiles and PyMC's step assignment through the cache (idempotent).

    Outside ``reusing_compiles`` both behave exactly as before: the wrappers call the
    originals. ``pm.sample`` looks both names up in its module when it runs.
    """
    import nutpie
    from pymc.sampling import mcmc

    if "compile_pymc_model" not in _ORIGINAL:
        _ORIGINAL["compile_pymc_model"] = nutpie.compile_pymc_model
        _ORIGINAL["assign_step_methods"] = mcmc.assign_step_methods
    nutpie.compile_pymc_model = _compile_pymc_model
    mcmc.assign_step_methods = _assign_step_methods


def installed() -> bool:
    """Whether nutpie and PyMC call the wrappers (a test pins that the hooks are reached)."""
    import nutpie
    from pymc.sampling import mcmc

    return (
        nutpie.compile_pymc_model is _compile_pymc_model
        and mcmc.assign_step_methods is _assign_step_methods
    )


@contextlib.contextmanager
def reusing_compiles(cache: CompileCache | None = None) -> Iterator[CompileCache]:
    """Within the block, nutpie compiles of PyMC models go through ``cache``.

    The default is this process's ``CACHE``.
    """
    install()
    active = cache if cache is not None else CACHE
    token = _ACTIVE.set(active)
    _LAST.set(None)
    try:
        yield active
    finally:
        _ACTIVE.reset(token)
