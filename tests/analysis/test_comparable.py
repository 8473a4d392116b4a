"""analysis.comparable: only models of the same values on the same rows are ranked together."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from radonspec.analysis.comparable import (
    ModelledResponse,
    comparison_groups,
    modelled_response,
    response_parts,
)
from radonspec.analysis.records import ModelAnalysis, ModelResult, Pointwise, Results
from radonspec.analysis.results import _compared, data_summary
from radonspec.study.schema import Study

RNG = np.random.default_rng(4)
Y = np.exp(RNG.normal(1.0, 0.5, size=40))
DATA = pd.DataFrame({"y": Y, "x": RNG.normal(size=40), "n": RNG.integers(0, 9, size=40)})
ALL = np.arange(40)


def test_response_parts() -> None:
    assert response_parts("log(y) ~ x") == ("log(y)", "y", "log")
    assert response_parts("y ~ x") == ("y", "y", None)
    assert response_parts("`yield` ~ N") == ("yield", "yield", None)
    assert response_parts("I(y / 2) ~ x") == ("I(y / 2)", "y", "other")
    assert response_parts("log(y + 1) ~ x")[2] == "other"
    assert response_parts("p(s, n) ~ x")[2] == "other"
    # lme4's || is read as formulae reads it (an independent model was left unranked)
    assert response_parts("Reaction ~ Days + (Days || Subject)") == ("Reaction", "Reaction", None)
    assert response_parts("use[Y] ~ x") == ("use", "use", None)


def test_the_jacobian_of_log_is_minus_log_y() -> None:
    found = modelled_response("log(y) ~ x", np.log(Y), DATA, ALL, discrete=False)
    assert found.transform == "log" and found.jacobian is not None
    np.testing.assert_allclose(found.jacobian, -np.log(Y))
    same = modelled_response("y ~ x", Y, DATA, ALL, discrete=False)
    assert same.jacobian is None and same.column_key == found.column_key
    assert same.values_key != found.values_key


@pytest.mark.parametrize("name", ["log", "log2", "log10", "log1p", "sqrt", "exp"])
def test_each_jacobian_matches_a_numerical_derivative(name: str) -> None:
    y = np.linspace(0.5, 3.0, 7)
    frame = pd.DataFrame({"y": y})
    g = {"log": np.log, "log2": np.log2, "log10": np.log10, "log1p": np.log1p,
         "sqrt": np.sqrt, "exp": np.exp}[name]  # fmt: skip
    found = modelled_response(f"{name}(y) ~ 1", g(y), frame, np.arange(7), discrete=False)
    h = 1e-6
    numeric = np.log(np.abs((g(y + h) - g(y - h)) / (2 * h)))
    assert found.jacobian is not None
    np.testing.assert_allclose(found.jacobian, numeric, rtol=1e-6, atol=1e-7)


def _record(formula: str, values: np.ndarray, rows: np.ndarray = ALL, *,
            discrete: bool = False) -> ModelledResponse:  # fmt: skip
    return modelled_response(formula, values, DATA, rows, discrete=discrete)


def test_groups_by_values_rows_and_kind() -> None:
    fewer = ALL[:30]
    responses = {
        "log_gaussian": _record("log(y) ~ x", np.log(Y)),
        "lognormal": _record("y ~ x", Y),
        "gamma": _record("y ~ x", Y),
        "fewer_rows": _record("y ~ x", Y[:30], fewer),
        "other_column": _record("x ~ 1", DATA["x"].to_numpy()),
        "halved": _record("I(y / 2) ~ x", Y / 2),
        "counts": _record("n ~ x", DATA["n"].to_numpy(), discrete=True),
        "counts_gaussian": _record("n ~ x", DATA["n"].to_numpy()),
    }
    groups, apart = comparison_groups(responses, list(responses))
    assert [g.models for g in groups] == [
        ("log_gaussian", "lognormal", "gamma"),
        ("fewer_rows",),
        ("other_column",),
        ("halved",),
        ("counts",),
        ("counts_gaussian",),
    ]
    head = groups[0]
    assert head.response == "y" and set(head.jacobian) == {"log_gaussian"}
    assert head.jacobian["log_gaussian"] == pytest.approx(-np.log(Y).sum())
    assert "put on the scale of y by adding the log Jacobian of log" in head.notes[0]
    assert len(apart) == 5
    assert "'fewer_rows' is not ranked against 'log_gaussian', 'lognormal' and 'gamma'" in apart[0]
    assert "fitted on other rows (30 against 40" in apart[0]
    assert "it models x, they model y" in apart[1]
    assert "it models I(y / 2), they model y; radonspec puts a response on the scale" in (apart[2])
    assert "not ranked against 'counts': its family gives a density" in apart[4]


def test_two_transforms_of_one_column_meet_on_its_scale() -> None:
    responses = {
        "log": _record("log(y) ~ x", np.log(Y)),
        "sqrt": _record("sqrt(y) ~ x", np.sqrt(Y)),
    }
    groups, apart = comparison_groups(responses, list(responses))
    assert [g.models for g in groups] == [("log", "sqrt")] and not apart
    assert set(groups[0].jacobian) == {"log", "sqrt"}


def test_a_response_that_is_not_the_transform_it_claims_is_not_moved() -> None:
    found = _record("log(y) ~ x", np.log(Y) + 1.0)
    assert found.column_key is None and found.note is not None


def _analysis(name: str, elpd_i: np.ndarray, modelled: ModelledResponse | None) -> ModelResult:
    loo = Pointwise(
        elpd=float(elpd_i.sum()), se=float(np.sqrt(len(elpd_i) * np.var(elpd_i))), p=2.0,
        n_samples=1000, n_data_points=len(elpd_i), warning=False, good_k=0.7,
        elpd_i=elpd_i, pareto_k=np.zeros(len(elpd_i)),
    )  # fmt: skip
    analysis = ModelAnalysis(
        model=name, key="k", fit_key="f", family="gaussian", link="identity", response="y",
        loo=loo, modelled=modelled,
    )  # fmt: skip
    return ModelResult(name, "ok", None, analysis=analysis)


def _results(models: dict[str, ModelResult]) -> Results:
    study = Study.model_validate(
        {
            "spec_version": 1,
            "name": "c",
            "data": {"path": "x.csv"},
            "models": {name: {"formula": "y ~ x"} for name in models},
        }
    )
    return Results(study, models, data_summary(study, DATA), versions={})


def test_identical_posteriors_on_two_scales_tie_after_the_jacobian() -> None:
    """log(y) gaussian and y lognormal: the same posterior; only the Jacobian parted them."""
    on_y = stats.lognorm(s=0.5, scale=np.exp(1.0)).logpdf(Y)
    on_log = stats.norm(1.0, 0.5).logpdf(np.log(Y))
    np.testing.assert_allclose(on_log - np.log(Y), on_y)  # the density of y, two ways
    models = {
        "log_gaussian": _analysis("log_gaussian", on_log, _record("log(y) ~ x", np.log(Y))),
        "lognormal": _analysis("lognormal", on_y, _record("y ~ x", Y)),
    }
    results = _compared(_results(models), None)
    assert results.comparison is not None and len(results.comparison_groups) == 1
    rows = {row.model: row for row in results.comparison.rows}
    assert rows["log_gaussian"].elpd == pytest.approx(rows["lognormal"].elpd)
    assert abs(rows["log_gaussian"].elpd_diff) + abs(rows["lognormal"].elpd_diff) < 1e-8
    assert any("log Jacobian" in note for note in results.comparison_notes)
    # before: ranked as they came, 'log_gaussian' ahead by sum(log y)
    assert -np.log(Y).sum() < -10


def test_models_on_other_rows_are_ranked_apart_and_said_why() -> None:
    fewer = ALL[:30]
    base = stats.norm(0, 1).logpdf(DATA["x"].to_numpy())
    models = {
        "a": _analysis("a", base, _record("y ~ x", Y)),
        "b": _analysis("b", base - 0.1, _record("y ~ x", Y)),
        "c": _analysis("c", base[:30] + 5, _record("y ~ x", Y[:30], fewer)),
    }
    results = _compared(_results(models), None)
    assert results.comparison is not None
    assert {row.model for row in results.comparison.rows} == {"a", "b"}
    assert [g.group.models for g in results.comparison_groups] == [("a", "b"), ("c",)]
    assert results.unranked and "fitted on other rows (30 against 40" in results.unranked[0]


def test_old_analyses_without_a_record_are_compared_as_before() -> None:
    base = stats.norm(0, 1).logpdf(DATA["x"].to_numpy())
    models = {"a": _analysis("a", base, None), "b": _analysis("b", base - 0.1, None)}
    results = _compared(_results(models), None)
    assert results.comparison is not None and len(results.comparison.rows) == 2
    assert not results.unranked
    plain = replace(models["a"], name="a")
    assert plain.analysis is not None
