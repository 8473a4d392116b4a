"""Group-specific priors Bambi cannot write non-centered are refused where they are written."""

from __future__ import annotations

from pathlib import Path

import pytest

from radonspec.compile.model import compile_model
from radonspec.errors import SpecError
from radonspec.fit.runner import study_frame
from radonspec.study.loader import load_study_text
from radonspec.study.noncentered import noncentered_problem
from radonspec.study.priors import parse_prior

DATA = Path(__file__).resolve().parents[1] / "fixtures" / "data" / "airquality.csv"
STUDY = """\
spec_version: 1
name: nc
data: {{path: {data}, dropna: true}}
models:
  m:
    formula: Ozone ~ Temp + (1|Month)
    noncentered: {noncentered}
    priors:
      {key}: {prior}
"""


@pytest.mark.parametrize(
    ("prior", "problem"),
    [
        ("Normal(0, sigma=HalfNormal(5))", None),
        ("Normal(0, 5)", None),
        ("StudentT(nu=3, mu=0, sigma=5)", None),
        ("StudentT(nu=3, mu=0, sigma=HalfNormal(5))", "is a StudentT, and the non-centered"),
        ("Laplace(0, b=HalfNormal(1))", "is a Laplace"),
        ("Normal(mu=Normal(0, 1), sigma=1)", "has a fixed sigma"),
        ("Normal(mu=2, sigma=HalfNormal(1))", "has a mu other than 0, which the non-centered"),
        ("Normal(mu=Normal(0, 1), sigma=HalfNormal(1))", "has a mu other than 0"),
    ],
)
def test_noncentered_problem(prior: str, problem: str | None) -> None:
    found = noncentered_problem(parse_prior(prior))
    assert found == problem if problem is None else found and found.startswith(problem)


@pytest.mark.parametrize("key", ["1|Month", "group_specific"])
def test_a_non_normal_hyperprior_is_a_located_error(tmp_path: Path, key: str) -> None:
    text = STUDY.format(
        data=DATA, noncentered="true", key=key, prior="StudentT(nu=3, mu=0, sigma=HalfNormal(5))"
    )
    with pytest.raises(SpecError) as caught:
        load_study_text(text, tmp_path / "study.yaml")
    assert (caught.value.line, caught.value.column) == (9, 7)
    assert caught.value.message == (
        f"model 'm': the prior of '{key}' is a StudentT, and the non-centered"
        " form is a Normal only (noncentered: true, the default); set noncentered: false in"
        f" model 'm', or give '{key}' a prior Normal(0, sigma=...) such as"
        " Normal(0, sigma=HalfNormal(1))"
    )


def test_the_centered_model_builds(tmp_path: Path) -> None:
    text = STUDY.format(
        data=DATA,
        noncentered="false",
        key="1|Month",
        prior="StudentT(nu=3, mu=0, sigma=HalfNormal(5))",
    )
    study = load_study_text(text, tmp_path / "study.yaml")
    model = compile_model(study, "m", study_frame(study)).model
    model.build()
    assert "1|Month_sigma" in model.backend.model.named_vars
