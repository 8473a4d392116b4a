"""``radonspec watch STUDY``: re-validate, re-fit what changed and re-render on every save.

The spec, every file it ``extends`` and its data file are polled (modification time
and size, standard library only). Each change runs one *cycle*: ``radonspec.api.run``,
exactly what ``radonspec run`` does (validation, fitting what the store lacks, the
study's comparison, PSIS-LOO or k-fold, the analysis kept beside each fit, the report),
so only edited models (or all of them, when the data changed) are sampled and only
their analyses made. A cycle that fails prints its located errors and writes nothing:
the last good report stays where it was.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from radonspec.cli.console import plain
from radonspec.errors import RadonspecError, SpecError, SpecErrors
from radonspec.study.schema import Study

if TYPE_CHECKING:
    from radonspec.report.drawer import Drawer

Runner = Callable[[Path, Any], Any]  # (study file, progress) -> api.RunResult
Signature = tuple[int, int] | None  # (mtime_ns, size); None: the file is missing


@dataclass(frozen=True)
class Cycle:
    """What one validate-fit-report cycle did.

    ``sampled`` lists the models fitted now, ``cached`` those the store served,
    ``failed`` those whose fit failed; ``errors`` the located messages of an invalid
    spec (then nothing was fitted or written).
    """

    ok: bool
    errors: tuple[str, ...] = ()
    sampled: tuple[str, ...] = ()
    cached: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()
    written: Mapping[str, Any] = field(default_factory=dict)
    study: Study | None = None


def api_runner(
    store: str | os.PathLike[str] | None,
    out_dir: str | os.PathLike[str] | None,
    jobs: int | None,
) -> Runner:
    """What ``radonspec run`` does for one study, as a runner for ``Watcher``.

    The models validation builds are kept from one cycle to the next: after an edit,
    only the models whose spec (or data) changed are built again.
    """
    built: list[Any] = []  # made at the first cycle: building it imports the compile stage

    def run(path: Path, progress: Any) -> Any:
        from radonspec.api import run as run_study
        from radonspec.compile.validate import BuiltModels

        if not built:
            built.append(BuiltModels())
        return run_study(
            path, store=store, out=out_dir, jobs=jobs, progress=progress, built=built[0]
        )

    return run


class Watcher:
    """Polls a study's files and runs a cycle whenever one of them changes.

    Parameters
    ----------
    path
        The study file.
    store
        The fit store (default ``.radonspec``).
    out_dir
        Report folder (default ``radonspec-out/<study name>``).
    jobs
        Worker processes for fitting.
    console
        Where progress and errors are printed.
    runner
        Runs one cycle (default: ``api_runner``, i.e. ``radonspec.api.run``).
    warm
        After a good cycle, import in the background what the next fit needs
        (``warm_up``); default: with the default runner only.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        store: str | os.PathLike[str] | None = None,
        out_dir: str | os.PathLike[str] | None = None,
        jobs: int | None = None,
        console: Console | None = None,
        runner: Runner | None = None,
        warm: bool | None = None,
    ) -> None:
        self.path = Path(path)
        self.warm = runner is None if warm is None else warm
        self.store = store
        self.out_dir = None if out_dir is None else Path(out_dir)
        self.jobs = jobs
        self.console = console or Console(highlight=False, emoji=False)
        self.runner = runner or api_runner(store, out_dir, jobs)
        self.last_good: Study | None = None
        self.last: Cycle | None = None
        self._seen: dict[Path, Signature] = {}
        self._warming: threading.Thread | None = None
        self._drawer: Drawer | None = None  # started after the first good cycle

    # files ------------------------------------------------------------------------

    def files(self) -> list[Path]:
        """The spec, the files it extends (as far as they read) and the data file."""
        found = extends_chain(self.path)
        if self.last_good is not None:
            from radonspec.compile.model import study_base
            from radonspec.data.load import source_path

            data = source_path(self.last_good.data, study_base(self.last_good))
            if data is not None:
                found.append(data)
        return list(dict.fromkeys(found))

    def snapshot(self) -> dict[Path, Signature]:
        """The signature of every watched file now."""
        return {file: _signature(file) for file in self.files()}

    def changed(self) -> list[Path]:
        """Files whose signature differs from the last look (and remember this look)."""
        now = self.snapshot()
        moved = [f for f, sig in now.items() if f in self._seen and self._seen[f] != sig]
        self._seen = now
        return moved

    # one cycle --------------------------------------------------------------------

    def cycle(self) -> Cycle:
        """Validate, fit what the store lacks and write the report; print what happened."""
        self.settle()  # never two threads importing at once
        # taken before reading: a save while this cycle runs triggers the next one
        before = self.snapshot()
        self._seen = before
        sampled: list[str] = []
        cached: list[str] = []

        def event(model: str, what: str, fit: Any) -> None:
            if what == "started":
                sampled.append(model)
                self.console.print(f"  {plain(model)}: sampling ...")
            elif what == "cached":
                cached.append(model)

        @contextlib.contextmanager
        def progress(stage: str) -> Iterator[Any]:
            yield event if stage == "fits" else (lambda model, what, fit: None)

        try:
            with self._drawing():
                result = self.runner(self.path, progress)
        except KeyboardInterrupt:
            raise
        except RadonspecError as exc:
            errors = _lines(exc)
            for line in errors:
                self.console.print(f"[red]error:[/red] {plain(line)}", markup=True, highlight=False)
            if self.last_good is not None:
                self.console.print("  the last good report stays in place; fix and save again")
            self.last = Cycle(False, errors=errors)
            return self.last
        study = result.study
        fits = result.fits
        failed = tuple(name for name, fit in fits.items() if fit.status != "ok")
        written = result.written
        if result.reused:
            cached = list(fits)
        self.last_good = study
        # files known only now (the data file of the first good spec) join the watch
        self._seen = self.snapshot() | before
        self.last = Cycle(
            True,
            sampled=tuple(sampled),
            cached=tuple(cached),
            failed=failed,
            written=written,
            study=study,
        )
        self._print(self.last)
        if self.warm:
            if self._drawer is None:
                from radonspec.report.drawer import Drawer
                from radonspec.report.plots import warm_up as draw_first

                self._drawer = Drawer(warm_up=draw_first)
            self._drawer.start()  # from this thread: the process dies with the one starting it
            self._warming = threading.Thread(
                target=warm_up, args=(study,), name="radonspec-warm-up", daemon=True
            )
            self._warming.start()
        return self.last

    def settle(self) -> None:
        """Wait until the imports started in the background after the last good cycle end.

        A user's next edit usually comes later than that; tests and benchmarks that edit
        at once call this first, so the next cycle measures itself, not those imports.
        """
        if self._warming is not None:
            self._warming.join()
            self._warming = None
        if self._drawer is not None:
            self._drawer.wait()  # its warm-up

    def close(self) -> None:
        """Wait for the background work, then end the drawing process."""
        self.settle()
        if self._drawer is not None:
            self._drawer.close()
            self._drawer = None

    @contextlib.contextmanager
    def _drawing(self) -> Iterator[None]:
        """Inside the block, the drawing process (once started) takes some figures."""
        if self._drawer is None:
            yield
            return
        from radonspec.report.drawer import drawing_with

        with drawing_with(self._drawer):
            yield

    def _print(self, cycle: Cycle) -> None:
        fitted = f" ({plain(', '.join(cycle.sampled))})" if cycle.sampled else ""
        parts = [f"{len(cycle.sampled)} fitted{fitted}"]
        parts.append(f"{len(cycle.cached)} from the store")
        if cycle.failed:
            names = plain(", ".join(cycle.failed))
            parts.append(f"[red]{len(cycle.failed)} failed ({names})[/red]")
        self.console.print("  valid; " + ", ".join(parts), markup=True, highlight=False)
        for kind, file in cycle.written.items():
            self.console.print(f"  {kind}: {plain(file)}", highlight=False)

    # the loop ---------------------------------------------------------------------

    def run(
        self,
        *,
        interval: float = 1.0,
        max_cycles: int | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> int:
        """Run a cycle now and one after every change, until interrupted.

        Parameters
        ----------
        interval
            Seconds between two looks at the files.
        max_cycles
            Stop after this many cycles (for tests and scripts); ``None``: never.
        sleep
            Waits ``interval`` seconds (tests pass a function that edits files).

        Returns
        -------
        int
            The exit code: 0 when the last cycle was good, 1 otherwise.
        """
        self.console.print(f"watching {plain(self.path)} (Ctrl-C stops)", highlight=False)
        cycles = 0
        try:
            self._announce([self.path], first=True)
            self.cycle()
            cycles += 1
            while max_cycles is None or cycles < max_cycles:
                sleep(interval)
                moved = self.changed()
                if not moved:
                    continue
                self._announce(moved)
                self.cycle()
                cycles += 1
        except KeyboardInterrupt:
            self.console.print("stopped watching")
        # the background warm-up still importing or drawing when the interpreter shuts
        # down crashed it (SIGSEGV, seen in the benchmark's watch cycle): it ends first
        self.close()
        return 0 if self.last is not None and self.last.ok else 1

    def _announce(self, files: list[Path], *, first: bool = False) -> None:
        stamp = datetime.now().strftime("%H:%M:%S")
        what = "checking" if first else "changed: " + ", ".join(_display(f) for f in files)
        self.console.print(f"[bold]{stamp}[/bold] {plain(what)}", markup=True, highlight=False)


#: What the first fit and analysis after an edit import (seconds, once per process), beside
#: each backend's own modules: imported while the user edits, not after the save.
#: (xarray looks for a Dask cluster when it writes a fit, if Dask is installed.)
WARM_UP = ("radonspec.fit.executors", "radonspec.fit.sample", "radonspec.analysis.model",
           "pymc", "bambi", "h5netcdf", "statsmodels.api", "dask.distributed")  # fmt: skip


def warm_up(study: Study) -> None:
    """Import what fitting and analysing ``study``'s models need, draw a figure; never raises."""
    from radonspec.fit.versions import BACKENDS

    backends = {spec.sampler.backend for spec in study.models.values()}
    modules = [m for b in sorted(backends) for m in BACKENDS.get(b, {}).get("modules", ())]
    for module in [*WARM_UP, *modules]:
        try:
            importlib.import_module(module)
        except Exception:  # noqa: BLE001 - a missing extra is the fit's to report, located
            continue
    try:
        from radonspec.report.plots import warm_up as warm_figures

        warm_figures()
    except Exception:  # noqa: BLE001 - the report draws (and reports) its own figures
        pass
    tidy_memory()


def tidy_memory() -> None:
    """Collect the last cycle's garbage now, then exempt what is left from collection.

    ``watch`` holds the imported stack and the study's fits: millions of objects that
    every full collection walks again (0.2-0.35 s each, two or three per cycle after a
    fit). Collected while the user edits and then frozen (``gc.freeze``), the next
    cycle's collections walk only what that cycle makes. The freeze is lifted first, so
    what an earlier cycle left becomes collectable here.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def extends_chain(path: Path) -> list[Path]:
    """``path`` and every file it extends, as far as they can be read (no error raised)."""
    from radonspec.study.yamlread import read_yaml

    chain = [path.resolve()]
    current = chain[0]
    while True:
        try:
            parent = read_yaml(current).data.get("extends")
        except (SpecError, AttributeError):
            return chain
        if not isinstance(parent, str):
            return chain
        following = (current.parent / parent).resolve()
        if following in chain:
            return chain
        chain.append(following)
        current = following


def _signature(path: Path) -> Signature:
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_mtime_ns, stat.st_size)


def _lines(exc: RadonspecError) -> tuple[str, ...]:
    if isinstance(exc, SpecErrors):
        return tuple(str(e) for e in exc.errors)
    return (str(exc),)


def _display(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


def watch(
    path: str | os.PathLike[str],
    *,
    interval: float = 1.0,
    max_cycles: int | None = None,
    store: str | os.PathLike[str] | None = None,
    out_dir: str | os.PathLike[str] | None = None,
    jobs: int | None = None,
    console: Console | None = None,
    runner: Runner | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Watch ``path`` and re-run on every change; see ``Watcher``. Returns the exit code."""
    watcher = Watcher(path, store=store, out_dir=out_dir, jobs=jobs, console=console, runner=runner)
    return watcher.run(interval=interval, max_cycles=max_cycles, sleep=sleep)
