"""A script that runs radonspec outside ``if __name__ == "__main__":`` is told so, never hangs.

Each case runs a real script in a fresh interpreter: what is checked is the main
module and the call stack of that process, which a test inside pytest cannot fake.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PROBE = "from radonspec.fit.mainguard import unguarded_main_line as probe\n"


def run(args: list[str], cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
        check=False,
    )  # fmt: skip


def script(tmp_path: Path, body: str, name: str = "script.py") -> Path:
    path = tmp_path / name
    path.write_text(PROBE + textwrap.dedent(body))
    return path


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("print(probe())\n", "2"),
        ("def main():\n    print(probe())\n\n\nmain()\n", "6"),
        ('if __name__ == "__main__":\n    print(probe())\n', "None"),
        ('if "__main__" == __name__:\n    print(probe())\n', "None"),
        ('def main():\n    print(probe())\n\n\nif __name__ == "__main__":\n    main()\n', "None"),
        ('if __name__ != "__main__":\n    pass\nelse:\n    print(probe())\n', "5"),
        ("for _ in range(1):\n    print(probe())\n", "3"),
        ('if __name__ == "__main__" and len("go"):\n    print(probe())\n', "None"),
        (
            'try:\n    if __name__ == "__main__":\n        print(probe())\nfinally:\n    pass\n',
            "None",
        ),
        (
            "import contextlib\nwith contextlib.suppress(OSError):\n"
            '    if __name__ == "__main__":\n        print(probe())\n',
            "None",
        ),
        ('if __name__ == "__main__" or True:\n    print(probe())\n', "3"),
        ("try:\n    print(probe())\nexcept OSError:\n    pass\n", "3"),
    ],
    ids=[
        "top",
        "function-called-at-top",
        "guarded",
        "guarded-reversed",
        "guarded-main",
        "not-the-guard",
        "loop",
        "guard-and-more",
        "guard-in-try",
        "guard-in-with",
        "guard-or-anything",
        "in-try-unguarded",
    ],
)
def test_the_line_a_worker_would_run_again_is_found(
    tmp_path: Path, body: str, expected: str
) -> None:
    path = script(tmp_path, body)
    done = run([str(path)], tmp_path)
    assert done.returncode == 0, done.stderr
    line = done.stdout.strip()
    assert line == "None" if expected == "None" else line == f"('{path}', {expected})"


def test_main_modules_that_workers_never_import_again_are_left_alone(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "__main__.py").write_text(PROBE + "print(probe())\n")
    (tmp_path / "mod.py").write_text(PROBE + "print(probe())\n")
    assert run(["-m", "pkg"], tmp_path).stdout.strip() == "None"  # a package's __main__
    assert run(["-c", PROBE + "print(probe())"], tmp_path).stdout.strip() == "None"
    # a plain module run with -m is imported again by name: its top level counts
    assert run(["-m", "mod"], tmp_path).stdout.strip() == f"('{tmp_path / 'mod.py'}', 2)"


def test_an_unguarded_script_gets_its_line_and_the_fix_before_any_worker_starts(
    toy: Path,
) -> None:
    folder = toy.parent
    path = folder / "fit_toy.py"
    path.write_text(
        "import radonspec\n"
        f"study = radonspec.load_study({str(toy)!r})\n"
        "fits = radonspec.fit_study(study, jobs=2, store='fits')\n"
    )
    done = run([str(path)], folder, timeout=120)  # it used to wait for ever
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("radonspec.errors.FitError: fit_toy.py:3 runs radonspec at the")
    assert 'if __name__ == "__main__":' in last and "jobs=1" in last
    assert not (folder / "fits").exists()  # nothing written


def test_a_worker_importing_a_script_never_starts_a_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    import multiprocessing

    from radonspec.errors import FitError
    from radonspec.fit.runner import fit_planned

    monkeypatch.setattr(multiprocessing.current_process(), "_inheriting", True, raising=False)
    with pytest.raises(FitError, match="while a worker process imported the script"):
        fit_planned(None, [], store="unused")  # type: ignore[arg-type]
