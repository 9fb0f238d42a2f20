"""Group storage for a run's images: the images that arrive together share one hand-over and
one fsync of their folder.

Storing an image durably is: write it under a temporary name, fsync it, rename it to
``<sha256>.<ext>``, fsync the folder (:func:`imgkit.runs.storage.store_image`); then, before its
attempt is committed, a journal entry beside it (see :mod:`imgkit.runs.storage`). Done one image
at a time in a pool of threads, each image cost two hand-overs between the event loop and a
thread and its own fsync of the folder: at zero latency most of the runner's own CPU time per
image. An :class:`ImageWriter` does the same steps on one thread for every image queued since its
last group, the way :class:`imgkit.runs.ledger_writer.LedgerWriter` groups commits: each image
is written, then each fsynced, all are renamed, the folder is fsynced once, then one journal
line is appended for them all; then their callers are woken together.

The protocol of :mod:`imgkit.runs.ledger` is unchanged: a caller hears that its image is stored
only once the image and the folder entry naming it are durable and its journal line is
written, so the commit it makes next still follows both. The journal
(:class:`imgkit.runs.storage.JournalLog`) is cut back once every attempt in it is committed
(:meth:`ImageWriter.discard_journal`, done with the next group): one left behind by a kill
holds attempts the ledger already has or a resume adopts, and the resume clears it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imgkit.errors import RunError
from imgkit.runs.storage import JournalLog, fsync_dir, image_file_name, sha256_file

#: Never through a link: a name taken by one is an error, not a write elsewhere.
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)

__all__ = ["ImageWriter"]

#: ``record(sha256, file name)`` -> the journal entry of an image (what its commit will say).
RecordMaker = Callable[[str, str], Mapping[str, Any]]


@dataclass(eq=False)
class _Image:
    data: bytes
    image_format: str
    attempt_id: int | None
    make_record: RecordMaker | None
    future: asyncio.Future[Any]
    outcome: Any = None
    error: BaseException | None = None


class ImageWriter:
    """Stores images into one folder from one thread, in groups; use from an event loop::

        writer = ImageWriter(run_path / "images")
        sha, path, record = await writer.keep(data, "png", attempt_id, make_record)
        ...  # commit the attempt with ``record``
        writer.discard_journal(attempt_id)
        writer.close()  # stores what is queued, then stops the thread

    ``groups`` and ``images`` count what it stored.
    """

    def __init__(self, folder: str | os.PathLike[str], *, thread_name: str = "imgkit-images"):
        self.folder = Path(folder)
        if self.folder.is_symlink():
            # Every image would go wherever the link leads (a resume refuses such a folder
            # first; this is the writer's own guard).
            raise RunError(
                f"{self.folder} is a symbolic link (to {os.readlink(self.folder)}): imgkit "
                "does not write through links in a run folder"
            )
        self.groups = 0
        self.images = 0
        self._this_turn: list[_Image] = []  # touched by the event loop's thread only
        self._queue: list[_Image] = []  # handed to the writer thread, under _wakeup
        self._discards: list[int] = []
        self._wakeup = threading.Condition()
        self._closing = False
        self._names = itertools.count()
        self._journal = JournalLog(self.folder)  # touched by the writer thread only
        self._thread = threading.Thread(target=self._serve, name=thread_name, daemon=True)
        self._thread.start()

    # -- the event loop's side ------------------------------------------------------------------

    def keep(
        self,
        data: bytes,
        image_format: str,
        attempt_id: int | None = None,
        make_record: RecordMaker | None = None,
    ) -> asyncio.Future[tuple[str, Path, Mapping[str, Any] | None]]:
        """Queue an image; the future gives ``(sha256, path, journal record)`` once the image
        is durable and, with ``attempt_id`` and ``make_record``, its journal line written
        (the record is None without them). Its exception is an ``OSError`` when the image or
        its entry could not be written, a :class:`RunError` for an empty image."""
        if self._closing:
            raise RunError("the image writer is closed")
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        if not self._this_turn:
            # Handed over at the end of this turn of the loop, so that the images of tasks
            # woken together share a group even when the thread is idle.
            loop.call_soon(self._hand_over)
        self._this_turn.append(_Image(data, image_format, attempt_id, make_record, future))
        return future

    def _hand_over(self) -> None:
        images, self._this_turn = self._this_turn, []
        if images:
            with self._wakeup:
                self._queue.extend(images)
                self._wakeup.notify()

    def discard_journal(self, attempt_id: int) -> None:
        """The attempt is committed: it no longer needs its journal line (the journal is cut
        back, with the next group, once no attempt in it waits)."""
        with self._wakeup:
            self._discards.append(attempt_id)

    def close(self) -> None:
        """Store every image queued so far, remove the journal entries discarded, then stop
        the thread (blocks)."""
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
                group, self._queue = self._queue, []
                discards, self._discards = self._discards, []
            for attempt_id in discards:
                self._discard(attempt_id)
            if not group:
                with contextlib.suppress(OSError):
                    self._journal.close()
                return  # closing, and nothing left
            self._store(group)
            self._settle(group)

    def _discard(self, attempt_id: int) -> None:
        """One attempt of the journal committed; the journal is cut back once none waits."""
        with contextlib.suppress(OSError):
            self._journal.committed(attempt_id)

    def _store(self, group: list[_Image]) -> None:
        # Every file written first, then each fsynced: the first fsync commits the file
        # system's journal for them all, and the others find little left to do.
        pending: list[tuple[_Image, str, Path, Path | None, int | None]] = []
        for image in group:
            try:
                pending.append((image, *self._write(image)))
            except (OSError, RunError) as exc:
                image.error = exc
        renamed = []
        for image, sha, path, tmp, fd in pending:
            try:
                if fd is not None and tmp is not None:
                    try:
                        os.fsync(fd)
                    finally:
                        os.close(fd)
                    os.replace(tmp, path)
                image.outcome = (sha, path, None)
                renamed.append(image)
            except OSError as exc:
                image.error = exc
                if tmp is not None:
                    with contextlib.suppress(OSError):
                        os.unlink(tmp)
        if renamed:
            try:
                fsync_dir(self.folder)  # every rename of the group made durable at once
            except OSError as exc:
                for image in renamed:
                    image.error = exc
                renamed = []
        journalled = {}
        for image in renamed:
            sha, path, _ = image.outcome
            if image.attempt_id is not None and image.make_record is not None:
                try:
                    record = image.make_record(sha, path.name)
                except Exception as exc:  # the caller's own bug: its error, not the thread's
                    image.error = exc
                    continue
                image.outcome = (sha, path, record)
                journalled[image.attempt_id] = record
        if journalled:
            try:
                self._journal.append(journalled)  # one line for the group
            except OSError as exc:
                for image in renamed:
                    if image.attempt_id in journalled:
                        image.error = exc
        self.groups += 1
        self.images += sum(image.error is None for image in group)

    def _write(self, image: _Image) -> tuple[str, Path, Path | None, int | None]:
        """Write one image under a temporary name; return (sha256, its content path, the
        temporary path, the open descriptor), the last two None when an intact file of that
        content is already there."""
        if not image.data:
            raise RunError("refusing to store an empty image")
        digest = hashlib.sha256(image.data).hexdigest()
        path = self.folder / image_file_name(digest, image.image_format)
        if path.exists() and sha256_file(path) == digest:
            return digest, path, None, None
        # One runner holds the folder: the thread's own counter makes the name unique.
        tmp = self.folder / f".{path.name}.{os.getpid()}-{next(self._names)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o644)
        try:
            view = memoryview(image.data)
            while view:
                view = view[os.write(fd, view) :]
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return digest, path, tmp, fd

    @staticmethod
    def _settle(group: list[_Image]) -> None:
        """Resolve the futures, on their own loops (one wake-up per loop)."""
        by_loop: dict[asyncio.AbstractEventLoop, list[_Image]] = {}
        for image in group:
            by_loop.setdefault(image.future.get_loop(), []).append(image)
        for loop, images in by_loop.items():
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                loop.call_soon_threadsafe(_resolve, images)


def _resolve(images: list[_Image]) -> None:
    for image in images:
        if image.future.done():  # cancelled by its caller; the image is stored regardless
            continue
        if image.error is not None:
            image.future.set_exception(image.error)
        else:
            image.future.set_result(image.outcome)
