"""The report folder under faults and hostile input.

Links planted in ``--out``, a write killed at any point, a full or read-only disk, an
``--out`` that names a file or a folder of someone else's files, and spec or data text
written to run a script in a Markdown viewer. The report is either written whole and
safe, or refused in one sentence before any work, with the previous report unchanged.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from markdown_it import MarkdownIt

from radonspec.errors import OutputError
from radonspec.fit.record import Fit
from radonspec.report import output as output_module
from radonspec.report.output import check_out_dir, write_folder
from radonspec.report.render import write_report
from radonspec.study.loader import load_study

ROOT = Path(__file__).resolve().parents[2]
OLD = {"report.html": b"old html", "report.md": b"old md", "figures/a.png": b"old png"}
NEW = {"report.html": b"new html", "report.md": b"new md", "summary.json": b"{}",
       "figures/b.png": b"new png"}  # fmt: skip


def contents(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if ".radonspec-" in p.name)


# -- links and foreign files in --out ------------------------------------------------------


@pytest.mark.parametrize("link", ["figures", "report.md", "summary.json"])
def test_links_planted_in_the_report_folder_are_never_written_through(
    tmp_path: Path, link: str
) -> None:
    out = tmp_path / "out"
    write_folder(out, OLD)
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "b.png").write_text("precious")
    (victim / "file").write_text("precious")
    target = victim if link == "figures" else victim / "file"
    if (out / link).is_dir():
        os.rename(out / link, tmp_path / "aside")
    else:
        (out / link).unlink(missing_ok=True)
    (out / link).symlink_to(target)
    with pytest.raises(OutputError, match=rf"holds files a report does not write \('{link}'\)"):
        write_folder(out, NEW)
    assert contents(victim) == {"b.png": b"precious", "file": b"precious"}
    assert (out / link).is_symlink()
    assert leftovers(tmp_path) == []


def test_an_out_folder_of_someone_elses_files_is_refused_before_any_work(tmp_path: Path) -> None:
    out = tmp_path / "project"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "report.html").write_text("an old report")
    message = r"--out .*project holds files a report does not write \('notes.txt'\); radonspec"
    with pytest.raises(OutputError, match=message + " replaces its report folder as a whole"):
        write_folder(out, NEW)
    assert contents(out) == {"notes.txt": b"mine", "report.html": b"an old report"}


def test_out_naming_a_file_is_one_sentence(tmp_path: Path) -> None:
    path = tmp_path / "report.txt"
    path.write_text("x")
    with pytest.raises(OutputError, match=r"--out .*report\.txt is a file, not a folder"):
        check_out_dir(path)
    assert path.read_text() == "x"


def test_the_new_report_replaces_the_old_one_whole(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_folder(out, OLD)
    write_folder(out, NEW)
    assert contents(out) == NEW  # the old figure and files are gone, nothing else was there
    assert leftovers(tmp_path) == []


# -- a killed write --------------------------------------------------------------------------

_KILLED = """
import importlib.util, os, signal, sys
from pathlib import Path
# the module alone: radonspec.report would import the plotting stack (seconds per process)
spec = importlib.util.spec_from_file_location("output", sys.argv[3])
output = importlib.util.module_from_spec(spec)
spec.loader.exec_module(output)
stage, folder = sys.argv[1], Path(sys.argv[2])
die = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
if stage == "writing":  # some files staged, then the power goes
    real, count = output._write_file, []
    def some(path, payload):
        count.append(path)
        if len(count) == 2:
            die()
        real(path, payload)
    output._write_file = some
elif stage == "swapping":
    output._exchange = die
elif stage == "between-renames":  # a system without the exchange: two renames
    output._exchange = lambda a, b: False
    real_rename = os.rename
    def rename(a, b):
        real_rename(a, b)
        if ".radonspec-old." in str(b):
            die()
    output.os.rename = rename
elif stage == "removing-the-old":
    output.shutil.rmtree = die
new = {"report.html": b"new html", "report.md": b"new md", "summary.json": b"{}",
       "figures/b.png": b"new png"}
output.write_folder(folder, new)
"""


@pytest.mark.parametrize("stage", ["writing", "swapping", "between-renames", "removing-the-old"])
def test_a_killed_report_write_leaves_the_old_report_or_the_new_one(
    tmp_path: Path, stage: str
) -> None:
    out = tmp_path / "out"
    write_folder(out, OLD)
    done = subprocess.run(
        [sys.executable, "-c", _KILLED, stage, str(out), output_module.__file__],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    if stage == "between-renames" and not out.exists():
        # without an atomic exchange there is a moment with the old report moved aside
        (aside,) = tmp_path.glob(".out.radonspec-old.*")
        assert contents(aside) == OLD
    else:
        assert contents(out) in (OLD, NEW), contents(out)  # never a mix, nor a half file
    write_folder(out, NEW)  # the next write tidies what the killed one left
    assert contents(out) == NEW
    assert leftovers(tmp_path) == []


# -- runs writing the same report at once ---------------------------------------------------

_WRITER = """
import importlib.util, sys
from pathlib import Path
spec = importlib.util.spec_from_file_location("output", sys.argv[3])
output = importlib.util.module_from_spec(spec)
spec.loader.exec_module(output)
folder, me = Path(sys.argv[1]), sys.argv[2]
files = {f"figures/{n}.png": me.encode() * 20_000 for n in range(8)}
files.update({"report.html": me.encode(), "report.md": me.encode(), "summary.json": b"{}"})
for _ in range(15):
    output.write_folder(folder, files)
"""


def test_runs_writing_the_same_report_at_once_each_finish_and_one_report_stands(
    tmp_path: Path,
) -> None:
    # two studies' runs (or one run twice) may end at the same moment into one --out: no run
    # may tidy away another's folder in progress, and the last swap wins whole
    out = tmp_path / "out"
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(out), f"run{n}", output_module.__file__],
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(4)
    ]
    for writer in writers:
        _, errors = writer.communicate(timeout=300)
        assert writer.returncode == 0, errors
    html = (out / "report.html").read_text()
    assert html in {f"run{n}" for n in range(4)}
    figures = sorted((out / "figures").iterdir())
    assert len(figures) == 8
    assert {figure.read_text() for figure in figures} == {html * 20_000}  # one run's report
    assert leftovers(tmp_path) == []


# -- full and read-only disks ------------------------------------------------------------------


def _mount(*args: str) -> bool:
    try:
        done = subprocess.run(["mount", *args], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


@contextlib.contextmanager
def small_disk(path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A 200 kB file system at ``path``; else report writes that fail with ENOSPC."""
    path.mkdir(parents=True, exist_ok=True)
    if _mount("-t", "tmpfs", "-o", "size=200k", "tmpfs", str(path)):
        try:
            yield "tmpfs"
        finally:
            subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=30)
        return
    real = output_module._write_file

    def full(target: Path, payload: bytes) -> None:
        if len(payload) > 100_000:
            raise OSError(errno.ENOSPC, "No space left on device", str(target))
        real(target, payload)

    monkeypatch.setattr(output_module, "_write_file", full)
    yield "patched"


def test_a_full_disk_is_one_sentence_and_keeps_the_previous_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with small_disk(tmp_path / "disk", monkeypatch) as kind:
        out = tmp_path / "disk" / "out"
        write_folder(out, OLD)
        with pytest.raises(OutputError) as info:
            write_folder(out, {**NEW, "report.html": b"x" * 400_000})
        assert str(info.value) == (
            f"no space left to write the report to {out}; free some space or pass --out DIR"
            " naming a folder on another disk (the previous report is unchanged)"
        ), kind
        assert contents(out) == OLD
        assert leftovers(out.parent) == []


def test_a_read_only_out_is_refused_before_the_report_is_computed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parent = tmp_path / "ro"
    parent.mkdir()
    if _mount("-t", "tmpfs", "-o", "ro,size=100k", "tmpfs", str(parent)):
        cleanup = lambda: subprocess.run(["umount", "-l", str(parent)], capture_output=True)  # noqa: E731
    else:
        monkeypatch.setattr(output_module.os, "access", lambda *a, **k: False)
        cleanup = lambda: None  # noqa: E731
    try:
        with pytest.raises(OutputError, match=r"cannot write the report to .*ro/out: .*ro is not"
                           r" writable; make it writable or pass --out DIR"):  # fmt: skip
            check_out_dir(parent / "out")
    finally:
        cleanup()


# -- hostile text in report.md -------------------------------------------------------------------

EVIL = (
    "<script>alert(1)</script> <img src=x onerror=alert(2)> [click](javascript:alert(3))"
    " ![t](http://tracker.example/p.png) <http://autolink.example> `x` \\[y](z) |a|b| &amp;"
)


@pytest.fixture
def hostile_report(tmp_path: Path) -> Path:
    """A report whose title, descriptions, level names and errors all carry ``EVIL``."""
    quoted = '"' + EVIL.replace("\\", "\\\\") + '"'
    levels = ["a", EVIL, "c"]
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "y": rng.normal(size=30),
            "x": rng.normal(size=30),
            "g": [levels[i % 3] for i in range(30)],
        }
    )
    frame.to_csv(tmp_path / "d.csv", index=False)
    (tmp_path / "s.yaml").write_text(
        textwrap.dedent(f"""\
        spec_version: 1
        name: hostile
        description: {quoted}
        data: {{path: d.csv, categorical: [g]}}
        models:
          m:
            formula: y ~ x + (1|g)
            description: {quoted}
          f:
            formula: y ~ x
        report:
          title: {quoted}
          group: g
          highlight: [{quoted}]
        """)
    )
    study = load_study(tmp_path / "s.yaml")
    coords = {"chain": [0, 1], "draw": np.arange(100)}
    tree = xr.DataTree.from_dict(
        {
            "posterior": xr.Dataset(
                {
                    "Intercept": (("chain", "draw"), rng.normal(size=(2, 100))),
                    "x": (("chain", "draw"), rng.normal(size=(2, 100))),
                    "sigma": (("chain", "draw"), rng.gamma(2, size=(2, 100))),
                    "1|g_sigma": (("chain", "draw"), rng.gamma(2, size=(2, 100))),
                    "1|g": (("chain", "draw", "g__factor_dim"), rng.normal(size=(2, 100, 3))),
                },
                coords={**coords, "g__factor_dim": levels},
            ),
            "sample_stats": xr.Dataset(
                {"diverging": (("chain", "draw"), np.zeros((2, 100), bool))}, coords=coords
            ),
        }
    )
    fits = {
        "m": Fit("m", "a" * 64, "ok", tree, {"total": 1.0}, {}),
        "f": Fit("f", "b" * 64, "failed", None, error=f"the sampler said {EVIL}"),
    }
    from radonspec.analysis.results import analyse

    frame["g"] = frame["g"].astype("category")
    written = write_report(analyse(study, fits, frame), tmp_path / "out")
    return written["markdown"]


def test_report_md_renders_spec_and_data_text_as_text(hostile_report: Path) -> None:
    text = hostile_report.read_text()
    html = MarkdownIt("commonmark", {"html": True}).enable("table").render(text)
    assert "<script" not in html
    assert re.findall(r"<img [^>]*>", html) == []  # no figure here, and none planted
    links = re.findall(r'<a href="([^"]*)"', html)
    assert links and all(link.startswith("#") for link in links), links
    # every occurrence reads as the text that was written
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 4
    assert "[click](javascript:alert(3))" in html


# -- through the command line ----------------------------------------------------------------

RUN_STUDY = """\
spec_version: 1
name: full
data: {path: d.csv}
models:
  m:
    formula: y ~ x
    sampler: {draws: 300, tune: 100, chains: 2, seed: 1}
"""


def _small_study(folder: Path) -> Path:
    rng = np.random.default_rng(2)
    x = rng.normal(size=80)
    pd.DataFrame({"y": x + rng.normal(size=80), "x": x}).to_csv(folder / "d.csv", index=False)
    (folder / "s.yaml").write_text(RUN_STUDY)
    return folder / "s.yaml"


def test_run_with_out_naming_a_file_stops_before_fitting(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from radonspec.cli.app import app

    spec = _small_study(tmp_path)
    (tmp_path / "report.txt").write_text("mine")
    result = CliRunner().invoke(
        app,
        ["run", str(spec), "--out", str(tmp_path / "report.txt"), "--store", str(tmp_path / "st")],
    )
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "report.txt is a file, not a folder" in lines[0], result.output
    assert not (tmp_path / "st").exists()  # nothing was fitted
    assert (tmp_path / "report.txt").read_text() == "mine"


@pytest.mark.slow
@pytest.mark.parametrize("full", ["store", "out"])
def test_a_full_disk_ends_a_run_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, full: str
) -> None:
    spec = _small_study(tmp_path)
    disk = tmp_path / "disk"
    disk.mkdir()
    if not _mount("-t", "tmpfs", "-o", "size=120k", "tmpfs", str(disk)):
        pytest.skip("needs mount (root) for a full disk a subprocess sees")
    try:
        store = disk / "st" if full == "store" else tmp_path / "st"
        out = disk / "out" if full == "out" else tmp_path / "out"
        done = subprocess.run(
            [sys.executable, "-m", "radonspec", "run", str(spec), "--store", str(store),
             "--out", str(out), "--jobs", "1"],
            capture_output=True, text=True, timeout=900, cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"},
        )  # fmt: skip
        output = done.stdout + done.stderr
        errors = [line for line in output.splitlines() if line.startswith("error:")]
        assert done.returncode == 1, output  # was a SystemError, then a segfault (-11)
        assert "Traceback" not in output and "SystemError" not in output, output
        assert len(errors) == 1, output
        if full == "store":
            assert "no space left for fit store" in errors[0], output
            assert not list((store / "tmp").iterdir())  # nothing half-written
        else:
            assert "no space left to write the report to" in errors[0], output
            assert leftovers(disk) == [] and not out.exists()
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True, timeout=30)
