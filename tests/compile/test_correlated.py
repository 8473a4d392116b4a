"""Correlated group-specific effects: the spec, lme4's ``||``, the built PyMC model, REML.

Nothing here samples: the model's joint density is checked exactly against scipy's
multivariate normal at given values, its non-centered coefficients against numpy, and
Bambi's predictions for new groups against the draws they must come from. Real fits
are in ``tests/integration/test_correlated_fits.py``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import stats

from radonspec.analysis.frequentist import mixedlm_table
from radonspec.analysis.groups import correlations, effect_structure, random_effects
from radonspec.compile import correlated
from radonspec.compile.model import Compiled, compile_model, priors_table
from radonspec.errors import CompileError, SpecError
from radonspec.fit import runner
from radonspec.fit.runner import plan_fit, study_frame
from radonspec.study.correlated import eta_of
from radonspec.study.diff import diff_models
from radonspec.study.formula import FormulaError, check_formula, expand_double_bars
from radonspec.study.loader import load_study, load_study_text
from radonspec.study.priors import PriorSyntaxError, parse_prior

ROOT = Path(__file__).resolve().parents[2]
LME4 = ROOT / "tests" / "fixtures" / "lme4"
SEED_SPEC = ROOT / "specs" / "radon" / "seed.yaml"
#: plan_fit's keys of the seed study's group models (same fixed versions as
#: tests/fit/test_thin.py): `correlated: []` or `false` must not change them. They changed
#: once on purpose since `correlated` was added, when nutpie fits went without fast math
#: (radonspec.fit.numerics; before: 9b95abb4... and ca1a1401...).
PINNED_KEYS = {
    "hierarchical": "9bb1d1076bae7d35fde91c59f6f04b7992055d3fb986e0cd39f4a2187242937d",
    "hierarchical_nc": "9ec3b843b2f7d3f4831c09daa7a6b09eb235038ee27b228051415d0920ab4917",
}
FIXED_VERSIONS = {"radonspec": "0.1.0", "bambi": "0.21.0"}

pytestmark = [
    pytest.mark.filterwarnings("ignore::FutureWarning"),  # Bambi's deprecations
    # compiling the covariance's product outside the sampler; speed is irrelevant here
    pytest.mark.filterwarnings("ignore:PyTensor could not link to a BLAS:UserWarning"),
]


def groups_data(seed: int = 3, groups: int = 6, rows: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat([f"g{i}" for i in range(groups)], rows)
    x = rng.normal(size=groups * rows)
    z = rng.choice(["a", "b", "c"], size=groups * rows)
    return pd.DataFrame({"y": rng.normal(size=groups * rows) + x, "x": x, "z": z, "g": g})


@pytest.fixture
def study_of(write_spec: Callable[..., Path]) -> Callable[[str], Path]:
    """A study on a small grouped data set, with ``models`` given as YAML text."""

    def make(models: str) -> Path:
        path = write_spec(
            "spec_version: 1\nname: cor\n"
            "data: {path: data.csv, categorical: [g, z]}\n"
            "models:\n" + models
        )
        groups_data().to_csv(path.parent / "data.csv", index=False)
        return path

    return make


def compiled(path: Path, name: str) -> Compiled:
    study = load_study(path)
    return compile_model(study, name, study_frame(study, [name]))


def spec_error(path: Path) -> SpecError:
    with pytest.raises(SpecError) as caught:
        load_study(path)
    return caught.value


# -- lme4's (x || g) --------------------------------------------------------------------


def test_double_bar_reads_as_bambis_independent_terms() -> None:
    double = check_formula("y ~ x + (x || g)")
    single = check_formula("y ~ x + (x | g)")
    assert double.group_terms == single.group_terms == ("1|g", "x|g")
    assert double.independent_factors == ("g",)
    assert single.independent_factors == ()
    assert double.formula == "y ~ x + (x || g)"  # the text the user wrote
    assert expand_double_bars("y ~ (x||g) + (1|h)") == "y ~ (x| g) + (1|h)"


@pytest.mark.parametrize(
    ("formula", "independent"),
    [
        ("y ~ x + (x|g) + (1||h)", ("h",)),
        ("y ~ (x||a/b)", ("a", "a:b")),
        ("y ~ (x || a:b) + (1|c)", ("a:b",)),
        ("y ~ x + (0 + x||g)", ("g",)),
    ],
)
def test_double_bar_factors_are_named_as_formulae_names_them(
    formula: str, independent: tuple[str, ...]
) -> None:
    assert check_formula(formula).independent_factors == independent


def test_report_lists_the_columns_of_a_double_bar_formula() -> None:
    from radonspec.analysis.results import _formula_columns

    assert _formula_columns("y ~ x + (x || g)") == {"y", "x", "g"}


def test_errors_after_a_double_bar_point_into_the_text_as_written() -> None:
    with pytest.raises(FormulaError, match="unknown column 'w'") as caught:
        check_formula("y ~ (x || g) + w", ["y", "x", "g"])
    assert caught.value.offset == 15
    with pytest.raises(FormulaError, match="cannot parse the formula") as caught:
        check_formula("y ~ (x ||| g)")
    assert caught.value.offset == 9
    with pytest.raises(FormulaError, match="'|' is not allowed inside the arguments of I"):
        check_formula("y ~ I(x || g)")


# -- the spec ---------------------------------------------------------------------------


def test_correlated_field_takes_a_list_true_or_false(study_of: Callable[[str], Path]) -> None:
    study = load_study(
        study_of(
            "  a: {formula: y ~ x + (x|g), correlated: [g]}\n"
            "  b: {formula: y ~ x + (x|g), correlated: true}\n"
            "  c: {formula: y ~ x + (x|g), correlated: false}\n"
            "  d: {formula: y ~ x + (x|g)}\n"
        )
    )
    assert [study.models[m].correlated for m in "abcd"] == [("g",), True, (), ()]


@pytest.mark.parametrize(
    ("models", "where", "message"),
    [
        (
            "  m: {formula: y ~ x + (x|g), correlated: [h]}\n",
            ":5:44:",
            "correlated names 'h', which is not a grouping factor of the main formula"
            " 'y ~ x \\+ \\(x\\|g\\)'; its grouping factors are 'g'",
        ),
        (
            "  m: {formula: y ~ x + (x|g), correlated: [gg]}\n",
            ":5:44:",
            "'gg', which is not a grouping factor .* \\(did you mean 'g'\\?\\)",
        ),
        (
            "  m: {formula: y ~ x + (x||g), correlated: [g]}\n",
            ":5:45:",
            "'g' is in correlated, but the formula writes its effects with '\\|\\|', which"
            " means independent \\(as in lme4\\); write '\\|' to correlate them",
        ),
        (
            "  m: {formula: y ~ x, correlated: true}\n",
            ":5:35:",
            "correlated is true, but the main formula has no group-specific term",
        ),
        (
            "  m: {formula: y ~ x + (x||g), correlated: true}\n",
            ":5:44:",
            "writes every group-specific term with '\\|\\|' \\(independent\\)",
        ),
        (
            "  m: {formula: y ~ x + (x|g), correlated: [g, g]}\n",
            ":5:43:",
            "models.m.correlated: 'g' is listed twice in correlated; list it once",
        ),
        (
            "  m: {formula: y ~ x + (x|g), correlated: [1]}\n",
            ":5:43:",
            "models.m.correlated: item 0 of correlated is 1; list grouping factors by name",
        ),
    ],
)
def test_correlated_errors_are_located(
    study_of: Callable[[str], Path], models: str, where: str, message: str
) -> None:
    error = spec_error(study_of(models))
    assert where in str(error), str(error)
    prefix = "" if message.startswith("models.m") else "model 'm': "
    assert re.search(f"{where} {prefix}.*{message}", str(error)), str(error)


@pytest.mark.parametrize(
    ("prior", "message"),
    [
        (
            "'cor|g': LKJCorr(eta=3)",
            None,
        ),
        (
            "'cor|gg': LKJCorr(eta=3)",
            "prior 'cor\\|gg' names no term .*did you mean 'cor\\|g'",
        ),
        (
            "'cor|g': 'Normal(0, 1)'",
            "prior 'cor\\|g' is Normal; the correlation of a factor's effects takes LKJCorr,"
            " e.g. 'cor\\|g': LKJCorr\\(eta=2\\)",
        ),
        (
            "'1|g': LKJCorr(eta=2)",
            "prior '1\\|g' is LKJCorr; LKJCorr is only for the correlation of correlated effects",
        ),
    ],
)
def test_correlation_prior_key(
    study_of: Callable[[str], Path], prior: str, message: str | None
) -> None:
    path = study_of(
        f"  m:\n    formula: y ~ x + (x|g)\n    correlated: [g]\n    priors: {{{prior}}}\n"
    )
    if message is None:
        study = load_study(path)
        assert eta_of(study.models["m"], "g") == 3.0
        return
    error = spec_error(path)
    assert ":8:14:" in str(error), str(error)
    assert re.search(message, str(error)), str(error)


def test_correlation_prior_on_independent_effects_says_how_to_correlate_them(
    study_of: Callable[[str], Path],
) -> None:
    error = spec_error(
        study_of("  m:\n    formula: y ~ x + (x|g)\n    priors: {'cor|g': LKJCorr(eta=2)}\n")
    )
    assert "prior 'cor|g' is the correlation of the effects of 'g', which are independent;" in (
        str(error)
    )
    assert "add 'g' to correlated, e.g. correlated: [g]" in str(error)


@pytest.mark.parametrize(
    ("text", "message", "offset"),
    [
        ("LKJCorr(0)", "LKJCorr parameter 'eta' must be positive (> 0), got 0", 8),
        ("LKJCorr(eta=2, n=3)", "unknown parameter 'n' for LKJCorr; expected 'eta'", 15),
        ("LKJCorr(HalfNormal(1))", "LKJCorr's 'eta' is one number, e.g. LKJCorr(eta=2)", 8),
        ("Normal(0, LKJCorr(2))", "LKJCorr is the prior of a correlation matrix", 10),
    ],
)
def test_lkj_prior_grammar(text: str, message: str, offset: int) -> None:
    with pytest.raises(PriorSyntaxError) as caught:
        parse_prior(text)
    assert caught.value.message.startswith(message)
    assert caught.value.offset == offset
    assert str(parse_prior("LKJCorr(4)")) == "LKJCorr(eta=4)"


def _seed_key(monkeypatch: pytest.MonkeyPatch, name: str, extra: str = "") -> str:
    monkeypatch.setattr(runner, "versions", lambda backend: FIXED_VERSIONS | {"backend": backend})
    text = SEED_SPEC.read_text()
    if extra:
        text = text.replace("    noncentered: false\n", f"    noncentered: false\n{extra}", 1)
        assert extra in text
    study = load_study_text(text, SEED_SPEC)
    return plan_fit(study, name, study_frame(study, [name])).key


def test_keys_of_specs_without_correlated_are_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, key in PINNED_KEYS.items():
        assert _seed_key(monkeypatch, name) == key
        assert _seed_key(monkeypatch, name, "    correlated: []\n") == key
        assert _seed_key(monkeypatch, name, "    correlated: false\n") == key
    assert _seed_key(monkeypatch, "hierarchical", "    correlated: [county]\n") not in (
        PINNED_KEYS.values()
    )


def test_diff_says_which_model_correlates(study_of: Callable[[str], Path]) -> None:
    study = load_study(
        study_of(
            "  a: {formula: y ~ x + (x|g)}\n"
            "  b: {formula: y ~ x + (x|g), correlated: [g], priors: {'cor|g': LKJCorr(4)}}\n"
            "  c: {formula: y ~ x + (x||g)}\n"
        )
    )
    a, b, c = (study.models[m] for m in "abc")
    assert [str(d) for d in diff_models(a, b)] == [
        "group: correlates the group-specific effects of 'g' (drawn jointly, LKJ prior with"
        " eta 4) instead of drawing them independently",
        "prior: gives 'cor|g' the prior LKJCorr(eta=4) (was LKJCorr(eta=2))",
    ]
    assert [str(d) for d in diff_models(b, a)][0] == (
        "group: draws the group-specific effects of 'g' independently instead of correlated"
    )
    # (x || g) is Bambi's (x | g): the same terms, nothing about correlation
    assert [d.kind for d in diff_models(a, c)] == ["formula"]


# -- the built model --------------------------------------------------------------------


MODELS = (
    "  independent: {formula: y ~ x + (x|g)}\n"
    "  nc: {formula: y ~ x + (x|g), correlated: [g]}\n"
    "  centered: {formula: y ~ x + (x|g), correlated: true, noncentered: false}\n"
    "  vector: {formula: y ~ x + (x + z|g), correlated: [g], noncentered: false}\n"
    "  vector_nc: {formula: y ~ x + (x + z|g), correlated: [g]}\n"
    "  double: {formula: y ~ x + (x||g)}\n"
)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("correlated")
    path = folder / "study.yaml"
    path.write_text(
        "spec_version: 1\nname: cor\ndata: {path: data.csv, categorical: [g, z]}\n"
        "models:\n" + MODELS
    )
    groups_data().to_csv(folder / "data.csv", index=False)
    study = load_study(path)
    frame = study_frame(study, list(study.models))
    built = {}
    for name in study.models:
        model = compile_model(study, name, frame).model
        model.build()
        built[name] = model
    return built


def _dims(model: Any) -> dict[str, tuple[str, ...]]:
    pm_model = model.backend.model
    return {name: tuple(dims) for name, dims in pm_model.named_vars_to_dims.items()}


def test_group_terms_keep_bambis_names_dims_and_priors(models: dict[str, Any]) -> None:
    independent, nc, centered = models["independent"], models["nc"], models["centered"]
    base = _dims(independent)
    for model in (nc, centered):
        dims = _dims(model)
        for name in ("1|g", "x|g"):
            assert dims[name] == base[name] == ("g__factor_dim",)
            assert f"{name}_sigma" in model.backend.model.named_vars
        assert dims["cor|g"] == ("cor|g__pair_dim",)
        assert list(model.backend.model.coords["cor|g__pair_dim"]) == ["1, x"]
    free = {v.name for v in nc.backend.model.free_RVs}
    assert free == {v.name for v in independent.backend.model.free_RVs} | {"cor|g_cholesky"}
    assert {"1|g", "x|g"} <= {v.name for v in centered.backend.model.free_RVs}
    # the scale keeps the prior Bambi gives it
    sigma = nc.backend.model["x|g_sigma"].owner.op
    assert type(sigma).__name__ == type(independent.backend.model["x|g_sigma"].owner.op).__name__
    assert _dims(models["double"]) == base  # (x || g) builds Bambi's independent model


def _point(model: Any, rng: np.random.Generator) -> dict[str, Any]:
    """A random point of the model's value variables (transformed space)."""
    point = model.backend.model.initial_point()
    return {k: v + rng.normal(scale=0.3, size=np.shape(v)) for k, v in point.items()}


def _values(model: Any, point: dict[str, Any], names: list[str]) -> list[np.ndarray]:
    pm_model = model.backend.model
    # random variables as their values at the point, not as fresh draws
    outs = pm_model.replace_rvs_by_values([pm_model[n] for n in names])
    fn = pm_model.compile_fn(outs, inputs=pm_model.value_vars, on_unused_input="ignore")
    return fn(point)


def _joint(per_term: list[np.ndarray], sigmas: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Terms' (groups,) or (groups, e) arrays side by side, and each column's scale."""
    blocks = [a.reshape(len(a), -1) for a in per_term]
    scales = [np.broadcast_to(s, (b.shape[1],)) for s, b in zip(sigmas, blocks, strict=True)]
    return np.column_stack(blocks), np.concatenate(scales)


@pytest.mark.parametrize("name", ["centered", "vector"])
def test_centered_density_is_the_multivariate_normal(models: dict[str, Any], name: str) -> None:
    """log p(b_1..b_K | s, R) summed over groups equals scipy's MvNormal(0, S R S)."""
    model = models[name]
    pm_model = model.backend.model
    terms = [t for t in model.parameters["mu"].group_specific_terms if t.endswith("|g")]
    rng = np.random.default_rng(4)
    point = _point(model, rng)
    sigmas = _values(model, point, [f"{t}_sigma" for t in terms])
    chol, *coefs = _values(model, point, ["cor|g_cholesky", *terms])
    joint, scales = _joint(coefs, sigmas)  # groups x K, and K scales
    cov = np.diag(scales) @ chol @ chol.T @ np.diag(scales)
    expected = stats.multivariate_normal(np.zeros(len(cov)), cov).logpdf(joint).sum()
    logp = pm_model.compile_logp(vars=[pm_model[t] for t in terms], jacobian=False)
    assert logp(point) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("name", ["nc", "vector_nc"])
def test_noncentered_coefficients_are_offsets_times_the_cholesky_factor(
    models: dict[str, Any], name: str
) -> None:
    model = models[name]
    terms = [t for t in model.parameters["mu"].group_specific_terms if t.endswith("|g")]
    point = _point(model, np.random.default_rng(5))
    chol, correlation, *rest = _values(
        model,
        point,
        ["cor|g_cholesky", "cor|g"]
        + [f"{t}_offset" for t in terms]
        + [f"{t}_sigma" for t in terms]
        + terms,
    )
    offsets, sigmas, coefs = (
        rest[: len(terms)],
        rest[len(terms) : 2 * len(terms)],
        rest[-len(terms) :],
    )
    z, scales = _joint(offsets, sigmas)
    expected = z @ (np.diag(scales) @ chol).T
    got, _ = _joint(coefs, sigmas)
    np.testing.assert_allclose(got, expected, rtol=1e-10)
    r = chol @ chol.T
    np.testing.assert_allclose(correlation, r[np.triu_indices(len(r), 1)], rtol=1e-12)
    np.testing.assert_allclose(np.diag(r), 1.0, rtol=1e-12)


def test_prior_draws_have_the_lkj_correlation(models: dict[str, Any]) -> None:
    """LKJ(eta) on a 2 x 2 correlation: (r + 1) / 2 ~ Beta(eta, eta)."""
    import pymc as pm

    draws = pm.draw(models["nc"].backend.model["cor|g"], draws=4000, random_seed=1)
    result = stats.kstest((draws.ravel() + 1) / 2, stats.beta(2, 2).cdf)
    assert result.pvalue > 0.001


def test_non_normal_priors_and_single_coefficients_are_refused(
    study_of: Callable[[str], Path],
) -> None:
    path = study_of(
        # centered: a non-centered StudentT is refused when the spec loads (study.noncentered)
        "  t:\n    formula: y ~ x + (x|g)\n    correlated: [g]\n    noncentered: false\n"
        "    priors: {'x|g': 'StudentT(nu=3, mu=0, sigma=HalfNormal(1))'}\n"
        "  one: {formula: y ~ x + (1|g), correlated: [g]}\n"
        "  all: {formula: y ~ x + (1|g), correlated: true}\n"
    )
    with pytest.raises(CompileError) as caught:
        compiled(path, "t")
    assert "study.yaml:7:17: model 't': the prior of 'x|g' is StudentT(" in str(caught.value)
    assert "it must be Normal(0, sigma=<a prior on the SD>)" in str(caught.value)
    with pytest.raises(CompileError, match="'g' in correlated has one group-specific coefficient"):
        compiled(path, "one")
    model = compiled(path, "all").model  # true skips a factor with nothing to correlate
    assert getattr(model, correlated.ATTRIBUTE, None) is None


def test_priors_table_lists_the_lkj_prior(study_of: Callable[[str], Path]) -> None:
    path = study_of(
        "  a: {formula: y ~ x + (x|g), correlated: [g]}\n"
        "  b: {formula: y ~ x + (x|g), correlated: [g], priors: {'cor|g': 'LKJCorr(4)'}}\n"
        "  c: {formula: y ~ x + (x|g)}\n"
    )
    for name, expected in (
        ("a", ["LKJCorr(eta=2)", "radonspec"]),
        ("b", ["LKJCorr(eta=4)", "spec"]),
    ):
        model = compiled(path, name)
        table = priors_table(model.model, model.spec).set_index("term")
        assert list(table.loc["cor|g"]) == expected
    model = compiled(path, "c")
    assert "cor|g" not in set(priors_table(model.model, model.spec)["term"])


def test_multivariate_families_are_refused(write_spec: Callable[..., Path]) -> None:
    path = write_spec(
        "spec_version: 1\nname: cor\ndata: {path: data.csv, categorical: [g, z]}\n"
        "models:\n  m: {formula: z ~ x + (x|g), family: categorical, correlated: [g]}\n"
    )
    groups_data().to_csv(path.parent / "data.csv", index=False)
    with pytest.raises(CompileError, match="not supported for family 'categorical'"):
        compiled(path, "m")


# -- predictions for new groups ---------------------------------------------------------


def _fake_posterior(model: Any, draws: int = 200) -> xr.DataTree:
    """Draws of every parameter, with each group's intercept and slope strongly tied."""
    rng = np.random.default_rng(8)
    groups = list(model.backend.model.coords["g__factor_dim"])
    base = rng.normal(size=(1, draws, len(groups)))
    coords = {"chain": [0], "draw": np.arange(draws), "g__factor_dim": groups}
    dims = ("chain", "draw", "g__factor_dim")
    posterior = xr.Dataset(
        {
            "Intercept": (("chain", "draw"), rng.normal(size=(1, draws))),
            "x": (("chain", "draw"), rng.normal(size=(1, draws))),
            "sigma": (("chain", "draw"), np.ones((1, draws))),
            "1|g": (dims, base),
            "x|g": (dims, 3 * base + 0.01 * rng.normal(size=base.shape)),
        },
        coords=coords,
    )
    return xr.DataTree.from_dict({"posterior": posterior})


def test_new_groups_take_the_intercept_and_slope_of_one_group_together(
    models: dict[str, Any],
) -> None:
    """Bambi's new-group draws keep the pair (u0, u1) of one existing group per draw."""
    model = models["nc"]
    tree = _fake_posterior(model)
    new = pd.DataFrame({"x": [0.0, 1.0], "g": ["new", "new"], "z": ["a", "a"]})
    out = model._compute_likelihood_params(
        tree.copy(), data=new, include_group_specific=True, sample_new_groups=True, random_seed=1
    )
    mu = out["posterior"]["mu"].values[0]  # draws x 2
    post = tree["posterior"].to_dataset()
    u0 = mu[:, 0] - post["Intercept"].values[0]
    u1 = mu[:, 1] - mu[:, 0] - post["x"].values[0]
    pairs_u0 = post["1|g"].values[0]  # draws x groups
    pairs_u1 = post["x|g"].values[0]
    picked = np.abs(pairs_u0 - u0[:, None]).argmin(axis=1)
    rows = np.arange(len(u0))
    np.testing.assert_allclose(u0, pairs_u0[rows, picked], atol=1e-9)
    np.testing.assert_allclose(u1, pairs_u1[rows, picked], atol=1e-9)
    assert np.corrcoef(u0, u1)[0, 1] > 0.99  # independent draws would give about 0


# -- reading a fit ----------------------------------------------------------------------


def test_correlations_and_structure_are_read_from_the_posterior() -> None:
    rng = np.random.default_rng(2)
    draws = rng.uniform(-0.2, 0.6, size=(2, 500, 1))
    sd = np.abs(rng.normal(size=(2, 500)))
    posterior = xr.Dataset(
        {
            "cor|g": (("chain", "draw", "cor|g__pair_dim"), draws),
            "1|g_sigma": (("chain", "draw"), sd),
            "x|g_sigma": (("chain", "draw"), sd),
            "1|g": (("chain", "draw", "g__factor_dim"), rng.normal(size=(2, 500, 3))),
            "x|g": (("chain", "draw", "g__factor_dim"), rng.normal(size=(2, 500, 3))),
            "1|h_sigma": (("chain", "draw"), sd),
            "1|h": (("chain", "draw", "h__factor_dim"), rng.normal(size=(2, 500, 2))),
        },
        coords={"cor|g__pair_dim": ["1, x"], "g__factor_dim": list("abc"), "h__factor_dim": [1, 2]},
    )
    tree = xr.DataTree.from_dict({"posterior": posterior})
    (row,) = correlations(tree)
    assert (row.group, row.first, row.second, row.label) == ("g", "1", "x", "cor|g[1, x]")
    assert row.mean == pytest.approx(draws.mean())
    assert row.lb == pytest.approx(np.quantile(draws, 0.055), rel=1e-3)
    assert effect_structure(tree) == {"g": "correlated", "h": "independent"}
    data = pd.DataFrame({"g": list("aabbcc"), "h": [1, 2] * 3})
    assert [r.term for r in random_effects(tree, data, "bernoulli")] == ["1", "x", "1"]


# -- the frequentist reference ----------------------------------------------------------


@pytest.fixture(scope="module")
def lme4() -> dict[str, Any]:
    reference: dict[str, Any] = json.loads((LME4 / "lme4_correlated.json").read_text())
    return reference


@pytest.mark.parametrize(
    ("case", "formula", "joint"),
    [
        ("sleepstudy", "Reaction ~ Days + (Days | Subject)", True),
        ("sleepstudy_independent", "Reaction ~ Days + (Days || Subject)", False),
        ("orthodont", "distance ~ age + (age | Subject)", True),
    ],
)
def test_reml_agrees_with_lme4(lme4: dict[str, Any], case: str, formula: str, joint: bool) -> None:
    """statsmodels' REML with a full (or diagonal) covariance equals lme4's to 1e-3."""
    ref = lme4[case]
    data = pd.read_csv(LME4 / ref["data"], dtype={"Subject": str})
    table = mixedlm_table(formula, data, correlated=joint)
    slope = formula.split("~")[1].split("+")[0].strip()
    assert table.attrs["converged"]
    expected = {
        "Intercept": ref["fixed"]["(Intercept)"]["estimate"],
        slope: ref["fixed"][slope]["estimate"],
        "1|Subject_sigma": ref["sd"]["(Intercept)"],
        f"{slope}|Subject_sigma": ref["sd"][slope],
        "sigma": ref["residual_sd"],
    }
    if joint:
        expected[f"cor|Subject[1, {slope}]"] = ref["cor"]
    else:
        assert not any(str(t).startswith("cor|") for t in table.index)
    for term, value in expected.items():
        assert table.loc[term, "estimate"] == pytest.approx(value, rel=1e-3, abs=1e-3), term
    for term in ("Intercept", slope):
        se = ref["fixed"]["(Intercept)" if term == "Intercept" else term]["se"]
        assert table.loc[term, "se"] == pytest.approx(se, rel=1e-3), term
