"""Running a drill coroutine from synchronous code, with a two-step Ctrl-C.

The first Ctrl-C sends nothing more but gives the requests in flight ``stop_grace_s`` (3 s by
default) to finish and keeps their images, since the service has most likely made and billed
them already (a request still running then is cut off, recorded as possibly billed, so that no
stalled answer can hold the run: :mod:`imgkit.runner.synchronous`); the run ends as
"interrupted" and can be resumed. From a terminal, a second Ctrl-C abandons those requests
too (they are marked "may have been billed"). In batch mode the first Ctrl-C leaves the batches
running at the vendor, and the second cancels them there (:mod:`imgkit.runner.batch`). SIGTERM
is handled the same way. Outside an event loop the run uses the calling thread; inside one
(Jupyter) it gets a fresh loop in a worker thread.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import threading
from collections.abc import Callable, Coroutine
from typing import Any

__all__ = ["ABANDON_HINT", "TERM_HINT", "run_blocking"]

ABANDON_HINT = (
    "imgkit drill: Ctrl-C: sending nothing more; the requests already sent get a few seconds "
    "(stop_grace_s) to finish and are kept (they are paid for), those still running then are "
    "cut off and recorded as possibly billed, and batches already sent keep running at the "
    "vendor (a resume collects them). Press Ctrl-C again to abandon the requests at once and "
    "cancel the batches."
)

TERM_HINT = (
    "imgkit drill: SIGTERM: sending nothing more; the requests already sent get a few seconds "
    "(stop_grace_s) to finish and are kept (they are paid for), those still running then are "
    "cut off and recorded as possibly billed, and the run stops. A second SIGTERM abandons "
    "them at once."
)

CoroutineFactory = Callable[[threading.Event, threading.Event], Coroutine[Any, Any, Any]]


def run_blocking(
    factory: CoroutineFactory,
    stop: threading.Event | None,
    interrupt: threading.Event | None = None,
) -> Any:
    """Run ``factory(stop, interrupt)`` to completion and return its result.

    SIGTERM (``kill``, systemd, Docker) is handled like Ctrl-C: the run sends nothing more,
    keeps the requests in flight and ends "interrupted". Then the process receives SIGTERM
    again, as if it had arrived after the run was wrapped up: by default it ends there.
    """
    stop = stop or threading.Event()
    interrupt = interrupt or threading.Event()
    try:
        asyncio.get_running_loop()
        in_loop = True
    except RuntimeError:
        in_loop = False
    if not in_loop:
        return _run_here(factory(stop, interrupt), interrupt)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(factory(stop, interrupt))
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name="imgkit-drill", daemon=True)
    with _StopSignals(interrupt, abandon=None):
        thread.start()
        while thread.is_alive():
            try:
                thread.join()
            except KeyboardInterrupt:
                interrupt.set()
    if "error" in box:
        raise box["error"]
    return box["value"]


class _StopSignals:
    """While a run goes on in this (main) thread's process: the first SIGINT or SIGTERM stops
    sending, a second abandons the requests in flight (``abandon``, when there is a way to).
    On exit the previous handlers come back, and a SIGTERM that arrived is raised again."""

    def __init__(self, interrupt: threading.Event, abandon: Callable[[], None] | None) -> None:
        self.interrupt = interrupt
        self.abandon = abandon
        self.terminated = False
        self.previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if signum == signal.SIGTERM:
            self.terminated = True
        if not self.interrupt.is_set():
            self.interrupt.set()
            if signum == signal.SIGTERM:
                print(TERM_HINT, file=sys.stderr, flush=True)
            elif self.abandon is not None:
                print(ABANDON_HINT, file=sys.stderr, flush=True)
        elif self.abandon is not None:
            self.abandon()
        elif signum == signal.SIGINT:
            raise KeyboardInterrupt

    def __enter__(self) -> _StopSignals:
        if threading.current_thread() is threading.main_thread():
            # Installed before the loop runs, so asyncio keeps it instead of its own handler
            # (which would cancel the run, in-flight requests and all, at the first Ctrl-C).
            for signum in (signal.SIGINT, signal.SIGTERM):
                self.previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        if self.terminated:
            signal.raise_signal(signal.SIGTERM)


def _run_here(coroutine: Coroutine[Any, Any, Any], interrupt: threading.Event) -> Any:
    """``asyncio.run(coroutine)``, with the two-step stop of :func:`run_blocking`."""
    if threading.current_thread() is not threading.main_thread():
        return asyncio.run(coroutine)  # no signal arrives here
    with asyncio.Runner() as runner:
        loop = runner.get_loop()
        task = loop.create_task(coroutine)
        with _StopSignals(interrupt, abandon=lambda: loop.call_soon_threadsafe(task.cancel)):
            return runner.run(_await(task))


async def _await(task: asyncio.Task[Any]) -> Any:
    return await task
