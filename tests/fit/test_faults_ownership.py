"""Nothing radonspec did not make is deleted, rewritten or written through a link.

The store may share its folder with anything (``--store .`` in a project), a report
folder may hold a user's files, and either may hold links someone planted there. These
tests plant them and check that every byte outside radonspec's own files is as it was.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import time
from pathlib import Path

import pytest
from test_faults_store import KEY, OTHER, fit
from typer.testing import CliRunner

from radonspec.cli.app import app
from radonspec.errors import ForeignFileError, StoreError
from radonspec.fit.store import APPLICATION_ID, Store


def snapshot(root: Path) -> dict[str, str]:
    """Every path under ``root`` with its content's digest (a link: its target)."""
    found = {}
    for path in sorted(root.rglob("*")):
        if path.is_symlink():
            found[str(path)] = "-> " + os.readlink(path)
        elif path.is_file():
            found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            found[str(path)] = "dir"
    return found


def aged(path: Path, hours: float = 5) -> Path:
    then = time.time() - hours * 3600
    os.utime(path, (then, then), follow_symlinks=False)
    return path


# -- the store's clean-up ------------------------------------------------------------------


def test_the_clean_up_deletes_only_what_a_writer_of_the_store_left(tmp_path: Path) -> None:
    project = tmp_path / "project"  # `--store .` in a project with a tmp/ of its own
    (project / "tmp" / "cache").mkdir(parents=True)
    (project / "tmp" / "notes.txt").write_text("mine")
    aged(project / "tmp" / "notes.txt")
    (project / "tmp" / "cache" / "big.bin").write_bytes(b"\0" * 10)
    aged(project / "tmp" / "cache")
    # named like a leftover, but holding a file a writer never writes: not ours
    lookalike = project / "tmp" / f"{KEY}.new.abc123"
    lookalike.mkdir()
    (lookalike / "draft.docx").write_text("mine too")
    aged(lookalike)
    leftover = project / "tmp" / f"{OTHER}.new.x1y2z3"  # what a killed writer leaves
    leftover.mkdir()
    (leftover / "fit.nc").write_bytes(b"\x89HDF half")
    theirs = {k: v for k, v in snapshot(project).items() if str(leftover) not in k}

    store = Store(project)
    store.put(fit(KEY, seed=1), {"study": "s"})
    assert not leftover.exists()
    after = snapshot(project)
    assert {k: after.get(k) for k in theirs} == theirs
    assert store.clean() == 0


def test_a_tmp_link_planted_in_a_store_is_never_followed(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    store.put(fit(OTHER, seed=2), {"study": "s"})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "old.txt").write_text("keep")
    aged(elsewhere / "old.txt")
    victim = elsewhere / f"{KEY}.new.abcdef"  # even one that looks like a leftover
    victim.mkdir()
    (victim / "fit.nc").write_bytes(b"precious")
    aged(victim)
    os.rename(store.root / "tmp", tmp_path / "tmp-aside")
    (store.root / "tmp").symlink_to(elsewhere)
    before = snapshot(elsewhere)

    assert store.clean() == 0
    with pytest.raises(ForeignFileError, match=r"tmp is a symbolic link; radonspec neither"):
        store.put(fit(KEY, seed=1), {"study": "s"})
    assert snapshot(elsewhere) == before
    hit = store.get(OTHER)  # what was stored is still served
    assert hit is not None


def test_links_planted_inside_a_store_are_not_followed(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    store.put(fit(OTHER, seed=2), {"study": "s"})
    target = tmp_path / "target.txt"
    target.write_text("keep")
    # a lock file that is a link: opening it must not create or open the target
    (store.root / "locks" / f"{KEY}.lock").symlink_to(target)
    with pytest.raises(ForeignFileError, match=r"\.lock is a symbolic link"):
        store.put(fit(KEY, seed=1), {"study": "s"})
    assert target.read_text() == "keep"
    (store.root / "locks" / f"{KEY}.lock").unlink()
    # a fit folder that is a link to someone's folder: never listed, served or replaced
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "meta.json").write_text("{}")
    shard = store.root / "fits" / KEY[:2]
    shard.mkdir(parents=True, exist_ok=True)
    (shard / KEY).symlink_to(theirs)
    before = snapshot(theirs)
    assert store.get(KEY) is None
    assert [r.key for r in store.runs()] == [OTHER]
    with pytest.raises(ForeignFileError, match=rf"{KEY} is a symbolic link"):
        store.put(fit(KEY, seed=1), {"study": "s"})
    assert snapshot(theirs) == before and (shard / KEY).is_symlink()


# -- the index -----------------------------------------------------------------------------


def _their_database(path: Path) -> bytes:
    with contextlib.closing(sqlite3.connect(path)) as con:
        con.execute("CREATE TABLE runs (id INTEGER PRIMARY KEY, command TEXT)")
        con.execute("INSERT INTO runs (command) VALUES ('make all')")
        con.commit()
    return path.read_bytes()


def test_runs_never_rewrites_another_programs_database(tmp_path: Path) -> None:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "fits").mkdir()  # even beside a folder named like the store's
    theirs = _their_database(folder / "index.sqlite")
    with pytest.raises(ForeignFileError, match=r"index\.sqlite is not radonspec's index"):
        Store(folder).runs()
    with pytest.raises(StoreError):
        Store(folder).rebuild_index()
    assert (folder / "index.sqlite").read_bytes() == theirs
    result = CliRunner().invoke(app, ["runs", "--store", str(folder)])
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "is not radonspec's index" in lines[0], result.output
    assert (folder / "index.sqlite").read_bytes() == theirs
    with contextlib.closing(sqlite3.connect(folder / "index.sqlite")) as con:
        assert con.execute("SELECT command FROM runs").fetchall() == [("make all",)]


def test_a_linked_index_is_refused_and_its_target_untouched(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    store.put(fit(OTHER, seed=2), {"study": "s"})
    for suffix in ("", "-wal", "-shm"):
        Path(f"{store.index_path}{suffix}").unlink(missing_ok=True)
    theirs = _their_database(tmp_path / "theirs.sqlite")
    store.index_path.symlink_to(tmp_path / "theirs.sqlite")
    with pytest.raises(ForeignFileError, match=r"index\.sqlite is a symbolic link"):
        store.runs()
    stored = store.put(fit(KEY, seed=1), {"study": "s"})  # stored; only the index is refused
    assert stored.path is not None and store.get(KEY) is not None
    assert (tmp_path / "theirs.sqlite").read_bytes() == theirs


def test_listing_a_folder_that_holds_no_store_creates_nothing(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    before = snapshot(tmp_path)
    assert Store(tmp_path).runs() == []
    assert snapshot(tmp_path) == before


def test_an_index_from_before_the_application_id_is_adopted(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    store.put(fit(OTHER, seed=2), {"study": "s"})
    with contextlib.closing(sqlite3.connect(store.index_path)) as con:
        con.execute("PRAGMA application_id = 0")  # as every index written before it had
        con.commit()
    assert [r.key for r in store.runs()] == [OTHER]
    with contextlib.closing(sqlite3.connect(store.index_path)) as con:
        assert con.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID


def test_a_store_that_is_a_file_is_an_error_not_an_empty_list(tmp_path: Path) -> None:
    path = tmp_path / "store.txt"
    path.write_text("not a folder")
    with pytest.raises(StoreError, match=r"store\.txt is a file, not a folder; pass --store DIR"):
        Store(path).runs()
    with pytest.raises(StoreError, match=r"is a file, not a folder"):
        Store(path).put(fit(KEY), {"study": "s"})
    result = CliRunner().invoke(app, ["runs", "--store", str(path)])
    assert result.exit_code == 1 and "is a file, not a folder" in result.output
    assert path.read_text() == "not a folder"


def test_a_run_on_a_store_that_is_a_file_says_so_once_and_nothing_else(
    toy: Path, tmp_path: Path
) -> None:
    """It used to call every fit in it damaged, and say it could not remove them."""
    path = tmp_path / "store.txt"
    path.write_text("not a folder")
    for command in (["run", str(toy)], ["report", str(toy)]):
        result = CliRunner().invoke(app, [*command, "--store", str(path)])
        assert result.exit_code == 1
        assert result.output.strip().splitlines() == [
            f"error: fit store {path} is a file, not a folder; pass --store DIR naming a folder"
            " (a new one is created)"
        ]
    assert path.read_text() == "not a folder"


def test_runs_of_a_store_not_made_yet_says_there_is_none(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["runs", "--store", str(tmp_path / "none")])
    assert result.exit_code == 0
    assert "no fit store at" in result.output and "nothing has been fitted there" in result.output
    assert not (tmp_path / "none").exists()
