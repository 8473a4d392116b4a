from __future__ import annotations

import pytest

from radonspec.analysis.diagnostics import Diagnostics
from radonspec.analysis.loo import Comparison, ComparisonRow
from radonspec.report.content import ModelView
from radonspec.report.verdict import agreement, verdict


def _row(model: str, rank: int, elpd: float, diff: float = 0.0, dse: float = 0.0) -> ComparisonRow:
    return ComparisonRow(model, rank, elpd, 5.0, 3.0, diff, dse, 0.5, 0)


def _view(name: str, passed: bool = True) -> ModelView:
    diagnostics = Diagnostics(1.0, 500.0, 500.0, 0, 0, 0.9, passed)
    return ModelView(name, "#000000", "ok", None, "y ~ x", "gaussian", diagnostics=diagnostics)


@pytest.mark.parametrize(
    ("diff", "dse", "expected"),
    [
        (-2.5, 1.0, "is only 2.50 lower: a difference below 4 is small"),
        (-15.0, 3.0, "is 15.0 lower in elpd_loo, 5.00 times the standard error of the difference"
         " (3.00), so the difference is clear."),
        (-6.0, 4.0, "but that is only 1.50 times the standard error of the difference (4.00),"
         " so which predicts better is uncertain."),
    ],
)  # fmt: skip
def test_verdict_weighs_the_difference_against_its_standard_error(
    diff: float, dse: float, expected: str
) -> None:
    comparison = Comparison("loo", (_row("a", 0, -100.0), _row("b", 1, -100.0 + diff, diff, dse)))
    views = {"a": _view("a"), "b": _view("b")}
    sentence = verdict(comparison, views)
    assert sentence.startswith("'a'")
    assert expected in sentence
    assert "Caution" not in sentence


def test_verdict_warns_when_the_best_model_failed_its_diagnostics() -> None:
    comparison = Comparison("kfold", (_row("a", 0, -100.0), _row("b", 1, -130.0, -30.0, 5.0)))
    sentence = verdict(comparison, {"a": _view("a", passed=False), "b": _view("b")})
    assert "Caution: 'a' failed its diagnostics, so its elpd_kfold may be off." in sentence
    single = verdict(Comparison("loo", (_row("a", 0, -100.0),)), {})
    assert single == "Only 'a' was compared (elpd_loo -100), so there is no choice."


def test_agreement_of_kfold_and_loo_says_which_ranks_first_and_what_each_asks() -> None:
    def ranked(*names: str) -> Comparison:
        return Comparison("x", tuple(ComparisonRow(n, i, -float(i), 1, 1, 0, 0, 0, 0)
                                     for i, n in enumerate(names)))  # fmt: skip

    same = agreement(ranked("a", "b"), ranked("a", "b"), "county")
    assert same.startswith("PSIS-LOO ranks the models as k-fold does.")
    assert "a county it has not seen" in same
    assert agreement(ranked("a", "b", "c"), ranked("a", "c", "b"), None).startswith(
        "Both criteria rank 'a' first; the order below differs."
    )
    assert agreement(ranked("a", "b"), ranked("b", "a"), "county").startswith(
        "PSIS-LOO ranks 'b' first where k-fold ranks 'a'."
    )
