"""Store faults: a killed writer, damaged files, a full or read-only disk, a lost index.

Whatever happens, the store never serves a fit that does not match its key and
checksum, a finished fit survives, and every failure reaches the user as a message
(never a traceback). Full and read-only disks are real file systems (a 2 MB tmpfs, a
read-only bind mount) when this process may mount them, as root in CI; elsewhere the
same tests run with ``ENOSPC`` / ``EROFS`` raised by a patched ``os`` call instead.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from radonspec.errors import StoreError
from radonspec.fit import store as store_module
from radonspec.fit.record import Fit
from radonspec.fit.store import FIT_FILE, META_FILE, Store

KEY = "ab" + "1" * 62
OTHER = "cd" + "2" * 62
ROOT = Path(__file__).resolve().parents[2]


def tree(seed: int = 0, draws: int = 20, obs: int = 30) -> xr.DataTree:
    rng = np.random.default_rng(seed)
    cd = {"chain": [0, 1], "draw": np.arange(draws)}
    per_obs = {**cd, "__obs__": np.arange(obs)}
    return xr.DataTree.from_dict(
        {
            "posterior": xr.Dataset(
                {"Intercept": (("chain", "draw"), rng.normal(size=(2, draws)))}, coords=cd
            ),
            "log_likelihood": xr.Dataset(
                {"y": (tuple(per_obs), rng.normal(size=(2, draws, obs)))}, coords=per_obs
            ),
            "sample_stats": xr.Dataset(
                {"diverging": (("chain", "draw"), np.zeros((2, draws), bool))}, coords=cd
            ),
        }
    )


def fit(key: str = KEY, seed: int = 0, **sizes: int) -> Fit:
    return Fit("m", key, "ok", tree(seed, **sizes), {"total": 1.0}, {"pymc": "x"})


def same(a: xr.DataTree, b: xr.DataTree) -> bool:
    return bool(a["posterior"].to_dataset().equals(b["posterior"].to_dataset()))


def consistent(store: Store) -> None:
    """Nothing damaged, no leftovers once cleaned, and the index lists exactly the folders."""
    assert store.verify() == []
    store.clean()
    tmp = store.root / "tmp"
    assert not tmp.exists() or list(tmp.iterdir()) == []
    folders = {p.name for p in store._folders()}
    assert {r.key for r in store.runs()} == folders


# -- kill -9 while a fit is written ------------------------------------------------------

_WRITER = """
import os, signal, sys
import numpy as np, xarray as xr
sys.path.insert(0, sys.argv[3])
from test_faults_store import fit, KEY
from radonspec.fit import store as S

stage, root = sys.argv[1], sys.argv[2]
die = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
if stage == "netcdf":  # half the file on disk, then the power goes
    def half(path, data):
        with open(path, "wb") as handle:
            handle.write(data[: len(data) // 2])
        die()
    S._write_file = half
elif stage == "meta":
    S._write_json = die
elif stage == "rename":
    S._sync_dir = die
elif stage == "index":
    S.Store._transact = die
store = S.Store(root)
print("writing", flush=True)
store.put(fit(KEY, seed=int(sys.argv[4])), {"study": "s"})
print("survived", flush=True)
"""


@pytest.mark.parametrize("replacing", [False, True], ids=["new", "replacing"])
@pytest.mark.parametrize("stage", ["netcdf", "meta", "rename", "index"])
def test_kill_9_while_writing_a_fit_serves_no_damaged_fit(
    tmp_path: Path, stage: str, replacing: bool
) -> None:
    store = Store(tmp_path / "store")
    if replacing:
        store.put(fit(KEY, seed=1), {"study": "s"})
    done = subprocess.run(
        [sys.executable, "-c", _WRITER, stage, str(store.root), str(Path(__file__).parent), "2"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert "writing" in done.stdout and "survived" not in done.stdout
    hit = store.get(KEY)
    if stage == "index":  # the folder was complete: the new fit is kept and served
        assert hit is not None and same(hit.tree, tree(2))
    elif replacing and stage != "rename":  # the old fit was never touched
        assert hit is not None and same(hit.tree, tree(1))
    else:  # nothing complete under fits/ (or the old one moved aside): a miss, never junk
        assert hit is None or same(hit.tree, tree(1))
    consistent(store)
    store.put(fit(KEY, seed=3), {"study": "s"})
    refit = store.get(KEY)
    assert refit is not None and same(refit.tree, tree(3))
    consistent(store)


# -- damaged files ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "damage",
    ["truncate", "flip-a-byte", "swap-in-another-fit", "empty", "meta-of-another-key",
     "folder-copied-to-another-key", "meta-not-json", "meta-a-list"],
)  # fmt: skip
def test_a_damaged_fit_is_never_served(
    tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = Store(tmp_path / "store")
    store.put(fit(KEY, seed=1), {"study": "s"})
    store.put(fit(OTHER, seed=2), {"study": "s"})
    folder, other = store.folder(KEY), store.folder(OTHER)
    nc = folder / FIT_FILE
    if damage == "truncate":
        os.truncate(nc, nc.stat().st_size // 3)
    elif damage == "flip-a-byte":
        data = bytearray(nc.read_bytes())
        data[len(data) // 2] ^= 0xFF
        nc.write_bytes(bytes(data))
    elif damage == "swap-in-another-fit":
        shutil.copyfile(other / FIT_FILE, nc)
    elif damage == "empty":
        nc.write_bytes(b"")
    elif damage == "meta-of-another-key":  # file and checksum agree, but they are OTHER's
        shutil.copyfile(other / FIT_FILE, nc)
        shutil.copyfile(other / META_FILE, folder / META_FILE)
    elif damage == "folder-copied-to-another-key":
        shutil.rmtree(folder)
        shutil.copytree(other, folder)
    elif damage == "meta-not-json":
        (folder / META_FILE).write_text('{"status": "ok", "checksum": ')
    elif damage == "meta-a-list":
        (folder / META_FILE).write_text("[1, 2]")
    assert store.verify() == [KEY]
    assert store.get(KEY) is None
    assert "is damaged" in caplog.text and "removing it so it is refitted" in caplog.text
    assert not folder.exists()
    hit = store.get(OTHER)
    assert hit is not None and same(hit.tree, tree(2))
    consistent(store)


# -- full disk -------------------------------------------------------------------------------


def _mount(*args: str) -> bool:
    try:
        done = subprocess.run(["mount", *args], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=30)


@contextlib.contextmanager
def small_disk(path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A 2 MB file system at ``path``; else a patched write that fails with ENOSPC."""
    path.mkdir(parents=True, exist_ok=True)
    if _mount("-t", "tmpfs", "-o", "size=2m", "tmpfs", str(path)):
        try:
            yield "tmpfs"
        finally:
            _umount(path)
        return
    original = store_module._write_file

    def full(target: Path, data: bytes | memoryview) -> tuple[str, int]:
        if str(target).startswith(str(path)) and len(data) > 1_000_000:
            raise OSError(errno.ENOSPC, "No space left on device", str(target))
        return original(target, data)

    monkeypatch.setattr(store_module, "_write_file", full)
    yield "patched"


def test_a_full_disk_refuses_the_write_and_keeps_what_was_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with small_disk(tmp_path / "disk", monkeypatch) as kind:
        store = Store(tmp_path / "disk" / "store")
        store.put(fit(OTHER, seed=2, draws=10, obs=10), {"study": "s"})  # ~30 kB: fits
        with pytest.raises(StoreError) as info:
            store.put(fit(KEY, seed=1, draws=1000, obs=200), {"study": "s"})  # 3.2 MB: does not
        assert str(info.value).startswith(f"no space left for fit store {store.root} (cannot")
        assert str(info.value).endswith(
            "free some space or pass --store DIR to use a folder on another disk"
        )
        assert store.get(KEY) is None and not store.folder(KEY).exists()
        hit = store.get(OTHER)
        assert hit is not None and same(hit.tree, tree(2, draws=10, obs=10))
        consistent(store)
        store.put(fit(KEY, seed=3, draws=10, obs=10), {"study": "s"})  # small again: fits
        assert store.get(KEY) is not None
        print(f"full disk simulated by {kind}")


# -- read-only store -------------------------------------------------------------------------


@contextlib.contextmanager
def read_only(source: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """``source`` seen through a read-only bind mount; else writes patched to fail (EROFS)."""
    view = source.parent / (source.name + "-ro")
    view.mkdir()
    if _mount("--bind", str(source), str(view)):
        try:
            if _mount("-o", "remount,ro,bind", str(view)):
                yield view
                return
        finally:
            _umount(view)
    view.rmdir()

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EROFS, "Read-only file system", str(args[0]) if args else "")

    for name in ("mkdir", "rename", "remove", "unlink", "rmdir"):
        monkeypatch.setattr(os, name, refuse)
    monkeypatch.setattr(Path, "mkdir", refuse)
    monkeypatch.setattr(sqlite3, "connect", lambda *a, **k: (_ for _ in ()).throw(
        sqlite3.OperationalError("attempt to write a readonly database")))  # fmt: skip
    monkeypatch.setattr(store_module.os, "open", refuse)
    yield source


def test_a_read_only_store_serves_its_fits_and_refuses_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writable = Store(tmp_path / "store")
    writable.put(fit(KEY, seed=1), {"study": "s"})
    with read_only(writable.root, monkeypatch) as root:
        store = Store(root)
        hit = store.get(KEY)
        assert hit is not None and same(hit.tree, tree(1))
        assert [r.key for r in store.runs()] == [KEY]
        assert store.verify() == []
        with pytest.raises(StoreError) as info:
            store.put(fit(OTHER, seed=2), {"study": "s"})
        assert str(info.value).startswith(f"fit store {root} is read-only (cannot")
        assert str(info.value).endswith(
            "make it writable or pass --store DIR to use another folder"
        )
        assert not store.folder(OTHER).exists()


# -- the index -------------------------------------------------------------------------------


def test_a_locked_index_delays_only_the_listing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(store_module, "BUSY_SECONDS", 0.3)
    store = Store(tmp_path / "store")
    store.put(fit(OTHER, seed=2), {"study": "s"})
    holder = sqlite3.connect(store.index_path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another program holds the index
    try:
        stored = store.put(fit(KEY, seed=1), {"study": "s"})  # waits 0.3 s, then goes on
        assert stored.path is not None
        assert "stored, but not indexed" in caplog.text
        hit = store.get(KEY)
        assert hit is not None and same(hit.tree, tree(1))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert {r.key for r in store.runs()} == {KEY, OTHER}  # the index caught up by itself
    consistent(store)


@pytest.mark.parametrize(
    "how", ["deleted", "damaged-pages", "empty-file", "emptied-table", "stale"]
)
def test_a_lost_or_stale_index_is_rebuilt_from_the_folders(tmp_path: Path, how: str) -> None:
    store = Store(tmp_path / "store")
    store.put(fit(KEY, seed=1), {"study": "s"})
    store.put(fit(OTHER, seed=2), {"study": "t"})
    for suffix in ("-wal", "-shm"):
        Path(f"{store.index_path}{suffix}").unlink(missing_ok=True)
    if how == "deleted":
        store.index_path.unlink()
    elif how == "damaged-pages":  # radonspec's header survives; a file without it is left alone
        header = store.index_path.read_bytes()[:100]
        store.index_path.write_bytes(header + b"this is not a database" * 100)
    elif how == "empty-file":
        store.index_path.write_bytes(b"")
    elif how == "emptied-table":
        with contextlib.closing(sqlite3.connect(store.index_path)) as con:
            con.execute("DELETE FROM runs")
            con.commit()
    elif how == "stale":  # a folder removed by hand
        shutil.rmtree(store.folder(OTHER))
    expected = {KEY} if how == "stale" else {KEY, OTHER}
    assert {r.key for r in store.runs()} == expected
    assert {r.key for r in store.runs(study="s")} == {KEY}
    consistent(store)


def test_readers_and_writers_at_once_keep_the_index_consistent(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    errors: list[BaseException] = []

    def write(seed: int) -> None:
        try:
            key = f"{seed:02d}" + "3" * 62
            Store(store.root).put(fit(key, seed=seed, draws=5, obs=5), {"study": "s"})
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def read() -> None:
        try:
            for _ in range(20):
                Store(store.root).runs()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    threads += [threading.Thread(target=read) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(store.runs()) == 8
    consistent(store)


# -- kill -9 during a real run ---------------------------------------------------------------

STUDY = """\
spec_version: 1
name: killed
data:
  path: d.csv
  categorical: [g]
defaults:
  sampler: {draws: 3000, tune: 1000, chains: 2, seed: 5}
models:
  a:
    formula: y ~ x
  b:
    formula: y ~ x + (1|g)
  c:
    formula: y ~ 1 + (1|g)
"""


@pytest.fixture
def study(tmp_path: Path) -> Path:
    rng = np.random.default_rng(4)
    n = 200
    g = rng.integers(0, 6, n)
    x = rng.normal(size=n)
    frame = pd.DataFrame(
        {"y": 0.5 * x + 0.3 * g + rng.normal(size=n), "x": x, "g": [f"g{i}" for i in g]}
    )
    frame.to_csv(tmp_path / "d.csv", index=False)
    (tmp_path / "study.yaml").write_text(STUDY)
    return tmp_path / "study.yaml"


def radonspec(
    *args: str, cwd: Path, driver: str | None = None, sigint: Any = signal.SIG_DFL
) -> subprocess.Popen[str]:
    """Start radonspec; its SIGINT as ``sigint`` says, whatever the suite's (a shell's
    background job, such as ``.ci/run &``, ignores SIGINT and its children inherit it).

    The disposition is set here around the start, not in the child (``preexec_fn`` forks,
    and JAX, imported by other tests of the session, warns at a fork): an exec keeps an
    ignored signal ignored and resets a handled one to the default.
    """
    command = [sys.executable, "-m", "radonspec", *args]
    if driver is not None:
        command = [sys.executable, "-c", driver, *args]
    handled = signal.default_int_handler if sigint is signal.SIG_DFL else sigint
    previous = signal.signal(signal.SIGINT, handled)
    try:
        return subprocess.Popen(
            command,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group: workers die with it
            env={**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"},
        )
    finally:
        signal.signal(signal.SIGINT, previous)


def kill_when(process: subprocess.Popen[str], marker: str, delay: float) -> str:
    """Read output until ``marker``, wait ``delay`` seconds, kill -9 the whole group."""
    assert process.stdout is not None
    seen = ""
    deadline = time.monotonic() + 240
    while marker not in seen and time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen += line
    assert marker in seen, seen
    time.sleep(delay)
    os.killpg(process.pid, signal.SIGKILL)
    seen += process.communicate(timeout=60)[0]  # also closes the pipe
    return seen


def rerun_completes(study: Path) -> str:
    done = radonspec("run", study.name, "--store", "store", "--out", "out", cwd=study.parent)
    output, _ = done.communicate(timeout=600)
    assert done.returncode == 0, output
    store = Store(study.parent / "store")
    assert len(store.runs()) == 3 and all(r.status == "ok" for r in store.runs())
    consistent(store)
    summary = json.loads((study.parent / "out" / "summary.json").read_text())
    assert {m["status"] for m in summary["models"].values()} == {"ok"}
    return output


@pytest.mark.slow
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_kill_9_during_sampling_then_run_again(study: Path, jobs: str) -> None:
    process = radonspec(
        "run", study.name, "--store", "store", "--out", "out", "--jobs", jobs, cwd=study.parent
    )
    kill_when(process, "sampling ...", delay=2.0)
    store = Store(study.parent / "store")
    interrupted = {"a", "b", "c"} - {r.model for r in store.runs() if r.status == "ok"}
    assert interrupted, "the run finished before the kill: make the fits slower"
    output = rerun_completes(study)
    for model in interrupted:
        assert f"{model}: sampling" in output


_KILL_IN_WRITE = """
import os, signal, sys
from radonspec.fit import store
real = store._sync_dir
calls = []
def die_on_rename(path):
    calls.append(path)
    # two calls per fit (its temporary folder, then the shard it is renamed into): the
    # first fit is complete, the second dies before its rename
    if len(calls) == 3:
        os.kill(os.getpid(), signal.SIGKILL)
    real(path)
store._sync_dir = die_on_rename
sys.argv = ["radonspec", *sys.argv[1:]]
from radonspec.cli.app import main
main()
"""


FORMULAS = {"a": "y ~ x", "b": "y ~ x + (1|g)", "c": "y ~ 1 + (1|g)"}


def arrange(study: Path, odd: str, rest: str, *, at: int) -> str:
    """Write ``study`` with one model sampled as ``odd``, the others as ``rest``, such that
    a run submits that model at position ``at`` (jobs go out in the order of their keys,
    which hash the versions of the libraries too); return its name."""
    from radonspec.api import load_study
    from radonspec.fit.runner import plan_study

    for seed in range(1, 50):
        for model in FORMULAS:
            text = STUDY
            for name, formula in FORMULAS.items():
                sampler = odd.replace("}", f", seed: {seed}}}") if name == model else rest
                text = text.replace(f"formula: {formula}\n", f"formula: {formula}\n"
                                    f"    sampler: {sampler}\n")  # fmt: skip
            study.write_text(text)
            planned = sorted(plan_study(load_study(study)), key=lambda item: item.key)
            if planned[at].model == model:
                return model
    raise AssertionError("no seed puts the odd model where it was asked")


def quick(study: Path) -> None:
    """Sample the study's models briefly: tests of writing and reading need no long fits."""
    study.write_text(STUDY.replace("draws: 3000, tune: 1000", "draws: 200, tune: 200"))


@pytest.mark.slow
def test_kill_9_while_a_run_writes_a_fit_then_run_again(study: Path) -> None:
    quick(study)
    process = radonspec(
        "run",
        study.name,
        "--store",
        "store",
        "--out",
        "out",
        "--jobs",
        "1",
        cwd=study.parent,
        driver=_KILL_IN_WRITE,
    )
    output, _ = process.communicate(timeout=600)
    assert process.returncode == -signal.SIGKILL, output
    store = Store(study.parent / "store")
    assert len([r for r in store.runs() if r.status == "ok"]) == 1  # the first fit survived
    assert list((store.root / "tmp").iterdir()), "the killed write left its temporary folder"
    output = rerun_completes(study)
    assert output.count("stored fit reused") == 1, output
    assert output.count("sampling ...") == 2, output


@pytest.mark.slow
def test_run_on_a_read_only_store_with_a_miss_says_so(
    study: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    quick(study)
    first = radonspec("run", study.name, "--store", "store", "--out", "out", cwd=study.parent)
    output, _ = first.communicate(timeout=600)
    assert first.returncode == 0, output
    with read_only(study.parent / "store", monkeypatch) as root:
        if root == study.parent / "store":
            pytest.skip("needs mount to make a read-only store a subprocess can see")
        hits = radonspec("run", study.name, "--store", str(root), "--out", "out2", cwd=study.parent)
        output, _ = hits.communicate(timeout=600)
        assert hits.returncode == 0, output
        assert output.count("stored fit reused") == 3
        (study.parent / "more.yaml").write_text(
            study.read_text().replace("seed: 5", "seed: 6").replace("name: killed", "name: more")
        )
        miss = radonspec(
            "run", "more.yaml", "--store", str(root), "--out", "out3", cwd=study.parent
        )
        output, _ = miss.communicate(timeout=600)
    assert miss.returncode == 1, output
    lines = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and f"fit store {root} is read-only" in lines[0], output
    assert "Traceback" not in output


def run_until(
    study: Path, jobs: str, marker: str, settle: float, sigint: Any = signal.SIG_DFL
) -> tuple[subprocess.Popen[str], str, list[Any]]:
    """Start ``radonspec run``, read its output up to ``marker``, wait ``settle`` seconds.

    Returns the process, the output so far and its pool workers (psutil processes).
    """
    import psutil

    process = radonspec(
        "run", study.name, "--store", "store", "--out", "out", "--jobs", jobs,
        cwd=study.parent, sigint=sigint,
    )  # fmt: skip
    assert process.stdout is not None
    seen = ""
    deadline = time.monotonic() + 300
    while marker not in seen:
        line = process.stdout.readline()
        assert line and time.monotonic() < deadline, seen
        seen += line
    time.sleep(settle)
    parent = psutil.Process(process.pid)
    workers = []
    for child in parent.children(recursive=True):
        try:
            if "resource_tracker" not in child.cmdline():
                workers.append(child)
        except (psutil.ZombieProcess, psutil.NoSuchProcess):
            continue  # e.g. a compiler the worker ran, just finished: not a worker
    return process, seen, workers


@pytest.mark.slow
def test_pool_workers_die_with_a_killed_parent(study: Path) -> None:
    import psutil

    # fits long enough that a surviving worker would still be sampling when checked
    study.write_text(STUDY.replace("draws: 3000", "draws: 300000"))
    # after 15 s the workers have imported, compiled and are sampling
    process, _, workers = run_until(study, "2", "sampling ...", settle=15)
    assert workers, "the run has no pool workers to check"
    os.kill(process.pid, signal.SIGKILL)  # the parent only, as a crash would: not its group
    process.communicate(timeout=60)
    _, alive = psutil.wait_procs(workers, timeout=10)
    for worker in alive:  # leave nothing behind, then fail
        worker.kill()
    assert not alive, [p.cmdline() for p in alive]


@pytest.mark.slow
@pytest.mark.parametrize("to_group", [True, False], ids=["ctrl-c", "parent-only"])
def test_an_interrupted_run_stops_at_once_says_so_once_and_leaves_no_worker(
    study: Path, to_group: bool
) -> None:
    import psutil

    # One model is quick, so its process is idle when the signal comes; the others tune for
    # minutes (300,000 draws took as little as 8 s on two cores; tuning steps are not kept
    # in memory) in one chain each. The quick model is submitted last: under load the
    # parent may take back the last job before a worker starts it, and a slow one there
    # held back the report of every finished fit (a test run waited four minutes)
    slow = "{tune: 1000000, draws: 100, chains: 1, target_accept: 0.99}"
    quick = arrange(study, "{tune: 200, draws: 200}", slow, at=-1)
    process, seen, workers = run_until(study, "4", f"{quick}: done", settle=2)
    # which process fits which model depends on timing (the parent takes back jobs no
    # worker has started): what had finished when the signal came is what may be stored
    finished = {m for m in "abc" if f"{m}: done" in seen}
    assert workers, "the run has no pool workers to check"
    # a terminal's Ctrl-C reaches the whole process group; `kill -INT` only the parent
    signalled = time.monotonic()
    if to_group:
        os.killpg(process.pid, signal.SIGINT)
    else:
        os.kill(process.pid, signal.SIGINT)
    seen += process.communicate(timeout=300)[0]
    waited = time.monotonic() - signalled
    _, alive = psutil.wait_procs(workers, timeout=10)
    for worker in alive:
        worker.kill()
    assert process.returncode == 130, seen
    assert "Traceback" not in seen and "KeyboardInterrupt" not in seen, seen
    assert seen.rstrip().endswith(
        "interrupted; finished fits are stored, nothing half-written remains"
    ), seen
    assert not alive, [p.cmdline() for p in alive]
    # not a speed target: an interrupted run must not go on sampling what nobody keeps
    assert waited < 30, f"the run took {waited:.0f} s to stop"
    store = Store(study.parent / "store")
    stored = {r.model for r in store.runs()}
    # nothing for a model that was still sampling: no partial fit, no failure recorded
    assert finished <= stored <= {m for m in "abc" if f"{m}: done" in seen}, seen
    consistent(store)
