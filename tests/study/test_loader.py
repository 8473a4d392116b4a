from __future__ import annotations

from pathlib import Path

import pydantic
import pytest

from radonspec.errors import Location, SpecError
from radonspec.study.loader import load_study
from radonspec.study.priors import parse_prior

ROOT = Path(__file__).resolve().parents[2]


def test_seed_study_resolves() -> None:
    study = load_study(ROOT / "specs/radon/seed.yaml")
    assert list(study.models) == ["pooled", "unpooled", "hierarchical", "hierarchical_nc"]
    hier, nc = study.models["hierarchical"], study.models["hierarchical_nc"]
    assert hier.noncentered is False and nc.noncentered is True
    assert nc.priors == hier.priors and nc.formula == hier.formula
    for model in study.models.values():  # defaults reached every model
        assert model.sampler.draws == 2000 and model.sampler.target_accept == 0.9
        assert model.center_predictors is False
    assert hier.priors["1|county"] == parse_prior("Normal(0, sigma=HalfNormal(5))")
    assert study.report.shrinkage is not None and study.report.shrinkage.from_ == "unpooled"


def test_study_is_frozen() -> None:
    study = load_study(ROOT / "specs/radon/seed.yaml")
    with pytest.raises(pydantic.ValidationError):
        study.name = "other"  # type: ignore[misc]


def test_every_spec_in_repo_loads() -> None:
    paths = sorted((ROOT / "specs").rglob("*.yaml"))
    assert paths
    for path in paths:
        load_study(path)


def test_file_extends_deep_merges_and_child_wins(write_spec) -> None:
    write_spec(
        """
        spec_version: 1
        name: base
        data: {dataset: radon, categorical: [county]}
        defaults:
          sampler: {draws: 500, chains: 2}
        models:
          a:
            formula: log_radon ~ floor
            priors: {floor: "Normal(0, 1)"}
        report: {title: Base}
        """,
        "base.yaml",
    )
    child = write_spec(
        """
        extends: base.yaml
        name: child
        defaults:
          sampler: {draws: 100}
        models:
          a:
            priors: {floor: {dist: StudentT, nu: 3, mu: 0, sigma: 1}}
          b:
            formula: log_radon ~ 1
        """,
        "sub/../child.yaml",
    )
    study = load_study(child)
    assert study.name == "child" and study.report.title == "Base"
    assert study.models["a"].sampler.draws == 100 and study.models["a"].sampler.chains == 2
    # a prior is replaced whole, never merged key by key with the parent's
    assert str(study.models["a"].priors["floor"]) == "StudentT(nu=3, mu=0, sigma=1)"
    assert study.models["b"].sampler.draws == 100


def test_error_in_parent_is_located_in_parent(write_spec) -> None:
    write_spec(
        """
        spec_version: 1
        name: base
        data: {dataset: radon}
        models:
          a: {formula: log_radon ~ floor, sampler: {draws: 0}}
        """,
        "base.yaml",
    )
    child = write_spec("extends: base.yaml\nname: child\n", "child.yaml")
    with pytest.raises(SpecError) as info:
        load_study(child)
    assert info.value.location is not None
    assert info.value.location.file.endswith("base.yaml")
    assert (info.value.location.line, info.value.location.column) == (5, 52)


def test_model_extends_chain_and_locate(write_spec) -> None:
    path = write_spec(
        """
        spec_version: 1
        name: s
        data: {dataset: radon, categorical: [county]}
        models:
          a:
            formula: log_radon ~ floor + (1|county)
            priors: {floor: "Normal(0, 5)"}
          b:
            extends: a
            noncentered: false
          c:
            extends: b
            priors: {sigma: HalfNormal(1)}
        """
    )
    study = load_study(path)
    c = study.models["c"]
    assert c.noncentered is False
    assert set(c.priors) == {"floor", "sigma"}
    # inherited values are located where they were written
    assert study.locate("models", "c", "formula") == Location(str(path.name), 6, 14) or (
        study.locate("models", "c", "formula").line == 6  # type: ignore[union-attr]
    )
    assert study.locate("models", "c", "priors", "sigma").line == 13  # type: ignore[union-attr]


def test_quoted_prior_offsets_point_into_the_string(write_spec) -> None:
    path = write_spec(
        """
        spec_version: 1
        name: s
        data: {dataset: radon}
        models:
          a: {formula: log_radon ~ floor, priors: {floor: "Normal(0, Hal(1))"}}
        """
    )
    with pytest.raises(SpecError, match=r"unknown distribution 'Hal'") as info:
        load_study(path)
    # line 5: the quote is at column 51, the string starts at 52, and Hal is 10 characters in
    assert (info.value.line, info.value.column) == (5, 62)


def test_mapping_prior_error_points_at_inner_key(write_spec) -> None:
    path = write_spec(
        """
        spec_version: 1
        name: s
        data: {dataset: radon}
        models:
          a:
            formula: log_radon ~ floor
            priors:
              floor:
                dist: Normal
                sigma: {dist: HalfNormall, sigma: 1}
        """
    )
    with pytest.raises(SpecError, match=r"HalfNormall") as info:
        load_study(path)
    assert info.value.line == 10


def test_big_file_refused_quickly(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("a: " + "x" * 2_000_000)
    with pytest.raises(SpecError, match=r"spec file is 2,000,003 bytes, more than the 1,000,000"):
        load_study(path)


def test_binary_file_refused(tmp_path: Path) -> None:
    path = tmp_path / "bin.yaml"
    path.write_bytes(b"spec_version: 1\n\x00\x01\x02")
    with pytest.raises(SpecError, match=r"NUL bytes: it is binary"):
        load_study(path)
