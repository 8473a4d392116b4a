"""The JSON Schema editors use: well formed, accepts every spec in the repo, flags typos."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
from ruamel.yaml import YAML

from radonspec.cli.scaffold import schema_document as study_json_schema

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = study_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def load(path: Path) -> dict:
    return YAML(typ="safe", pure=True).load(path.read_text())


@pytest.mark.parametrize("path", sorted((ROOT / "specs").rglob("*.yaml")), ids=lambda p: p.name)
def test_every_repo_spec_is_valid(validator: jsonschema.Draft202012Validator, path: Path) -> None:
    assert [e.message for e in validator.iter_errors(load(path))] == []


def test_typos_and_unknown_values_are_flagged(validator: jsonschema.Draft202012Validator) -> None:
    doc = load(ROOT / "specs/radon/seed.yaml")
    doc["models"]["pooled"]["formual"] = "y ~ x"
    doc["models"]["pooled"]["family"] = "gausian"
    doc["models"]["pooled"]["sampler"] = {"backend": "stan"}
    doc["data"]["dataset"] = "radom"
    messages = " | ".join(e.message for e in validator.iter_errors(doc))
    assert "'formual' was unexpected" in messages
    assert "'gausian' is not one of" in messages
    assert "'stan' is not one of" in messages
    assert "'radom'" in messages


def test_enums_feed_completion() -> None:
    text = str(study_json_schema())
    for word in ("gaussian", "negativebinomial", "identity", "logit", "HalfNormal", "radon"):
        assert word in text


def test_the_report_field_for_prior_predictive_checks_is_described() -> None:
    field = study_json_schema()["$defs"]["ReportSpec"]["properties"]["prior_predictive"]
    assert field["type"] == "boolean" and field["default"] is False
    assert "prior predictive" in field["description"] and "--prior-only" in field["description"]


def test_the_committed_schema_is_the_one_radonspec_prints() -> None:
    # the specs in specs/ name ../../radonspec.schema.json in their editor header
    import json

    committed = json.loads((ROOT / "radonspec.schema.json").read_text())
    assert committed == study_json_schema(), "regenerate: radonspec schema > radonspec.schema.json"
    for path in sorted((ROOT / "specs").rglob("*.yaml")):
        header = path.read_text().splitlines()[0]
        assert header == "# yaml-language-server: $schema=../../radonspec.schema.json", path
