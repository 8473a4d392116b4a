"""Correlated group effects fitted for real: agreement with lme4 and with hand-written PyMC.

References (``tests/fixtures/lme4``, made by ``lme4_correlated.R`` with lme4 1.1.31):
lme4's REML fits of ``Reaction ~ Days + (Days | Subject)`` on sleepstudy (180 rows,
18 subjects) and ``distance ~ age + (age | Subject)`` on nlme's Orthodont (108 rows,
27 subjects).

Tolerances, and why. A posterior is not a REML fit, so only what both should share
is compared:

- fixed effects: with Bambi's wide default priors the posterior mean is the REML
  estimate up to Monte Carlo error; measured within 0.03 lme4 SEs on both data sets,
  allowed 0.25 SEs (about 6 Monte Carlo SEs at 4000 draws).
- group SDs, the correlation and the residual SD: with 18 or 27 groups their posteriors
  are wide and skewed and the priors (Bambi's HalfNormal on the SDs, LKJ(2) on the
  correlation, which pulls towards 0) move them, so the test is that lme4's estimate lies
  inside the central 89% posterior interval (sleepstudy's correlation 0.066 against an
  interval of about -0.37 to 0.50; Orthodont's -0.61 against about -0.71 to 0.64).
  On sleepstudy, whose SDs are well identified, the posterior mean of each SD must also
  be within 20% of lme4's (measured 11% and 10% above: the mean of a right-skewed
  posterior sits above the REML estimate).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import arviz_stats as azs
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from radonspec.analysis.parameters import parameter_table
from radonspec.api import fit_study
from radonspec.study.loader import load_study_text

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::FutureWarning"),  # Bambi's deprecations
    pytest.mark.filterwarnings("ignore::UserWarning"),  # PyMC's small-sample notices
    # blackjax imports jaxopt, which says on import that it is no longer maintained
    pytest.mark.filterwarnings("ignore:JAXopt is no longer maintained:DeprecationWarning"),
]

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "lme4"
LME4: dict[str, Any] = json.loads((FIXTURES / "lme4_correlated.json").read_text())

SLEEP = """\
spec_version: 1
name: sleep
data: {path: sleepstudy.csv, categorical: [Subject]}
defaults:
  sampler: {draws: 1000, tune: 1000, chains: 4, seed: 11, target_accept: 0.9}
models:
  independent:
    formula: Reaction ~ Days + (Days || Subject)
  correlated:
    formula: Reaction ~ Days + (Days | Subject)
    correlated: [Subject]
report:
  group: Subject
  predictor: Days
  frequentist: true
"""

ORTHODONT = """\
spec_version: 1
name: orthodont
data: {path: orthodont.csv, categorical: [Subject]}
defaults:
  sampler: {draws: 1000, tune: 1000, chains: 4, seed: 11, target_accept: 0.9}
models:
  correlated:
    formula: distance ~ age + (age | Subject)
    correlated: true
"""


def radonspec(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "radonspec", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=1500,
    )


@pytest.fixture(scope="module")
def sleep_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`radonspec run` on sleepstudy with the independent and the correlated model."""
    folder = tmp_path_factory.mktemp("sleep")
    shutil.copy(FIXTURES / "sleepstudy.csv", folder)
    (folder / "study.yaml").write_text(SLEEP)
    result = radonspec("run", "study.yaml", "--jobs", "1", cwd=folder)
    assert result.returncode == 0, result.stdout + result.stderr
    return folder / "radonspec-out" / "sleep"


def _check_against_lme4(parameters: dict[str, Any], case: str, slope: str) -> None:
    ref = LME4[case]
    for term, lme4_name in (("Intercept", "(Intercept)"), (slope, slope)):
        fixed = ref["fixed"][lme4_name]
        gap = abs(parameters[term]["mean"] - fixed["estimate"])
        assert gap < 0.25 * fixed["se"], (case, term, parameters[term], fixed)
    inside = {
        "1|Subject_sigma": ref["sd"]["(Intercept)"],
        f"{slope}|Subject_sigma": ref["sd"][slope],
        f"cor|Subject[1, {slope}]": ref["cor"],
        "sigma": ref["residual_sd"],
    }
    for label, value in inside.items():
        row = parameters[label]
        assert row["eti89_lb"] < value < row["eti89_ub"], (case, label, row, value)


def test_sleepstudy_agrees_with_lme4(sleep_run: Path) -> None:
    summary = json.loads((sleep_run / "summary.json").read_text())
    parameters = summary["models"]["correlated"]["parameters"]
    _check_against_lme4(parameters, "sleepstudy", "Days")
    ref = LME4["sleepstudy"]["sd"]
    for label, value in (
        ("1|Subject_sigma", ref["(Intercept)"]),
        ("Days|Subject_sigma", ref["Days"]),
    ):
        assert parameters[label]["mean"] == pytest.approx(value, rel=0.2), label
    # lme4's (Days || Subject) is the independent model: no correlation in it
    independent = summary["models"]["independent"]
    assert not any(label.startswith("cor|") for label in independent["parameters"])
    assert independent["group_effects"] == {"Subject": "independent"}
    assert summary["models"]["correlated"]["group_effects"] == {"Subject": "correlated"}


def test_orthodont_agrees_with_lme4(tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "orthodont.csv", tmp_path)
    study = load_study_text(ORTHODONT, tmp_path / "study.yaml")
    fit = fit_study(study, jobs=1, store=tmp_path / "store")["correlated"]
    assert fit.ok and fit.tree is not None, fit.error
    table = parameter_table(fit.tree)
    parameters = {str(label): row.to_dict() for label, row in table.iterrows()}
    _check_against_lme4(parameters, "orthodont", "age")


def test_report_shows_the_correlation_and_compares_the_two_models(sleep_run: Path) -> None:
    summary = json.loads((sleep_run / "summary.json").read_text())
    ranked = {row["model"] for row in summary["comparison"]["table"]}
    assert ranked == {"independent", "correlated"}
    assert (
        "group: correlates the group-specific effects of 'Subject' (drawn jointly, LKJ prior"
        " with eta 2) instead of drawing them independently"
    ) in summary["models"]["correlated"]["differences"]
    markdown = (sleep_run / "report.md").read_text()
    ref = LME4["sleepstudy"]
    (row,) = [line for line in markdown.splitlines() if line.startswith("| `Subject` | Corr.")]
    assert "`(Intercept)`, `Days`" in row
    assert f"| {ref['cor']:.3g} |" in row  # the REML column: statsmodels' full covariance
    assert "Group effects: `Subject` correlated." in markdown
    assert "Group effects: `Subject` independent." in markdown
    html = (sleep_run / "report.html").read_text()
    assert "Corr. <code>(Intercept)</code>, <code>Days</code>" in html
    assert "#### Group-level correlations" in markdown


def test_posterior_matches_a_hand_written_lkj_cholesky_cov_model(tmp_path: Path) -> None:
    """The same model and priors written directly in PyMC with ``pm.LKJCholeskyCov``."""
    import pymc as pm

    shutil.copy(FIXTURES / "sleepstudy.csv", tmp_path)
    study = load_study_text(
        """\
spec_version: 1
name: hand
data: {path: sleepstudy.csv, categorical: [Subject]}
models:
  joint:
    formula: Reaction ~ Days + (Days | Subject)
    correlated: [Subject]
    center_predictors: false
    sampler: {draws: 1000, tune: 1000, chains: 4, seed: 5, target_accept: 0.9}
    priors:
      Intercept: Normal(250, 100)
      Days: Normal(0, 50)
      1|Subject: Normal(0, sigma=HalfNormal(50))
      Days|Subject: Normal(0, sigma=HalfNormal(20))
      sigma: HalfNormal(50)
      cor|Subject: LKJCorr(eta=2)
""",
        tmp_path / "study.yaml",
    )
    fit = fit_study(study, jobs=1, store=tmp_path / "store")["joint"]
    assert fit.ok and fit.tree is not None, fit.error
    ours = fit.tree["posterior"].to_dataset()
    data = pd.read_csv(tmp_path / "sleepstudy.csv")
    subject, levels = pd.factorize(data["Subject"], sort=True)
    days = data["Days"].to_numpy(float)
    with pm.Model():
        intercept = pm.Normal("Intercept", 250, 100)
        slope = pm.Normal("Days", 0, 50)
        sd_dist = pm.HalfNormal.dist(sigma=np.array([50.0, 20.0]), shape=2)
        chol, corr, stds = pm.LKJCholeskyCov("chol", n=2, eta=2, sd_dist=sd_dist)
        z = pm.Normal("z", 0, 1, shape=(len(levels), 2))
        u = z @ chol.T
        pm.Deterministic("cor", corr[0, 1])
        pm.Deterministic("sd0", stds[0])
        pm.Deterministic("sd1", stds[1])
        sigma = pm.HalfNormal("sigma", 50)
        mu = intercept + slope * days + u[subject, 0] + u[subject, 1] * days
        pm.Normal("y", mu, sigma, observed=data["Reaction"].to_numpy(float))
        reference = pm.sample(
            1000, tune=1000, chains=4, random_seed=6, nuts_sampler="nutpie",
            target_accept=0.9, progressbar=False,
        )  # fmt: skip
    theirs = reference["posterior"].to_dataset()
    pairs = {
        "Intercept": "Intercept",
        "Days": "Days",
        "1|Subject_sigma": "sd0",
        "Days|Subject_sigma": "sd1",
        "cor|Subject": "cor",
        "sigma": "sigma",
    }
    for mine, hand in pairs.items():
        a, b = _draws(ours[mine]), _draws(theirs[hand])
        error = np.hypot(_mcse(a), _mcse(b))
        # posterior means within 4 Monte Carlo SEs (measured at most 1.4), SDs within 12%
        # (measured at most 4.3%; an SD from about 1000 effective draws is good to ~3%)
        assert abs(a.mean() - b.mean()) < 4 * error, (mine, a.mean(), b.mean(), error)
        assert a.std() == pytest.approx(b.std(), rel=0.12), mine


def _draws(values: xr.DataArray) -> np.ndarray:
    array = np.asarray(values.transpose("chain", "draw", ...).values)
    return array.reshape(array.shape[0], -1)


def _mcse(draws: np.ndarray) -> float:
    return float(azs.mcse(xr.DataArray(draws, dims=("chain", "draw"))))


@pytest.mark.parametrize("backend", ["pymc", "numpyro", "blackjax"])
def test_every_backend_samples_correlated_effects(tmp_path: Path, backend: str) -> None:
    """nutpie runs in the tests above; these are short fits, checked for sanity only."""
    shutil.copy(FIXTURES / "sleepstudy.csv", tmp_path)
    study = load_study_text(
        f"""\
spec_version: 1
name: backends
data: {{path: sleepstudy.csv, categorical: [Subject]}}
models:
  centered:
    formula: Reaction ~ Days + (Days | Subject)
    correlated: [Subject]
    noncentered: false
    sampler: {{backend: {backend}, draws: 300, tune: 300, chains: 2, seed: 3}}
""",
        tmp_path / "study.yaml",
    )
    fit = fit_study(study, jobs=1, store=tmp_path / "store")["centered"]
    assert fit.ok and fit.tree is not None, fit.error
    posterior = fit.tree["posterior"].to_dataset()
    cor = posterior["cor|Subject"]
    assert cor.dims == ("chain", "draw", "cor|Subject__pair_dim")
    assert np.all(np.abs(cor.values) < 1)
    assert -0.6 < float(cor.mean()) < 0.7  # lme4: 0.066, posterior 89% about -0.37 to 0.50
    assert posterior["1|Subject"].dims == ("chain", "draw", "Subject__factor_dim")
    assert "cor|Subject_cholesky" not in posterior  # constant entries: never stored
    assert "log_likelihood" in fit.tree.children
