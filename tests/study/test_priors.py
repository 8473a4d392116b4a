"""Tests of the prior grammar: compact and mapping forms, canonical printing, to_bambi."""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BeforeValidator, PlainSerializer, TypeAdapter, ValidationError
from ruamel.yaml import YAML

from radonspec.study import priors
from radonspec.study.priors import (
    ALTERNATIVES,
    DIST_CONSTRAINTS,
    MAX_DEPTH,
    PriorNode,
    PriorSyntaxError,
    known_distributions,
    parse_prior,
    to_bambi,
)

# (compact input, canonical compact output)
VALID = [
    ("Normal(0, 100)", "Normal(mu=0, sigma=100)"),
    ("Normal(0, sigma=HalfNormal(5))", "Normal(mu=0, sigma=HalfNormal(sigma=5))"),
    ("HalfCauchy(5)", "HalfCauchy(beta=5)"),
    ("Normal(mu=0, sigma=1)", "Normal(mu=0, sigma=1)"),
    ("Normal(sigma=1, mu=0)", "Normal(mu=0, sigma=1)"),
    ("StudentT(3, 0, sigma=2.5)", "StudentT(nu=3, mu=0, sigma=2.5)"),
    ("Exponential(1e-3)", "Exponential(lam=0.001)"),
    ("Normal(-1.5, 2E+2)", "Normal(mu=-1.5, sigma=200)"),
    ("Normal(0.0, 100.0)", "Normal(mu=0, sigma=100)"),
    ("Normal(.5, 1.)", "Normal(mu=0.5, sigma=1)"),
    ("Normal(+1, 1e-05)", "Normal(mu=1, sigma=1e-05)"),
    ("Normal(0, tau=0.01)", "Normal(mu=0, tau=0.01)"),
    ("Gamma(alpha=2, beta=0.1)", "Gamma(alpha=2, beta=0.1)"),
    ("Gamma(mu=2, sigma=1)", "Gamma(mu=2, sigma=1)"),
    ("Beta(1, 1)", "Beta(alpha=1, beta=1)"),
    ("Cauchy(-1, 2)", "Cauchy(alpha=-1, beta=2)"),  # Cauchy's alpha is a location
    ("Bernoulli(0.5)", "Bernoulli(p=0.5)"),
    ("Uniform([0, 1], [1, 2.5])", "Uniform(lower=[0, 1], upper=[1, 2.5])"),
    ("Lognormal(0, 1)", "LogNormal(mu=0, sigma=1)"),  # alias prints as PyMC's class name
    ("Flat()", "Flat()"),
    ("  Normal ( 0 ,\n sigma = 1 , ) ", "Normal(mu=0, sigma=1)"),
    (
        "Normal(mu=Normal(0, 10), sigma=HalfStudentT(3, 1))",
        "Normal(mu=Normal(mu=0, sigma=10), sigma=HalfStudentT(nu=3, sigma=1))",
    ),
    ("Normal(12345678901234567890, 1)", "Normal(mu=1.2345678901234567e+19, sigma=1)"),
]


@pytest.mark.parametrize(("text", "canonical"), VALID)
def test_valid_compact_is_canonical_and_round_trips(text: str, canonical: str) -> None:
    node = parse_prior(text)
    assert str(node) == canonical
    assert node.compact() == canonical
    assert parse_prior(str(node)) == node
    assert parse_prior(node.to_dict()) == node
    assert parse_prior(json.loads(json.dumps(node.to_dict()))) == node
    assert hash(parse_prior(canonical)) == hash(node)


def test_nodes_are_keyword_named_in_signature_order() -> None:
    node = parse_prior("Normal(0, sigma=HalfNormal(5))")
    assert node == PriorNode(
        "Normal", (("mu", 0), ("sigma", PriorNode("HalfNormal", (("sigma", 5),))))
    )
    assert node.to_dict() == {
        "dist": "Normal",
        "mu": 0,
        "sigma": {"dist": "HalfNormal", "sigma": 5},
    }
    assert isinstance(parse_prior("Normal(0.0, 2.5)").args[0][1], int)
    assert parse_prior("Uniform([0, 1], [1, 2])").args[0] == ("lower", (0, 1))


# (mapping form, the compact form it must equal)
MAPPINGS: list[tuple[Any, str]] = [
    (
        {"dist": "Normal", "mu": 0, "sigma": {"dist": "HalfNormal", "sigma": 5}},
        "Normal(0, HalfNormal(5))",
    ),
    ({"dist": "Normal", "mu": 0, "sigma": "HalfNormal(5)"}, "Normal(0, sigma=HalfNormal(5))"),
    ({"dist": "Normal", "sigma": 100.0, "mu": 0}, "Normal(0, 100)"),
    ({"dist": "Uniform", "lower": [0, 1], "upper": (1, 2)}, "Uniform([0, 1], [1, 2])"),
    ({"dist": "StudentT", "nu": "3", "mu": 0, "sigma": 1}, "StudentT(3, 0, sigma=1)"),
    ({"dist": "HalfCauchy", "beta": 5}, "HalfCauchy(5)"),
    ({"dist": "Flat"}, "Flat()"),
    (parse_prior("Normal(0, 1)"), "Normal(mu=0, sigma=1)"),
]


@pytest.mark.parametrize(("mapping", "compact"), MAPPINGS)
def test_mapping_form_equals_compact_form(mapping: Any, compact: str) -> None:
    assert parse_prior(mapping) == parse_prior(compact)


def test_mapping_form_from_yaml() -> None:
    yaml = YAML()
    loaded = yaml.load("{dist: Normal, mu: 0, sigma: {dist: HalfNormal, sigma: 5.0}}")
    assert parse_prior(loaded) == parse_prior("Normal(0, sigma=HalfNormal(5))")
    # ruamel.yaml loads anchored booleans as an int subclass: still not a number
    flag = yaml.load("a: &t true\nprior: {dist: Normal, mu: *t}")
    with pytest.raises(PriorSyntaxError, match="got ScalarBoolean") as info:
        parse_prior(flag["prior"])
    assert info.value.path == ("mu",)


UNKNOWN_DIST = r"unknown distribution 'Normall' \(did you mean 'Normal'\?\); expected a univariate"
NOT_FINITE = "is not a finite number; prior parameters must be finite"
DEEP = "Normal(0, " * (MAX_DEPTH + 1) + "1" + ")" * (MAX_DEPTH + 1)

# (compact input, message pattern, offset)
INVALID = [
    ("", r"empty prior; write a distribution such as 'Normal\(0, 1\)'", 0),
    ("   ", "empty prior", 3),
    ("Normall(0, 1)", UNKNOWN_DIST, 0),
    ("Normal(0, HalfNormall(5))", "unknown distribution 'HalfNormall'", 10),
    (
        "Normal(0, 1, 2)",
        r"Normal\(\) takes at most 2 positional arguments \(mu, sigma\), got 3",
        13,
    ),
    (
        "Gamma(1, 2, 3)",
        r"Gamma\(\) takes at most 2 positional arguments \(alpha, beta\), got 3",
        12,
    ),
    ("Flat(1)", r"Flat\(\) takes no positional arguments, got 1", 5),
    (
        "Normal(0, sd=1)",
        r"unknown parameter 'sd' for Normal \(did you mean 'sigma'\?\); "
        r"expected 'mu', 'sigma' or 'tau'",
        10,
    ),
    (
        "Normal(0, 1",
        r"expected ',' or '\)' in the arguments of Normal, got the end of the prior",
        11,
    ),
    ("Normal(0, 1]", r"expected ',' or '\)' in the arguments of Normal, got '\]'", 11),
    ("Normal 0, 1)", r"expected '\(' after 'Normal', got '0'", 7),
    ("Normal(0, 1) x", "unexpected 'x' after the end of the prior", 13),
    ("Normal(0, 1))", r"unexpected '\)' after the end of the prior", 12),
    ("Normal(mu=0, mu=1)", r"Normal\(\) got multiple values for 'mu'", 13),
    ("Normal(0, mu=1)", r"Normal\(\) got multiple values for 'mu'", 10),
    ("Normal(mu=0, 1)", "positional argument follows keyword argument", 13),
    ("Normal(0, inf)", f"'inf' {NOT_FINITE}", 10),
    ("Normal(0, -inf)", f"'-inf' {NOT_FINITE}", 10),
    ("Normal(nan, 1)", f"'nan' {NOT_FINITE}", 7),
    ("Normal(0, 1e999)", f"'1e999' {NOT_FINITE}", 10),
    ("HalfNormal(-1)", r"HalfNormal parameter 'sigma' must be positive \(> 0\), got -1", 11),
    ("Gamma(alpha=2, beta=0)", "Gamma parameter 'beta' must be positive .*, got 0", 20),
    ("Cauchy(0, -1)", "Cauchy parameter 'beta' must be positive .*, got -1", 10),
    ("Wald(1, 1, alpha=-1)", r"Wald parameter 'alpha' must be nonnegative \(>= 0\), got -1", 17),
    (
        "Bernoulli(1.5)",
        r"Bernoulli parameter 'p' must be a probability \(between 0 and 1\), got 1\.5",
        10,
    ),
    ("Uniform([0, 1], HalfNormal)", r"expected '\(' after 'HalfNormal', got '\)'", 26),
    ("Normal(0, [])", "empty list; a list holds one number or more", 10),
    ("Normal(0, [1, Normal(0, 1)])", "expected a number in the list, got 'Normal'", 14),
    ("Normal(0, [1 2])", r"expected ',' or '\]' in a list, got '2'", 13),
    ("Normal(0, 1e)", "malformed number '1e'", 10),
    ("Normal(0, 1.2.3)", r"malformed number '1\.2\.3'", 10),
    ("Normal(0, -HalfNormal(1))", "expected a number after '-', got 'HalfNormal'", 11),
    (
        "Normal(0, true)",
        r"expected a number, a list of numbers or a distribution .*got name 'true'",
        10,
    ),
    ("Normal(,)", "expected a number, a list of numbers or a distribution .*got ','", 7),
    ("5", r"expected a distribution such as 'Normal\(0, 1\)', got '5'", 0),
    ("MvNormal(0, 1)", "'MvNormal' cannot be a prior: it is multivariate", 0),
    ("PolyaGamma()", "'PolyaGamma' cannot be a prior: .*'polyagamma' package", 0),
    ("Normal(0, HalfCauchy())", r"HalfCauchy\(\) is missing required argument 'beta'", 10),
    (
        "Normal(0, sigma=1, tau=2)",
        r"PyMC rejects Normal\(mu=0, sigma=1, tau=2\): Can't pass both tau and sigma",
        0,
    ),
    ("Gamma(2)", r"PyMC rejects Gamma\(alpha=2\): Incompatible parameterization", 0),
    ("AsymmetricLaplace()", r"PyMC rejects AsymmetricLaplace\(\): NotImplementedError: ", 0),
    ("Normal(0, sigma=os.getcwd())", "unexpected character '.'; a prior holds only", 18),
    ("Normal(0, 'a')", 'unexpected character "\'"', 10),
    (DEEP, f"prior nested too deeply: at most {MAX_DEPTH} levels", 10 * MAX_DEPTH),
    ("Normal(0, 1)" + " " * 2000, "prior is 2012 characters long; at most 2000 are allowed", 0),
]


@pytest.mark.parametrize(("text", "message", "offset"), INVALID)
def test_invalid_compact_reports_message_and_offset(text: str, message: str, offset: int) -> None:
    with pytest.raises(PriorSyntaxError, match=message) as info:
        parse_prior(text)
    assert info.value.offset == offset
    assert info.value.path == ()
    assert str(info.value) == info.value.message


def _recursive() -> dict[str, Any]:
    # A YAML alias can make a mapping that contains itself.
    prior: dict[str, Any] = {"dist": "Normal"}
    prior["mu"] = prior
    return prior


# (mapping input, message pattern, path, offset)
INVALID_MAPPINGS: list[tuple[Any, str, tuple[str, ...], int]] = [
    (
        {"dist": "Normal", "mu": 0, "sigma": {"dist": "HalfNormall", "sigma": 5}},
        r"unknown distribution 'HalfNormall' \(did you mean 'HalfNormal'\?\)",
        ("sigma", "dist"),
        0,
    ),
    ({"mu": 0}, "a prior mapping needs a 'dist' key naming the distribution", (), 0),
    ({"dist": "Normal", "sd": 1}, "unknown parameter 'sd' for Normal", ("sd",), 0),
    ({"dist": "Normal", "mu": True}, "got bool True", ("mu",), 0),
    ({"dist": "Normal", "mu": None}, "got NoneType None", ("mu",), 0),
    ({"dist": "Normal", "mu": [1, "a"]}, "expected a number, got str 'a'", ("mu",), 0),
    ({"dist": "Normal", "mu": float("inf")}, f"'inf' {NOT_FINITE}", ("mu",), 0),
    ({"dist": "Normal", "sigma": "HalfNormal(-5)"}, "must be positive .*, got -5", ("sigma",), 11),
    (
        {"dist": "Normal", "sigma": {"dist": "HalfNormal", "sigma": -5}},
        "HalfNormal parameter 'sigma' must be positive .*, got -5",
        ("sigma", "sigma"),
        0,
    ),
    ({"dist": 5}, "'dist' must be a distribution name such as 'Normal', got 5", ("dist",), 0),
    ({"dist": "HalfCauchy"}, r"HalfCauchy\(\) is missing required argument 'beta'", (), 0),
    ({"dist": "Normal", 0: 1}, "parameter names must be strings, got 0", (), 0),
    (_recursive(), "prior nested too deeply", ("mu",) * MAX_DEPTH, 0),
    (5, r"a prior must be a string such as 'Normal\(0, 1\)' or a mapping .*got int 5", (), 0),
]


@pytest.mark.parametrize(("value", "message", "path", "offset"), INVALID_MAPPINGS)
def test_invalid_mapping_reports_message_and_path(
    value: Any, message: str, path: tuple[str, ...], offset: int
) -> None:
    with pytest.raises(PriorSyntaxError, match=message) as info:
        parse_prior(value)
    assert info.value.path == path
    assert info.value.offset == offset


PAYLOADS: list[Any] = [
    "__import__('os').system('touch X')",
    "Normal(0, sigma=__import__('os').system('touch X'))",
    "Normal(0, sigma=os.getcwd())",
    "Normal(0, sigma=exec(open('X', 'w')))",
    "eval('1')",
    "Normal(0, 1); import os",
    "Normal(0, (lambda: 1)())",
    "Normal(0, __builtins__)",
    {"dist": "Normal", "mu": "__import__('os').system('touch X')"},
    {"dist": "__import__('os').system('touch X')"},
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_code_in_a_prior_is_refused_without_side_effects(
    payload: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(PriorSyntaxError):
        parse_prior(payload)
    assert not (tmp_path / "X").exists()


def test_the_parser_never_evaluates_text() -> None:
    source = inspect.getsource(priors)
    # compile( alone, not re.compile(
    banned = r"(?<![.\w])(eval|exec|literal_eval|compile|__import__)\(|\b(import|from) ast\b"
    assert not re.search(banned, source)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="NormalHfCuyStdet()[],=.-+e0159 \"'_", max_size=60))
def test_any_text_parses_or_raises_prior_syntax_error(text: str) -> None:
    try:
        node = parse_prior(text)
    except PriorSyntaxError as exc:
        assert 0 <= exc.offset <= len(text)
    else:
        assert parse_prior(str(node)) == node


finite = st.floats(allow_nan=False, allow_infinity=False)
positive = st.floats(min_value=1e-300, max_value=1e300)
scale = positive | st.builds(lambda s: {"dist": "HalfNormal", "sigma": s}, positive)


@settings(max_examples=100, deadline=None)
@given(mu=finite | st.integers(-(10**6), 10**6), sigma=scale)
def test_canonical_form_round_trips(mu: float, sigma: Any) -> None:
    node = parse_prior({"dist": "Normal", "mu": mu, "sigma": sigma})
    assert parse_prior(str(node)) == node
    assert str(parse_prior(str(node))) == str(node)


def test_registry_comes_from_pymc_signatures() -> None:
    dists = known_distributions()
    assert {"Normal", "HalfNormal", "HalfCauchy", "StudentT", "Gamma", "Poisson"} <= set(dists)
    assert not {"MvNormal", "Dirichlet", "PolyaGamma"} & set(dists)
    assert dists["Normal"].positional == ("mu", "sigma")
    assert dists["Normal"].params == ("mu", "sigma", "tau")
    assert dists["Gamma"].positional == ("alpha", "beta")
    assert dists["StudentT"].positional == ("nu", "mu")
    assert dists["StudentT"].params == ("nu", "mu", "sigma", "lam")
    assert dists["HalfCauchy"].required == ("beta",)
    assert dists["Lognormal"].name == "LogNormal"
    assert priors.distribution_names() == sorted(dists)


def test_constraint_table_names_real_parameters() -> None:
    dists = known_distributions()
    for dist, params in DIST_CONSTRAINTS.items():
        assert set(params) <= set(dists[dist].params), dist
    for dist, alternatives in ALTERNATIVES.items():
        assert set(alternatives) <= set(dists[dist].params), dist


def test_pydantic_wraps_prior_errors() -> None:
    prior = TypeAdapter(
        Annotated[PriorNode, BeforeValidator(parse_prior), PlainSerializer(str, return_type=str)]
    )
    node = prior.validate_python({"dist": "Normal", "mu": 0, "sigma": 1})
    assert prior.dump_python(node) == "Normal(mu=0, sigma=1)"
    with pytest.raises(ValidationError, match="unknown distribution 'Normall'") as info:
        prior.validate_python("Normall(0, 1)")
    error = info.value.errors()[0]["ctx"]["error"]
    assert isinstance(error, PriorSyntaxError)
    assert error.offset == 0


def test_to_bambi_builds_nested_priors() -> None:
    import bambi as bmb

    prior = to_bambi(parse_prior("Normal(0, sigma=HalfNormal(5))"))
    assert prior.name == "Normal"
    assert isinstance(prior.args["sigma"], bmb.Prior)
    assert str(prior) == "Normal(mu: 0.0, sigma: HalfNormal(sigma: 5.0))"
    bounds = to_bambi(parse_prior("Uniform([0, 1], [1, 2])"))
    np.testing.assert_array_equal(bounds.args["upper"], [1.0, 2.0])


def test_to_bambi_priors_land_in_a_real_model() -> None:
    import bambi as bmb

    rng = np.random.default_rng(0)
    df = pd.DataFrame(
        {
            "y": rng.normal(size=30),
            "x": rng.normal(size=30),
            # categorical, not str: Bambi's object-column scan warns on pandas 3 str columns
            "g": pd.Categorical(np.repeat(["a", "b", "c"], 10)),
        }
    )
    specs = {
        "Intercept": "Normal(0, 100)",
        "x": "Normal(0, 10)",
        "1|g": "Normal(0, sigma=HalfNormal(5))",
        "sigma": "HalfCauchy(5)",
    }
    model = bmb.Model(
        "y ~ x + (1|g)", df, priors={k: to_bambi(parse_prior(v)) for k, v in specs.items()}
    )
    mu = model.parameters["mu"]
    assert str(mu.intercept_term.prior) == "Normal(mu: 0.0, sigma: 100.0)"
    assert str(mu.common_terms["x"].prior) == "Normal(mu: 0.0, sigma: 10.0)"
    assert (
        str(mu.group_specific_terms["1|g"].prior)
        == "Normal(mu: 0.0, sigma: HalfNormal(sigma: 5.0))"
    )
    assert str(model.parameters["sigma"].prior) == "HalfCauchy(beta: 5.0)"
    model.build()
    hyper = model.backend.model["1|g_sigma"]
    assert "halfnormal" in str(hyper.owner.op)
    constants = [
        float(np.asarray(i.data))
        for i in hyper.owner.inputs
        if hasattr(i, "data") and np.ndim(i.data) == 0
    ]
    assert 5.0 in constants
