"""Thinning (``sampler.thin``) and fits without predictive draws (``sampler.predictive``).

Real fits of the pooled radon model (2 chains x 100 draws), made once for the module
through the store, plus one unthinned fit with the same seed to compare against.
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import arviz_stats as azs
import numpy as np
import pytest

from radonspec.analysis.loo import compare_fits
from radonspec.analysis.predictive import NO_PREDICTIVE, loo_pit, ppc_rmsd, prediction_rmsd
from radonspec.api import fit_study
from radonspec.errors import SpecError
from radonspec.fit import runner
from radonspec.fit.budget import MAX_BYTES_ENV
from radonspec.fit.record import Fit
from radonspec.fit.runner import open_store, plan_fit, plan_study, study_frame
from radonspec.fit.sample import sample_model, thin_tree
from radonspec.study.loader import load_study, load_study_text
from radonspec.study.schema import SamplerSpec, Study

ROOT = Path(__file__).resolve().parents[2]
SEED_SPEC = ROOT / "specs" / "radon" / "seed.yaml"
#: plan_fit's key of the seed study's 'pooled' model, computed before thin and predictive
#: existed (with the versions below): adding the fields must not change any stored key.
# store format 2 (issue 18): the key lists what changes the draws; format 1's pin was
# cd493c211790c01f2ebd18048051c29eea22d4423668ae9a54af537a0b08f61f. Then, on purpose, nutpie
# fits without Numba's fast math (radonspec.fit.numerics: draws sampled with it depended on
# the compile cache, so those fits are not these); format 2's pin was 49e864d0b99bb660....
PINNED_POOLED_KEY = "0fc850b18b449528cc38ff75349277f692863003f669bb5b7644127b1e7035dc"
FIXED_VERSIONS = {"radonspec": "0.1.0", "bambi": "0.21.0", "backend": "nutpie"}

STUDY = """\
spec_version: 1
name: thin
data: {dataset: radon, categorical: [county]}
defaults:
  sampler: {draws: 100, tune: 100, chains: 2, seed: 7}
models:
  thinned:
    formula: log_radon ~ floor
    sampler: {thin: 2}
  blind:
    formula: log_radon ~ floor
    sampler: {predictive: false}
"""
DRAW_GROUPS = ("posterior", "sample_stats", "log_likelihood", "posterior_predictive")

pytestmark = [
    pytest.mark.slow,
    # Bambi's FutureWarnings and PyMC's "Only 100 samples per chain" in tiny test fits
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning"),
]


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Study:
    return load_study_text(STUDY, tmp_path_factory.mktemp("thin") / "study.yaml")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("thin-store")


@pytest.fixture(scope="module")
def fits(study: Study, store: Path) -> dict[str, Fit]:
    found = fit_study(study, store=store, jobs=1)
    assert all(fit.ok for fit in found.values()), {n: f.error for n, f in found.items()}
    return found


def _tree(fit: Fit) -> Any:
    assert fit.tree is not None
    return fit.tree


# -- thinning ------------------------------------------------------------------------------


def test_thin_keeps_every_second_draw_in_every_stored_group(fits: dict[str, Fit]) -> None:
    tree = _tree(fits["thinned"])
    for group in DRAW_GROUPS:
        sizes = tree[group].to_dataset().sizes
        assert (sizes["chain"], sizes["draw"]) == (2, 50), group
    assert list(tree["posterior"]["draw"].values) == list(range(0, 100, 2))
    assert tree["log_likelihood"]["log_radon"].sizes["__obs__"] == 919
    assert "mu" not in tree["posterior"].data_vars  # per-observation values still dropped


def test_thinned_fit_is_stored_and_read_back_thinned(fits: dict[str, Fit], store: Path) -> None:
    loaded = open_store(store).get(fits["thinned"].key)
    assert loaded is not None and loaded.tree is not None
    for group in ("posterior", "sample_stats", "log_likelihood"):
        assert loaded.tree[group].to_dataset().sizes["draw"] == 50, group


def test_loo_works_on_a_thinned_fit(fits: dict[str, Fit]) -> None:
    result = azs.loo(_tree(fits["thinned"]), pointwise=True)
    assert result.n_samples == 100 and result.n_data_points == 919
    assert np.isfinite(result.elpd) and -1200 < result.elpd < -1050


def test_thinned_draws_are_every_thin_th_draw_of_the_same_run(
    study: Study, fits: dict[str, Fit]
) -> None:
    """Same seed, thin 1: the thinned fit's draws and log-likelihood are its every 2nd ones.

    The unthinned log-likelihood comes from PyMC, the thinned one from Bambi's
    ``compute_log_likelihood``: they must agree value for value.
    """
    (item,) = plan_study(study, ["thinned"])
    unthinned = study.models["thinned"].sampler.model_copy(update={"thin": 1})
    full = sample_model(item.compile(study), key="full", sampler=unthinned, seed=item.seed)
    assert full.ok, full.error
    full_tree, thinned = _tree(full), _tree(fits["thinned"])
    for group in ("posterior", "log_likelihood"):
        every_second = full_tree[group].to_dataset().isel(draw=slice(None, None, 2))
        kept = thinned[group].to_dataset()
        for name in kept.data_vars:
            np.testing.assert_allclose(kept[name].values, every_second[name].values, rtol=1e-9)


def test_thin_tree_leaves_groups_without_draws_alone(fits: dict[str, Fit]) -> None:
    tree = _tree(fits["blind"]).copy()
    thinned = thin_tree(tree, 4)
    assert thinned["posterior"].to_dataset().sizes["draw"] == 25
    assert thinned["observed_data"].to_dataset().sizes["__obs__"] == 919
    assert thin_tree(tree, 1) is tree


# -- no predictive draws ---------------------------------------------------------------------


def test_predictive_false_stores_no_predictive_draws(fits: dict[str, Fit], store: Path) -> None:
    tree = _tree(fits["blind"])
    assert "posterior_predictive" not in tree.children
    assert {"posterior", "log_likelihood", "observed_data", "sample_stats"} <= set(tree.children)
    assert tree["posterior"].to_dataset().sizes["draw"] == 100
    assert "predict" not in fits["blind"].seconds
    loaded = open_store(store).get(fits["blind"].key)
    assert loaded is not None and loaded.tree is not None
    assert "posterior_predictive" not in loaded.tree.children


def test_comparison_without_predictive_draws_leaves_rmsd_out(fits: dict[str, Fit]) -> None:
    comparison = compare_fits({name: _tree(fit) for name, fit in fits.items()})
    rows = {row.model: row for row in comparison.rows}
    assert rows["blind"].rmsd is None
    assert rows["thinned"].rmsd is not None and np.isfinite(rows["thinned"].rmsd)
    assert np.isfinite(rows["blind"].elpd)


@pytest.mark.parametrize("check", [ppc_rmsd, prediction_rmsd, loo_pit])
def test_predictive_checks_say_they_were_not_computed(fits: dict[str, Fit], check: Any) -> None:
    assert NO_PREDICTIVE == (
        "not computed: the fit stores no predictive draws (sampler.predictive: false)"
    )
    with pytest.raises(ValueError, match=r"^not computed: .*\(sampler\.predictive: false\)$"):
        check(_tree(fits["blind"]))


# -- the memory refusal ----------------------------------------------------------------------


def test_memory_refusal_names_thin_and_predictive(
    study: Study, monkeypatch: pytest.MonkeyPatch
) -> None:
    (item,) = plan_study(study, ["thinned"])
    monkeypatch.setenv(MAX_BYTES_ENV, "1M")
    sampler = study.models["thinned"].sampler
    fit = sample_model(item.compile(study), key=item.key, sampler=sampler, seed=item.seed)
    assert fit.status == "failed" and "sample" not in fit.seconds
    # 919 rows x 100 kept draws each of mu, log-likelihood and predictive draws
    assert fit.error == (
        "model 'thinned': its fit would take about 2.2 MB of memory (per-observation values"
        " 735.2 kB, log-likelihood 735.2 kB, predictive draws 735.2 kB, sampler statistics"
        " 25.6 kB, posterior 4.8 kB; 2 chains x 100 draws, one in 2 kept, of 919"
        " observations), more than the limit of 1.0 MB; reduce it with fewer draws"
        " (sampler.draws: 44 fits), thinning (sampler.thin: 5 keeps one draw in 5), not"
        f" storing predictive draws (sampler.predictive: false) or a higher limit"
        f" ({MAX_BYTES_ENV}=3M)"
    )


# -- the spec --------------------------------------------------------------------------------


def test_sampler_defaults_keep_every_draw_and_the_predictive_draws() -> None:
    sampler = SamplerSpec()
    assert (sampler.thin, sampler.predictive) == (1, True)


def test_thin_larger_than_draws_is_a_located_spec_error(tmp_path: Path) -> None:
    text = STUDY.replace("sampler: {thin: 2}", "sampler: {thin: 200}")
    with pytest.raises(SpecError) as info:
        load_study_text(text, tmp_path / "study.yaml")
    assert str(info.value).endswith(
        "models.thinned.sampler: thin (200) is larger than draws (100): only the first draw"
        " of each chain would be kept; lower thin, or raise draws to thin times the draws"
        " per chain you want to keep"
    )
    assert info.value.line is not None


@pytest.mark.parametrize(
    ("value", "message"),
    [(0, r"thin: input should be greater than or equal to 1 \(got 0\)"), (10_001, "less than")],
)
def test_thin_out_of_range_is_refused(tmp_path: Path, value: int, message: str) -> None:
    text = STUDY.replace("draws: 100, tune: 100", "draws: 100000, tune: 100").replace(
        "sampler: {thin: 2}", f"sampler: {{thin: {value}}}"
    )
    with pytest.raises(SpecError, match=message):
        load_study_text(text, tmp_path / "study.yaml")


# -- fit keys --------------------------------------------------------------------------------


def _pooled_key(monkeypatch: pytest.MonkeyPatch, sampler_extra: str = "") -> str:
    # versions enter the key: fixed here so that upgrading a package does not move the pin
    monkeypatch.setattr(runner, "versions", lambda backend: FIXED_VERSIONS | {"backend": backend})
    text = SEED_SPEC.read_text()
    if sampler_extra:
        text = text.replace("target_accept: 0.9}", f"target_accept: 0.9, {sampler_extra}}}")
        assert sampler_extra in text
    study = load_study_text(text, SEED_SPEC)
    return plan_fit(study, "pooled", study_frame(study, ["pooled"])).key


def test_keys_are_pinned_and_default_settings_written_out_keep_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert _pooled_key(monkeypatch) == PINNED_POOLED_KEY
    assert _pooled_key(monkeypatch, "thin: 1, predictive: true") == PINNED_POOLED_KEY


def test_settings_that_do_not_change_the_draws_keep_the_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert _pooled_key(monkeypatch, "time_limit: 600") == PINNED_POOLED_KEY


def test_thinning_or_dropping_predictive_draws_changes_the_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    keys = {
        _pooled_key(monkeypatch, extra)
        for extra in ("", "thin: 2", "thin: 3", "predictive: false", "thin: 2, predictive: false")
    }
    assert len(keys) == 5


def test_the_seed_study_loads_with_default_sampler_settings() -> None:
    study = load_study(SEED_SPEC)
    assert all(spec.sampler.thin == 1 and spec.sampler.predictive for spec in study.models.values())


def test_report_of_a_fit_without_predictive_draws_says_what_it_skipped(
    study: Study, fits: dict[str, Fit], tmp_path: Path
) -> None:
    from radonspec.api import analyse, write_report

    reported = study.model_copy(
        update={
            "report": study.report.model_copy(
                update={
                    "group": "county",
                    "predictor": "floor",
                    "highlight": ("CASS",),
                    "formats": ("markdown",),
                }  # fmt: skip
            )
        }
    )
    written = write_report(reported, analyse(reported, fits), tmp_path)
    markdown = written["markdown"].read_text()
    assert "'blind' has no posterior predictive draws to check (its sampler has predictive:" in (
        markdown
    )
    assert "PP RMSD of 'blind' not computed: the fit stores no predictive draws" in markdown
    assert "could not be made" not in markdown  # the fitted lines need only the posterior
    assert "could not be built" not in markdown


def test_log_likelihood_and_predictions_in_blocks_equal_the_whole(
    study: Study, monkeypatch: pytest.MonkeyPatch
) -> None:
    from radonspec.compile.model import compile_model
    from radonspec.fit import sample
    from radonspec.fit.runner import study_frame

    # thinned: the log-likelihood is computed after sampling, where blocks apply
    spec = study.models["thinned"].sampler
    assert spec.thin == 2
    frame = study_frame(study)

    def fit() -> Any:
        compiled = compile_model(study, "thinned", frame)
        found = sample.sample_model(compiled, key="k", sampler=spec, seed=3)
        assert found.ok, found.error
        return found.tree

    monkeypatch.setattr(sample, "BLOCK_VALUES", 10**12)
    whole = fit()
    monkeypatch.setattr(sample, "BLOCK_VALUES", 50_000)  # 2 chains x 919 rows: 27 draws a block
    blocks = fit()
    np.testing.assert_array_equal(
        blocks["posterior"]["floor"].values, whole["posterior"]["floor"].values
    )
    name = next(iter(whole["log_likelihood"].data_vars))
    np.testing.assert_allclose(
        blocks["log_likelihood"][name].values, whole["log_likelihood"][name].values, rtol=1e-9
    )
    assert blocks["log_likelihood"][name].dims == whole["log_likelihood"][name].dims
    predicted = blocks["posterior_predictive"][name]
    assert predicted.shape == whole["posterior_predictive"][name].shape
    # every block draws its own predictions: no two blocks repeat one another
    values = predicted.values
    assert not np.array_equal(values[:, :23], values[:, 27:50])
    assert abs(float(values.mean()) - float(whole["posterior_predictive"][name].mean())) < 0.05


def test_loo_pit_reuses_the_smoothed_weights_of_loo(fits: dict[str, Fit]) -> None:
    from radonspec.analysis import psis
    from radonspec.analysis.predictive import loo_pit

    tree = _tree(fits["thinned"]).copy()
    alone = loo_pit(tree)
    assert psis.computed(tree) is None
    psis.cached_loo(tree)
    assert psis.computed(tree) is not None
    np.testing.assert_array_equal(loo_pit(tree), alone)
    key = id(tree)
    del tree
    gc.collect()
    assert key not in psis._PSIS  # the cache holds nothing of a tree that is gone
