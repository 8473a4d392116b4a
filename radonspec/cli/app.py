"""The ``radonspec`` command line: a thin client of the API (``radonspec.api``).

Commands parse options, call the API and print; ``cli.console.handle_errors`` is the
one place that maps error classes to exit codes: 0 success, 1 invalid input, 2 a fit
failed (or diagnostics failed with ``--strict``), 130 interrupted. No traceback
unless ``--debug``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from radonspec.cli.console import err, handle_errors, out, plain, state, study_out
from radonspec.errors import FitError, counted

if TYPE_CHECKING:
    from radonspec.api import RunResult

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Declarative Bayesian multilevel regression: validate, fit, compare, report.",
    pretty_exceptions_enable=False,
)
StudyArgs = Annotated[list[Path], typer.Argument(help="Study YAML files.", show_default=False)]
StoreOpt = Annotated[
    Path | None, typer.Option("--store", help="Fit store folder [default: .radonspec]")
]


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")] = False,
) -> None:
    state["debug"] = debug
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


@app.command()
def validate(studies: StudyArgs) -> None:
    """Check study files (spec, data, priors) without fitting; exit 1 on any error."""
    from radonspec.api import validate as check

    failed = 0
    for path in studies:
        try:
            with handle_errors():
                study = check(path)
                out.print(f"{plain(path)}: ok ({counted(len(study.models), 'model')})")
        except typer.Exit as stop:
            failed = max(failed, stop.exit_code)
    raise typer.Exit(failed)


@app.command()
def show(
    study_path: Annotated[Path, typer.Argument(metavar="STUDY", help="Study YAML file.")],
    model: Annotated[
        list[str] | None, typer.Option("-m", "--model", help="Only this model.")
    ] = None,
) -> None:
    """Print the resolved spec and each model's priors, Bambi's automatic ones included."""
    from radonspec.cli.show import show_study

    with handle_errors():
        show_study(study_path, model, out)


@app.command()
def run(
    studies: StudyArgs,
    jobs: Annotated[int | None, typer.Option("--jobs", "-j", help="Worker processes.")] = None,
    executor: Annotated[str, typer.Option(help="local or dask.")] = "local",
    scheduler: Annotated[str | None, typer.Option(help="Dask scheduler address.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Refit even stored fits.")] = False,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Report folder.")] = None,
    store: StoreOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the result.")] = False,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit 2 when a fit fails or its diagnostics fail.")
    ] = False,
    prior_only: Annotated[
        bool,
        typer.Option(
            "--prior-only",
            help="Only check prior predictive draws against the data; the report shows that.",
        ),
    ] = False,
) -> None:
    """Fit what the store lacks, compare the models and write the report."""
    if prior_only:
        from radonspec.cli.experiment import run_prior_only

        with handle_errors():
            code = run_prior_only(studies, console=out, strict=strict, out_dir=out_dir)
        raise typer.Exit(code)
    if executor not in ("local", "dask"):
        err.print(f"error: --executor must be 'local' or 'dask', got '{plain(executor)}'")
        raise typer.Exit(1)
    from radonspec.api import diagnostics_passed
    from radonspec.api import run as run_study
    from radonspec.cli.progress import RunDisplay

    def progress(stage: str) -> RunDisplay:
        return RunDisplay(out, folds=stage == "folds", quiet=quiet)

    code = 0
    with handle_errors():
        _check_all(studies)
        for path in studies:
            result = run_study(
                path, jobs=jobs, executor=executor, scheduler=scheduler, store=store,
                out=study_out(out_dir, path, studies),
                force=force, progress=progress,
            )  # fmt: skip
            if result.reused and not quiet:
                for name in result.fits:
                    out.print(f"  {plain(name)}: stored fit reused")
            print_summary(result)
            code = max(code, result.exit_code(strict=strict))
            if strict and result.exit_code(strict=True) and not result.exit_code():
                failed = [n for n, f in result.fits.items() if not diagnostics_passed(f)]
                err.print(
                    f"--strict: exit status 2, the diagnostics of {', '.join(map(plain, failed))}"
                    " failed",
                    highlight=False,
                )
    raise typer.Exit(code)


def _check_all(studies: list[Path]) -> None:
    """Every study checked against its data before the first is fitted: all their errors.

    A typo in the third of three studies once surfaced after the first two were fitted.
    Each run checks its study again (a second or two a study); one study needs no
    check here.
    """
    if len(studies) < 2:
        return
    from radonspec.api import validate
    from radonspec.errors import SpecError, SpecErrors

    errors: list[SpecError] = []
    for path in studies:
        try:
            validate(path, initial_point=False)
        except SpecErrors as exc:
            errors += exc.errors
        except SpecError as exc:
            errors.append(exc)
    if errors:
        raise SpecErrors(errors)


def print_summary(result: RunResult) -> None:
    """The run's table (status, cache, timings, diagnostics), failures and report files."""
    from radonspec.api import diagnostics_passed

    fits = result.fits
    title = f"{result.study.name}: {counted(len(fits), 'model')} in {result.seconds:.1f} s"
    table = Table(title=plain(title))
    for column in ("model", "status", "cached", "seconds", "r_hat max", "ESS bulk min", "div"):
        table.add_column(column, justify="right" if column not in ("model", "status") else "left")
    for name, fit in fits.items():
        diag = fit.meta.get("diagnostics") or {}
        status = fit.status if fit.status == "ok" else f"[red]{plain(fit.status)}[/red]"
        if fit.status == "ok" and not diagnostics_passed(fit):
            status = "[yellow]ok, diagnostics failed[/yellow]"
        table.add_row(
            plain(name),
            status,
            "yes" if fit.cached else "no",
            f"{fit.seconds.get('total', 0.0):.1f}",
            _num(diag.get("r_hat_max"), ".3f"),
            _num(diag.get("ess_bulk_min"), ".0f"),
            _num(diag.get("divergences"), "d"),
        )
    out.print(table)
    dropped = {name: int(fit.meta.get("dropped_rows") or 0) for name, fit in fits.items()}
    for name, count in dropped.items():
        if count:
            out.print(
                f"{plain(name)}: {counted(count, 'row')} with a missing value dropped"
                " (data.dropna: true)"
            )
    for name, fit in fits.items():
        if fit.status != "ok":
            out.print(f"[red]{plain(name)} failed:[/red] {plain(fit.error or '')}")
        if fit.status == "ok" and not diagnostics_passed(fit):
            problems = fit.meta["diagnostics"].get("problems") or [
                "see the report's sampling diagnostics"
            ]
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            out.print(
                f"[yellow]{plain(name)}: diagnostics failed:[/yellow] {plain(problems[0])}{more}",
                highlight=False,
            )
    _print_files(result.written)


def _print_files(written: Mapping[str, Path]) -> None:
    for kind, file in written.items():
        out.print(f"{kind}: {plain(file)}", highlight=False)


@app.command("report")
def report_from_store(
    studies: StudyArgs,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Report folder.")] = None,
    store: StoreOpt = None,
) -> None:
    """Write the report from stored fits only (nothing is sampled)."""
    from radonspec.api import report_from_store

    with handle_errors():
        for path in studies:
            result = report_from_store(
                path, store=store,
                out=study_out(out_dir, path, studies),
            )  # fmt: skip
            _print_files(result.written)


@app.command()
def predict(
    study_path: Annotated[Path, typer.Argument(metavar="STUDY", help="Study YAML file.")],
    model: Annotated[str, typer.Option("--model", "-m", help="The model whose fit predicts.")],
    data: Annotated[Path, typer.Option("--data", help="New data (.csv or .parquet).")],
    out_file: Annotated[
        Path, typer.Option("--out", help="Predictions file to write (.csv or .parquet).")
    ],
    interval: Annotated[
        float, typer.Option("--interval", help="Width of the predictive interval.")
    ] = 0.89,
    store: StoreOpt = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace --out even if radonspec did not write it.")
    ] = False,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Seed of the predictive draws.")
    ] = None,
) -> None:
    """Predict new data with a model's stored fit (never refits); one output row per row."""
    from radonspec.api import predict as predict_rows

    with handle_errors():
        found = predict_rows(
            study_path, model, data, out=out_file, interval=interval, store=store,
            force=force, seed=seed,
        )  # fmt: skip
        out.print(
            f"{plain(str(out_file))}: {counted(found.rows, 'row')} predicted by '{plain(model)}'"
            f" (posterior mean and sd of the expected value, {interval:.0%} predictive"
            " interval)",
            highlight=False,
        )
        for factor, levels in found.new_levels.items():
            shown = ", ".join(levels[:5]) + (
                f" and {len(levels) - 5} more" if len(levels) > 5 else ""
            )
            out.print(
                f"  {plain(factor)}: {counted(len(levels), 'level')} the fit never saw"
                f" ({plain(shown)});"
                " their rows (new_group = True) are predicted from the population of groups",
                highlight=False,
            )


@app.command()
def schema() -> None:
    """Print the JSON Schema of the spec format (for editors' YAML language servers)."""
    from radonspec.cli.scaffold import schema_text

    sys.stdout.write(schema_text())


@app.command()
def datasets() -> None:
    """List the bundled data sets with their columns and provenance."""
    from radonspec.data.datasets import bundled

    for meta in bundled().values():
        out.print(f"[bold]{meta.name}[/bold]: {meta.title} ({meta.rows} rows)")
        out.print(f"  {meta.description}")
        table = Table(show_header=True, box=None, padding=(0, 2))
        table.add_column("column")
        table.add_column("meaning")
        for column, meaning in meta.columns.items():
            table.add_row(column, meaning)
        out.print(table)
        out.print(f"  source: {meta.source}")
        out.print(f"  citation: {meta.citation}")
        for step in meta.transforms:
            out.print(f"  - {step}")
        out.print(f"  sha256: {meta.sha256}")


@app.command()
def runs(store: StoreOpt = None) -> None:
    """List the fits in the store's index, newest first."""
    from radonspec.fit.runner import open_store

    with handle_errors():
        found = open_store(store)
        if not found.root.exists():
            out.print(
                f"no fit store at {plain(found.root)}: nothing has been fitted there yet",
                highlight=False,
            )
            return
        rows = found.runs()
        table = Table(title=counted(len(rows), "fit"))
        for column in ("model", "study", "key", "status", "when", "seconds", "r_hat", "ess", "div"):
            table.add_column(column)
        for row in rows:
            table.add_row(
                plain(row.model),
                plain(row.study),
                plain(row.key[:12]),
                plain(row.status),
                plain(row.created[:19]),
                _num(row.seconds, ".1f"),
                _num(row.r_hat_max, ".3f"),
                _num(row.ess_bulk_min, ".0f"),
                _num(row.divergences, "d"),
            )
        out.print(table)


def _register_experiments() -> None:
    from radonspec.cli.experiment import register

    register(app)


_register_experiments()


def _num(value: Any, fmt: str) -> str:
    return "" if value is None else format(value, fmt)


#: Exit codes of a run stopped by Ctrl-C (130) or SIGTERM (143).
INTERRUPTED = (130, 143)


def main() -> None:
    """Entry point of the ``radonspec`` script."""
    # a usage error (unknown option, missing argument) is bad input, exit 1 as the README
    # says; Click's 2 is the code of a failed fit here
    _usage_error().exit_code = 1
    try:
        app()
    except FitError as exc:  # raised outside a handled block
        err.print(f"error: {plain(exc)}")
        sys.exit(exc.exit_code)
    except SystemExit as exc:
        if exc.code not in INTERRUPTED:
            raise
        # Everything radonspec owns is closed by now (workers stopped, finished fits stored).
        # The interpreter's own shutdown is skipped: an interrupt that lands while a
        # process pool holds its internal lock leaves the lock taken, and the pool's
        # clean-up at exit then waited on it forever (seen under load: a run that said
        # "interrupted" and never exited).
        sys.stdout.flush()
        sys.stderr.flush()
        _release_shared_semaphores()
        os._exit(exc.code)


def _usage_error() -> Any:
    """The usage error class Typer raises: its own copy of Click's (newer Typer), or Click's."""
    try:
        from typer._click.exceptions import UsageError
    except ImportError:  # a Typer that uses Click itself
        from click.exceptions import UsageError as ClickUsageError

        return ClickUsageError
    return UsageError


def _release_shared_semaphores() -> None:
    """Unlink the pools' semaphores as the interpreter's exit would have.

    Skipped, multiprocessing's resource tracker unlinks them itself and warns of "leaked
    semaphore objects" on the terminal. Only multiprocessing's finalizers of priority 0
    and above run (semaphores, queues' closing); joining threads and processes does not.
    """
    from multiprocessing import util

    with contextlib.suppress(Exception):
        util._run_finalizers(0)  # type: ignore[attr-defined]
