"""The one hierarchy of errors radonspec raises for problems a user can cause.

Each class also inherits the builtin it refines, so callers that catch
``ValueError`` or ``OSError`` keep working. ``exit_code`` is what the command
line exits with when the error reaches it (see ``cli._handle_errors``).
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any


class RadonspecError(Exception):
    """Base class of every error radonspec reports to a user."""

    exit_code: int = 1


@dataclass(frozen=True)
class Location:
    """A place in a spec file (1-based line and column)."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


class SpecError(RadonspecError, ValueError):
    """A problem in a spec file, located at ``file:line:column``."""

    def __init__(self, message: str, location: Location | None = None) -> None:
        self.message = message
        self.location = location
        super().__init__(str(self))

    @property
    def file(self) -> str | None:
        """File of the error, if known."""
        return self.location.file if self.location else None

    @property
    def line(self) -> int | None:
        """1-based line of the error, if known."""
        return self.location.line if self.location else None

    @property
    def column(self) -> int | None:
        """1-based column of the error, if known."""
        return self.location.column if self.location else None

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message


class SpecErrors(SpecError):
    """Several spec errors of one file, reported together."""

    def __init__(self, errors: list[SpecError]) -> None:
        self.errors = errors
        first = errors[0]
        super().__init__(first.message, first.location)

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)


class DataError(RadonspecError, ValueError):
    """A data set that cannot be used: missing file, bad column, bad values.

    ``path`` optionally names the spec field the problem comes from
    (e.g. ``("data", "reference", "county")``) so it can be located in the file.
    """

    def __init__(self, message: str, path: tuple[str | int, ...] = ()) -> None:
        self.path = path
        super().__init__(message)


class CompileError(RadonspecError, ValueError):
    """A model that Bambi or PyMC cannot build from its spec and data."""


class FitError(RadonspecError, RuntimeError):
    """A fit that failed or whose diagnostics failed under ``--strict``."""

    exit_code = 2


class StoreError(RadonspecError, OSError):
    """A fit store that cannot be read or written."""


class ForeignFileError(StoreError):
    """A file or link radonspec did not make, where it would read or write; left alone."""


class OutputError(RadonspecError, OSError):
    """A report folder that cannot be written, or must not be replaced."""


class MissingExtraError(RadonspecError, ImportError):
    """An optional dependency group is needed but not installed."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest choice, or ``""``."""
    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def counted(count: int, noun: str) -> str:
    """``count`` and ``noun``, plural but for one: ``1 model``, ``2 models``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def one_of(choices: Iterable[str], *, ordered: bool = False) -> str:
    """Format allowed values as ``'a', 'b' or 'c'`` (sorted, or as given when ``ordered``)."""
    unique = list(dict.fromkeys(choices)) if ordered else sorted(set(choices))
    items = [f"'{c}'" for c in unique]
    if len(items) <= 1:
        return "".join(items)
    if len(items) > 12:
        return ", ".join(items[:12]) + f", ... ({len(items)} in all)"
    return ", ".join(items[:-1]) + " or " + items[-1]


def attempt[T](
    notes: list[str], what: str, make: Callable[..., T], *args: Any, **kwargs: Any
) -> T | None:
    """Return ``make(*args, **kwargs)``; on failure record a note and return ``None``.

    One table or figure that cannot be made must not cost the user the rest of the
    report, but the failure is shown where it would have been.
    """
    try:
        return make(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - any failure becomes a visible note
        logging.getLogger(__name__).debug("%s failed", what, exc_info=True)
        text = " ".join(str(exc).split()) or type(exc).__name__
        notes.append(f"{what} could not be made: {text}")
        return None
