"""Tests of the static formula checks, the formula namespace, families, links and prior keys."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from radonspec.study import formula as formula_module
from radonspec.study.family import FamilyError, check_family_link, family_params
from radonspec.study.formula import (
    ALLOWED_TRANSFORMS,
    MAX_DEPTH,
    MAX_LENGTH,
    FormulaError,
    FormulaInfo,
    check_formula,
    formula_namespace,
)
from radonspec.study.priorkeys import nest_priors, prior_keys

COLUMNS = ["y", "x", "z", "g", "h", "k", "floor", "county", "log_radon"]
ALLOWED_LIST = re.escape("allowed transforms are 'C', 'I', 'S', 'Sum', 'T', 'Treatment', 'abs'")

# (formula, message pattern, offset). Each would reach code, a module, a builtin or an
# attribute if formulae were given it: the check refuses all of them.
INJECTIONS = [
    ('y ~ os.system("touch CANARY")', r"^'os\.system': attribute access \('\.'\) is not", 6),
    ("y ~ os.system(x)", r"^'os\.system': attribute access", 6),
    ('y ~ __import__("os").system("touch CANARY")', r"^name '__import__' is not allowed", 4),
    ("y ~ I(__import__('os'))", r"^name '__import__' is not allowed: names that start with", 6),
    ("y ~ {open('CANARY','w')}", r"^string literals are not allowed in a formula", 10),
    ("y ~ {open(x)}", r"^'open' is not an allowed transform; " + ALLOWED_LIST, 5),
    ("y ~ x.__class__", r"^'x\.__class__': attribute access", 5),
    ('y ~ eval("1")', r"^string literals are not allowed", 9),
    ("y ~ eval(x)", r"^'eval' is not an allowed transform; allowed transforms are 'C'", 4),
    ('y ~ exec("import os")', r"^string literals are not allowed", 9),
    ("y ~ exec(x)", r"^'exec' is not an allowed transform", 4),
    ("y ~ getattr(x, 'a')", r"^string literals are not allowed", 15),
    ("y ~ getattr(x, x)", r"^'getattr' is not an allowed transform", 4),
    ("y ~ (lambda: 1)()", r"^'lambda' is a Python keyword and is not allowed in a formula", 5),
    ("y ~ x[0]", r"^subscripts \('\['\) are not allowed in a formula", 5),
    ("y ~ np.log(x)", r"^'np\.log': attribute access .*; write 'log\(\.\.\.\)'$", 6),
    ('y ~ I("a" + "b")', r"^string literals are not allowed", 6),
    ("y ~ C(x, levels=__import__('os'))", r"^name '__import__' is not allowed", 16),
    ("y ~ \u0435val(x)", r"^character 'е' \(U\+0435\) is not allowed: formulas are plain ASCII", 4),
    ("y ~ x + \uff4f\uff53(x)", r"^character 'ｏ' \(U\+FF4F\) is not allowed", 8),
    # backquotes quote a column's name: a name that is no column is refused (below: and
    # is never looked up anywhere but in the data)
    ("y ~ `os.system`", r"^unknown column 'os\.system' in formula", 4),
    ("y ~ `__import__('os')`", r"^name '__import__\('os'\)' is not allowed", 4),
    ("y ~ `x`(1)", r"^only allowed transforms can be called", 4),
    ("y ~ `os`.system(x)", r"^'\.' is only allowed inside a number", 8),
    ("y ~ log(`__builtins__`)", r"^name '__builtins__' is not allowed", 8),
    ("y ~ `x", r"^'`' is never closed", 4),
    ("y[`x`] ~ z", r"^subscripts \('\['\) are not allowed in a formula except on the response", 1),
    ("y ~ x[z]", r"^subscripts \('\['\) are not allowed in a formula except on the response", 5),
    ("y[x] ~ z[x]", r"^subscripts \('\['\) are not allowed", 8),
    ("y['a'] ~ I('a')", r"^string literals are not allowed", 11),
    ("log(y['a']) ~ z", r"^subscripts \('\['\) are not allowed", 4),
    ("y[0] ~ z", r"^subscripts \('\['\) are not allowed", 1),
    ("y[__class__] ~ z", r"^subscripts \('\['\) are not allowed", 1),
    ("y['a'+'b'] ~ z", r"^subscripts \('\['\) are not allowed", 1),
    ('y["os"].system ~ z', r"^'\.' is only allowed inside a number", 7),
    # dotted names are column names (R's Solar.R), never attribute chains
    ("y ~ os.path", r"^unknown column 'os\.path' in formula", 4),
    ("y ~ x.__class__.__mro__", r"^'x\.__class__\.__mro__': attribute access", 5),
    ("y ~ log(os.environ)", r"^unknown column 'os\.environ' in formula", 8),
    ("y ~ os.system (x)", r"^'os\.system': attribute access", 6),
    ("y ~ x.", r"^'x\.': attribute access", 5),
    ("y ~ __builtins__.eval(x)", r"^'__builtins__\.eval': attribute access", 16),
    ("y ~ _x", r"^name '_x' is not allowed", 4),
    ("y ~ x; import os", r"^character ';' is not allowed in a formula$", 5),
    ("y ~ x\nimport os", r"^a formula is one line: it has a line break", 5),
    ("y ~ x\r", r"^a formula is one line", 5),
    ("y ~ x\x00", r"^control character '\\x00' is not allowed", 5),
    ("y ~ x @ z", r"^character '@' is not allowed", 6),
    ("y ~ x + data", r"^unknown column 'data' in formula; columns are 'county'", 8),
    ("y ~ I(x * self)", r"^unknown column 'self' in formula", 10),
    ("y ~ sys(x)", r"^'sys' is not an allowed transform", 4),
    ("y ~ C(x, __class__=x)", r"^name '__class__' is not allowed", 9),
    ("y ~ log(x, out=x)", r"^log\(\) takes 1 argument\(s\) and no keywords, e.g\. log\(x\)$", 4),
    ("y ~ import(x)", r"^'import' is a Python keyword", 4),
    ("y ~ (x if x else z)", r"^'if' is a Python keyword", 7),
    ("y ~ x.real", r"^unknown column 'x\.real' in formula", 4),
    ("y ~ f'{x}'", r"^string literals are not allowed", 5),
    ("y ~ x # comment", r"^character '#' is not allowed", 6),
    ("y ~ x \\ z", r"^character '\\' is not allowed", 6),
    ("y ~ $x", r"^character '\$' is not allowed", 4),
    ("y ~ C(x)(x)", r"^only allowed transforms can be called, by their name, e\.g\. log\(x\)$", 4),
]

# Messages of radonspec's scanner: formulae's scanner and parser never see these formulas.
SCANNER_MESSAGES = (
    "attribute access",
    "is not allowed: names",
    "string literals",
    "character",
    "backquoted",
    "subscripts",
    "one line",
    "Python keyword",
)
REFUSED_BEFORE_FORMULAE = [
    case for case in INJECTIONS if any(text in case[1] for text in SCANNER_MESSAGES)
]


@pytest.mark.parametrize(("formula", "message", "offset"), INJECTIONS)
def test_injection_is_refused_without_side_effect(
    formula: str, message: str, offset: int, in_tmp: Path
) -> None:
    with pytest.raises(FormulaError, match=message) as caught:
        check_formula(formula, COLUMNS)
    assert caught.value.offset == offset
    assert caught.value.message == str(caught.value)
    assert list(in_tmp.iterdir()) == []  # no CANARY, nothing written


# Without the data's columns a keyword may still be a column's name ('yield'): these are
# then refused by the rules for calls and for the grammar instead.
WITHOUT_COLUMNS = {
    "y ~ (lambda: 1)()": r"^only allowed transforms can be called",
    "y ~ (x if x else z)": r"^cannot parse the formula: expected '\)' after expression, found 'if'",
}


@pytest.mark.parametrize(
    ("formula", "message", "offset"), [case for case in INJECTIONS if "column" not in case[1]]
)
def test_injection_is_refused_without_columns_too(formula: str, message: str, offset: int) -> None:
    with pytest.raises(FormulaError, match=WITHOUT_COLUMNS.get(formula, message)):
        check_formula(formula)


@pytest.mark.parametrize("formula", [case[0] for case in REFUSED_BEFORE_FORMULAE])
def test_scanner_refusals_never_reach_formulae(
    formula: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import formulae.parser
    import formulae.scanner

    def reached(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("formulae was given a refused formula")

    monkeypatch.setattr(formulae.scanner, "Scanner", reached)
    monkeypatch.setattr(formulae.parser, "Parser", reached)
    with pytest.raises(FormulaError):
        check_formula(formula, COLUMNS)


# (formula, message pattern, offset): mistakes a user makes.
MISTAKES = [
    (
        "log_radon ~ flor",
        r"^unknown column 'flor' in formula \(did you mean 'floor'\?\); columns are 'county',"
        r" 'floor', 'g', 'h', 'k', 'log_radon', 'x', 'y' or 'z'$",
        12,
    ),
    (
        "y ~ x + (1|countty)",
        r"^unknown column 'countty' in formula \(did you mean 'county'\?\)",
        11,
    ),
    ("y ~ log", r"^unknown column 'log' in formula \('log' is a transform: call it, e\.g\.", 4),
    ("y ~ sqr(x)", r"^'sqr' is not an allowed transform \(did you mean 'sqrt'\?\); allowed", 4),
    ("y ~ x(1)", r"^'x' is a column, not a transform; allowed transforms are 'C'", 4),
    (
        "y ~ bs(x, dff=4)",
        r"^wrong arguments for bs\(\): got an unexpected keyword argument 'dff' \(did you mean"
        r" 'df'\?\); it takes bs\(x, df=None, knots=None, degree=3",
        4,
    ),
    ("y ~ center(x, z)", r"^wrong arguments for center\(\): too many positional arguments", 4),
    ("y ~ C(g, a=1, a=2)", r"^C\(\) gets keyword 'a' twice$", 4),
    ("y ~ (x", r"^'\(' is never closed$", 4),
    ("y ~ x)", r"^unmatched '\)'$", 5),
    ("y ~ {x)", r"^'\)' does not match the '\{' it closes$", 6),
    ("y ~", r"^cannot parse the formula: expected a name, a number or '\(', found the end of", 3),
    ("y ~ x +", r"^cannot parse the formula: expected a name, .* found the end of the formula", 7),
    ("y ~ ()", r"^cannot parse the formula: expected a name, a number or '\(', found '\)'$", 5),
    ("y ~ C(x,)", r"^cannot parse the formula: expected a name, .*, found '\)'$", 8),
    ("~ x", r"^the formula has no response before '~'; write it as 'y ~ x'$", 0),
    ("x + z", r"^the formula has no response; write it as 'response ~ predictors'", 0),
    ("y ~ x ~ z", r"^more than one '~' in the formula; model another parameter", 6),
    ("y ~ x | g", r"^'\|' outside parentheses; write a group-specific term in parentheses", 6),
    ("y ~ x > 0", r"^comparison '>' is only allowed inside I\(\.\.\.\), e\.g\. I\(x > 0\)$", 6),
    ("y ~ x + (z == 1)", r"^comparison '==' is only allowed inside I\(", 9),
    ("y ~ x = 3", r"^'=' is only allowed for keyword arguments of a transform", 6),
    ("y ~ x + 2", r"^2 is not a term: only 1 \(intercept\) and 0 \(no intercept\) stand alone", 8),
    ("y ~ True", r"^True is not a term", 4),
    ("y ~ -x", r"^a sign only goes before 0 or 1 .*; to negate a column write I\(-x\)$", 4),
    ("y ~ (x + z)**z", r"^'\*\*' between terms takes a whole number, e\.g\. \(x \+ z\)\*\*2$", 13),
    ("y ~ x // z", r"^'//' is not an operator of the formula language", 6),
    ("y ~ 1.5.2", r"^'\.' is only allowed inside a number such as 0\.5$", 7),
    ("y ~ x + .", r"^'\.' is only allowed inside a number", 8),
    ("y ~ 2x", r"^number '2' runs into a name; put an operator between them", 4),
    ("y ~ C(x|g)", r"^'\|' is not allowed inside the arguments of C\(\); only arithmetic", 6),
    ("y ~ log(x:z)", r"^':' is not allowed inside the arguments of log\(\)", 8),
    ("y ~ I(y ~ x)", r"^more than one '~'", 8),
    ("(x|g) ~ z", r"^the response must be a column or a transform of columns", 0),
    ("", r"^formula is empty; write it as 'response ~ predictors'", 0),
    ("   ", r"^formula is empty", 0),
    ("y ~ " + "(" * (MAX_DEPTH + 1) + "x" + ")" * (MAX_DEPTH + 1), r"^parentheses are nested", 24),
    ("y ~ " + "-" * 900 + "1", r"^the formula is nested too deeply$", None),
    (
        "y ~ " + "x + " * 600 + "x",
        rf"^formula is 2405 characters long; the limit is {MAX_LENGTH}$",
        2000,
    ),
]


@pytest.mark.parametrize(("formula", "message", "offset"), MISTAKES)
def test_mistake_is_reported_with_offset(formula: str, message: str, offset: int | None) -> None:
    with pytest.raises(FormulaError, match=message) as caught:
        check_formula(formula, COLUMNS)
    if offset is not None:
        assert caught.value.offset == offset
    assert 0 <= caught.value.offset <= max(len(formula), MAX_LENGTH)


def test_non_string_formula_is_refused() -> None:
    with pytest.raises(FormulaError, match="^a formula is a string, not int$"):
        check_formula(3)  # type: ignore[arg-type]


# (formula, response, common terms, group terms, group factors, columns, transforms)
VALID = [
    ("log_radon ~ floor", "log_radon", ("Intercept", "floor"), (), (), "log_radon floor", ""),
    (
        "log_radon ~ 0 + county + county:floor",
        "log_radon",
        ("county", "county:floor"),
        (),
        (),
        "log_radon county floor",
        "",
    ),
    (
        "log_radon ~ floor + (floor | county)",
        "log_radon",
        ("Intercept", "floor"),
        ("1|county", "floor|county"),
        ("county",),
        "log_radon floor county",
        "",
    ),
    ("y ~ x + (1|g:h)", "y", ("Intercept", "x"), ("1|g:h",), ("g:h",), "y x g h", ""),
    ("y ~ (1|g) + (0 + x|h)", "y", ("Intercept",), ("1|g", "x|h"), ("g", "h"), "y g x h", ""),
    (
        "log(y) ~ center(x) + {x + 1} + bs(x, df=4)",
        "log(y)",
        ("Intercept", "center(x)", "I(x + 1)", "bs(x, df=4)"),
        (),
        (),
        "y x",
        "log center I bs",
    ),
    ("y ~ x + offset(z)", "y", ("Intercept", "x"), (), (), "y x z", "offset"),
    (
        "y ~ C(g, Sum) + C(h, Treatment(2))",
        "y",
        ("Intercept", "C(g, Sum)", "C(h, Treatment(2))"),
        (),
        (),
        "y g h",
        "C Treatment",
    ),
    (
        "y ~ I(x > 0) + I(-x) + I(x ** 2)",
        "y",
        ("Intercept", "I(x > 0)", "I(-x)", "I(x ** 2)"),
        (),
        (),
        "y x",
        "I",
    ),
    ("y ~ (x + z)**2 - 1", "y", ("x", "z", "x:z"), (), (), "y x z", ""),
    (
        "y ~ sqrt(k) + log1p(k) + abs(x)",
        "y",
        ("Intercept", "sqrt(k)", "log1p(k)", "abs(x)"),
        (),
        (),
        "y k x",
        "sqrt log1p abs",
    ),
    ("y~x+z", "y", ("Intercept", "x", "z"), (), (), "y x z", ""),
    ("\ty ~ x\t", "y", ("Intercept", "x"), (), (), "y x", ""),
    (
        "y ~ poly(x, degree=2, raw=True)",
        "y",
        ("Intercept", "poly(x, degree=2, raw=True)"),
        (),
        (),
        "y x",
        "poly",
    ),
]


@pytest.mark.parametrize(
    ("formula", "response", "common", "group", "factors", "columns", "transforms"), VALID
)
def test_valid_formula_is_described(
    formula: str,
    response: str,
    common: tuple[str, ...],
    group: tuple[str, ...],
    factors: tuple[str, ...],
    columns: str,
    transforms: str,
) -> None:
    info = check_formula(formula, COLUMNS)
    assert info == FormulaInfo(
        formula=formula,
        response=response,
        target=None,
        columns=frozenset(columns.split()),
        common_terms=common,
        group_terms=group,
        group_factors=factors,
        transforms=frozenset(transforms.split()),
        offsets=tuple(t for t in formula.replace(" ", "").split("+") if t.startswith("offset(")),
    )
    assert check_formula(formula) == info  # the same without the columns


def test_number_times_term_is_refused() -> None:
    with pytest.raises(FormulaError, match=r"^0\.5 is not a term") as caught:
        check_formula("y ~ 0.5 * 0 + x", COLUMNS)
    assert caught.value.offset == 4


def test_without_columns_names_are_not_checked_but_calls_are() -> None:
    assert check_formula("a ~ b + (1|c)").columns == {"a", "b", "c"}
    with pytest.raises(FormulaError, match="'system' is not an allowed transform"):
        check_formula("a ~ system(b)")


def test_distributional_formula() -> None:
    info = check_formula("sigma ~ x + (1|g)", COLUMNS, main=False, family="gaussian")
    assert info.response is None
    assert info.target == "sigma"
    assert info.columns == {"x", "g"}
    assert info.common_terms == ("Intercept", "x")
    assert info.group_terms == ("1|g",)


@pytest.mark.parametrize(
    ("formula", "family", "message"),
    [
        (
            "sigm ~ x",
            "gaussian",
            r"^'sigm' is not an auxiliary parameter of family 'gaussian' \(did"
            r" you mean 'sigma'\?\); a distributional formula models 'sigma'$",
        ),
        ("mu ~ x", "gaussian", r"^'mu' is not an auxiliary parameter of family 'gaussian'"),
        ("sigma ~ x", "poisson", r"^family 'poisson' has no auxiliary parameter to model"),
        ("threshold ~ x", "cumulative", r"^family 'cumulative' takes one formula only"),
        ("log(sigma) ~ x", "gaussian", r"^the left side of a distributional formula is the name"),
        ("x + z", "gaussian", r"^a distributional formula names the parameter it models"),
    ],
)
def test_distributional_target_is_checked(formula: str, family: str, message: str) -> None:
    with pytest.raises(FormulaError, match=message):
        check_formula(formula, COLUMNS, main=False, family=family)


def test_distributional_target_of_unknown_family_is_left_to_family_check() -> None:
    assert check_formula("sigma ~ x", COLUMNS, main=False, family="gausian").target == "sigma"


def test_formulae_reading_differently_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import formulae.scanner
    from formulae.token import Token

    class Other:
        def __init__(self, code: str) -> None:
            pass

        def scan(self, add_intercept: bool = True) -> list[Any]:
            return [Token("IDENTIFIER", "y"), Token("EOF", "")]

    monkeypatch.setattr(formulae.scanner, "Scanner", Other)
    with pytest.raises(FormulaError, match="^formulae reads this formula differently"):
        check_formula("y ~ x", COLUMNS)


# Namespace ---------------------------------------------------------------------------


def test_namespace_is_a_fresh_copy_of_the_allow_list() -> None:
    first = formula_namespace()
    first["os"] = object()
    assert formula_namespace() == dict(ALLOWED_TRANSFORMS.items())
    assert "os" not in formula_namespace()
    required = "C I log log2 log10 log1p exp sqrt abs center scale standardize bs offset poly p"
    assert set(required.split()) <= set(ALLOWED_TRANSFORMS)
    assert all(callable(function) for function in formula_namespace().values())
    assert ALLOWED_TRANSFORMS["sqrt"] is np.sqrt
    with pytest.raises(KeyError):
        ALLOWED_TRANSFORMS["eval"]


def test_allowed_transforms_are_what_formulae_calls() -> None:
    """Each name maps to the object formulae's lookup finds first when Bambi builds a model.

    formulae looks a called name up in its own transforms, then in the locals of
    ``bambi.Model.__init__``, then in ``bambi.models``' globals, then in the extra
    namespace; a name found earlier than the extra namespace would shadow ours.
    """
    import bambi.models
    from formulae.categorical import ENCODINGS
    from formulae.transforms import TRANSFORMS

    formulae_own = {**TRANSFORMS, **ENCODINGS}
    shadowing = set(vars(bambi.models)) | set(bambi.models.Model.__init__.__code__.co_varnames)
    for name, function in ALLOWED_TRANSFORMS.items():
        if name in formulae_own:
            assert function is formulae_own[name], name
        else:
            assert name not in shadowing, name


def test_bambi_evaluates_with_the_namespace(toy: pd.DataFrame) -> None:
    import bambi as bmb

    model = bmb.Model("y ~ sqrt(k) + log1p(k)", toy, extra_namespace=formula_namespace())
    common = model.parameters["mu"].design.common
    np.testing.assert_allclose(common["sqrt(k)"].ravel(), np.sqrt(toy["k"]))
    np.testing.assert_allclose(common["log1p(k)"].ravel(), np.log1p(toy["k"]))


# Agreement with Bambi ------------------------------------------------------------------


@pytest.fixture(scope="module")
def toy() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 30
    return pd.DataFrame(
        {
            "y": rng.normal(size=n),
            "x": rng.normal(size=n),
            "z": rng.normal(size=n),
            "g": pd.Categorical(np.tile(["a", "b", "c"], n // 3)),
            "h": pd.Categorical(np.tile(["u", "v"], n // 2)),
            "k": rng.integers(1, 9, n),
            "o": pd.Categorical(np.tile(["lo", "mid", "hi"], n // 3), ["lo", "mid", "hi"], True),
            # names Bambi accepts: a Python keyword, R's dotted names, others in backquotes
            "yield": rng.normal(size=n),
            "Solar.R": rng.uniform(1, 300, n),
            "my g": pd.Categorical(np.tile(["p", "q", "r"], n // 3)),
            "2010": rng.normal(size=n),
        }
    )


AGREEMENT = [
    "y ~ x",
    "y ~ 0 + g + g:x",
    "y ~ x + (x|g)",
    "y ~ (1|g)",
    "y ~ x + (1|g) + (1|h)",
    "y ~ C(x)",
    "y ~ center(x) + scale(z)",
    "y ~ x*z",
    "y ~ 1",
    "y ~ 0 + x",
    "y ~ x + (0 + x|g)",
    "y ~ x + (1|g:h)",
    "y ~ x + (1|g/h)",
    "y ~ g/x",
    "y ~ {x + 1} + standardize(z) + offset(k)",
    "y ~ (x + z|g)",
    "log(k) ~ C(h) + bs(x, df=3)",
    "yield ~ Solar.R + x",
    "`yield` ~ log(Solar.R) + `2010` + (1|`my g`)",
    "y ~ `Solar.R`:x + (Solar.R|`my g`)",
]


def _prior(key: str, group: bool) -> Any:
    import bambi as bmb

    if group:
        return bmb.Prior("Normal", mu=0, sigma=bmb.Prior("HalfNormal", sigma=1))
    if key in {"sigma", "threshold"}:
        return bmb.Prior("HalfNormal", sigma=1)
    return bmb.Prior("Normal", mu=0, sigma=1)


def _build(formulas: list[str], data: pd.DataFrame, keys: frozenset[str], family: str) -> Any:
    """Build a Bambi model with a prior on every key, Bambi refusing unused prior names."""
    import bambi as bmb

    infos = [check_formula(f, list(data.columns), main=i == 0) for i, f in enumerate(formulas)]
    priors = {key: _prior(key, "|" in key or key == "group_specific") for key in keys}
    previous = bmb.config["UNUSED_PRIORS"]
    bmb.config["UNUSED_PRIORS"] = "error"
    try:
        return bmb.Model(
            bmb.Formula(*formulas),
            data,
            family=family,
            priors=nest_priors(priors, infos),
            extra_namespace=formula_namespace(),
        )
    finally:
        bmb.config["UNUSED_PRIORS"] = previous


@pytest.mark.parametrize("formula", AGREEMENT)
def test_term_names_agree_with_bambi(formula: str, toy: pd.DataFrame) -> None:
    info = check_formula(formula, list(toy.columns))
    keys = prior_keys([info], "gaussian")
    model = _build([formula], toy, keys, "gaussian")
    mu = model.parameters["mu"]
    offsets = {name for name in mu.terms if name.startswith("offset(")}
    assert set(info.common_terms) | set(info.group_terms) == set(mu.terms) - offsets
    assert set(info.group_terms) == set(mu.group_specific_terms)
    assert keys == set(mu.terms) - offsets | {"common", "group_specific", "sigma"}
    assert info.response == model.response_term.name


def test_distributional_prior_keys_agree_with_bambi(toy: pd.DataFrame) -> None:
    formulas = ["y ~ x + (1|g)", "sigma ~ z + (1|h)"]
    infos = [check_formula(formulas[0], COLUMNS), check_formula(formulas[1], COLUMNS, main=False)]
    keys = prior_keys(infos, "gaussian")
    assert keys == {
        "Intercept",
        "x",
        "1|g",
        "common",
        "group_specific",
        "sigma_Intercept",
        "sigma_z",
        "sigma_1|h",
    }
    model = _build(formulas, toy, keys, "gaussian")
    sigma = model.parameters["sigma"]
    assert {f"sigma_{name}" for name in sigma.terms} == {k for k in keys if k.startswith("sigma_")}
    assert str(sigma.terms["z"].prior) == "Normal(mu: 0.0, sigma: 1.0)"


def test_t_family_keeps_unmodelled_auxiliary_parameters() -> None:
    infos = [check_formula("y ~ x", COLUMNS), check_formula("nu ~ z", COLUMNS, main=False)]
    keys = prior_keys(infos, "t")
    assert {"sigma", "nu_Intercept", "nu_z"} <= keys
    assert "nu" not in keys


def test_ordinal_family_has_no_intercept_key(toy: pd.DataFrame) -> None:
    info = check_formula("o ~ x + (1|g)", list(toy.columns))
    keys = prior_keys([info], "cumulative")
    assert keys == {"x", "1|g", "common", "group_specific", "threshold"}
    with pytest.warns(UserWarning, match="^The intercept is omitted in ordinal families$"):
        model = _build(["o ~ x + (1|g)"], toy, keys - {"threshold"}, "cumulative")
    assert set(model.parameters["p"].terms) == {"x", "1|g"}


def test_categorical_interaction_without_main_effect_is_a_known_gap(toy: pd.DataFrame) -> None:
    """formulae adds 'h' to 'g:h' when the data make both categorical; no static check can."""
    import bambi as bmb

    info = check_formula("y ~ x + g:h", COLUMNS)
    model = bmb.Model("y ~ x + g:h", toy, extra_namespace=formula_namespace())
    assert set(model.parameters["mu"].terms) - set(info.common_terms) == {"h"}


def test_nest_priors() -> None:
    infos = [
        check_formula("y ~ x + sigma_z", ["y", "x", "z", "sigma_z"]),
        check_formula("sigma ~ z", ["y", "x", "z", "sigma_z"], main=False),
    ]
    nested = nest_priors({"x": 1, "sigma_z": 2, "sigma_Intercept": 3, "common": 4}, infos)
    # 'sigma_z' names a column of the main formula first
    assert nested == {"x": 1, "sigma_z": 2, "sigma": {"Intercept": 3}, "common": 4}


# Families and links --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("family", "expected"),
    [
        ("gaussian", ("mu", ("sigma",))),
        ("bernoulli", ("p", ())),
        ("t", ("mu", ("sigma", "nu"))),
        ("cumulative", ("p", ("threshold",))),
        ("zero_inflated_poisson", ("mu", ("psi",))),
    ],
)
def test_family_params(family: str, expected: tuple[str, tuple[str, ...]]) -> None:
    assert family_params(family) == expected


@pytest.mark.parametrize(
    ("family", "link"),
    [
        ("gaussian", None),
        ("gaussian", "log"),
        ("gaussian", {"mu": "identity", "sigma": "log"}),
        ("bernoulli", "probit"),
        ("poisson", {"mu": "identity"}),
        ("negativebinomial", "cloglog"),
    ],
)
def test_family_and_link_accepted(family: str, link: Any) -> None:
    check_family_link(family, link)


@pytest.mark.parametrize(
    ("family", "link", "field", "message"),
    [
        (
            "gausian",
            None,
            "family",
            r"^unknown family 'gausian' \(did you mean 'gaussian'\?\);"
            r" families are 'asymmetriclaplace', 'bernoulli', ",
        ),
        ("foo", "identity", "family", r"^unknown family 'foo'; families are "),
        (
            "gaussian",
            "logit",
            "link",
            r"^link 'logit' cannot be used for 'mu' of family"
            r" 'gaussian' \(did you mean 'log'\?\); links for 'mu' are 'identity', 'inverse' or"
            r" 'log'$",
        ),
        (
            "gaussian",
            {"sigm": "log"},
            "link",
            r"^link names 'sigm', which is not a parameter of"
            r" family 'gaussian' \(did you mean 'sigma'\?\); its parameters are 'mu' or 'sigma'$",
        ),
        (
            "gaussian",
            {"sigma": "identity"},
            "link",
            r"^link 'identity' cannot be used for 'sigma'"
            r" of family 'gaussian'; links for 'sigma' are 'log'$",
        ),
        ("poisson", "logit", "link", r"^link 'logit' cannot be used for 'mu' of family 'poisson'"),
        ("bernoulli", "softmax", "link", r"links for 'p' are 'cloglog', 'identity', 'logit' or"),
    ],
)
def test_family_and_link_refused(family: str, link: Any, field: str, message: str) -> None:
    with pytest.raises(FamilyError, match=message) as caught:
        check_family_link(family, link)
    assert caught.value.field == field
    assert isinstance(caught.value, ValueError)


def test_module_has_no_eval() -> None:
    source = Path(formula_module.__file__).read_text()
    assert not re.search(r"\b(eval|exec|compile)\(", source)


# Column names: keywords, dotted names and backquotes ----------------------------------

NAMED = ["y", "x", "g", "yield", "class", "Solar.R", "my col", "2010", "None", "a-b", "it's"]


@pytest.mark.parametrize(
    ("formula", "columns", "terms"),
    [
        ("yield ~ x", {"yield", "x"}, ("Intercept", "x")),
        ("y ~ class + yield", {"y", "class", "yield"}, ("Intercept", "class", "yield")),
        ("y ~ Solar.R + log(Solar.R)", {"y", "Solar.R"}, ("Intercept", "Solar.R", "log(Solar.R)")),
        ("`yield` ~ `Solar.R`", {"yield", "Solar.R"}, ("Intercept", "Solar.R")),
        ("y ~ `my col` + `2010`", {"y", "my col", "2010"}, ("Intercept", "my col", "2010")),
        (
            "y ~ `None` + `a-b` + `it's`",
            {"y", "None", "a-b", "it's"},
            ("Intercept", "None", "a-b", "it's"),
        ),
        ("y ~ (1|`my col`)", {"y", "my col"}, ("Intercept",)),
    ],
)
def test_column_names_bambi_accepts(
    formula: str, columns: set[str], terms: tuple[str, ...]
) -> None:
    info = check_formula(formula, NAMED)
    assert info.columns == columns
    assert info.common_terms == terms
    check_formula(formula)  # and before the columns are known


@pytest.mark.parametrize(
    ("formula", "message", "offset"),
    [
        (
            "y ~ my col",
            r"^column 'my col' must be written in backquotes in a formula: `my col`$",
            4,
        ),
        ("y ~ 2010 + x", r"^column '2010' must be written in backquotes in a formula: `2010`$", 4),
        ("y ~ None", r"^column 'None' must be written in backquotes", 4),
        ("y ~ x + a-b", r"^column 'a-b' must be written in backquotes", 8),
        (
            "y ~ lambda",
            r"^'lambda' is a Python keyword and is not allowed in a formula: it is not a column",
            4,
        ),
        (
            "y ~ yield(x)",
            r"^'yield' is a Python keyword and is not allowed in a formula: it is not a transform",
            4,
        ),
        ("y ~ Solar.R(x)", r"^'Solar\.R': attribute access", 9),
        ("y ~ `Solar R`", r"^unknown column 'Solar R' in formula \(did you mean 'Solar\.R'\?\)", 4),
    ],
)
def test_a_column_name_that_cannot_stand_bare_says_how_to_quote_it(
    formula: str, message: str, offset: int
) -> None:
    with pytest.raises(FormulaError, match=message) as caught:
        check_formula(formula, NAMED)
    assert caught.value.offset == offset


@pytest.mark.parametrize(
    ("formula", "level"),
    [("y[Y] ~ x", "Y"), ("y['Y es'] ~ x", "Y es"), ('y[ "a, b" ] ~ x', "a, b"), ("y ~ x", None)],
)
def test_the_response_may_name_its_event(formula: str, level: str | None) -> None:
    info = check_formula(formula, COLUMNS)
    assert (info.response, info.response_level) == ("y", level)


def test_backquoted_names_reach_bambi_as_columns(toy: pd.DataFrame) -> None:
    import bambi as bmb

    model = bmb.Model("`yield` ~ Solar.R + (1|`my g`)", toy, extra_namespace=formula_namespace())
    common = model.parameters["mu"].design.common
    np.testing.assert_allclose(common["Solar.R"].ravel(), toy["Solar.R"])
    assert model.response_term.name == "yield"
    assert set(model.parameters["mu"].group_specific_terms) == {"1|my g"}


def test_two_names_side_by_side_suggest_one_column_in_backquotes() -> None:
    """`Solar R` written bare, before the data's columns are known (the spec's own check)."""
    with pytest.raises(FormulaError) as caught:
        check_formula("Ozone ~ Solar R + Wind")
    assert caught.value.message == (
        "unexpected 'R' after a complete formula; if 'Solar R' is one column, write it in"
        " backquotes: `Solar R`"
    )
    assert caught.value.offset == len("Ozone ~ Solar ")


def test_a_response_written_as_a_call_is_split_at_its_top_level_commas() -> None:
    from radonspec.study.formula import response_call

    assert response_call("p(incidence, size)") == ("p", ("incidence", "size"))
    assert response_call("censored(log(t), status)") == ("censored", ("log(t)", "status"))
    assert response_call("censored(lo, f(a, b), st)") == ("censored", ("lo", "f(a, b)", "st"))
    assert response_call("log_radon") is None and response_call(None) is None
    assert response_call("use[Y]") is None
