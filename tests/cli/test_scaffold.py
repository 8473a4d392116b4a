from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from radonspec.cli.experiment import register
from radonspec.cli.scaffold import SCHEMA_FILE, scaffold_study, write_scaffold, write_schema
from radonspec.cli.scaffold import schema_document as study_json_schema
from radonspec.compile.validate import validate
from radonspec.errors import DataError, RadonspecError
from radonspec.study.loader import load_study

TRIO = ["pooled", "unpooled", "hierarchical"]


@pytest.fixture
def homes(tmp_path: Path) -> Path:
    """A synthetic grouped data set: 6 schools, a numeric and a categorical predictor."""
    rng = np.random.default_rng(7)
    school = np.repeat([f"s{i}" for i in range(6)], 12)
    hours = rng.uniform(0, 10, school.size)
    track = np.tile(["a", "b", "c"], school.size // 3)
    effect = {f"s{i}": rng.normal(0, 2) for i in range(6)}
    score = 50 + 1.5 * hours + np.array([effect[s] for s in school]) + rng.normal(0, 3, school.size)
    frame = pd.DataFrame({"score": score, "hours": hours, "track": track, "school": school})
    frame.loc[3, "hours"] = np.nan
    path = tmp_path / "data" / "schools.csv"
    path.parent.mkdir()
    frame.to_csv(path, index=False)
    return path


def test_radon_trio_is_valid_and_reproduces_the_seed_design(tmp_path: Path) -> None:
    output = tmp_path / "radon.yaml"
    written = write_scaffold("radon", "log_radon", "county", ["floor"], output=output)
    text = output.read_text()
    assert text.startswith("# yaml-language-server: $schema=radonspec.schema.json\n")
    assert written.study == output and written.schema is not None
    assert written.schema.path == tmp_path / SCHEMA_FILE and written.schema.action == "written"
    assert "# no pooling: a group with few rows gets a noisy estimate" in text
    study = validate(output)
    assert list(study.models) == TRIO
    formulas = {name: model.formula for name, model in study.models.items()}
    assert formulas == {
        "pooled": "log_radon ~ floor",
        "unpooled": "log_radon ~ 0 + county + county:floor",
        "hierarchical": "log_radon ~ floor + (floor | county)",
    }
    assert study.data.dataset == "radon" and study.data.categorical == ("county",)
    assert study.report.shrinkage is not None and study.report.shrinkage.to == "hierarchical"
    assert study.report.predictor == "floor"
    hier = study.models["hierarchical"]
    assert set(hier.priors) == {"Intercept", "floor", "1|county", "floor|county", "sigma"}
    assert str(hier.priors["sigma"]) == "HalfNormal(sigma=0.85)"  # sd(log_radon) = 0.85


def test_synthetic_csv_with_missing_values_and_a_categorical_predictor(
    homes: Path, tmp_path: Path
) -> None:
    output = tmp_path / "specs" / "study.yaml"
    write_scaffold(str(homes), "score", "school", ["hours", "track"], output=output)
    text = output.read_text()
    assert "  path: ../data/schools.csv  # relative to this file" in text
    assert "  dropna: true  # 1 row has missing values in the columns used: dropped" in text
    study = validate(output)
    assert study.name == "schools"
    assert study.data.categorical == ("school", "track")
    assert study.models["hierarchical"].formula == (
        "score ~ hours + track + (hours + track | school)"
    )
    assert study.models["unpooled"].formula == "score ~ 0 + school + school:hours + school:track"
    assert study.report.predictor == "hours"


def test_no_predictors_gives_the_intercept_only_trio(homes: Path, tmp_path: Path) -> None:
    output = tmp_path / "study.yaml"
    write_scaffold(str(homes), "score", "school", output=output)
    study = validate(output)
    assert [m.formula for m in study.models.values()] == [
        "score ~ 1",
        "score ~ 0 + school",
        "score ~ 1 + (1 | school)",
    ]
    assert study.report.predictor is None


def test_missing_column_suggests_the_closest(homes: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"predictor 'hour' is not a column of the data \(did you"
                       r" mean 'hours'\?\)"):  # fmt: skip
        scaffold_study(str(homes), "score", "school", ["hour"], output=tmp_path / "x.yaml")
    with pytest.raises(DataError, match="DATA 'nope' is neither a bundled data set"):
        scaffold_study("nope", "score", "school", output=tmp_path / "x.yaml")
    with pytest.raises(DataError, match="'school' is given twice"):
        scaffold_study(str(homes), "score", "school", ["school"], output=tmp_path / "x.yaml")


def test_an_existing_file_is_kept_without_force(homes: Path, tmp_path: Path) -> None:
    output = tmp_path / "study.yaml"
    output.write_text("keep me")
    with pytest.raises(RadonspecError, match="exists; choose another --output or pass --force"):
        write_scaffold(str(homes), "score", "school", output=output)
    assert output.read_text() == "keep me"
    write_scaffold(str(homes), "score", "school", output=output, force=True)
    load_study(output)


def test_init_command(homes: Path, tmp_path: Path) -> None:
    app = typer.Typer()
    register(app)
    output = tmp_path / "cli.yaml"
    args = ["init", "--data", str(homes), "-y", "score", "-g", "school", "-x", "hours,track"]
    result = CliRunner().invoke(app, [*args, "-o", str(output)])
    assert result.exit_code == 0, result.output
    assert "(pooled, unpooled, hierarchical)" in result.output
    assert load_study(output).models["pooled"].formula == "score ~ hours + track"
    assert f"wrote {tmp_path / SCHEMA_FILE} (the schema editors check" in " ".join(
        result.output.split()
    )
    again = CliRunner().invoke(app, [*args, "-o", str(output)])
    assert again.exit_code == 1
    (tmp_path / SCHEMA_FILE).write_text("{}")
    other = CliRunner().invoke(app, [*args, "-o", str(tmp_path / "other.yaml")])
    assert other.exit_code == 0, other.output
    assert "differs from this radonspec's schema" in " ".join(other.output.split())
    assert (tmp_path / SCHEMA_FILE).read_text() == "{}"


def test_the_schema_beside_the_study_is_the_one_editors_need(tmp_path: Path) -> None:
    import jsonschema
    from ruamel.yaml import YAML

    output = tmp_path / "radon.yaml"
    write_scaffold("radon", "log_radon", "county", ["floor"], output=output)
    schema = json.loads((tmp_path / SCHEMA_FILE).read_text())
    assert schema == study_json_schema()
    # the header's path resolves from the study's folder, and the study passes the schema
    header = output.read_text().splitlines()[0]
    assert (output.parent / header.split("$schema=")[1]).is_file()
    document = YAML(typ="safe", pure=True).load(output.read_text())
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(document)) == []


def test_an_existing_schema_is_left_alone_unless_forced(tmp_path: Path) -> None:
    first = write_schema(tmp_path)
    assert first.action == "written"
    stamp = first.path.stat().st_mtime_ns
    assert write_schema(tmp_path).action == "unchanged"
    assert first.path.stat().st_mtime_ns == stamp
    first.path.write_text('{"title": "my own"}')
    assert write_schema(tmp_path).action == "kept"
    assert first.path.read_text() == '{"title": "my own"}'
    assert write_schema(tmp_path, force=True).action == "written"
    assert json.loads(first.path.read_text()) == study_json_schema()


def test_a_binary_text_response_and_a_name_with_a_space(tmp_path: Path) -> None:
    data = Path(__file__).resolve().parents[1] / "fixtures" / "data" / "bacteria.csv"
    frame = pd.read_csv(data).rename(columns={"trt": "trt arm"})
    frame.to_csv(tmp_path / "bacteria.csv", index=False)
    output = tmp_path / "study.yaml"
    write_scaffold(
        str(tmp_path / "bacteria.csv"), "y", "ID", ["week", "trt arm"], output=output,
        family="bernoulli",
    )  # fmt: skip
    study = validate(output)
    # the event is written out (R's glm would model the second level too)
    assert study.models["hierarchical"].formula == (
        "y[y] ~ week + `trt arm` + (week + `trt arm` | ID)"
    )
    assert study.models["unpooled"].formula == "y[y] ~ 0 + ID + ID:week + ID:`trt arm`"
    assert "trt arm" in study.models["pooled"].priors
