"""The prior grammar: compact ``Normal(0, sigma=HalfNormal(5))`` and mapping forms.

PLACEHOLDER: being implemented (parser, PyMC checks, canonical printing, to_bambi).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

PriorValue = "float | int | bool | tuple[float, ...] | PriorNode"


class PriorSyntaxError(ValueError):
    """A prior that does not parse or names an unknown distribution or parameter.

    ``offset`` is the 0-based character offset in the compact string where the
    problem starts (0 for mapping forms); ``path`` the keys inside a mapping form.
    """

    def __init__(self, message: str, offset: int = 0, path: tuple[str, ...] = ()) -> None:
        self.message = message
        self.offset = offset
        self.path = path
        super().__init__(message)


@dataclass(frozen=True)
class PriorNode:
    """A parsed prior: a PyMC distribution name and its named arguments."""

    dist: str
    args: tuple[tuple[str, Any], ...]

    def __str__(self) -> str:
        inner = ", ".join(f"{k}={v}" for k, v in self.args)
        return f"{self.dist}({inner})"


def parse_prior(value: str | Mapping[str, Any] | PriorNode) -> PriorNode:
    """Parse a compact string or mapping into a ``PriorNode``."""
    if isinstance(value, PriorNode):
        return value
    raise PriorSyntaxError("prior parsing is not implemented yet")
