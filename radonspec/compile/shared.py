"""Data as inputs of the compiled model: one compile serves every data set of a structure.

Bambi writes a model's data into the PyMC graph as constants: design matrices (or the
gather layout of ``radonspec.compile.design``), group level codes, the response, offsets,
binomial trials. nutpie compiles the graph to machine code (numba/LLVM, seconds per
model), so every refit on new data compiled anew. Here the graph is rewritten so that
those constants are shared inputs: each constant whose first axis runs over the rows
becomes a shared variable with that axis free, and (``priors=True``) every float
constant that parameterises a distribution does too. A nutpie model compiled from one
data set then takes another of the same structure with ``with_data`` (well under a
millisecond), and its draws are those a fresh compile of the same graph would give.

What decides the compiled code is the *structure key*: the rewritten graph with each
input reduced to its name and type, every other constant by value, the lengths of the
model's dimensions other than the rows (e.g. the number of groups), and the compile
settings.

``radonspec.fit.compile_cache`` keeps the compiled models by that key and feeds them data.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Prefix of the shared inputs' names: ``radonspec_data_rows_float64`` holds the float row
#: data, ``radonspec_data_prior_float64`` the prior values, and so on by kind and dtype.
INPUT_PREFIX = "radonspec_data_"
#: Bambi's dimension of the rows (observations).
ROWS_DIM = "__obs__"


@dataclass(frozen=True)
class Inputs:
    """A model whose data are shared inputs, the inputs' values and its structure key."""

    model: Any  # pymc.Model
    values: dict[str, np.ndarray]
    key: str


def data_as_inputs(model: Any, *, priors: bool = True) -> Inputs | None:
    """Rewrite ``model`` (a built PyMC model) with its data as shared inputs.

    Every variable keeps its name, dims and place in the model's lists, so the draws
    come back in the same layout. Returns None for a model without Bambi's rows
    dimension (nothing is known about which constants are data).

    Parameters
    ----------
    model
        A PyMC model as Bambi builds it (not modified).
    priors
        Also make the float parameters of every distribution inputs, so models that
        differ only in prior values (or in automatic priors scaled by the data) share
        a compile.
    """
    from pymc.model.fgraph import fgraph_from_model, model_from_fgraph
    from pytensor.graph import FunctionGraph
    from pytensor.graph.replace import clone_replace

    rows = _rows(model)
    if rows is None:
        return None
    graph, _ = fgraph_from_model(model)
    found: dict[Any, str] = {}
    for node in graph.toposort():
        for var in node.inputs:
            if var not in found:
                kind = _input_kind(var, node, rows, priors)
                if kind is not None:
                    found[var] = kind
    replacements, values = _packed(found)
    outputs = clone_replace(list(graph.outputs), replace=replacements, rebuild_strict=False)
    rewritten = FunctionGraph(outputs=outputs, clone=False)
    rewritten._coords = graph._coords  # type: ignore[attr-defined]
    rewritten._dim_lengths = graph._dim_lengths  # type: ignore[attr-defined]
    key = _structure_key(rewritten, model)
    new = model_from_fgraph(rewritten, mutate_fgraph=True)
    _keep_order(new, model)
    return Inputs(new, values, key)


def _packed(found: dict[Any, str]) -> tuple[dict[Any, Any], dict[str, np.ndarray]]:
    """Pack the constants into a few shared arrays, one per kind and dtype.

    nutpie's compiled function unpacks every shared input separately, and compiling
    that unpacking costs about as much per input as the rest of a small model (the
    radon varying-intercept model with 11 inputs compiled 4 times slower than with
    none, with 3 inputs 1.3 times). Row data go in an array of shape ``(columns, rows)``,
    so each vector is contiguous; distribution parameters in one flat vector. Each
    constant is replaced by its slice of the packed array, with its static shape.
    """
    import pytensor
    import pytensor.tensor as pt

    groups: dict[tuple[str, str], list[tuple[Any, np.ndarray]]] = {}
    for var, kind in found.items():
        data = np.asarray(var.data)
        groups.setdefault((kind, data.dtype.str), []).append((var, data))
    replacements: dict[Any, Any] = {}
    values: dict[str, np.ndarray] = {}
    for (kind, _), members in groups.items():
        dtype = members[0][1].dtype
        name = f"{INPUT_PREFIX}{kind}_{dtype.name}"
        if kind == "rows":
            n = members[0][1].shape[0]
            columns = [data.reshape(n, -1).T for _, data in members]
            packed = np.ascontiguousarray(np.concatenate(columns, axis=0))
            # the rows axis is left free: the compiled code then takes any number of rows
            shared = pytensor.shared(packed, name=name, shape=(packed.shape[0], None))
        else:
            packed = np.concatenate([data.ravel() for _, data in members])
            shared = pytensor.shared(packed, name=name, shape=packed.shape)
        values[name] = packed
        start = 0
        for var, data in members:
            width = int(np.prod(data.shape[1:] if kind == "rows" else data.shape))
            if kind == "rows":
                part = shared[start] if data.ndim == 1 else shared[start : start + width].T
                shape = (None, *data.shape[1:])
                if data.ndim > 2:
                    part = part.reshape((-1, *data.shape[1:]))
            else:
                part = shared[start : start + width].reshape(data.shape)
                shape = data.shape
            replacements[var] = pt.specify_shape(part, shape)
            start += width
    return replacements, values


def _rows(model: Any) -> int | None:
    length = model.dim_lengths.get(ROWS_DIM)
    if length is None:
        return None
    try:
        return int(length.get_value() if hasattr(length, "get_value") else length.eval())
    except Exception:  # a symbolic length we cannot read: leave the model as it is
        return None


def _input_kind(var: Any, node: Any, rows: int, priors: bool) -> str | None:
    """``"rows"`` for data, ``"prior"`` for a distribution's float parameter, else None."""
    from pytensor.tensor.random.op import RandomVariable
    from pytensor.tensor.variable import TensorConstant

    if not isinstance(var, TensorConstant):
        return None
    data = var.data
    if data.ndim >= 1 and data.shape[0] == rows and rows > 1:
        return "rows"
    if priors and data.dtype.kind == "f" and _is_distribution(node.op, RandomVariable):
        return "prior"
    return None


def _is_distribution(op: Any, random_variable: type) -> bool:
    from pymc.distributions.distribution import SymbolicRandomVariable

    return isinstance(op, random_variable | SymbolicRandomVariable)


def _keep_order(new: Any, old: Any) -> None:
    """Give ``new`` the order of ``old``'s variables (PyMC rebuilds them in graph order).

    The order of the free variables fixes the layout of the sampler's flat vector and
    of the initial points; the order of the terms fixes how the log density is summed.
    With both as Bambi made them, the draws are the ones the unrewritten model gives.
    """
    named = new.named_vars
    for attribute in ("free_RVs", "observed_RVs", "deterministics", "potentials", "data_vars"):
        listed = getattr(new, attribute)
        ordered = [named[var.name] for var in getattr(old, attribute)]
        listed.clear()  # a root model's lists have no parent to keep in step
        listed.extend(ordered)
    for attribute in ("named_vars", "named_vars_to_dims"):
        mapping = getattr(new, attribute)
        order = [name for name in getattr(old, attribute) if name in mapping]
        items = [(name, mapping[name]) for name in order]
        items += [(name, value) for name, value in mapping.items() if name not in set(order)]
        mapping.clear()
        mapping.update(items)
    for attribute in ("rvs_to_values", "rvs_to_transforms", "rvs_to_initial_values"):
        mapping = getattr(new, attribute)
        items = [(named[rv.name], mapping[named[rv.name]]) for rv in getattr(old, attribute)]
        mapping.clear()
        mapping.update(items)
    values = new.values_to_rvs
    items = [(new.rvs_to_values[rv], rv) for rv in new.rvs_to_values]
    values.clear()
    values.update(items)


def _structure_key(graph: Any, model: Any) -> str:
    """A digest of everything the compiled code of ``graph`` (``model`` rewritten) depends on.

    The graph node by node (each operation with its properties, each input by
    position), shared inputs by name and type, other constants by value, the model's
    variables with their names, dims and transforms and in their order, and the lengths
    of its dimensions except the rows. Two models with one key compile to the same
    code; anything the digest cannot describe exactly (an object printed with its
    address) makes keys differ, never agree.
    """
    digest = hashlib.sha256()
    _describe_graph(graph.inputs, graph.outputs, graph.toposort(), digest)
    for attribute in ("free_RVs", "observed_RVs", "deterministics", "potentials"):
        digest.update(f"{attribute}={[var.name for var in getattr(model, attribute)]}\n".encode())
    for name, length in model.dim_lengths.items():
        if name != ROWS_DIM:
            digest.update(f"dim {name}={_value_text(length)}\n".encode())
    digest.update(f"check_bounds={model.check_bounds}\n".encode())
    return digest.hexdigest()


def _describe_graph(inputs: Any, outputs: Any, nodes: Any, digest: Any) -> None:
    ids: dict[Any, int] = {}

    def ref(var: Any) -> int:
        if var not in ids:
            ids[var] = len(ids)
            digest.update(f"v{ids[var]}={_leaf_text(var)}\n".encode())
        return ids[var]

    for var in inputs:
        ref(var)
    for node in nodes:
        arguments = [ref(var) for var in node.inputs]
        digest.update(f"{_op_text(node.op, digest)}{arguments}->".encode())
        for out in node.outputs:
            ids[out] = len(ids)
            digest.update(f"v{ids[out]}:{out.type}|{out.name};".encode())
        digest.update(b"\n")
    digest.update(f"out{[ref(var) for var in outputs]}\n".encode())


def _leaf_text(var: Any) -> str:
    from pytensor.compile.sharedvalue import SharedVariable
    from pytensor.graph.basic import Constant

    if isinstance(var, Constant):
        data = np.asarray(var.data) if not _is_generator(var.data) else None
        if data is None or data.dtype == object:
            return f"const {var.type} {var.data!r}"
        value = hashlib.sha256(np.ascontiguousarray(data).tobytes()).hexdigest()
        return f"const {var.type} {data.shape} {value}"
    if isinstance(var, SharedVariable):
        if var.name and var.name.startswith(INPUT_PREFIX):
            return f"input {var.name} {var.type}"
        # random generators (unused by the log density) and dimension lengths (digested
        # separately, without the rows): their type is what the code depends on
        return f"shared {var.type}"
    return f"{type(var).__name__} {var.type} {var.name}"


def _is_generator(value: Any) -> bool:
    return isinstance(value, np.random.Generator | np.random.RandomState)


def _op_text(op: Any, digest: Any) -> str:
    props = getattr(op, "__props__", None)
    if props is None:
        text = f"{type(op).__module__}.{type(op).__qualname__}<{op!r}>"
    else:
        values = ", ".join(f"{name}={_prop_text(getattr(op, name), digest)}" for name in props)
        text = f"{type(op).__module__}.{type(op).__qualname__}({values})"
    inner = getattr(op, "fgraph", None)
    if inner is not None:  # an operation defined by a graph of its own (OpFromGraph)
        _describe_graph(inner.inputs, inner.outputs, inner.toposort(), digest)
    return text


def _prop_text(value: Any, digest: Any) -> str:
    if hasattr(value, "__props__") or hasattr(value, "fgraph"):
        return _op_text(value, digest)
    if isinstance(value, np.ndarray):  # repr would elide the middle of a large array
        content = hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()
        return f"array{value.shape}{value.dtype}{content}"
    if isinstance(value, tuple | list):
        return f"{type(value).__name__}[{', '.join(_prop_text(v, digest) for v in value)}]"
    if hasattr(value, "__dict__") and not callable(value):
        # e.g. a transform: its class and settings (an object address makes keys differ)
        settings = ", ".join(f"{k}={_prop_text(v, digest)}" for k, v in sorted(vars(value).items()))
        return f"{type(value).__qualname__}({settings})"
    return repr(value)


def _value_text(length: Any) -> str:
    try:
        return str(int(length.get_value() if hasattr(length, "get_value") else length.eval()))
    except Exception:
        return repr(length)
