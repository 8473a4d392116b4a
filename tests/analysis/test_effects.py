"""Conditional effects against the posterior draws themselves (toy fits, replayed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import radonspec
from radonspec.analysis.effects import NotApplicable, conditional_effect
from radonspec.analysis.predictions import load_predictor


@pytest.fixture
def varying(toy: Path, fake_sampler: Any, tmp_path: Path) -> tuple[Any, Any]:
    store = tmp_path / "store"
    fits = radonspec.fit_study(toy, store=store, jobs=1)
    model = load_predictor(radonspec.load_study(toy), "varying", store).model
    return model, fits["varying"].tree


def draws(tree: Any, name: str) -> np.ndarray:
    return tree["posterior"][name].stack(s=("chain", "draw")).transpose("s", ...).values


def test_a_typical_group_has_its_group_effect_at_zero(varying: tuple[Any, Any]) -> None:
    model, tree = varying
    effect = conditional_effect("varying", model, tree, "x", None, "gaussian")
    assert effect.population and not effect.levels and effect.x.size == 50
    line = effect.lines[0]
    expected = draws(tree, "Intercept")[:, None] + draws(tree, "x")[:, None] * effect.x[None, :]
    np.testing.assert_allclose(line.mean, expected.mean(axis=0), rtol=1e-10)
    np.testing.assert_allclose(line.lb, np.quantile(expected, 0.055, axis=0), rtol=1e-10)
    assert effect.quantity == "expected y" and effect.held == ()


def test_by_the_grouping_factor_draws_each_group(varying: tuple[Any, Any]) -> None:
    model, tree = varying
    effect = conditional_effect("varying", model, tree, "x", "g", "gaussian")
    assert not effect.population
    assert [line.label for line in effect.lines] == [f"g = g{i}" for i in range(5)]
    groups = draws(tree, "1|g")
    for i, line in enumerate(effect.lines):
        expected = (draws(tree, "Intercept")[:, None] + groups[:, i, None]
                    + draws(tree, "x")[:, None] * effect.x[None, :])  # fmt: skip
        np.testing.assert_allclose(line.mean, expected.mean(axis=0), rtol=1e-10)


def test_a_predictor_the_model_does_not_use_is_said(
    toy: Path, fake_sampler: Any, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    fits = radonspec.fit_study(toy, store=store, jobs=1)
    model = load_predictor(radonspec.load_study(toy), "pooled", store).model
    with pytest.raises(NotApplicable, match="^'pooled' does not use 'g'$"):
        conditional_effect("pooled", model, fits["pooled"].tree, "g", None, "gaussian")


def test_a_held_value_that_is_zero_up_to_rounding_reads_as_zero() -> None:
    """The mean of a centred predictor (epil's lage) printed as 9.6e-17."""
    import numpy as np

    from radonspec.analysis.effects import _text

    assert _text(np.float64(9.6e-17)) == "0" and _text(-3e-15) == "0"
    assert _text(0.000123) == "0.000123" and _text(2.5) == "2.5" and _text("CASS") == "CASS"
