"""Where the simulator keeps the bytes it serves later: on disk, in a temporary folder.

Images behind temporary URLs (DALL-E's ``response_format="url"``, Leonardo's results) live for
the URL's hour, and batch input and output files until deleted. Held in memory, a simulator
that had served a few thousand images held 1.2 GB; written to a temporary folder instead, its
memory holds only their names, sizes and expiry times, whatever a sweep sends through it. The
folder is removed when the server stops (or the process exits).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = ["BlobStore"]


class BlobStore:
    """Named byte strings kept as files in one temporary folder (made on first use).

    Thread-safe: names are unique, writes go to a temporary name and are renamed into place,
    so a reader sees a blob whole or not at all.
    """

    def __init__(self, prefix: str = "imgkit-sim-") -> None:
        self._prefix = prefix
        self._folder: Path | None = None
        self._lock = threading.Lock()
        self._finalizer: weakref.finalize | None = None

    @property
    def folder(self) -> Path:
        """The temporary folder (created now if need be)."""
        with self._lock:
            if self._folder is None:
                self._folder = Path(tempfile.mkdtemp(prefix=self._prefix))
                self._finalizer = weakref.finalize(
                    self, shutil.rmtree, str(self._folder), ignore_errors=True
                )
            return self._folder

    @staticmethod
    def new_name(prefix: str = "") -> str:
        """A fresh blob name."""
        return prefix + secrets.token_hex(12)

    def path(self, name: str) -> Path:
        """Where blob ``name`` is (it may not exist)."""
        if not name or "/" in name or name.startswith("."):
            raise ValueError(f"not a blob name: {name!r}")
        return self.folder / name

    def put(self, name: str, data: bytes) -> int:
        """Store ``data`` as ``name``; return its size."""
        with self.writer(name) as handle:
            handle.write(data)
        return len(data)

    @contextlib.contextmanager
    def writer(self, name: str) -> Iterator[BinaryIO]:
        """Write blob ``name`` piece by piece; it appears whole when the block ends (and not
        at all when it raises)."""
        final = self.path(name)
        partial = final.with_name(f".{name}.part")
        handle = open(partial, "wb")  # noqa: SIM115 - closed below, whatever happens
        try:
            yield handle
            handle.close()
            os.replace(partial, final)
        except BaseException:
            handle.close()
            with contextlib.suppress(OSError):
                partial.unlink()
            raise

    def exists(self, name: str) -> bool:
        return self.path(name).is_file()

    def size(self, name: str) -> int:
        return self.path(name).stat().st_size

    def read(self, name: str) -> bytes:
        """The whole blob (for small ones: an input file is read line by line instead)."""
        return self.path(name).read_bytes()

    def delete(self, name: str) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.path(name).unlink()

    def disk_bytes(self) -> int:
        """Bytes held on disk right now (for the stats)."""
        if self._folder is None:
            return 0
        total = 0
        for entry in os.scandir(self._folder):
            with contextlib.suppress(OSError):
                total += entry.stat().st_size
        return total

    def close(self) -> None:
        """Remove the folder and everything in it."""
        if self._finalizer is not None:
            self._finalizer()
        with self._lock:
            self._folder = None
            self._finalizer = None
