"""report.effects and report.prior_sensitivity: parsed, checked and located like other fields."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from radonspec.api import validate
from radonspec.errors import SpecErrors
from radonspec.study.loader import load_study
from radonspec.study.schema import EffectSpec

HEAD = """\
spec_version: 1
name: effects
data: {dataset: radon, categorical: [county]}
models:
  pooled:
    formula: log_radon ~ floor
report:
"""


def messages(path: Path, *, data: bool = False) -> list[str]:
    with pytest.raises(SpecErrors) as caught:
        validate(path) if data else load_study(path)
    # the file as the loader names it (relative to the working directory), then line:column
    return [str(e).split("study.yaml:", 1)[1] for e in caught.value.errors]


def test_a_bare_name_is_short_for_a_predictor(write_spec: Callable[..., Path]) -> None:
    path = write_spec(
        HEAD + "  effects: [floor, {predictor: floor, by: county}]\n  prior_sensitivity: true\n"
    )
    report = load_study(path).report
    assert report.effects == (
        EffectSpec(predictor="floor"),
        EffectSpec(predictor="floor", by="county"),
    )
    assert report.prior_sensitivity is True
    assert load_study(write_spec(HEAD + "  title: t\n")).report.effects == ()


def test_unknown_keys_get_a_hint_and_a_location(write_spec: Callable[..., Path]) -> None:
    path = write_spec(HEAD + "  effects:\n    - {predictr: floor}\n")
    assert messages(path) == [
        "9:8: unknown key 'predictr' in report.effects[0] (did you mean 'predictor'?);"
        " allowed keys: by, predictor"
    ]


def test_by_must_differ_from_the_predictor(write_spec: Callable[..., Path]) -> None:
    path = write_spec(HEAD + "  effects:\n    - {predictor: floor, by: floor}\n")
    assert messages(path) == [
        "9:7: report.effects[0]: 'by' names the predictor 'floor' itself; give another column,"
        " or leave 'by' out"
    ]


def test_columns_the_data_lacks_are_located_with_the_closest_name(
    write_spec: Callable[..., Path],
) -> None:
    path = write_spec(HEAD + "  effects:\n    - flor\n    - {predictor: floor, by: countyy}\n")
    columns = "columns are 'county', 'floor', 'log_radon' or 'log_uranium'"
    assert messages(path, data=True) == [
        f"9:7: 'flor' is not a column of the data (did you mean 'floor'?); {columns}",
        f"10:30: 'countyy' is not a column of the data (did you mean 'county'?); {columns}",
    ]


GROUPS = HEAD.removesuffix("report:\n")  # models are added after it


@pytest.mark.parametrize(
    ("formulas", "expected"),
    [
        (["log_radon ~ floor + (1 | county)", "log_radon ~ floor + (floor | county)"], "county"),
        (["log_radon ~ floor + (1 | county/floor)"], "county"),  # the nesting's outer factor
        (["log_radon ~ (1 | county)", "log_radon ~ (1 | floor)"], None),  # two: say which
        (["log_radon ~ floor + (1 | county) + (1 | floor)"], None),  # crossed
        ([], None),  # no group-specific terms at all
    ],
)
def test_the_report_groups_by_the_one_grouping_factor_when_none_is_named(
    write_spec: Callable[..., Path], formulas: list[str], expected: str | None
) -> None:
    from radonspec.study.checks import report_group

    extra = "".join(f"  m{i}:\n    formula: {f}\n" for i, f in enumerate(formulas))
    study = load_study(write_spec(GROUPS + extra))
    assert report_group(study) == expected
    named = load_study(write_spec(GROUPS + extra + "report: {group: floor}\n"))
    assert report_group(named) == "floor"  # a named factor is never second-guessed


def test_report_settings_that_need_a_group_name_the_factors_to_choose_from(
    write_spec: Callable[..., Path],
) -> None:
    one = GROUPS + "  varying:\n    formula: log_radon ~ floor + (1 | county)\n"
    assert load_study(write_spec(one + "report: {predictor: floor}\n"))  # county, inferred
    two = one + "  crossed:\n    formula: log_radon ~ (1 | county) + (1 | floor)\n"
    (message,) = messages(write_spec(two + "report: {predictor: floor}\n"))
    assert message.endswith(
        "report.shrinkage, report.highlight and report.predictor need report.group"
        " (the grouping factor: 'county' or 'floor')"
    )
    (message,) = messages(write_spec(GROUPS + "report: {predictor: floor}\n"))
    assert message.endswith("need report.group (a grouping factor), and no model has"
                            " group-specific terms")  # fmt: skip
