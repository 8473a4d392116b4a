"""What a running study shows: a live line per model on a terminal, log lines elsewhere."""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from radonspec.cli.console import plain
from radonspec.fit.record import Fit

_STATES = {
    "started": "[cyan]sampling[/cyan]",
    "cached": "[green]stored fit reused[/green]",
    "done": "[green]done[/green]",
    "failed": "[red]failed[/red]",
    "scoring": "[cyan]scoring held-out folds[/cyan]",
    "scored": "[green]scored[/green]",
    "unscored": "[red]not scored[/red]",
}


class RunDisplay:
    """Receives the runner's events (model, event, fit) and shows them.

    On a terminal each model gets a live line with a spinner and its elapsed time,
    so long work never looks frozen; otherwise one plain line per event.
    ``folds`` hides the start of cross-validation refits, which come by dozens.
    """

    def __init__(self, console: Console, *, folds: bool = False, quiet: bool = False) -> None:
        self._console = console
        self._folds = folds
        self._quiet = quiet
        self._live = console.is_terminal and not quiet
        self._started: dict[str, float] = {}
        self._tasks: dict[str, TaskID] = {}
        self._progress = Progress(
            SpinnerColumn(finished_text="•"),
            TextColumn("{task.fields[model]}", markup=False),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )

    def __enter__(self) -> RunDisplay:
        if self._live:
            self._progress.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._live:
            self._progress.stop()

    def __call__(self, model: str, event: str, fit: Fit | None) -> None:
        """Show one event."""
        if self._quiet:
            return
        now = time.perf_counter()
        if event in ("started", "scoring"):
            self._started[model] = now
        took = now - self._started.get(model, now)
        if fit is not None and fit.seconds.get("total"):
            # a pool's jobs are all "started" when submitted: the fit's own clock is right
            took = fit.seconds["total"]
        if self._live:
            self._show_live(model, event, fit)
        else:
            self._show_line(model, event, fit, took)

    def _show_live(self, model: str, event: str, fit: Fit | None) -> None:  # noqa: ARG002
        text = _STATES.get(event, plain(event))  # a failure's reason follows in the summary
        if model not in self._tasks:
            if self._folds and event in ("started", "cached"):
                return
            self._tasks[model] = self._progress.add_task(text, model=model, total=1)
        done = event in ("cached", "done", "failed", "scored", "unscored")
        self._progress.update(self._tasks[model], description=text, completed=int(done))

    def _show_line(self, model: str, event: str, fit: Fit | None, took: float) -> None:
        if event == "started" and not self._folds:
            self._console.print(f"  {plain(model)}: sampling ...")
        elif event == "cached" and not self._folds:
            self._console.print(f"  {plain(model)}: stored fit reused")
        elif event == "done":
            self._console.print(f"  {plain(model)}: done in {took:.1f} s")
        elif event == "scoring":
            self._console.print(f"  {plain(model)}: scoring held-out folds ...")
        elif event in ("scored", "unscored"):
            self._console.print(f"  {plain(model)}: {event} in {took:.1f} s")
        elif event == "failed" and fit is not None:
            self._console.print(f"  [red]{plain(model)}: failed[/red]: {plain(fit.error or '')}")
