"""Posterior predictive summaries of one fit: RMSD and LOO-PIT."""

from __future__ import annotations

import contextlib
import contextvars
import functools
import hashlib
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import arviz_stats as azs
import numpy as np
import xarray as xr

from radonspec.analysis import psis
from radonspec.analysis.groups import SAMPLE_DIMS
from radonspec.analysis.psis import computed
from radonspec.errors import did_you_mean, one_of

NO_PREDICTIVE = "not computed: the fit stores no predictive draws (sampler.predictive: false)"


def _observed_name(tree: xr.DataTree, var_name: str | None, group: str) -> str:
    """Name the observed variable: the only one, or ``var_name`` after checking it."""
    if group == "posterior_predictive" and group not in tree.children:
        raise ValueError(NO_PREDICTIVE)
    if group not in tree.children or "observed_data" not in tree.children:
        raise ValueError(f"the fit has no '{group}' or 'observed_data' group")
    names = [str(n) for n in tree["observed_data"].data_vars if n in tree[group].data_vars]
    if var_name is not None:
        if var_name not in names:
            raise ValueError(
                f"'{var_name}' is not an observed variable of the fit"
                f"{did_you_mean(var_name, names)}; expected {one_of(names)}"
            )
        return var_name
    if len(names) != 1:
        raise ValueError(
            f"the fit has {len(names)} observed variables; pick one of {one_of(names)}"
        )
    return names[0]


def ppc_rmsd(tree: xr.DataTree, *, var_name: str | None = None) -> float:
    """Posterior predictive RMSD: root mean squared difference of replicated and observed data.

    For each draw, ``sqrt(mean((y_rep - y)**2))`` over the observations; returns
    the posterior mean of that. It includes the observation noise; see
    ``prediction_rmsd`` for the error of the posterior mean prediction.
    """
    name = _observed_name(tree, var_name, "posterior_predictive")
    y = tree["observed_data"][name]
    y_rep = tree["posterior_predictive"][name]
    # in numpy, in place: xarray's arithmetic made three draws x observations temporaries
    observed = np.asarray(y.values, dtype=float)
    replicated = y_rep.transpose(*[d for d in y_rep.dims if d not in y.dims], *y.dims).values
    squared = np.subtract(replicated, observed, dtype=float)
    np.square(squared, out=squared)
    per_draw = np.sqrt(squared.reshape(*squared.shape[: squared.ndim - observed.ndim], -1).mean(-1))
    return float(per_draw.mean())


def prediction_rmsd(tree: xr.DataTree, *, var_name: str | None = None) -> float:
    """RMSD of the posterior predictive mean: ``sqrt(mean((E[y_rep] - y)**2))``.

    The error of the model's point prediction; smaller than ``ppc_rmsd``, which
    also counts the spread of the replicated data.
    """
    name = _observed_name(tree, var_name, "posterior_predictive")
    y = tree["observed_data"][name]
    expected = tree["posterior_predictive"][name].mean(SAMPLE_DIMS)
    return float(np.sqrt(((expected - y) ** 2).mean()))


@dataclass(frozen=True)
class Censoring:
    """Each observation's censoring, as Bambi's ``censored(value, status)`` codes it.

    ``status`` is 0 for an exact value, 1 right-censored (the value is at or beyond the
    observed one) and -1 left-censored (at or before it). Interval censoring is refused
    by the spec's checks: Bambi 0.21 does not fit it.
    """

    status: np.ndarray

    @property
    def censored(self) -> int:
        """How many observations are censored."""
        return int(np.count_nonzero(self.status))

    def describe(self) -> str:
        """``"18 right-censored"``, ``"3 right-censored and 2 left-censored"``."""
        kinds = [(1, "right"), (-1, "left")]
        parts = [f"{int(np.sum(self.status == code))} {kind}-censored" for code, kind in kinds
                 if np.any(self.status == code)]  # fmt: skip
        return " and ".join(parts)


def censoring_of(model: Any) -> Censoring | None:
    """The censoring of a Bambi model's response (``None`` unless it is ``censored(...)``)."""
    term = getattr(model, "response_term", None)
    if term is None or not getattr(term, "is_censored", False):
        return None
    data = np.asarray(term.data, dtype=float)
    if data.ndim != 2 or data.shape[1] != 2:
        return None
    return Censoring(data[:, 1].astype(int))


def loo_pit(
    tree: xr.DataTree, *, var_name: str | None = None, censoring: Censoring | None = None
) -> np.ndarray:
    """LOO-PIT values of the observed variable, one per observation (flattened).

    Equal to ``arviz_stats.loo_pit`` (computed by ``radonspec.analysis.psis``); uniform
    on [0, 1] for a calibrated model. When ``cached_loo`` has smoothed this tree's
    weights they are reused (the same values).

    A censored observation's value is only known to lie at or beyond (at or before) its
    bound ``c``, so its PIT is only known to lie in ``[P(Y < c), 1]`` (``[0, P(Y <=
    c)]``) under its leave-one-out predictive distribution, as PyMC's censored likelihood
    has it: it is drawn uniformly there, which is uniform on [0, 1] again for a
    calibrated model, counts included. Taken at the bound instead, right-censored times
    would read as predictions too high.
    """
    name = _observed_name(tree, var_name, "posterior_predictive")
    smoothed = computed(tree)
    log_weights = getattr(smoothed, "log_weights", None) if smoothed is not None else None
    values = np.asarray(psis.loo_pit(tree, name, log_weights=log_weights)).ravel()
    if censoring is None or not censoring.censored:
        return values
    status = censoring.status.ravel()
    uniform = np.random.default_rng(215).uniform(size=values.shape)
    found = values.copy()
    right, left = status == 1, status == -1
    if right.any():  # P(Y < c): ties with the bound belong to the censored range
        below = np.asarray(psis.loo_pit(tree, name, log_weights=log_weights, ties=0.0))
        found[right] = below.ravel()[right] + uniform[right] * (1 - below.ravel()[right])
    if left.any():  # P(Y <= c)
        upto = np.asarray(psis.loo_pit(tree, name, log_weights=log_weights, ties=1.0))
        found[left] = uniform[left] * upto.ravel()[left]
    return found


#: Replicated data sets drawn in the density check.
PPC_DRAWS = 50
#: At most this many distinct values get a bar in the frequency check.
MAX_BARS = 25


@dataclass(frozen=True)
class PredictiveCheck:
    """What the posterior predictive check draws, bounded in size whatever the data.

    ``kind`` is ``"density"`` (``curves`` holds ``PPC_DRAWS`` replicated data sets' and
    ``observed`` the data's kernel density, each as rows of x then y on one grid) or
    ``"frequencies"`` (``values`` with the observed share of each in ``observed_share``
    and the 5.5%, 50% and 94.5% quantiles of the replicated shares in ``replicated``).
    ``pit`` holds one LOO-PIT value per observation (None without a log-likelihood).
    """

    response: str
    kind: str
    draws: int
    curves: np.ndarray  # (draws, 2, grid) for densities; empty for frequencies
    observed: np.ndarray  # (2, grid) for densities; empty for frequencies
    values: np.ndarray  # frequencies only
    observed_share: np.ndarray
    replicated: np.ndarray  # (3, values)
    pit: np.ndarray | None
    rmsd: float | None
    labels: tuple[str, ...] = ()  # names of ``values`` (an ordinal response's levels)
    #: the LOO-PIT Δ-ECDF: rows x, ECDF - x, and the 95% simultaneous envelope's bounds - x
    pit_ecdf: np.ndarray | None = None


def predictive_check(
    tree: xr.DataTree,
    *,
    discrete: bool,
    pit: bool = True,
    rmsd: bool = True,
    labels: tuple[str, ...] = (),
    censoring: Censoring | None = None,
) -> PredictiveCheck:
    """Summarise the posterior predictive draws of a fit for its check.

    Parameters
    ----------
    tree
        The fit, with ``posterior_predictive`` and ``observed_data``.
    discrete
        Whether the family's outcomes are counts or categories (its replicated
        values are then the same few values as the data's): the check compares
        frequencies. A continuous family gets densities even when the data happen to
        be whole numbers (diameters in whole millimetres), where one bar per distinct
        replicated value would be millions of bars.
    pit
        Compute the LOO-PIT values (needs the fit's log-likelihood).
    rmsd
        Compute the posterior predictive RMSD.
    labels
        Names of the values ``0, 1, ...`` of a categorical or ordinal response.
    censoring
        The response's censoring (``censoring_of``): the LOO-PIT allows for it, and the
        RMSD, which would take a censoring time for the value, is not computed.
    """
    name = _observed_name(tree, None, "posterior_predictive")
    observed = np.asarray(tree["observed_data"][name], dtype=float).ravel()
    array = tree["posterior_predictive"].to_dataset()[name]
    others = [d for d in array.dims if d not in SAMPLE_DIMS]
    replicated = np.asarray(array.transpose(*SAMPLE_DIMS, *others).values, dtype=float)
    replicated = replicated.reshape(-1, observed.size)
    pit_values = ecdf = None
    if pit and "log_likelihood" in tree.children:
        pit_values = loo_pit(tree, var_name=name, censoring=censoring)
        ecdf = pit_ecdf(pit_values)
    censored = censoring is not None and censoring.censored > 0
    found_rmsd = ppc_rmsd(tree, var_name=name) if rmsd and not censored else None
    empty = np.empty(0)
    finite = observed[np.isfinite(observed)]
    if discrete and np.unique(finite).size <= MAX_BARS:
        values = np.unique(finite)
        share = np.array([(observed == v).mean() for v in values])
        draws = np.stack([(replicated == v).mean(axis=1) for v in values], axis=1)
        quantiles = np.quantile(draws, [0.055, 0.5, 0.945], axis=0)
        return PredictiveCheck(
            name, "frequencies", replicated.shape[0], empty, empty, values, share, quantiles,
            pit_values, found_rmsd, _labels(values, labels), ecdf,
        )  # fmt: skip
    picks = np.linspace(0, replicated.shape[0] - 1, min(PPC_DRAWS, replicated.shape[0]))
    # boundary correction suits data with a hard lower bound (amounts, durations); on
    # unbounded data it would cut every curve off at the sample's extremes
    bounded = bool(np.nanmin(observed) >= 0)
    curves = np.stack([_kde(replicated[i], bounded) for i in picks.astype(int)])
    return PredictiveCheck(
        name, "density", len(picks), curves, _kde(observed, bounded), empty, empty,
        np.empty((3, 0)), pit_values, found_rmsd, (), ecdf,
    )  # fmt: skip


def _kde(values: np.ndarray, bounded: bool) -> np.ndarray:
    values = values[np.isfinite(values)]
    grid, density, _ = azs.kde(values, bound_correction=bounded)
    return np.stack([np.asarray(grid, dtype=float), np.asarray(density, dtype=float)])


def _labels(values: np.ndarray, labels: tuple[str, ...]) -> tuple[str, ...]:
    if not labels:
        return ()
    codes = [int(v) for v in values]
    return tuple(labels[c] if 0 <= c < len(labels) else str(c) for c in codes)


def pit_ecdf(pit: np.ndarray) -> np.ndarray:
    """The Δ-ECDF of LOO-PIT values and its 95% simultaneous envelope, as rows.

    Rows: evaluation points x, ECDF(x) - x, and the envelope's lower and upper bounds
    minus x (what arviz-plots draws for its LOO-PIT plot).
    """
    from arviz_stats.ecdf_utils import compute_ecdf

    values = np.asarray(pit, dtype=float)
    values = values[np.isfinite(values)]
    x, lower, upper = _pit_envelope(len(values))
    ecdf = np.concatenate(([0.0], compute_ecdf(values, x[1:-1]), [1.0]))
    return np.stack([x, ecdf - x, lower - x, upper - x])


#: The LOO-PIT envelope's probability, number of simulated ECDFs and seed.
ENVELOPE = (0.95, 1000, 214)
_ENVELOPES: contextvars.ContextVar[Path | None] = contextvars.ContextVar(
    "radonspec_envelopes", default=None
)


@contextlib.contextmanager
def kept_envelopes(folder: Path | None) -> Iterator[None]:
    """Read LOO-PIT envelopes from ``folder``, and keep those simulated, inside the block.

    Simulating one costs about a second for the radon data, once per process and size:
    a ``watch`` whose first cycle read every analysis from the store would otherwise
    pay it at the first edit. ``None`` keeps nothing.
    """
    token = _ENVELOPES.set(folder)
    try:
        yield
    finally:
        _ENVELOPES.reset(token)


@functools.lru_cache(maxsize=8)
def _pit_envelope(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Evaluation points and 95% simultaneous envelope of the ECDF of ``n`` uniform values.

    It depends on ``n`` alone (and ArviZ's version), and simulating it costs about a
    second for the radon data: every model of a study shares one (the same numbers as
    ArviZ's ``ecdf_pit`` gives), kept in the folder ``kept_envelopes`` names.
    """
    folder = _ENVELOPES.get()
    path = None if folder is None else folder / f"pit-{n}-{_envelope_tag()}.npz"
    if path is not None and (kept := _read_envelope(path)) is not None:
        return kept
    from arviz_stats.ecdf_utils import ecdf_pit

    probability, simulations, seed = ENVELOPE
    x, _, lower, upper = ecdf_pit(
        np.linspace(0.0, 1.0, n), probability, simulations, rng=np.random.default_rng(seed)
    )
    found = np.asarray(x), np.asarray(lower), np.asarray(upper)
    if path is not None:
        _write_envelope(path, found)
    return found


def _envelope_tag() -> str:
    import importlib.metadata

    text = f"{importlib.metadata.version('arviz-stats')}|{ENVELOPE}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _read_envelope(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    try:
        with np.load(path, allow_pickle=False) as kept:
            found = kept["x"], kept["lower"], kept["upper"]
    except (OSError, ValueError, KeyError):
        return None  # missing or damaged: simulated again
    if any(a.ndim != 1 or a.dtype.kind != "f" or a.shape != found[0].shape for a in found):
        return None
    return found


def _write_envelope(path: Path, found: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        if not path.parent.parent.is_dir():
            return  # the store is not there: nothing to keep it in
        path.parent.mkdir(exist_ok=True)
        with open(temporary, "wb") as handle:
            np.savez(handle, x=found[0], lower=found[1], upper=found[2])
        os.replace(temporary, path)
    except OSError:  # a cache that cannot be written only costs the simulation next time
        with contextlib.suppress(OSError):
            temporary.unlink()
