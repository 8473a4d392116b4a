"""Specs that slipped through: merge keys, extends of any file, booleans as numbers, long
names, and sizes a spec names that were only checked after the work."""

from __future__ import annotations

import re
import resource
import time
from pathlib import Path

import pytest

from radonspec.errors import SpecError, SpecErrors
from radonspec.study.formula import FormulaError, check_formula
from radonspec.study.loader import load_study, load_study_text

HEAD = "spec_version: 1\nname: t\ndata: {dataset: radon}\n"
MODEL = "models:\n  m:\n    formula: log_radon ~ floor\n"


def errors_of(text: str, where: Path) -> list[SpecError]:
    with pytest.raises(SpecError) as info:
        load_study_text(text, where)
    found = info.value.errors if isinstance(info.value, SpecErrors) else [info.value]
    for error in found:
        assert error.location is not None and "\n" not in str(error)
    return found


@pytest.mark.parametrize(
    ("text", "at"),
    [
        ("spec_version: 1\n<<: {a: 1}\n", "2:1"),
        (HEAD + "base: &b {formula: log_radon ~ floor}\nmodels:\n  m: {<<: *b}\n", "6:7"),
    ],
    ids=["top-level", "in-a-model"],
)
def test_a_merge_key_is_refused_where_it_is_written(tmp_path: Path, text: str, at: str) -> None:
    (error,) = errors_of(text, tmp_path / "s.yaml")
    assert f"{error.line}:{error.column}" == at
    assert error.message.startswith("YAML merge keys ('<<') are not supported in a spec")


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("/etc/shadow", "which is not a .yaml or .yml file"),
        ("/etc/passwd", "which is not a .yaml or .yml file"),
        ("secret.yaml", "which is not a radonspec spec (a regular file with 'spec_version:'"),
        ("pipe.yaml", "which is not a radonspec spec"),
        ("link.yaml", "which is not a radonspec spec"),
    ],
)
def test_extends_names_only_spec_files_and_echoes_nothing_else(
    tmp_path: Path, target: str, message: str
) -> None:
    import os

    secret = "token: ghp_SECRETSECRET\nuser: alice\n"
    (tmp_path / "secret.yaml").write_text(secret)
    (tmp_path / "secret.txt").write_text(secret)
    os.mkfifo(tmp_path / "pipe.yaml")  # opening it for reading must not hang
    (tmp_path / "link.yaml").symlink_to(tmp_path / "secret.txt")
    started = time.monotonic()
    (error,) = errors_of(f"extends: {target}\n", tmp_path / "s.yaml")
    assert time.monotonic() - started < 30
    assert (error.line, error.column) == (1, 10) and message in error.message, error.message
    assert "SECRET" not in str(error) and "alice" not in str(error)


def test_a_spec_may_extend_a_spec_that_extends_another(tmp_path: Path) -> None:
    """A spec without spec_version of its own inherits it, and may be extended in turn."""
    extended = Path(__file__).resolve().parents[2] / "specs" / "radon" / "extended.yaml"
    (tmp_path / "more.yaml").write_text(f"extends: {extended}\nname: more\n")
    study = load_study(tmp_path / "more.yaml")
    assert study.name == "more" and "varying_intercept" in study.models
    (tmp_path / "notes.yaml").write_text("# extends: base.yaml\ntoken: SECRET\n")
    (error,) = errors_of("extends: notes.yaml\n", tmp_path / "s.yaml")
    assert "is not a radonspec spec" in error.message and "SECRET" not in str(error)


def test_a_spec_may_extend_a_spec_in_another_folder(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text(HEAD + MODEL)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "s.yaml").write_text("extends: ../base.yaml\nname: u\n")
    assert load_study(tmp_path / "sub" / "s.yaml").name == "u"


@pytest.mark.parametrize(
    ("field", "where"),
    [
        ("draws: true", "models.m.sampler.draws"),
        ("tune: false", "models.m.sampler.tune"),
        ("chains: true", "models.m.sampler.chains"),
        ("seed: false", "models.m.sampler.seed"),
        ("thin: true", "models.m.sampler.thin"),
        ("target_accept: true", "models.m.sampler.target_accept"),
        ("time_limit: true", "models.m.sampler.time_limit"),
    ],
)
def test_true_and_false_are_not_numbers(tmp_path: Path, field: str, where: str) -> None:
    text = HEAD + MODEL + f"    sampler: {{{field}}}\n"
    (error,) = errors_of(text, tmp_path / "s.yaml")
    value = field.split(": ")[1]
    assert error.message == f"{where}: a number is needed here, not {value}"


def test_spec_version_true_is_not_1(tmp_path: Path) -> None:
    (error,) = errors_of(HEAD.replace("spec_version: 1", "spec_version: true") + MODEL, tmp_path)
    assert error.message == "spec_version: a number is needed here, not true"


def test_names_fit_in_a_file_name(tmp_path: Path) -> None:
    long = "a" * 101
    (error,) = errors_of(HEAD.replace("name: t", f"name: {long}") + MODEL, tmp_path / "s.yaml")
    assert error.message.startswith(
        "name: string should have at most 100 characters (got 'aaaaaaaa"
    ), error.message
    (error,) = errors_of(HEAD + MODEL.replace("  m:", f"  {long}:"), tmp_path / "s.yaml")
    assert "has 101 characters, more than the 100 allowed (it names files of the report)" in (
        error.message
    )


def test_a_huge_sweep_is_refused_before_its_grid_is_built(tmp_path: Path) -> None:
    values = "".join(f"      - {1 + i / 100_000}\n" for i in range(20_000))
    terms = "".join(f"      - '+ x{i}'\n" for i in range(600))
    text = (
        HEAD
        + MODEL
        + '    priors: {floor: "Normal(0, 1)"}\n'
        + "sweep:\n  base: m\n  over:\n    prior_scale:\n"
        + values
        + "    terms:\n"
        + terms
    )
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    found = errors_of(text, tmp_path / "s.yaml")
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    messages = [e.message for e in found]
    assert any("should have at most 500 items after validation, not 20000" in m for m in messages)
    assert any("should have at most 500 items after validation, not 600" in m for m in messages)
    assert grown_mb < 500, grown_mb  # the grid of 12 million cells was 23 GB at 20,000^2


def test_a_grid_over_the_cell_limit_is_counted_not_built(tmp_path: Path) -> None:
    values = "".join(f"      - {1 + i / 1000}\n" for i in range(400))
    text = (
        HEAD
        + MODEL
        + '    priors: {floor: "Normal(0, 1)"}\n'
        + "sweep:\n  base: m\n  over:\n    prior_scale:\n"
        + values
        + "    backend: [nutpie, pymc]\n"
    )
    (error,) = errors_of(text, tmp_path / "s.yaml")
    assert error.message == (
        "the sweep has 800 cells, more than the 500 allowed; use fewer values, or mode: zip"
    )


@pytest.mark.parametrize(
    "formula",
    ["y ~ bs(x, df=100000)", "y ~ bs(x, 100000)", "y ~ bs(x, df=10**6)", "y ~ poly(x, 20)",
     "y ~ bs(x, degree=50)", "y ~ bs(x, df=4.5)"],
)  # fmt: skip
def test_sizes_of_transforms_are_bounded_at_the_call(formula: str) -> None:
    with pytest.raises(FormulaError) as info:
        check_formula(formula, ["x", "y"])
    assert info.value.offset == 4
    assert re.search(
        r"^(bs|poly)\(\): (df|degree) takes a whole number from 0 to \d+", info.value.message
    )


def test_sizes_within_the_bounds_are_accepted() -> None:
    for formula in ("y ~ bs(x, df=4)", "y ~ bs(x, 6, degree=3)", "y ~ poly(x, 3)"):
        check_formula(formula, ["x", "y"])


def test_report_highlight_is_bounded(tmp_path: Path) -> None:
    levels = ", ".join(f"l{i}" for i in range(30))
    text = HEAD + MODEL + f"report:\n  group: county\n  highlight: [{levels}]\n"
    (error,) = errors_of(text, tmp_path / "s.yaml")
    assert error.message.startswith(
        "report.highlight: tuple should have at most 24 items after validation, not 30"
    )
