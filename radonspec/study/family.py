"""Bambi's families: parameters, supported links, and the prior keys a model may use."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from radonspec.errors import did_you_mean, one_of

if TYPE_CHECKING:
    from radonspec.study.formula import FormulaInfo

# Bambi drops the intercept of ordinal families: the thresholds take its place
ORDINAL_FAMILIES = frozenset({"cumulative", "sratio"})


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


def prior_keys(
    infos: Sequence[FormulaInfo], family: str, correlated: Sequence[str] = ()
) -> frozenset[str]:
    """Every key a ``priors:`` mapping may use for a model; main formula first in ``infos``.

    The main formula's term names, ``common`` and ``group_specific``, the family's
    auxiliary parameters that no formula models (``sigma``), for each distributional
    formula its term names prefixed by its target, as Bambi names their variables
    (``sigma_Intercept``, ``sigma_x``, ``sigma_1|g``; ``nest_priors`` turns those into
    the nested mapping Bambi expects), and ``cor|g`` (the LKJ prior on the correlation)
    for each factor ``g`` in ``correlated``.
    """
    main, *others = infos
    keys = {*main.common_terms, *main.group_terms, "common", "group_specific"}
    keys |= {f"cor|{factor}" for factor in correlated}
    if family in ORDINAL_FAMILIES:
        keys.discard("Intercept")  # Bambi drops it: the thresholds take its place
    try:
        _, auxiliary = family_params(family)
    except FamilyError:
        auxiliary = ()
    modelled = {info.target for info in others}
    keys |= {param for param in auxiliary if param not in modelled}
    for info in others:
        keys |= {f"{info.target}_{term}" for term in (*info.common_terms, *info.group_terms)}
    return frozenset(keys)


def nest_priors[T](priors: Mapping[str, T], infos: Sequence[FormulaInfo]) -> dict[str, Any]:
    """Priors keyed as ``prior_keys`` says, in the nested form ``bmb.Model(priors=...)`` takes.

    ``{"x": p, "sigma_z": q}`` becomes ``{"x": p, "sigma": {"z": q}}``. A key that names
    a term of the main formula stays as it is even if it also reads as a prefixed one.
    """
    main, *others = infos
    own = {*main.common_terms, *main.group_terms}
    prefixed = {
        f"{info.target}_{term}": (str(info.target), term)
        for info in others
        for term in (*info.common_terms, *info.group_terms)
    }
    nested: dict[str, Any] = {}
    for key, prior in priors.items():
        if key in prefixed and key not in own:
            target, term = prefixed[key]
            nested.setdefault(target, {})[term] = prior
        else:
            nested[key] = prior
    return nested
