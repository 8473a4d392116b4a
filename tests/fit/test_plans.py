"""The plan kept in the store: its hash covers the spec, the data file's bytes and versions."""

from __future__ import annotations

from pathlib import Path

import pytest

from radonspec.fit import plans
from radonspec.study.loader import load_study

KEY = "ab" * 32


def _digest(path: Path) -> str:
    digest = plans.plan_digest(load_study(path))
    assert digest is not None
    return digest


def test_the_digest_follows_the_spec_and_the_data_file(toy: Path) -> None:
    first = _digest(toy)
    assert _digest(toy) == first
    text = toy.read_text()
    toy.write_text(text + "# a comment changes nothing\n")
    assert _digest(toy) == first  # what is resolved, not the text, is hashed
    toy.write_text(text.replace("formula: y ~ x\n", "formula: y ~ 1 + x\n", 1))
    assert _digest(toy) != first
    toy.write_text(text)
    data = toy.parent / "toy.csv"
    data.write_text(data.read_text().replace("g4", "g5"))  # same size, other bytes
    assert _digest(toy) != first


def test_a_moved_study_or_another_version_is_another_plan(
    toy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _digest(toy)
    moved = toy.parent / "sub"
    moved.mkdir()
    (moved / "toy.csv").write_bytes((toy.parent / "toy.csv").read_bytes())
    (moved / "toy.yaml").write_text(toy.read_text())
    assert _digest(moved / "toy.yaml") != first
    monkeypatch.setattr(plans, "package_version", lambda package: "0.0-other")
    assert _digest(toy) != first


def test_other_code_keying_the_fits_is_another_plan(
    toy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A record made by other code of the keying modules is no plan (same version number)."""
    first = _digest(toy)
    assert "fit/runner.py" in plans.KEYING_MODULES
    copy = tmp_path / "code"
    for name in plans.KEYING_MODULES:
        source = Path(plans.__file__).resolve().parents[1] / name
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        (copy / name).write_bytes(source.read_bytes())
    fake = copy / "fit" / "plans.py"
    monkeypatch.setattr(plans, "__file__", str(fake))
    assert _digest(toy) == first
    runner = copy / "fit" / "runner.py"
    runner.write_text(runner.read_text() + "\n# another keying rule\n")
    assert _digest(toy) != first


def test_no_digest_without_a_readable_data_file(toy: Path) -> None:
    study = load_study(toy)
    (toy.parent / "toy.csv").unlink()
    assert plans.plan_digest(study) is None


def test_a_bundled_data_set_is_hashed_too() -> None:
    from radonspec.study.loader import load_study_text

    study = load_study_text(
        "spec_version: 1\nname: b\ndata: {dataset: radon}\n"
        "models: {m: {formula: log_radon ~ floor}}\n",
        Path("b.yaml"),
    )
    assert plans.plan_digest(study) is not None


def test_records_round_trip_and_a_damaged_one_is_no_plan(tmp_path: Path) -> None:
    digest = "cd" * 32
    assert plans.read_plan(tmp_path, digest) is None
    assert plans.write_plan(tmp_path, digest, {"pooled": KEY})
    assert plans.read_plan(tmp_path, digest) == {"pooled": KEY}
    assert plans.read_plan(tmp_path, "ef" * 32) is None
    path = tmp_path / "plans" / f"{digest}.json"
    for damaged in ("not json", "[]", '{"format": 1, "digest": "x", "keys": {}}',
                    f'{{"format": 1, "digest": "{digest}", "keys": {{"m": "../x"}}}}'):  # fmt: skip
        path.write_text(damaged)
        assert plans.read_plan(tmp_path, digest) is None
    assert not list((tmp_path / "plans").glob("*.tmp"))


def test_a_store_that_cannot_be_written_loses_only_the_record(tmp_path: Path) -> None:
    assert not plans.write_plan(tmp_path / "missing", "cd" * 32, {"pooled": KEY})
