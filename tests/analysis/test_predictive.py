from __future__ import annotations

import numpy as np

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
