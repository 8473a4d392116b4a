from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest

from radonspec.analysis.diagnostics import Diagnostics
from radonspec.analysis.loo import Comparison, ComparisonRow
from radonspec.analysis.sweep import sweep_table
from radonspec.cli.scaffold import schema_document as study_json_schema
from radonspec.errors import SpecError
from radonspec.study.loader import load_study
from radonspec.study.priors import parse_prior
from radonspec.study.sweep import scale_prior, sweep_cells, sweep_model_names, terms_label

HEAD = """
spec_version: 1
name: sweep
data: {dataset: radon, categorical: [county]}
defaults:
  sampler: {draws: 100, tune: 100, chains: 2}
models:
  hierarchical:
    formula: log_radon ~ floor + (1 | county)
    priors:
      Intercept: Normal(0, 10)
      floor: Normal(0, 10)
      1|county: Normal(0, sigma=HalfNormal(5))
      sigma: HalfCauchy(5)
"""

FIVE_BY_THREE = (
    HEAD
    + """
sweep:
  base: hierarchical
  over:
    terms: ["", "+ log_uranium", "+ (0 + floor | county)", "- floor",
            "+ log_uranium + (0 + floor | county)"]
    prior_scale: [0.5, 1, 2]
  priors:
    log_uranium: Normal(0, 10)
"""
)

EXPECTED = [
    "hierarchical",
    "hierarchical.scale0.5",
    "hierarchical.scale2",
    "hierarchical.log_uranium.scale0.5",
    "hierarchical.log_uranium",
    "hierarchical.log_uranium.scale2",
    "hierarchical.0_floor_county.scale0.5",
    "hierarchical.0_floor_county",
    "hierarchical.0_floor_county.scale2",
    "hierarchical.no_floor.scale0.5",
    "hierarchical.no_floor",
    "hierarchical.no_floor.scale2",
    "hierarchical.log_uranium_0_floor_county.scale0.5",
    "hierarchical.log_uranium_0_floor_county",
    "hierarchical.log_uranium_0_floor_county.scale2",
]

Write = Callable[..., Path]


def test_grid_names_are_readable_and_in_grid_order(write_spec: Write) -> None:
    study = load_study(write_spec(FIVE_BY_THREE))
    assert list(study.models) == EXPECTED
    assert sweep_model_names(study) == EXPECTED
    cell = study.models["hierarchical.log_uranium.scale2"]
    assert cell.formula == "log_radon ~ floor + (1 | county) + log_uranium"
    assert str(cell.priors["log_uranium"]) == "Normal(mu=0, sigma=20)"
    assert str(cell.priors["1|county"]) == "Normal(mu=0, sigma=HalfNormal(sigma=10))"
    assert cell.description == (
        "Sweep cell of 'hierarchical': terms '+ log_uranium', priors scaled by 2."
    )
    # a removed term loses its prior; the base keeps its own
    assert "floor" not in study.models["hierarchical.no_floor"].priors
    assert study.models["hierarchical"].description is None


def test_the_neutral_cell_is_the_base_itself(write_spec: Write) -> None:
    study = load_study(write_spec(FIVE_BY_THREE))
    cells = sweep_cells(study)
    assert len(cells) == 15
    base = [cell for cell in cells if cell.is_base]
    assert [cell.name for cell in base] == ["hierarchical"]
    assert base[0].spec == study.models["hierarchical"]


def test_names_do_not_depend_on_axis_order_in_the_file(write_spec: Write) -> None:
    swapped = FIVE_BY_THREE.replace(
        '    terms: ["", "+ log_uranium", "+ (0 + floor | county)", "- floor",\n'
        '            "+ log_uranium + (0 + floor | county)"]\n    prior_scale: [0.5, 1, 2]\n',
        '    prior_scale: [0.5, 1, 2]\n    terms: ["", "+ log_uranium", "+ (0 + floor | county)",'
        ' "- floor",\n            "+ log_uranium + (0 + floor | county)"]\n',
    )
    assert swapped != FIVE_BY_THREE
    first = load_study(write_spec(FIVE_BY_THREE, "a.yaml"))
    second = load_study(write_spec(swapped, "b.yaml"))
    assert list(first.models) == list(second.models) == EXPECTED
    assert first.models == second.models


def test_zip_pairs_values_and_mapping_labels_name_cells(write_spec: Write) -> None:
    path = write_spec(
        HEAD
        + """
sweep:
  base: hierarchical
  mode: zip
  over:
    terms: {uranium: "+ log_uranium", slopes: "+ (0 + floor | county)"}
    family: [t, gaussian]
"""
    )
    study = load_study(path)
    assert list(study.models) == ["hierarchical", "hierarchical.uranium.t", "hierarchical.slopes"]
    assert study.models["hierarchical.uranium.t"].family == "t"


def test_zip_length_mismatch_is_located_at_the_axis(write_spec: Write) -> None:
    path = write_spec(
        HEAD
        + """
sweep:
  base: hierarchical
  mode: zip
  over:
    terms: ["", "+ log_uranium", "- floor"]
    prior_scale: [1, 2]
"""
    )
    with pytest.raises(SpecError, match="sweep.over.prior_scale has 2 values but") as info:
        load_study(path)
    assert (info.value.line, info.value.column) == (20, 18)
    assert "in mode 'zip' every axis needs the same number of values" in str(info.value)


def test_bad_added_term_is_located_in_the_terms_entry(write_spec: Write) -> None:
    path = write_spec(
        HEAD
        + """
sweep:
  base: hierarchical
  over:
    terms:
      - + log_uranium
      - + open(x)
"""
    )
    with pytest.raises(SpecError, match=r"sweep.over.terms value '\+ open\(x\)'") as info:
        load_study(path)
    assert (info.value.line, info.value.column) == (20, 11)  # at 'open'
    assert "in the cell formula 'log_radon ~ floor + (1 | county) + open(x)'" in str(info.value)


def test_unknown_base_suggests_the_closest_model(write_spec: Write) -> None:
    path = write_spec(HEAD + "sweep: {base: hierarchcal, over: {prior_scale: [2]}}\n")
    with pytest.raises(SpecError, match="sweep.base 'hierarchcal' is not a model of this study"
                       r" \(did you mean 'hierarchical'\?\)") as info:  # fmt: skip
        load_study(path)
    assert info.value.line == 14


def test_unknown_family_is_located_at_its_value(write_spec: Write) -> None:
    path = write_spec(
        HEAD + "sweep:\n  base: hierarchical\n  over: {family: [gaussian, gausian]}\n"
    )
    with pytest.raises(
        SpecError, match="unknown family 'gausian' \\(did you mean 'gaussian'"
    ) as info:
        load_study(path)
    assert (info.value.line, info.value.column) == (16, 29)


def test_duplicate_values_and_name_clashes_are_errors(write_spec: Write) -> None:
    twice = write_spec(
        HEAD + "sweep: {base: hierarchical, over: {prior_scale: [2, 2.0]}}\n", "a.yaml"
    )
    with pytest.raises(SpecError, match="sweep.over.prior_scale lists 2.0 twice"):
        load_study(twice)
    clash = write_spec(
        HEAD.replace("models:\n", "models:\n  hierarchical.scale2: {formula: log_radon ~ 1}\n")
        + "sweep: {base: hierarchical, over: {prior_scale: [2]}}\n",
        "b.yaml",
    )
    with pytest.raises(SpecError, match="sweep cell 'hierarchical.scale2' has the name of a model"):
        load_study(clash)


def test_prior_scale_needs_explicit_priors(write_spec: Write) -> None:
    path = write_spec(
        """
        spec_version: 1
        name: bare
        data: {dataset: radon}
        models:
          pooled: {formula: log_radon ~ floor}
        sweep: {base: pooled, over: {prior_scale: [0.5, 2]}}
        """
    )
    with pytest.raises(SpecError, match="sweep.over.prior_scale scales explicit priors, and model"):
        load_study(path)


def test_sweep_prior_naming_no_term_is_an_error(write_spec: Write) -> None:
    path = write_spec(
        HEAD
        + """
sweep:
  base: hierarchical
  over: {terms: ["+ log_uranium"]}
  priors: {log_uranim: "Normal(0, 1)"}
"""
    )
    with pytest.raises(SpecError, match="sweep.priors 'log_uranim' names no term of any cell"
                       r" \(did you mean 'log_uranium'\?\)"):  # fmt: skip
        load_study(path)


def test_family_backend_and_link_axes(write_spec: Write) -> None:
    path = write_spec(
        HEAD
        + """
sweep:
  base: hierarchical
  over:
    family: [gaussian, t]
    link: [identity, log]
    backend: [nutpie, pymc]
"""
    )
    study = load_study(path)
    assert list(study.models)[1:4] == [
        "hierarchical.pymc",
        "hierarchical.log",
        "hierarchical.log.pymc",
    ]
    assert study.models["hierarchical.t.log.pymc"].sampler.backend == "pymc"
    assert study.models["hierarchical.t.log.pymc"].link == "log"
    # 'sigma' is a parameter of t as well: its prior stays
    assert "sigma" in study.models["hierarchical.t"].priors


def test_clashing_labels_of_two_axes_are_qualified(write_spec: Write) -> None:
    path = write_spec(
        HEAD
        + "sweep:\n  base: hierarchical\n"
        + "  over: {terms: {none: '', t: '+ log_uranium'}, family: [gaussian, t]}\n"
    )
    assert list(load_study(path).models) == [
        "hierarchical",
        "hierarchical.family-t",
        "hierarchical.terms-t",
        "hierarchical.terms-t.family-t",
    ]


def test_formula_axis_drops_priors_of_missing_terms(write_spec: Write) -> None:
    path = write_spec(
        HEAD
        + """
sweep:
  base: hierarchical
  over:
    formula: ["log_radon ~ floor + (1 | county)", "log_radon ~ 1 + (1 | county)"]
"""
    )
    study = load_study(path)
    assert list(study.models) == ["hierarchical", "hierarchical.1_1_county"]
    assert set(study.models["hierarchical.1_1_county"].priors) == {"Intercept", "1|county", "sigma"}


def test_explicit_compare_models_gain_the_cells(write_spec: Write) -> None:
    path = write_spec(
        HEAD.replace("models:\n", "models:\n  pooled: {formula: log_radon ~ floor}\n")
        + "compare: {models: [pooled]}\n"
        + "sweep: {base: hierarchical, over: {prior_scale: [1, 2]}}\n"
    )
    study = load_study(path)
    assert study.compare.models == ("pooled", "hierarchical", "hierarchical.scale2")


def test_cells_are_checked_against_the_data(write_spec: Write) -> None:
    from radonspec.compile.validate import validate

    path = write_spec(HEAD + "sweep: {base: hierarchical, over: {terms: ['+ uranium']}}\n")
    with pytest.raises(SpecError, match="model 'hierarchical.uranium'.*'uranium'") as info:
        validate(path, initial_point=False)
    assert info.value.line == 14  # the sweep entry, not the base model


def test_scale_prior_nested_rates_and_precisions() -> None:
    assert scale_prior(parse_prior("Normal(0, sigma=HalfNormal(5))"), 2) == parse_prior(
        "Normal(0, sigma=HalfNormal(10))"
    )
    assert scale_prior(parse_prior("Normal(1, tau=4)"), 2) == parse_prior("Normal(1, tau=1)")
    assert scale_prior(parse_prior("Exponential(2)"), 2) == parse_prior("Exponential(1)")
    assert scale_prior(parse_prior("Gamma(2, 4)"), 2) == parse_prior("Gamma(2, 2)")
    assert scale_prior(parse_prior("StudentT(3, 0, sigma=0.3)"), 3) == parse_prior(
        "StudentT(3, 0, sigma=0.9)"
    )
    assert scale_prior(parse_prior("Normal(mu=Normal(0, 10), sigma=1)"), 0.5) == parse_prior(
        "Normal(mu=Normal(0, 5), sigma=0.5)"
    )
    lognormal = parse_prior("LogNormal(0, 1)")
    assert scale_prior(lognormal, 2) == lognormal
    with pytest.raises(ValueError, match="positive"):
        scale_prior(lognormal, 0)


def test_terms_labels() -> None:
    assert terms_label("+ log_uranium") == "log_uranium"
    assert terms_label("- floor") == "no_floor"
    assert terms_label("+ (1 + floor | county)") == "1_floor_county"
    assert terms_label("log_uranium:floor") == "log_uranium_floor"


def test_json_schema_describes_the_sweep() -> None:
    schema = study_json_schema()
    sweep = schema["$defs"]["SweepSpec"]
    assert set(sweep["properties"]) == {"base", "mode", "over", "priors"}
    axes = schema["$defs"]["SweepAxes"]["properties"]
    assert set(axes) == {"formula", "terms", "family", "link", "prior_scale", "backend"}
    assert "gaussian" in axes["family"]["anyOf"][0]["items"]["enum"]
    assert "scale parameters" in axes["prior_scale"]["description"]
    assert "reference" in schema["$defs"]["CompareSpec"]["properties"]


def _diag(passed: bool, problems: tuple[str, ...] = ()) -> Diagnostics:
    return Diagnostics(1.0, 500.0, 500.0, 0, 0, 1.0, passed, problems)


def test_sweep_table_ranks_cells_and_marks_the_base(write_spec: Write) -> None:
    path = write_spec(HEAD + "sweep: {base: hierarchical, over: {prior_scale: [0.5, 2]}}\n")
    study = load_study(path)
    names = ["hierarchical", "hierarchical.scale0.5", "hierarchical.scale2"]
    elpd = {
        "hierarchical": -1000.0,
        "hierarchical.scale0.5": -990.0,
        "hierarchical.scale2": -1010.0,
    }
    order = sorted(names, key=lambda n: -elpd[n])
    rows = tuple(
        ComparisonRow(n, order.index(n), elpd[n], 20.0, 5.0, elpd[n] - elpd[order[0]], 1.0, 0.3, 0)
        for n in order
    )
    fits = {n: SimpleNamespace(ok=True, status="ok", cached=True, tree=None) for n in names}
    table = sweep_table(
        study,
        fits,
        Comparison("loo", rows),
        {
            "hierarchical": _diag(True),
            "hierarchical.scale0.5": _diag(True),
            "hierarchical.scale2": _diag(False, ("3 of 200 draws (1.5%) ended in a divergent",)),
        },
    )
    assert list(table["model"]) == ["hierarchical.scale0.5", "hierarchical", "hierarchical.scale2"]
    assert list(table["base"]) == [False, True, False]
    assert list(table["prior_scale"]) == [0.5, 1.0, 2.0]
    assert list(table["flags"]) == ["", "", "divergences"]
    assert list(table["elpd_diff"]) == [0.0, -10.0, -20.0]
    assert table.loc[0, "se"] == 20.0


@pytest.mark.slow
def test_a_sweep_fits_each_cell_once_and_ranks_them(write_spec: Write, tmp_path: Path) -> None:
    from radonspec.api import fit_study

    path = write_spec(
        """
        spec_version: 1
        name: small-sweep
        data: {dataset: radon, categorical: [county]}
        defaults:
          sampler: {draws: 100, tune: 100, chains: 2}
        models:
          pooled:
            formula: log_radon ~ floor
            priors: {floor: "Normal(0, 10)", sigma: "HalfNormal(2)"}
        sweep:
          base: pooled
          over: {terms: ["", "+ log_uranium"], prior_scale: [0.5, 1]}
        """
    )
    study = load_study(path)
    store = tmp_path / "store"
    events: list[tuple[str, str]] = []
    fits = fit_study(study, store=store, jobs=1, on_event=lambda m, e, f: events.append((m, e)))
    assert sorted(m for m, e in events if e == "started") == sorted(EXPECTED_SMALL)
    again: list[tuple[str, str]] = []
    fit_study(study, store=store, jobs=1, on_event=lambda m, e, f: again.append((m, e)))
    assert again == [(name, "cached") for name in EXPECTED_SMALL]  # a second run samples nothing
    table = sweep_table(study, fits)
    assert sorted(table["model"]) == sorted(EXPECTED_SMALL)
    assert list(table["rank"]) == [0, 1, 2, 3]
    assert table["elpd"].is_monotonic_decreasing
    assert table.loc[table["model"] == "pooled", "base"].item()
    # log_uranium predicts radon: both of its cells beat both cells without it
    assert set(table["model"][:2]) == {"pooled.log_uranium.scale0.5", "pooled.log_uranium"}


EXPECTED_SMALL = [
    "pooled",
    "pooled.scale0.5",
    "pooled.log_uranium.scale0.5",
    "pooled.log_uranium",
]
