from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from radonspec.analysis.frequentist import _bambi_name, mixedlm_table
from radonspec.errors import CompileError, DataError

RADON = "radonspec/data/datasets/radon.csv"


@pytest.fixture(scope="module")
def radon() -> pd.DataFrame:
    from pathlib import Path

    frame = pd.read_csv(Path(__file__).resolve().parents[2] / RADON)
    frame["county"] = frame["county"].astype("category")
    return frame


@pytest.fixture(scope="module")
def varying_slopes(radon: pd.DataFrame) -> pd.DataFrame:
    return mixedlm_table("log_radon ~ floor + (floor|county)", radon)


def test_varying_slopes_rows_are_named_like_bambi(varying_slopes: pd.DataFrame) -> None:
    table = varying_slopes
    assert list(table.index) == [
        "Intercept", "floor", "1|county_sigma", "floor|county_sigma", "sigma",
    ]  # fmt: skip
    assert list(table.columns) == ["estimate", "se", "kind"]
    assert list(table["kind"]) == ["fixed", "fixed", "sd", "sd", "sd"]
    assert table.attrs["converged"] is True
    # REML with independent intercept and slope variances, as Bambi's (floor|county)
    assert table.loc["Intercept", "estimate"] == pytest.approx(1.4605, abs=1e-3)
    assert table.loc["floor", "estimate"] == pytest.approx(-0.6749, abs=1e-3)
    assert table.loc["Intercept", "se"] == pytest.approx(0.0524, abs=1e-3)
    assert table.loc["sigma", "estimate"] == pytest.approx(np.sqrt(0.5591), abs=1e-3)


def test_varying_intercept_matches_statsmodels_directly(radon: pd.DataFrame) -> None:
    import statsmodels.api as sm

    table = mixedlm_table("log_radon ~ floor + (1|county)", radon)
    result = sm.MixedLM.from_formula("log_radon ~ floor", radon, groups=radon["county"]).fit(
        reml=True
    )
    assert list(table.index) == ["Intercept", "floor", "1|county_sigma", "sigma"]
    assert table.loc["Intercept", "estimate"] == pytest.approx(1.46, abs=0.01)
    assert table.loc["floor", "estimate"] == pytest.approx(-0.69, abs=0.01)
    np.testing.assert_allclose(table["estimate"].iloc[:2], result.fe_params, rtol=1e-6)
    np.testing.assert_allclose(table["se"].iloc[:2], result.bse_fe, rtol=1e-6)
    sd = np.sqrt(result.cov_re.iloc[0, 0])
    assert table.loc["1|county_sigma", "estimate"] == pytest.approx(sd, rel=1e-6)
    # delta method from statsmodels' SE of the variance
    assert table.loc["1|county_sigma", "se"] == pytest.approx(result.bse_re.iloc[0] / (2 * sd))
    sigma = np.sqrt(result.scale)
    assert table.loc["sigma", "estimate"] == pytest.approx(sigma, rel=1e-6)
    assert table.loc["sigma", "se"] == pytest.approx(sigma / np.sqrt(2 * (len(radon) - 2)))


def test_slope_without_random_intercept_and_extra_predictor(radon: pd.DataFrame) -> None:
    table = mixedlm_table("log_radon ~ floor + log_uranium + (0 + floor|county)", radon)
    assert list(table.index) == ["Intercept", "floor", "log_uranium", "floor|county_sigma", "sigma"]
    assert table.loc["log_uranium", "estimate"] == pytest.approx(0.81, abs=0.05)


def test_patsy_labels_become_bambi_labels() -> None:
    assert _bambi_name("county[T.AITKIN]") == "county[AITKIN]"
    assert _bambi_name("county[AITKIN]:floor") == "county:floor[AITKIN]"
    assert _bambi_name("floor") == "floor"


@pytest.mark.parametrize(
    ("formula", "message"),
    [
        ("log_radon ~ floor", r"exactly one grouping factor, found none"),
        (
            "log_radon ~ floor + (1|county) + (1|floor)",
            r"exactly one grouping factor, found 2 grouping factors \(county, floor\)",
        ),
    ],
)
def test_formulas_it_cannot_translate_are_compile_errors(
    radon: pd.DataFrame, formula: str, message: str
) -> None:
    with pytest.raises(CompileError, match=message):
        mixedlm_table(formula, radon)


def test_unknown_columns_are_data_errors(radon: pd.DataFrame) -> None:
    with pytest.raises(DataError, match=r"uses 'flor', .* \(did you mean 'floor'\?\)"):
        mixedlm_table("log_radon ~ flor + (1|county)", radon)


@pytest.mark.slow
def test_close_to_bambi_posterior_means(radon: pd.DataFrame, varying_slopes: pd.DataFrame) -> None:
    import bambi as bmb

    with warnings.catch_warnings():
        # third-party chatter while sampling is not under test
        warnings.simplefilter("ignore")
        model = bmb.Model("log_radon ~ floor + (floor|county)", radon)
        tree = model.fit(
            draws=200, tune=200, chains=2, random_seed=1, progressbar=False, cores=1,
            compute_convergence_checks=False,
        )  # fmt: skip
    post = tree["posterior"].to_dataset()
    for name in ("Intercept", "floor", "1|county_sigma", "floor|county_sigma", "sigma"):
        draws = post[name]
        distance = abs(float(draws.mean()) - varying_slopes.loc[name, "estimate"])
        assert distance < float(draws.std()), name
