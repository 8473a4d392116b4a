"""Sample one compiled model: a pure function of (model, sampler settings, seed) to a ``Fit``."""

from __future__ import annotations

import contextlib
import gc
import hashlib
import importlib
import importlib.metadata
import logging
import os
import signal
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from numpy.random import SeedSequence

from radonspec.compile.model import Compiled
from radonspec.errors import MissingExtraError
from radonspec.fit.budget import (
    BLOCK_VALUES,
    FitTimeoutError,
    ResourceError,
    check_memory,
    estimate_model,
    fit_time_limit,
    time_limit,
)
from radonspec.fit.numerics import use_exact_math
from radonspec.fit.nutpiedims import comma_free_dims, restore_dims
from radonspec.fit.record import Fit
from radonspec.fit.store import IN_MEMORY_BYTES
from radonspec.fit.versions import BACKENDS, versions
from radonspec.study.schema import SamplerSpec

log = logging.getLogger(__name__)

Progress = Callable[[str, str], None]  # (model, phase) -> None

#: A log-likelihood above this many bytes is computed as the store writes it, never whole.
DEFER_BYTES = IN_MEMORY_BYTES


def model_seed(study_seed: int, model: str) -> int:
    """A model's seed: depends on the study seed and its own name only.

    Adding, removing or reordering models therefore changes no other model's draws.
    """
    digest = hashlib.sha256(f"{study_seed}\x00{model}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def require_backend(backend: str) -> None:
    """Raise ``MissingExtraError`` naming the install command when a backend is missing."""
    entry = BACKENDS[backend]
    for module in entry["modules"]:
        try:
            importlib.import_module(module)
        except ImportError:
            extra = entry["extra"]
            how = f'pip install "radonspec[{extra}]"' if extra else f"pip install {module}"
            raise MissingExtraError(
                f"sampler backend '{backend}' needs the package '{module}', which is not"
                f" installed; install it with: {how}"
            ) from None


def sample_model(
    compiled: Compiled,
    *,
    key: str,
    sampler: SamplerSpec,
    seed: int,
    progress: Progress | None = None,
    cores: int | None = None,
    label: str | None = None,
    posterior_only: bool = False,
    reuse_compile: bool = False,
) -> Fit:
    """Sample ``compiled`` and return a ``Fit``; failures come back as a failed ``Fit``.

    The tree holds ``posterior``, ``log_likelihood``, ``posterior_predictive`` (unless
    ``sampler.predictive`` is false), ``observed_data`` and ``sample_stats``, each with
    every ``sampler.thin``-th draw of each chain. A log-likelihood over ``DEFER_BYTES``
    is computed when read, by PyMC's function at the sampled draws
    (``radonspec.fit.loglik``): the store writes it a slab at a time, so it is never
    whole in memory. ``posterior_only`` keeps neither the
    log-likelihood nor predictive draws (a cross-validation refit scores held-out rows
    from the posterior alone), and of the sampler statistics only those the diagnostics
    read (``DIAGNOSTIC_STATS``). With ``reuse_compile`` (nutpie only) the model is sampled
    with its data as inputs of a compiled model this process keeps for every data set of
    the same structure (``radonspec.compile.shared``); the fit's ``meta["compile"]`` says
    whether it compiled or reused, in which process.
    """
    started = time.perf_counter()
    seconds: dict[str, float] = {}
    meta: dict[str, Any] = {}
    notify = progress or (lambda model, phase: None)
    name = label or compiled.name
    try:
        require_backend(sampler.backend)
        use_exact_math()  # draws must not depend on the compile cache (run.numerics)
        reuse = reuse_compile and sampler.backend == "nutpie"
        model = compiled.model
        notify(name, "build")
        tick = time.perf_counter()
        with _quiet(), _rows_free(reuse):
            model.build()
        seconds["build"] = time.perf_counter() - tick
        estimate = estimate_model(
            model,
            sampler.draws,
            sampler.chains,
            thin=sampler.thin,
            predictive=sampler.predictive and not posterior_only,
            log_likelihood=not posterior_only,
        )
        check_memory(estimate, model=name, can_thin=True, can_drop_predictive=True)
        # PyMC's log-likelihood during the fit is the lean one (10^4 rows x 4000 draws: 0.9 GB
        # peak, against 3.5 GB and 6 s more for Bambi's afterwards, even in blocks); a
        # thinned fit computes it afterwards for the kept draws only
        afterwards = posterior_only or sampler.thin > 1
        # a large one is never whole in memory: computed as the store writes it, in slabs
        defer = not afterwards and estimate.log_likelihood > DEFER_BYTES
        with time_limit(fit_time_limit(), model=name):
            notify(name, "sample")
            tick = time.perf_counter()
            nutpie = sampler.backend == "nutpie"
            dims: contextlib.AbstractContextManager[dict[str, str]] = (
                comma_free_dims(model.backend.model) if nutpie else contextlib.nullcontext({})
            )
            with (
                _quiet(),
                _noticing_interrupts() as interrupted,
                dims as renames,
                _compiles(reuse) as record,
                _raw_posterior(model, defer) as raw,
            ):
                tree = model.fit(**_fit_kwargs(sampler, seed, cores, not afterwards and not defer))
            meta.update(record())
            tree = restore_dims(tree, renames)
            interrupted()  # nutpie returns the draws so far: never a fit to keep
            _check_draws(tree, sampler)
            seconds["sample"] = time.perf_counter() - tick
            tree = thin_tree(tree, sampler.thin)
            if defer:
                tree = _defer_log_likelihood(tree, model, raw)
                del raw
            if afterwards and not posterior_only:
                tick = time.perf_counter()
                with _quiet():
                    in_blocks(
                        tree,
                        "log_likelihood",
                        lambda part, block: model.compute_log_likelihood(part, inplace=True),
                    )
                seconds["log_likelihood"] = time.perf_counter() - tick
            if sampler.predictive and not posterior_only:
                notify(name, "predict")
                tick = time.perf_counter()

                def predict(part: Any, block: int) -> None:
                    # one block: the seed as given, so small fits draw what they always drew
                    state = (
                        seed
                        if block == 0
                        else int(SeedSequence([seed, block]).generate_state(1)[0])
                    )
                    model.predict(part, kind="response", inplace=True, random_seed=state)

                with _quiet():
                    in_blocks(tree, "posterior_predictive", predict)
                seconds["predict"] = time.perf_counter() - tick
        tree = _drop_observation_params(tree)
        if posterior_only:
            tree = _diagnostic_stats_only(tree)
    except (MissingExtraError, ResourceError, FitTimeoutError) as exc:
        return _failed(name, key, sampler, str(exc), started, seconds)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # any sampler failure becomes a readable, recorded failure
        log.debug("fit of %s failed:\n%s", name, traceback.format_exc())
        return _failed(name, key, sampler, readable_failure(exc), started, seconds)
    seconds["total"] = time.perf_counter() - started
    notify(name, "done")
    return Fit(
        model=name,
        key=key,
        status="ok",
        tree=tree,
        seconds=seconds,
        versions=versions(sampler.backend),
        meta=meta,
    )


@contextlib.contextmanager
def _raw_posterior(model: Any, keep: bool) -> Iterator[dict[str, Any]]:
    """Within the block, keep the sampler's own draws of every free variable, when ``keep``.

    Bambi's fit returns the posterior rewritten (offsets dropped, the intercept of centred
    predictors moved back), and PyMC's log density needs the draws as sampled: they are
    taken from the posterior Bambi's backend receives, before its rewrite.
    """
    raw: dict[str, Any] = {}
    if not keep:
        yield raw
        return
    backend = model.backend
    clean = backend._clean_results

    def keeping(idata: Any, *args: Any, **kwargs: Any) -> Any:
        free = [rv.name for rv in backend.model.free_RVs]
        raw["posterior"] = idata["posterior"].to_dataset()[free]
        return clean(idata, *args, **kwargs)

    backend._clean_results = keeping
    try:
        yield raw
    finally:
        del backend._clean_results


def _defer_log_likelihood(tree: Any, model: Any, raw: dict[str, Any]) -> Any:
    """``tree`` with a lazy ``log_likelihood`` group computed from the ``raw`` draws.

    The group's values are PyMC's (``radonspec.fit.loglik``), computed as the store
    writes them from the draws the sampler returned (kept by ``_raw_posterior``).
    """
    from radonspec.fit.loglik import deferred_log_likelihood

    posterior = tree["posterior"].to_dataset()
    attrs = {
        name: posterior.attrs[name]
        for name in ("modeling_interface", "modeling_interface_version")
        if name in posterior.attrs
    }
    with _quiet():
        group = deferred_log_likelihood(model.backend.model, raw["posterior"], attrs)
    tree["log_likelihood"] = group
    return tree


def _rows_free(reuse: bool) -> contextlib.AbstractContextManager[None]:
    from radonspec.compile import design

    return design.rows_free() if reuse else contextlib.nullcontext()


@contextlib.contextmanager
def _compiles(reuse: bool) -> Iterator[Callable[[], dict[str, Any]]]:
    """Within the block, compile through this process's cache when ``reuse``.

    Yields a function giving the fit's ``meta`` entry: ``{"compile": {"reused", "process",
    "structure", "seconds"}}``, empty when nothing went through the cache (a model the
    shared-inputs path does not cover is compiled as it always was).
    """
    if not reuse:
        yield dict
        return
    from radonspec.fit import compile_cache

    def record() -> dict[str, Any]:
        last = compile_cache.last_compile()
        if last is None:
            return {}
        return {
            "compile": {
                "reused": last.reused,
                "process": os.getpid(),
                "structure": last.key[:16],
                "seconds": round(last.seconds, 3),
            }
        }

    with compile_cache.reusing_compiles():
        yield record


@contextlib.contextmanager
def _noticing_interrupts() -> Iterator[Callable[[], None]]:
    """Yield a function that raises the interrupt if Ctrl-C (or SIGTERM) came in the block.

    nutpie answers a ``KeyboardInterrupt`` by stopping its chains and returning the
    draws so far, as if sampling had finished, or, during tuning, by an error ("Sampler
    has no results to take") that would be recorded as the model's failure; either way
    the interrupt itself is gone. Here the handler notes it first, then raises as
    Python's own does, and an error after it is the interrupt. SIGTERM is noted the
    same way when a handler raises for it (the command line's does). A signal ignored
    or left to the system's default stays so. Only the main thread receives signals:
    elsewhere nothing is installed.
    """
    if threading.current_thread() is not threading.main_thread():
        yield lambda: None
        return
    seen: list[BaseException] = []
    previous: dict[int, Any] = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

    def note(signum: int, frame: Any) -> None:
        try:
            previous[signum](signum, frame)
        except BaseException as exc:
            seen.append(exc)
            raise

    def check() -> None:
        if seen:
            raise seen[0]

    for signum, handler in previous.items():
        if callable(handler):  # not where the signal is ignored (a background run's SIGINT)
            signal.signal(signum, note)
    try:
        yield check
    except Exception:
        if seen:  # what nutpie made of the interrupt ("Sampler has no results to take")
            raise seen[0] from None
        raise
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _check_draws(tree: Any, sampler: SamplerSpec) -> None:
    """Refuse a posterior with fewer chains or draws than asked (a sampler stopped early)."""
    sizes = tree["posterior"].sizes
    got = (sizes.get("chain", 0), sizes.get("draw", 0))
    if got != (sampler.chains, sampler.draws):
        raise RuntimeError(
            f"the sampler stopped early: {got[0]} chains x {got[1]} draws, not the"
            f" {sampler.chains} x {sampler.draws} asked for"
        )


def in_blocks(tree: Any, group: str, compute: Callable[..., None]) -> None:
    """Add ``group`` to ``tree`` by ``compute`` over blocks of draws, assembled in place.

    ``compute(part, block)`` adds ``group`` to ``part``, a tree holding block number
    ``block`` of the posterior's draws (Bambi's ``compute_log_likelihood`` and
    ``predict`` both can). Each block holds at most
    ``BLOCK_VALUES`` per-observation values, so memory is the result plus one block,
    not several arrays the size of the result. A posterior that fits in one block is
    computed as it is.
    """
    import xarray as xr

    posterior = tree["posterior"].to_dataset()
    observed = tree["observed_data"].to_dataset()
    chains, draws = posterior.sizes["chain"], posterior.sizes["draw"]
    n_obs = max(1, sum(int(var.size) for var in observed.data_vars.values()))
    step = max(1, BLOCK_VALUES // (chains * n_obs))
    if step >= draws:
        compute(tree, 0)
        return
    arrays: dict[Any, np.ndarray] = {}
    template: Any = None
    for block, start in enumerate(range(0, draws, step)):
        part = xr.DataTree.from_dict(
            {
                "posterior": posterior.isel(draw=slice(start, start + step)),
                "observed_data": observed,
            }
        )
        compute(part, block)
        found = part[group].to_dataset()
        if template is None:
            template = found
            for name, var in found.data_vars.items():
                ordered = var.transpose("chain", "draw", ...)
                arrays[name] = np.empty((chains, draws, *ordered.shape[2:]), ordered.dtype)
        for name, var in found.data_vars.items():
            values = var.transpose("chain", "draw", ...).values
            arrays[name][:, start : start + values.shape[1]] = values
        del part, found
        # Bambi and xarray leave each block's arrays in reference cycles: without this a
        # 10^5-row log-likelihood grew by 1 GB a block (3.4 GB after two, 0.96 GB after gc)
        gc.collect()
    assert template is not None
    variables = {}
    for name, var in template.data_vars.items():
        dims = var.transpose("chain", "draw", ...).dims
        coords = {d: template.coords[d] for d in dims[2:] if d in template.coords}
        coords.update(chain=posterior["chain"], draw=posterior["draw"])
        variables[name] = xr.DataArray(arrays[name], dims=dims, coords=coords, attrs=var.attrs)
    tree[group] = xr.Dataset(variables, attrs=template.attrs)


def _block_seed(seed: int, block: int) -> int:
    return int(SeedSequence([seed, block]).generate_state(1)[0])


def thin_tree(tree: Any, thin: int) -> Any:
    """Keep every ``thin``-th draw of each chain in every group of ``tree`` with draws.

    The kept draws keep their original numbers on the ``draw`` axis (0, thin, 2 thin, ...).
    """
    if thin == 1:
        return tree
    for group in list(tree.children):
        dataset = tree[group].to_dataset()
        if "draw" in dataset.dims:
            # a copy, not a strided view: a view would keep every sampled draw in memory
            tree[group] = dataset.isel(draw=slice(None, None, thin)).copy(deep=True)
    return tree


def _drop_observation_params(tree: Any) -> Any:
    """Drop per-observation deterministics (Bambi's ``mu``) from the posterior.

    They are as large as the log-likelihood, derivable from the parameters, and
    nothing downstream reads them; keeping them would double the store's size.
    """
    posterior = tree["posterior"].to_dataset()
    per_obs = [name for name, var in posterior.data_vars.items() if "__obs__" in var.dims]
    if per_obs:
        tree["posterior"] = posterior.drop_vars(per_obs).drop_dims("__obs__", errors="ignore")
    return tree


#: The sampler statistics a posterior-only fit keeps: those the convergence diagnostics read
#: (``radonspec.analysis.diagnostics``), each backend's spelling, and the step size.
DIAGNOSTIC_STATS = (
    "diverging",
    "energy",
    "tree_depth",
    "depth",
    "reached_max_treedepth",
    "maxdepth_reached",
    "step_size",
    "n_steps",
    "lp",
    "logp",
)


def _diagnostic_stats_only(tree: Any) -> Any:
    """Keep only ``DIAGNOSTIC_STATS`` of the sampler statistics (cross-validation refits).

    nutpie records 20 statistics a draw, and the store writes each as its own HDF5
    variable: about 12 ms a variable, so a refit's file took 0.37 s to write against
    0.12 s without them (radon varying-slope refit); the store writes refits one after
    the other in the process that runs the study. A refit's draws serve its held-out
    score, and its diagnostics still find what they read.
    """
    if "sample_stats" not in tree.children:
        return tree
    stats = tree["sample_stats"].to_dataset()
    kept = [name for name in stats.data_vars if name in DIAGNOSTIC_STATS]
    tree["sample_stats"] = stats[kept]
    return tree


def _fit_kwargs(
    sampler: SamplerSpec, seed: int, cores: int | None, log_likelihood: bool = True
) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "draws": sampler.draws,
        "tune": sampler.tune,
        "chains": sampler.chains,
        "random_seed": seed,
        "inference_method": sampler.backend,
        "progressbar": False,
    }
    if sampler.thin == 1 and log_likelihood:
        # a thinned fit computes its log-likelihood afterwards, for the kept draws only
        kwargs["idata_kwargs"] = {"log_likelihood": True}
    if sampler.backend == "pymc":
        kwargs.update(
            target_accept=sampler.target_accept,
            init=sampler.init,
            cores=cores or 1,
            nuts={"max_treedepth": sampler.max_treedepth},
            compute_convergence_checks=False,
        )
    else:
        # each backend spells the tree depth limit its own way
        depth_name = {"nutpie": "maxdepth", "numpyro": "max_tree_depth"}.get(
            sampler.backend, "max_num_doublings"
        )
        kwargs.update(target_accept=sampler.target_accept, nuts={depth_name: sampler.max_treedepth})
        if sampler.backend == "nutpie":
            # PyMC guesses half the logical CPUs are hyper-threads: cores=1 on a 2-CPU
            # machine, and nutpie then runs the chains one after the other on one thread
            kwargs["cores"] = cores or usable_cores()
    return kwargs


def usable_cores() -> int:
    """The CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _failed(
    name: str,
    key: str,
    sampler: SamplerSpec,
    reason: str,
    started: float,
    seconds: dict[str, float],
) -> Fit:
    seconds["total"] = time.perf_counter() - started
    return Fit(
        model=name,
        key=key,
        status="failed",
        tree=None,
        seconds=seconds,
        versions=versions(sampler.backend),
        error=reason,
    )


def readable_failure(exc: BaseException) -> str:
    """One or two sentences a user can act on, from a sampler exception."""
    # nutpie appends a Rust backtrace of "<unknown>" frames: nothing a user can act on
    text = " ".join(str(exc).split("Stack backtrace:")[0].split()) or type(exc).__name__
    lowered = text.lower()
    if "initialization points failed" in lowered or "logp function returned error" in lowered:
        return (
            "the model's log density is not finite at any initial point; check that the data"
            " lie in the family's support (e.g. y > 0 for gamma), that transforms are defined"
            " on the data (log of a value <= 0), and that no prior has a zero or infinite scale"
        )
    if "initial evaluation" in lowered or "-inf" in lowered or "starting point" in lowered:
        return (
            f"the model's log density is not finite at the initial point ({text[:200]});"
            " check priors with a zero or infinite scale and data values out of the"
            " family's support"
        )
    if "nan" in lowered and "log" in lowered:
        return f"the log density became NaN during sampling ({text[:200]}); tighten the priors"
    return f"{type(exc).__name__}: {text[:300]}"


class _quiet:
    """Silence third-party chatter (warnings, progress) during a fit."""

    def __enter__(self) -> None:
        self._catch = warnings.catch_warnings()
        self._catch.__enter__()
        warnings.simplefilter("ignore")
        self._level = logging.getLogger("pymc").level
        logging.getLogger("pymc").setLevel(logging.ERROR)
        self._numpy = np.seterr(all="ignore")

    def __exit__(self, *exc: Any) -> None:
        np.seterr(**self._numpy)
        logging.getLogger("pymc").setLevel(self._level)
        self._catch.__exit__(*exc)
