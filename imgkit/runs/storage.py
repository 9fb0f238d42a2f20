"""Durable files in a run folder: atomic writes and the content-addressed image store.

Every write that a run's crash safety relies on goes through here: a temporary file in the same
folder, fsync, rename over the target, fsync the folder (see :mod:`imgkit.runs.ledger` for the
protocol that orders these writes against the ledger's commits).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from imgkit.errors import RunError

__all__ = [
    "IMAGES_DIR",
    "JOURNAL_LOG",
    "JournalLog",
    "clear_leftovers",
    "fsync_dir",
    "image_file_name",
    "read_journal",
    "sha256_file",
    "store_image",
    "write_atomic",
]

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


def image_file_name(digest: str, image_format: str | None) -> str:
    """The name an image of that SHA-256 and format is stored under: ``<sha256>.<ext>``."""
    ext = _EXTENSIONS.get((image_format or "").lower(), (image_format or "bin").lower())
    return f"{digest}.{ext}"


def store_image(folder: str | os.PathLike[str], data: bytes, image_format: str) -> tuple[str, Path]:
    """Store image bytes content-addressed in ``folder``; return (sha256 hex, path).

    The file is ``<sha256>.<ext>`` in the format the service returned. A file already there
    holds the same bytes by construction and is kept, unless it is damaged (wrong hash), in
    which case it is rewritten. Durable on return (see :func:`write_atomic`).
    """
    if not data:
        raise RunError("refusing to store an empty image")
    digest = hashlib.sha256(data).hexdigest()
    path = Path(folder) / image_file_name(digest, image_format)
    if path.exists() and sha256_file(path) == digest:
        return digest, path
    write_atomic(path, data)
    return digest, path


def sha256_file(path: Path) -> str:
    """The SHA-256 of a file, hex."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


# -- the received-image journal ---------------------------------------------------------------
#
# Between an image reaching the disk and its attempt being committed ``ok`` there is a window in
# which a kill leaves a paid-for image that the ledger does not know. So before the commit the
# runner notes, beside the image, everything the commit would record; a resume adopts the image
# from it instead of buying it again. The notes are not fsynced: a killed process leaves them in
# the page cache, and after a power cut the attempt is simply reported as "may have been
# billed", as it was before the journal existed.
#
# A runner appends them to one file, ``.received-log.jsonl``: a line for each group of images
# stored together (see :mod:`imgkit.runs.image_writer`), written by one ``write``, and cut back
# to nothing whenever every attempt in it is committed. A file for each group, created and
# removed again a moment later, cost more than the rest of storing an image: ext4 skips inodes
# deleted in the last few seconds when it allocates one, and at the runner's pace each new file
# scanned past hundreds of them (0.2-0.5 ms of system time an image). A line cut short by a kill
# belongs to images whose callers were never told they were stored; it is skipped. Runs written
# by earlier versions left a file for each entry (``.received-<attempt>.json``,
# ``.received-<first attempt>-group.json``); those are read too.

_JOURNAL_PREFIX = ".received-"
_GROUP_SUFFIX = "-group.json"
JOURNAL_LOG = _JOURNAL_PREFIX + "log.jsonl"


def _journal_path(folder: str | os.PathLike[str], attempt_id: int) -> Path:
    return Path(folder) / f"{_JOURNAL_PREFIX}{int(attempt_id)}.json"


class JournalLog:
    """The journal of one runner's images folder: :meth:`append` a group's records before
    their commit, :meth:`committed` each attempt after it. Use from one thread."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.path = Path(folder) / JOURNAL_LOG
        self._fd: int | None = None
        self._pending: set[int] = set()

    def append(self, records: Mapping[int, Mapping[str, Any]]) -> None:
        """Note that these attempts' images are stored, with what their commits will say."""
        line = json.dumps(
            {"attempts": {str(int(k)): dict(v) for k, v in records.items()}}, default=str
        ).encode("utf-8")
        if self._fd is None:
            # O_NOFOLLOW: a link left in the folder under this name is an error, not a write
            # elsewhere. O_APPEND: each line lands at the end, after a cut-back too.
            flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0)
            self._fd = os.open(self.path, flags, 0o644)
        view = memoryview(line + b"\n")
        while view:
            view = view[os.write(self._fd, view) :]
        self._pending.update(int(k) for k in records)

    def committed(self, attempt_id: int) -> None:
        """The attempt is in the ledger; once none in the file is waiting, the file is cut
        back to nothing (the same inode: no file is created or removed)."""
        self._pending.discard(int(attempt_id))
        if not self._pending and self._fd is not None:
            os.ftruncate(self._fd, 0)

    def close(self) -> None:
        """Close the file; removed when nothing in it is waiting for its commit."""
        if self._fd is None:
            return
        os.close(self._fd)
        self._fd = None
        if not self._pending:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()


def read_journal(folder: str | os.PathLike[str], attempt_id: int) -> dict[str, Any] | None:
    """The journal record of ``attempt_id`` (in the log, or an entry of an earlier version's)
    if it is whole and its image is intact, else None."""
    try:
        record = _journal_record(Path(folder), int(attempt_id))
        if record is None:
            return None
        image = Path(folder) / str(record["image_file"])
        if image.parent != Path(folder) or sha256_file(image) != record["image_sha256"]:
            return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return record


def _journal_record(folder: Path, attempt_id: int) -> dict[str, Any] | None:
    key = str(attempt_id)
    try:
        lines = (folder / JOURNAL_LOG).read_bytes().splitlines()
    except FileNotFoundError:
        lines = []
    for line in reversed(lines):  # the latest note of an attempt wins
        attempts = _attempts_of(line)
        if attempts is not None and key in attempts:
            return attempts[key]
    try:
        return json.loads(_journal_path(folder, attempt_id).read_text(encoding="utf-8"))
    except FileNotFoundError:
        pass
    for path in folder.glob(f"{_JOURNAL_PREFIX}*{_GROUP_SUFFIX}"):
        try:
            attempts = _attempts_of(path.read_bytes())
        except OSError:
            continue
        if attempts is not None and key in attempts:
            return attempts[key]
    return None


def _attempts_of(entry: bytes) -> dict[str, Any] | None:
    """The ``attempts`` of one journal entry; None for one cut short or damaged (it adopts
    nothing)."""
    try:
        attempts = json.loads(entry)["attempts"]
    except (ValueError, KeyError, TypeError):
        return None
    return attempts if isinstance(attempts, dict) else None


def clear_leftovers(folder: str | os.PathLike[str]) -> int:
    """Remove what a killed runner left in the images folder: half-written temporary files and
    journal entries. Call only with the run folder locked, after adopting what can be adopted.
    Returns how many files were removed."""
    removed = 0
    for path in Path(folder).iterdir():
        if path.name.endswith(".tmp") or path.name.startswith(_JOURNAL_PREFIX):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed += 1
    return removed
