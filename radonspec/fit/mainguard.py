"""Whether this process may start worker processes, before it starts one.

Workers are started with ``spawn``: each new process imports the script that started
the run again (as Python's ``multiprocessing`` does for any pool), so a script that
calls ``radonspec.run`` or ``fit_study`` at its top level, not under ``if __name__ ==
"__main__":``, would have every worker run the study again. Python raises for that
only when the worker itself starts a process; a worker here would first wait for the
store's lock that its parent holds, for ever. So the parent refuses first, naming the
script's line, and a worker importing a script never begins a fit.
"""

from __future__ import annotations

import ast
import multiprocessing
import os
import sys
from types import FrameType

from radonspec.errors import FitError

ADVICE = (
    "put the script's calls under `if __name__ == \"__main__\":` (Python's multiprocessing"
    " needs it), or pass jobs=1 to fit in this process"
)
#: For a fit with ``sampler.time_limit``, which always runs in a process of its own.
LIMITED = (
    "put the script's calls under `if __name__ == \"__main__\":` (Python's multiprocessing"
    " needs it): a model with sampler.time_limit is fitted in a process of its own"
)


def ensure_workers_can_start(advice: str = ADVICE) -> None:
    """Raise ``FitError`` where a worker process started now would run the caller again."""
    if importing_main():
        raise FitError(
            "radonspec was called while a worker process imported the script that started"
            f" the run, at the script's top level; {advice}"
        )
    line = unguarded_main_line()
    if line is not None:
        path, number = line
        raise FitError(
            f"{os.path.basename(path)}:{number} runs radonspec at the script's top level,"
            " and each worker process radonspec starts imports the script again, so it"
            f" would run the study again; {advice}"
        )


def importing_main() -> bool:
    """Whether this process is a worker still importing its parent's main script."""
    return bool(getattr(multiprocessing.current_process(), "_inheriting", False))


def unguarded_main_line() -> tuple[str, int] | None:
    """The main script's file and line running this call, where a worker would run it too.

    ``None`` when no worker would: the main module is not a script file (a notebook, ``-c``,
    an interactive session, a package's ``__main__``, which ``spawn`` never imports again),
    the call does not come from the script's top level, or that line is under ``if
    __name__ == "__main__":``. A script that cannot be read or parsed is given the benefit
    of the doubt.
    """
    main = sys.modules.get("__main__")
    if main is None:
        return None
    name = getattr(getattr(main, "__spec__", None), "name", None)
    if name is not None and (name == "__main__" or name.endswith(".__main__")):
        return None
    path = getattr(main, "__file__", None)
    if not path:
        return None
    top = _top_level_frame(main.__dict__)
    if top is None or os.path.abspath(top.f_code.co_filename) != os.path.abspath(path):
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            tree = ast.parse(handle.read(), filename=path)
    except (OSError, SyntaxError, ValueError):
        return None
    return None if _guarded(tree.body, top.f_lineno) else (path, top.f_lineno)


def _guarded(body: list[ast.stmt], line: int) -> bool:
    """Whether ``line`` runs only under a ``__name__ == "__main__"`` test in ``body``.

    The statements that hold the line are followed down (``try``, ``with``, ``for`` and
    ``if`` blocks alike); the line is guarded when one of them is an ``if`` whose test
    is the comparison, alone or joined by ``and``, and the line is in its body.
    """
    for statement in body:
        if not statement.lineno <= line <= (statement.end_lineno or statement.lineno):
            continue
        if isinstance(statement, ast.If) and _is_main_test(statement.test):
            if any(s.lineno <= line <= (s.end_lineno or s.lineno) for s in statement.body):
                return True
        for field in ("body", "orelse", "finalbody", "handlers"):
            inner = getattr(statement, field, None)
            if isinstance(inner, list) and inner and _guarded(_statements(inner), line):
                return True
        return False
    return False


def _statements(items: list[ast.AST]) -> list[ast.stmt]:
    """Statements of a block; an ``except`` clause's own body stands for it."""
    found: list[ast.stmt] = []
    for item in items:
        if isinstance(item, ast.ExceptHandler):
            found += item.body
        elif isinstance(item, ast.stmt):
            found.append(item)
    return found


def _top_level_frame(namespace: dict[str, object]) -> FrameType | None:
    """The outermost frame running the main module's own top-level code, if any."""
    frame: FrameType | None = sys._getframe(1)
    found = None
    while frame is not None:
        if frame.f_globals is namespace and frame.f_code.co_name == "<module>":
            found = frame
        frame = frame.f_back
    return found


def _is_main_test(test: ast.expr) -> bool:
    """``__name__ == "__main__"`` (either way round), alone or joined by ``and``."""
    if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And):
        return any(_is_main_test(value) for value in test.values)
    if not isinstance(test, ast.Compare):
        return False
    if len(test.ops) != 1 or not isinstance(test.ops[0], ast.Eq):
        return False
    sides = [test.left, test.comparators[0]]
    names = [s for s in sides if isinstance(s, ast.Name) and s.id == "__name__"]
    mains = [s for s in sides if isinstance(s, ast.Constant) and s.value == "__main__"]
    return len(names) == 1 and len(mains) == 1
