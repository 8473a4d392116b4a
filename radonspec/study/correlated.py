"""Correlated group-specific effects in a spec: which factors, which LKJ prior, how named.

A model's ``correlated:`` lists grouping factors (or is ``true`` for every factor of the
main formula written with ``|``) whose effects are drawn jointly, with an LKJ prior on
their correlation: ``cor|county: LKJCorr(eta=2)`` in ``priors``. This module is the
spec's side of it, read by the checks, the model's differences and the report;
``radonspec.compile.correlated`` builds the model.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from radonspec.study.formula import FormulaInfo
    from radonspec.study.schema import ModelSpec

#: Prior keys of the LKJ prior on a factor's correlation: ``cor|county``.
PREFIX = "cor|"
#: LKJ shape when the spec gives none: mild shrinkage towards no correlation (brms's 1 is
#: flat; 2 keeps draws away from +-1 with few groups, as Stan's manual suggests).
DEFAULT_ETA = 2.0


def correlation_key(factor: str) -> str:
    """The prior key of a factor's correlation: ``cor|county``."""
    return f"{PREFIX}{factor}"


def requested_factors(spec: ModelSpec, main: FormulaInfo) -> tuple[str, ...]:
    """The factors of the main formula whose effects ``spec.correlated`` asks to correlate.

    ``true`` means every factor not written with lme4's ``||``; a list is taken as
    given (``checks.check_model`` has refused unknown and ``||`` factors).
    """
    if spec.correlated is True:
        return tuple(f for f in main.group_factors if f not in main.independent_factors)
    return tuple(f for f in spec.correlated if f in main.group_factors)


def eta_of(spec: ModelSpec, factor: str) -> float:
    """The LKJ ``eta`` of a factor: from ``priors['cor|factor']``, else ``DEFAULT_ETA``."""
    node = spec.priors.get(correlation_key(factor))
    if node is None:
        return DEFAULT_ETA
    return float(dict(node.args)["eta"])


def pair_labels(columns: Sequence[str]) -> list[str]:
    """Labels of the correlations between columns, upper triangle row by row: ``'1, floor'``."""
    return [f"{a}, {b}" for a, b in itertools.combinations(columns, 2)]
