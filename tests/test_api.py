"""The public API as a user calls it: ``import radonspec`` and its functions.

Fits come from ``fake_sampler`` (conftest): real draws recorded once per session and
replayed, so these tests check the plumbing (planning, the store, the analysis cache,
report reuse, exit codes, k-fold) in seconds. Real sampling is in tests/integration.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import radonspec
from radonspec.cli.app import app

HEAVY = ("pymc", "bambi", "pytensor", "nutpie", "arviz", "arviz_stats", "xarray", "pandas")


def summary_of(written: dict[str, Path]) -> dict[str, Any]:
    """summary.json without what differs between two writes of one report."""
    found = json.loads(written["json"].read_text())
    found.pop("created")
    for model in found["models"].values():
        model.pop("cached", None)
        model.pop("seconds", None)
    return found


def test_import_radonspec_is_cheap_and_lists_the_api() -> None:
    code = (
        "import sys, radonspec; print(sorted({m.split('.')[0] for m in sys.modules}"
        f" & set({HEAVY!r})))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
    for name in ("load_study", "validate", "fit_study", "compare", "analyse", "write_report",
                 "run", "report_from_store", "prior_only", "predict"):  # fmt: skip
        assert name in dir(radonspec) and callable(getattr(radonspec, name))
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        radonspec.nope  # noqa: B018


def test_the_steps_chain_into_a_report(toy: Path, fake_sampler: Any, tmp_path: Path) -> None:
    study = radonspec.load_study(toy)
    assert radonspec.validate(study) is study
    assert str(study) == repr(study) == "Study('toy': 2 models: pooled, varying)"  # print()
    fits = radonspec.fit_study(study, store=tmp_path / "store", jobs=1)
    assert list(fits) == ["pooled", "varying"] and sorted(fake_sampler.calls) == [
        "pooled",
        "varying",
    ]
    assert "pooled" in repr(fits) and fits.to_frame().loc["varying", "status"] == "ok"
    assert "<table" in fits._repr_html_() and "Fit('pooled', ok" in repr(fits["pooled"])
    comparison = radonspec.compare(study, fits)
    assert comparison is not None and comparison.criterion == "loo"
    results = radonspec.analyse(study, fits, comparison, store=tmp_path / "store")
    assert results.comparison is not None and {r.model for r in results.comparison.rows} == {
        "pooled",
        "varying",
    }
    written = radonspec.write_report(study, results, tmp_path / "out")
    assert set(written) == {"html", "markdown", "json"}
    assert summary_of(written)["comparison"]["criterion"] == "loo"


def test_run_reuses_the_store_and_a_current_report(
    toy: Path, fake_sampler: Any, tmp_path: Path
) -> None:
    store, out = tmp_path / "store", tmp_path / "out"
    first = radonspec.run(toy, store=store, out=out, jobs=1)
    assert first.exit_code() == 0 and not first.reused and first.results is not None
    assert sorted(fake_sampler.calls) == ["pooled", "varying"]
    again = radonspec.run(toy, store=store, out=out, jobs=1)
    assert (
        again.reused
        and again.results is None
        and sorted(fake_sampler.calls) == ["pooled", "varying"]
    )
    assert again.written == first.written
    assert all(fit.cached for fit in again.fits.values())


def test_a_report_to_a_new_folder_only_assembles_kept_analyses(
    toy: Path, fake_sampler: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from radonspec.analysis import results

    store = tmp_path / "store"
    first = radonspec.run(toy, store=store, out=tmp_path / "a", jobs=1)
    kept = sorted(p.name for p in store.rglob("analysis-*.npz"))
    assert len(kept) == 2

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("an analysis was made again")

    monkeypatch.setattr(results, "analyse_model", refuse)
    second = radonspec.report_from_store(toy, store=store, out=tmp_path / "b")
    assert sorted(fake_sampler.calls) == ["pooled", "varying"]
    assert summary_of(second.written) == summary_of(first.written)


def test_a_damaged_kept_analysis_is_made_again(
    toy: Path, fake_sampler: Any, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    first = radonspec.run(toy, store=store, out=tmp_path / "a", jobs=1)
    for path in store.rglob("analysis-*.npz"):
        path.write_bytes(b"not an analysis")
    second = radonspec.report_from_store(toy, store=store, out=tmp_path / "b")
    assert summary_of(second.written) == summary_of(first.written)


def test_a_time_limit_does_not_refit(toy: Path, fake_sampler: Any, tmp_path: Path) -> None:
    store = tmp_path / "store"
    radonspec.fit_study(toy, store=store, jobs=1)
    toy.write_text(toy.read_text().replace("chains: 2}", "chains: 2, time_limit: 900}"))
    radonspec.fit_study(toy, store=store, jobs=1)
    assert sorted(fake_sampler.calls) == ["pooled", "varying"]


def test_exit_codes(toy: Path, fake_sampler: Any, tmp_path: Path) -> None:
    broken = "  broken:\n    formula: y ~ x\n    family: poisson\nreport:"
    toy.write_text(toy.read_text().replace("report:", broken))
    result = radonspec.run(toy, store=tmp_path / "store", out=tmp_path / "out", jobs=1)
    # the fake answers 'broken' from no recording: a failed model fails the run
    assert result.fits["broken"].status == "failed" and result.exit_code() == 2


def test_cli_run_writes_what_the_api_writes(toy: Path, fake_sampler: Any, tmp_path: Path) -> None:
    api = radonspec.run(toy, store=tmp_path / "store", out=tmp_path / "api", jobs=1)
    done = CliRunner().invoke(
        app, ["run", str(toy), "--store", str(tmp_path / "store"), "--out", str(tmp_path / "cli"),
              "--jobs", "1"],
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "toy: 2 models" in done.output
    cli = {k: tmp_path / "cli" / p.name for k, p in api.written.items()}
    assert summary_of(cli) == summary_of(api.written)


def test_cli_run_counts_one_model_in_words(toy: Path, fake_sampler: Any, tmp_path: Path) -> None:
    toy.write_text(toy.read_text().replace("  varying:\n    formula: y ~ x + (1|g)\n", ""))
    done = CliRunner().invoke(
        app, ["run", str(toy), "--store", str(tmp_path / "store"), "--out", str(tmp_path / "cli"),
              "--jobs", "1"],
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "toy: 1 model in" in done.output and fake_sampler.calls == ["pooled"]
    report = (tmp_path / "cli" / "report.md").read_text()
    assert "reference model" not in report  # no other model to describe against it


def test_cli_run_of_several_studies_checks_them_all_before_fitting_any(
    toy: Path, fake_sampler: Any, tmp_path: Path
) -> None:
    """A typo in the second study: nothing is fitted or written, and the error is located."""
    typo = tmp_path / "typo.yaml"
    typo.write_text(toy.read_text().replace("name: toy", "name: typo").replace("(1|g)", "(1|gg)"))
    done = CliRunner().invoke(
        app, ["run", str(toy), str(typo), "--store", str(tmp_path / "store"), "--out",
              str(tmp_path / "cli"), "--jobs", "1"],
    )  # fmt: skip
    assert done.exit_code == 1, done.output
    assert "typo.yaml:" in done.output and "unknown column 'gg'" in done.output
    assert fake_sampler.calls == [] and not (tmp_path / "cli").exists()


def test_watch_and_try_go_through_the_api_and_agree_with_run(
    toy: Path, fake_sampler: Any, tmp_path: Path
) -> None:
    import io

    from rich.console import Console

    from radonspec.cli.tryout import TrySpec, try_formula
    from radonspec.cli.watch import Watcher

    api = radonspec.run(toy, store=tmp_path / "store", out=tmp_path / "api", jobs=1)
    watcher = Watcher(toy, store=tmp_path / "store", out_dir=tmp_path / "watch", jobs=1,
                      console=Console(file=io.StringIO()))  # fmt: skip
    cycle = watcher.cycle()
    assert cycle.ok and cycle.cached == ("pooled", "varying")
    watched = {k: tmp_path / "watch" / p.name for k, p in api.written.items()}
    assert summary_of(watched) == summary_of(api.written)
    tried = try_formula(
        TrySpec(data=str(tmp_path / "toy.csv"), formula="y ~ x", categorical=("g",),
                priors={"x": "Normal(0, 5)"}, sampler={"draws": 60, "tune": 60, "chains": 2},
                model="pooled"),
        store=tmp_path / "store",
    )  # fmt: skip
    assert tried.table is not None and tried.diagnostics is not None


def test_kfold_goes_through_the_store_and_the_report(
    toy: Path, fake_sampler: Any, tmp_path: Path
) -> None:
    toy.write_text(toy.read_text() + "compare:\n  criterion: kfold\n  kfold: {k: 2}\n")
    store = tmp_path / "store"
    first = radonspec.run(toy, store=store, out=tmp_path / "a", jobs=1)
    assert first.comparison is not None and first.comparison.criterion == "kfold"
    refits = [c for c in fake_sampler.calls if "@fold" in c]
    assert sorted(refits) == ["pooled@fold1", "pooled@fold2", "varying@fold1", "varying@fold2"]
    assert summary_of(first.written)["comparison"]["criterion"] == "kfold"
    # the report from stored fits makes the same comparison and refits nothing
    calls = len(fake_sampler.calls)
    second = radonspec.report_from_store(toy, store=store, out=tmp_path / "b")
    assert len(fake_sampler.calls) == calls
    assert summary_of(second.written) == summary_of(first.written)


def test_prior_only_draws_no_posterior(toy: Path, fake_sampler: Any, tmp_path: Path) -> None:
    result = radonspec.prior_only(toy, draws=50, out=tmp_path / "prior")
    assert fake_sampler.calls == [] and result.fits == {}
    assert result.results is not None and result.results.prior_predictive is not None
    assert set(result.results.prior_predictive.checks) == {"pooled", "varying"}
    assert json.loads(result.written["json"].read_text())["prior_only"] is True


def test_a_report_from_the_store_shows_a_failed_model_with_its_reason(
    toy: Path, fake_sampler: Any, tmp_path: Path
) -> None:
    broken = "  broken:\n    formula: y ~ x\n    family: poisson\nreport:"
    toy.write_text(toy.read_text().replace("report:", broken))
    store = tmp_path / "store"
    radonspec.run(toy, store=store, out=tmp_path / "a", jobs=1)
    result = radonspec.report_from_store(toy, store=store, out=tmp_path / "b")
    summary = json.loads(result.written["json"].read_text())
    assert summary["models"]["broken"]["status"] == "failed"
    assert summary["models"]["broken"]["error"] == "no recorded draws for 'broken'"
    assert result.exit_code() == 2


def test_a_report_from_the_store_names_a_model_never_fitted(toy: Path, tmp_path: Path) -> None:
    with pytest.raises(radonspec.FitError, match=r"model 'pooled' of .* has no stored fit"):
        radonspec.report_from_store(toy, store=tmp_path / "empty", out=tmp_path / "b")


def test_run_reports_what_pymc_rejects_located_before_sampling(
    toy: Path, fake_sampler: Any, tmp_path: Path
) -> None:
    toy.write_text(toy.read_text().replace('x: "Normal(0, 5)"', 'x: "Normal(0, sigma=1, tau=2)"'))
    with pytest.raises(radonspec.SpecErrors) as caught:
        radonspec.run(toy, store=tmp_path / "store", out=tmp_path / "out", jobs=1)
    (error,) = caught.value.errors
    assert "PyMC rejects Normal(mu=0, sigma=1, tau=2)" in str(error)
    assert error.location is not None and error.location.line == 9
    assert fake_sampler.calls == []


def test_run_reports_a_bad_formula_located_even_with_fits_stored(
    toy: Path, fake_sampler: Any, tmp_path: Path
) -> None:
    radonspec.run(toy, store=tmp_path / "store", out=tmp_path / "out", jobs=1)
    toy.write_text(toy.read_text().replace("formula: y ~ x\n", "formula: y ~ x + z\n", 1))
    with pytest.raises(radonspec.SpecErrors) as caught:
        radonspec.run(toy, store=tmp_path / "store", out=tmp_path / "out", jobs=1)
    assert "model 'pooled': unknown column 'z' in formula" in str(caught.value.errors[0])
    assert caught.value.errors[0].location is not None


def test_a_report_after_the_data_or_the_spec_changed_says_which(
    toy: Path, fake_sampler: Any, tmp_path: Path
) -> None:
    """ "No stored fit" used to be all a user heard after editing the CSV or the spec."""
    import pandas as pd

    from radonspec.errors import FitError

    store = tmp_path / "store"
    radonspec.run(toy, store=store, out=tmp_path / "out", jobs=1)
    frame = pd.read_csv(tmp_path / "toy.csv")
    frame.loc[0, "y"] += 1.0
    frame.to_csv(tmp_path / "toy.csv", index=False)
    with pytest.raises(FitError, match=r"from other data: the data changed since; fit it with"):
        radonspec.report_from_store(toy, store=store, out=tmp_path / "again")
    with pytest.raises(FitError, match=r"from other data: the data changed since, and predict"):
        radonspec.predict(toy, "pooled", frame, store=store)
    radonspec.run(toy, store=store, out=tmp_path / "out", jobs=1)
    toy.write_text(toy.read_text().replace("Normal(0, 5)", "Normal(0, 6)"))
    with pytest.raises(FitError, match=r"with other settings or package versions: the spec"):
        radonspec.report_from_store(toy, store=store, out=tmp_path / "again")
