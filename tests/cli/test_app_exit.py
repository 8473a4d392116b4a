"""The script's exit: an interrupted run ends although the interpreter's clean-up would hang.

Seen under load in the Ctrl-C fault test: the run printed "interrupted" and its process
stayed alive until killed. gdb put it in the interpreter's shutdown, in a process pool's
clean-up callback waiting for the pool's internal lock, which the interrupt had left
taken. An interrupted run now leaves without that clean-up (radonspec has closed what it
owns by then); here a clean-up that never returns stands for the stuck one.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import atexit
    import sys
    import threading

    from radonspec.cli import app as app_module

    def run():
        atexit.register(threading.Event().wait)  # a clean-up at exit that never returns
        atexit.register(print, "cleaned up")
        print("ran", flush=True)
        raise SystemExit(int(sys.argv[1]))  # as the Typer app ends

    app_module.app = run
    app_module.main()
    """
)


def _run(code: int, script: str = SCRIPT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", script, str(code)], capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("code", [130, 143], ids=["interrupted", "terminated"])
def test_an_interrupted_run_exits_without_the_interpreters_clean_up(code: int) -> None:
    done = _run(code)
    assert done.returncode == code, done.stderr
    assert done.stdout == "ran\n"  # printed before, flushed; the clean-up never ran


def test_other_exits_run_the_clean_up_as_python_does() -> None:
    done = _run(2, SCRIPT.replace("atexit.register(threading.Event().wait)", "pass"))
    assert done.returncode == 2, done.stderr
    assert done.stdout == "ran\ncleaned up\n"


@pytest.mark.parametrize(
    "argv", [["run", "--no-such-option", "s.yaml"], ["run"], ["no-such-command"]]
)
def test_a_usage_error_is_invalid_input_exit_1(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Click exits 2 for a usage error, the code a failed fit has here."""
    from radonspec.cli import app as app_module

    monkeypatch.setattr(sys, "argv", ["radonspec", *argv])
    monkeypatch.setattr(app_module._usage_error(), "exit_code", 2)  # restored after
    with pytest.raises(SystemExit) as caught:
        app_module.main()
    assert caught.value.code == 1
    assert "Usage:" in capsys.readouterr().err
