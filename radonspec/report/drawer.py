"""A second process that draws some of the report's figures while this one draws the rest.

A ``watch`` cycle after an edit redraws every figure that shows the edited model: each
is a few tenths of a second of matplotlib in one thread. Inside ``drawing_with(drawer)``,
``plots.figure`` queues a figure that is not kept already instead of drawing it; the
drawer's process takes the first one at once, and ``finish`` (called when the report's
content is built) draws the queue here, handing the next figure to the process whenever
it is idle. So two figures are drawn at a time, and their order in the report is kept.

The process is started by ``start`` from the main thread (on Linux it dies with the
thread that started it, and with this process: a killed ``watch`` leaves no drawer),
imports matplotlib and draws a first figure while the user edits. It ignores Ctrl-C;
``close`` ends it. Whatever goes wrong there (the process died, a figure's arguments
cannot be sent) the figure is drawn here instead: the drawer only ever saves time.
"""

from __future__ import annotations

import collections
import contextlib
import contextvars
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from radonspec.report import figures

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

_ACTIVE: contextvars.ContextVar[Drawer | None] = contextvars.ContextVar(
    "radonspec_drawer", default=None
)
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


class Pending:
    """A queued figure: its PNG once drawn, by the drawer's process or here."""

    def __init__(
        self, key: str | None, draw: Callable[..., Any], args: tuple[Any, ...],
        to_png: Callable[[Any], bytes],
    ) -> None:  # fmt: skip
        self.key = key
        self._draw = draw
        self._args = args
        self._to_png = to_png
        self.future: Future[bytes] | None = None  # set when the process took it
        self._png: bytes | None = None
        self._error: Exception | None = None

    def png(self) -> bytes:
        """The PNG: waited for when the process took it, else drawn here now.

        A drawing that fails raises its error, here and at every later call.
        """
        if self._error is not None:
            raise self._error
        if self._png is None:
            png = None
            if self.future is not None:
                with contextlib.suppress(Exception):  # the process died: draw it here
                    png = self.future.result()
            try:
                self._png = png if png is not None else self._to_png(self._draw(*self._args))
            except Exception as exc:
                self._error = exc
                raise
            if self.key is not None:
                figures.keep(self.key, self._png)
        return self._png

    def submit(self, pool: ProcessPoolExecutor) -> Future[bytes]:
        """Hand the figure to ``pool``'s process (``pool.submit``'s errors propagate)."""
        self.future = pool.submit(_draw, self._draw, self._args, self._to_png)
        return self.future


class Drawer:
    """One worker process drawing queued figures to PNG, one at a time.

    ``warm_up`` (a module-level function, so the process can be handed it) draws a first
    figure in the process when it starts (``plots.warm_up``); None imports nothing.
    """

    def __init__(self, warm_up: Callable[[], None] | None = None) -> None:
        self._warm = warm_up
        self._pool: ProcessPoolExecutor | None = None
        self._busy: Future[bytes] | None = None
        self._queue: collections.deque[Pending] = collections.deque()
        self._lock = threading.RLock()
        self._wake = threading.Event()  # the process finished a figure: feed it the next

    def start(self) -> None:
        """Start the process (from the main thread) and warm it up; nothing if running."""
        if self._pool is not None:
            return
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self._pool = ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(os.getpid(),),
        )
        self._wake = threading.Event()  # its own: a feeder of a pool let go may still wake
        feeder = threading.Thread(
            target=self._feeding, args=(self._pool, self._wake), name="radonspec-drawer",
            daemon=True,
        )  # fmt: skip
        feeder.start()
        self._busy = self._pool.submit(_warm_up, self._warm)
        self._busy.add_done_callback(self._finished)

    @property
    def running(self) -> bool:
        """Whether the process is there to take figures."""
        return self._pool is not None

    def queue(self, pending: Pending) -> None:
        """Queue a figure; the process takes it at once when idle."""
        with self._lock:
            self._queue.append(pending)
        self._feed()

    def finish(self) -> None:
        """Draw every queued figure: here, or by the process whenever it is idle."""
        while True:
            self._feed()
            with self._lock:
                if not self._queue:
                    return
                pending = self._queue.popleft()
            with contextlib.suppress(Exception):  # noted where the report shows it
                pending.png()

    def _finished(self, _: Future[bytes]) -> None:
        """A figure's future is done: wake the feeder, and nothing else.

        The pool calls this from its own thread, and for a process that died it does so
        holding its own lock: handing on the next figure from here (``submit`` takes that
        lock) waited forever, and the report with it.
        """
        self._wake.set()

    def _feeding(self, pool: ProcessPoolExecutor, wake: threading.Event) -> None:
        """The feeder thread: the process's next figure as soon as it is idle.

        So the process never waits for this one to look. It ends with ``pool``: a
        drawer started again after its process died has a new pool and a new feeder.
        """
        while True:
            wake.wait()
            wake.clear()
            if self._pool is not pool:
                return
            self._feed()

    def _feed(self) -> None:
        """Hand the next queued figure to the process if it is idle.

        A process found dead (its last figure failed with the pool broken) is let go at
        once, queue or not, so ``running`` says so and the next ``start`` makes a new one.
        """
        with self._lock:
            if self._pool is None:
                return
            if self._busy is not None and _broken(self._busy):
                self._drop_broken()
                return
            if not self._queue:
                return
            if self._busy is not None and not self._busy.done():
                return
            pending = self._queue.popleft()
            try:
                busy = self._busy = pending.submit(self._pool)
            except Exception:  # noqa: BLE001 - a broken pool: every figure is drawn here
                self._queue.appendleft(pending)
                self._drop_broken()
                return
        busy.add_done_callback(self._finished)

    def wait(self) -> None:
        """Wait until the process has drawn what it was given (its warm-up included)."""
        busy = self._busy
        if busy is not None:
            with contextlib.suppress(Exception):  # a failure shows where the PNG is read
                busy.result()

    def close(self) -> None:
        """End the process; a figure it had not drawn is drawn here when asked for."""
        pool = self._let_go()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def _drop_broken(self) -> None:
        """Let a pool whose process died go, without waiting for it."""
        broken = self._let_go()
        if broken is not None:
            broken.shutdown(wait=False, cancel_futures=True)

    def _let_go(self) -> ProcessPoolExecutor | None:
        """Forget the pool (returned, for its shutdown) and end its feeder."""
        with self._lock:
            pool, self._pool, self._busy = self._pool, None, None
        self._wake.set()
        return pool


@contextlib.contextmanager
def drawing_with(drawer: Drawer | None) -> Iterator[None]:
    """Let ``drawer`` take the figures of the report built inside the block (None: none)."""
    token = _ACTIVE.set(drawer)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def figure(
    name: str, draw: Callable[..., Any], args: tuple[Any, ...], to_png: Callable[[Any], bytes]
) -> bytes | Pending:
    """``figures.rendered`` for a drawing that returns a figure alone, or queued.

    With a running drawer active, a figure that is not kept already is queued (see
    ``finish_drawings``); otherwise it is drawn here, now.
    """
    drawer = _ACTIVE.get()
    if drawer is None or not drawer.running:
        png: bytes = figures.rendered(name, draw, args, to_png)
        return png
    key, found = figures.look_up(name, args)
    if found is not None:
        return found[0]
    pending = Pending(key, draw, args, to_png)
    drawer.queue(pending)
    return pending


def finish_drawings() -> None:
    """Draw what the active drawer has queued, sharing the work with its process."""
    drawer = _ACTIVE.get()
    if drawer is not None:
        drawer.finish()


def _start_worker(parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    os.environ.setdefault("MPLBACKEND", "Agg")
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before the line above
            os._exit(1)


def _broken(future: Future[bytes]) -> bool:
    """Whether ``future`` is done and failed because its process died."""
    from concurrent.futures.process import BrokenProcessPool

    if not future.done() or future.cancelled():
        return False
    return isinstance(future.exception(), BrokenProcessPool)


def _warm_up(warm_up: Callable[[], None] | None) -> bytes:
    import gc

    if warm_up is not None:
        warm_up()
    # what is imported now stays: the collections while drawing walk only the figures
    gc.collect()
    gc.freeze()
    return b""


def _draw(draw: Callable[..., Any], args: tuple[Any, ...], to_png: Callable[[Any], bytes]) -> bytes:
    return to_png(draw(*args))
