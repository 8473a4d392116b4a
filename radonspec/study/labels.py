"""Labels of sweep values: the parts of a cell's name after its base's."""

from __future__ import annotations

import re
from typing import Any

from radonspec.study.scaling import number
from radonspec.study.schema import SWEEP_LABEL_PATTERN

#: Prefix of index labels when an axis's values give no usable label.
_INDEX_PREFIX = {"formula": "f", "terms": "t", "family": "family", "link": "link"}
_MAX_LABEL = 32


def terms_label(text: str) -> str:
    """Label of a ``terms`` value: ``+ log_uranium`` gives ``log_uranium``, ``- x`` ``no_x``."""
    parts: list[str] = []
    for sign, term in _split_terms(text):
        slug = _slug(term)
        if slug:
            parts.append(("no_" if sign == "-" else "") + slug)
    return "_".join(parts)


def _split_terms(text: str) -> list[tuple[str, str]]:
    """Split at the top-level ``+`` and ``-`` (not inside parentheses) into (sign, term)."""
    out: list[tuple[str, str]] = []
    depth, sign, current = 0, "+", ""
    for char in text:
        if char in "+-" and depth == 0:
            if current.strip():
                out.append((sign, current.strip()))
            sign, current = char, ""
            continue
        depth += {"(": 1, ")": -1}.get(char, 0)
        current += char
    if current.strip():
        out.append((sign, current.strip()))
    return out


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "_", text).strip("_")


def format_number(value: float) -> str:
    """A factor as labels and sentences write it: ``2``, ``0.5``."""
    rounded = number(value)
    return str(rounded) if isinstance(rounded, int) else repr(rounded)


def _auto_label(axis: str, value: Any) -> str:
    if axis == "prior_scale":
        return "scale" + format_number(value)
    if axis == "terms":
        return terms_label(value) or "none"  # '' is neutral: its label never shows
    if axis == "formula":
        main = value if isinstance(value, str) else next(iter(value), "")
        return terms_label(main.partition("~")[2])
    return _slug(str(value))


def axis_labels(axis: str, entries: list[tuple[str | None, Any]]) -> list[str]:
    """Labels of an axis's values: the user's, or derived, or indices when those clash."""
    if entries[0][0] is not None:  # a mapping: every value has its own label
        return [str(label) for label, _ in entries]
    labels = [_auto_label(axis, value) for _, value in entries]
    usable = all(
        re.match(SWEEP_LABEL_PATTERN, label) and len(label) <= _MAX_LABEL for label in labels
    )
    if usable and len(set(labels)) == len(labels):
        return labels
    prefix = _INDEX_PREFIX.get(axis, axis)
    return [f"{prefix}{index}" for index in range(1, len(entries) + 1)]
