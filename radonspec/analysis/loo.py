"""Model comparison by PSIS-LOO or precomputed ELPD (k-fold): the ranked table.

ArviZ computes PSIS-LOO and stacking weights; this module turns them into records
and sentences, counting unreliable observations (Pareto k) per model.
"""

from __future__ import annotations

import dataclasses
import html
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import arviz_stats as azs
import numpy as np
import pandas as pd
import xarray as xr

from radonspec.analysis.predictive import ppc_rmsd
from radonspec.analysis.psis import cached_loo
from radonspec.errors import counted, one_of
from radonspec.study.formula import response_call


@dataclass(frozen=True)
class ComparisonRow:
    """One model's line in the comparison table."""

    model: str
    rank: int
    elpd: float
    se: float
    p: float
    elpd_diff: float
    dse: float
    weight: float
    pareto_k_bad: int  # observations with k > pareto_k_threshold
    rmsd: float | None = None
    # ArviZ's sample-size dependent good-k: min(1 - 1/log10(S), 0.7) for S draws
    pareto_k_threshold: float = 0.7


@dataclass(frozen=True)
class Comparison:
    """The comparison of several fits by one criterion; ``to_frame()`` gives the table."""

    criterion: str  # "loo" or "kfold"
    rows: tuple[ComparisonRow, ...]
    warnings: tuple[str, ...] = ()
    #: k-fold's pointwise elpd by model (so the analysis can regroup what is comparable)
    pointwise: dict[str, np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    def to_frame(self) -> pd.DataFrame:
        """The ranked table, one row per model, best first."""
        rows = sorted(self.rows, key=lambda r: r.rank)
        frame = pd.DataFrame([dataclasses.asdict(row) for row in rows])
        return frame.set_index("model") if len(frame) else frame

    def __repr__(self) -> str:
        best = min(self.rows, key=lambda r: r.rank).model if self.rows else "none"
        return f"Comparison({self.criterion}: {counted(len(self.rows), 'model')}, best {best!r})"

    def _repr_html_(self) -> str:
        caption = f"<p>Compared by {html.escape(self.criterion)}</p>"
        notes = "".join(f"<li>{html.escape(w)}</li>" for w in self.warnings)
        return caption + str(self.to_frame().to_html()) + (f"<ul>{notes}</ul>" if notes else "")


CRITERIA = ("loo", "kfold")


def _censored(tree: xr.DataTree) -> bool:
    """Whether the response is ``censored(...)``: its bounds are no values to take errors of."""
    observed = tree["observed_data"] if "observed_data" in tree.children else None
    return observed is not None and any(
        (call := response_call(str(name))) is not None and call[0] == "censored"
        for name in observed.data_vars
    )


def compare_fits(
    trees: Mapping[str, xr.DataTree],
    *,
    criterion: str = "loo",
    elpd: Mapping[str, Any] | None = None,
) -> Comparison:
    """PSIS-LOO comparison of fits (elpd, se, p_loo, elpd_diff, dse, stacking weights).

    Rows come best first. ``pareto_k_bad`` counts observations whose Pareto k
    exceeds ArviZ's good-k threshold ``min(1 - 1/log10(S), 0.7)`` for ``S``
    posterior draws (0.62 for 400 draws, 0.7 from 2200 on); each model with such
    observations gets a warning. ``rmsd`` is ``ppc_rmsd`` where the fit has a
    posterior predictive group.

    Parameters
    ----------
    trees
        Fits by model name.
    criterion
        ``"loo"`` computes PSIS-LOO here; ``"kfold"`` needs ``elpd``.
    elpd
        Precomputed ELPD results by model name (e.g. from ``arviz_stats.loo_kfold``),
        used instead of PSIS-LOO. Required for ``"kfold"``, which refits the models.
    """
    if criterion not in CRITERIA:
        raise ValueError(f"unknown criterion '{criterion}'; expected {one_of(CRITERIA)}")
    if criterion == "kfold" and elpd is None:
        raise ValueError(
            "criterion 'kfold' needs refits: compute each model's ELPD with"
            " arviz_stats.loo_kfold and pass them as elpd={name: result}"
        )
    if not trees and not elpd:
        raise ValueError("compare_fits needs at least one fit")
    notes: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if elpd is not None:
            results = dict(elpd)
        else:
            results = {name: cached_loo(tree) for name, tree in trees.items()}
        table = azs.compare(results, method="stacking", round_to="none")
    # ArviZ's advice passes through, except the Pareto-k warning, which the per-model
    # sentences below replace; numpy's floating-point chatter is dropped
    notes += [
        str(w.message)
        for w in caught
        if issubclass(w.category, UserWarning) and "Pareto distribution" not in str(w.message)
    ]
    rows = []
    for name, line in table.iterrows():
        result = results[str(name)]
        bad, threshold = _bad_k(result)
        if bad:
            notes.append(
                f"{bad} observation{'s' if bad != 1 else ''} with Pareto k > {threshold:.2f} in"
                f" '{name}': PSIS-LOO is unreliable there; use kfold"
                " (compare: {criterion: kfold})."
            )
        tree = trees.get(str(name))
        has_pp = tree is not None and "posterior_predictive" in tree.children
        rows.append(
            ComparisonRow(
                model=str(name),
                rank=int(line["rank"]),
                elpd=float(line["elpd"]),
                se=float(line["se"]),
                p=float(line["p"]),
                elpd_diff=float(line["elpd_diff"]),
                dse=float(line["dse"]),
                weight=float(line["weight"]),
                pareto_k_bad=bad,
                rmsd=ppc_rmsd(tree)
                if has_pp and tree is not None and not _censored(tree)
                else None,
                pareto_k_threshold=threshold,
            )
        )
    return Comparison(criterion=criterion, rows=tuple(rows), warnings=tuple(dict.fromkeys(notes)))


def _bad_k(result: Any) -> tuple[int, float]:
    threshold = float(getattr(result, "good_k", None) or 0.7)
    pareto_k = getattr(result, "pareto_k", None)
    if pareto_k is None:
        return 0, threshold
    return int((np.asarray(pareto_k) > threshold).sum()), threshold
