"""Row-sparse design products equal Bambi's dense ones, and Bambi's builder reaches them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.graph.traversal import ancestors

from radonspec.compile import design
from radonspec.compile.model import compile_model
from radonspec.fit.runner import study_frame
from radonspec.study.loader import load_study

SEED = Path(__file__).parents[2] / "specs" / "radon" / "seed.yaml"


def one_hot(codes: np.ndarray, levels: int) -> np.ndarray:
    return np.eye(levels)[codes]


def rebuilt(layout: tuple[np.ndarray, np.ndarray, np.ndarray], p: int) -> np.ndarray:
    columns, values, offset = layout
    matrix = np.zeros((len(columns), p))
    np.add.at(matrix, (np.arange(len(columns))[:, None], columns), values)
    return matrix + offset


def designs() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    codes = rng.integers(0, 20, 200)
    dummies = one_hot(codes, 20)
    x = rng.normal(size=200)
    return {
        "dummies": dummies,
        "dummies and slopes": np.column_stack([dummies, dummies * x[:, None]]),
        "centred dummies": dummies - dummies.mean(axis=0),
        "intercept, slope and dummies": np.column_stack([np.ones(200), x, dummies]),
    }


@pytest.mark.parametrize("name", list(designs()))
def test_layout_rebuilds_the_matrix(name: str) -> None:
    data = designs()[name]
    layout = design.sparse_layout(data)
    assert layout is not None
    assert layout[0].shape[1] <= 2
    np.testing.assert_allclose(rebuilt(layout, data.shape[1]), data, atol=1e-12)


def test_dense_and_narrow_designs_stay_dense() -> None:
    rng = np.random.default_rng(2)
    assert design.sparse_layout(rng.normal(size=(50, 20))) is None  # no zeros at all
    assert design.sparse_layout(np.eye(5)) is None  # too few columns to gain anything
    assert design.sparse_layout(pt.matrix("x")) is None  # not a constant


@pytest.mark.parametrize("name", list(designs()))
@pytest.mark.parametrize("width", [None, 3])
def test_product_and_gradient_equal_the_dense_ones(name: str, width: int | None) -> None:
    data = designs()[name]
    shape = (data.shape[1],) if width is None else (data.shape[1], width)
    coefs = pt.vector("b") if width is None else pt.matrix("b")
    value = np.random.default_rng(3).normal(size=shape)
    results = []
    for product in (pt.dot(data, coefs), design.row_sparse_dot(data, coefs)):
        total = (product**2).sum()
        results.append(pytensor.function([coefs], [product, pt.grad(total, coefs)])(value))
    (dense, dense_grad), (sparse, sparse_grad) = results
    np.testing.assert_allclose(sparse, dense, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(sparse_grad, dense_grad, rtol=1e-10, atol=1e-10)


# numba declines to disk-cache functions holding large constant arrays (the dense design)
@pytest.mark.filterwarnings("ignore:Cannot cache compiled function")
def test_unpooled_radon_model_is_built_sparse_with_the_same_log_density() -> None:
    study = load_study(SEED)
    frame = study_frame(study)
    compiled = compile_model(study, "unpooled", frame)
    assert design.installed()
    compiled.model.build()
    sparse = compiled.model.backend.model
    # Bambi's 919 x 170 dummy matrix must not be in the graph
    shapes = {
        node.data.shape
        for node in ancestors([sparse.logp()])
        if isinstance(node, pytensor.graph.basic.Constant) and hasattr(node.data, "shape")
    }
    assert (len(frame), 170) not in shapes

    from bambi.backend import model_components

    dense_model = compile_model(study, "unpooled", frame).model
    model_components.pt = pt  # what Bambi does on its own
    try:
        dense_model.build()
    finally:
        design.install()
    dense = dense_model.backend.model
    point = sparse.initial_point()
    rng = np.random.default_rng(4)
    point = {k: v + rng.normal(size=np.shape(v)) for k, v in point.items()}
    np.testing.assert_allclose(sparse.compile_logp()(point), dense.compile_logp()(point))
    np.testing.assert_allclose(
        sparse.compile_dlogp()(point), dense.compile_dlogp()(point), rtol=1e-9, atol=1e-9
    )
