"""Bambi's families: their parameters and supported links."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from radonspec.errors import did_you_mean, one_of

# Bambi drops the intercept of ordinal families: the thresholds take its place
ORDINAL_FAMILIES = frozenset({"cumulative", "sratio"})
#: Families whose response counts successes out of trials, written ``p(successes, trials)``.
TRIALS_FAMILIES = frozenset({"binomial", "beta_binomial", "zero_inflated_binomial"})


class FamilyError(ValueError):
    """An unknown family, or a link the family does not support.

    ``field`` is ``"family"`` or ``"link"``: the spec field the error points at.
    """

    def __init__(self, message: str, field: str = "family") -> None:
        self.message = message
        self.field = field
        super().__init__(message)


def _families() -> Mapping[str, Any]:
    # a snapshot of Bambi's registry: importing Bambi to read it takes seconds
    from radonspec.study.registry import FAMILIES

    return FAMILIES


def family_params(family: str) -> tuple[str, tuple[str, ...]]:
    """The parent parameter of ``family`` and its auxiliary ones: ``('mu', ('sigma',))``.

    Raises
    ------
    FamilyError
        When ``family`` is not one of Bambi's built-in families.
    """
    families = _families()
    if family not in families:
        raise FamilyError(
            f"unknown family '{family}'{did_you_mean(family, families)};"
            f" families are {', '.join(repr(f) for f in sorted(families))}"
        )
    entry = families[family]
    parent = entry["parent"]
    return parent, tuple(p for p in entry["params"] if p != parent)


def check_family_link(family: str, link: str | Mapping[str, str] | None) -> None:
    """Check that ``family`` is a Bambi family and ``link`` one it supports.

    A string ``link`` applies to the parent parameter (as in Bambi); a mapping gives
    links by parameter.

    Raises
    ------
    FamilyError
        ``field == "family"`` for an unknown family, ``"link"`` for a bad link.
    """
    parent, auxiliary = family_params(family)
    params = (parent, *auxiliary)
    links = {parent: link} if isinstance(link, str) else dict(link or {})
    supported = _families()[family]["links"]
    for param, name in links.items():
        if param not in params:
            raise FamilyError(
                f"link names '{param}', which is not a parameter of family '{family}'"
                f"{did_you_mean(param, params)}; its parameters are {one_of(params)}",
                "link",
            )
        allowed = supported if isinstance(supported, list) else supported.get(param, [])
        if name not in allowed:
            raise FamilyError(
                f"link '{name}' cannot be used for '{param}' of family '{family}'"
                f"{did_you_mean(str(name), allowed)}; links for '{param}' are {one_of(allowed)}",
                "link",
            )
