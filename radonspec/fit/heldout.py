"""Held-out rows scored under a fit: their log predictive density, draw by draw.

A cross-validation refit is scored on the rows it did not see. The worker that sampled
the refit scores them where the model and the draws already are
(``radonspec.fit.executors``); the k-fold analysis scores from the stored fit when the
worker could not (``radonspec.analysis.kfold``). Both go through these functions.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd

from radonspec.fit.numerics import logsumexp_rows


def held_out_loglik(model: Any, tree: Any, test: pd.DataFrame) -> np.ndarray:
    """Log density of held-out rows under a fit: array (chain, draw, row).

    ``test`` must be coded as the fit's data was (``Compiled.design``). A group the fit
    never saw has its group-specific effects drawn from the fitted group distribution
    (Bambi's ``sample_new_groups``), which is what predicting a new group means.
    """
    import pytensor

    with (
        warnings.catch_warnings(),
        pytensor.config.change_flags(mode=_eval_mode()),
        _evaluating_once_per_structure(),
    ):
        warnings.simplefilter("ignore")
        if not model.built:
            model.build()
        tree = tree.copy()
        tree = model._compute_likelihood_params(  # Bambi's public API refuses new groups here
            tree, data=test, include_group_specific=True, sample_new_groups=True, random_seed=0
        )
        values = model.family.log_likelihood(
            model=model, posterior=tree["posterior"].to_dataset(), data=test, **_codes(model, test)
        )
    return np.asarray(values.transpose("chain", "draw", ...).values)


def _codes(model: Any, test: pd.DataFrame) -> dict[str, Any]:
    """The response of an ordinal or categorical model as level codes, for Bambi.

    For new data Bambi's generic log-likelihood takes the response as formulae codes it,
    one column per level, and the categorical distribution fails on it (a shape
    mismatch) for the cumulative, stopping-ratio and categorical families alike; the
    level of each row is the column holding its 1, which is what Bambi's own in-sample
    path uses (``Family.get_data``).
    """
    if model.family.name not in ("cumulative", "sratio", "categorical"):
        return {}
    coded = np.asarray(model.response_term.evaluate_new_data(test))
    if coded.ndim != 2:
        return {}
    return {"y": np.nonzero(coded)[1]}


def _eval_mode() -> Any:
    """PyTensor's C backend with its usual rewrites, for Bambi's one-off ``eval`` calls.

    Bambi evaluates the log density with ``.eval()``, which compiles a new function
    every call; under PyTensor's default backend that is a numba JIT compile (0.3-0.9 s
    per fold refit, as long as the refit's own sampling). The C backend's compiled
    kernels are cached on disk by the op's signature, so after the first they take
    milliseconds; the rewrites (numerical stabilisation included) are the same
    ``fast_run`` set, and the values are those of the default backend (tested).
    """
    import pytensor
    from pytensor.compile.mode import Mode, get_default_mode

    if not pytensor.config.cxx:  # no C compiler here: the default backend it is
        return get_default_mode()
    return Mode(linker="cvm", optimizer="fast_run")


def held_out_elpd(model: Any, tree: Any, test: pd.DataFrame) -> np.ndarray:
    """Each held-out row's log predictive density under a fit (averaged over the draws)."""
    loglik = held_out_loglik(model, tree, test)
    return mean_density(loglik.reshape(-1, loglik.shape[-1]))


def mean_density(draws: np.ndarray) -> np.ndarray:
    """``log(mean(exp(draws), axis=0))``, column by column: array (column,).

    scipy's ``logsumexp(draws, axis=0, b=1/n)`` by its own steps (``logsumexp_rows``),
    without the array-API layer that made it most of the cost of scoring a fold.
    """
    draws = np.asarray(draws, dtype=float)
    return logsumexp_rows(draws.T, 1 / draws.shape[0])


class _Structures:
    """Compiled log densities of this process, by graph structure (least recently used out).

    Bambi scores new rows with ``pm.logp(dist, y).eval()``, the posterior draws and
    the rows written into the graph as constants, so every call compiles a function
    (tens of milliseconds with cached C kernels, a fold refit's sampling time under
    numba). A graph whose inputs are all constants is the same function as any other
    of its structure with other arrays: here its array constants become inputs, the
    function is compiled once per structure (the ops, how they connect, the small
    constants' values, the arrays' dtypes and which of their axes broadcast) and
    called with each graph's arrays. ``compiles`` and ``hits`` count, for tests.
    """

    def __init__(self, capacity: int = 64) -> None:
        self.capacity = capacity
        self.compiles = 0
        self.hits = 0
        self._functions: OrderedDict[Any, Callable[..., Any]] = OrderedDict()
        self._lock = threading.Lock()

    def evaluator(self, output: Any) -> Callable[[], Any] | None:
        """A call computing ``output.eval()``, or None where its inputs are not all constants."""
        from pytensor.graph.basic import Constant
        from pytensor.graph.traversal import graph_inputs, io_toposort
        from pytensor.tensor.variable import TensorConstant

        inputs = list(dict.fromkeys(graph_inputs([output])))
        constants = [var for var in inputs if isinstance(var, Constant)]
        if len(constants) < len(inputs):
            return None
        arrays = [v for v in constants if isinstance(v, TensorConstant) and v.data.size > 1]
        nodes = io_toposort(inputs, [output])
        refs: dict[Any, Any] = {var: ("array", i) for i, var in enumerate(arrays)}
        refs.update({var: ("constant", var.signature()) for var in constants if var not in refs})
        structure = []
        for n, node in enumerate(nodes):
            structure.append((node.op, tuple(refs[var] for var in node.inputs)))
            refs.update({out: ("node", n, i) for i, out in enumerate(node.outputs)})
        key = (
            _mode_key(),
            tuple((v.type.dtype, tuple(s == 1 for s in v.type.shape)) for v in arrays),
            tuple(structure),
            refs[output],
        )
        values = [v.data for v in arrays]
        with self._lock:
            function = self._functions.get(key)
            if function is not None:
                self._functions.move_to_end(key)
                self.hits += 1
            else:
                function = _compiled(output, inputs, arrays, nodes)
                self.compiles += 1
                self._functions[key] = function
                while len(self._functions) > self.capacity:
                    self._functions.popitem(last=False)
        return lambda: function(*values)


def _mode_key() -> tuple[Any, ...]:
    """The compile mode in force (``held_out_loglik`` sets PyTensor's C backend), by value."""
    from pytensor.compile.mode import get_default_mode

    mode = get_default_mode()
    linker = mode.provided_linker
    rewrites = mode.provided_optimizer
    if hasattr(rewrites, "include"):  # a query of PyTensor's rewrite database
        rewrites = tuple(
            tuple(sorted(getattr(rewrites, part, ()) or ()))
            for part in ("include", "require", "exclude")
        )
    return (linker if isinstance(linker, str) else type(linker).__name__, repr(rewrites))


def _compiled(output: Any, inputs: list[Any], arrays: list[Any], nodes: list[Any]) -> Any:
    """``output`` rebuilt with ``arrays`` as inputs of any length, and compiled."""
    import pytensor
    from pytensor.tensor.type import TensorType

    new: dict[Any, Any] = {var: var for var in inputs}
    placeholders = []
    for var in arrays:
        shape = tuple(1 if size == 1 else None for size in var.type.shape)
        new[var] = TensorType(var.type.dtype, shape=shape)()
        placeholders.append(new[var])
    for node in nodes:
        rebuilt = node.op.make_node(*(new[var] for var in node.inputs))
        new.update(zip(node.outputs, rebuilt.outputs, strict=True))
    return pytensor.function(placeholders, new[output], on_unused_input="ignore")


#: The log densities compiled in this process, by structure.
STRUCTURES = _Structures()
_ACTIVE: contextvars.ContextVar[_Structures | None] = contextvars.ContextVar(
    "radonspec_held_out_structures", default=None
)
_ORIGINAL: dict[str, Callable[..., Any]] = {}


def _logp(*args: Any, **kwargs: Any) -> Any:
    """PyMC's ``logp``, its result evaluated through the active cache by ``.eval()``."""
    output = _ORIGINAL["logp"](*args, **kwargs)
    structures = _ACTIVE.get()
    if structures is not None:
        try:
            evaluate = structures.evaluator(output)
        except Exception:  # a graph that cannot be rebuilt: Bambi's own ``eval`` it is
            evaluate = None
        if evaluate is not None:
            # ``Variable.eval()`` without inputs or options looks its function up here
            output._fn_cache = {((), ()): evaluate}
    return output


@contextlib.contextmanager
def _evaluating_once_per_structure(
    structures: _Structures | None = None,
) -> Iterator[_Structures]:
    """Within the block, PyMC's ``logp`` graphs evaluate through ``structures``.

    ``pymc.logp`` is wrapped once per process; outside such a block the wrapper calls
    the original and changes nothing.
    """
    import pymc

    if "logp" not in _ORIGINAL:
        _ORIGINAL["logp"] = pymc.logp
        pymc.logp = _logp
    token = _ACTIVE.set(structures if structures is not None else STRUCTURES)
    try:
        yield _ACTIVE.get()  # type: ignore[misc]
    finally:
        _ACTIVE.reset(token)
