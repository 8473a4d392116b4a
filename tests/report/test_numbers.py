from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from radonspec.report.numbers import fmt, fmt_fixed, fmt_group_sizes, fmt_int, fmt_rhat, fmt_short


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (-1080.1, "-1080"),
        (28.04, "28.0"),
        (0.99996, "1.00"),
        (-0.6612, "-0.661"),
        (0.0001234, "0.000123"),
        (3.2e-7, "3.20e-07"),
        (0.0, "0"),
        (-0.0001, "-0.000100"),
        (float("nan"), "—"),
        (None, "—"),
        (float("inf"), "—"),
    ],
)
def test_fmt_writes_three_significant_digits(value: Any, text: str) -> None:
    assert fmt(value) == text


def test_other_number_formats() -> None:
    assert fmt_rhat(1.0031) == "1.003" and fmt_rhat(None) == "—"
    assert fmt_int(812.4) == "812" and fmt_int(float("nan")) == "—"
    assert fmt_short(7.5) == "7.5" and fmt_short(12.0) == "12"
    assert fmt_fixed(2.78e-15) == "0.00" and fmt_fixed(0.999999) == "1.00"


def test_percent_and_axis_value_formats() -> None:
    from radonspec.report.numbers import fmt_percent, fmt_value

    assert fmt_percent(0.333) == "33%" and fmt_percent(0.004) == "<1%" and fmt_percent(0) == "0%"
    assert fmt_percent(float("nan")) == "—"
    assert fmt_value(np.float64(0.5)) == "0.5" and fmt_value(2) == "2"
    assert fmt_value("y ~ x") == "y ~ x" and fmt_value("") == "—" and fmt_value(None) == "—"


def test_group_sizes_read_as_one_number_when_all_groups_are_one_size() -> None:
    assert fmt_group_sizes((8, 8.0, 8)) == "8 observations each"
    assert fmt_group_sizes((5, 7.5, 8)) == "5 to 8 observations each (median 7.5)"
