"""``prior_scale``: widen or narrow a prior, nested priors included, on the parsed tree."""

from __future__ import annotations

import math
from typing import Any

from radonspec.study.priors import PriorNode, PriorValue, parse_prior

#: How ``prior_scale`` changes each parameter, by distribution: the parameter is
#: multiplied by ``factor ** power`` (1 for a scale, -1 for a rate, -2 for a
#: precision). Parameters not listed (locations, shapes, bounds) are left alone, and so
#: are distributions not listed (e.g. ``LogNormal``, whose ``sigma`` is on the log scale).
SCALE_POWERS: dict[str, dict[str, int]] = {
    "Normal": {"sigma": 1, "tau": -2},
    "HalfNormal": {"sigma": 1, "tau": -2},
    "TruncatedNormal": {"sigma": 1, "tau": -2},
    "SkewNormal": {"sigma": 1, "tau": -2},
    "StudentT": {"sigma": 1, "lam": -2},
    "HalfStudentT": {"sigma": 1, "lam": -2},
    "SkewStudentT": {"sigma": 1, "lam": -2},
    "Cauchy": {"beta": 1},
    "HalfCauchy": {"beta": 1},
    "Laplace": {"b": 1},
    "AsymmetricLaplace": {"b": 1},
    "Logistic": {"s": 1},
    "Gumbel": {"beta": 1},
    "Moyal": {"sigma": 1},
    "ExGaussian": {"sigma": 1, "nu": 1},
    "Exponential": {"lam": -1, "scale": 1},
    "Gamma": {"beta": -1, "mu": 1, "sigma": 1},
    "InverseGamma": {"beta": 1, "mu": 1, "sigma": 1},
    "Weibull": {"beta": 1},
}


def scale_prior(node: PriorNode, factor: float) -> PriorNode:
    """Widen (``factor > 1``) or narrow a prior, nested priors included.

    Scale parameters are multiplied by ``factor``, rates divided by it and
    precisions divided by its square (``SCALE_POWERS``); a parameter whose value is
    itself a prior is scaled inside, so ``Normal(0, sigma=HalfNormal(5))`` scaled by 2
    is ``Normal(0, sigma=HalfNormal(10))``.

    Parameters
    ----------
    node
        A parsed prior (``parse_prior``).
    factor
        A positive number.

    Returns
    -------
    PriorNode
        The scaled prior, in canonical form.
    """
    if not (factor > 0 and math.isfinite(factor)):
        raise ValueError(f"a prior scale factor must be a positive number, got {factor!r}")
    powers = SCALE_POWERS.get(node.dist, {})
    args: list[tuple[str, PriorValue]] = []
    for name, value in node.args:
        if isinstance(value, PriorNode):
            args.append((name, scale_prior(value, factor)))
        elif name in powers:
            args.append((name, _scaled(value, factor ** powers[name])))
        else:
            args.append((name, value))
    return parse_prior(PriorNode(node.dist, tuple(args)))


def unscalable(node: PriorNode) -> list[str]:
    """Distributions inside ``node`` (itself included) that ``scale_prior`` leaves alone."""
    found = [] if SCALE_POWERS.get(node.dist) else [node.dist]
    for _, value in node.args:
        if isinstance(value, PriorNode):
            found += unscalable(value)
    return found


def _scaled(value: Any, by: float) -> Any:
    if isinstance(value, tuple):
        return tuple(number(v * by) for v in value)
    return number(value * by)


def number(value: float) -> int | float:
    """``value`` rounded to 12 significant digits, as an ``int`` when integral."""
    # 12 significant digits: 0.1 * 3 is written 0.3, not 0.30000000000000004
    rounded = float(f"{value:.12g}")
    return int(rounded) if rounded.is_integer() and abs(rounded) < 2**53 else rounded
