"""K-fold and leave-group-out cross-validation, refitting each fold through the fit engine.

Each fold's refit is an ordinary fit: keyed by its training data, stored, and
run in parallel by the executor, so a second run samples nothing. Held-out
observations are scored by their log predictive density under the fold's
posterior; for a held-out group, its group-specific effects come from the fitted
group distribution, which is what predicting a new group means. Every fold's model
keeps every level of the columns used only as grouping factors
(``compile_model(keep_levels=True)``): a group without rows in the fold has effects
drawn from the group distribution during sampling, which leaves the other
parameters' posterior as it is, and the parameters keep one shape across folds, so
each worker compiles a model once and refits every fold with new data
(``radonspec.fit.compile_cache``). Where the fold's model lacks a held-out group
nonetheless (a grouping column that is also a predictor, or an expression such as
``C(g)``), its effects are drawn as a new group's (Bambi's ``sample_new_groups``).
The worker that samples a fold scores its held-out rows too; scoring here from the
stored fit is the fallback.
"""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from radonspec.analysis.loo import Comparison, compare_fits
from radonspec.data.load import fingerprint
from radonspec.errors import CompileError, FitError
from radonspec.fit.heldout import held_out_elpd, held_out_loglik, mean_density
from radonspec.fit.record import Fit
from radonspec.fit.runner import Event, Planned, fit_planned, open_store, plan_fit, study_frame
from radonspec.fit.store import Store
from radonspec.study.schema import Study

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KFoldResult:
    """One model's cross-validated elpd, with pointwise values (one per observation)."""

    model: str
    elpd: float
    se: float
    p: float
    elpd_i: np.ndarray
    folds: int
    error: str | None = None


def make_folds(frame: pd.DataFrame, k: int, group_by: str | None, seed: int) -> list[np.ndarray]:
    """Row indices held out by each fold: whole groups when ``group_by`` is given."""
    rng = np.random.default_rng(seed)
    if group_by is None:
        order = rng.permutation(len(frame))
        return [np.sort(part) for part in np.array_split(order, min(k, len(frame)))]
    levels = pd.unique(frame[group_by].astype(str))
    shuffled = rng.permutation(levels)
    parts = np.array_split(shuffled, min(k, len(levels)))
    keys = frame[group_by].astype(str).to_numpy()
    return [np.flatnonzero(np.isin(keys, part)) for part in parts]


def fold_label(model: str, fold: int) -> str:
    """The fit label of one fold's refit."""
    return f"{model}@fold{fold + 1}"


def kfold_study(
    study: Study,
    models: list[str],
    *,
    full_fits: Mapping[str, Fit] | None = None,
    jobs: int | None = None,
    executor: str = "local",
    scheduler: str | None = None,
    store: Store | str | os.PathLike[str] | None = None,
    on_event: Event | None = None,
    frame: pd.DataFrame | None = None,
    stored_only: bool = False,
) -> dict[str, KFoldResult]:
    """Cross-validate ``models`` as ``study.compare.kfold`` says; refits go through the store.

    ``frame`` is the study's data as loaded by the caller (loaded here when None).
    ``stored_only`` refits nothing: a refit missing from the store is a ``FitError``.
    """
    settings = study.compare.kfold
    if frame is None:
        frame = study_frame(study)
    folds = make_folds(frame, settings.k, settings.group_by, seed=_fold_seed(study))
    planned: list[Planned] = []
    for name in models:
        for index, test in enumerate(folds):
            train = frame.drop(index=test).reset_index(drop=True)
            label = fold_label(name, index)
            item = plan_fit(study, name, train, label=label, posterior_only=True, refit=True)
            # the worker that fits a fold scores its held-out rows too
            planned.append(replace(item, held_out=frame.iloc[test]))
    if stored_only:
        _require_stored(study, planned, open_store(store))
    # lazy: hundreds of fold refits must not all sit in memory at once
    fits = fit_planned(
        study,
        planned,
        jobs=jobs,
        executor=executor,
        scheduler=scheduler,
        store=store,
        on_event=on_event,
        lazy="closed",
    )
    fit_store = open_store(store)
    by_label = {item.label: item for item in planned}
    results = {}
    for name in models:
        full = (full_fits or {}).get(name)
        # scoring reads every fold's draws back: minutes for a large study, so it is shown
        shown = f"{name} (k-fold)"
        if on_event is not None:
            on_event(shown, "scoring", None)
        results[name] = _score(study, name, frame, folds, fits, by_label, full, fit_store)
        if on_event is not None:
            on_event(shown, "scored" if results[name].error is None else "unscored", None)
    return results


def cross_validate(
    study: Study,
    fits: Mapping[str, Fit],
    *,
    jobs: int | None = None,
    executor: str = "local",
    scheduler: str | None = None,
    store: Store | str | os.PathLike[str] | None = None,
    on_event: Event | None = None,
    frame: pd.DataFrame | None = None,
    stored_only: bool = False,
) -> Comparison:
    """The k-fold comparison of the study's compared models (refits go through the store).

    A model whose refits fail or whose held-out rows cannot be scored is left out with
    a note; ``stored_only`` (``radonspec report``) refits nothing.
    """
    fitted = {n for n, f in fits.items() if f.ok}
    names = [n for n in (study.compare.models or list(study.models)) if n in fitted]
    results = kfold_study(
        study, names, full_fits=fits, jobs=jobs, executor=executor, scheduler=scheduler,
        store=store, on_event=on_event, frame=frame, stored_only=stored_only,
    )  # fmt: skip
    usable = {name: r for name, r in results.items() if r.error is None}
    comparison = compare_fits(
        {},
        criterion="kfold",
        elpd={n: to_elpd(r, _draws(fits[n])) for n, r in usable.items()},
    )
    notes = [f"'{n}' left out of the k-fold comparison: {r.error}" for n, r in results.items()
             if r.error is not None]  # fmt: skip
    pointwise = {n: r.elpd_i for n, r in usable.items()}
    return replace(comparison, warnings=(*comparison.warnings, *notes), pointwise=pointwise)


def _draws(fit: Fit) -> int:
    assert fit.tree is not None
    posterior = fit.tree["posterior"]
    return int(posterior.sizes["draw"] * posterior.sizes["chain"])


def _require_stored(study: Study, planned: list[Planned], store: Store) -> None:
    for item in planned:
        meta = store.read_meta(item.key) or {}
        if meta.get("status") != "ok":
            where = study.source or study.name
            raise FitError(
                f"the k-fold refit '{item.label}' of {where} is not stored (key"
                f" {item.key[:12]}); make the refits with: radonspec run {where}"
            )


def to_elpd(result: KFoldResult, n_samples: int) -> Any:
    """ArviZ's k-fold record for a successful result, for ``compare_fits(elpd=...)``."""
    import xarray as xr
    from arviz_stats.utils import ELPDDataLOOKFold

    return ELPDDataLOOKFold(
        elpd=result.elpd,
        se=result.se,
        p=result.p,
        n_samples=n_samples,
        n_data_points=len(result.elpd_i),
        scale="log",
        warning=False,
        good_k=None,  # type: ignore[arg-type]  # k-fold has no Pareto k
        elpd_i=xr.DataArray(result.elpd_i, dims=["__obs__"]),
        n_folds=result.folds,
    )


def _fold_seed(study: Study) -> int:
    first = next(iter(study.models.values()))
    return first.sampler.seed


def _score(
    study: Study,
    name: str,
    frame: pd.DataFrame,
    folds: list[np.ndarray],
    fits: Mapping[str, Fit],
    planned: Mapping[str, Planned],
    full: Fit | None,
    store: Store,
) -> KFoldResult:
    elpd_i = np.full(len(frame), np.nan)
    for index, test in enumerate(folds):
        label = fold_label(name, index)
        fit, item = fits.get(label), planned[label]
        if fit is None or fit.status != "ok" or item.data is None:
            reason = (fit.error if fit else None) or item.error or "not fitted"
            return _failed(name, len(folds), f"fold {index + 1} failed: {reason}")
        scored = _scored_by_worker(fit, frame.iloc[test])
        if scored is not None:
            elpd_i[test] = scored
            continue
        loaded = store.get(fit.key)  # one fold's draws in memory at a time
        if loaded is None or loaded.tree is None:
            return _failed(name, len(folds), f"fold {index + 1}: its stored fit is gone")
        try:
            compiled = item.compile(study)
            model = compiled.model
            # held-out rows coded as the fit's were (level order, a binary response as 0/1)
            elpd_i[test] = held_out_elpd(model, loaded.tree, compiled.design(frame.iloc[test]))
        except Exception as exc:  # a model that cannot predict held-out rows, e.g. new levels
            log.debug("scoring %s failed", label, exc_info=True)
            return _failed(name, len(folds), _why_not_scored(exc))
        # A fold's Bambi model and draws sit in reference cycles that the collector,
        # counting objects rather than bytes, frees too late: collected at once,
        # scoring stays near one fold's size (without it, about 70 MB more per fold).
        del loaded, model, compiled
        gc.collect()
    elpd = float(elpd_i.sum())
    se = float(np.sqrt(len(elpd_i) * np.var(elpd_i)))
    p = np.nan
    if full is not None and full.ok and full.tree is not None:
        full_ll = _stacked(full.tree["log_likelihood"].to_dataset())
        lppd = float(mean_density(full_ll).sum())
        p = lppd - elpd
    return KFoldResult(name, elpd, se, float(p), elpd_i, len(folds))


def _scored_by_worker(fit: Fit, test: pd.DataFrame) -> np.ndarray | None:
    """The held-out densities the worker stored with ``fit``, if they are of these rows."""
    record = (fit.meta or {}).get("held_out")
    if not isinstance(record, dict) or record.get("rows") != fingerprint(test):
        return None
    values = np.asarray(record.get("elpd_i", []), dtype=float)
    return values if values.shape == (len(test),) else None


def _stacked(dataset: Any) -> np.ndarray:
    (var,) = list(dataset.data_vars.values())[:1]
    values = np.asarray(var.transpose("chain", "draw", ...).values)
    return values.reshape(-1, values.shape[-1])


def _failed(name: str, folds: int, reason: str) -> KFoldResult:
    return KFoldResult(name, np.nan, np.nan, np.nan, np.array([]), folds, reason)


def _why_not_scored(exc: BaseException) -> str:
    whole = " ".join(str(exc).split())
    said = f"cannot predict the held-out rows ({type(exc).__name__}: {whole[:200]})"
    if "are not present in the" not in whole:  # not a level the refit never saw
        return f"{said}; run with --debug to see where it failed"
    return (
        f"{said}; a model with a separate parameter per group (no pooling) cannot predict"
        " a group it never saw: leave it out of compare.models for leave-group-out"
        " cross-validation"
    )


__all__ = [
    "CompileError",
    "KFoldResult",
    "held_out_elpd",
    "held_out_loglik",
    "kfold_study",
    "make_folds",
]
