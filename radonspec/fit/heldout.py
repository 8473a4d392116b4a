"""Held-out rows scored under a fit: their log predictive density, draw by draw.

A cross-validation refit is scored on the rows it did not see. The worker that sampled
the refit scores them where the model and the draws already are
(``radonspec.fit.executors``); the k-fold analysis scores from the stored fit when the
worker could not (``radonspec.analysis.kfold``). Both go through these functions.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import logsumexp


def held_out_loglik(model: Any, tree: Any, test: pd.DataFrame) -> np.ndarray:
    """Log density of held-out rows under a fit: array (chain, draw, row).

    ``test`` must be coded as the fit's data was (``Compiled.design``). A group the fit
    never saw has its group-specific effects drawn from the fitted group distribution
    (Bambi's ``sample_new_groups``), which is what predicting a new group means.
    """
    import pytensor

    with warnings.catch_warnings(), pytensor.config.change_flags(mode=_eval_mode()):
        warnings.simplefilter("ignore")
        if not model.built:
            model.build()
        tree = tree.copy()
        tree = model._compute_likelihood_params(  # Bambi's public API refuses new groups here
            tree, data=test, include_group_specific=True, sample_new_groups=True, random_seed=0
        )
        values = model.family.log_likelihood(
            model=model, posterior=tree["posterior"].to_dataset(), data=test, **_codes(model, test)
        )
    return np.asarray(values.transpose("chain", "draw", ...).values)


def _codes(model: Any, test: pd.DataFrame) -> dict[str, Any]:
    """The response of an ordinal or categorical model as level codes, for Bambi.

    For new data Bambi's generic log-likelihood takes the response as formulae codes it,
    one column per level, and the categorical distribution fails on it (a shape
    mismatch) for the cumulative, stopping-ratio and categorical families alike; the
    level of each row is the column holding its 1, which is what Bambi's own in-sample
    path uses (``Family.get_data``).
    """
    if model.family.name not in ("cumulative", "sratio", "categorical"):
        return {}
    coded = np.asarray(model.response_term.evaluate_new_data(test))
    if coded.ndim != 2:
        return {}
    return {"y": np.nonzero(coded)[1]}


def _eval_mode() -> Any:
    """PyTensor's C backend with its usual rewrites, for Bambi's one-off ``eval`` calls.

    Bambi evaluates the log density with ``.eval()``, which compiles a new function
    every call; under PyTensor's default backend that is a numba JIT compile (0.3-0.9 s
    per fold refit, as long as the refit's own sampling). The C backend's compiled
    kernels are cached on disk by the op's signature, so after the first they take
    milliseconds; the rewrites (numerical stabilisation included) are the same
    ``fast_run`` set, and the values are those of the default backend (tested).
    """
    import pytensor
    from pytensor.compile.mode import Mode, get_default_mode

    if not pytensor.config.cxx:  # no C compiler here: the default backend it is
        return get_default_mode()
    return Mode(linker="cvm", optimizer="fast_run")


def held_out_elpd(model: Any, tree: Any, test: pd.DataFrame) -> np.ndarray:
    """Each held-out row's log predictive density under a fit (averaged over the draws)."""
    loglik = held_out_loglik(model, tree, test)
    draws = loglik.reshape(-1, loglik.shape[-1])
    return np.asarray(logsumexp(draws, axis=0) - np.log(draws.shape[0]))
