"""Exclusive use of a run folder: one runner at a time, whatever happens to the files in it.

The lock is ``flock`` on the run folder itself (its directory file descriptor), held for as long
as a runner writes the folder. Three properties follow, each of which a lock *file* lacks:

- deleting a file in the folder cannot release it (on 0.1, deleting ``run.lock`` let a second
  resume run beside the first and pay for 16 images twice);
- a runner killed with ``kill -9`` releases it at once (the kernel closes its descriptors);
- renaming the folder keeps it (the lock belongs to the directory, not to its path), which is
  how a new run is prepared under a hidden name and made visible whole.

The ledger's own file is never locked this way: SQLite holds POSIX locks on it, and a process
that opened and closed a second descriptor on that file would drop them.

On systems without ``fcntl`` (Windows) a folder is not locked against a second runner.
"""

from __future__ import annotations

import os
from pathlib import Path

from imgkit.errors import RunError

try:
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

__all__ = ["FolderLock"]


class FolderLock:
    """An exclusive, non-blocking lock on a run folder; :meth:`release` (or exit) frees it."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self._fd: int | None = os.open(self.folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        if fcntl is None:  # pragma: no cover
            return
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            self._fd = None
            raise RunError(f"run folder {self.folder} is in use by another runner") from None

    def moved_to(self, folder: str | os.PathLike[str]) -> None:
        """The locked folder was renamed to ``folder`` (the lock stays held)."""
        self.folder = Path(folder)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None

    def __enter__(self) -> FolderLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    @staticmethod
    def is_held(folder: str | os.PathLike[str]) -> bool:
        """Whether some runner (in this process or another) holds ``folder``."""
        if fcntl is None:  # pragma: no cover
            return False
        try:
            fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # also releases the probe's own lock when it got one
        return False
