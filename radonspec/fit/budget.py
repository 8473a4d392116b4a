"""What one fit may cost: the memory its draws take, and its wall time.

Before sampling, ``estimate_model`` counts what a built Bambi model's fit will hold
(posterior draws, per-observation values, log-likelihood, predictive draws, sampler
statistics) and ``check_memory`` refuses a fit whose estimate passes the limit, with
the estimate and how to bring it down. ``time_limit`` stops a fit that runs longer than
allowed. Both limits come from the environment unless the caller passes them:

``RADONSPEC_MAX_FIT_BYTES``
    Largest estimate allowed, e.g. ``8G``, ``500M``, ``2.5GiB`` or a number of bytes;
    ``0`` or ``none`` turns the check off. Default: a quarter of the physical memory,
    because converting and writing a fit briefly holds about two copies of it.
``RADONSPEC_FIT_TIME_LIMIT``
    Seconds one fit may take (sampling, log-likelihood and predictions); unset, ``0``
    or ``none``: no limit.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import signal
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import FrameType
from typing import Any

from radonspec.errors import FitError, RadonspecError

MAX_BYTES_ENV = "RADONSPEC_MAX_FIT_BYTES"
TIME_LIMIT_ENV = "RADONSPEC_FIT_TIME_LIMIT"
#: Bytes per stored value: PyMC and nutpie keep draws as float64 / int64.
ITEMSIZE = 8
#: Per-draw sampler statistics nutpie and PyMC keep (step size, depth, energy, ...).
STATS_PER_DRAW = 16
_OBS_DIM = "__obs__"  # Bambi's name of the observations' dimension
_UNITS = {
    "": 1,
    "b": 1,
    "k": 10**3,
    "kb": 10**3,
    "kib": 2**10,
    "m": 10**6,
    "mb": 10**6,
    "mib": 2**20,
    "g": 10**9,
    "gb": 10**9,
    "gib": 2**30,
    "t": 10**12,
    "tb": 10**12,
    "tib": 2**40,
}
_OFF = {"", "0", "none", "off", "no"}


class ResourceError(RadonspecError, ValueError):
    """A fit refused before sampling: it would need more than a configured limit."""


class FitTimeoutError(FitError):
    """A fit stopped because it ran past its time limit."""


#: Per-observation values (draws x observations) computed at once after sampling: 200 MB.
BLOCK_VALUES = 25_000_000


@dataclass(frozen=True)
class FitEstimate:
    """Bytes one fit's arrays will take, by group, with what they were computed from.

    ``per_observation`` counts values with one entry per observation and kept draw that
    computing the log-likelihood and predictions holds (Bambi's ``mu``), at most one
    block of ``BLOCK_VALUES`` draws x observations: they are dropped before the fit is
    stored. The posterior and the sampler statistics are counted at every
    draw sampled, because the sampler holds them all until thinning; everything with an
    observations' dimension is counted at the kept draws only.
    """

    draws: int
    chains: int
    thin: int
    n_obs: int
    n_params: int
    posterior: int
    per_observation: int
    log_likelihood: int
    predictive: int
    sample_stats: int

    @property
    def total(self) -> int:
        """All groups together, in bytes."""
        return (
            self.posterior
            + self.per_observation
            + self.log_likelihood
            + self.predictive
            + self.sample_stats
        )

    def parts(self) -> dict[str, int]:
        """The non-empty groups by a readable name, largest first."""
        named = {
            "posterior": self.posterior,
            "per-observation values": self.per_observation,
            "log-likelihood": self.log_likelihood,
            "predictive draws": self.predictive,
            "sampler statistics": self.sample_stats,
        }
        return dict(sorted(((k, v) for k, v in named.items() if v), key=lambda kv: -kv[1]))


def estimate_fit(
    n_obs: int,
    n_params: int,
    draws: int,
    chains: int,
    *,
    per_obs_values: int = 1,
    response_values: int | None = None,
    log_likelihood: bool = True,
    predictive: bool = True,
    thin: int = 1,
    itemsize: int = ITEMSIZE,
) -> FitEstimate:
    """Estimate, group by group, the bytes of one fit's arrays.

    Parameters
    ----------
    n_obs
        Observations (rows the model sees).
    n_params
        Scalar parameters in the posterior (a vector of 85 county effects counts 85).
    draws, chains
        Draws sampled per chain, and chains.
    per_obs_values
        Per-observation values per kept draw computed for the log-likelihood and
        predictions (Bambi's ``mu``; one per modelled parameter of a distributional model).
    response_values
        Values of one predictive draw (``n_obs``, or ``n_obs`` times the categories
        of a multinomial response); default ``n_obs``.
    log_likelihood, predictive
        Whether the log-likelihood and the predictive draws are kept.
    thin
        Keep every ``thin``-th draw of each chain: the log-likelihood, predictive draws and
        per-observation values are computed for the kept draws only.
    itemsize
        Bytes per value.
    """
    for name, value in {"n_obs": n_obs, "n_params": n_params, "chains": chains}.items():
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
    if draws < 1 or thin < 1:
        raise ValueError(f"draws and thin must be >= 1, got draws={draws}, thin={thin}")
    sampled = draws * chains
    kept = math.ceil(draws / thin) * chains
    response = n_obs if response_values is None else response_values
    return FitEstimate(
        draws=draws,
        chains=chains,
        thin=thin,
        n_obs=n_obs,
        n_params=n_params,
        posterior=sampled * n_params * itemsize,
        # computed in blocks of draws when large (run.sample.in_blocks): one block at a time
        per_observation=min(kept * n_obs, BLOCK_VALUES) * per_obs_values * itemsize,
        log_likelihood=kept * n_obs * itemsize if log_likelihood else 0,
        predictive=kept * response * itemsize if predictive else 0,
        sample_stats=sampled * STATS_PER_DRAW * itemsize,
    )


def estimate_bytes(
    n_obs: int,
    n_params: int,
    draws: int,
    chains: int,
    *,
    per_obs_values: int = 1,
    response_values: int | None = None,
    log_likelihood: bool = True,
    predictive: bool = True,
    thin: int = 1,
    itemsize: int = ITEMSIZE,
) -> int:
    """Total bytes of one fit's arrays; see ``estimate_fit`` for the parameters."""
    return estimate_fit(
        n_obs,
        n_params,
        draws,
        chains,
        per_obs_values=per_obs_values,
        response_values=response_values,
        log_likelihood=log_likelihood,
        predictive=predictive,
        thin=thin,
        itemsize=itemsize,
    ).total


@dataclass(frozen=True)
class ModelSize:
    """What a built model will store per draw: observations, parameters, per-observation values."""

    n_obs: int
    n_params: int
    per_obs_values: int
    response_values: int


def model_size(model: Any) -> ModelSize:
    """Count a built ``bambi.Model``'s observations, parameters and per-observation values.

    Sizes come from the PyMC model's dimensions and static shapes: nothing is compiled.
    """
    pm_model = model.backend.model
    coords = {name: len(values) for name, values in pm_model.coords.items()}
    dims = pm_model.named_vars_to_dims

    def size(var: Any) -> int:
        named = dims.get(var.name) or ()
        if named:
            return math.prod(coords.get(d, 1) for d in named)
        return math.prod(s for s in (var.type.shape or ()) if s is not None)

    n_obs = coords.get(_OBS_DIM) or len(getattr(model, "data", ()))
    n_params = 0
    per_obs = 0
    for var in [*pm_model.free_RVs, *pm_model.deterministics]:
        if _OBS_DIM in (dims.get(var.name) or ()):
            per_obs += max(1, size(var) // max(n_obs, 1))
        else:
            n_params += size(var)
    response = sum(size(var) for var in pm_model.observed_RVs) or n_obs
    return ModelSize(n_obs, n_params, per_obs, response)


def estimate_model(
    model: Any,
    draws: int,
    chains: int,
    *,
    thin: int = 1,
    predictive: bool = True,
    log_likelihood: bool = True,
) -> FitEstimate:
    """``estimate_fit`` for a built ``bambi.Model`` (call after ``model.build()``)."""
    found = model_size(model)
    return estimate_fit(
        found.n_obs,
        found.n_params,
        draws,
        chains,
        per_obs_values=found.per_obs_values,
        response_values=found.response_values,
        log_likelihood=log_likelihood,
        predictive=predictive,
        thin=thin,
    )


def parse_size(text: str) -> int:
    """Bytes from ``"8G"``, ``"500 MB"``, ``"2.5GiB"`` or ``"1e9"`` (``i``: binary units)."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z]*)\s*", text)
    unit = match[2].lower() if match else ""
    if match is None or unit not in _UNITS:
        raise ResourceError(
            f"{MAX_BYTES_ENV}={text!r} is not a size; write a number of bytes with an optional"
            " unit, e.g. 8G, 500M or 2GiB (or 'none' for no limit)"
        )
    return int(float(match[1]) * _UNITS[unit])


def physical_memory() -> int | None:
    """Bytes of physical memory, or ``None`` where the system does not say."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None


def max_fit_bytes(environ: Mapping[str, str] | None = None) -> int | None:
    """The memory limit of one fit: ``RADONSPEC_MAX_FIT_BYTES``, else a quarter of the RAM.

    ``None`` means no limit (the variable set to ``0`` or ``none``, or unknown RAM).
    """
    env = os.environ if environ is None else environ
    raw = env.get(MAX_BYTES_ENV)
    if raw is None:
        memory = physical_memory()
        return None if memory is None else memory // 4
    if raw.strip().lower() in _OFF:
        return None
    return parse_size(raw)


def format_bytes(value: float) -> str:
    """``1536000000`` as ``1.5 GB`` (decimal units, as ``parse_size`` reads them)."""
    for unit, scale in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if value >= scale:
            return f"{value / scale:.1f} {unit}"
    return f"{int(value)} bytes"


def check_memory(
    estimate: FitEstimate,
    limit: int | None = None,
    *,
    model: str,
    can_thin: bool = True,
    can_drop_predictive: bool = True,
) -> None:
    """Raise ``ResourceError`` when ``estimate`` passes ``limit`` (default ``max_fit_bytes()``).

    The message gives the estimate, its largest parts, and how to reduce it: the largest
    number of draws that fits, a thinning factor that fits (``can_thin``), not storing
    predictive draws (``can_drop_predictive``), or raising the limit.
    """
    limit = max_fit_bytes() if limit is None else limit
    if limit is None or limit <= 0 or estimate.total <= limit:
        return
    parts = ", ".join(f"{name} {format_bytes(size)}" for name, size in estimate.parts().items())
    ways = []
    draws_that_fit = estimate.draws * limit // estimate.total
    if draws_that_fit >= 1:
        ways.append(f"fewer draws (sampler.draws: {draws_that_fit} fits)")
    elif estimate.chains > 1:
        ways.append("fewer chains (sampler.chains)")
    # the sampler holds every draw of the parameters and statistics before thinning
    fixed = estimate.posterior + estimate.sample_stats
    thinnable = estimate.total - fixed
    room = limit - fixed
    if can_thin and room > 0 and thinnable > room:
        factor = math.ceil(thinnable * estimate.thin / room)
        if factor <= estimate.draws:  # sampler.thin may not exceed sampler.draws
            ways.append(f"thinning (sampler.thin: {factor} keeps one draw in {factor})")
    if can_drop_predictive and estimate.predictive:
        ways.append("not storing predictive draws (sampler.predictive: false)")
    ways.append(f"a higher limit ({MAX_BYTES_ENV}={_size_text(estimate.total * 1.1)})")
    kept = f", one in {estimate.thin} kept," if estimate.thin > 1 else ""
    raise ResourceError(
        f"model '{model}': its fit would take about {format_bytes(estimate.total)} of memory"
        f" ({parts}; {estimate.chains} chains x {estimate.draws} draws{kept} of"
        f" {estimate.n_obs:,} observations), more than the limit of {format_bytes(limit)};"
        f" reduce it with {_or(ways)}"
    )


def _size_text(value: float) -> str:
    for unit, scale in (("T", 10**12), ("G", 10**9), ("M", 10**6), ("K", 10**3)):
        if value >= scale:
            return f"{math.ceil(value / scale)}{unit}"
    return str(math.ceil(value))


def _or(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def fit_time_limit(
    seconds: float | None = None, environ: Mapping[str, str] | None = None
) -> float | None:
    """Seconds one fit may run: ``seconds`` if given, else ``RADONSPEC_FIT_TIME_LIMIT``."""
    if seconds is not None:
        return seconds if seconds > 0 else None
    env = os.environ if environ is None else environ
    raw = env.get(TIME_LIMIT_ENV)
    if raw is None or raw.strip().lower() in _OFF:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ResourceError(
            f"{TIME_LIMIT_ENV}={raw!r} is not a number of seconds; write e.g. 600"
            " (or 'none' for no limit)"
        ) from None
    if not math.isfinite(value) or value < 0:
        raise ResourceError(f"{TIME_LIMIT_ENV}={raw!r} must be a positive number of seconds")
    return value or None


#: Seconds between attempts when the limit passes at an unsafe point.
RETRY_SECONDS = 0.2
# Modules whose code must not be interrupted by an exception: compilers, native file
# formats, imports. PyTensor is allowed only inside ``Function.__call__`` (running a
# compiled graph: the samplers' inner loop), not while it compiles one.
_UNSAFE_MODULES = ("llvmlite", "numba", "h5py", "h5netcdf", "netCDF4", "importlib", "sqlite3")
_SAFE_PYTENSOR_CODE = frozenset({"__call__"})


def _safe_to_interrupt(frame: FrameType | None) -> bool:
    while frame is not None:
        module = str(frame.f_globals.get("__name__", ""))
        if module.startswith(_UNSAFE_MODULES):
            return False
        if module.startswith("pytensor") and frame.f_code.co_name not in _SAFE_PYTENSOR_CODE:
            return False
        frame = frame.f_back
    return True


@contextlib.contextmanager
def time_limit(seconds: float | None, *, model: str) -> Iterator[bool]:
    """Raise ``FitTimeoutError`` inside the block once it has run ``seconds``.

    Yields whether the limit is enforced. It is when ``seconds`` is set and the block
    runs in the main thread of its process (as in the local and process-pool
    executors); a Dask worker runs fits in other threads, where signals cannot reach,
    so there the block runs unlimited (yields ``False``). nutpie and PyMC both let
    the signal through while they sample; nutpie then cancels its chains.

    The error is raised at the first safe point after the limit: never while code is
    compiled (numba, LLVM, PyTensor) or a file or module is read or written, where an
    exception halfway leaves native objects that crash the process when collected.
    """
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield False
        return

    def expire(signum: int, frame: FrameType | None) -> None:
        if not _safe_to_interrupt(frame):
            signal.setitimer(signal.ITIMER_REAL, RETRY_SECONDS)  # try again a little later
            return
        raise FitTimeoutError(
            f"model '{model}': the fit ran past its time limit of {seconds:g} s and was"
            f" stopped; give it more time ({TIME_LIMIT_ENV}=SECONDS) or make it cheaper"
            " (fewer draws or tuning steps, a simpler model)"
        )

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield True
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
