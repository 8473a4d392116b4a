"""Run a command and write its peak resident memory, free of the harness's own.

    python -S bench/peak.py OUT -- COMMAND...

Linux keeps a process's largest resident set across ``exec``: a child that the harness
forks and execs starts with the harness's own peak as its ``ru_maxrss``. A run of
``python -c 'import radonspec'`` measured straight from the harness read 653 MB, the
harness's peak at that time. This small process (a bare interpreter) stands between:
the command forks from it, so its ``ru_maxrss`` starts from this process's few MB. It
writes the command's ``ru_maxrss`` (kilobytes) to OUT and ends as the command ended
(the same exit code, or killed by the same signal).
"""

from __future__ import annotations

import os
import signal
import sys


def main(argv: list[str]) -> int:
    """Run ``argv[2:]`` (after ``OUT --``), record its ``ru_maxrss`` in ``OUT``."""
    if len(argv) < 3 or argv[1] != "--":
        print("usage: python -S bench/peak.py OUT -- COMMAND...", file=sys.stderr)
        return 2
    out, command = argv[0], argv[2:]
    child = os.fork()
    if child == 0:
        try:
            os.execvp(command[0], command)
        except OSError as exc:
            print(f"cannot run {command[0]}: {exc.strerror}", file=sys.stderr)
        finally:
            os._exit(127)
    _, status, usage = os.wait4(child, 0)  # retried by Python when a signal interrupts it
    with open(out, "w") as handle:
        handle.write(f"{usage.ru_maxrss}\n")
    if os.WIFSIGNALED(status):
        killed = os.WTERMSIG(status)
        if killed not in (signal.SIGKILL, signal.SIGSTOP):  # those cannot be handled
            signal.signal(killed, signal.SIG_DFL)
        os.kill(os.getpid(), killed)
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
