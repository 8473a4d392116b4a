"""The prior keys a model may use, from its formulas and family, and Bambi's nesting of them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from radonspec.study.family import ORDINAL_FAMILIES, FamilyError, family_params
from radonspec.study.formula import FormulaInfo


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
