from __future__ import annotations

import base64
import json
import math
import re
import warnings
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from radonspec.analysis.loo import Comparison, ComparisonRow
from radonspec.analysis.results import analyse
from radonspec.fit.record import Fit
from radonspec.report import render as render_module
from radonspec.report.numbers import fmt
from radonspec.report.render import write_report as render_report
from radonspec.study.schema import Study

PNG = b"\x89PNG\r\n\x1a\n"
FORMULAS = {"pooled": "y ~ x", "unpooled": "y ~ 0 + g + g:x", "hierarchical": "y ~ x + (x|g)"}
FAILED_REASON = "the model's log density is not finite at the initial point; check the priors"
SECTIONS = [
    "Model comparison",
    "Sampling diagnostics",
    "Parameters",
    "Random effects",
    "Group-level views",
    "Posterior predictive checks",
    "Prior vs posterior",
    "Appendix: specs and priors",
]


# -- a tiny radon-like study, fitted once per session ---------------------------------------


def write_report(
    study: Study,
    data: pd.DataFrame,
    fits: dict[str, Fit],
    out: Path,
    *,
    models: dict[str, Any] | None = None,
    spec_hash: str = "",
    comparison: Comparison | None = None,
    thresholds: dict[str, float] | None = None,
) -> dict[str, Path]:
    """Analyse the fits (no store: everything computed) and write their report."""
    built = models or {}
    results = analyse(
        study, fits, data, comparison=comparison, build=built.get, thresholds=thresholds
    )
    return render_report(results, out, spec_hash=spec_hash)


def simulated_data(seed: int = 0) -> pd.DataFrame:
    """Groups of very different sizes, a 0/1 predictor, varying intercepts and slopes."""
    rng = np.random.default_rng(seed)
    sizes = np.array([1, 2, 3, 5, 8, 12, 16, 20])
    levels = [f"g{i:02d}" for i in range(sizes.size)]
    index = np.repeat(np.arange(sizes.size), sizes)
    x = rng.integers(0, 2, index.size).astype(float)
    a, b = rng.normal(1.0, 0.5, sizes.size), rng.normal(-0.6, 0.2, sizes.size)
    y = a[index] + b[index] * x + rng.normal(0, 0.7, index.size)
    return pd.DataFrame({"y": y, "x": x, "g": pd.Categorical(np.asarray(levels)[index])})


def example_study(**report: Any) -> Study:
    models = {name: {"formula": formula} for name, formula in FORMULAS.items()}
    models["broken"] = {"formula": "y ~ x + (1|g)"}
    settings: dict[str, Any] = {
        "title": "Example <study>",
        "group": "g",
        "shrinkage": {"from": "unpooled", "to": "hierarchical"},
        "predictor": "x",
        "highlight": ["g00", "g04", "g07"],
    }
    return Study.model_validate(
        {
            "spec_version": 1,
            "name": "example",
            "description": "Three ways to pool a grouped regression.",
            "data": {"path": "example.csv", "categorical": ["g"]},
            "models": models,
            "report": settings | report,
        }
    )


def example_fits(data: pd.DataFrame) -> tuple[dict[str, Fit], dict[str, Any]]:
    """Sample the three models (2 chains x 150 draws) and add a failed fit."""
    import bambi as bmb

    fits: dict[str, Fit] = {}
    models: dict[str, Any] = {}
    with warnings.catch_warnings():
        # PyMC's and Bambi's advice about short chains is the point of tiny test fits
        warnings.simplefilter("ignore")
        for name, formula in FORMULAS.items():
            # one-observation groups leave g:x without variance: Bambi's automatic prior
            # would be degenerate there, so the unpooled model gets explicit ones
            priors = (
                {
                    "g": bmb.Prior("Normal", mu=0, sigma=10),
                    "g:x": bmb.Prior("Normal", mu=0, sigma=10),
                }
                if name == "unpooled"
                else None
            )
            model = bmb.Model(formula, data, priors=priors)
            tree = model.fit(
                draws=150,
                tune=150,
                chains=2,
                random_seed=1,
                idata_kwargs={"log_likelihood": True},
                progressbar=False,
            )
            model.predict(tree, kind="response")
            if name == "hierarchical":
                tree["prior"] = model.prior_predictive(draws=200, random_seed=2)["prior"]
            fits[name] = Fit(
                model=name,
                key=f"key-{name}",
                status="ok",
                tree=tree,
                seconds={"sample": 1.0, "total": 1.2},
                path=f"/store/key-{name}/fit.nc",
            )
            models[name] = model
    fits["broken"] = Fit(
        model="broken", key="key-broken", status="failed", tree=None, error=FAILED_REASON
    )
    return fits, models


@pytest.fixture(scope="session")
def example() -> tuple[pd.DataFrame, dict[str, Fit], dict[str, Any]]:
    data = simulated_data()
    fits, models = example_fits(data)
    return data, fits, models


@pytest.fixture(scope="session")
def written(
    example: tuple[pd.DataFrame, dict[str, Fit], dict[str, Any]],
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Path]:
    data, fits, models = example
    out = tmp_path_factory.mktemp("report")
    return write_report(example_study(), data, fits, out, models=models, spec_hash="f00d")


@pytest.fixture(scope="session")
def html(written: dict[str, Path]) -> str:
    return written["html"].read_text()


@pytest.fixture(scope="session")
def markdown(written: dict[str, Path]) -> str:
    return written["markdown"].read_text()


@pytest.fixture(scope="session")
def summary(written: dict[str, Path]) -> dict[str, Any]:
    def refuse(value: str) -> float:
        raise AssertionError(f"summary.json holds {value}, which is not JSON")

    return json.loads(written["json"].read_text(), parse_constant=refuse)


# -- the written files ----------------------------------------------------------------------


@pytest.mark.slow
def test_every_format_is_written_without_leftover_temporaries(written: dict[str, Path]) -> None:
    assert set(written) == {"html", "markdown", "json"}
    folder = written["html"].parent
    assert [p.name for p in (written["html"], written["markdown"], written["json"])] == [
        "report.html",
        "report.md",
        "summary.json",
    ]
    assert all(p.is_file() and p.stat().st_size > 0 for p in written.values())
    assert not [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


@pytest.mark.slow
def test_html_has_every_section_in_order_and_a_table_of_contents(html: str) -> None:
    headings = re.findall(r"<h2[^>]*>(.*?)</h2>", html)
    assert headings[0] == "Contents"
    assert headings[1:] == SECTIONS
    for anchor in ("comparison", "diagnostics", "parameters", "groups", "ppc", "appendix"):
        assert f'href="#{anchor}"' in html and f'id="{anchor}"' in html
    assert "<title>Example &lt;study&gt;</title>" in html  # autoescaped
    assert "Three ways to pool a grouped regression." in html
    assert "f00d" in html and "bambi" in html


@pytest.mark.slow
def test_markdown_has_every_section_in_order(markdown: str) -> None:
    headings = re.findall(r"^## (.*)$", markdown, flags=re.MULTILINE)
    assert headings == ["Contents", *SECTIONS]


@pytest.mark.slow
def test_html_is_self_contained(html: str) -> None:
    assert "http://" not in html and "https://" not in html
    assert "<script" not in html and "<link" not in html
    assert "@import" not in html and "url(" not in html
    sources = re.findall(r'<img src="([^"]+)"', html)
    assert len(sources) == 8  # shrinkage, intercepts, slopes, lines, 3 checks, 1 prior
    for source in sources:
        prefix = "data:image/png;base64,"
        assert source.startswith(prefix)
        assert base64.b64decode(source[len(prefix) :], validate=True).startswith(PNG)


@pytest.mark.slow
def test_markdown_images_are_png_files_beside_it(written: dict[str, Path], markdown: str) -> None:
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown)
    assert len(images) == 8
    assert "data:image" not in markdown
    for image in images:
        assert image.startswith("figures/") and image.endswith(".png")
        assert (written["markdown"].parent / image).read_bytes().startswith(PNG)


@pytest.mark.slow
def test_failed_model_appears_everywhere_with_its_reason(html: str, markdown: str) -> None:
    for text in (html, markdown):
        assert text.count("broken") >= 5  # header, comparison, diagnostics, parameters, appendix
        assert "fit failed" in text
    escaped = FAILED_REASON.replace("'", "&#39;")
    assert html.count(escaped) >= 4
    assert "not compared" in html and "not compared" in markdown


@pytest.mark.slow
def test_models_failing_diagnostics_are_badged_with_advice(html: str) -> None:
    # 300 draws cannot reach the default 400 effective draws: every fit fails, loudly
    assert html.count("diagnostics failed") >= 3 * 4
    assert "What to try:" in html and "sampler.draws" in html
    assert '<td class="num bad">' in html


@pytest.mark.slow
def test_parameter_tables_leave_per_group_rows_to_the_group_views(html: str) -> None:
    assert "Population-level effects" in html
    assert "Group-level standard deviations" in html and "Auxiliary parameters" in html
    assert "<code>1|g_sigma</code>" in html and "<code>sigma</code>" in html
    assert "<code>1|g[g00]</code>" not in html and "<code>g[g00]</code>" not in html
    assert "one per level of &#39;g&#39;" in html
    assert "Residual" in html and "(Intercept)" in html  # lme4-style random effects


@pytest.mark.slow
def test_summary_json_follows_the_design(summary: dict[str, Any]) -> None:
    assert {"study", "spec_version", "created", "versions", "models", "comparison"} <= set(summary)
    assert summary["study"] == "example" and summary["spec_version"] == 1
    datetime.fromisoformat(summary["created"])
    assert {"radonspec", "bambi", "pymc", "arviz"} <= set(summary["versions"])
    assert list(summary["models"]) == ["pooled", "unpooled", "hierarchical", "broken"]
    for name, entry in summary["models"].items():
        assert {
            "status", "error", "key", "formula", "fit_path", "diagnostics", "seconds", "cached",
            "parameters",
        } <= set(entry)  # fmt: skip
        assert entry["key"] == f"key-{name}"
    ok = summary["models"]["hierarchical"]
    assert ok["status"] == "ok" and ok["error"] is None and ok["formula"] == "y ~ x + (x|g)"
    assert ok["fit_path"] == "/store/key-hierarchical/fit.nc" and ok["cached"] is False
    assert {
        "r_hat_max", "ess_bulk_min", "ess_tail_min", "divergences", "max_treedepth_hits", "passed",
    } <= set(ok["diagnostics"])  # fmt: skip
    assert ok["diagnostics"]["passed"] is False
    assert {"x", "1|g_sigma", "1|g[g00]", "x|g[g07]", "sigma"} <= set(ok["parameters"])
    for stats in ok["parameters"].values():
        assert {"mean", "sd", "eti89_lb", "eti89_ub", "mcse_mean", "ess_bulk", "r_hat"} <= set(
            stats
        )
    broken = summary["models"]["broken"]
    assert broken["status"] == "failed" and broken["error"] == FAILED_REASON
    assert (
        broken["diagnostics"] is None and broken["parameters"] == {} and broken["fit_path"] is None
    )
    comparison = summary["comparison"]
    assert comparison["criterion"] == "loo"
    table = comparison["table"]
    assert [row["rank"] for row in table] == [0, 1, 2]
    assert {row["model"] for row in table} == {"pooled", "unpooled", "hierarchical"}
    for row in table:
        assert {
            "model",
            "rank",
            "elpd",
            "se",
            "p",
            "elpd_diff",
            "dse",
            "weight",
            "pareto_k_bad",
        } <= set(row)
    assert math.isclose(sum(row["weight"] for row in table), 1.0, abs_tol=1e-6)
    assert any("'broken' is not compared" in note for note in comparison["notes"])
    assert comparison["verdict"].startswith(f"'{table[0]['model']}'")


@pytest.mark.slow
def test_json_only_writes_only_the_summary(
    example: tuple[pd.DataFrame, dict[str, Fit], dict[str, Any]], tmp_path: Path
) -> None:
    data, fits, models = example
    written = write_report(example_study(formats=["json"]), data, fits, tmp_path, models=models)
    assert list(written) == ["json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]


@pytest.mark.slow
def test_thresholds_decide_the_badges(
    example: tuple[pd.DataFrame, dict[str, Fit], dict[str, Any]], tmp_path: Path
) -> None:
    data, fits, models = example
    study = Study.model_validate(
        {
            "spec_version": 1,
            "name": "lenient",
            "data": {"path": "x.csv"},
            "models": {"pooled": {"formula": "y ~ x"}},
            "report": {"formats": ["json", "html"]},
        }
    )
    written = write_report(
        study,
        data,
        {"pooled": fits["pooled"]},
        tmp_path,
        thresholds={"ess_min": 50, "rhat_max": 1.1},
    )
    entry = json.loads(written["json"].read_text())["models"]["pooled"]
    assert entry["diagnostics"]["passed"] is True
    html = written["html"].read_text()
    assert "diagnostics failed" not in html
    assert "Only &#39;pooled&#39; was compared" in html
    assert "Group-level views" not in html  # no report.group


@pytest.mark.slow
def test_a_given_kfold_comparison_is_used_as_it_is(
    example: tuple[pd.DataFrame, dict[str, Fit], dict[str, Any]], tmp_path: Path
) -> None:
    data, fits, _ = example
    rows = (
        ComparisonRow("hierarchical", 0, -120.0, 7.0, 9.0, 0.0, 0.0, 0.9, 0),
        ComparisonRow("pooled", 1, -131.0, 8.0, 3.0, -11.0, 4.0, 0.1, 0),
    )
    study = example_study(formats=["json", "markdown"])
    written = write_report(study, data, fits, tmp_path, comparison=Comparison("kfold", rows))
    summary = json.loads(written["json"].read_text())["comparison"]
    assert summary["criterion"] == "kfold"
    assert [row["model"] for row in summary["table"]] == ["hierarchical", "pooled"]
    assert summary["table"][0]["rmsd"] > 0  # filled in from the posterior predictive draws
    markdown = written["markdown"].read_text()
    assert "elpd_kfold" in markdown
    # PSIS-LOO of the same models beside k-fold, with whether the two rank them alike
    loo = summary["psis_loo"]
    assert {row["model"] for row in loo["table"]} == {"hierarchical", "pooled"}
    assert all(row["elpd"] < 0 for row in loo["table"])
    assert "### PSIS-LOO of the same models" in markdown and "| elpd_loo |" in markdown
    assert loo["agreement"] in markdown and "k-fold" in loo["agreement"]
    # without the built models the group views say what they miss instead of failing
    assert "has no group estimates: its model could not be built" in markdown


@pytest.mark.slow
def test_kfold_requested_but_not_given_falls_back_to_loo_with_a_note(
    example: tuple[pd.DataFrame, dict[str, Fit], dict[str, Any]], tmp_path: Path
) -> None:
    data, fits, _ = example
    study = Study.model_validate(
        {
            "spec_version": 1,
            "name": "cv",
            "data": {"path": "x.csv"},
            "models": {
                "pooled": {"formula": "y ~ x"},
                "hierarchical": {"formula": FORMULAS["hierarchical"]},
            },
            "compare": {"criterion": "kfold"},
            "report": {"formats": ["json"]},
        }
    )
    written = write_report(study, data, fits, tmp_path)
    comparison = json.loads(written["json"].read_text())["comparison"]
    assert comparison["criterion"] == "loo"
    assert any("PSIS-LOO is shown instead" in note for note in comparison["notes"])


@pytest.mark.slow
def test_unknown_group_column_and_highlight_level_become_notes(
    example: tuple[pd.DataFrame, dict[str, Fit], dict[str, Any]], tmp_path: Path
) -> None:
    data, fits, models = example
    study = example_study(formats=["markdown"], highlight=["g01", "g99"])
    markdown = write_report(study, data, fits, tmp_path, models=models)["markdown"].read_text()
    assert "report.highlight names 'g99', which is not a level of 'g'" in markdown
    study = example_study(formats=["markdown"], group="gg")
    markdown = write_report(study, data, fits, tmp_path, models=models)["markdown"].read_text()
    assert "report.group 'gg' is not a column of the data (did you mean 'g'?)" in markdown


@pytest.mark.slow
def test_no_figure_of_group_slopes_when_no_model_lets_the_slope_vary(
    example: tuple[pd.DataFrame, dict[str, Fit], dict[str, Any]], tmp_path: Path
) -> None:
    data, fits, models = example
    base = example_study(formats=["markdown"], shrinkage=None, highlight=["g07"])
    study = base.model_copy(update={"models": {"pooled": base.models["pooled"]}})
    markdown = write_report(study, data, {"pooled": fits["pooled"]}, tmp_path, models=models)[
        "markdown"
    ].read_text()
    assert "No model lets the slope of x vary by 'g'" in markdown
    assert "Group slopes by group size" not in markdown
    assert "Group intercepts by group size" in markdown
    # with one model whose slope varies, the figure is back
    both = {name: base.models[name] for name in ("pooled", "hierarchical")}
    study = base.model_copy(update={"models": both})
    chosen = {name: fits[name] for name in study.models}
    markdown = write_report(study, data, chosen, tmp_path, models=models)["markdown"].read_text()
    assert "Group slopes by group size" in markdown
    assert "No model lets the slope" not in markdown


@pytest.mark.slow
def test_a_failed_render_leaves_the_previous_report_in_place(
    example: tuple[pd.DataFrame, dict[str, Fit], dict[str, Any]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data, fits, _ = example
    study = example_study(formats=["html"], group=None, shrinkage=None)
    target = tmp_path / "report.html"
    target.write_text("previous report")

    def broken(content: Any) -> str:
        raise RuntimeError("renderer crashed")

    monkeypatch.setattr(render_module, "render_html", broken)
    with pytest.raises(RuntimeError, match="renderer crashed"):
        write_report(study, data, fits, tmp_path)
    assert target.read_text() == "previous report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]


# -- experiment sections: the sweep, differences from the reference, prior predictive ---------

SWEEP_STUDY = """\
spec_version: 1
name: swept
data: {path: example.csv, categorical: [g]}
models:
  pooled:
    formula: y ~ x
  other:
    formula: y ~ 1
sweep:
  base: pooled
  over:
    formula: {hier: "y ~ x + (x|g)", unp: "y ~ 0 + g + g:x"}
compare:
  models: [pooled]
report:
  prior_predictive: true
"""
#: each sweep cell's fit is one of the example fits of the same formula
CELLS = {"pooled": "pooled", "pooled.hier": "hierarchical", "pooled.unp": "unpooled"}


def swept_inputs(
    example: tuple[pd.DataFrame, dict[str, Fit], dict[str, Any]], folder: Path
) -> tuple[Study, dict[str, Fit], dict[str, Any]]:
    from dataclasses import replace

    from radonspec.study.loader import load_study

    data, fits, models = example
    (folder / "study.yaml").write_text(SWEEP_STUDY)
    study = load_study(folder / "study.yaml")
    cell_fits = {cell: replace(fits[source], model=cell) for cell, source in CELLS.items()}
    cell_fits["other"] = replace(fits["broken"], model="other")
    return study, cell_fits, {cell: models[source] for cell, source in CELLS.items()}


@pytest.fixture(scope="session")
def swept(
    example: tuple[pd.DataFrame, dict[str, Fit], dict[str, Any]],
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[str, str, dict[str, Any]]:
    """The report of a study with a sweep and prior predictive checks: HTML, Markdown, JSON."""
    folder = tmp_path_factory.mktemp("swept")
    study, fits, models = swept_inputs(example, folder)
    written = write_report(study, example[0], fits, folder / "report", models=models)
    summary = json.loads(written["json"].read_text())
    return written["html"].read_text(), written["markdown"].read_text(), summary


@pytest.mark.slow
def test_the_sweep_section_ranks_cells_best_first_and_marks_the_base(
    swept: tuple[str, str, dict[str, Any]],
) -> None:
    html, markdown, summary = swept
    headings = re.findall(r"^## (.*)$", markdown, flags=re.MULTILINE)
    assert headings[:3] == ["Contents", "Model comparison", "Sweep"]
    assert re.findall(r"<h2[^>]*>(.*?)</h2>", html)[:3] == headings[:3]
    table = summary["sweep"]["table"]
    assert summary["sweep"]["base"] == "pooled" and summary["sweep"]["axes"] == ["formula"]
    assert summary["sweep"]["criterion"] == "loo"
    # the comparison's numbers are reused: same elpd, same order, same differences
    compared = {row["model"]: row for row in summary["comparison"]["table"]}
    assert [row["model"] for row in table] == [row["model"] for row in summary["comparison"][
        "table"]]  # fmt: skip
    assert [row["rank"] for row in table] == [0, 1, 2]
    for row in table:
        assert row["elpd"] == compared[row["model"]]["elpd"]
        assert row["dse"] == compared[row["model"]]["dse"]
    assert [row["base"] for row in table] == [row["model"] == "pooled" for row in table]
    assert table[0]["elpd_diff"] == 0 and all(row["elpd_diff"] < 0 for row in table[1:])
    assert all("r_hat" in row["flags"] for row in table)  # 300 draws fail the thresholds
    best = table[0]
    formula = {"pooled.hier": "y ~ x + (x\\|g)", "pooled.unp": "y ~ 0 + g + g:x"}[best["model"]]
    assert f"| 0 | **{best['model']}** | `{formula}` | {fmt(best['elpd'])} ± {fmt(best['se'])} |"\
        " best |" in markdown  # fmt: skip
    last = table[-1]
    assert f"| 2 | **{last['model']}**" in markdown
    assert f"{fmt(last['elpd_diff'])} ± {fmt(last['dse'])} |" in markdown
    assert "**pooled** (base)" in markdown
    rows = re.findall(r'<tr( class="base")?>\s*<td class="num">(\d)</td>\s*<td class="name"><a href'
                      r'="#model-([\w-]+)"', html)  # fmt: skip
    assert [(mark != "", name) for mark, _, name in rows] == [
        (row["model"] == "pooled", row["model"].replace(".", "-")) for row in table
    ]
    assert html.count('<span class="badge base">base</span>') == 1


@pytest.mark.slow
def test_each_model_says_how_it_differs_from_the_reference(
    swept: tuple[str, str, dict[str, Any]],
) -> None:
    html, markdown, summary = swept
    assert summary["reference"] == "pooled"
    assert summary["models"]["pooled"]["differences"] is None
    assert summary["models"]["pooled.hier"]["differences"] == [
        "group: adds the group-specific terms '1|g' and 'x|g'"
    ]
    assert summary["models"]["other"]["differences"] == ["terms: removes the common term 'x'"]
    hier = markdown.split("### pooled.hier")[1].split("###")[0]
    assert (
        "Differs from the reference model 'pooled' in:\n\n"
        "- group: adds the group-specific terms '1\\|g' and 'x\\|g'\n" in hier
    )
    pooled = markdown.split("### pooled")[1].split("###")[0]
    assert "*The reference model:* the other models are described by how they differ" in pooled
    assert "<strong>The reference model:</strong>" in html
    assert (
        'Differs from the reference model <a href="#model-pooled">pooled</a> in:</p>\n<ul>\n'
        "  <li>terms: removes the common term &#39;x&#39;</li>" in html
    )


@pytest.mark.slow
def test_the_prior_predictive_section_compares_priors_with_the_data(
    swept: tuple[str, str, dict[str, Any]],
    example: tuple[pd.DataFrame, dict[str, Fit], dict[str, Any]],
) -> None:
    html, markdown, summary = swept
    headings = re.findall(r"^## (.*)$", markdown, flags=re.MULTILINE)
    assert (
        headings.index("Prior predictive checks")
        == headings.index("Posterior predictive checks") - 1
    )
    section = summary["prior_predictive"]
    assert section["draws"] == 500
    table = {row["model"]: row for row in section["table"]}
    assert list(table) == ["pooled", "other", "pooled.hier", "pooled.unp"]  # 'other' compiles
    y = example[0]["y"].to_numpy()
    for row in table.values():
        assert row["observed_q50"] == pytest.approx(float(np.median(y)))
        assert row["prior_q05"] < row["prior_q50"] < row["prior_q95"]
        assert 0 <= row["share_in_range"] <= 1
        verdict = "plausible" if row["passed"] else "**implausible**"
        assert (
            f"| **{row['model']}** | {fmt(row['observed_q05'])} / {fmt(row['observed_q50'])} /"
            f" {fmt(row['observed_q95'])} | {fmt(row['prior_q05'])} / {fmt(row['prior_q50'])} /"
            f" {fmt(row['prior_q95'])} | {round(100 * row['share_in_range'])}% |"
            f" {fmt(row['spread_ratio'])} | {verdict} |" in markdown
        )
    for name in ("prior-predictive", "prior-predictive-datasets"):
        assert f"(figures/{name}.png)" in markdown
        assert f'<figure id="figure-{name}">' in html
    assert '<section id="prior-predictive">' in html and 'href="#prior-predictive"' in html


@pytest.mark.slow
def test_prior_draws_are_reproducible_and_match_the_report(
    swept: tuple[str, str, dict[str, Any]],
    example: tuple[pd.DataFrame, dict[str, Fit], dict[str, Any]],
    tmp_path: Path,
) -> None:
    from radonspec.analysis.prior import checks_of, prior_predictives

    _, _, summary = swept
    study, _, models = swept_inputs(example, tmp_path)
    found = prior_predictives(study, draws=500, models=["pooled.hier"], built=models)
    check = checks_of(found)["pooled.hier"]
    row = next(r for r in summary["prior_predictive"]["table"] if r["model"] == "pooled.hier")
    assert row["prior_q95"] == pytest.approx(check.predicted[0.95])
    assert row["share_in_range"] == pytest.approx(check.share_in_range)


@pytest.mark.slow
def test_a_failing_experiment_section_shows_its_error_and_the_report_is_written(
    example: tuple[pd.DataFrame, dict[str, Fit], dict[str, Any]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from radonspec.analysis import results

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("sweep exploded")

    monkeypatch.setattr(results, "sweep_view", boom)
    study, fits, _ = swept_inputs(example, tmp_path)
    study = study.model_copy(
        update={"report": study.report.model_copy(update={"formats": ("json", "markdown"),
                                                          "prior_predictive": False})}
    )  # fmt: skip
    monkeypatch.setattr(render_module, "build_content", _without_figures(render_module))
    written = write_report(study, example[0], fits, tmp_path / "out")
    summary = json.loads(written["json"].read_text())
    assert summary["sweep"]["error"] == "The sweep view could not be made: sweep exploded"
    assert summary["prior_predictive"] is None
    markdown = written["markdown"].read_text()
    assert "## Sweep\n\n- The sweep view could not be made: sweep exploded" in markdown
    assert "## Prior predictive checks" not in markdown and "## Parameters" in markdown


def _without_figures(module: Any) -> Any:
    build = module.build_content

    def build_content(*args: Any, **kwargs: Any) -> Any:
        return build(*args, **(kwargs | {"figures": False}))

    return build_content


# -- numbers, sentences and records ---------------------------------------------------------


# -- figures --------------------------------------------------------------------------------


def test_groups_of_one_size_are_said_and_drawn_so(
    toy: Path, fake_sampler: Any, tmp_path: Path
) -> None:
    """The toy's 5 groups have 8 rows each: no range of sizes, no size axis."""
    import radonspec

    written = radonspec.run(toy, store=tmp_path / "store", out=tmp_path / "out", jobs=1).written
    markdown, html = written["markdown"].read_text(), written["html"].read_text()
    assert "5 levels of `g`, 8 observations each |" in markdown
    assert "5 levels of <code>g</code>, 8 observations each</dd>" in html
    assert "Group intercepts, ranked" in markdown and "by group size" not in markdown
    frame = pd.read_csv(tmp_path / "toy.csv")
    frame.drop(index=[0, 1, 2]).to_csv(tmp_path / "toy.csv", index=False)  # g0 keeps 5 rows
    written = radonspec.run(toy, store=tmp_path / "store", out=tmp_path / "out2", jobs=1).written
    markdown = written["markdown"].read_text()
    assert "5 levels of `g`, 5 to 8 observations each (median 8) |" in markdown
    assert "Group intercepts by group size" in markdown


def test_a_study_naming_no_report_group_is_grouped_by_its_one_factor_or_told_how_to_choose(
    toy: Path, fake_sampler: Any, tmp_path: Path
) -> None:
    import radonspec

    text = toy.read_text().split("report:", 1)[0]  # the toy without its report section
    toy.write_text(text)
    written = radonspec.run(toy, store=tmp_path / "store", out=tmp_path / "one", jobs=1).written
    markdown = written["markdown"].read_text()
    assert "## Group-level views" in markdown and "Group intercepts, ranked" in markdown
    assert "report.group is not set: these views are of 'g', the one grouping factor" in markdown
    assert "5 levels of `g`, 8 observations each |" in markdown
    frame = pd.read_csv(tmp_path / "toy.csv")
    frame["h"] = np.tile(["a", "b"], len(frame) // 2)
    frame.to_csv(tmp_path / "toy.csv", index=False)
    toy.write_text(text + "  crossed:\n    formula: y ~ x + (1|g) + (1|h)\n")
    written = radonspec.run(toy, store=tmp_path / "store", out=tmp_path / "two", jobs=1).written
    markdown, html = written["markdown"].read_text(), written["html"].read_text()
    assert "## Group-level views" not in markdown and "Group-level views</a>" not in html
    hint = "are drawn for one grouping factor: set report.group to 'g' or 'h'."
    assert hint in markdown and hint.replace("'", "&#39;") in html
