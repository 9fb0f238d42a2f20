"""Durable files in a run folder: atomic writes and the content-addressed image store.

Every write that a run's crash safety relies on goes through here: a temporary file in the same
folder, fsync, rename over the target, fsync the folder (see :mod:`imgkit.runs.ledger` for the
protocol that orders these writes against the ledger's commits).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path

from imgkit.errors import RunError

__all__ = ["IMAGES_DIR", "fsync_dir", "store_image", "write_atomic"]

#: The folder of a run that holds its images.
IMAGES_DIR = "images"


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """fsync a directory, so that a rename or a new file in it is itself durable."""
    if os.name != "posix":  # pragma: no cover - directories cannot be opened elsewhere
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` so that a reader sees the old file or the new, never half.

    Temporary file in the same folder, fsync, rename over the target, fsync the folder.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


_EXTENSIONS = {"jpeg": "jpg", "jpg": "jpg", "png": "png", "webp": "webp", "gif": "gif"}


def store_image(folder: str | os.PathLike[str], data: bytes, image_format: str) -> tuple[str, Path]:
    """Store image bytes content-addressed in ``folder``; return (sha256 hex, path).

    The file is ``<sha256>.<ext>`` in the format the service returned. A file already there
    holds the same bytes by construction and is kept, unless it is damaged (wrong hash), in
    which case it is rewritten. Durable on return (see :func:`write_atomic`).
    """
    if not data:
        raise RunError("refusing to store an empty image")
    digest = hashlib.sha256(data).hexdigest()
    ext = _EXTENSIONS.get((image_format or "").lower(), (image_format or "bin").lower())
    path = Path(folder) / f"{digest}.{ext}"
    if path.exists() and _sha256_file(path) == digest:
        return digest, path
    write_atomic(path, data)
    return digest, path


def _sha256_file(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
