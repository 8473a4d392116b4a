from __future__ import annotations

import json

import numpy as np

from radonspec.report.summary import plain

PNG = b"\x89PNG\r\n\x1a\n"
FORMULAS = {"pooled": "y ~ x", "unpooled": "y ~ 0 + g + g:x", "hierarchical": "y ~ x + (x|g)"}
FAILED_REASON = "the model's log density is not finite at the initial point; check the priors"
SECTIONS = [
    "Model comparison",
    "Sampling diagnostics",
    "Parameters",
    "Random effects",
    "Group-level views",
    "Posterior predictive checks",
    "Prior vs posterior",
    "Appendix: specs and priors",
]


def test_plain_turns_numpy_and_non_finite_values_into_json() -> None:
    value = {
        "a": np.float64("nan"),
        "b": np.int64(3),
        "c": [np.bool_(True), float("inf")],
        1: (2.5,),
    }
    assert plain(value) == {"a": None, "b": 3, "c": [True, None], "1": [2.5]}
    json.dumps(plain(value), allow_nan=False)
