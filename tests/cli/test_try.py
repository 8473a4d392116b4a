from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from radonspec.api import fit_study
from radonspec.cli.experiment import register
from radonspec.cli.tryout import (
    TrySpec,
    parse_levels,
    parse_priors,
    save_spec,
    try_formula,
    try_spec_text,
    try_study,
)
from radonspec.compile.validate import validate
from radonspec.errors import DataError, SpecError, SpecErrors
from radonspec.study.loader import load_study

TINY = {"draws": 100, "tune": 100, "chains": 2}


def test_parse_priors_splits_at_the_first_equals_sign() -> None:
    assert parse_priors(["1|county=Normal(0, sigma=HalfNormal(1))", "floor = Normal(0, 1)"]) == {
        "1|county": "Normal(0, sigma=HalfNormal(1))",
        "floor": "Normal(0, 1)",
    }
    with pytest.raises(SpecError, match="--prior 'Normal\\(0, 1\\)' is not TERM=PRIOR"):
        parse_priors(["Normal(0, 1)"])


def test_an_ordinal_response_s_order_is_given_with_levels_and_asked_for_as_the_option(
    tmp_path: Path, in_tmp: Path
) -> None:
    """The data's error advised data.levels, which try has no file to put in."""
    assert parse_levels(["Sat=Low, Medium,High"]) == {"Sat": ("Low", "Medium", "High")}
    with pytest.raises(SpecError, match=r"--levels 'Sat' is not COLUMN=LEVEL,LEVEL"):
        parse_levels(["Sat"])
    pd.DataFrame({"Sat": ["Low", "High", "Medium"] * 8, "x": np.arange(24.0)}).to_csv(
        tmp_path / "h.csv", index=False
    )
    with pytest.raises(SpecErrors) as caught:
        try_study(TrySpec("h.csv", "Sat ~ x", family="cumulative", sampler=TINY))
    (message,) = [e.message for e in caught.value.errors]
    assert "declare the order, lowest first, with --levels 'Sat=High,Low,Medium'" in message
    order = parse_levels(["Sat=Low,Medium,High"])
    spec = TrySpec("h.csv", "Sat ~ x", family="cumulative", levels=order, sampler=TINY)
    assert "  levels:\n    Sat: [Low, Medium, High]\n" in try_spec_text(spec, relative_to=tmp_path)
    study = try_study(spec, initial_point=False)
    assert {k: list(v) for k, v in study.data.levels.items()} == {"Sat": ["Low", "Medium", "High"]}


def test_spec_text_for_a_bundled_data_set() -> None:
    spec = TrySpec("radon", "log_radon ~ floor", priors={"floor": "Normal(0, 1)"}, sampler=TINY)
    text = try_spec_text(spec, relative_to=Path.cwd())
    assert "  dataset: radon\n  categorical: [county]\n" in text
    assert "    formula: log_radon ~ floor\n" in text
    assert "      draws: 100\n" in text
    assert "family" not in text  # gaussian is the default


def test_csv_path_is_relative_to_the_saved_file(tmp_path: Path, in_tmp: Path) -> None:
    data = tmp_path / "data" / "d.csv"
    data.parent.mkdir()
    pd.DataFrame({"y": [1.0, 2.0, 3.5, 4.0], "x": [0.0, 1.0, 2.0, 3.0]}).to_csv(data, index=False)
    spec = TrySpec("data/d.csv", "y ~ x", sampler=TINY)
    saved = save_spec(spec, tmp_path / "specs" / "try.yaml")
    assert "  path: ../data/d.csv\n" in saved.read_text()
    # editors get the schema the header names, beside the study (as init writes it)
    assert saved.read_text().startswith("# yaml-language-server: $schema=radonspec.schema.json\n")
    assert (saved.parent / "radonspec.schema.json").is_file()
    study = load_study(saved)
    assert study.name == "d-try" and study.models["model"].formula == "y ~ x"


def test_problems_are_reported_without_a_file_location() -> None:
    with pytest.raises(SpecErrors, match="model 'model'.*'flor'") as info:
        try_study(TrySpec("radon", "log_radon ~ flor"), initial_point=False)
    assert all(error.location is None for error in info.value.errors)
    with pytest.raises(SpecError, match="priors.floor: Normal parameter 'sigma' must be positive"):
        try_study(TrySpec("radon", "log_radon ~ floor", priors={"floor": "Normal(0, -1)"}))
    with pytest.raises(DataError, match="DATA 'radn' is neither a bundled data set"
                       " \\(did you mean 'radon'\\?\\)"):  # fmt: skip
        try_study(TrySpec("radn", "log_radon ~ floor"))


@pytest.mark.slow
def test_try_fits_then_save_gives_a_spec_run_finds_in_the_store(tmp_path: Path) -> None:
    store = tmp_path / "store"
    spec = TrySpec(
        "radon",
        "log_radon ~ floor + (1|county)",
        priors={"floor": "Normal(0, 5)"},
        sampler={**TINY, "seed": 3},
    )
    result = try_formula(spec, store=store)
    assert result.fit.ok and not result.fit.cached
    assert result.table is not None and "floor" in result.table.index
    assert -0.9 < result.table.loc["floor", "mean"] < -0.5
    assert result.diagnostics is not None

    saved = save_spec(spec, tmp_path / "saved.yaml")
    study = validate(saved)
    events: list[tuple[str, str]] = []
    fits = fit_study(study, store=store, jobs=1, on_event=lambda m, e, f: events.append((m, e)))
    assert events == [("model", "cached")]
    assert fits["model"].key == result.fit.key


@pytest.mark.slow
def test_try_command_prints_parameters_and_saves(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=60)
    data = tmp_path / "toy.csv"
    pd.DataFrame({"y": 1 + 2 * x + rng.normal(0, 0.5, 60), "x": x}).to_csv(data, index=False)
    app = typer.Typer()
    register(app)
    saved = tmp_path / "toy.yaml"
    result = CliRunner().invoke(
        app,
        [
            "try", str(data), "y ~ x", "--draws", "100", "--tune", "100", "--chains", "2",
            "--prior", "x=Normal(0, 5)", "--save", str(saved), "--store", str(tmp_path / "s"),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"wrote {saved}" in result.output
    assert "y ~ x (gaussian) on toy.csv: fitted" in result.output
    assert "Intercept" in result.output and "sigma" in result.output
    assert validate(saved).models["model"].priors["x"].dist == "Normal"
