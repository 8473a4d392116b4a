"""What ``radonspec run`` and ``radonspec report`` do, chained from the pipeline's steps."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from radonspec.errors import FitError, RadonspecError
from radonspec.progress import RunDisplay
from radonspec.run.fit import Fit
from radonspec.run.runner import Planned, fit_planned, open_store, plan_study
from radonspec.spec.schema import Study
from radonspec.validate import validate


def default_out(study: Study) -> Path:
    """Report folder by default: ``radonspec-out/<study name>``."""
    return Path("radonspec-out") / study.name


def spec_hash(study: Study) -> str:
    """Hash of the resolved study as validated (what the report was made from)."""
    return hashlib.sha256(study.model_dump_json(by_alias=True).encode()).hexdigest()


def run_studies(
    paths: list[Path],
    *,
    jobs: int | None,
    executor: str,
    scheduler: str | None,
    force: bool,
    out_dir: Path | None,
    store: Path | None,
    quiet: bool,
    strict: bool,
    console: Console,
    fit_only: bool = False,
) -> int:
    """Validate, fit and report each study; return the exit code."""
    code = 0
    for path in paths:
        study = validate(path, initial_point=False)
        started = time.perf_counter()
        folder = out_dir if out_dir is not None and len(paths) == 1 else None
        planned = plan_study(study)
        report_dir = folder or default_out(study)
        if not force and _report_is_current(study, planned, report_dir, store):
            # nothing changed: every fit is stored and the report was made from them
            fits = _stored_metadata(planned, store)
            for name in fits:
                if not quiet:
                    console.print(f"  {name}: stored fit reused")
            written = _current_report(
                folder or default_out(study), _report_inputs(study, fits, None)
            )
            assert written is not None
            _print_summary(console, study, fits, written, time.perf_counter() - started)
            code = max(code, _exit_code(fits, strict))
            continue
        with RunDisplay(console) as display:
            fits = fit_planned(
                study,
                planned,
                jobs=jobs,
                executor=executor,
                scheduler=scheduler,
                store=store,
                force=force,
                on_event=None if quiet else display,
                lazy=True,
            )
        comparison = None
        if study.compare.criterion == "kfold":
            with RunDisplay(console, folds=True) as display:
                comparison = cross_validate(
                    study,
                    fits,
                    jobs=jobs,
                    executor=executor,
                    scheduler=scheduler,
                    store=store,
                    on_event=None if quiet else display,
                )
        written = _report(study, fits, report_dir, store, comparison)
        _print_summary(console, study, fits, written, time.perf_counter() - started)
        code = max(code, _exit_code(fits, strict))
    return code


def report_studies(
    paths: list[Path], *, out_dir: Path | None, store: Path | None, console: Console
) -> None:
    """Rebuild reports from stored fits; a missing fit is an error naming the command."""
    fit_store = open_store(store)
    for path in paths:
        study = validate(path, initial_point=False)
        fits: dict[str, Fit] = {}
        for item in plan_study(study):
            hit = fit_store.get(item.key, lazy=True)
            if hit is None:
                raise FitError(
                    f"model '{item.label}' of {path} has no stored fit (key {item.key[:12]});"
                    f" fit it with: radonspec run {path}" + (f" --store {store}" if store else "")
                )
            fits[item.label] = hit
        folder = out_dir if out_dir is not None and len(paths) == 1 else default_out(study)
        written = _report(study, fits, folder, store)
        for kind, file in written.items():
            console.print(f"{kind}: {file}")


def write_study_report(
    study: Study,
    fits: Mapping[str, Fit],
    folder: Path,
    *,
    store: Path | None = None,
    comparison: Any = None,
) -> dict[str, Path]:
    """The report ``run`` writes for ``fits`` into ``folder`` (kept when already current).

    Returns format -> file. ``comparison`` is one made by the caller (k-fold); by
    default the report compares the fits by PSIS-LOO.
    """
    written: dict[str, Path] = _report(study, fits, folder, store, comparison)
    return written


def _report(
    study: Study,
    fits: Mapping[str, Fit],
    folder: Path,
    store: Path | None,
    comparison: Any = None,
) -> dict:
    inputs = _report_inputs(study, fits, comparison)
    current = _current_report(folder, inputs)
    if current is not None:
        return current
    from radonspec.report import write_report

    models = _built_models(study, fits)
    written = write_report(
        study,
        _data_for_report(study),
        fits,
        folder,
        models=models,
        spec_hash=spec_hash(study),
        comparison=comparison,
    )
    _atomic_json(folder / REPORT_MANIFEST, {"inputs": inputs, "files": {
        kind: str(path) for kind, path in written.items()}})  # fmt: skip
    return written


REPORT_MANIFEST = ".report-inputs.json"


def _stored_metadata(planned: list[Planned], store: Path | None) -> dict[str, Fit]:
    """Fits as the store's meta.json describe them, draws not loaded (``tree`` is None)."""
    fit_store = open_store(store)
    fits = {}
    for item in planned:
        meta = fit_store.read_meta(item.key) or {}
        fits[item.label] = Fit(
            item.label,
            item.key,
            meta.get("status", "failed"),
            None,
            seconds=meta.get("seconds") or {},
            meta=meta,
            cached=True,
            path=str(fit_store.folder(item.key) / str(meta.get("file", ""))),
        )
    return fits


def _report_is_current(
    study: Study, planned: list[Planned], folder: Path, store: Path | None
) -> bool:
    """Whether every fit is stored (status ok, file present) and the report was made from them."""
    if study.compare.criterion != "loo":
        return False  # a k-fold comparison is itself made from many stored refits: recompute
    fits = _stored_metadata(planned, store)
    for fit in fits.values():
        if fit.status != "ok" or fit.path is None or not Path(fit.path).is_file():
            return False
    return _current_report(folder, _report_inputs(study, fits, None)) is not None


def _report_inputs(study: Study, fits: Mapping[str, Fit], comparison: Any) -> str:
    """Hash of everything a report is made from: when it matches, the report is current."""
    from radonspec import __version__

    parts = {
        "radonspec": __version__,
        "spec": spec_hash(study),
        "fits": {name: [fit.key, fit.status, fit.error] for name, fit in fits.items()},
        "comparison": repr(comparison),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _current_report(folder: Path, inputs: str) -> dict[str, Path] | None:
    """The files of an up-to-date report in ``folder``, or None when it must be rebuilt."""
    try:
        manifest = json.loads((folder / REPORT_MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    files = {kind: Path(path) for kind, path in manifest.get("files", {}).items()}
    if (
        manifest.get("inputs") != inputs
        or not files
        or not all(p.is_file() for p in files.values())
    ):
        return None
    return files


def _atomic_json(path: Path, data: Mapping[str, Any]) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(data, indent=1))
    os.replace(temporary, path)


def cross_validate(
    study: Study,
    fits: Mapping[str, Fit],
    *,
    jobs: int | None = None,
    executor: str = "local",
    scheduler: str | None = None,
    store: Path | None = None,
    on_event: Any = None,
) -> Any:
    """K-fold comparison of the study's compared models (refits go through the store)."""
    from radonspec.compare import compare_fits
    from radonspec.kfold import kfold_study, to_elpd

    trees = {n: f.tree for n, f in fits.items() if f.ok and f.tree is not None}
    names = [n for n in (study.compare.models or list(study.models)) if n in trees]
    results = kfold_study(
        study,
        names,
        full_fits=fits,
        jobs=jobs,
        executor=executor,
        scheduler=scheduler,
        store=store,
        on_event=on_event,
    )
    usable = {name: r for name, r in results.items() if r.error is None}
    draws = {n: trees[n]["posterior"].sizes["draw"] * trees[n]["posterior"].sizes["chain"]
             for n in usable}  # fmt: skip
    comparison = compare_fits(
        {n: trees[n] for n in usable},
        criterion="kfold",
        elpd={n: to_elpd(r, draws[n]) for n, r in usable.items()},
    )
    notes = [f"'{n}' left out of the k-fold comparison: {r.error}" for n, r in results.items()
             if r.error is not None]  # fmt: skip
    return replace(comparison, warnings=(*comparison.warnings, *notes))


def _data_for_report(study: Study) -> Any:
    from radonspec.compile import study_base
    from radonspec.data import load_data

    return load_data(study.data, study_base(study))


def _built_models(study: Study, fits: Mapping[str, Fit]) -> dict[str, Any]:
    """Bambi models (built, not sampled) for predictions in the report's group views."""
    models: dict[str, Any] = {}
    for item in plan_study(study):
        if item.data is not None and fits.get(item.label) is not None:
            try:
                model = item.compile(study).model
                model.build()
            except Exception:  # noqa: BLE001 - a model that cannot build just loses its group view
                continue
            models[item.label] = model
    return models


def _exit_code(fits: Mapping[str, Fit], strict: bool) -> int:
    """2 when a fit failed, or with ``strict`` when its diagnostics failed; else 0."""
    if any(fit.status != "ok" for fit in fits.values()):
        return 2
    if strict and not all(_passed(fit) for fit in fits.values()):
        return 2
    return 0


def _passed(fit: Fit) -> bool:
    diagnostics = fit.meta.get("diagnostics") or {}
    return bool(diagnostics.get("passed", True))


def _print_summary(
    console: Console, study: Study, fits: Mapping[str, Fit], written: dict, seconds: float
) -> None:
    table = Table(title=f"{study.name}: {len(fits)} models in {seconds:.1f} s")
    for column in ("model", "status", "cached", "seconds", "r_hat max", "ESS bulk min", "div"):
        table.add_column(column, justify="right" if column not in ("model", "status") else "left")
    for name, fit in fits.items():
        diag = fit.meta.get("diagnostics") or {}
        table.add_row(
            name,
            fit.status if fit.status == "ok" else f"[red]{fit.status}[/red]",
            "yes" if fit.cached else "no",
            f"{fit.seconds.get('total', 0.0):.1f}",
            _fmt(diag.get("r_hat_max"), ".3f"),
            _fmt(diag.get("ess_bulk_min"), ".0f"),
            _fmt(diag.get("divergences"), "d"),
        )
    console.print(table)
    for name, fit in fits.items():
        dropped = fit.meta.get("dropped_rows")
        if dropped:
            console.print(
                f"{escape(name)}: {dropped} rows with missing values dropped (data.dropna),"
                f" {fit.meta.get('rows')} used"
            )
    for name, fit in fits.items():
        if fit.status != "ok":
            console.print(f"[red]{escape(name)} failed:[/red] {escape(fit.error or '')}")
    for kind, file in written.items():
        console.print(f"{kind}: {file}")


def _fmt(value: Any, spec: str) -> str:
    return "" if value is None else format(value, spec)


__all__ = ["RadonspecError", "report_studies", "run_studies"]
