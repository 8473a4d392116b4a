"""The pipeline in one place: load → validate → fit → compare → analyse → report.

Every caller goes through these functions: the command line, ``watch``, ``try``,
``run --prior-only`` and notebooks. They print nothing; a caller that wants progress
passes ``progress``, a function that takes a stage (``"fits"`` or ``"folds"``) and
returns a context manager yielding the event callback ``(model, event, fit)``.

    study = load_study("specs/radon/seed.yaml")     # the spec, checked (spec/loader)
    study = validate(study)                          # against its data (compile/validate)
    fits = fit_study(study)                          # sampled or from the store (run/)
    comparison = compare(study, fits)                # PSIS-LOO or k-fold (analysis/)
    results = analyse(study, fits, comparison)       # everything the report shows (analysis/)
    write_report(study, results, "out/")             # HTML, Markdown, JSON (report/)

``run(path)`` chains them, loading the data once, building each model once, and
writing nothing when the report in its folder is already current.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from radonspec.errors import FitError, SpecErrors
from radonspec.fit.record import Event, Fit, Fits
from radonspec.fit.store import open_store
from radonspec.study.schema import Study

if TYPE_CHECKING:  # the later stages are imported when they are needed
    import pandas as pd

    from radonspec.analysis.loo import Comparison
    from radonspec.analysis.predictions import Predictions
    from radonspec.analysis.records import Results
    from radonspec.compile.validate import BuiltModels
    from radonspec.fit.runner import Planned

StudyLike = Study | str | os.PathLike[str]
#: The store's folder of rendered figures (``report.figures.kept_figures``).
FIGURES_FOLDER = "figures"
Progress = Callable[[str], AbstractContextManager[Event]]


@dataclass(frozen=True)
class RunResult:
    """What ``run`` (or ``report``, or ``prior_only``) did for one study.

    ``reused`` is true when the report in ``out`` was already current: nothing was
    analysed or written, and ``results`` is None.
    """

    study: Study
    fits: Fits
    comparison: Comparison | None = None
    results: Results | None = None
    written: dict[str, Path] = field(default_factory=dict)
    reused: bool = False
    seconds: float = 0.0

    def exit_code(self, *, strict: bool = False) -> int:
        """2 when a fit failed, or with ``strict`` when its diagnostics failed; else 0."""
        if any(fit.status != "ok" for fit in self.fits.values()):
            return 2
        if strict and not all(diagnostics_passed(fit) for fit in self.fits.values()):
            return 2
        return 0

    def __repr__(self) -> str:
        files = ", ".join(str(p) for p in self.written.values()) or "no report"
        return f"RunResult({self.study.name!r}: {len(self.fits)} fits, {files})"


# -- the steps ------------------------------------------------------------------------------


def load_study(path: str | os.PathLike[str]) -> Study:
    """Read and check a study file (the spec alone; ``validate`` checks it against its data).

    Raises ``SpecErrors`` with every problem located as ``file:line:col``.
    """
    from radonspec.study.loader import load_study as load

    return load(path)


def validate(study: StudyLike, *, initial_point: bool = True) -> Study:
    """Check a study (or study file) against its data and models; return it when valid.

    Parameters
    ----------
    study
        A loaded study or the path of a study file.
    initial_point
        Also evaluate each model's log density at its initial point.

    Raises
    ------
    SpecErrors
        Every problem, each located at ``file:line:col`` with how to fix it.
    """
    return _Workspace.check(study, initial_point=initial_point).study


def fit_study(
    study: StudyLike,
    *,
    jobs: int | None = None,
    executor: str = "local",
    scheduler: str | None = None,
    store: str | os.PathLike[str] | None = None,
    force: bool = False,
    models: list[str] | None = None,
    progress: Progress | None = None,
    on_event: Event | None = None,
) -> Fits:
    """Fit what the store lacks and return every model's ``Fit`` by name, in study order.

    Parameters
    ----------
    study
        A loaded study or the path of a study file.
    jobs
        Worker processes (default: the number of cores; 1 fits in this process).
    executor
        ``"local"`` (this machine) or ``"dask"``.
    scheduler
        Address of an existing Dask scheduler; default starts a local cluster.
    store
        The fit store's folder (default ``.radonspec``).
    force
        Refit even what the store holds.
    models
        Fit only these models (default all).
    progress
        Progress display factory (see the module's docstring).
    on_event
        A plain callback ``(model, event, fit)`` instead of ``progress``; events are
        ``cached``, ``started``, ``done`` and ``failed``.
    """
    if on_event is not None:
        callback = on_event

        def progress(stage: str) -> AbstractContextManager[Event]:  # noqa: ARG001
            return contextlib.nullcontext(callback)

    space = _Workspace.of(study)
    return space.fit(
        jobs=jobs, executor=executor, scheduler=scheduler, store=store, force=force,
        models=models, progress=progress,
    )  # fmt: skip


def compare(
    study: StudyLike,
    fits: Mapping[str, Fit],
    *,
    jobs: int | None = None,
    executor: str = "local",
    scheduler: str | None = None,
    store: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
) -> Comparison | None:
    """Compare the fits as the study says: PSIS-LOO, or k-fold (refitting through the store).

    Only ``compare.models`` with usable fits are compared; returns None when none is
    (``analyse`` then says why in its notes).
    """
    space = _Workspace.of(study)
    if space.study.compare.criterion == "kfold":
        return space.compare(
            fits, jobs=jobs, executor=executor, scheduler=scheduler, store=store,
            progress=progress,
        )  # fmt: skip
    from radonspec.analysis.loo import compare_fits

    wanted = space.study.compare.models or list(space.study.models)
    trees = {n: tree for n in wanted if n in fits and (tree := fits[n].tree) is not None}
    # PSIS is kept per tree while it lives, so the analysis that follows reuses it
    return compare_fits(trees, criterion="loo") if trees else None


def analyse(
    study: StudyLike,
    fits: Mapping[str, Fit],
    comparison: Comparison | None = None,
    *,
    store: str | os.PathLike[str] | None = None,
) -> Results:
    """Everything the report shows, as data (``radonspec.analysis.records.Results``).

    Each model's analysis is kept beside its fit in ``store`` and reused. Without a
    ``comparison`` (or with a PSIS-LOO one) the models are compared by PSIS-LOO.
    """
    return _Workspace.of(study).analyse(fits, comparison, store=store)


def write_report(
    study: StudyLike, results: Results, out: str | os.PathLike[str] | None = None
) -> dict[str, Path]:
    """Write the report of ``results`` to ``out`` (default ``radonspec-out/<name>``).

    Returns format -> file (``html``, ``markdown``, ``json``).
    """
    loaded = study if isinstance(study, Study) else results.study
    from radonspec.report.render import write_report as render

    return render(results, Path(out) if out is not None else default_out(loaded),
                  spec_hash=spec_hash(loaded))  # fmt: skip


def run(
    study: StudyLike,
    *,
    jobs: int | None = None,
    executor: str = "local",
    scheduler: str | None = None,
    store: str | os.PathLike[str] | None = None,
    out: str | os.PathLike[str] | None = None,
    force: bool = False,
    progress: Progress | None = None,
    built: BuiltModels | None = None,
) -> RunResult:
    """Validate, fit what the store lacks, compare, analyse and write the report.

    When every fit is stored and the report in ``out`` was made from them, nothing is
    analysed or rewritten (``RunResult.reused``). Parameters are those of
    ``fit_study``; ``out`` is the report folder (default ``radonspec-out/<name>``).
    ``built`` keeps the models validation builds for the next call (``watch`` passes
    one across its cycles): a model is built again only when its spec or data changed.
    """
    from radonspec.report.output import check_out_dir

    started = time.perf_counter()
    # a study read again exactly as one planned before has the same (checked) spec and keys
    space = _Workspace.load(study, check=False)
    space.keys = None if force else space.kept_plan(store)
    if space.keys is None:
        space.check_spec()
    folder = Path(out) if out is not None else default_out(space.study)
    check_out_dir(folder)  # before any fitting: a bad --out costs nothing
    if not force:
        current = space.current_report(folder, store)
        if current is not None:
            fits, written = current
            space.keep_plan(store)
            return RunResult(space.study, fits, written=written, reused=True,
                             seconds=time.perf_counter() - started)  # fmt: skip
    unfitted = list(space.study.models) if force else space.unfitted(store)
    if unfitted:
        # every problem is found, located, before anything is sampled; when every fit is
        # stored it was made from this very model and data, and no model need be built
        space.validate(built)
    if space.study.compare.criterion != "loo":
        fits = space.fit(
            jobs=jobs, executor=executor, scheduler=scheduler, store=store, force=force,
            progress=progress,
        )  # fmt: skip
    else:  # a stored fit's draws are read only if its analysis is not kept
        fits = space.stored(store, progress, fit=unfitted, jobs=jobs, executor=executor,
                            scheduler=scheduler, force=force)  # fmt: skip
    comparison = space.compare(
        fits, jobs=jobs, executor=executor, scheduler=scheduler, store=store, progress=progress
    )
    results = space.analyse(fits, comparison, store=store)
    written = space.write(results, folder, fits, comparison, store)
    space.keep_plan(store)
    return RunResult(space.study, fits, comparison, results, written,
                     seconds=time.perf_counter() - started)  # fmt: skip


def report_from_store(
    study: StudyLike,
    *,
    store: str | os.PathLike[str] | None = None,
    out: str | os.PathLike[str] | None = None,
) -> RunResult:
    """The report from stored fits only; a missing fit is a ``FitError`` naming the command.

    A k-fold study's refits must be stored too (``run`` stores them).
    """
    from radonspec.report.output import check_out_dir

    started = time.perf_counter()
    space = _Workspace.load(study)
    check_out_dir(Path(out) if out is not None else default_out(space.study))
    fit_store = open_store(store)
    fits = Fits()
    if any(item.data is None for item in space.planned()):
        space.validate()  # a model that cannot be planned: its problem, located
    for item in space.planned():
        hit = fit_store.get(item.key, lazy=True)
        meta = fit_store.read_meta(item.key) if hit is None else None
        if hit is None and meta is not None and meta.get("status") == "failed":
            # a fit that failed is part of the report, with its reason, as run showed it
            hit = Fit(item.label, item.key, "failed", None, error=meta.get("error"), meta=meta,
                      seconds=meta.get("seconds") or {}, cached=True)  # fmt: skip
        if hit is None:
            from radonspec.fit.store import since_last_fit

            where = space.study.source or space.study.name
            data = item.data.fingerprint if item.data is not None else ""
            why = since_last_fit(fit_store, space.study.name, item.label, data)
            raise FitError(
                f"model '{item.label}' of {where} has no stored fit (key {item.key[:12]}){why};"
                f" fit it with: radonspec run {where}" + (f" --store {store}" if store else "")
            )
        fits[item.label] = hit
    comparison = space.compare(fits, store=store, stored_only=True)
    results = space.analyse(fits, comparison, store=store)
    folder = Path(out) if out is not None else default_out(space.study)
    written = space.write(results, folder, fits, comparison, store)
    return RunResult(space.study, fits, comparison, results, written,
                     seconds=time.perf_counter() - started)  # fmt: skip


def prior_only(
    study: StudyLike, *, draws: int = 500, out: str | os.PathLike[str] | None = None
) -> RunResult:
    """Prior predictive draws of every model against the data, and their report.

    Nothing is sampled from a posterior and nothing is stored. ``results`` holds the
    checks (``results.prior_predictive.checks``). ``out`` is the report folder (default
    ``radonspec-out/<name>-prior``, so the fitted report in ``radonspec-out/<name>`` stays).
    """
    from radonspec.analysis.prior import capped_draws, prior_predictives
    from radonspec.analysis.results import analyse as analyse_fits
    from radonspec.report.output import check_out_dir

    started = time.perf_counter()
    space = _Workspace.check(study, initial_point=False)
    # by default beside the fitted report (``radonspec-out/<name>-prior``), never over it
    folder = (
        Path(out)
        if out is not None
        else default_out(space.study).with_name(f"{space.study.name}-prior")
    )
    check_out_dir(folder)  # before any work: a bad --out costs nothing
    frame = space.frame
    found = prior_predictives(
        space.study, draws=capped_draws(len(frame), draws), built=space.models(), data=frame
    )
    results = analyse_fits(space.study, {}, frame, build=space.build, prior_draws=found)
    results = replace(results, prior_only=True)
    # the folder is replaced whole, with no manifest: `run` never takes it for its own report
    from radonspec.report.render import write_report as render

    written = render(results, folder, spec_hash=spec_hash(space.study))
    return RunResult(space.study, Fits(), None, results, written,
                     seconds=time.perf_counter() - started)  # fmt: skip


def predict(
    study: StudyLike,
    model: str,
    data: pd.DataFrame | str | os.PathLike[str],
    *,
    out: str | os.PathLike[str] | None = None,
    interval: float = 0.89,
    store: str | os.PathLike[str] | None = None,
    force: bool = False,
    seed: int | None = None,
) -> Predictions:
    """Predict new data with a model's stored fit (never refitted).

    For every row of ``data``: the posterior mean and sd of the expected response
    (``pred_mean``, ``pred_sd``), the bounds of the ``interval`` predictive interval
    (``pred_lower_89``, ``pred_upper_89``), the row's own columns, and ``new_group``:
    whether a grouping factor has a level the fit never saw (such rows are predicted
    from the population of groups).

    Parameters
    ----------
    study
        A loaded study or the path of a study file.
    model
        The model whose stored fit predicts.
    data
        New data: a DataFrame, or the path of a .csv or .parquet file.
    out
        Write the predictions to this .csv or .parquet file (block by block, atomically)
        instead of returning them in ``Predictions.frame``.
    interval
        Width of the predictive interval (0 < interval < 1).
    store
        The fit store's folder (default ``.radonspec``).
    force
        Replace ``out`` even when radonspec did not write it.
    seed
        Seed of the predictive draws (default: the model's sampler seed).

    Raises
    ------
    DataError
        A problem in the new data, naming the file, column and row.
    FitError
        The model has no stored fit (the message says how to fit it).
    """
    from radonspec.analysis.predictions import predict_study

    loaded = study if isinstance(study, Study) else load_study(study)
    return predict_study(
        loaded, model, data, out=out, interval=interval, store=store, force=force, seed=seed
    )


# -- helpers --------------------------------------------------------------------------------


def default_out(study: Study) -> Path:
    """Report folder by default: ``radonspec-out/<study name>``."""
    return Path("radonspec-out") / study.name


def spec_hash(study: Study) -> str:
    """Hash of the resolved study as validated (what the report was made from)."""
    return hashlib.sha256(study.model_dump_json(by_alias=True).encode()).hexdigest()


@contextlib.contextmanager
def _silent(stage: str) -> Iterator[Event]:  # noqa: ARG001 - a Progress that shows nothing
    yield lambda model, event, fit: None


def _describe() -> Callable[[Fit], Mapping[str, Any]]:
    from radonspec.analysis.diagnostics import diagnostics_summary

    return diagnostics_summary


def diagnostics_passed(fit: Fit) -> bool:
    """Whether a fit's stored diagnostics passed (a fit without them is not held against)."""
    diagnostics = fit.meta.get("diagnostics") or {}
    return bool(diagnostics.get("passed", True))


class _Workspace:
    """One study within one call: its data loaded once and each model built once."""

    def __init__(self, study: Study, frame: pd.DataFrame | None = None,
                 compiled: Mapping[str, Any] | None = None) -> None:  # fmt: skip
        self.study = study
        self._frame = frame
        self._compiled = dict(compiled or {})
        self._planned: list[Planned] | None = None
        self._unchecked = False  # read without the static checks (``load(check=False)``)
        #: every model's fit key, read from the plan the store keeps (nothing loaded)
        self.keys: dict[str, str] | None = None
        #: the data columns the study uses, from the same plan (the formulas not read again)
        self._columns: list[str] | None = None

    @classmethod
    def of(cls, study: StudyLike) -> _Workspace:
        """A workspace for a loaded study (or a study file, loaded and validated)."""
        if isinstance(study, Study):
            return cls(study)
        return cls.check(study, initial_point=False)

    @classmethod
    def check(cls, study: StudyLike, *, initial_point: bool) -> _Workspace:
        """Validate against the data, keeping the data and the compiled models."""
        from radonspec.compile.validate import check_study

        loaded = study if isinstance(study, Study) else load_study(study)
        checked = check_study(loaded, initial_point=initial_point)
        if checked.errors:
            raise SpecErrors(checked.errors)
        return cls(loaded, checked.frame, checked.compiled)

    @classmethod
    def load(cls, study: StudyLike, *, check: bool = True) -> _Workspace:
        """A workspace for a study, loaded from its file if need be: the spec checked alone.

        PyMC's verdict on the priors' arguments waits for ``validate`` (importing PyMC
        takes seconds, and a study whose every fit is stored needs no verdict). Without
        ``check`` the static checks of a study file wait for ``check_spec``.
        """
        if isinstance(study, Study):
            return cls(study)
        from radonspec.study.loader import read_study
        from radonspec.study.priors import pymc_verdicts_deferred

        with pymc_verdicts_deferred():
            space = cls(read_study(study))
        space._unchecked = True
        if check:
            space.check_spec()
        return space

    def check_spec(self) -> None:
        """The static checks ``load(check=False)`` left out (none for a loaded study)."""
        if not self._unchecked:
            return
        from radonspec.study.loader import check_spec
        from radonspec.study.priors import pymc_verdicts_deferred

        with pymc_verdicts_deferred():
            check_spec(self.study)
        self._unchecked = False

    def kept_plan(self, store: Any) -> dict[str, str] | None:
        """The fit keys the store keeps for this very spec, data file and versions, or None."""
        from radonspec.fit.plans import plan_digest, read_columns, read_plan

        digest = plan_digest(self.study)
        root = open_store(store).root
        keys = None if digest is None else read_plan(root, digest)
        if keys is None or list(keys) != list(self.study.models):
            return None
        assert digest is not None
        self._columns = read_columns(root, digest)
        return keys

    def keep_plan(self, store: Any) -> None:
        """Keep the fit keys of a study checked and planned in full, for the next run."""
        if self._unchecked or self.keys is not None:
            return
        planned = self.planned()
        if any(item.data is None for item in planned):
            return  # a model that cannot be planned is planned (and reported) every time
        from radonspec.compile.validate import frame_columns
        from radonspec.fit.plans import plan_digest, write_plan

        digest = plan_digest(self.study)
        if digest is not None:
            keys = {p.label: p.key for p in planned}
            write_plan(open_store(store).root, digest, keys, frame_columns(self.study))

    def validate(self, built: BuiltModels | None = None) -> None:
        """Check the study against its data, building every model (kept for later steps)."""
        from radonspec.compile.validate import check_study

        checked = check_study(self.study, initial_point=False, built=built)
        if checked.errors:
            raise SpecErrors(checked.errors)
        self._frame = checked.frame
        self._compiled = {**checked.compiled, **self._compiled}
        self._planned = None

    @property
    def frame(self) -> pd.DataFrame:
        """The study's data with every column it uses, loaded once (no model is built)."""
        if self._frame is None:
            from radonspec.compile.validate import load_study_frame
            from radonspec.errors import RadonspecError
            from radonspec.study.formula import FormulaError

            try:
                self._frame = load_study_frame(self.study, self._columns)
            except (RadonspecError, FormulaError):
                self.validate()  # the same problem, located, with every other one
        assert self._frame is not None
        return self._frame

    def unfitted(self, store: Any) -> list[str]:
        """Models whose fit the store lacks (or holds as failed)."""
        fit_store = open_store(store)
        if self.keys is not None:  # planned before in full: every model has its key
            return [label for label, key in self.keys.items()
                    if (fit_store.read_meta(key) or {}).get("status") != "ok"]  # fmt: skip
        missing = []
        for item in self.planned():
            meta = fit_store.read_meta(item.key) or {}
            if meta.get("status") != "ok" or item.data is None:
                missing.append(item.label)
        return missing

    def build(self, name: str) -> Any:
        """The model's ``bambi.Model`` (compiled once), or None when it does not compile."""
        if name not in self._compiled:
            from radonspec.compile.model import compile_model
            from radonspec.errors import RadonspecError

            try:
                self._compiled[name] = compile_model(self.study, name, self.frame)
            except RadonspecError:
                return None
        return self._compiled[name].model

    def models(self) -> dict[str, Any]:
        """Every model that compiles, by name."""
        built = {name: self.build(name) for name in self.study.models}
        return {name: model for name, model in built.items() if model is not None}

    def planned(self, models: list[str] | None = None) -> list[Planned]:
        """Each model's fit, keyed (no sampling, no compiling)."""
        from radonspec.fit.runner import plan_study

        if models is not None:
            return plan_study(self.study, models, frame=self.frame)
        if self._planned is None:
            self._planned = plan_study(self.study, frame=self.frame)
        return self._planned

    def fit(self, *, jobs: int | None, executor: str, scheduler: str | None,
            store: Any, force: bool, models: list[str] | None = None,
            progress: Progress | None) -> Fits:  # fmt: skip
        from radonspec.fit.runner import fit_planned

        with (progress or _silent)("fits") as event:
            fits = fit_planned(
                self.study, self.planned(models), jobs=jobs, executor=executor,
                scheduler=scheduler, store=store, force=force, on_event=event, lazy=True,
                describe=_describe(),
            )  # fmt: skip
        return Fits(fits)

    def compare(self, fits: Mapping[str, Fit], *, jobs: int | None = None,
                executor: str = "local", scheduler: str | None = None, store: Any = None,
                progress: Progress | None = None, stored_only: bool = False,
                ) -> Comparison | None:  # fmt: skip
        if self.study.compare.criterion != "kfold":
            return None  # PSIS-LOO comes from each model's analysis
        from radonspec.analysis.kfold import cross_validate

        with (progress or _silent)("folds") as event:
            return cross_validate(
                self.study, fits, jobs=jobs, executor=executor, scheduler=scheduler,
                store=store, on_event=event, frame=self.frame, stored_only=stored_only,
            )  # fmt: skip

    def analyse(self, fits: Mapping[str, Fit], comparison: Comparison | None, *,
                store: Any) -> Results:  # fmt: skip
        from radonspec.analysis.results import analyse as analyse_fits

        return analyse_fits(
            self.study, fits, self.frame, comparison=comparison, build=self.build,
            store=open_store(store),
        )  # fmt: skip

    # the report folder ---------------------------------------------------------------------

    def write(self, results: Results, folder: Path, fits: Mapping[str, Fit],
              comparison: Comparison | None, store: Any = None) -> dict[str, Path]:  # fmt: skip
        from radonspec.report.figures import kept_figures
        from radonspec.report.manifest import REPORT_MANIFEST, current_report, manifest_bytes
        from radonspec.report.render import write_report as render

        inputs = self._inputs(fits, comparison)
        current = current_report(folder, inputs)
        if current is not None:
            return current
        # the manifest goes into the same folder write: it never describes another report
        manifest = manifest_bytes(inputs, self.study.report.formats)
        # figures drawn for an earlier report of these fits are read, not drawn again
        with kept_figures(open_store(store).root / FIGURES_FOLDER):
            written: dict[str, Path] = render(
                results, folder, spec_hash=spec_hash(self.study),
                extra={REPORT_MANIFEST: manifest},
            )  # fmt: skip
        return written

    def stored(self, store: Any, progress: Progress | None = None, *, fit: Sequence[str] = (),
               jobs: int | None = None, executor: str = "local", scheduler: str | None = None,
               force: bool = False) -> Fits:  # fmt: skip
        """The stored fits' records (``meta.json``), their draws left on disk.

        The models named in ``fit`` are fitted (or taken from the store, checked) instead:
        opening the stored files of the others would cost a second per model.
        """
        from radonspec.fit.runner import fit_planned

        fit_store = open_store(store)
        fits = Fits()
        with (progress or _silent)("fits") as event:
            todo = [item for item in self.planned() if item.label in fit] if fit else []
            fresh = fit_planned(
                self.study, todo, jobs=jobs, executor=executor, scheduler=scheduler,
                store=fit_store, force=force, on_event=event, lazy=True,
                describe=_describe(),
            ) if todo else {}  # fmt: skip
            # a study planned before in full has its keys: nothing is loaded to list them
            keyed = (self.keys.items() if self.keys is not None and not todo
                     else [(item.label, item.key) for item in self.planned()])  # fmt: skip
            for label, key in keyed:
                if label in fresh:
                    fits[label] = fresh[label]
                    continue
                meta = fit_store.read_meta(key) or {}
                path = fit_store.folder(key) / str(meta.get("file", ""))
                fits[label] = Fit(
                    label, key, meta.get("status", "failed"), None,
                    seconds=meta.get("seconds") or {}, versions=meta.get("versions") or {},
                    meta=meta, cached=True, path=str(path), error=meta.get("error"),
                )  # fmt: skip
                event(label, "cached", fits[label])
        return fits

    def current_report(self, folder: Path, store: Any) -> tuple[Fits, dict[str, Path]] | None:
        """The stored fits (metadata only) and the current report's files, or None.

        None unless every fit is stored and the report in ``folder`` was made from them.
        """
        from radonspec.report.manifest import current_report

        if self.study.compare.criterion != "loo":
            return None  # a k-fold comparison is itself made from many stored refits
        fit_store = open_store(store)
        fits = Fits()
        keys = self.keys or {item.label: item.key for item in self.planned()}
        for label, key in keys.items():
            meta = fit_store.read_meta(key) or {}
            path = fit_store.folder(key) / str(meta.get("file", ""))
            fit = Fit(label, key, meta.get("status", "failed"), None,
                      seconds=meta.get("seconds") or {}, meta=meta, cached=True,
                      path=str(path), error=meta.get("error"))  # fmt: skip
            if fit.status != "ok" or not path.is_file():
                return None
            fits[label] = fit
        written = current_report(folder, self._inputs(fits, None))
        return None if written is None else (fits, written)

    def _inputs(self, fits: Mapping[str, Fit], comparison: Comparison | None) -> str:
        from radonspec.report.manifest import report_inputs

        return report_inputs(
            spec_hash(self.study),
            {name: (fit.key, fit.status, fit.error) for name, fit in fits.items()},
            "" if comparison is None else json.dumps(dataclasses.asdict(comparison), default=str),
        )


__all__ = [
    "RunResult",
    "analyse",
    "compare",
    "default_out",
    "fit_study",
    "load_study",
    "predict",
    "prior_only",
    "report_from_store",
    "run",
    "spec_hash",
    "validate",
    "write_report",
]
