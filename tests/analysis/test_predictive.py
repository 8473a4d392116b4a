from __future__ import annotations

import numpy as np


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
