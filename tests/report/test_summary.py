from __future__ import annotations

import json

import numpy as np

from radonspec.report.summary import plain


def test_plain_turns_numpy_and_non_finite_values_into_json() -> None:
    value = {
        "a": np.float64("nan"),
        "b": np.int64(3),
        "c": [np.bool_(True), float("inf")],
        1: (2.5,),
    }
    assert plain(value) == {"a": None, "b": 3, "c": [True, None], "1": [2.5]}
    json.dumps(plain(value), allow_nan=False)
