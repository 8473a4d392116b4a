"""The parameter tables: population-level effects, group-level SDs, auxiliary parameters.

The analysis says which labels fall in which kind (``ModelAnalysis.sections``); this
module makes the rows, flagging the cells that fail a diagnostics threshold.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from radonspec.analysis.records import ModelAnalysis
from radonspec.report.content import ParamRow, ParamSection


def parameter_sections(analysis: ModelAnalysis, limits: Mapping[str, Any]) -> list[ParamSection]:
    """The rows of each kind of parameter, with the REML estimate beside each when asked."""
    table = analysis.table
    assert table is not None
    return [
        ParamSection(
            title,
            [_row(label, table.loc[label], limits, analysis.reml.get(label)) for label in labels],
        )
        for title, labels in analysis.sections
    ]


def _row(
    label: str, values: pd.Series, limits: Mapping[str, Any], reml: tuple[float, float] | None
) -> ParamRow:
    stats = {str(k): float(v) for k, v in values.items()}
    flags = set()
    if stats.get("r_hat", 0.0) > limits["rhat_max"]:
        flags.add("r_hat")
    for column in ("ess_bulk", "ess_tail"):
        if stats.get(column, np.inf) < limits["ess_min"]:
            flags.add(column)
    return ParamRow(label, stats, frozenset(flags), None if reml is None else (reml[0], reml[1]))
