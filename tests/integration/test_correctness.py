"""Posteriors are right, not just produced: checks against exact Gaussian references.

For a Gaussian linear (mixed) model the location parameters given the scales
(sigma and the group-level sds) have a Gaussian posterior in closed form. So the
marginal posterior mean of the location parameters is the average, over the
sampled scales, of that closed-form conditional mean (Rao-Blackwellisation),
and the marginal variance is E[conditional variance] + Var[conditional mean].
Both are computed here with numpy from a design matrix built by hand, never
through Bambi or formulae, and compared with the sampled draws.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import arviz_stats as azs
import numpy as np
import pandas as pd
import pytest

from radonspec.api import fit_study
from radonspec.data.datasets import load_bundled
from radonspec.study.loader import load_study

pytestmark = pytest.mark.slow

PRIOR_SD = 10.0  # Normal(0, 10) on every location parameter
N_COUNTIES = 12


@pytest.fixture(scope="module")
def radon_subset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The twelve largest counties: small enough to fit fast, large enough to be real."""
    frame = load_bundled("radon")
    big = frame["county"].value_counts().index[:N_COUNTIES]
    subset = frame[frame["county"].isin(big)].reset_index(drop=True)
    folder = tmp_path_factory.mktemp("correctness")
    subset.to_csv(folder / "radon12.csv", index=False)
    return folder


def _study(folder: Path, name: str, formula: str, priors: dict[str, str]) -> Path:
    lines = "\n".join(f"      {key!r}: {value}" for key, value in priors.items())
    path = folder / f"{name}.yaml"
    path.write_text(
        f"""spec_version: 1
name: {name.replace("_", "-")}
data: {{path: radon12.csv, categorical: [county]}}
defaults:
  center_predictors: false
  sampler: {{draws: 1000, tune: 1000, chains: 4, seed: 7, target_accept: 0.95}}
models:
  {name}:
    formula: {formula}
    priors:
{lines}
"""
    )
    return path


def _conditional(
    X: np.ndarray, y: np.ndarray, prior_var: np.ndarray, sigma: float
) -> tuple[np.ndarray, np.ndarray]:
    precision = X.T @ X / sigma**2 + np.diag(1.0 / prior_var)
    cov = np.linalg.inv(precision)
    return cov @ (X.T @ y) / sigma**2, cov


def _reference(
    X: np.ndarray, y: np.ndarray, prior_var_of: Callable, draws: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rao-Blackwellised marginal mean, sd, and the Monte Carlo error of that mean."""
    means, variances = [], []
    for scales in zip(*draws, strict=True):
        mean, cov = _conditional(X, y, prior_var_of(scales[1:]), scales[0])
        means.append(mean)
        variances.append(np.diag(cov))
    means_arr = np.array(means)
    error = means_arr.std(0) / np.sqrt(len(means_arr))
    return means_arr.mean(0), np.sqrt(np.array(variances).mean(0) + means_arr.var(0)), error


def _thin(values: np.ndarray, every: int = 10) -> np.ndarray:
    return values.reshape(-1)[::every]


def _design(frame: pd.DataFrame, uranium: bool = False) -> tuple[np.ndarray, list[str]]:
    counties = list(frame["county"].cat.categories)
    dummies = (frame["county"].to_numpy()[:, None] == np.array(counties)[None, :]).astype(float)
    return dummies, counties


def _fit(path: Path, store: Path) -> tuple[pd.DataFrame, object]:
    study = load_study(path)
    (fit,) = fit_study(study, store=store, jobs=1).values()
    assert fit.ok, fit.error
    frame = pd.read_csv(path.parent / "radon12.csv")
    frame["county"] = pd.Categorical(frame["county"], categories=sorted(frame["county"].unique()))
    return frame, fit.tree


def _agree(sampled: np.ndarray, exact: tuple, index: int, label: str) -> None:
    """Sampled (chain, draw) values match the exact mean within Monte Carlo error, and its sd."""
    mean, sd, error = (part[index] for part in exact)
    mcse = float(azs.mcse(np.asarray(sampled)))  # sampled is (chain, draw)
    tolerance = 4 * np.hypot(mcse, error)
    assert abs(sampled.mean() - mean) < tolerance, (label, sampled.mean(), mean, tolerance)
    assert sampled.std() == pytest.approx(sd, rel=0.12), (label, sampled.std(), sd)


def test_pooled(radon_subset: Path, tmp_path: Path) -> None:
    path = _study(
        radon_subset,
        "pooled",
        "log_radon ~ floor",
        {"Intercept": "Normal(0, 10)", "floor": "Normal(0, 10)", "sigma": "HalfNormal(2)"},
    )
    frame, tree = _fit(path, tmp_path)
    post = tree["posterior"]
    X = np.column_stack([np.ones(len(frame)), frame["floor"]])
    sigma = _thin(post["sigma"].values)
    exact = _reference(X, frame["log_radon"].to_numpy(), lambda s: np.full(2, PRIOR_SD**2), [sigma])
    _agree(post["Intercept"].values, exact, 0, "Intercept")
    _agree(post["floor"].values, exact, 1, "floor")


def test_unpooled(radon_subset: Path, tmp_path: Path) -> None:
    path = _study(
        radon_subset,
        "unpooled",
        "log_radon ~ 0 + county + county:floor",
        {"county": "Normal(0, 10)", "county:floor": "Normal(0, 10)", "sigma": "HalfNormal(2)"},
    )
    frame, tree = _fit(path, tmp_path)
    post = tree["posterior"]
    dummies, counties = _design(frame)
    X = np.column_stack([dummies, dummies * frame["floor"].to_numpy()[:, None]])
    sigma = _thin(post["sigma"].values)
    k = X.shape[1]
    exact = _reference(X, frame["log_radon"].to_numpy(), lambda s: np.full(k, PRIOR_SD**2), [sigma])
    for j in range(len(counties)):
        _agree(post["county"].values[..., j], exact, j, counties[j])


@pytest.mark.parametrize("uranium", [False, True], ids=["varying-intercept", "with-uranium"])
def test_varying_intercept(radon_subset: Path, tmp_path: Path, uranium: bool) -> None:
    formula = (
        "log_radon ~ floor + log_uranium + (1|county)"
        if uranium
        else "log_radon ~ floor + (1|county)"
    )
    priors = {
        "Intercept": "Normal(0, 10)",
        "floor": "Normal(0, 10)",
        "1|county": "Normal(0, sigma=HalfNormal(1))",
        "sigma": "HalfNormal(2)",
    }
    if uranium:
        priors["log_uranium"] = "Normal(0, 10)"
    path = _study(radon_subset, "vi_u" if uranium else "vi", formula, priors)
    frame, tree = _fit(path, tmp_path)
    post = tree["posterior"]
    dummies, counties = _design(frame)
    fixed = [np.ones(len(frame)), frame["floor"].to_numpy()]
    if uranium:
        fixed.append(frame["log_uranium"].to_numpy())
    n_fixed = len(fixed)
    X = np.column_stack([*fixed, dummies])
    scales = [_thin(post["sigma"].values), _thin(post["1|county_sigma"].values)]

    def prior_var(group_sd: tuple[float, ...]) -> np.ndarray:
        return np.concatenate(
            [np.full(n_fixed, PRIOR_SD**2), np.full(len(counties), group_sd[0] ** 2)]
        )

    exact = _reference(X, frame["log_radon"].to_numpy(), prior_var, scales)
    _agree(post["Intercept"].values, exact, 0, "Intercept")
    _agree(post["floor"].values, exact, 1, "floor")
    if uranium:
        _agree(post["log_uranium"].values, exact, 2, "log_uranium")
    for j in range(len(counties)):
        _agree(post["1|county"].values[..., j], exact, n_fixed + j, counties[j])


def test_varying_intercept_and_slope(radon_subset: Path, tmp_path: Path) -> None:
    priors = {
        "Intercept": "Normal(0, 10)",
        "floor": "Normal(0, 10)",
        "1|county": "Normal(0, sigma=HalfNormal(1))",
        "floor|county": "Normal(0, sigma=HalfNormal(1))",
        "sigma": "HalfNormal(2)",
    }
    path = _study(radon_subset, "vis", "log_radon ~ floor + (floor|county)", priors)
    frame, tree = _fit(path, tmp_path)
    post = tree["posterior"]
    dummies, counties = _design(frame)
    X = np.column_stack(
        [np.ones(len(frame)), frame["floor"], dummies, dummies * frame["floor"].to_numpy()[:, None]]
    )
    scales = [
        _thin(post["sigma"].values),
        _thin(post["1|county_sigma"].values),
        _thin(post["floor|county_sigma"].values),
    ]
    j = len(counties)

    def prior_var(group_sd: tuple[float, ...]) -> np.ndarray:
        return np.concatenate(
            [np.full(2, PRIOR_SD**2), np.full(j, group_sd[0] ** 2), np.full(j, group_sd[1] ** 2)]
        )

    exact = _reference(X, frame["log_radon"].to_numpy(), prior_var, scales)
    _agree(post["Intercept"].values, exact, 0, "Intercept")
    _agree(post["floor"].values, exact, 1, "floor")
    for c in range(j):
        _agree(post["floor|county"].values[..., c], exact, 2 + j + c, counties[c])
