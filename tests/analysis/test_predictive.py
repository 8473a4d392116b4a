from __future__ import annotations

import numpy as np
import pytest


def test_loo_pit_envelope_is_arviz_s_and_computed_once_per_size() -> None:
    from arviz_stats.ecdf_utils import ecdf_pit

    from radonspec.analysis.predictive import _pit_envelope

    pit = np.random.default_rng(1).uniform(size=200)
    x, _, lower, upper = ecdf_pit(pit, 0.95, 1000, rng=np.random.default_rng(214))
    _pit_envelope.cache_clear()
    for got, expected in zip(_pit_envelope(200), (x, lower, upper), strict=True):
        np.testing.assert_array_equal(got, expected)
    _pit_envelope(200)
    assert _pit_envelope.cache_info().hits == 1


def _ordinal_tree(observed: np.ndarray, replicated: np.ndarray) -> object:
    import xarray as xr

    dims = ("chain", "draw", "__obs__")
    return xr.DataTree.from_dict(
        {
            "observed_data": xr.Dataset({"rating": ("__obs__", observed)}),
            "posterior_predictive": xr.Dataset({"rating": (dims, replicated)}),
        }
    )


def test_an_ordinal_check_names_its_bars_by_the_declared_levels() -> None:
    """Issue 13, class 15: the bars of an ordinal response read low..vhigh, not 0..K-1."""
    import pandas as pd

    from radonspec.analysis.model import _predictive

    rng = np.random.default_rng(4)
    # codes 0..3 in the declared order; level 'high' (code 2) never observed
    observed = np.array([0, 0, 1, 3, 3, 1, 0, 3])
    replicated = rng.integers(0, 4, size=(2, 50, observed.size))
    tree = _ordinal_tree(observed, replicated)
    order = ["low", "mid", "high", "vhigh"]  # not alphabetical
    levels = {"response": "rating", "response_levels": order}
    notes: list[str] = []
    check = _predictive("m", tree, "cumulative", pd.DataFrame(), notes, levels)
    assert notes == []
    assert check is not None and check.kind == "frequencies"
    assert list(check.values) == [0, 1, 3]
    assert check.labels == ("low", "mid", "vhigh")
    np.testing.assert_allclose(check.observed_share, [3 / 8, 2 / 8, 3 / 8])


def test_a_binary_check_names_the_event_and_the_other_level() -> None:
    import pandas as pd

    from radonspec.analysis.model import _predictive

    observed = np.array([1, 0, 1, 1])
    tree = _ordinal_tree(observed, np.ones((2, 10, 4), dtype=int))
    levels = {"response": "use", "response_levels": ["N", "Y"], "event": "Y"}
    check = _predictive("m", tree, "bernoulli", pd.DataFrame(), [], levels)
    assert check is not None and check.labels == ("N", "Y")


def test_loo_pit_envelopes_are_kept_in_the_folder_given(tmp_path: object) -> None:
    from pathlib import Path

    from radonspec.analysis import predictive

    folder = Path(str(tmp_path)) / "envelopes"
    predictive._pit_envelope.cache_clear()
    with predictive.kept_envelopes(folder):
        first = predictive._pit_envelope(50)
    (kept,) = folder.glob("pit-50-*.npz")
    predictive._pit_envelope.cache_clear()
    with predictive.kept_envelopes(folder):
        for got, expected in zip(predictive._pit_envelope(50), first, strict=True):
            np.testing.assert_array_equal(got, expected)
    kept.write_bytes(b"damaged")
    predictive._pit_envelope.cache_clear()
    with predictive.kept_envelopes(folder):
        again = predictive._pit_envelope(50)  # simulated again, and kept again
    np.testing.assert_array_equal(again[2], first[2])
    assert kept.read_bytes() != b"damaged"
    predictive._pit_envelope.cache_clear()


def _censored_tree(
    seed: int, counts: bool = False, n: int = 3000, draws: int = 400
) -> tuple[object, object]:
    """Values from a known model, censored right and left, and that model's predictive draws.

    Every draw of the "posterior" is the true model (exponential times of scale 1 to 2,
    or Poisson counts of mean 1 to 6), and the log-likelihood nearly flat, so the
    leave-one-out predictive distribution of each row is its true distribution: a
    correct LOO-PIT is uniform. A censoring bound is drawn independently of the value;
    a right-censored row is one whose value is at or beyond its bound (at or before, for
    left), and shows the bound, as Bambi's ``censored(value, status)`` takes it.
    """
    import xarray as xr

    from radonspec.analysis.predictive import Censoring

    rng = np.random.default_rng(seed)
    scale = 1.0 + rng.uniform(size=n) * (5.0 if counts else 1.0)

    def draw(size: object = None) -> np.ndarray:
        return rng.poisson(scale, size=size) if counts else rng.exponential(scale, size=size)

    values, bound = draw(), draw()
    status = rng.choice([0, 1, -1], size=n, p=[0.3, 0.55, 0.15])
    status[(status == 1) & (values < bound)] = 0  # censored only where the bound came first
    status[(status == -1) & (values > bound)] = 0
    observed = np.where(status == 0, values, bound).astype(float)
    replicated = draw(size=(1, draws, n)).astype(float)
    dims = ("chain", "draw", "__obs__")
    tree = xr.DataTree.from_dict(
        {
            "posterior": xr.Dataset({"a": (dims[:2], rng.normal(size=(1, draws)))}),
            "posterior_predictive": xr.Dataset({"t": (dims, replicated)}),
            "observed_data": xr.Dataset({"t": ("__obs__", observed)}),
            "log_likelihood": xr.Dataset({"t": (dims, rng.normal(0, 1e-3, (1, draws, n)))}),
        }
    )
    return tree, Censoring(status)


@pytest.mark.parametrize("counts", [False, True], ids=["times", "counts"])
def test_the_loo_pit_of_censored_values_is_uniform_under_the_true_model(counts: bool) -> None:
    """Right- and left-censored rows: uniform within their bounds, skewed at them."""
    from scipy import stats

    from radonspec.analysis.predictive import loo_pit

    tree, censoring = _censored_tree(seed=2, counts=counts)
    assert censoring.censored > 900
    assert "right-censored" in censoring.describe() and "left-censored" in censoring.describe()
    allowed = loo_pit(tree, censoring=censoring)  # type: ignore[arg-type]
    taken_at_bounds = loo_pit(tree)  # type: ignore[arg-type]
    assert stats.kstest(allowed, "uniform").pvalue > 0.01
    assert stats.kstest(taken_at_bounds, "uniform").pvalue < 1e-6
    exact = censoring.status == 0
    np.testing.assert_array_equal(allowed[exact], taken_at_bounds[exact])


def test_bambi_s_censoring_codes_are_read_from_the_response() -> None:
    import warnings

    import bambi as bmb
    from conftest import censored_model

    from radonspec.analysis.predictive import censoring_of

    model = censored_model(["none", "right", "left", "none"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = bmb.Model("t ~ x", model.data, family="exponential")
    found = censoring_of(model)
    assert found is not None and list(found.status) == [0, 1, -1, 0]
    assert found.censored == 2 and found.describe() == "1 right-censored and 1 left-censored"
    assert censoring_of(plain) is None
