"""analysis.reference: statsmodels' fits of the corpus models agree with R's (no sampling).

Each corpus model is compiled (Bambi's design, nothing sampled) and fitted by statsmodels
where it can be: REML MixedLM for Gaussian mixed models (one factor, crossed and nested
variance components), ML GLM, NegativeBinomial and OrderedModel for pooled models. The
estimates must be R's (lmer REML, glm, glm.nb, MASS::polr / ordinal::clm) to 1e-3 of R's
standard error; a model statsmodels cannot fit is refused with one sentence.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from corpus_studies import DATASETS, model_entries, reference_fit, study_text  # noqa: E402

from radonspec.analysis.reference import NoReference, frequentist_reference  # noqa: E402
from radonspec.compile.model import compile_model  # noqa: E402
from radonspec.fit.runner import study_frame  # noqa: E402
from radonspec.study.loader import load_study_text  # noqa: E402

CASES = [
    (dataset, model["id"])
    for dataset in DATASETS
    for model in model_entries(dataset, correlated=False)
]
REFUSED = {
    "cbpp_binomial": "binomial",
    "bacteria_bernoulli": "bernoulli",
    "contraception_bernoulli": "bernoulli",
    "contraception_quadratic": "bernoulli",
    "mmmec_poisson": "poisson",
    "grouseticks_negbin": "negativebinomial",
    "chickweight_gamma": "gamma",
    "wine_clmm": "cumulative",
}


@pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning")
@pytest.mark.parametrize(("dataset", "model"), CASES)
def test_statsmodels_agrees_with_r_or_says_why_not(
    dataset: str, model: str, tmp_path: Path
) -> None:
    text = study_text(dataset, sampler="{draws: 10}", models=[model], alternatives=False)
    study = load_study_text(text, tmp_path / "study.yaml")
    spec = study.models[model]
    built = compile_model(study, model, study_frame(study)).model
    if model in REFUSED:
        family = REFUSED[model]
        with pytest.raises(
            NoReference,
            match=f"statsmodels has no maximum-likelihood fit of a {family} model with"
            " group-specific terms",
        ):
            frequentist_reference(built, spec.family, list(spec.formulas), built.data)
        return
    table = frequentist_reference(built, spec.family, list(spec.formulas), built.data)
    reference = reference_fit(model)
    assert table.attrs["method"] == ("REML" if reference.get("group_sd") else "ML")
    for row in reference.get("fixed", []) + reference.get("thresholds", []):
        found = table.loc[row["name"]]
        assert found["estimate"] == pytest.approx(row["estimate"], abs=1e-3 * row["se"])
        # SEs differ by method (lmer conditions on the variance components; glm.nb on theta)
        assert found["se"] == pytest.approx(row["se"], rel=0.15)
    for sd in reference.get("group_sd", []):
        assert table.loc[f"{sd['term']}_sigma", "estimate"] == pytest.approx(sd["sd"], rel=1e-3)
    for name in ("sigma", "alpha"):
        if name in reference and name in table.index:
            assert table.loc[name, "estimate"] == pytest.approx(reference[name], rel=1e-3)


def test_an_interaction_of_two_factors_is_named_as_bambi_names_it() -> None:
    """R's datasets::warpbreaks: the reference column filled the interaction rows with '—'.

    Reference: R 4.2.2, ``MASS::glm.nb(breaks ~ wool * tension, data = warpbreaks)`` with
    tension in its order L, M, H: woolB:tensionM 0.6382 (SE 0.2274), woolB:tensionH 0.1884
    (0.2316), theta 12.08.
    """
    import bambi as bmb
    import pandas as pd

    data = pd.read_csv(Path(__file__).parents[1] / "fixtures" / "data" / "warpbreaks.csv")
    data["tension"] = pd.Categorical(data["tension"], ["L", "M", "H"], ordered=True)
    data["wool"] = pd.Categorical(data["wool"], ["A", "B"], ordered=True)
    model = bmb.Model("breaks ~ wool * tension", data, family="negativebinomial")
    model.build()
    table = frequentist_reference(model, "negativebinomial", ["breaks ~ wool * tension"], data)
    assert list(table.index[-3:-1]) == ["wool:tension[B, M]", "wool:tension[B, H]"]
    assert table.loc["wool:tension[B, M]", "estimate"] == pytest.approx(0.6382, abs=1e-4)
    assert table.loc["wool:tension[B, M]", "se"] == pytest.approx(0.2274, abs=1e-4)
    assert table.loc["wool:tension[B, H]", "estimate"] == pytest.approx(0.1884, abs=1e-4)
    assert table.loc["alpha", "estimate"] == pytest.approx(12.08, abs=0.01)
