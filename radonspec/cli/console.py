"""Where the command line prints, and the one place that maps errors to exit codes.

Exit codes: 0 success, 1 invalid input, 2 a fit failed (or diagnostics failed with
``--strict``), 130 interrupted. No traceback unless ``--debug``.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

import typer
from rich.console import Console
from rich.markup import escape

from radonspec.errors import RadonspecError, SpecErrors

# not on a terminal (CI logs, pipes), tables get room instead of being cut at 80 columns
out = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, highlight=False, soft_wrap=True)
state = {"debug": False}


@contextlib.contextmanager
def handle_errors() -> Iterator[None]:
    """Map radonspec's errors to one-line messages and exit codes."""
    try:
        yield
    except KeyboardInterrupt:
        err.print("interrupted; finished fits are stored, nothing half-written remains")
        raise typer.Exit(130) from None
    except RadonspecError as exc:
        if state["debug"]:
            raise
        lines = [str(e) for e in exc.errors] if isinstance(exc, SpecErrors) else [str(exc)]
        for line in lines:
            err.print(f"[red]error:[/red] {escape(line)}", markup=True, highlight=False)
        raise typer.Exit(exc.exit_code) from None
