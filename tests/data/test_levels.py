"""Levels: declared order, reference levels, a binary response's event, what Bambi is given.

Public data (tests/fixtures/data, exported from R by make_data.R): MASS::bacteria, whose
treatment levels in R's order (placebo, drug, drug+) are not the alphabet's, and
MASS::housing, whose ordinal satisfaction (Low < Medium < High) is not either.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from radonspec.compile.model import compile_model
from radonspec.compile.validate import check_against_data
from radonspec.data.levels import ModelLevels, design_frame, order_levels, sorted_levels
from radonspec.data.load import load_data
from radonspec.errors import CompileError, DataError, SpecError
from radonspec.fit.record import Fit
from radonspec.fit.runner import _meta, plan_fit, study_frame
from radonspec.study.loader import load_study_text
from radonspec.study.schema import DataSpec, Study

DATA = Path(__file__).resolve().parents[1] / "fixtures" / "data"

pytestmark = [
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    # Bambi: "The intercept is omitted in ordinal families" (the thresholds take its place)
    pytest.mark.filterwarnings("ignore:The intercept is omitted:UserWarning"),
]


def study(tmp_path: Path, data: str, models: str, family: str = "gaussian") -> Study:
    text = f"""\
spec_version: 1
name: levels
data:
  {data}
defaults:
  family: {family}
models:
{models}
"""
    return load_study_text(text, tmp_path / "study.yaml")


def bacteria(tmp_path: Path, models: str, extra: str = "", family: str = "bernoulli") -> Study:
    return study(tmp_path, f"path: {DATA / 'bacteria.csv'}\n  {extra}", models, family)


def compiled(s: Study, name: str) -> Any:
    return compile_model(s, name, study_frame(s))


# -- reference levels reach the design ------------------------------------------------------


def test_the_reference_level_is_the_design_s_baseline(tmp_path: Path) -> None:
    # formulae sorts unordered levels: the baseline was 'drug', whatever the spec said
    s = bacteria(
        tmp_path,
        "  m:\n    formula: week ~ trt + (1|ap)\n",
        "reference: {trt: placebo, ap: p}",
        "gaussian",
    )
    c = compiled(s, "m")
    assert c.model.components["mu"].common_terms["trt"].levels == ["drug", "drug+"]
    assert c.model.components["mu"].group_specific_terms["1|ap"].groups == ["p", "a"]
    assert c.levels.reference == {"trt": "placebo"}  # 'ap' is a grouping factor only


def test_a_listed_numeric_column_keeps_the_order_of_its_numbers(tmp_path: Path) -> None:
    frame = pd.DataFrame({"y": np.arange(12.0), "k": [10, 2, 1] * 4})
    frame.to_csv(tmp_path / "d.csv", index=False)
    s = study(tmp_path, "path: d.csv\n  categorical: [k]", "  m:\n    formula: y ~ k\n")
    c = compiled(s, "m")
    assert c.model.components["mu"].common_terms["k"].levels == ["2", "10"]
    assert c.levels.reference == {"k": "1"}


def test_a_reference_level_dropped_with_missing_values_is_an_error(tmp_path: Path) -> None:
    frame = pd.DataFrame({"y": [1.0, 2, 3, 4, 5, np.nan], "g": list("abbabc")})
    frame.loc[frame["g"] == "c", "y"] = np.nan
    frame.to_csv(tmp_path / "d.csv", index=False)
    s = study(
        tmp_path, "path: d.csv\n  dropna: true\n  reference: {g: c}", "  m:\n    formula: y ~ g\n"
    )
    with pytest.raises(CompileError, match="'g' has no row at its reference level 'c' in this"):
        compiled(s, "m")


# -- data.levels ------------------------------------------------------------------------


def test_levels_order_a_categorical_and_make_it_declared(tmp_path: Path) -> None:
    s = study(
        tmp_path,
        f"path: {DATA / 'housing.csv'}\n"
        "  levels: {Infl: [Low, Medium, High], Sat: [Low, Medium, High]}",
        "  m:\n    formula: Sat ~ Infl\n",
        "cumulative",
    )
    frame = study_frame(s)
    assert list(frame["Infl"].cat.categories) == ["Low", "Medium", "High"]
    assert frame["Infl"].dtype.ordered
    c = compiled(s, "m")
    assert c.model.components["p"].common_terms["Infl"].levels == ["Medium", "High"]
    assert c.levels == ModelLevels("Sat", None, ("Low", "Medium", "High"), {"Infl": "Low"})


@pytest.mark.parametrize(
    ("levels", "reference", "message", "path"),
    [
        (
            "{trt: [placebo, drug]}",
            "",
            r"data.levels for 'trt' leaves out 'drug\+', found in the data; list every level of"
            r" 'trt' in order: drug, drug\+, placebo$",
            ("data", "levels", "trt"),
        ),
        (
            "{trt: [placebo, drug, drug+, drugg]}",
            "",
            r"data.levels for 'trt' lists 'drugg', which is not a level of 'trt'; its levels are"
            r" 'drug', 'drug\+' and 'placebo'$",
            ("data", "levels", "trt"),
        ),
        (
            "{trt: [placebo, drug, drug+, plaecbo]}",
            "",
            r"lists 'plaecbo', which is not a level of 'trt'",
            ("data", "levels", "trt"),
        ),
        (
            "{trt: [placebo, drug, drug+]}",
            "reference: {trt: drug}",
            r"data.reference names 'drug' for 'trt', but data.levels puts 'placebo' first",
            ("data", "reference", "trt"),
        ),
        (
            "{}",
            "reference: {trt: placbo}",
            r"reference level 'placbo' is not a level of 'trt' \(did you mean 'placebo'\?\); its"
            r" levels are 'drug', 'drug\+' and 'placebo'$",
            ("data", "reference", "trt"),
        ),
    ],
)
def test_wrong_levels_are_located_errors(
    tmp_path: Path, levels: str, reference: str, message: str, path: tuple[str, ...]
) -> None:
    spec = DataSpec.model_validate(
        {"path": "bacteria.csv", "levels": _flow(levels), "reference": _flow(reference)}
    )
    with pytest.raises(DataError, match=message) as caught:
        load_data(spec, DATA, ["trt"])
    assert caught.value.path == path


def _flow(text: str) -> dict[str, Any]:
    """The mapping of a one-line YAML flow text such as '{trt: [a, b]}'."""
    from ruamel.yaml import YAML

    text = text.removeprefix("reference: ")
    return dict(YAML(typ="safe").load(text) or {})


def test_wrong_levels_are_reported_where_they_are_written(tmp_path: Path) -> None:
    s = bacteria(
        tmp_path, "  m:\n    formula: y[y] ~ trt\n", "levels: {trt: [placebo, drug, drugg]}"
    )
    errors = check_against_data(s)
    assert [(e.line, e.column) for e in errors] == [(5, 17)]  # the column's list
    assert "data.levels for 'trt' leaves out 'drug+'" in errors[0].message


def test_levels_may_name_levels_a_filter_removed(tmp_path: Path) -> None:
    spec = DataSpec.model_validate(
        {
            "path": "bacteria.csv",
            "filter": {"trt": ["placebo", "drug"]},
            "levels": {"trt": ["placebo", "drug", "drug+"]},
        }
    )
    frame = load_data(spec, DATA, ["trt"])
    assert list(frame["trt"].cat.categories) == ["placebo", "drug"]


@pytest.mark.parametrize(
    ("levels", "message"),
    [({"x": []}, "levels of 'x' is empty"), ({"x": ["a", "b", "a"]}, "lists 'a' twice")],
)
def test_levels_are_checked_by_the_schema(levels: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DataSpec.model_validate({"path": "d.csv", "levels": levels})


def test_order_levels() -> None:
    spec = DataSpec.model_validate({"path": "d.csv", "reference": {"k": 10}})
    assert order_levels("k", [10, 2, 1], spec) == ([10, 1, 2], False)
    assert order_levels("g", ["b", "a"], spec) == (["a", "b"], False)
    assert order_levels("g", ["b", "a"], spec, ordered=True) == (["b", "a"], True)
    assert sorted_levels([2, "a", 1]) == [1, 2, "a"]


# -- the response: ordinal order and binary event -----------------------------------------


def test_an_ordinal_response_needs_its_order(tmp_path: Path) -> None:
    s = study(
        tmp_path, f"path: {DATA / 'housing.csv'}", "  m:\n    formula: Sat ~ Infl\n", "cumulative"
    )
    errors = check_against_data(s)
    assert len(errors) == 1
    assert (errors[0].line, errors[0].column) == (9, 14)  # the model's formula
    assert errors[0].message == (
        "model 'm': family 'cumulative' needs the order of the levels of 'Sat', which the data"
        " does not carry; found 'High', 'Low' and 'Medium': declare the order, lowest first,"
        " under data.levels, e.g. levels: {Sat: [High, Low, Medium]} in the right order"
    )


def test_an_ordered_parquet_column_carries_its_order(tmp_path: Path) -> None:
    frame = pd.read_csv(DATA / "housing.csv")
    frame["Sat"] = pd.Categorical(frame["Sat"], ["Low", "Medium", "High"], ordered=True)
    frame.to_parquet(tmp_path / "housing.parquet")
    s = study(tmp_path, "path: housing.parquet", "  m:\n    formula: Sat ~ Infl\n", "cumulative")
    c = compiled(s, "m")
    assert c.levels.response_levels == ("Low", "Medium", "High")
    assert list(c.model.data["Sat"].cat.categories) == ["Low", "Medium", "High"]


def test_a_numeric_ordinal_response_must_be_categorical(tmp_path: Path) -> None:
    frame = pd.DataFrame({"r": [1, 2, 3, 2, 1, 3] * 3, "x": np.arange(18.0)})
    frame.to_csv(tmp_path / "d.csv", index=False)
    s = study(tmp_path, "path: d.csv", "  m:\n    formula: r ~ x\n", "cumulative")
    with pytest.raises(CompileError, match="needs a categorical response, and 'r' is numeric"):
        compiled(s, "m")
    s = study(
        tmp_path, "path: d.csv\n  categorical: [r]", "  m:\n    formula: r ~ x\n", "cumulative"
    )
    assert compiled(s, "m").levels.response_levels == ("1", "2", "3")


@pytest.mark.parametrize(
    ("formula", "extra", "event"),
    [
        ("y[y] ~ week", "", "y"),
        ("y['n'] ~ week", "", "n"),
        ("y ~ week", "levels: {y: [n, y]}", "y"),  # the second level, as in R's glm
        ("y ~ week", "levels: {y: [y, n]}", "n"),
        ("y ~ week", "reference: {y: n}", "y"),  # the reference is the non-event
        ("y[n] ~ week", "levels: {y: [n, y]}", "n"),  # a named event wins
        ("trt[placebo] ~ week", "", "placebo"),  # one level against the others
    ],
)
def test_the_modelled_event(tmp_path: Path, formula: str, extra: str, event: str) -> None:
    c = compiled(bacteria(tmp_path, f"  m:\n    formula: {formula}\n", extra), "m")
    response = formula.split("[")[0].split(" ")[0]
    assert (c.levels.response, c.levels.event) == (response, event)
    raw = pd.read_csv(DATA / "bacteria.csv")[response]
    # Bambi models P(response = event): it is given the response as 0/1, 1 for the event
    assert c.model.data[response].tolist() == (raw == event).astype(int).tolist()
    assert c.model.response_component.term.success == 1


@pytest.mark.parametrize(
    ("formula", "extra", "family", "message"),
    [
        (
            "y ~ week",
            "",
            "bernoulli",
            r"^model 'm': the response 'y' is text with levels 'n' and 'y': name the event to"
            r" model, e\.g\. 'y\[y\] ~ \.\.\.' for P\(y = y\), or declare the order of its levels"
            r" \(data\.levels, or data\.reference for the non-event\): the second level is then"
            r" the event, as in R's glm$",
        ),
        (
            "y[Y] ~ week",
            "",
            "bernoulli",
            r"'y\[Y\]': 'Y' is not a level of 'y' \(did you mean 'y'\?\)",
        ),
        ("trt ~ week", "", "bernoulli", r"the response 'trt' has 3 levels \('drug', 'drug\+' and"),
        ("week[3] ~ trt", "", "gaussian", r"subscripts"),
        ("y[y] ~ week", "", "gaussian", r"'y\[y\]' names an event, which only a binary response"),
    ],
)
def test_an_event_that_is_not_declared_is_an_error(
    tmp_path: Path, formula: str, extra: str, family: str, message: str
) -> None:
    try:
        s = bacteria(tmp_path, f'  m:\n    formula: "{formula}"\n', extra, family)
    except SpecError as exc:
        assert re.search(message, exc.message)
        return
    errors = check_against_data(s)
    assert errors and re.search(message, errors[0].message), errors


def test_a_numeric_binary_response_models_one(tmp_path: Path) -> None:
    frame = pd.DataFrame({"y": [0, 1, 1, 0, 1, 0], "x": np.arange(6.0)})
    frame.to_csv(tmp_path / "d.csv", index=False)
    s = study(tmp_path, "path: d.csv", "  m:\n    formula: y ~ x\n", "bernoulli")
    c = compiled(s, "m")
    assert (c.levels.response, c.levels.event, c.levels.recode) == ("y", "1", False)
    assert c.model.data["y"].tolist() == frame["y"].tolist()


# -- what Bambi is given, and what the fit's meta says --------------------------------------


def test_the_design_frame_orders_categoricals_and_codes_the_event() -> None:
    frame = pd.DataFrame(
        {"use": pd.Categorical(["N", "Y", "Y"]), "g": pd.Categorical(["b", "a", "b"], ["b", "a"])}
    )
    design = design_frame(frame, ModelLevels("use", "Y", ("N", "Y"), {}, recode=True))
    assert design["use"].tolist() == [0, 1, 1]
    assert design["g"].dtype.ordered and list(design["g"].cat.categories) == ["b", "a"]
    assert not frame["g"].dtype.ordered  # the caller's frame is left as it was


def test_held_out_rows_are_coded_as_the_fit_s(tmp_path: Path) -> None:
    c = compiled(
        bacteria(tmp_path, "  m:\n    formula: y ~ trt + week\n", "reference: {y: n}"), "m"
    )
    held_out = c.design(pd.read_csv(DATA / "bacteria.csv").iloc[:5])
    assert held_out["y"].tolist() == [1, 1, 1, 1, 1]


def test_the_fit_meta_holds_the_levels(tmp_path: Path) -> None:
    s = bacteria(tmp_path, "  m:\n    formula: y[y] ~ trt + week\n", "reference: {trt: placebo}")
    item = plan_fit(s, "m", study_frame(s))
    meta = _meta(s, item, Fit("m", item.key, "failed", None), None)
    assert meta["levels"] == {
        "response": "y",
        "event": "y",
        "response_levels": ["n", "y"],
        "reference": {"trt": "placebo"},
    }
    assert json.loads(json.dumps(meta))["levels"] == meta["levels"]


def test_a_plan_with_undeclared_levels_fails_before_sampling(tmp_path: Path) -> None:
    s = bacteria(tmp_path, "  m:\n    formula: y ~ week\n")
    item = plan_fit(s, "m", study_frame(s))
    assert item.data is None
    assert item.error is not None and "name the event to model" in item.error
