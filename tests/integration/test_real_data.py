"""Levels and column names on public data, fitted and checked against R.

The data sets and R's estimates (glm, MASS::polr, lm, lme4::lmer) are committed under
tests/fixtures/data with the script that made them (make_data.R); R is not needed here.
Every prior on a coefficient is wide (Normal(0, 10) or wider), so posterior means sit
within a fraction of R's standard error of R's estimates. Each case failed or gave a
different answer before levels were part of the data step:

- bacteria: ``y[y] ~ trt + week``, reference placebo: the event was refused, and a bare
  text response modelled P(y = n) (every sign flipped); the baseline was 'drug'.
- housing: an ordinal response with text levels was ordered High < Low < Medium.
- npk: the response is called ``yield``, a Python keyword.
- airquality: ``Solar.R``, an R dotted name, with missing values dropped (42 rows).
- Pastes: ``(1|batch/sample)`` made 300 batch:sample groups for 30 observed ones.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from radonspec.analysis.groups import random_effects
from radonspec.api import fit_study
from radonspec.fit.record import Fit
from radonspec.fit.runner import study_frame
from radonspec.study.loader import load_study_text
from radonspec.study.schema import Study

DATA = Path(__file__).resolve().parents[1] / "fixtures" / "data"
REFERENCES = json.loads((DATA / "references.json").read_text())
SAMPLER = "{backend: nutpie, draws: 400, tune: 400, chains: 2, seed: 11}"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning"),
]


def fit(folder: Path, data: str, models: str, family: str = "gaussian") -> tuple[Study, Fit]:
    text = f"""\
spec_version: 1
name: real
data:
  {data}
defaults:
  family: {family}
  sampler: {SAMPLER}
models:
{models}
"""
    study = load_study_text(text, folder / "study.yaml")
    fits = fit_study(study, jobs=1, store=folder / "store")
    (found,) = fits.values()
    assert found.ok, found.error
    return study, found


def means(found: Fit) -> dict[str, tuple[float, float]]:
    assert found.tree is not None
    posterior = found.tree["posterior"].to_dataset()
    result = {}
    for name, var in posterior.data_vars.items():
        extra = [d for d in var.dims if d not in ("chain", "draw")]
        if not extra:
            result[str(name)] = (float(var.mean()), float(var.std()))
            continue
        (dim,) = extra
        for label in var[dim].values:
            part = var.sel({dim: label})
            result[f"{name}[{label}]"] = (float(part.mean()), float(part.std()))
    return result


def agree(found: dict[str, tuple[float, float]], reference: dict[str, Any], names: dict[str, str],
          tolerance: float) -> None:  # fmt: skip
    """Each posterior mean within ``tolerance`` of R's standard errors of R's estimate."""
    for ours, theirs in names.items():
        estimate, se = reference["estimate"][theirs], reference["se"][theirs]
        mean = found[ours][0]
        assert abs(mean - estimate) < tolerance * se, (ours, mean, estimate, se)
        assert (mean > 0) == (estimate > 0), (ours, mean, estimate)


def test_a_binary_text_response_models_the_named_event(tmp_path: Path) -> None:
    study, found = fit(
        tmp_path,
        f"path: {DATA / 'bacteria.csv'}\n  reference: {{trt: placebo}}",
        "  m:\n    formula: y[y] ~ trt + week\n"
        "    priors:\n      Intercept: Normal(0, 10)\n      common: Normal(0, 10)\n",
        "bernoulli",
    )
    reference = REFERENCES["bacteria_glm"]
    names = {"Intercept": "(Intercept)", "trt[drug]": "trtdrug", "trt[drug+]": "trtdrug+",
             "week": "week"}  # fmt: skip
    agree(means(found), reference, names, tolerance=0.35)
    assert found.meta["levels"] == {
        "response": "y",
        "event": "y",
        "response_levels": ["n", "y"],
        "reference": {"trt": "placebo"},
    }
    assert study.models["m"].family == "bernoulli"


def test_an_ordinal_response_in_its_declared_order(tmp_path: Path) -> None:
    _, found = fit(
        tmp_path,
        f"path: {DATA / 'housing.csv'}\n  levels:\n    Sat: [Low, Medium, High]\n"
        "    Infl: [Low, Medium, High]\n    Type: [Tower, Apartment, Atrium, Terrace]\n"
        "    Cont: [Low, High]",
        "  m:\n    formula: Sat ~ Infl + Type + Cont\n    priors:\n      common: Normal(0, 10)\n",
        "cumulative",
    )
    reference = REFERENCES["housing_polr"]
    names = {f"{column}[{level}]": f"{column}{level}" for column, level in [
        ("Infl", "Medium"), ("Infl", "High"), ("Type", "Apartment"), ("Type", "Atrium"),
        ("Type", "Terrace"), ("Cont", "High")]}  # fmt: skip
    names |= {"threshold[0]": "Low|Medium", "threshold[1]": "Medium|High"}
    agree(means(found), reference, names, tolerance=0.3)
    assert found.meta["levels"]["response_levels"] == reference["levels"]


def test_a_keyword_column(tmp_path: Path) -> None:
    _, found = fit(
        tmp_path,
        f"path: {DATA / 'npk.csv'}\n  categorical: [block, N, P, K]",
        "  m:\n    formula: yield ~ block + N + P + K\n"
        "    priors:\n      Intercept: Normal(50, 100)\n      common: Normal(0, 100)\n",
    )
    names = {"Intercept": "(Intercept)", "N[1]": "N1", "P[1]": "P1", "K[1]": "K1"}
    names |= {f"block[{b}]": f"block{b}" for b in range(2, 7)}
    agree(means(found), REFERENCES["npk_lm"], names, tolerance=0.3)


def test_a_dotted_column_with_missing_values_dropped(tmp_path: Path) -> None:
    _, found = fit(
        tmp_path,
        f"path: {DATA / 'airquality.csv'}\n  dropna: true",
        "  m:\n    formula: Ozone ~ Solar.R + Wind + `Temp`\n"
        "    priors:\n      Intercept: Normal(0, 1000)\n      common: Normal(0, 100)\n",
    )
    reference = REFERENCES["airquality_lm"]
    names = {"Intercept": "(Intercept)", "Solar.R": "Solar.R", "Wind": "Wind", "Temp": "Temp"}
    agree(means(found), reference, names, tolerance=0.3)
    assert (found.meta["rows"], found.meta["dropped_rows"]) == (111, 42)
    assert (reference["rows"], reference["dropped"]) == (111, 42)


def test_nested_groups_are_the_observed_ones(tmp_path: Path) -> None:
    study, found = fit(
        tmp_path,
        f"path: {DATA / 'pastes.csv'}",
        "  m:\n    formula: strength ~ 1 + (1|batch/sample)\n    noncentered: true\n",
    )
    assert found.tree is not None
    posterior = found.tree["posterior"].to_dataset()
    groups = REFERENCES["pastes_lmer"]["groups"]
    assert posterior.sizes["batch:sample__factor_dim"] == groups["sample:batch"] == 30
    assert posterior.sizes["batch__factor_dim"] == groups["batch"] == 10
    rows = random_effects(found.tree, study_frame(study), "gaussian")
    counts = {row.group: (row.n_groups, row.obs_min, row.obs_max) for row in rows}
    assert counts == {"batch": (10, 6, 6), "batch:sample": (30, 2, 2)}
    intercept = REFERENCES["pastes_lmer"]["fixed"]["(Intercept)"]
    assert abs(float(posterior["Intercept"].mean()) - intercept) < 1.0
