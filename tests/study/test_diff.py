from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from radonspec.errors import SpecError
from radonspec.study.diff import (
    diff_models,
    diff_targets,
    model_differences,
    reference_model,
    split_target,
)
from radonspec.study.loader import load_study
from radonspec.study.schema import DataSpec, ModelSpec

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "specs/radon/seed.yaml"

Write = Callable[..., Path]


def spec(**fields: Any) -> ModelSpec:
    return ModelSpec.model_validate({"formula": "log_radon ~ floor", **fields})


def sentences(a: ModelSpec, b: ModelSpec) -> list[str]:
    return [str(d) for d in diff_models(a, b)]


def test_identical_and_reordered_formulas_do_not_differ() -> None:
    assert sentences(spec(), spec()) == []
    a = spec(formula="log_radon ~ floor + log_uranium")
    b = spec(formula="log_radon ~ log_uranium  +  floor")
    assert sentences(a, b) == [
        "formula: rewrites the formula as 'log_radon ~ log_uranium  +  floor' with the same terms"
    ]


def test_terms_added_and_removed() -> None:
    a = spec(formula="log_radon ~ floor")
    b = spec(formula="log_radon ~ log_uranium + county")
    assert sentences(a, b) == [
        "terms: adds the common terms 'log_uranium' and 'county'",
        "terms: removes the common term 'floor'",
    ]


def test_an_offset_added_removed_or_made_a_term_is_said() -> None:
    """Taking an offset out changes what the model means: it was 'the same terms'."""
    offset = spec(formula="Claims ~ Age + offset(log(Holders))", family="poisson")
    assert sentences(offset, spec(formula="Claims ~ Age", family="poisson")) == [
        "terms: removes the offset 'offset(log(Holders))'"
    ]
    assert sentences(spec(formula="Claims ~ Age", family="poisson"), offset) == [
        "terms: adds the offset 'offset(log(Holders))'"
    ]
    assert sentences(offset, spec(formula="Claims ~ Age + log(Holders)", family="poisson")) == [
        "terms: adds the common term 'log(Holders)'",
        "terms: removes the offset 'offset(log(Holders))'",
    ]


def test_intercept_and_response() -> None:
    a = spec(formula="log_radon ~ floor")
    b = spec(formula="log(log_uranium) ~ 0 + floor")
    assert sentences(a, b) == [
        "response: changes the response from 'log_radon' to 'log(log_uranium)'",
        "terms: drops the intercept",
    ]


def test_group_terms_changed() -> None:
    a = spec(formula="log_radon ~ floor + (1 | county)")
    b = spec(formula="log_radon ~ floor + (floor | county)")
    assert sentences(a, b) == ["group: adds the group-specific term 'floor|county'"]
    assert sentences(b, a) == ["group: removes the group-specific term 'floor|county'"]


def test_distributional_formulas() -> None:
    a = spec(formula="log_radon ~ floor")
    b = spec(formula=["log_radon ~ floor", "sigma ~ floor"])
    assert sentences(a, b) == ["formula: models 'sigma' by the formula 'sigma ~ floor'"]
    c = spec(formula=["log_radon ~ floor", "sigma ~ floor + log_uranium"])
    assert sentences(b, c) == ["terms: adds the common term 'log_uranium' of 'sigma'"]
    assert sentences(b, a) == ["formula: no longer models 'sigma' by a formula ('sigma ~ floor')"]


def test_priors_set_dropped_changed_and_scaled() -> None:
    a = spec(priors={"floor": "Normal(0, 10)", "sigma": "HalfCauchy(5)"})
    assert sentences(a, spec(priors={"sigma": "HalfCauchy(5)"})) == [
        "prior: drops the prior Normal(mu=0, sigma=10) on 'floor' (Bambi's automatic prior)"
    ]
    assert sentences(spec(), spec(priors={"floor": "Normal(0, 1)"})) == [
        "prior: gives 'floor' the prior Normal(mu=0, sigma=1) (was Bambi's automatic prior)"
    ]
    changed = spec(priors={"floor": "StudentT(3, 0, sigma=10)", "sigma": "HalfCauchy(5)"})
    assert sentences(a, changed) == [
        "prior: changes the prior on 'floor' from Normal(mu=0, sigma=10) to"
        " StudentT(nu=3, mu=0, sigma=10)"
    ]
    one = spec(priors={"floor": "Normal(0, 20)", "sigma": "HalfCauchy(5)"})
    assert sentences(a, one) == [
        "prior: widens the prior on 'floor' by a factor 2 (Normal(mu=0, sigma=10) to"
        " Normal(mu=0, sigma=20))"
    ]
    both = spec(priors={"floor": "Normal(0, 5)", "sigma": "HalfCauchy(2.5)"})
    assert sentences(a, both) == ["prior: narrows every prior by a factor 0.5 ('floor', 'sigma')"]


def test_prior_of_a_removed_term_is_not_repeated() -> None:
    a = spec(formula="log_radon ~ floor + log_uranium", priors={"log_uranium": "Normal(0, 1)"})
    b = spec(formula="log_radon ~ floor")
    assert sentences(a, b) == ["terms: removes the common term 'log_uranium'"]


def test_family_link_and_parametrisation() -> None:
    group = "log_radon ~ floor + (1 | county)"
    a = spec(formula=group)
    b = spec(formula=group, family="t", link="log", noncentered=False, center_predictors=False)
    assert sentences(a, b) == [
        "family: changes the family from 'gaussian' to 't'",
        "link: changes the link from the family's default to 'log'",
        "parametrisation: parametrises group-specific terms centered instead of non-centered",
        "parametrisation: no longer centers common predictors (the Intercept is the response at"
        " predictors zero)",
    ]
    # without group-specific terms the flag changes nothing worth saying
    assert sentences(spec(), spec(noncentered=False)) == []


def test_sampler_changes_that_alter_the_key() -> None:
    a = spec()
    b = spec(sampler={"backend": "pymc", "draws": 2000, "target_accept": 0.95})
    assert sentences(a, b) == [
        "sampler: samples with pymc instead of nutpie",
        "sampler: changes sampler.draws from 1000 to 2000",
        "sampler: changes sampler.target_accept from 0.8 to 0.95",
    ]


def test_split_target(tmp_path: Path) -> None:
    assert split_target("a.yaml:pooled") == (Path("a.yaml"), "pooled")
    assert split_target("a.yaml") == (Path("a.yaml"), None)
    odd = tmp_path / "x:y.yaml"
    odd.write_text("")
    assert split_target(str(odd)) == (odd, None)


def test_diff_targets_models_of_one_study() -> None:
    [(title, found)] = diff_targets(f"{SEED}:hierarchical", f"{SEED}:hierarchical_nc")
    assert title.endswith("seed.yaml:hierarchical -> " + f"{SEED}:hierarchical_nc")
    assert [str(d) for d in found or []] == [
        "parametrisation: parametrises group-specific terms non-centered instead of centered",
        "sampler: draws with another seed: each model's seed derives from its name"
        " ('hierarchical' vs 'hierarchical_nc')",
    ]


def test_diff_targets_pairs_models_by_name(write_spec: Write) -> None:
    other = write_spec(
        f"""
        extends: {SEED}
        name: other
        data: {{dataset: radon, categorical: [county], dropna: true}}
        models:
          pooled:
            formula: log_radon ~ floor + log_uranium
          extra:
            formula: log_radon ~ 1
        """
    )
    found = dict(diff_targets(str(SEED), str(other)))
    pooled = found[f"{SEED}:pooled -> {other}:pooled"]
    assert [str(d) for d in pooled or []] == [
        "data: changes data.dropna from False to True",
        "terms: adds the common term 'log_uranium'",
    ]
    assert found[f"{other}:extra: only in {other}"] is None
    unpooled = found[f"{SEED}:unpooled -> {other}:unpooled"]
    assert [str(d) for d in unpooled or []] == ["data: changes data.dropna from False to True"]


def test_diff_targets_errors_name_the_models() -> None:
    with pytest.raises(SpecError, match=r"'hierarchcal' is not a model of this study \(did you"
                       r" mean 'hierarchical'\?\)"):  # fmt: skip
        diff_targets(f"{SEED}:hierarchcal", f"{SEED}:pooled")


def test_model_differences_against_the_reference(write_spec: Write) -> None:
    study = load_study(SEED)
    assert reference_model(study) == "pooled"
    found = model_differences(study)
    assert list(found) == ["unpooled", "hierarchical", "hierarchical_nc"]
    assert (
        "group: adds the group-specific terms '1|county' and 'floor|county'"
        in found["hierarchical"]
    )
    path = write_spec(
        f"""
        extends: {SEED}
        name: ref
        compare: {{reference: hierarchical}}
        """
    )
    study = load_study(path)
    assert reference_model(study) == "hierarchical"
    assert model_differences(study)["hierarchical_nc"] == [
        "parametrisation: parametrises group-specific terms non-centered instead of centered"
    ]


def test_unknown_reference_is_located(write_spec: Write) -> None:
    path = write_spec(
        f"""
        extends: {SEED}
        name: ref
        compare: {{reference: hierarchcal}}
        """
    )
    with pytest.raises(SpecError, match="compare.reference 'hierarchcal' is not a model") as info:
        load_study(path)
    assert info.value.line == 3


def test_data_differences() -> None:
    from radonspec.study.diff import diff_data

    a = DataSpec(dataset="radon", categorical=("county",))
    b = DataSpec(path="homes.csv", categorical=("county",), filter={"floor": 0})
    assert [str(d) for d in diff_data(a, b)] == [
        "data: changes data.dataset from 'radon' to none",
        "data: changes data.path from none to 'homes.csv'",
        "data: changes data.filter from none to {'floor': 0}",
    ]


def test_diff_command() -> None:
    from radonspec.cli.experiment import register

    app = typer.Typer()
    register(app)
    result = CliRunner().invoke(app, ["diff", f"{SEED}:pooled", f"{SEED}:hierarchical"])
    assert result.exit_code == 0, result.output
    assert "group: adds the group-specific terms '1|county' and 'floor|county'" in result.output
    result = CliRunner().invoke(app, ["diff", str(SEED), f"{SEED}:nope"])
    assert result.exit_code == 1


def test_data_files_of_other_content_are_a_difference(tmp_path: Path) -> None:
    """Two copies of a study whose CSVs differ in one value: the specs alone look alike."""
    from radonspec.cli.experiment import register

    app = typer.Typer()
    register(app)
    text = "spec_version: 1\nname: s\ndata: {path: d.csv}\nmodels:\n  m: {formula: y ~ x}\n"
    for folder, last in (("a", "3"), ("b", "3"), ("c", "4")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "d.csv").write_text(f"y,x\n1,2\n2,{last}\n")
        (tmp_path / folder / "study.yaml").write_text(text)
    a, b, c = (str(tmp_path / f / "study.yaml") for f in "abc")
    same = CliRunner().invoke(app, ["diff", a, b])
    assert same.exit_code == 0 and "no statistical differences" in same.output
    other = CliRunner().invoke(app, ["diff", a, c])
    assert other.exit_code == 0, other.output
    assert "data: reads other data:" in other.output and "differ in content" in other.output
    assert "no statistical differences" not in other.output


def test_a_prior_on_a_term_the_reference_lacks_was_never_automatic() -> None:
    found = model_differences(load_study(SEED))["unpooled"]
    assert "prior: gives the new term 'county' the prior Normal(mu=0, sigma=100)" in found
    assert not any("county" in line and "automatic" in line for line in found)
    # a term both models have keeps the comparison with Bambi's automatic prior
    a, b = spec(), spec(priors={"floor": "Normal(0, 1)"})
    assert [str(d) for d in diff_models(a, b)] == [
        "prior: gives 'floor' the prior Normal(mu=0, sigma=1) (was Bambi's automatic prior)"
    ]
