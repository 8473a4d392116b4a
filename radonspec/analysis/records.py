"""The records of an analysis: what the report shows, as plain data.

``radonspec.analysis.model`` and ``radonspec.analysis.results`` fill them; the report
only reads them, so this module imports nothing of fitting or compiling.
"""

from __future__ import annotations

import dataclasses
import html
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from radonspec.analysis.comparable import ComparisonGroup, ModelledResponse
from radonspec.analysis.diagnostics import DIAGNOSE_DEFAULTS, Diagnostics
from radonspec.analysis.effects import Effect, EffectLine
from radonspec.analysis.groups import CorrelationRow, GroupEstimates, RandomEffectRow
from radonspec.analysis.loo import Comparison
from radonspec.analysis.predictive import PredictiveCheck
from radonspec.analysis.prior import PriorCheck
from radonspec.analysis.r2 import BayesR2, R2Summary
from radonspec.analysis.sensitivity import Sensitivity
from radonspec.analysis.sweep import SweepView
from radonspec.errors import counted
from radonspec.study.schema import Study

MAX_PRIOR_PANELS = 12  # prior-vs-posterior panels drawn per model


@dataclass(frozen=True)
class Pointwise:
    """PSIS-LOO of one fit, pointwise: enough to compare it with others without the fit."""

    elpd: float
    se: float
    p: float
    n_samples: int
    n_data_points: int
    warning: bool
    good_k: float
    elpd_i: np.ndarray
    pareto_k: np.ndarray

    def elpd_data(self) -> Any:
        """ArviZ's record of this result (what ``arviz_stats.compare`` takes)."""
        from arviz_stats.utils import ELPDDataLOO

        return ELPDDataLOO(
            elpd=self.elpd,
            se=self.se,
            p=self.p,
            n_samples=self.n_samples,
            n_data_points=self.n_data_points,
            scale="log",
            warning=self.warning,
            good_k=self.good_k,
            elpd_i=xr.DataArray(self.elpd_i, dims=["__obs__"]),
            pareto_k=xr.DataArray(self.pareto_k, dims=["__obs__"]),
        )


@dataclass(frozen=True)
class PriorPosterior:
    """Draws of one population-level effect under its prior and its posterior (thinned)."""

    label: str
    prior: np.ndarray
    posterior: np.ndarray


@dataclass(frozen=True)
class FittedLine:
    """One group's fitted line and 89% band along the predictor, averaged over its own rows.

    ``mean``, ``lb`` and ``ub`` are on the response scale (the mean of the response
    distribution), ``link_*`` the same on the link scale (the linear predictor).
    """

    level: str
    x: np.ndarray
    mean: np.ndarray
    lb: np.ndarray
    ub: np.ndarray
    link_mean: np.ndarray | None = None
    link_lb: np.ndarray | None = None
    link_ub: np.ndarray | None = None


@dataclass(frozen=True)
class ModelAnalysis:
    """Everything the report shows about one fitted model, computed from its fit.

    ``sections`` lists the parameter table's labels by kind (population-level
    effects, group-level standard deviations and correlations, auxiliary parameters);
    ``omitted`` says what the table leaves to summary.json. ``notes`` are the model's own notes,
    ``ppc_notes`` and ``group_notes`` those of its predictive check and group views.
    ``r2`` is the Bayesian R² (``r2_note`` says why there is none), ``effects`` the
    conditional effects of ``report.effects`` (``effect_notes`` what was not drawn) and
    ``sensitivity`` the power-scaling prior sensitivity (with
    ``report.prior_sensitivity``; ``sensitivity_note`` says why there is none).
    """

    model: str
    key: str
    fit_key: str
    family: str
    link: str
    response: str | None
    diagnostics: Diagnostics | None = None
    table: pd.DataFrame | None = None
    sections: tuple[tuple[str, tuple[str, ...]], ...] = ()
    omitted: tuple[str, ...] = ()
    random_effects: tuple[RandomEffectRow, ...] = ()
    correlations: tuple[CorrelationRow, ...] = ()
    #: grouping factor -> "correlated" or "independent" (empty without group terms)
    group_effects: dict[str, str] = field(default_factory=dict)
    residual: tuple[float, float, float] | None = None
    #: statsmodels' estimate and SE by label (report.frequentist) and how: "REML" or "ML"
    reml: dict[str, tuple[float, float]] = field(default_factory=dict)
    reference_method: str = ""
    priors: tuple[dict[str, str], ...] = ()
    loo: Pointwise | None = None
    #: what the model's elpd is a density of (response, values, rows): who it ranks with
    modelled: ModelledResponse | None = None
    ppc: PredictiveCheck | None = None
    prior_posterior: tuple[PriorPosterior, ...] = ()
    prior_note: str | None = None
    groups: GroupEstimates | None = None
    lines: tuple[FittedLine, ...] = ()
    #: every grouping factor's estimates (``county``, ``batch:cask``), by factor
    factor_estimates: dict[str, GroupEstimates] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    ppc_notes: tuple[str, ...] = ()
    group_notes: tuple[str, ...] = ()
    r2: BayesR2 | None = None
    r2_note: str | None = None
    effects: tuple[Effect, ...] = ()
    effect_notes: tuple[str, ...] = ()
    sensitivity: Sensitivity | None = None
    sensitivity_note: str | None = None

    def __repr__(self) -> str:
        passed = "unknown" if self.diagnostics is None else str(self.diagnostics.passed)
        size = 0 if self.table is None else len(self.table)
        return (
            f"ModelAnalysis({self.model!r}: {size} parameters, diagnostics passed {passed},"
            f" elpd_loo {self.loo.elpd if self.loo is not None else 'n/a'})"
        )

    def random_effects_frame(self) -> pd.DataFrame:
        """The lme4-style random-effects table: one row per grouping factor and term."""
        return pd.DataFrame([dataclasses.asdict(row) for row in self.random_effects])

    def diagnostics_frame(self) -> pd.DataFrame:
        """The diagnostics as a one-row table (problems and advice joined)."""
        if self.diagnostics is None:
            return pd.DataFrame()
        found = dataclasses.asdict(self.diagnostics)
        found["problems"] = " ".join(found["problems"])
        found["advice"] = "; ".join(found["advice"])
        return pd.DataFrame([found], index=[self.model])

    def _repr_html_(self) -> str:
        title = f"<h4>{html.escape(self.model)}</h4>"
        table = "" if self.table is None else str(self.table.to_html())
        return title + str(self.diagnostics_frame().to_html()) + table


#: The records an analysis is made of, by name (what ``compare.cache`` may rebuild).
RECORDS: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        ModelAnalysis,
        Pointwise,
        PriorPosterior,
        FittedLine,
        PredictiveCheck,
        Diagnostics,
        RandomEffectRow,
        CorrelationRow,
        GroupEstimates,
        BayesR2,
        R2Summary,
        Effect,
        EffectLine,
        Sensitivity,
        ModelledResponse,
    )
}


@dataclass(frozen=True)
class RankedGroup:
    """Models that can be ranked against each other, and their comparison."""

    group: ComparisonGroup
    comparison: Comparison | None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelResult:
    """One model of the study: its fit's status and record, and its analysis when it has draws."""

    name: str
    status: str
    error: str | None
    key: str = ""
    fit_path: str | None = None
    cached: bool = False
    seconds: dict[str, float] = field(default_factory=dict)
    rows: int | None = None
    dropped: int = 0
    analysis: ModelAnalysis | None = None
    #: the modelled event, response levels and reference levels (``ModelLevels.to_dict``)
    levels: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        """Whether the model has draws (and so an analysis)."""
        return self.status == "ok" and self.analysis is not None

    @property
    def diagnostics(self) -> Diagnostics | None:
        """The fit's diagnostics, when analysed."""
        return None if self.analysis is None else self.analysis.diagnostics


@dataclass(frozen=True)
class DataSummary:
    """The data in a few numbers."""

    source: str
    rows: int
    columns: list[str]
    group: str | None = None
    n_groups: int | None = None
    group_sizes: tuple[int, float, int] | None = None  # min, median, max
    all_columns: tuple[str, ...] = ()  # every column of the data as loaded
    dropped: int = 0  # rows dropped for missing values in the used columns (data.dropna)
    factors: tuple[str, ...] = ()  # the models' grouping factors, where report.group is unset


@dataclass(frozen=True)
class GroupPanel:
    """The observed data of one highlighted group, for the fitted-lines figure."""

    level: str
    title: str
    x: np.ndarray
    y: np.ndarray


@dataclass(frozen=True)
class PriorPredictive:
    """The prior predictive checks of a study's models and the values their figures show."""

    draws: int
    checks: dict[str, PriorCheck]
    table: pd.DataFrame
    observed: np.ndarray | None = None
    predicted: dict[str, np.ndarray] = field(default_factory=dict)
    response: str = ""
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Results:
    """Everything a study's report shows, as data (``analyse``'s result)."""

    study: Study
    models: dict[str, ModelResult]
    data: DataSummary
    versions: dict[str, str]
    thresholds: dict[str, float] = field(default_factory=lambda: dict(DIAGNOSE_DEFAULTS))
    comparison: Comparison | None = None
    comparison_notes: tuple[str, ...] = ()
    #: every set of models ranked together (the first is ``comparison``'s); with more than
    #: one, ``unranked`` says why they are not ranked against each other
    comparison_groups: tuple[RankedGroup, ...] = ()
    unranked: tuple[str, ...] = ()
    also_loo: Comparison | None = None  # PSIS-LOO beside a k-fold comparison
    reference: str | None = None
    differences: dict[str, tuple[str, ...]] = field(default_factory=dict)
    sweep: SweepView | None = None
    sweep_notes: tuple[str, ...] = ()
    panels: tuple[GroupPanel, ...] = ()
    panel_notes: tuple[str, ...] = ()
    prior_predictive: PriorPredictive | None = None
    prior_predictive_notes: tuple[str, ...] = ()
    prior_only: bool = False

    @property
    def analyses(self) -> dict[str, ModelAnalysis]:
        """The analyses of the models that have one."""
        return {n: m.analysis for n, m in self.models.items() if m.analysis is not None}

    def parameters(self, model: str) -> pd.DataFrame:
        """One model's parameter table (mean, sd, 89% interval, MCSE, ESS, R-hat)."""
        analysis = self.models[model].analysis
        if analysis is None or analysis.table is None:
            raise ValueError(f"model '{model}' has no parameter table: {self.models[model].error}")
        return analysis.table

    def random_effects(self, model: str) -> pd.DataFrame:
        """One model's random-effects table."""
        analysis = self.models[model].analysis
        return pd.DataFrame() if analysis is None else analysis.random_effects_frame()

    def diagnostics(self) -> pd.DataFrame:
        """Every model's status and diagnostics, one row each."""
        rows = {}
        for name, model in self.models.items():
            found: dict[str, Any] = {"status": model.status, "error": model.error}
            if model.diagnostics is not None:
                found |= {
                    k: v
                    for k, v in dataclasses.asdict(model.diagnostics).items()
                    if k not in ("problems", "advice")
                }
            rows[name] = found
        return pd.DataFrame(rows).T

    def __repr__(self) -> str:
        best = "no comparison"
        if self.comparison is not None and self.comparison.rows:
            best = f"best by {self.comparison.criterion}: " + repr(
                min(self.comparison.rows, key=lambda r: r.rank).model
            )
        return f"Results({self.study.name!r}: {counted(len(self.models), 'model')}, {best})"

    def _repr_html_(self) -> str:
        parts = [f"<h3>{html.escape(self.study.name)}</h3>"]
        if self.comparison is not None:
            parts.append(self.comparison._repr_html_())
        parts.append(str(self.diagnostics().to_html()))
        return "".join(parts)
