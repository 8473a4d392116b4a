"""Group factors as level codes: the same terms, groups and designs as formulae's own."""

from __future__ import annotations

import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from radonspec.analysis.kfold import held_out_loglik
from radonspec.compile import factors
from radonspec.data.datasets import load_bundled
from radonspec.study.formula import formula_namespace

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    radon = load_bundled("radon").copy()
    radon["county"] = radon["county"].astype("category")
    rng = np.random.default_rng(3)
    radon["year"] = rng.integers(1985, 1990, len(radon))  # a numeric column used as a factor
    radon["zone"] = pd.Categorical(
        rng.choice(["south", "north", "east"], len(radon)),
        categories=["south", "north", "east"],
        ordered=True,  # formulae keeps an ordered column's own order
    )
    return radon


@pytest.fixture
def formulae_own() -> Iterator[None]:
    factors.uninstall()
    yield
    factors.install()


FORMULAS = [
    "log_radon ~ floor + (1 | county)",
    "log_radon ~ floor + (floor | county)",
    "log_radon ~ floor + (0 + floor | county)",
    "log_radon ~ floor + (1 | year) + (1 | zone)",
    "log_radon ~ floor + (log_uranium | county)",
    "log_radon ~ floor + (C(floor) | county)",
]


def _build_with(formula: str, data: pd.DataFrame, *, own: bool) -> Any:
    import bambi as bmb

    from radonspec.compile import design

    design.install()
    if own:
        factors.uninstall()
    else:
        factors.install()
    try:
        model = bmb.Model(formula, data, extra_namespace=formula_namespace())
        model.build()
        return model
    finally:
        factors.install()


def _parent(model: Any) -> Any:
    return model.parameters[model.family.likelihood.parent]


@pytest.mark.parametrize("formula", FORMULAS)
def test_terms_groups_and_designs_equal_formulae_s_own(frame: pd.DataFrame, formula: str) -> None:
    mine = _build_with(formula, frame, own=False)
    theirs = _build_with(formula, frame, own=True)
    mine_terms = _parent(mine).group_specific_terms
    their_terms = _parent(theirs).group_specific_terms
    assert list(mine_terms) == list(their_terms)
    for name, term in mine_terms.items():
        other = their_terms[name]
        assert term.groups == other.groups, name
        assert np.array_equal(term.group_index, other.group_index), name
        assert (term.data != other.data).nnz == 0, name
        assert np.array_equal(np.asarray(term.predictor), np.asarray(other.predictor)), name
        assert term.coords == other.coords, name
    point = mine.backend.model.initial_point()
    assert mine.backend.model.compile_logp()(point) == pytest.approx(
        theirs.backend.model.compile_logp()(point)
    )


NESTED = ["log_radon ~ floor + (1 | county:zone)", "log_radon ~ floor + (1 | county/zone)"]


@pytest.mark.parametrize("formula", NESTED)
def test_an_interaction_factor_has_the_observed_combinations_only(
    frame: pd.DataFrame, formula: str
) -> None:
    mine = _build_with(formula, frame, own=False)
    theirs = _build_with(formula, frame, own=True)
    term = _parent(mine).group_specific_terms["1|county:zone"]
    other = _parent(theirs).group_specific_terms["1|county:zone"]
    observed = frame.groupby(["county", "zone"], observed=True).size()
    assert len(term.groups) == len(observed) < len(other.groups) == 85 * 3
    # formulae's columns of the combinations that occur, in formulae's order
    used = np.flatnonzero(np.asarray(other.data.sum(axis=0)).ravel())
    assert term.groups == [other.groups[i] for i in used]
    assert (term.data != other.data[:, used]).nnz == 0
    dims = mine.backend.model.named_vars_to_dims["1|county:zone"]
    assert tuple(dims) == ("county:zone__factor_dim",)
    assert len(mine.backend.model.coords["county:zone__factor_dim"]) == len(observed)


def test_new_data_of_an_interaction_factor_maps_to_the_observed_combinations(
    frame: pd.DataFrame,
) -> None:
    model = _build_with("log_radon ~ floor + (1 | county:zone)", frame, own=False)
    term = _parent(model).group_specific_terms["1|county:zone"]
    seen = frame.iloc[:40]
    design = _parent(model).design.group.evaluate_new_data(seen).design_matrix.toarray()
    assert design.shape == (40, len(term.groups))
    assert [term.groups[i] for i in design.argmax(axis=1)] == [
        f"{c}:{z}" for c, z in zip(seen["county"], seen["zone"], strict=True)
    ]
    # a combination of seen levels that the fit never saw is a new group (one more column)
    combos = set(zip(frame["county"], frame["zone"], strict=True))
    county = next(c for c in frame["county"].cat.categories if (c, "east") not in combos)
    new = frame.iloc[:2].copy()
    new["county"], new["zone"] = county, "east"
    from formulae import config

    previous = config["EVAL_UNSEEN_CATEGORIES"]
    config["EVAL_UNSEEN_CATEGORIES"] = "silent"
    try:
        matrix = _parent(model).design.group.evaluate_new_data(new)
    finally:
        config["EVAL_UNSEEN_CATEGORIES"] = previous
    assert matrix.factors_with_new_levels == ("county:zone",)
    assert matrix.design_matrix.shape == (2, len(term.groups) + 1)
    assert (matrix.design_matrix.toarray()[:, -1] == 1).all()


@pytest.mark.parametrize("formula", FORMULAS[:3])
def test_new_data_designs_equal_formulae_s_own_also_for_unseen_groups(
    frame: pd.DataFrame, formula: str
) -> None:
    from formulae import config

    new = frame.iloc[:60].copy()
    new["county"] = new["county"].cat.add_categories(["ATLANTIS"])
    new.loc[new.index[:5], "county"] = "ATLANTIS"  # a group the fit never saw
    mine = _build_with(formula, frame, own=False)
    theirs = _build_with(formula, frame, own=True)
    previous = config["EVAL_UNSEEN_CATEGORIES"]
    config["EVAL_UNSEEN_CATEGORIES"] = "silent"
    try:
        mine_matrix = _parent(mine).design.group.evaluate_new_data(new)
        factors.uninstall()
        with warnings.catch_warnings():  # formulae's own path: pandas deprecates its call
            warnings.simplefilter("ignore", pd.errors.Pandas4Warning)
            their_matrix = _parent(theirs).design.group.evaluate_new_data(new)
    finally:
        factors.install()
        config["EVAL_UNSEEN_CATEGORIES"] = previous
    assert mine_matrix.design_matrix.shape == their_matrix.design_matrix.shape
    assert (mine_matrix.design_matrix != their_matrix.design_matrix).nnz == 0


def test_unseen_groups_raise_or_warn_as_configured(frame: pd.DataFrame) -> None:
    from formulae import config

    model = _build_with("log_radon ~ floor + (1 | county)", frame, own=False)
    new = frame.iloc[:3].copy()
    new["county"] = new["county"].cat.add_categories(["ATLANTIS"])
    new.loc[new.index[0], "county"] = "ATLANTIS"
    group = _parent(model).design.group
    previous = config["EVAL_UNSEEN_CATEGORIES"]
    try:
        config["EVAL_UNSEEN_CATEGORIES"] = "error"
        with pytest.raises(ValueError, match=r"levels \(ATLANTIS\) in 'county'"):
            group.evaluate_new_data(new)
        config["EVAL_UNSEEN_CATEGORIES"] = "warning"
        with pytest.warns(UserWarning, match="ATLANTIS"):
            group.evaluate_new_data(new)
    finally:
        config["EVAL_UNSEEN_CATEGORIES"] = previous


def test_predictions_for_new_groups_equal_formulae_s_own(frame: pd.DataFrame) -> None:
    """The k-fold scoring path (a county the fit never saw) through both evaluations."""
    formula = "log_radon ~ floor + (1 | county)"
    fitted = frame[frame["county"] != "AITKIN"]
    held_out = frame[frame["county"] == "AITKIN"]
    mine = _build_with(formula, fitted, own=False)
    theirs = _build_with(formula, fitted, own=True)
    import xarray as xr

    prior = mine.prior_predictive(draws=20, random_seed=1)
    draws = xr.DataTree.from_dict({"posterior": prior["prior"].to_dataset()})  # prior as posterior
    mine_values = held_out_loglik(mine, draws, held_out)
    factors.uninstall()
    try:
        their_values = held_out_loglik(theirs, draws, held_out)
    finally:
        factors.install()
    assert mine_values.shape == (1, 20, len(held_out))
    assert np.array_equal(mine_values, their_values)


def test_level_codes_behave_like_the_indicator_matrix() -> None:
    codes = factors.LevelCodes(np.array([2, 0, 1, 2]), 3)
    dense = np.asarray(codes)
    assert dense.shape == codes.shape == (4, 3) and codes.ndim == 2
    assert np.array_equal(dense.argmax(1), codes.argmax(axis=1))
    assert np.array_equal(dense.argmax(0), codes.argmax(0))
    assert np.array_equal(dense, np.eye(3, dtype=int)[[2, 0, 1, 2]])


_PEAK = """
import sys, numpy as np, pandas as pd
from radonspec.compile.model import _bambi_settings
from radonspec.study.formula import formula_namespace
n, j = 40_000, 4_000
rng = np.random.default_rng(1)
frame = pd.DataFrame({"y": rng.normal(size=n), "x": rng.normal(size=n),
                      "g": pd.Categorical(rng.integers(0, j, n))})
with _bambi_settings() as bmb:
    bmb.Model("y ~ x + (x | g)", frame, extra_namespace=formula_namespace()).build()
peak = next(l for l in open("/proc/self/status") if l.startswith("VmHWM"))
print(int(peak.split()[1]) * 1024)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_model_of_thousands_of_groups_builds_in_little_memory() -> None:
    """4 x 10^4 rows in 4,000 groups peaked at 2.95 GB with formulae's dense indicators
    (0.36 GB now); 10^5 rows in 10^4 groups at 16 GB (0.53 GB now)."""
    done = subprocess.run(
        [sys.executable, "-c", _PEAK],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        timeout=300,
    )
    peak = int(done.stdout.split()[-1])
    assert peak < 2**30, f"building took {peak / 2**30:.2f} GB"
