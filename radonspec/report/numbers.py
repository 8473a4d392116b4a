"""How the report writes numbers: three significant digits, counts as integers, R-hat to 0.001."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

MISSING = "—"


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def fmt(value: Any, digits: int = 3) -> str:
    """``value`` to ``digits`` significant digits, without exponent between 1e-4 and 1e6.

    Large numbers keep their integer digits (-1080.1 is written -1080, not -1.08e+03).
    """
    number = _finite(value)
    if number is None:
        return MISSING
    if number == 0:
        return "0"
    # the magnitude after rounding: 0.99996 is written 1.00, not 1.000
    magnitude = math.floor(math.log10(abs(float(f"{number:.{digits - 1}e}"))))
    if magnitude >= 6 or magnitude < -4:
        return f"{number:.{digits - 1}e}"
    decimals = max(0, digits - 1 - magnitude)
    text = f"{number:.{decimals}f}"
    return "0" if float(text) == 0 else text


def fmt_short(value: Any) -> str:
    """Like ``fmt`` without trailing zeros: a median group size of 7.5 reads 7.5."""
    text = fmt(value)
    return text.rstrip("0").rstrip(".") if "." in text and "e" not in text else text


def fmt_group_sizes(sizes: Sequence[Any]) -> str:
    """Observations per group from (min, median, max): ``8 each``, else the range and median."""
    low, median, high = sizes
    if low == high:
        return f"{low} observations each"
    return f"{low} to {high} observations each (median {fmt_short(median)})"


def fmt_fixed(value: Any, decimals: int = 2) -> str:
    """A fixed number of decimals, for weights and probabilities (0.00 to 1.00)."""
    number = _finite(value)
    return MISSING if number is None else f"{number:.{decimals}f}"


def fmt_int(value: Any) -> str:
    """A count or an effective sample size, rounded to an integer."""
    number = _finite(value)
    return MISSING if number is None else f"{round(number):d}"


def fmt_rhat(value: Any) -> str:
    """R-hat to three decimals: 1.003 must not read 1.00."""
    number = _finite(value)
    return MISSING if number is None else f"{number:.3f}"


def fmt_percent(value: Any) -> str:
    """A share as a whole percentage; below 1% (but not 0) as "<1%"."""
    number = _finite(value)
    if number is None:
        return MISSING
    if 0 < number < 0.01:
        return "<1%"
    return f"{100 * number:.0f}%"


def fmt_value(value: Any) -> str:
    """A sweep axis value: numbers as ``fmt_short`` writes them, anything else as text."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return str(value) if value is not None and str(value) != "" else MISSING
    return fmt_short(value)
