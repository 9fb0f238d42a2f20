"""Group commit for the ledger: writes that arrive together share one durable transaction.

Every ledger write is a commit that fsyncs the WAL (``synchronous=FULL``), a few milliseconds
on a busy disk. A drill's writes come in bursts: the ``sending`` rows of the requests that
start together, the results that come back together. A :class:`LedgerWriter` commits them in
groups from one thread, in the manner of a database's group commit: every write submitted in
the same turn of the event loop, and every write that queued while the previous group was
being committed, goes into the next group, one transaction (:meth:`Ledger.group`).

The crash-safety protocol of :mod:`imgkit.runs.ledger` holds as it is, because a caller's
future resolves only after the COMMIT of the group holding its write has returned:

- ``await writer.write(ledger.begin_attempt, ...)`` returns once the ``sending`` row is
  durable, so a request sent after it is always on record;
- an image stored before ``writer.write(ledger.finish_ok, ...)`` is called was durable before
  the write was even queued;
- whatever the caller does on success (progress, the budget's ``paid``) happens after the
  commit.

A group is one transaction, so a crash (``kill -9`` included) leaves all of it or none. Within
it each write is a savepoint: a write that raises on its own (a bad argument, a constraint) is
undone alone and only its caller sees its exception. When the group's transaction fails (disk
full, an I/O error, a failed COMMIT), nothing of the group is recorded and every caller in it
gets a :class:`~imgkit.errors.RunError` chained to the database's error.

:meth:`LedgerWriter.flush` waits until everything submitted before it is durable; the drill
awaits it before storing an image, so that the image's fsyncs do not compete for the disk with
the ``sending`` row that the next request is waiting on.

The :class:`Ledger`'s methods stay usable on their own, each its own transaction; the writer
only changes when they commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from imgkit.errors import RunError
from imgkit.runs.ledger import Ledger

__all__ = ["LedgerWriter"]

T = TypeVar("T")


@dataclass(eq=False)
class _Write:
    """One submitted write: what to run, and where its caller waits for the outcome."""

    action: Callable[[], Any] | None  # None: a flush, which writes nothing
    future: asyncio.Future[Any]
    result: Any = None
    error: BaseException | None = None


class LedgerWriter:
    """Runs ledger writes on one thread, committing those that arrive together as one group.

    Use from an event loop::

        writer = LedgerWriter(ledger)
        attempt_id = await writer.write(ledger.begin_attempt, gen_id, 1, estimated_usd=0.04)
        ...
        await writer.flush()  # every write submitted so far is durable
        writer.close()  # commits what is queued, then stops the thread

    A write is any callable that writes through the ledger's own methods (usually one of
    them, bound). ``ledger.commits`` counts the transactions; ``groups`` and ``writes`` count
    what this writer committed. The ledger must not be written by anyone else meanwhile.
    """

    def __init__(self, ledger: Ledger, *, thread_name: str = "imgkit-ledger") -> None:
        self.ledger = ledger
        #: groups committed, and the writes they held
        self.groups = 0
        self.writes = 0
        self._this_turn: list[_Write] = []  # touched by the event loop's thread only
        self._queue: list[_Write] = []  # handed to the writer thread, under _wakeup
        self._wakeup = threading.Condition()
        self._closing = False
        self._thread = threading.Thread(target=self._serve, name=thread_name, daemon=True)
        self._thread.start()

    # -- the event loop's side ----------------------------------------------------------------

    def submit(self, method: Callable[..., T], /, *args: Any, **kwargs: Any) -> asyncio.Future[T]:
        """Queue ``method(*args, **kwargs)``; the future resolves once it is durable.

        Call from the running event loop. The future gets the method's result, or its
        exception, or a :class:`RunError` when the group's transaction failed. Cancelling the
        future does not withdraw the write.
        """
        return self._queue_write(functools.partial(method, *args, **kwargs))

    async def write(self, method: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """``await`` form of :meth:`submit`: the method's result, once durable."""
        return await self.submit(method, *args, **kwargs)

    async def flush(self) -> None:
        """Wait until every write submitted so far, in this turn of the loop too, is durable."""
        await self._queue_write(None)

    def _queue_write(self, action: Callable[[], Any] | None) -> asyncio.Future[Any]:
        if self._closing:
            raise RunError("the ledger writer is closed")
        loop = asyncio.get_running_loop()
        write = _Write(action, loop.create_future())
        if not self._this_turn:
            # Hand over at the end of this turn, so that writes submitted together (tasks
            # woken by the same event) share a group even when the writer thread is idle.
            loop.call_soon(self._hand_over)
        self._this_turn.append(write)
        return write.future

    def _hand_over(self) -> None:
        writes, self._this_turn = self._this_turn, []
        if writes:
            with self._wakeup:
                self._queue.extend(writes)
                self._wakeup.notify()

    def close(self) -> None:
        """Commit every write submitted so far, then stop the writer thread (blocks)."""
        self._hand_over()
        with self._wakeup:
            self._closing = True
            self._wakeup.notify()
        self._thread.join()

    # -- the writer thread ----------------------------------------------------------------------

    def _serve(self) -> None:
        while True:
            with self._wakeup:
                while not self._queue and not self._closing:
                    self._wakeup.wait()
                if not self._queue:
                    return
                group, self._queue = self._queue, []
            self._commit(group)
            self._settle(group)

    def _commit(self, group: list[_Write]) -> None:
        """Run the group's writes in one transaction; record each write's outcome."""
        if all(write.action is None for write in group):
            return  # only flushes: what they wait for is already committed
        try:
            with self.ledger.group():
                for write in group:
                    if write.action is None:
                        continue
                    try:
                        write.result = write.action()
                    except Exception as exc:  # this write's own failure, undone alone
                        write.error = exc
                        if not self.ledger.in_transaction:
                            raise  # SQLite rolled the whole group back (disk full, I/O error)
        except BaseException as exc:  # the group's transaction failed: none of it is recorded
            for write in group:
                if write.error is None or write.error is exc:
                    error = RunError(f"the ledger could not commit a group of writes: {exc}")
                    error.__cause__ = exc
                    write.error = error
            return
        self.groups += 1
        self.writes += sum(write.error is None and write.action is not None for write in group)

    @staticmethod
    def _settle(group: list[_Write]) -> None:
        """Resolve the futures, on their own loops (one wake-up per loop)."""
        by_loop: dict[asyncio.AbstractEventLoop, list[_Write]] = {}
        for write in group:
            by_loop.setdefault(write.future.get_loop(), []).append(write)
        for loop, writes in by_loop.items():
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                loop.call_soon_threadsafe(_resolve, writes)


def _resolve(writes: list[_Write]) -> None:
    for write in writes:
        if write.future.done():  # cancelled by its caller; the write stands regardless
            continue
        if write.error is not None:
            write.future.set_exception(write.error)
        else:
            write.future.set_result(write.result)
