"""What the report says, as plain records: the templates and summary.json only format them.

``radonspec.report.build`` fills a ``Content`` from a study's analysis
(``radonspec.analysis.results.Results``). ``attempt`` is how every figure is made: one
that fails becomes a visible note, never a lost report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from radonspec.analysis.diagnostics import Diagnostics
from radonspec.analysis.groups import CorrelationRow, RandomEffectRow
from radonspec.analysis.loo import Comparison
from radonspec.analysis.r2 import BayesR2
from radonspec.analysis.records import DataSummary
from radonspec.analysis.sweep import SweepView
from radonspec.errors import attempt
from radonspec.report.drawer import Pending

#: flagged parameters listed per model and diagnosis in the prior sensitivity section
MAX_LISTED = 12


@dataclass(frozen=True)
class Flag:
    """One flagged parameter and its two sensitivities."""

    label: str
    prior: float
    likelihood: float


@dataclass
class SensitivityRow:
    """One model's prior sensitivity in the report."""

    model: str
    checked: int = 0
    conflict: list[Flag] = field(default_factory=list)
    dominated: list[Flag] = field(default_factory=list)
    scaled: list[str] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None
    advice: list[str] = field(default_factory=list)
    #: every parameter checked: label -> (prior, likelihood, diagnosis or "")
    values: dict[str, tuple[float, float, str]] = field(default_factory=dict)

    @property
    def flagged(self) -> int:
        """How many parameters are flagged."""
        return len(self.conflict) + len(self.dominated)


@dataclass
class SensitivityView:
    """The prior sensitivity section: the threshold and one row per model with draws."""

    threshold: float
    rows: list[SensitivityRow]
    max_listed: int = MAX_LISTED


@dataclass(frozen=True)
class Image:
    """A figure rendered to PNG, with the words around it."""

    name: str  # file stem under figures/, e.g. "ppc-hierarchical"
    title: str
    caption: str
    drawing: bytes | Pending  # the PNG, or the figure another process is drawing

    @property
    def png(self) -> bytes:
        """The PNG (waiting for it, when another process draws it)."""
        return self.drawing if isinstance(self.drawing, bytes) else self.drawing.png()


@dataclass(frozen=True)
class Section:
    """Figures and notes of one part of the report."""

    images: list[Image] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ParamRow:
    """One parameter's summary; ``flags`` names the cells that fail a threshold."""

    label: str
    values: dict[str, float]
    flags: frozenset[str] = frozenset()
    reml: tuple[float, float] | None = None  # statsmodels estimate and SE, when asked for


@dataclass(frozen=True)
class ParamSection:
    """Rows of one kind: population-level effects, group-level SDs, auxiliary parameters."""

    title: str
    rows: list[ParamRow]


@dataclass(frozen=True)
class Residual:
    """The residual SD row of an lme4-style random-effects table (Gaussian families)."""

    sd_mean: float
    sd_lb: float
    sd_ub: float
    reml: float | None = None


@dataclass
class ModelView:
    """Everything the report shows about one model."""

    name: str
    colour: str
    status: str
    error: str | None
    formula: str
    family: str
    description: str | None = None
    key: str = ""
    fit_path: str | None = None
    cached: bool = False
    seconds: dict[str, float] = field(default_factory=dict)
    rows: int | None = None
    dropped_rows: int | None = None  # rows dropped for missing values (data.dropna)
    #: the modelled event, response levels and reference levels (``ModelLevels.to_dict``)
    levels: dict[str, Any] | None = None
    diagnostics: Diagnostics | None = None
    table: pd.DataFrame | None = None  # every parameter, for summary.json
    sections: list[ParamSection] = field(default_factory=list)
    omitted: list[str] = field(default_factory=list)
    random_effects: list[RandomEffectRow] = field(default_factory=list)
    correlations: list[CorrelationRow] = field(default_factory=list)
    #: grouping factor -> "correlated" or "independent"
    structure: dict[str, str] = field(default_factory=dict)
    residual: Residual | None = None
    reml_sd: dict[str, float] = field(default_factory=dict)
    reference_method: str = "REML"  # how the frequentist reference was fitted: REML or ML
    #: each grouping factor's per-level estimates (link scale), as records for summary.json
    group_estimates: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    spec_yaml: str = ""
    priors: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: how this model differs from the study's reference model, one sentence each
    differences: list[str] = field(default_factory=list)
    is_reference: bool = False
    r2: BayesR2 | None = None
    r2_note: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the model has draws."""
        return self.status == "ok"

    @property
    def badge(self) -> str:
        """'' for a trustworthy fit, else what is wrong: shown next to its name everywhere."""
        if not self.ok:
            return "fit failed" if self.status == "failed" else self.status
        if self.diagnostics is not None and not self.diagnostics.passed:
            return "diagnostics failed"
        return ""


@dataclass(frozen=True)
class PriorPredictiveView:
    """The prior predictive checks: one row per model (``prior_table``) and the figures."""

    draws: int
    table: pd.DataFrame
    section: Section = field(default_factory=Section)

    @property
    def rows(self) -> list[dict[str, Any]]:
        """The table's rows as dicts, in the study's model order."""
        return [{str(k): v for k, v in row.items()} for row in self.table.to_dict("records")]


@dataclass(frozen=True)
class GroupView:
    """One set of models ranked together (``Results.comparison_groups``)."""

    models: tuple[str, ...]
    response: str
    rows: int
    comparison: Comparison | None
    verdict: str
    notes: list[str] = field(default_factory=list)
    main: bool = False


@dataclass
class Content:
    """The whole report, before formatting."""

    name: str
    title: str
    description: str | None
    created: str
    spec_hash: str
    versions: dict[str, str]
    data: DataSummary
    models: list[ModelView]
    thresholds: dict[str, float]
    comparison: Comparison | None = None
    verdict: str = ""
    comparison_notes: list[str] = field(default_factory=list)
    #: every set of models ranked together, when there are several, and why they are apart
    comparison_groups: list[GroupView] = field(default_factory=list)
    unranked: list[str] = field(default_factory=list)
    # PSIS-LOO of the same models when the main comparison is k-fold, and how the two agree
    also_loo: Comparison | None = None
    also_loo_note: str = ""
    groups: Section | None = None
    #: how to get group-level views, when the study has several grouping factors to choose from
    group_hint: str = ""
    ppc: Section = field(default_factory=Section)
    priors: Section = field(default_factory=Section)
    reference: str | None = None  # the model the others are described against
    sweep: SweepView | None = None
    sweep_notes: list[str] = field(default_factory=list)
    prior_predictive: PriorPredictiveView | None = None
    prior_predictive_notes: list[str] = field(default_factory=list)
    prior_only: bool = False  # ``run --prior-only``: no fit, no posterior section
    effects: Section | None = None  # conditional effects (``report.effects``)
    sensitivity: SensitivityView | None = None  # with ``report.prior_sensitivity``

    @property
    def by_name(self) -> dict[str, ModelView]:
        """Model views by model name."""
        return {view.name: view for view in self.models}

    @property
    def colours(self) -> dict[str, str]:
        """The palette: one colour per model."""
        return {view.name: view.colour for view in self.models}


__all__ = ["Content", "DataSummary", "Image", "ModelView", "Section", "attempt"]
