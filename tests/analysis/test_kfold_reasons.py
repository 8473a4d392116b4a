"""Why a model's k-fold is not scored: the reason names the cause the error shows."""

from __future__ import annotations

from radonspec.analysis.kfold import _why_not_scored


def test_a_level_the_refit_never_saw_is_explained_as_no_pooling() -> None:
    exc = ValueError("The levels (AITKIN) in 'county' are not present in the original data set.")
    reason = _why_not_scored(exc)
    assert reason.startswith("cannot predict the held-out rows (ValueError: The levels (AITKIN)")
    assert "(no pooling) cannot predict a group it never saw" in reason
    assert "leave it out of compare.models" in reason


def test_a_long_list_of_unseen_levels_is_still_recognised() -> None:
    levels = ", ".join(f"COUNTY{i}" for i in range(60))  # the message is cut at 200 characters
    exc = ValueError(f"The levels ({levels}) in 'county' are not present in the original data set.")
    reason = _why_not_scored(exc)
    assert "(no pooling) cannot predict a group it never saw" in reason
    assert len(reason) < 500


def test_another_failure_is_not_blamed_on_pooling() -> None:
    reason = _why_not_scored(RuntimeError("shapes (3,) and (4,) not aligned\n  at row 7"))
    assert reason == (
        "cannot predict the held-out rows (RuntimeError: shapes (3,) and (4,) not aligned at"
        " row 7); run with --debug to see where it failed"
    )
    assert "pooling" not in reason
