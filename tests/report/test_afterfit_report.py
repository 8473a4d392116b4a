"""The report's after-the-fit parts on the toy study: Bayes R², effects, prior sensitivity.

Draws are the toy study's real fits, replayed (``fake_sampler``); the numbers are checked
against references in tests/integration/test_after_fit.py, here only what the report
makes of them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import radonspec
from radonspec.analysis.model import ANALYSIS_VERSION

AFTER = """\
  effects:
    - x
    - {predictor: x, by: g}
  prior_sensitivity: true
"""


@pytest.fixture
def written(toy: Path, fake_sampler: Any, tmp_path: Path) -> dict[str, Path]:
    toy.write_text(toy.read_text() + AFTER)
    result = radonspec.run(toy, store=tmp_path / "store", out=tmp_path / "out", jobs=1)
    assert result.exit_code() == 0
    return result.written


def test_summary_holds_r2_and_the_sensitivity(written: dict[str, Path]) -> None:
    summary = json.loads(written["json"].read_text())
    pooled, varying = summary["models"]["pooled"], summary["models"]["varying"]
    assert pooled["bayes_r2"]["marginal"] is None  # no group terms
    for part in ("mean", "median", "sd", "eti89_lb", "eti89_ub"):
        assert 0 < pooled["bayes_r2"]["conditional"][part] < 1
    # the group intercepts explain variance the population terms cannot
    assert varying["bayes_r2"]["marginal"]["mean"] < varying["bayes_r2"]["conditional"]["mean"]
    rows = {row["model"]: row for row in summary["comparison"]["table"]}
    assert rows["varying"]["bayes_r2"] == varying["bayes_r2"]
    sensitivity = varying["prior_sensitivity"]
    assert sensitivity["error"] is None and sensitivity["threshold"] == 0.05
    assert set(sensitivity["scaled_priors"]) == {"Intercept", "x", "sigma", "1|g_sigma"}
    assert set(sensitivity["parameters"]) == {"Intercept", "x", "sigma", "1|g_sigma"}
    for values in sensitivity["parameters"].values():
        assert values["prior"] >= 0 and values["likelihood"] >= 0


def test_html_and_markdown_show_the_sections(written: dict[str, Path]) -> None:
    html = written["html"].read_text()
    for text in ('<section id="effects">', "Conditional effect of x by g",
                 '<section id="sensitivity">', "Bayes R² (89%)", 'href="#effects"',
                 'href="#sensitivity"'):  # fmt: skip
        assert text in html
    markdown = written["markdown"].read_text()
    assert "## Conditional effects" in markdown and "## Prior sensitivity" in markdown
    figures = sorted(p.name for p in (written["markdown"].parent / "figures").glob("effect-*"))
    assert figures == ["effect-1-x.png", "effect-2-x.png"]
    assert "(figures/effect-2-x.png)" in markdown
    # the pooled model has no g: its panel says so instead of inventing lines
    assert "pooled: it does not use &#39;g&#39;, so it has one line" in html


def test_the_analysis_is_kept_and_reused(toy: Path, fake_sampler: Any, tmp_path: Path) -> None:
    toy.write_text(toy.read_text() + AFTER)
    store = tmp_path / "store"
    fits = radonspec.fit_study(toy, store=store, jobs=1)
    first = radonspec.analyse(toy, fits, store=store)
    kept = sorted(p.name for p in store.rglob("analysis-*.npz"))
    assert len(kept) == 2 and ANALYSIS_VERSION >= 2
    again = radonspec.analyse(toy, fits, store=store)
    for name in ("pooled", "varying"):
        one, two = first.models[name].analysis, again.models[name].analysis
        assert one is not None and two is not None
        assert one.r2 == two.r2 and len(one.effects) == len(two.effects) == 2
        assert two.sensitivity is not None
        assert two.sensitivity.table.equals(one.sensitivity.table)  # type: ignore[union-attr]
    assert sorted(p.name for p in store.rglob("analysis-*.npz")) == kept


def test_a_reason_for_no_r2_shared_by_models_is_said_once() -> None:
    """Two ordinal models share why they have no R²: the sentence appears once, per format."""
    from types import SimpleNamespace

    from radonspec.report.render import _environment

    note = "Bayesian R² is not defined for the cumulative family"
    models = [SimpleNamespace(ok=True, r2_note=note) for _ in range(2)]
    models.append(SimpleNamespace(ok=True, r2_note="'other' has no Bayesian R²: it failed"))
    for markdown, name in ((True, "afterfit.md.j2"), (False, "afterfit.html.j2")):
        template = _environment(markdown).from_string(
            f'{{% import "{name}" as after with context %}}{{{{ after.r2_notes() }}}}'
        )
        text = template.render(c=SimpleNamespace(models=models))
        assert text.count(note) == 1, text
        assert "has no Bayesian R²: it failed." in text
