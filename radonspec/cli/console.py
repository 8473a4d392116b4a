"""Where the command line prints, and the one place that maps errors to exit codes.

Text from specs, data and stored files goes through ``plain`` on its way to a console:
rich reads ``[...]`` as markup (a model name, a level or a message holding ``[/x]``
crashed the printer, ``[link=...]`` made a hyperlink, ``[a-z0-9]`` vanished) and a
terminal acts on control characters (an ESC sequence in a data value or a tampered
``meta.json``). The consoles also turn off emoji codes (``:smile:``) and highlighting.

Exit codes: 0 success, 1 invalid input, 2 a fit failed (or diagnostics failed with
``--strict``), 130 interrupted. No traceback unless ``--debug``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from radonspec.errors import RadonspecError, SpecErrors

# not on a terminal (CI logs, pipes), tables get room instead of being cut at 80 columns
out = Console(highlight=False, emoji=False, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, highlight=False, emoji=False, soft_wrap=True)
state = {"debug": False}


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C's ``KeyboardInterrupt`` so a run stops the same way."""


def _terminated(signum: int, frame: FrameType | None) -> None:
    # as the fit time limit does: never raise inside a compiler or a native file write,
    # where an exception halfway printed a traceback from LLVM's callback or crashed later
    from radonspec.fit.budget import RETRY_SECONDS, _safe_to_interrupt

    if not _safe_to_interrupt(frame):
        again = threading.Timer(RETRY_SECONDS, os.kill, (os.getpid(), signal.SIGTERM))
        again.daemon = True
        again.start()
        return
    raise Terminated


@contextlib.contextmanager
def _terminate_like_interrupt() -> Iterator[None]:
    """While the block runs, SIGTERM stops it as Ctrl-C would (only the main thread can)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    import radonspec.fit.budget  # noqa: F401 - imported now, never inside the handler

    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def handle_errors() -> Iterator[None]:
    """Map radonspec's errors to one-line messages and exit codes.

    SIGTERM (a service manager stopping the run, ``kill``) ends it as Ctrl-C does: fits
    still running are stopped, the finished ones are stored, and the exit code is 143.
    """
    try:
        with _terminate_like_interrupt():
            yield
    except Terminated:
        err.print("terminated; finished fits are stored, nothing half-written remains")
        raise typer.Exit(128 + signal.SIGTERM) from None
    except KeyboardInterrupt:
        err.print("interrupted; finished fits are stored, nothing half-written remains")
        raise typer.Exit(130) from None
    except RadonspecError as exc:
        if state["debug"]:
            raise
        lines = [str(e) for e in exc.errors] if isinstance(exc, SpecErrors) else [str(exc)]
        for line in lines:
            err.print(f"[red]error:[/red] {plain(line)}", markup=True, highlight=False)
        raise typer.Exit(exc.exit_code) from None


def plain(value: Any, *, lines: bool = False) -> str:
    r"""``value`` as rich markup that prints as exactly its text.

    Control and format characters (ESC, ``\r``, bidirectional overrides, ...) are shown
    as escapes such as ``\x1b``; line breaks too, unless ``lines`` keeps them.
    """
    text = str(value)
    if not all(_printable(c, lines) for c in text):
        text = "".join(c if _printable(c, lines) else _shown(c) for c in text)
    return escape(text)


def _printable(char: str, lines: bool) -> bool:
    if char == "\n":
        return lines
    return char.isprintable() or unicodedata.category(char) == "Zs"


def _shown(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def study_out(out_dir: Path | None, path: Path, studies: list[Path]) -> Path | None:
    """The report folder of ``path`` among ``studies`` (``run``'s ``--out``).

    ``--out`` itself for one study, else ``--out``/<study file's stem> (numbered where
    two files share a stem); ``None`` (each study's default) without ``--out``.
    """
    if out_dir is None or len(studies) == 1:
        return out_dir
    stems = [p.stem for p in studies]
    name = path.stem if stems.count(path.stem) == 1 else f"{path.stem}-{studies.index(path) + 1}"
    return out_dir / name
