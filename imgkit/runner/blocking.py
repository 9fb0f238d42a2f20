"""Running a drill coroutine from synchronous code, with a two-step Ctrl-C.

The first Ctrl-C sends nothing more but waits for the requests in flight and keeps their
images, since the service has most likely made and billed them already; the run ends as
"interrupted" and can be resumed. From a terminal, a second Ctrl-C abandons those requests
too (they are marked "may have been billed"). Outside an event loop the run uses the calling
thread; inside one (Jupyter) it gets a fresh loop in a worker thread.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import threading
from collections.abc import Callable, Coroutine
from typing import Any

__all__ = ["ABANDON_HINT", "run_blocking"]

ABANDON_HINT = (
    "imgkit drill: Ctrl-C: sending nothing more; the requests already sent are being finished "
    "and kept (they are paid for). Press Ctrl-C again to abandon them."
)

CoroutineFactory = Callable[[threading.Event, threading.Event], Coroutine[Any, Any, Any]]


def run_blocking(
    factory: CoroutineFactory,
    stop: threading.Event | None,
    interrupt: threading.Event | None = None,
) -> Any:
    """Run ``factory(stop, interrupt)`` to completion and return its result."""
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
    thread.start()
    while thread.is_alive():
        try:
            thread.join()
        except KeyboardInterrupt:
            interrupt.set()
    if "error" in box:
        raise box["error"]
    return box["value"]


def _run_here(coroutine: Coroutine[Any, Any, Any], interrupt: threading.Event) -> Any:
    """``asyncio.run(coroutine)``, with the two-step Ctrl-C of :func:`run_blocking`."""
    if threading.current_thread() is not threading.main_thread():
        return asyncio.run(coroutine)  # no signal arrives here
    with asyncio.Runner() as runner:
        loop = runner.get_loop()
        task = loop.create_task(coroutine)

        def on_sigint(signum: int, frame: Any) -> None:
            if not interrupt.is_set():
                interrupt.set()
                print(ABANDON_HINT, file=sys.stderr, flush=True)
            else:
                loop.call_soon_threadsafe(task.cancel)

        # Installed before the runner runs, so asyncio keeps it instead of its own handler
        # (which would cancel the run, in-flight requests and all, at the first Ctrl-C).
        previous = signal.signal(signal.SIGINT, on_sigint)
        try:
            return runner.run(_await(task))
        finally:
            signal.signal(signal.SIGINT, previous)


async def _await(task: asyncio.Task[Any]) -> Any:
    return await task
