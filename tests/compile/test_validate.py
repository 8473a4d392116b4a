"""Validation against the data, and the models it keeps for the next check (``watch``)."""

from __future__ import annotations

from pathlib import Path

from radonspec.compile.model import Compiled
from radonspec.compile.validate import BuiltModels, check_study
from radonspec.study.loader import load_study


def _check(path: Path, built: BuiltModels) -> dict[str, Compiled]:
    checked = check_study(load_study(path), initial_point=False, built=built)
    assert not checked.errors, checked.errors
    return dict(checked.compiled)


def test_only_a_changed_model_is_built_again(toy: Path) -> None:
    built = BuiltModels()
    first = _check(toy, built)
    assert built.built == 2 and built.reused == 0
    again = _check(toy, built)
    assert built.built == 2 and built.reused == 2
    assert all(again[name] is first[name] for name in first)
    toy.write_text(toy.read_text().replace("formula: y ~ x\n", "formula: y ~ 1 + x\n", 1))
    edited = _check(toy, built)
    assert built.built == 3
    assert edited["pooled"] is not first["pooled"] and edited["varying"] is first["varying"]
    assert "1 + x" in edited["pooled"].spec.formula


def test_a_changed_data_file_builds_every_model_again(toy: Path) -> None:
    built = BuiltModels()
    first = _check(toy, built)
    data = toy.parent / "toy.csv"
    lines = data.read_text().splitlines()
    data.write_text("\n".join([*lines[:-1], lines[1]]) + "\n")  # the last row changed
    again = _check(toy, built)
    assert built.built == 4 and all(again[name] is not first[name] for name in first)
    assert len(again["pooled"].data.frame) == len(first["pooled"].data.frame)


def test_a_failed_check_keeps_the_last_good_models(toy: Path) -> None:
    built = BuiltModels()
    first = _check(toy, built)
    good = toy.read_text()
    toy.write_text(good.replace("formula: y ~ x\n", "formula: y ~ x + z\n", 1))
    failed = check_study(load_study(toy), initial_point=False, built=built)
    assert "unknown column 'z'" in str(failed.errors[0])
    toy.write_text(good)
    again = _check(toy, built)
    assert all(again[name] is first[name] for name in first)
