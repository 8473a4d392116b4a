"""The correctness corpus's fixtures agree with each other (no R needed: the numbers are stored).

``tests/fixtures/corpus/`` holds public data sets as CSV files, ``corpus.json`` describing them
and their reference models, and ``references.json`` with the estimates R fitted
(``scripts/references/corpus.R``). These checks keep the three consistent: every file loads,
every declared level and column exists, every model has its references, and the names in the
references are the names Bambi gives the same model's coefficients and group terms.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

CORPUS = Path(__file__).resolve().parent / "fixtures" / "corpus"
MAX_CSV_BYTES = 200_000


@cache
def corpus() -> dict[str, Any]:
    """``corpus.json``."""
    loaded: dict[str, Any] = json.loads((CORPUS / "corpus.json").read_text())
    return loaded


@cache
def references() -> dict[str, Any]:
    """``references.json``."""
    loaded: dict[str, Any] = json.loads((CORPUS / "references.json").read_text())
    return loaded


def datasets() -> list[dict[str, Any]]:
    """Every data set entry of the corpus."""
    found: list[dict[str, Any]] = corpus()["datasets"]
    return found


def models() -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """Every (data set, model) pair of the corpus."""
    for dataset in datasets():
        for model in dataset["models"]:
            yield dataset, model


def read_csv(dataset: dict[str, Any]) -> pd.DataFrame:
    """A corpus CSV as a user reads it: empty fields are missing, text stays text."""
    return pd.read_csv(CORPUS / dataset["file"], keep_default_na=False, na_values=[""])


def model_frame(dataset: dict[str, Any], model: dict[str, Any]) -> pd.DataFrame:
    """The data as Bambi must see it for ``model``: declared categoricals, orders, references.

    Categoricals take their levels in sorted order unless ``levels`` gives the order; a
    ``reference`` level moves to the front (formulae codes treatment contrasts against the
    first category). formulae 0.6.2 re-sorts the categories of an *unordered* categorical
    (issue 13, class 1), so a column whose order matters is made an ordered categorical,
    whose order formulae keeps (still with treatment contrasts).
    """
    frame = read_csv(dataset)
    declared = dataset.get("levels", {})
    for column in dataset["categorical"]:
        values = frame[column]
        order = declared.get(column) or sorted(values.dropna().unique())
        if column in declared:
            values = values.astype(str).where(values.notna())
        categories = list(order)
        reference = model.get("reference", {}).get(column)
        if reference is not None:
            categories.remove(type(categories[0])(reference))
            categories.insert(0, type(categories[0])(reference))
        ordered = column in declared or reference is not None
        frame[column] = pd.Categorical(values, categories=categories, ordered=ordered)
    return frame


def bambi_model(dataset: dict[str, Any], model: dict[str, Any], spec: dict[str, Any]) -> Any:
    """The Bambi model of ``spec`` (a ``bambi`` block) on its data, built but not compiled."""
    import bambi as bmb

    link = spec["link"]
    family = spec["family"]
    with warnings.catch_warnings():
        # formulae and Bambi announce dropped rows and defaults; not what is tested here
        warnings.simplefilter("ignore")
        logging.getLogger("bambi").setLevel(logging.ERROR)
        return bmb.Model(
            spec["formula"],
            model_frame(dataset, model),
            family=family,
            link=link,
            dropna=True,
        )


def bambi_names(fitted: Any) -> tuple[set[str], set[str], int]:
    """Coefficient names ('x', 'f[level]'), group-specific term names, and rows kept."""
    component = fitted.parameters[fitted.family.likelihood.parent]
    common: set[str] = set()
    for term in component.common_terms.values():
        levels = getattr(term, "levels", None)
        if levels:
            common.update(f"{term.name}[{level}]" for level in levels)
        else:
            common.add(term.name)
    if component.intercept_term is not None:
        common.add("Intercept")
    groups = set(component.group_specific_terms)
    rows = len(fitted.response_term.data)
    return common, groups, rows


def primary_fit(model_id: str) -> dict[str, Any]:
    """The reference fit a posterior is compared with."""
    entry = references()["models"][model_id]
    fit: dict[str, Any] = entry["fits"][entry["primary"]]
    return fit


MODEL_IDS = [model["id"] for _, model in models()]


def test_corpus_covers_every_shape_issue_13_asks_for() -> None:
    shapes = {shape for dataset in datasets() for shape in dataset["shapes"]}
    wanted = {
        "random_slopes",
        "correlated_random_slopes",
        "binomial_trials",
        "bernoulli_text_response",
        "poisson_offset",
        "negative_binomial",
        "gamma_log",
        "lognormal",
        "ordinal_text_levels",
        "crossed_groups",
        "nested_groups",
        "group_level_predictor",
        "missing_values",
        "dotted_names",
        "keyword_names",
        "non_alphabetical_reference",
        "integer_valued_continuous",
    }
    assert wanted <= shapes, wanted - shapes
    assert len(datasets()) >= 12
    assert len(MODEL_IDS) == len(set(MODEL_IDS))


@pytest.mark.parametrize("dataset", datasets(), ids=lambda d: d["name"])
def test_csv_loads_as_described(dataset: dict[str, Any]) -> None:
    path = CORPUS / dataset["file"]
    assert path.stat().st_size < MAX_CSV_BYTES
    frame = read_csv(dataset)
    assert len(frame) == dataset["rows"]
    assert list(frame.columns) == list(dataset["columns"])
    assert set(dataset["categorical"]) <= set(frame.columns)
    for column, order in dataset.get("levels", {}).items():
        observed = set(frame[column].dropna().astype(str))
        assert observed <= set(order), f"{column}: {observed - set(order)} not in its levels"
        assert len(order) == len(set(order))
    for model in dataset["models"]:
        for column, level in model.get("reference", {}).items():
            assert level in set(frame[column].dropna().astype(str)), (column, level)
        if "event" in model:
            response = model["bambi"]["formula"].split("[", 1)[0]
            assert model["event"] in set(frame[response].dropna()), response


def test_missing_values_are_empty_fields() -> None:
    survey = read_csv(next(d for d in datasets() if d["name"] == "survey"))
    assert survey["Pulse"].isna().sum() == 45
    airquality = read_csv(next(d for d in datasets() if d["name"] == "airquality"))
    assert airquality[["Ozone", "Solar.R"]].isna().sum().to_dict() == {"Ozone": 37, "Solar.R": 7}
    assert airquality[["Ozone", "Solar.R"]].dropna().shape[0] == 111


def test_every_model_has_references() -> None:
    refs = references()["models"]
    assert set(refs) == set(MODEL_IDS)
    for model_id, entry in refs.items():
        assert entry["primary"] in entry["fits"], model_id
        for method, fit in entry["fits"].items():
            assert fit["fixed"], (model_id, method)
            for row in fit["fixed"]:
                assert np.isfinite(row["estimate"]) and row["se"] > 0, (model_id, method, row)
            assert np.isfinite(fit["loglik"]), (model_id, method)
    versions = references()["versions"]
    assert versions["R"].startswith("R version") and "lme4" in versions


def test_every_model_states_its_tolerances() -> None:
    for _, model in models():
        tolerance = model["tolerance"]
        fit = primary_fit(model["id"])
        assert tolerance["fixed_se"] > 0
        assert set(tolerance.get("group_sd_rel", {})) == {row["term"] for row in fit["group_sd"]}
        assert len(tolerance.get("cor_abs", {})) == len(fit["group_cor"])
        assert ("sigma_rel" in tolerance) == ("sigma" in fit), model["id"]
        assert ("alpha_rel" in tolerance) == ("alpha" in fit), model["id"]


def test_random_slope_models_come_in_correlated_and_independent_pairs() -> None:
    refs = references()["models"]
    for _, model in models():
        correlated = model["bambi"].get("correlated")
        if not correlated:
            continue
        pair = model["id"].removesuffix("_corr") + "_indep"
        assert refs[pair]["fits"]["REML"]["group_cor"] == []
        assert refs[model["id"]]["fits"]["REML"]["group_cor"], model["id"]


def test_sleepstudy_reml_is_lme4s_published_fit() -> None:
    fit = references()["models"]["sleepstudy_corr"]["fits"]["REML"]
    sd = {row["term"]: row["sd"] for row in fit["group_sd"]}
    assert round(sd["1|Subject"], 2) == 24.74
    assert round(sd["Days|Subject"], 2) == 5.92
    assert round(fit["group_cor"][0]["cor"], 2) == 0.07
    assert round(fit["sigma"], 2) == 25.59
    fixed = {row["name"]: row["estimate"] for row in fit["fixed"]}
    assert round(fixed["Intercept"], 2) == 251.41
    assert round(fixed["Days"], 2) == 10.47


@pytest.mark.parametrize("pair", list(models()), ids=lambda p: p[1]["id"])
def test_reference_names_are_bambis(pair: tuple[dict[str, Any], dict[str, Any]]) -> None:
    dataset, model = pair
    entry = references()["models"][model["id"]]
    specs = [model["bambi"]]
    if "alternative" in model["bambi"]:
        specs.append({**model["bambi"], **model["bambi"]["alternative"]})
    for spec in specs:
        common, groups, rows = bambi_names(bambi_model(dataset, model, spec))
        for method, fit in entry["fits"].items():
            names = {row["name"] for row in fit["fixed"]}
            assert names == common, (spec["formula"], method, names ^ common)
            assert {row["term"] for row in fit["group_sd"]} == groups, (spec["formula"], method)
            assert fit["nobs"] == rows, (spec["formula"], method)
            for cor in fit["group_cor"]:
                assert set(cor["terms"]) <= groups
            assert set(fit.get("ngroups", {})) == {term.split("|")[1] for term in groups}
