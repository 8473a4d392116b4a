"""Dimension names with a comma, made safe for nutpie for the length of one fit.

Bambi names a term's dimension after the term, so ``bs(x, df=4)`` gets the dimension
``bs(x, df=4)_dim``. nutpie hands each variable's dimensions from its Rust sampler to
Python as one comma-joined string and splits it on ``,`` again (nutpie 0.16,
``sample._add_arrow_data``): that name comes back as two dimensions, and building the
posterior fails with "more dims (4) given than existing ones (3)". The PyMC backend
keeps dimensions as tuples and is not affected.

``comma_free_dims`` renames such dimensions in the PyMC model while nutpie samples
(``,`` becomes a full-width comma, which no formula can contain: formulas are ASCII),
then restores the model; ``restore_dims`` gives the sampled tree its original names,
so the stored fit is the one the PyMC backend would store.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

#: What stands for ',' in a dimension's name while nutpie samples.
STAND_IN = "\uff0c"


def renamed_dims(pm_model: Any) -> dict[str, str]:
    """Each dimension of ``pm_model`` whose name has a comma, mapped to its stand-in name."""
    return {dim: dim.replace(",", STAND_IN) for dim in pm_model.coords if "," in dim}


@contextlib.contextmanager
def comma_free_dims(pm_model: Any) -> Iterator[dict[str, str]]:
    """Rename ``pm_model``'s comma-holding dimensions inside the block; yield the renames."""
    renames = renamed_dims(pm_model)
    if not renames:
        yield renames
        return
    _rename(pm_model, renames)
    try:
        yield renames
    finally:
        _rename(pm_model, {new: old for old, new in renames.items()})


def restore_dims(tree: Any, renames: dict[str, str]) -> Any:
    """``tree`` with every stand-in dimension named as in the model again."""
    if not renames:
        return tree
    back = {new: old for old, new in renames.items()}
    for group in list(tree.children):
        dataset = tree[group].to_dataset()
        found = {new: old for new, old in back.items() if new in dataset.dims}
        if found:
            tree[group] = dataset.rename(found)
    return tree


def _rename(pm_model: Any, renames: dict[str, str]) -> None:
    # PyMC keeps the names in three places; they are renamed in place (order kept: Bambi
    # orders the posterior's dimensions by the model's coords)
    for table in (pm_model._coords, pm_model._dim_lengths):
        items = [(renames.get(name, name), value) for name, value in table.items()]
        table.clear()
        table.update(items)
    for name, dims in list(pm_model.named_vars_to_dims.items()):
        if any(dim in renames for dim in dims):
            renamed = [renames.get(dim, dim) for dim in dims]
            pm_model.named_vars_to_dims[name] = type(dims)(renamed)
