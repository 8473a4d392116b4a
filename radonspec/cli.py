"""The ``radonspec`` command line: it only chains the pipeline's functions.

``_handle_errors`` is the one place that maps error classes to exit codes:
0 success, 1 invalid input, 2 a fit failed (or diagnostics failed with
``--strict``), 130 interrupted. No traceback unless ``--debug``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from radonspec.errors import FitError, RadonspecError, SpecErrors

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Declarative Bayesian multilevel regression: validate, fit, compare, report.",
    pretty_exceptions_enable=False,
)
# not on a terminal (CI logs, pipes), tables get room instead of being cut at 80 columns
out = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, highlight=False, soft_wrap=True)
_state = {"debug": False}

StudyArgs = Annotated[list[Path], typer.Argument(help="Study YAML files.", show_default=False)]
StoreOpt = Annotated[
    Path | None, typer.Option("--store", help="Fit store folder [default: .radonspec]")
]


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")] = False,
) -> None:
    _state["debug"] = debug
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


@contextlib.contextmanager
def _handle_errors() -> Iterator[None]:
    """Map radonspec's errors to one-line messages and exit codes."""
    try:
        yield
    except KeyboardInterrupt:
        err.print("interrupted; finished fits are stored, nothing half-written remains")
        raise typer.Exit(130) from None
    except RadonspecError as exc:
        if _state["debug"]:
            raise
        lines = [str(e) for e in exc.errors] if isinstance(exc, SpecErrors) else [str(exc)]
        for line in lines:
            # escaped: messages quote formulas and levels such as 'use[Y]', not markup
            err.print(f"[red]error:[/red] {escape(line)}", markup=True, highlight=False)
        raise typer.Exit(exc.exit_code) from None


@app.command()
def validate(studies: StudyArgs) -> None:
    """Check study files (spec, data, priors) without fitting; exit 1 on any error."""
    from radonspec.validate import validate as check

    failed = 0
    for path in studies:
        try:
            with _handle_errors():
                study = check(path)
                out.print(f"{path}: ok ({len(study.models)} models)")
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
    from radonspec.show import show_study

    with _handle_errors():
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
    from radonspec.session import run_studies

    if prior_only:
        from radonspec.experiment.commands import run_prior_only

        with _handle_errors():
            code = run_prior_only(studies, console=out, strict=strict, out_dir=out_dir)
        raise typer.Exit(code)
    if executor not in ("local", "dask"):
        err.print(f"error: --executor must be 'local' or 'dask', got '{executor}'")
        raise typer.Exit(1)
    with _handle_errors():
        code = run_studies(
            studies,
            jobs=jobs,
            executor=executor,
            scheduler=scheduler,
            force=force,
            out_dir=out_dir,
            store=store,
            quiet=quiet,
            strict=strict,
            console=out,
            fit_only=False,
        )
    raise typer.Exit(code)


@app.command()
def report(
    studies: StudyArgs,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Report folder.")] = None,
    store: StoreOpt = None,
) -> None:
    """Write the report from stored fits only (nothing is sampled)."""
    from radonspec.session import report_studies

    with _handle_errors():
        report_studies(studies, out_dir=out_dir, store=store, console=out)


@app.command()
def schema() -> None:
    """Print the JSON Schema of the spec format (for editors' YAML language servers)."""
    from radonspec.spec.jsonschema import study_json_schema

    sys.stdout.write(json.dumps(study_json_schema(), indent=2) + "\n")


@app.command()
def datasets() -> None:
    """List the bundled data sets with their columns and provenance."""
    from radonspec.datasets import bundled

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
    from radonspec.run.runner import open_store

    with _handle_errors():
        rows = open_store(store).runs()
        table = Table(title=f"{len(rows)} fits")
        for column in ("model", "study", "key", "status", "when", "seconds", "r_hat", "ess", "div"):
            table.add_column(column)
        for row in rows:
            table.add_row(
                row.model,
                row.study,
                row.key[:12],
                row.status,
                row.created[:19],
                _num(row.seconds, ".1f"),
                _num(row.r_hat_max, ".3f"),
                _num(row.ess_bulk_min, ".0f"),
                _num(row.divergences, "d"),
            )
        out.print(table)


def _register_experiments() -> None:
    from radonspec.experiment.commands import register

    register(app)


_register_experiments()


def _num(value: Any, fmt: str) -> str:
    return "" if value is None else format(value, fmt)


def main() -> None:
    """Entry point of the ``radonspec`` script."""
    try:
        app()
    except FitError as exc:  # raised outside a handled block
        err.print(f"error: {escape(str(exc))}")
        sys.exit(exc.exit_code)
