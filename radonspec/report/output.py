"""The report folder, replaced as a whole: a reader sees the old report or the new one.

Every file of a report (``report.html``, ``report.md`` with ``figures/*.png``,
``summary.json``, the inputs manifest) is written into a fresh folder beside the target,
named ``.<name>.radonspec-new.<random>``, synced, and then swapped with the target in
one step (``renameat2(RENAME_EXCHANGE)`` on Linux; elsewhere two renames). Nothing is
ever written into the existing folder, so a link planted there leads nowhere, and a
killed write leaves either the old report or the new one, never a mix; its staging
folder is removed by the next write.

Runs may write the same report at once (two studies' runs, or one study run twice):
each holds a lock (``flock``) on its staging folder while it lives, and the tidying and
staging happen under a lock on the parent folder, so a run tidies only what a killed
write left and never another run's folder in progress. The last swap wins.

The folder belongs to radonspec: it may hold only what a report writes. A folder
holding anything else (a user's notes, a link) is refused before any work, since
replacing it would delete those files.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import re
import secrets
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

from radonspec.errors import OutputError

#: What a report folder may hold at its top: the reports and the inputs manifest.
REPORT_NAMES = frozenset({"report.html", "report.md", "summary.json", ".report-inputs.json"})
FIGURES = "figures"
#: Temporary files earlier radonspec versions wrote beside a file they replaced.
_OLD_TEMPORARY = re.compile(r"\..+\.tmp")
_RENAME_EXCHANGE = 2  # from <linux/fs.h>
_AT_FDCWD = -100
_NO_SPACE = {errno.ENOSPC, errno.EDQUOT}
_NOT_WRITABLE = {errno.EROFS, errno.EACCES, errno.EPERM}


def check_out_dir(folder: Path) -> Path:
    """Refuse a report folder radonspec cannot write or must not replace; return it resolved.

    Called before any fitting, so a bad ``--out`` costs nothing: a file, a folder
    holding files a report never writes, or a read-only place.
    """
    target = Path(folder).expanduser().resolve()
    if target.exists() and not target.is_dir():
        raise OutputError(
            f"--out {folder} is a file, not a folder; pass --out DIR naming a folder (a new"
            " one is created)"
        )
    if target.is_dir():
        foreign = foreign_entries(target)
        if foreign:
            shown = ", ".join(repr(name) for name in foreign[:5])
            more = f" and {len(foreign) - 5} more" if len(foreign) > 5 else ""
            raise OutputError(
                f"--out {folder} holds files a report does not write ({shown}{more}); radonspec"
                " replaces its report folder as a whole and never deletes other files: pass"
                " a new or empty folder, or move those files away"
            )
    existing = target
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise OutputError(
            f"cannot write the report to {folder}: {existing} is not writable; make it"
            " writable or pass --out DIR naming another folder"
        )
    return target


def foreign_entries(folder: Path) -> list[str]:
    """What ``folder`` holds that a report does not write (links included), by name."""
    found: list[str] = []
    for entry in sorted(folder.iterdir()):
        mode = entry.lstat().st_mode
        if entry.name == FIGURES and stat.S_ISDIR(mode):
            for figure in sorted(entry.iterdir()):
                if not (_is_figure(figure.name) and stat.S_ISREG(figure.lstat().st_mode)):
                    found.append(f"{FIGURES}/{figure.name}")
        elif not (
            (entry.name in REPORT_NAMES or _OLD_TEMPORARY.fullmatch(entry.name))
            and stat.S_ISREG(mode)
        ):
            found.append(entry.name)
    return found


def _is_figure(name: str) -> bool:
    return name.endswith(".png") or bool(_OLD_TEMPORARY.fullmatch(name))


def write_folder(folder: Path, files: Mapping[str, bytes]) -> Path:
    """Make ``folder`` hold exactly ``files`` (relative path -> content), in one step.

    Returns the folder as written (links in the given path resolved). Raises
    ``OutputError`` with one sentence when the folder cannot be written, and then
    leaves the previous report as it was.
    """
    target = check_out_dir(folder)
    with contextlib.ExitStack() as held:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with _locked(target.parent):
                _recover(target)
                stage = Path(
                    tempfile.mkdtemp(prefix=f".{target.name}.radonspec-new.", dir=target.parent)
                )
                held.enter_context(_locked(stage))  # ours while this write lives
        except OSError as exc:
            raise _output_error(exc, folder) from None
        _fill_and_swap(stage, target, files, folder)
    return target


def _fill_and_swap(stage: Path, target: Path, files: Mapping[str, bytes], folder: Path) -> None:
    try:
        os.chmod(stage, 0o755)  # mkdtemp's 0o700 would hide the report from other users
        for name, payload in files.items():
            path = stage / name
            if path.parent != stage and not path.parent.exists():
                path.parent.mkdir(parents=True)
            _write_file(path, payload)
        for sub in {(stage / name).parent for name in files} | {stage}:
            _sync_dir(sub)
        with _locked(target.parent):  # no other run tidies the previous report meanwhile
            _swap(stage, target)
    except BaseException as exc:
        shutil.rmtree(stage, ignore_errors=True)
        if isinstance(exc, OSError) and not isinstance(exc, OutputError):
            raise _output_error(exc, folder) from None
        raise


@contextlib.contextmanager
def _locked(folder: Path, wait: bool = True) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``folder`` (released when the process dies too).

    With ``wait=False`` a folder another process holds raises ``BlockingIOError``.
    """
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield
    finally:
        os.close(fd)  # closing the last descriptor releases the lock


def _swap(stage: Path, target: Path) -> None:
    """Put ``stage`` in place of ``target``; the old report goes (it held only a report)."""
    if not target.exists():
        try:
            os.rename(stage, target)  # replaces an empty folder made meanwhile, else fails
            return
        except OSError as exc:  # another run's report arrived meanwhile: exchange with it
            if exc.errno not in {errno.ENOTEMPTY, errno.EEXIST}:
                raise
    if _exchange(stage, target):
        old = stage  # now holds the previous report
    else:
        old = target.parent / f".{target.name}.radonspec-old.{secrets.token_hex(6)}"
        os.rename(target, old)
        os.rename(stage, target)
    if foreign_entries(old):  # something arrived since the check: keep it, say where
        raise OutputError(
            f"the previous report of {target} gained files while the new one was written;"
            f" it is kept at {old}: move what you need from it, then delete it"
        )
    shutil.rmtree(old)


def _exchange(first: Path, second: Path) -> bool:
    """Swap two folders atomically; False where the system cannot (then nothing changed)."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    function = getattr(libc, "renameat2", None)
    if function is None:
        return False
    done = function(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE)
    if done == 0:
        return True
    code = ctypes.get_errno()
    if code in {errno.EINVAL, errno.ENOSYS, errno.ENOTSUP}:
        return False  # a file system without the exchange: two renames instead
    raise OSError(code, os.strerror(code), str(second))


def _recover(target: Path) -> None:
    """Tidy what a killed write left beside ``target``.

    A staging folder goes; a previous report moved aside goes too, or is put back when
    the kill came between the two renames and ``target`` is missing. Only folders
    with radonspec's names that hold nothing but a report are touched.
    """
    pattern = re.compile(rf"\.{re.escape(target.name)}\.radonspec-(new|old)\.[0-9A-Za-z_]+")
    for entry in sorted(target.parent.iterdir()):
        match = pattern.fullmatch(entry.name)
        if match is None or not stat.S_ISDIR(entry.lstat().st_mode) or foreign_entries(entry):
            continue
        try:
            with _locked(entry, wait=False):  # a live write of another run holds its folder
                if match[1] == "old" and not target.exists():
                    os.rename(entry, target)
                else:
                    shutil.rmtree(entry)
        except (BlockingIOError, FileNotFoundError):
            continue


def _write_file(path: Path, payload: bytes) -> None:
    # O_EXCL: the staging folder is new, so every file in it is too
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "wb") as stream:
        stream.write(payload)
        stream.flush()
        os.fsync(stream.fileno())


def _sync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        with contextlib.suppress(OSError):  # some file systems cannot sync a folder
            os.fsync(fd)
    finally:
        os.close(fd)


def _output_error(exc: OSError, folder: Path) -> OutputError:
    reason = exc.strerror or str(exc)
    if exc.errno in _NO_SPACE:
        return OutputError(
            f"no space left to write the report to {folder}; free some space or pass --out DIR"
            " naming a folder on another disk (the previous report is unchanged)"
        )
    if exc.errno in _NOT_WRITABLE:
        return OutputError(
            f"cannot write the report to {folder} ({reason}); make it writable or pass"
            " --out DIR naming another folder"
        )
    return OutputError(
        f"cannot write the report to {folder} ({reason}); check the folder or pass --out DIR"
        " naming another folder"
    )
