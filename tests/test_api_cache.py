"""What ``run`` keeps from one call to the next: the plan in the store, the models built.

Fits come from ``fake_sampler`` (conftest), so these check the plumbing in seconds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import radonspec
from radonspec.compile.validate import BuiltModels


def _refuse(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("the study was planned or checked again")


def test_an_unchanged_study_reads_its_plan_and_loads_no_data(
    toy: Path, fake_sampler: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from radonspec.compile import validate
    from radonspec.fit import runner
    from radonspec.study import loader

    store, out = tmp_path / "store", tmp_path / "out"
    first = radonspec.run(toy, store=store, out=out, jobs=1)
    assert len(list((store / "plans").glob("*.json"))) == 1
    with monkeypatch.context() as patched:
        for module, name in [(validate, "load_study_frame"), (runner, "plan_study"),
                             (loader, "check_study")]:  # fmt: skip
            patched.setattr(module, name, _refuse)
        again = radonspec.run(toy, store=store, out=out, jobs=1)
    assert again.reused and again.written == first.written
    assert {n: f.key for n, f in again.fits.items()} == {n: f.key for n, f in first.fits.items()}


def test_a_changed_data_file_is_planned_and_fitted_again(
    toy: Path, fake_sampler: Any, tmp_path: Path
) -> None:
    store, out = tmp_path / "store", tmp_path / "out"
    first = radonspec.run(toy, store=store, out=out, jobs=1)
    data = toy.parent / "toy.csv"
    data.write_text(data.read_text().replace("g4", "g5"))  # same size, other bytes
    again = radonspec.run(toy, store=store, out=out, jobs=1)
    assert not again.reused
    # the group column changed: the model that uses it is fitted again, the other is not
    assert again.fits["varying"].key != first.fits["varying"].key
    assert again.fits["pooled"].key == first.fits["pooled"].key
    assert sorted(fake_sampler.calls) == ["pooled", "varying", "varying"]
    assert len(list((store / "plans").glob("*.json"))) == 2


def test_a_changed_spec_is_checked_again(toy: Path, fake_sampler: Any, tmp_path: Path) -> None:
    store, out = tmp_path / "store", tmp_path / "out"
    radonspec.run(toy, store=store, out=out, jobs=1)
    toy.write_text(toy.read_text().replace('priors: {x: "Normal(0, 5)"}', "priors: {z: 1}"))
    with pytest.raises(radonspec.SpecErrors, match="prior"):
        radonspec.run(toy, store=store, out=out, jobs=1)


def test_a_damaged_plan_is_planned_again(toy: Path, fake_sampler: Any, tmp_path: Path) -> None:
    store, out = tmp_path / "store", tmp_path / "out"
    first = radonspec.run(toy, store=store, out=out, jobs=1)
    (record,) = (store / "plans").glob("*.json")
    record.write_text("{}")
    again = radonspec.run(toy, store=store, out=out, jobs=1)
    assert again.reused and again.written == first.written
    assert '"keys"' in record.read_text()  # kept again


def test_an_edited_model_alone_is_built_fitted_and_read_again(
    toy: Path, fake_sampler: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from radonspec.fit.store import Store

    store, out, built = tmp_path / "store", tmp_path / "out", BuiltModels()
    first = radonspec.run(toy, store=store, out=out, jobs=1, built=built)
    assert built.built == 2
    opened: list[str] = []
    get = Store.get

    def spy(self: Store, key: str, **kwargs: Any) -> Any:
        opened.append(key)
        return get(self, key, **kwargs)

    monkeypatch.setattr(Store, "get", spy)
    toy.write_text(toy.read_text().replace("formula: y ~ x\n", "formula: y ~ 1 + x\n", 1))
    again = radonspec.run(toy, store=store, out=out, jobs=1, built=built)
    assert sorted(fake_sampler.calls) == ["pooled", "pooled", "varying"]
    assert built.built == 3 and built.reused == 1
    assert again.fits["pooled"].key != first.fits["pooled"].key
    assert again.fits["varying"].key == first.fits["varying"].key
    assert first.fits["varying"].key not in opened  # its analysis is kept: no draws read
    assert not again.reused and set(again.written) == {"html", "markdown", "json"}


def test_a_report_to_a_new_folder_reads_its_figures_from_the_store(
    toy: Path, fake_sampler: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from radonspec.report import figures, plots

    store = tmp_path / "store"
    first = radonspec.run(toy, store=store, out=tmp_path / "one", jobs=1)
    kept = sorted((store / "figures").rglob("*.png"))
    assert kept
    figures.forget()  # a new process: only the store knows the figures
    with monkeypatch.context() as patched:
        patched.setattr(plots, "to_png", _refuse)
        again = radonspec.run(toy, store=store, out=tmp_path / "two", jobs=1)
    assert not again.reused and sorted((store / "figures").rglob("*.png")) == kept
    one, two = (sorted((tmp_path / name / "figures").iterdir()) for name in ("one", "two"))
    assert [p.name for p in one] == [p.name for p in two] and len(one) >= 4
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(one, two, strict=True))
    assert first.written.keys() == again.written.keys()


def test_a_model_fitted_alone_keeps_its_draws_and_skips_the_full_collection(
    toy: Path, fake_sampler: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gc

    from radonspec.fit.store import Store

    calls: list[str] = []
    put, get = Store.put, Store.get
    monkeypatch.setattr(
        Store, "put", lambda self, fit, meta: calls.append("put") or put(self, fit, meta)
    )
    monkeypatch.setattr(
        Store, "get", lambda self, key, **kw: calls.append("get") or get(self, key, **kw)
    )
    monkeypatch.setattr(gc, "collect", lambda *args: calls.append("collect") or 0)
    alone = radonspec.fit_study(toy, store=tmp_path / "one", jobs=1, models=["pooled"])
    # the draws just written are not read back, and a small model is left to the collector
    assert calls[calls.index("put") :] == ["put"] and "collect" not in calls
    assert alone["pooled"].tree is not None
    assert not alone["pooled"].cached and alone["pooled"].path.endswith("fit.nc")
    calls.clear()
    both = radonspec.fit_study(toy, store=tmp_path / "two", jobs=1)
    # several fits: each is read back lazily, so their draws do not pile up in memory
    assert calls[calls.index("put") :] == ["put", "get", "put", "get"]
    assert all(fit.tree is not None and not fit.cached for fit in both.values())


def test_a_report_to_a_new_folder_of_a_planned_study_reads_no_formula(
    toy: Path, fake_sampler: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from radonspec.compile import validate
    from radonspec.fit import runner

    store = tmp_path / "store"
    first = radonspec.run(toy, store=store, out=tmp_path / "one", jobs=1)
    (record,) = (store / "plans").glob("*.json")
    assert '"columns"' in record.read_text()
    with monkeypatch.context() as patched:
        # the plan has the keys and the columns: no model is planned, no formula read
        for module, name in [(validate, "study_columns"), (runner, "plan_study")]:
            patched.setattr(module, name, _refuse)
        again = radonspec.run(toy, store=store, out=tmp_path / "two", jobs=1)
    assert not again.reused and again.results is not None and first.results is not None
    assert again.results.data == first.results.data
    one, two = (
        json.loads((tmp_path / name / "summary.json").read_text()) for name in ("one", "two")
    )
    one.pop("created"), two.pop("created")
    for entry in one["models"].values():
        entry["cached"] = True  # the first run fitted them; the second read them
    assert one == two
