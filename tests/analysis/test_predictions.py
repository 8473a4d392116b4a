"""``radonspec.predict`` and ``radonspec predict`` on the toy study's (replayed) fits.

The draws are the toy study's real fits, recorded once per session (``fake_sampler``);
these tests check the plumbing: agreement with Bambi's own ``predict`` on the same fit,
new groups, blocks, output files, and the one-line errors. Real radon and non-Gaussian
fits are in tests/integration/test_after_fit.py.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from typer.testing import CliRunner

import radonspec
from radonspec.analysis.predictions import load_predictor
from radonspec.cli.app import app

NEW = pd.DataFrame({"x": [-1.0, 0.0, 1.5, 0.5], "g": ["g0", "g3", "g9", "g9"], "id": [1, 2, 3, 4]})


@pytest.fixture
def fitted(toy: Path, fake_sampler: Any, tmp_path: Path) -> tuple[Path, Path]:
    store = tmp_path / "store"
    radonspec.fit_study(toy, store=store, jobs=1)
    return toy, store


def bambi_draws(toy: Path, store: Path, model: str, data: pd.DataFrame, seed: int) -> Any:
    """Bambi's own predictions on the same fit: expected values and predictive draws."""
    predictor = load_predictor(radonspec.load_study(toy), model, store)
    tree = xr.DataTree.from_dict({"posterior": predictor.posterior})
    frame = data.assign(g=pd.Categorical(data["g"]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        predictor.model.predict(tree, kind="response", data=frame, inplace=True,
                                random_seed=seed)  # fmt: skip
    mu = tree["posterior"]["mu"].stack(s=("chain", "draw")).transpose("s", ...).values
    y = tree["posterior_predictive"]["y"].stack(s=("chain", "draw")).transpose("s", ...).values
    return mu, y


def test_predictions_agree_with_bambi_predict_on_the_same_fit(fitted: tuple[Path, Path]) -> None:
    toy, store = fitted
    known = NEW.iloc[:2]
    found = radonspec.predict(toy, "varying", known, store=store, seed=11)
    frame = found.to_frame()
    state = int(np.random.SeedSequence([11, 0]).generate_state(1)[0])
    mu, y = bambi_draws(toy, store, "varying", known[["x", "g"]], state)
    np.testing.assert_allclose(frame["pred_mean"], mu.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(frame["pred_sd"], mu.std(axis=0, ddof=1), rtol=1e-12)
    np.testing.assert_allclose(frame["pred_lower_89"], np.quantile(y, 0.055, axis=0))
    np.testing.assert_allclose(frame["pred_upper_89"], np.quantile(y, 0.945, axis=0))
    assert frame["id"].tolist() == [1, 2] and not frame["new_group"].any()
    assert found.columns == ("pred_mean", "pred_sd", "pred_lower_89", "pred_upper_89",
                             "new_group")  # fmt: skip


def test_predictions_of_a_csv_keep_its_numbers_as_numbers(
    fitted: tuple[Path, Path], tmp_path: Path
) -> None:
    """Read as text to check each value, the file's own columns come back as pandas reads them."""
    toy, store = fitted
    NEW.to_csv(tmp_path / "new.csv", index=False)
    from_file = radonspec.predict(toy, "varying", tmp_path / "new.csv", store=store).to_frame()
    from_frame = radonspec.predict(toy, "varying", NEW, store=store).to_frame()
    assert from_file.dtypes.to_dict() == from_frame.dtypes.to_dict()
    pd.testing.assert_frame_equal(from_file, from_frame)


def test_a_new_group_is_flagged_and_predicted_from_the_population(
    fitted: tuple[Path, Path],
) -> None:
    toy, store = fitted
    found = radonspec.predict(toy, "varying", NEW, store=store)
    frame = found.to_frame()
    assert frame["new_group"].tolist() == [False, False, True, True]
    assert found.new_group_rows == 2 and found.new_levels == {"g": ["g9"]}
    # a new group carries the spread between groups: wider than a fitted group at the same x
    at_same_x = radonspec.predict(toy, "varying", NEW.assign(x=0.5), store=store).to_frame()
    assert at_same_x.loc[3, "pred_sd"] > at_same_x.loc[0, "pred_sd"]
    assert "2 in new groups" in repr(found)


def test_blocks_do_not_change_the_expected_values(fitted: tuple[Path, Path]) -> None:
    toy, store = fitted
    rows = pd.concat([NEW.iloc[:2]] * 5, ignore_index=True)
    study = radonspec.load_study(toy)
    from radonspec.analysis.predictions import predict_study

    whole = predict_study(study, "varying", rows, store=store).to_frame()
    blocked = predict_study(study, "varying", rows, store=store, block_rows=3).to_frame()
    np.testing.assert_allclose(blocked["pred_mean"], whole["pred_mean"], rtol=1e-12)
    np.testing.assert_allclose(blocked["pred_sd"], whole["pred_sd"], rtol=1e-12)
    assert len(blocked) == 10


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_the_command_writes_a_file_and_says_what_it_did(
    fitted: tuple[Path, Path], tmp_path: Path, suffix: str
) -> None:
    toy, store = fitted
    data = tmp_path / f"new{suffix}"
    NEW.to_csv(data, index=False) if suffix == ".csv" else NEW.to_parquet(data)
    out = tmp_path / f"pred{suffix}"
    args = ["predict", str(toy), "--model", "varying", "--data", str(data), "--out", str(out),
            "--store", str(store), "--interval", "0.5"]  # fmt: skip
    done = CliRunner().invoke(app, args)
    assert done.exit_code == 0, done.output
    assert "4 rows predicted by 'varying'" in done.output
    assert "g: 1 level the fit never saw (g9)" in done.output
    read = pd.read_csv(out) if suffix == ".csv" else pd.read_parquet(out)
    assert list(read.columns) == ["x", "g", "id", "pred_mean", "pred_sd", "pred_lower_50",
                                  "pred_upper_50", "new_group"]  # fmt: skip
    assert (read["pred_lower_50"] < read["pred_upper_50"]).all()
    again = CliRunner().invoke(app, args)  # its own file: replaced without --force
    assert again.exit_code == 0, again.output


def test_a_missing_fit_says_how_to_fit_it(toy: Path, tmp_path: Path) -> None:
    data, out = toy.parent / "toy.csv", tmp_path / "p.csv"
    args = ["predict", str(toy), "-m", "varying", "--data", str(data), "--out", str(out),
            "--store", str(tmp_path / "none")]  # fmt: skip
    done = CliRunner().invoke(app, args)
    assert done.exit_code == 2
    assert "has no stored fit" in done.output and "predict never fits" in done.output
    assert f"fit it first with: radonspec run {toy}" in " ".join(done.output.split())
    assert not (tmp_path / "p.csv").exists()


def test_bad_new_data_is_one_located_line_and_writes_nothing(
    fitted: tuple[Path, Path], tmp_path: Path
) -> None:
    toy, store = fitted
    data = tmp_path / "new.csv"
    data.write_text("x,g\n0.5,g0\n0.2,g1\nabc,g2\n")
    out = tmp_path / "pred.csv"
    args = ["predict", str(toy), "-m", "varying", "--data", str(data), "--out", str(out),
            "--store", str(store)]  # fmt: skip
    done = CliRunner().invoke(app, args)
    assert done.exit_code == 1
    assert done.output == (
        f"error: {data}: column 'x', row 3: 'abc' is not a number; the model reads this column"
        " as numbers: fix the value\n"
    )
    assert not out.exists()
    done = CliRunner().invoke(app, [*args[:3], "varyng", *args[4:]])
    assert done.exit_code == 1 and "(did you mean 'varying'?)" in done.output


def test_the_columns_a_prediction_needs_read_lme4_s_double_bar() -> None:
    from types import SimpleNamespace

    import pandas as pd

    from radonspec.analysis.predict import needs_of

    frame = pd.DataFrame({"y": [1.0, 2.0], "x": [0.5, 1.5], "g": pd.Categorical(["a", "b"])})
    needs = needs_of("m", SimpleNamespace(data=frame), ("y ~ x + (x || g)",))
    assert needs.numeric == ("x",)
    assert set(needs.groups) == {"g"} and not needs.categorical
