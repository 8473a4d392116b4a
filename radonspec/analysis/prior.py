"""Prior predictive checks: do a model's priors predict data like the data observed.

``prior_predictive`` draws from a compiled model's prior predictive distribution
(Bambi's ``Model.prior_predictive``, i.e. ``pymc.sample_prior_predictive``);
``prior_check`` compares the draws with the observed response: quantiles side by
side, the share of predicted values inside the observed range, and how much wider
the predicted spread is. Priors that put most of their predictions outside anything
the data could be (``Normal(0, 100)`` on a log scale) show here, before sampling.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from radonspec.errors import RadonspecError
from radonspec.study.schema import Study

PROBS = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


@dataclass(frozen=True)
class PriorCheck:
    """The prior predictive distribution of one model against the observed data.

    ``observed`` and ``predicted`` map each of ``PROBS`` to a quantile (of the
    observed values, and of every prior predictive value pooled over draws and
    observations). ``share_in_range`` is the share of prior predictive values
    between the smallest and largest observation; ``spread_ratio`` the ratio of the
    prior predictive 90% interval's width to the observed one's. ``passed`` is false
    when ``share_in_range`` falls below the threshold ``prior_check`` was given, and
    ``problems`` says why in a sentence.
    """

    model: str
    variable: str
    draws: int
    observed: Mapping[float, float]
    predicted: Mapping[float, float]
    observed_range: tuple[float, float]
    share_in_range: float
    spread_ratio: float
    passed: bool
    problems: tuple[str, ...] = ()
    error: str | None = None


def prior_predictive(compiled: Any, draws: int = 500, seed: int | None = None) -> xr.DataTree:
    """Draw from the prior predictive distribution of a compiled model.

    Parameters
    ----------
    compiled
        A ``radonspec.compile.model.Compiled`` (``compile_model`` or a planned fit's).
    draws
        Number of draws.
    seed
        Random seed (the model's ``Planned.seed`` keeps it reproducible).

    Returns
    -------
    xarray.DataTree
        Groups ``prior``, ``prior_predictive`` and ``observed_data``.
    """
    return _draw(compiled.model, draws, seed)


def prior_check(
    tree: xr.DataTree,
    *,
    model: str = "",
    var_name: str | None = None,
    min_share: float = 0.5,
    max_spread: float = 10.0,
) -> PriorCheck:
    """Compare a prior predictive tree with its observed data.

    Parameters
    ----------
    tree
        From ``prior_predictive``: needs ``prior_predictive`` and ``observed_data``.
    model
        The model's name, for the record and the sentences.
    var_name
        The observed variable; default the only one.
    min_share
        Smallest acceptable share of prior predictive values inside the observed range.
    max_spread
        Largest acceptable ratio of the prior predictive 90% interval's width to the
        observed one's.
    """
    name = _observed(tree, var_name)
    observed = np.asarray(tree["observed_data"][name]).astype(float).ravel()
    predicted = np.asarray(tree["prior_predictive"][name]).astype(float).ravel()
    predicted = predicted[np.isfinite(predicted)]
    draws = int(np.prod([tree["prior_predictive"].sizes[d] for d in ("chain", "draw")]))
    low, high = float(np.min(observed)), float(np.max(observed))
    quant_obs = dict(zip(PROBS, np.quantile(observed, PROBS).tolist(), strict=True))
    if predicted.size == 0:
        return PriorCheck(
            model, name, draws, quant_obs, {p: float("nan") for p in PROBS}, (low, high),
            0.0, float("inf"), False, ("every prior predictive draw is infinite or NaN",),
        )  # fmt: skip
    quant_pred = dict(zip(PROBS, np.quantile(predicted, PROBS).tolist(), strict=True))
    share = float(np.mean((predicted >= low) & (predicted <= high)))
    width_obs = quant_obs[0.95] - quant_obs[0.05]
    width_pred = quant_pred[0.95] - quant_pred[0.05]
    spread = float(width_pred / width_obs) if width_obs > 0 else float("inf")
    problems: list[str] = []
    if share < min_share:
        problems.append(
            f"only {share:.0%} of prior predictive values of '{name}' fall inside the observed"
            f" range [{_g(low)}, {_g(high)}] (at least {min_share:.0%} expected); its 90%"
            f" interval is [{_g(quant_pred[0.05])}, {_g(quant_pred[0.95])}]: the priors allow"
            " data nothing like these; tighten them (smaller scales)"
        )
    if spread > max_spread:
        problems.append(
            f"the prior predictive 90% interval of '{name}' is {spread:.0f} times as wide as the"
            f" data's (at most {max_spread:g} expected)"
        )
    return PriorCheck(
        model=model,
        variable=name,
        draws=draws,
        observed=quant_obs,
        predicted=quant_pred,
        observed_range=(low, high),
        share_in_range=share,
        spread_ratio=spread,
        passed=not problems,
        problems=tuple(problems),
    )


def prior_checks(
    study: Study,
    *,
    draws: int = 500,
    models: Sequence[str] | None = None,
    min_share: float = 0.5,
    max_spread: float = 10.0,
) -> dict[str, PriorCheck]:
    """``prior_check`` for every model of a study (what ``run --prior-only`` reports).

    Nothing is sampled from the posterior and nothing is stored. A model that does
    not compile or whose prior cannot be sampled gets a record with ``error`` set.
    """
    found = prior_predictives(study, draws=draws, models=models)
    return checks_of(found, min_share=min_share, max_spread=max_spread)


@dataclass(frozen=True)
class PriorDraws:
    """One model's prior predictive draws (``tree``), or why there are none (``error``)."""

    model: str
    tree: xr.DataTree | None
    error: str | None = None


def prior_predictives(
    study: Study,
    *,
    draws: int = 500,
    models: Sequence[str] | None = None,
    built: Mapping[str, Any] | None = None,
    data: pd.DataFrame | None = None,
) -> dict[str, PriorDraws]:
    """Prior predictive draws of every model of a study, each with the seed its fit would use.

    Parameters
    ----------
    study
        A loaded study.
    draws
        Draws per model.
    models
        The models to draw for; default all.
    built
        Bambi models already built, by model name (the report's): used instead of
        compiling the model again.
    data
        The study's data as loaded; default read from ``study.data``. Only models not
        in ``built`` are compiled on it.
    """
    from radonspec.compile.model import compile_model
    from radonspec.fit.sample import model_seed

    names = list(models) if models is not None else list(study.models)
    built = built or {}
    frame = None
    found: dict[str, PriorDraws] = {}
    for name in names:
        # the seed a fit of this model would use, so the check is reproducible
        seed = model_seed(study.models[name].sampler.seed, name)
        try:
            model = built.get(name)
            if model is None:
                if frame is None:
                    frame = data if data is not None else _study_frame(study, names)
                model = compile_model(study, name, frame).model
            found[name] = PriorDraws(name, _draw(model, draws, seed))
        except RadonspecError as exc:
            found[name] = PriorDraws(name, None, str(exc))
        except Exception as exc:  # noqa: BLE001 - PyMC's failures become a readable record
            found[name] = PriorDraws(name, None, f"{type(exc).__name__}: {exc}")
    return found


def checks_of(
    found: Mapping[str, PriorDraws], *, min_share: float = 0.5, max_spread: float = 10.0
) -> dict[str, PriorCheck]:
    """``prior_check`` of each model's draws; a model without draws gets its error."""
    checks: dict[str, PriorCheck] = {}
    for name, item in found.items():
        if item.tree is None:
            checks[name] = _failed(name, item.error or "no prior predictive draws")
            continue
        try:
            checks[name] = prior_check(
                item.tree, model=name, min_share=min_share, max_spread=max_spread
            )
        except ValueError as exc:
            checks[name] = _failed(name, str(exc))
    return checks


def capped_draws(rows: int, draws: int = 500, budget: int = 20_000_000) -> int:
    """``draws``, lowered so that draws x rows stays within ``budget`` values (at least 20)."""
    return max(20, min(draws, budget // max(rows, 1)))


def predicted_values(tree: xr.DataTree, var_name: str | None = None) -> np.ndarray:
    """Prior predictive draws as a (draws, observations) matrix of floats."""
    name = _observed(tree, var_name)
    array = tree["prior_predictive"][name]
    others = [d for d in array.dims if d not in ("chain", "draw")]
    values = np.asarray(array.transpose("chain", "draw", *others).values, dtype=float)
    return values.reshape(array.sizes["chain"] * array.sizes["draw"], -1)


def response_name(tree: xr.DataTree, var_name: str | None = None) -> str:
    """The observed variable of a prior predictive tree: the only one, or ``var_name`` checked."""
    return _observed(tree, var_name)


def observed_values(tree: xr.DataTree, var_name: str | None = None) -> np.ndarray:
    """The observed response of a prior predictive tree, flattened to floats."""
    name = _observed(tree, var_name)
    return np.asarray(tree["observed_data"][name], dtype=float).ravel()


def _draw(model: Any, draws: int, seed: int | None) -> xr.DataTree:
    """Bambi's ``prior_predictive`` on a model, built first when it is not."""
    pymc_log = logging.getLogger("pymc")
    level = pymc_log.level
    pymc_log.setLevel(logging.WARNING)  # not "Sampling: [...]" once per model on the terminal
    try:
        with warnings.catch_warnings():
            # Bambi and PyMC warn about things the spec checks already covered
            warnings.simplefilter("ignore")
            if not getattr(model, "built", False):
                model.build()
            tree = model.prior_predictive(draws=draws, random_seed=seed)
    finally:
        pymc_log.setLevel(level)
    result: xr.DataTree = tree
    return result


def _study_frame(study: Study, names: list[str]) -> pd.DataFrame:
    from radonspec.fit.runner import study_frame

    frame: pd.DataFrame = study_frame(study, names)
    return frame


def prior_table(checks: Mapping[str, PriorCheck]) -> pd.DataFrame:
    """One row per model: observed and prior predictive 5/50/95% quantiles, share, verdict."""
    rows = []
    for name, check in checks.items():
        rows.append(
            {
                "model": name,
                "variable": check.variable,
                "observed_q05": check.observed.get(0.05, np.nan),
                "observed_q50": check.observed.get(0.5, np.nan),
                "observed_q95": check.observed.get(0.95, np.nan),
                "prior_q05": check.predicted.get(0.05, np.nan),
                "prior_q50": check.predicted.get(0.5, np.nan),
                "prior_q95": check.predicted.get(0.95, np.nan),
                "share_in_range": check.share_in_range,
                "spread_ratio": check.spread_ratio,
                "passed": check.passed,
                "problems": " ".join(check.problems) or (check.error or ""),
            }
        )
    return pd.DataFrame(rows)


def _failed(model: str, error: str) -> PriorCheck:
    nan = float("nan")
    return PriorCheck(
        model, "", 0, {}, {}, (nan, nan), nan, nan, False, (f"no prior predictive: {error}",),
        error=error,
    )  # fmt: skip


def _observed(tree: xr.DataTree, var_name: str | None) -> str:
    for group in ("prior_predictive", "observed_data"):
        if group not in tree.children:
            raise ValueError(f"the tree has no '{group}' group; draw it with prior_predictive")
    names = [str(n) for n in tree["observed_data"].data_vars if n in tree["prior_predictive"]]
    if var_name is not None:
        if var_name not in names:
            raise ValueError(f"'{var_name}' is not an observed variable; expected one of {names}")
        return var_name
    if len(names) != 1:
        raise ValueError(f"the tree has {len(names)} observed variables; pick one of {names}")
    return names[0]


def _g(value: float) -> str:
    return f"{value:.3g}"
