from __future__ import annotations

import errno
import json
import logging
import multiprocessing
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr

from radonspec.errors import StoreError
from radonspec.fit.record import Fit
from radonspec.fit.store import (
    KEY_MODEL_FIELDS,
    KEY_MODEL_FIELDS_IF_SET,
    KEY_SAMPLER_FIELDS,
    NOT_IN_KEY,
    RunRecord,
    Store,
    draws_key,
    fit_key,
)

COUNTIES = ["AITKIN", "CROW WING", "ST. LOUIS"]
KEY = "ab" + "0" * 62
OTHER = "cd" + "1" * 62


def make_tree(seed: int = 0, chains: int = 2, draws: int = 5, obs: int = 7) -> xr.DataTree:
    """A small fit-shaped tree built by hand: no sampling."""
    rng = np.random.default_rng(seed)
    cd = {"chain": np.arange(chains), "draw": np.arange(draws)}
    posterior = xr.Dataset(
        {
            "Intercept": (("chain", "draw"), rng.normal(size=(chains, draws))),
            "sigma": (("chain", "draw"), rng.gamma(2.0, size=(chains, draws)).astype(np.float32)),
            "1|county": (
                ("chain", "draw", "county__factor_dim"),
                rng.normal(size=(chains, draws, len(COUNTIES))),
            ),
        },
        coords={**cd, "county__factor_dim": COUNTIES},
        attrs={"inference_library": "nutpie", "sampling_time": 1.5},
    )
    per_obs = {**cd, "__obs__": np.arange(obs)}
    shape = (chains, draws, obs)
    log_likelihood = xr.Dataset({"log_radon": (tuple(per_obs), rng.normal(size=shape))}, per_obs)
    predictive = xr.Dataset({"log_radon": (tuple(per_obs), rng.normal(size=shape))}, per_obs)
    observed = xr.Dataset(
        {"log_radon": ("__obs__", rng.normal(size=obs))}, {"__obs__": np.arange(obs)}
    )
    stats = xr.Dataset(
        {
            "diverging": (("chain", "draw"), rng.random((chains, draws)) < 0.2),
            "tree_depth": (("chain", "draw"), rng.integers(1, 6, (chains, draws))),
            "lp": (("chain", "draw"), rng.normal(size=(chains, draws))),
        },
        coords=cd,
    )
    return xr.DataTree.from_dict(
        {
            "posterior": posterior,
            "log_likelihood": log_likelihood,
            "posterior_predictive": predictive,
            "observed_data": observed,
            "sample_stats": stats,
        }
    )


def make_fit(key: str = KEY, seed: int = 0, model: str = "hierarchical") -> Fit:
    return Fit(
        model=model,
        key=key,
        status="ok",
        tree=make_tree(seed),
        seconds={"sample": 1.25, "total": 2.5},
        versions={"pymc": "6.4.0"},
    )


META: dict[str, Any] = {
    "study": "radon",
    "backend": "nutpie",
    "seed": 7,
    "diagnostics": {"r_hat_max": 1.004, "ess_bulk_min": 812.0, "divergences": 3},
}


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "store")


# -- keys ---------------------------------------------------------------------------------


def test_fit_key_is_canonical_and_pinned() -> None:
    payload = {"spec": {"formula": "y ~ x", "draws": 1000}, "seed": 7, "target": 0.9}
    reordered = {"target": 0.9, "seed": 7, "spec": {"draws": 1000, "formula": "y ~ x"}}
    assert fit_key(payload) == fit_key(reordered)
    assert fit_key({"a": (1, 2), "b": np.float64(0.5), "c": np.int64(3)}) == fit_key(
        {"a": [1, 2], "b": 0.5, "c": 3}
    )
    # pinned: a change of the canonical form would silently orphan every stored fit
    assert fit_key({"a": 1, "b": [0.1, "x"]}) == (
        "f70a6722f07a5c22536d6040034b6dc2adb234106a18b013bb9ce3d67e5f2f4b"
    )


def test_every_spec_field_is_either_in_the_key_or_listed_as_not_changing_the_draws() -> None:
    """A new spec field must be placed: silently left out, a changed model would be served
    an old model's draws."""
    from radonspec.study.schema import ModelSpec, SamplerSpec

    model = set(ModelSpec.model_fields)
    keyed = set(KEY_MODEL_FIELDS) | set(KEY_MODEL_FIELDS_IF_SET)
    assert model == keyed | set(NOT_IN_KEY["model"])
    assert not keyed & set(NOT_IN_KEY["model"])
    sampler = set(SamplerSpec.model_fields)
    assert sampler == set(KEY_SAMPLER_FIELDS) | set(NOT_IN_KEY["sampler"])


def test_each_field_that_changes_the_draws_changes_the_key() -> None:
    from radonspec.study.schema import ModelSpec

    spec = ModelSpec.model_validate({"formula": "y ~ x"}).model_dump(mode="json")
    base = draws_key(spec, seed=1, data="d", versions={"pymc": "6.4.0"})
    changed = {
        "formula": ["y ~ x + z"],
        "family": "t",
        "link": "log",
        "priors": {"x": "Normal(0, 1)"},
        "noncentered": False,
        "center_predictors": False,
        "correlated": ["g"],
    }
    assert set(changed) == set(KEY_MODEL_FIELDS) | set(KEY_MODEL_FIELDS_IF_SET)
    for field, value in changed.items():
        assert (
            draws_key(spec | {field: value}, seed=1, data="d", versions={"pymc": "6.4.0"}) != base
        )
    sampler = dict(spec["sampler"])
    for field in KEY_SAMPLER_FIELDS:
        other = {**sampler, field: "changed"}
        assert draws_key({**spec, "sampler": other}, seed=1, data="d",
                         versions={"pymc": "6.4.0"}) != base  # fmt: skip
    for field in NOT_IN_KEY["sampler"]:
        other = {**sampler, field: 12345}
        assert draws_key({**spec, "sampler": other}, seed=1, data="d",
                         versions={"pymc": "6.4.0"}) == base  # fmt: skip
    assert draws_key(spec | {"description": "x"}, seed=1, data="d",
                     versions={"pymc": "6.4.0"}) == base  # fmt: skip
    assert draws_key(spec, seed=2, data="d", versions={"pymc": "6.4.0"}) != base
    assert draws_key(spec, seed=1, data="e", versions={"pymc": "6.4.0"}) != base
    assert draws_key(spec, seed=1, data="d", versions={"pymc": "6.5.0"}) != base
    assert draws_key(spec, seed=1, data="d", versions={"pymc": "6.4.0"},
                     posterior_only=True) != base  # fmt: skip


def test_fit_key_is_the_same_in_another_process() -> None:
    payload = {"spec": {"formula": "y ~ x", "priors": {"sigma": "HalfNormal(5)"}}, "seed": 3.25}
    code = (
        "from radonspec.fit.store import fit_key;"
        "print(fit_key({'seed': 3.25, 'spec': {'priors': {'sigma': 'HalfNormal(5)'},"
        " 'formula': 'y ~ x'}}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "123"},
    )
    assert out.stdout.strip() == fit_key(payload)


@pytest.mark.parametrize(
    "changed",
    [
        {"spec": {"formula": "y ~ x + z"}, "seed": 7, "target": 0.9},
        {"spec": {"formula": "y ~ x"}, "seed": 8, "target": 0.9},
        {"spec": {"formula": "y ~ x"}, "seed": 7, "target": 0.95},
        {"spec": {"formula": "y ~ x"}, "seed": 7, "target": 0.9, "data": "abc"},
        {"spec": {"formula": "y ~ x"}, "seed": "7", "target": 0.9},
    ],
)
def test_fit_key_changes_with_any_input(changed: dict[str, Any]) -> None:
    base = {"spec": {"formula": "y ~ x"}, "seed": 7, "target": 0.9}
    assert fit_key(changed) != fit_key(base)


def test_fit_key_refuses_values_without_a_stable_text() -> None:
    with pytest.raises(TypeError, match="fit_key cannot hash a object"):
        fit_key({"x": object()})


def test_invalid_keys_cannot_leave_the_store(store: Store) -> None:
    with pytest.raises(ValueError, match="invalid fit key '../etc'"):
        store.folder("../etc")


# -- put / get ----------------------------------------------------------------------------


def test_round_trip_keeps_values_dtypes_and_coords(store: Store) -> None:
    fit = make_fit()
    stored = store.put(fit, META)
    assert stored.path == str(store.folder(KEY) / "fit.nc")
    assert stored.meta["checksum"] and not stored.cached

    hit = store.get(KEY)
    assert hit is not None and hit.ok and hit.cached
    assert (hit.model, hit.key, hit.path) == ("hierarchical", KEY, stored.path)
    assert hit.seconds == {"sample": 1.25, "total": 2.5}
    assert hit.versions == {"pymc": "6.4.0"}
    assert hit.meta["study"] == "radon" and hit.meta["diagnostics"]["divergences"] == 3
    assert hit.tree is not None and fit.tree is not None
    assert set(hit.tree.children) == set(fit.tree.children)
    for group in fit.tree.children:
        want, got = fit.tree[group].to_dataset(), hit.tree[group].to_dataset()
        assert set(got.data_vars) == set(want.data_vars)
        for name, var in want.data_vars.items():
            assert got[name].dtype == var.dtype, (group, name)
            assert got[name].dims == var.dims
            np.testing.assert_array_equal(got[name].values, var.values)
    counties = np.asarray(hit.tree["posterior"].to_dataset()["county__factor_dim"])
    assert counties.tolist() == COUNTIES
    assert hit.tree["posterior"].attrs["inference_library"] == "nutpie"


def test_get_loads_everything_and_closes_the_file(store: Store) -> None:
    store.put(make_fit(), META)
    hit = store.get(KEY)
    assert hit is not None and hit.tree is not None
    path = store.folder(KEY) / "fit.nc"
    open_files = {os.path.realpath(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")}
    assert str(path) not in open_files
    path.unlink()  # the data must already be in memory
    assert float(hit.tree["posterior"]["Intercept"].sum()) == pytest.approx(
        float(make_tree()["posterior"]["Intercept"].sum())
    )


def test_miss_on_unknown_key_creates_nothing(store: Store) -> None:
    assert store.get(KEY) is None
    assert store.runs() == []
    assert not store.root.exists()


def test_put_replaces_an_existing_fit(store: Store) -> None:
    store.put(make_fit(seed=1), META)
    store.put(make_fit(seed=2), {**META, "seed": 8})
    hit = store.get(KEY)
    assert hit is not None and hit.tree is not None and hit.meta["seed"] == 8
    np.testing.assert_array_equal(
        hit.tree["posterior"]["Intercept"].values, make_tree(2)["posterior"]["Intercept"].values
    )
    assert len(store.runs()) == 1
    assert list((store.root / "tmp").iterdir()) == []


def test_failed_fit_is_recorded_but_never_a_hit(store: Store) -> None:
    failed = Fit("pooled", KEY, "failed", None, seconds={"total": 0.5}, error="the log density")
    stored = store.put(failed, {"study": "radon"})
    assert stored.path == str(store.folder(KEY) / "meta.json")
    assert store.get(KEY) is None
    assert not (store.folder(KEY) / "fit.nc").exists()
    meta = store.read_meta(KEY)
    assert meta is not None and meta["status"] == "failed" and meta["error"] == "the log density"
    [row] = store.runs()
    assert (row.status, row.model, row.r_hat_max, row.seconds) == ("failed", "pooled", None, 0.5)
    assert store.verify() == []


def test_ok_fit_without_tree_is_a_programming_error(store: Store) -> None:
    with pytest.raises(ValueError, match="has status 'ok' but no tree"):
        store.put(Fit("m", KEY, "ok", None), {})


# -- damage ------------------------------------------------------------------------------


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) - 100] ^= 0xFF  # inside the last variable's data: h5py would not notice
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("damage", "reason"),
    [(_truncate, "has .* bytes"), (_flip_byte, "does not match the checksum")],
)
def test_damaged_file_is_a_miss_then_refit_works(
    store: Store, caplog: pytest.LogCaptureFixture, damage: Any, reason: str
) -> None:
    store.put(make_fit(), META)
    assert store.verify() == []
    damage(store.folder(KEY) / "fit.nc")
    assert store.verify() == [KEY]
    with caplog.at_level(logging.WARNING, logger="radonspec.fit.store"):
        assert store.get(KEY) is None
    assert any("is damaged" in r.message and _matches(reason, r.message) for r in caplog.records)
    assert not store.folder(KEY).exists()
    assert store.runs() == []
    store.put(make_fit(), META)
    assert store.get(KEY) is not None


def _matches(pattern: str, text: str) -> bool:
    import re

    return re.search(pattern, text) is not None


def test_missing_fit_file_and_garbage_meta_are_misses(store: Store) -> None:
    store.put(make_fit(), META)
    (store.folder(KEY) / "fit.nc").unlink()
    assert store.get(KEY) is None and not store.folder(KEY).exists()
    store.put(make_fit(), META)
    (store.folder(KEY) / "meta.json").write_text("{not json")
    assert store.verify() == [KEY]
    assert store.get(KEY) is None and not store.folder(KEY).exists()


def test_verify_remove_deletes_only_damaged_fits(store: Store) -> None:
    store.put(make_fit(KEY), META)
    store.put(make_fit(OTHER), META)
    _flip_byte(store.folder(OTHER) / "fit.nc")
    assert store.verify(KEY) == []
    assert store.verify(remove=True) == [OTHER]
    assert store.folder(KEY).exists() and not store.folder(OTHER).exists()
    assert [r.key for r in store.runs()] == [KEY]


def test_remove_deletes_folder_and_row(store: Store) -> None:
    store.put(make_fit(), META)
    store.remove(KEY)
    store.remove(KEY)  # absent: nothing happens
    assert store.get(KEY) is None and store.runs() == []


# -- leftovers ---------------------------------------------------------------------------


def _leftover(store: Store, key: str) -> Path:
    """What a writer killed mid-write leaves: a half folder under tmp/."""
    folder = store.root / "tmp" / f"{key}.new.x1y2z3"
    folder.mkdir(parents=True)
    (folder / "fit.nc").write_bytes(b"\x89HDF half")
    (folder / "meta.json").write_text(json.dumps({"key": key, "status": "ok"}))
    return folder


def test_leftover_temp_folders_are_ignored_then_cleaned(store: Store) -> None:
    left = _leftover(store, KEY)
    stray = store.root / "tmp" / "something-else"  # not radonspec's: kept whatever its age
    stray.write_text("?")
    os.utime(stray, (time.time() - 7200, time.time() - 7200))
    assert store.get(KEY) is None
    assert store.runs() == []
    store.put(make_fit(OTHER), META)  # any put cleans up
    assert not left.exists() and stray.read_text() == "?"
    store.put(make_fit(KEY), META)
    assert store.get(KEY) is not None


def test_clean_keeps_leftovers_of_a_key_someone_is_writing(store: Store) -> None:
    left = _leftover(store, KEY)
    held, release = threading.Event(), threading.Event()

    def writer() -> None:
        with Store(store.root).lock(KEY):
            held.set()
            release.wait(5)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert held.wait(5)
        assert store.clean() == 0 and left.exists()
    finally:
        release.set()
        thread.join()
    assert store.clean() == 1 and not left.exists()


# -- index -------------------------------------------------------------------------------


def test_index_rows_newest_first_and_by_study(store: Store) -> None:
    store.put(make_fit(KEY, model="pooled"), {**META, "study": "a"})
    store.put(make_fit(OTHER, model="unpooled"), {"study": "b", "backend": "pymc"})
    first, second = store.runs()
    assert first == RunRecord(
        key=OTHER,
        model="unpooled",
        study="b",
        status="ok",
        created=first.created,
        seconds=2.5,
        r_hat_max=None,
        ess_bulk_min=None,
        divergences=None,
        backend="pymc",
        path=str(store.folder(OTHER) / "fit.nc"),
    )
    assert (second.key, second.r_hat_max, second.ess_bulk_min, second.divergences) == (
        KEY,
        1.004,
        812.0,
        3,
    )
    assert first.created > second.created and first.created.endswith("+00:00")
    assert [r.key for r in store.runs("a")] == [KEY]
    assert store.runs("nope") == []


def test_deleted_index_is_rebuilt_from_folders(store: Store) -> None:
    store.put(make_fit(KEY), META)
    store.put(Fit("pooled", OTHER, "failed", None, error="x"), {"study": "radon"})
    before = store.runs()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{store.index_path}{suffix}").unlink(missing_ok=True)
    assert store.runs() == before
    assert store.rebuild_index() == 2
    assert store.runs() == before


def test_corrupt_index_is_rebuilt(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    store.put(make_fit(KEY), META)
    before = store.runs()
    for suffix in ("-wal", "-shm"):
        Path(f"{store.index_path}{suffix}").unlink(missing_ok=True)
    # radonspec's header (with its application id) survives; the pages after it do not
    header = store.index_path.read_bytes()[:100]
    store.index_path.write_bytes(header + b"this is not an sqlite page at all" * 200)
    with caplog.at_level(logging.WARNING, logger="radonspec.fit.store"):
        assert store.runs() == before
    assert any("rebuilding it from the fit folders" in r.message for r in caplog.records)
    store.put(make_fit(OTHER), META)
    assert len(store.runs()) == 2


def test_an_index_that_is_not_radonspecs_is_never_rewritten(store: Store) -> None:
    store.put(make_fit(KEY), META)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{store.index_path}{suffix}").unlink(missing_ok=True)
    garbage = b"this is not an sqlite file at all" * 100
    store.index_path.write_bytes(garbage)
    with pytest.raises(StoreError, match=r"index\.sqlite is damaged and is not recognisably"):
        store.runs()
    assert store.index_path.read_bytes() == garbage
    assert store.get(KEY) is not None  # the fits themselves are still served


# -- locks and concurrency ---------------------------------------------------------------


def test_lock_is_reentrant_and_times_out_for_others(store: Store) -> None:
    with store.lock(KEY), store.lock(KEY):
        store.put(make_fit(), META)  # put takes the same lock inside
        errors: list[BaseException] = []

        def other() -> None:
            try:
                with Store(store.root).lock(KEY, timeout=0.1):
                    pass
            except StoreError as exc:
                errors.append(exc)

        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
    assert len(errors) == 1
    assert "stayed locked by another radonspec process for 0.1 s" in str(errors[0])
    with store.lock(KEY, timeout=0.1):
        pass


def _race(root: str, key: str, log_path: str, barrier: Any) -> None:
    store = Store(root)
    barrier.wait()
    with store.lock(key):
        outcome = "hit" if store.get(key) is not None else "put"
        if outcome == "put":
            time.sleep(0.2)  # widen the window a broken lock would let others through
            store.put(make_fit(key), {"study": "race"})
    fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    os.write(fd, f"{outcome}\n".encode())
    os.close(fd)


@pytest.mark.slow
def test_concurrent_writers_put_once(store: Store, tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(4)
    log_path = tmp_path / "outcomes.txt"
    procs = [
        ctx.Process(target=_race, args=(str(store.root), KEY, str(log_path), barrier))
        for _ in range(4)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
    assert [proc.exitcode for proc in procs] == [0, 0, 0, 0]
    assert sorted(log_path.read_text().split()) == ["hit", "hit", "hit", "put"]
    assert [r.key for r in store.runs()] == [KEY]
    assert store.get(KEY) is not None


# -- user-caused OS errors ---------------------------------------------------------------


def _fail_with(code: int) -> Any:
    def fail(*args: Any, **kwargs: Any) -> None:
        raise OSError(code, os.strerror(code), str(args[0]) if args else None)

    return fail


def test_read_only_store_raises_store_error(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    store.put(make_fit(OTHER), META)  # the store exists; now it turns read-only
    monkeypatch.setattr(os, "rename", _fail_with(errno.EROFS))
    with pytest.raises(StoreError, match=r"fit store .*store is read-only \(cannot write .*"):
        store.put(make_fit(KEY), META)
    with pytest.raises(StoreError, match="pass --store DIR to use another folder"):
        store.put(make_fit(KEY), META)
    monkeypatch.undo()
    assert not store.folder(KEY).exists()
    assert list((store.root / "tmp").iterdir()) == []
    assert [r.key for r in store.runs()] == [OTHER]


def test_store_that_cannot_be_created_raises_store_error(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "mkdir", _fail_with(errno.EACCES))
    with pytest.raises(
        StoreError, match=r"store is read-only \(cannot create .*store/locks: Permission denied\)"
    ):
        store.put(make_fit(KEY), META)
    monkeypatch.undo()
    assert not store.root.exists()


def test_full_disk_leaves_no_partial_folder(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "fsync", _fail_with(errno.ENOSPC))
    with pytest.raises(StoreError, match=r"no space left for fit store .*free some space"):
        store.put(make_fit(KEY), META)
    monkeypatch.undo()
    assert not store.folder(KEY).exists()
    assert list((store.root / "tmp").iterdir()) == []
    assert store.runs() == []
    store.put(make_fit(KEY), META)  # space is back: it works
    assert store.get(KEY) is not None


def test_a_large_fit_is_written_to_its_file_directly(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past ``IN_MEMORY_BYTES`` no in-memory copy is made; the file reads back the same."""
    import radonspec.fit.store as store_module

    monkeypatch.setattr(store_module, "IN_MEMORY_BYTES", 0)
    monkeypatch.setattr(
        store_module, "_write_via_memory", lambda *a: pytest.fail("written through memory")
    )
    fit = make_fit()
    stored = store.put(fit, META)
    path = store.folder(KEY) / "fit.nc"
    assert stored.meta["size"] == path.stat().st_size
    assert list((store.root / "tmp").iterdir()) == []
    hit = store.get(KEY)  # the checksum is checked on every hit
    assert hit is not None and hit.tree is not None and fit.tree is not None
    for group in fit.tree.children:
        xr.testing.assert_identical(hit.tree[group].to_dataset(), fit.tree[group].to_dataset())


def test_a_large_fit_without_the_space_for_it_leaves_no_partial_folder(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HDF5 is never left to hit a full disk itself: the space is checked first."""
    import shutil

    import radonspec.fit.store as store_module

    monkeypatch.setattr(store_module, "IN_MEMORY_BYTES", 0)
    usage = shutil.disk_usage(store.root.parent)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage._replace(free=1000))
    with pytest.raises(StoreError, match=r"no space left for fit store .*free some space"):
        store.put(make_fit(KEY), META)
    monkeypatch.undo()
    assert not store.folder(KEY).exists()
    assert list((store.root / "tmp").iterdir()) == []
    assert store.runs() == []
