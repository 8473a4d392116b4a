"""The experiment commands of the command line: ``try``, ``watch``, ``diff`` and ``init``.

They only chain this package's functions. ``register(app)`` adds them to the
``radonspec`` Typer app; errors go through ``cli.console.handle_errors`` like every other
command's, so exit codes and messages stay in one place.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from radonspec.cli.console import err, handle_errors, out, plain, study_out

if TYPE_CHECKING:
    from radonspec.analysis.prior import PriorCheck
    from radonspec.cli.tryout import TryResult
    from radonspec.study.diff import Difference
    from radonspec.study.schema import Study

StoreOpt = Annotated[
    Path | None, typer.Option("--store", help="Fit store folder [default: .radonspec]")
]


def _consoles() -> tuple[Console, Console]:
    return out, err


@contextmanager
def _handled() -> Iterator[None]:
    with handle_errors():  # the CLI's one error-to-exit-code mapping
        yield


def try_command(
    data: Annotated[
        str, typer.Argument(help="A bundled data set (radonspec datasets) or a .csv/.parquet file.")
    ],
    formula: Annotated[str, typer.Argument(help="Bambi formula, e.g. 'y ~ x + (1|g)'.")],
    family: Annotated[str, typer.Option(help="Bambi family.")] = "gaussian",
    link: Annotated[str | None, typer.Option(help="Link of the main parameter.")] = None,
    categorical: Annotated[
        list[str] | None,
        typer.Option("--categorical", "-c", help="Column to treat as categorical (repeat)."),
    ] = None,
    levels: Annotated[
        list[str] | None,
        typer.Option(
            "--levels", help="COLUMN=LEVEL,LEVEL,... lowest first, as data.levels (repeat)."
        ),
    ] = None,
    prior: Annotated[
        list[str] | None,
        typer.Option("--prior", "-p", help="TERM=PRIOR, e.g. 'floor=Normal(0, 1)' (repeat)."),
    ] = None,
    backend: Annotated[str | None, typer.Option(help="nutpie, pymc, numpyro or blackjax.")] = None,
    draws: Annotated[int | None, typer.Option(help="Draws per chain (default 1000).")] = None,
    tune: Annotated[int | None, typer.Option(help="Tuning steps per chain (default 1000).")] = None,
    chains: Annotated[int | None, typer.Option(help="Chains (default 4).")] = None,
    seed: Annotated[int | None, typer.Option(help="Study seed (default 20221).")] = None,
    name: Annotated[str, typer.Option("--name", help="The model's name.")] = "model",
    save: Annotated[
        Path | None, typer.Option("--save", help="Write the equivalent study to this file.")
    ] = None,
    store: StoreOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Refit even a stored fit.")] = False,
    show_all: Annotated[
        bool, typer.Option("--all", help="List every group-level parameter too.")
    ] = False,
) -> None:
    """Fit one formula without a spec file; print its parameters and diagnostics."""
    from radonspec.cli.tryout import (
        TrySpec,
        parse_levels,
        parse_priors,
        sampler_options,
        save_spec,
        try_formula,
        try_study,
    )

    out, _ = _consoles()
    code = 0
    with _handled():
        spec = TrySpec(
            data=data,
            formula=formula,
            family=family,
            link=link,
            categorical=tuple(categorical) if categorical else None,
            levels=parse_levels(levels or []),
            priors=parse_priors(prior or []),
            sampler=sampler_options(
                backend=backend, draws=draws, tune=tune, chains=chains, seed=seed
            ),
            model=name,
        )
        study = try_study(spec)  # every problem before any sampling, and before --save writes
        if save is not None:
            save_spec(spec, save)
            out.print(
                f"wrote {plain(save)}; fit it again with: radonspec run {plain(save)}",
                highlight=False,
            )
        result = try_formula(spec, store=store, force=force, study=study)
        code = print_try(result, out, show_all=show_all)
    raise typer.Exit(code)


def print_try(result: TryResult, console: Console, *, show_all: bool = False) -> int:
    """Print a ``try`` result; return the exit code (2 when the fit failed)."""
    from radonspec.cli.tryout import group_level

    fit = result.fit
    spec = next(iter(result.study.models.values()))
    console.print(
        f"[bold]{plain(spec.formulas[0])}[/bold] ({plain(spec.family)})"
        f" on {plain(_data_name(result.study))}:"
        f" {'stored fit reused' if fit.cached else 'fitted'}"
        f" in {fit.seconds.get('total', 0.0):.1f} s",
        highlight=False,
    )
    if not fit.ok or result.table is None:
        console.print(f"[red]the fit failed:[/red] {plain(fit.error)}", highlight=False)
        return 2
    table = Table(box=None, padding=(0, 1))
    for column in ("parameter", "mean", "sd", "89% interval", "ess_bulk", "r_hat"):
        table.add_column(column, justify="left" if column == "parameter" else "right")
    hidden = 0
    for label, row in result.table.iterrows():
        if not show_all and group_level(str(label)):
            hidden += 1
            continue
        table.add_row(
            plain(label),  # group-level labels carry the data's level names
            f"{row['mean']:.3g}",
            f"{row['sd']:.2g}",
            f"[{row['eti89_lb']:.3g}, {row['eti89_ub']:.3g}]",
            f"{row['ess_bulk']:.0f}",
            f"{row['r_hat']:.3f}",
        )
    console.print(table)
    if hidden:
        console.print(f"  ({hidden} group-level parameters hidden; --all lists them)")
    diag = result.diagnostics
    if diag is not None and diag.passed:
        console.print("diagnostics: passed")
    elif diag is not None:
        console.print("[yellow]diagnostics failed:[/yellow]", highlight=False)
        for problem in diag.problems:
            console.print(f"  - {plain(problem)}", highlight=False)
        for advice in diag.advice:
            console.print(f"  try: {plain(advice)}", highlight=False)
    return 0


def _data_name(study: Any) -> str:
    return str(study.data.dataset or Path(study.data.path).name)


def watch_command(
    study: Annotated[Path, typer.Argument(help="Study YAML file.")],
    interval: Annotated[float, typer.Option(help="Seconds between looks at the files.")] = 1.0,
    jobs: Annotated[int | None, typer.Option("--jobs", "-j", help="Worker processes.")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Report folder.")] = None,
    store: StoreOpt = None,
    cycles: Annotated[
        int | None, typer.Option(hidden=True, help="Stop after this many cycles.")
    ] = None,
) -> None:
    """Re-validate, re-fit changed models and re-render the report on every save."""
    from radonspec.cli.watch import watch

    out, _ = _consoles()
    if interval <= 0:
        raise typer.BadParameter("--interval must be positive")
    code = watch(
        study, interval=interval, max_cycles=cycles, store=store, out_dir=out_dir, jobs=jobs,
        console=out,
    )  # fmt: skip
    raise typer.Exit(code)


def diff_command(
    a: Annotated[str, typer.Argument(metavar="A.yaml[:MODEL]", help="The first study or model.")],
    b: Annotated[str, typer.Argument(metavar="B.yaml[:MODEL]", help="The second one.")],
) -> None:
    """State the statistical differences of model B from model A (or of two studies)."""
    from radonspec.study.diff import diff_targets

    out, _ = _consoles()
    with _handled():
        for title, differences in diff_targets(a, b, content=_data_content):
            print_differences(title, differences, out)


def _data_content(study: Study) -> tuple[str, str] | None:
    """A study's data file (as a path to show) and the SHA-256 of its bytes, if it has one."""
    import hashlib

    from radonspec.compile.model import study_base
    from radonspec.data.load import source_path

    path = source_path(study.data, study_base(study))
    if path is None or not path.is_file():
        return None
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return os.path.relpath(path), digest.hexdigest()


def print_differences(title: str, differences: list[Difference] | None, console: Console) -> None:
    """Print one pair's differences under its title (``None``: the pair has one side only)."""
    console.print(f"[bold]{plain(title)}[/bold]", highlight=False)
    if differences is None:
        return
    if not differences:
        console.print("  no statistical differences")
    for difference in differences:
        console.print(f"  - {plain(difference)}", highlight=False)


def init_command(
    data: Annotated[
        str, typer.Option("--data", help="A bundled data set or a .csv/.parquet file.")
    ],
    response: Annotated[str, typer.Option("--response", "-y", help="The response column.")],
    group: Annotated[str, typer.Option("--group", "-g", help="The grouping factor.")],
    predictors: Annotated[
        list[str] | None,
        typer.Option("--predictors", "-x", help="Predictors, comma-separated or repeated."),
    ] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="The study file to write.")] = Path(
        "study.yaml"
    ),
    family: Annotated[str, typer.Option(help="Bambi family.")] = "gaussian",
    name: Annotated[str | None, typer.Option(help="Study name (default: from DATA).")] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Overwrite an existing study file and a different schema file."
        ),
    ] = False,
) -> None:
    """Write a commented study with the pooled / unpooled / hierarchical trio for any data.

    The JSON schema goes beside it as radonspec.schema.json, named in its editor header.
    """
    from radonspec.cli.scaffold import write_scaffold
    from radonspec.study.loader import load_study

    out, _ = _consoles()
    columns = [c.strip() for item in predictors or [] for c in item.split(",") if c.strip()]
    with _handled():
        written = write_scaffold(
            data, response, group, columns, output=output, family=family, name=name, force=force
        )
        path = written.study
        study = load_study(path)
        out.print(
            f"wrote {plain(path)} ({plain(', '.join(study.models))}); check it with: radonspec"
            f" validate {plain(path)}; fit it with: radonspec run {plain(path)}",
            highlight=False,
        )
        schema = written.schema
        if schema is not None and schema.action == "written":
            out.print(
                f"wrote {plain(schema.path)} (the schema editors check the study with)",
                highlight=False,
            )
        elif schema is not None and schema.action == "kept":
            out.print(
                f"kept {plain(schema.path)}, which differs from this radonspec's schema; update"
                f" it with: radonspec schema > {plain(schema.path)} (or pass --force)",
                highlight=False,
            )


def print_prior_checks(checks: Mapping[str, PriorCheck], console: Console) -> int:
    """Print prior predictive checks as a table; return 0, or 2 when a model failed one."""
    table = Table(title="prior predictive vs observed", box=None, padding=(0, 1))
    for column in ("model", "observed 5-95%", "prior predictive 5-95%", "in range", "verdict"):
        table.add_column(column, justify="left" if column in ("model", "verdict") else "right")
    for name, check in checks.items():
        if check.error is not None:
            table.add_row(plain(name), "", "", "", f"[red]{plain(check.error)}[/red]")
            continue
        table.add_row(
            plain(name),
            f"[{check.observed[0.05]:.3g}, {check.observed[0.95]:.3g}]",
            f"[{check.predicted[0.05]:.3g}, {check.predicted[0.95]:.3g}]",
            f"{check.share_in_range:.0%}",
            "ok" if check.passed else "[yellow]implausible[/yellow]",
        )
    console.print(table)
    for check in checks.values():
        for problem in check.problems if check.error is None else ():
            console.print(f"  {plain(check.model)}: {plain(problem)}", highlight=False)
    return 0 if all(c.passed for c in checks.values()) else 2


def run_prior_only(
    paths: list[Path],
    *,
    draws: int = 500,
    console: Console,
    strict: bool = False,
    out_dir: Path | None = None,
) -> int:
    """What ``radonspec run --prior-only`` does: validate, draw prior predictives, report.

    Prints the checks, then writes a report holding the prior predictive section
    alone to ``out_dir`` (one study), ``out_dir``/<file stem> (several), or by default
    ``radonspec-out/<name>-prior``, beside the fitted report, and prints where. Returns
    the exit code: 0, or 2 with ``strict`` when a model's prior predictive check
    failed. Nothing is sampled from a posterior and nothing is stored.
    """
    from radonspec.api import prior_only

    code = 0
    for path in paths:
        result = prior_only(path, draws=draws, out=study_out(out_dir, path, paths))
        assert result.results is not None and result.results.prior_predictive is not None
        failed = print_prior_checks(result.results.prior_predictive.checks, console)
        if strict:
            code = max(code, failed)
        for kind, file in result.written.items():
            console.print(f"{kind}: {plain(file)}", highlight=False)
    return code


def register(app: typer.Typer) -> None:
    """Add ``try``, ``watch``, ``diff`` and ``init`` to the ``radonspec`` app (once)."""
    present = {command.name for command in app.registered_commands}
    for name, command in COMMANDS.items():
        if name not in present:
            app.command(name)(command)


COMMANDS: dict[str, Callable[..., None]] = {
    "try": try_command,
    "watch": watch_command,
    "diff": diff_command,
    "init": init_command,
}
