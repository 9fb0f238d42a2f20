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
    "clear_leftovers",
    "discard_journal",
    "discard_journals",
    "fsync_dir",
    "image_file_name",
    "read_journal",
    "sha256_file",
    "store_image",
    "write_atomic",
    "write_journal",
    "write_journals",
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
# runner writes, beside the image, a small journal entry named after the attempt that holds
# everything the commit would record; a resume adopts the image from it instead of buying it
# again. The entry is renamed into place (never half written) but not fsynced: a killed process
# leaves it in the page cache, and after a power cut the attempt is simply reported as "may
# have been billed", as it was before the journal existed. Images stored together (see
# :mod:`imgkit.runs.image_writer`) share one entry, ``.received-<first attempt>-group.json``.

_JOURNAL_PREFIX = ".received-"
_GROUP_SUFFIX = "-group.json"


def _journal_path(folder: str | os.PathLike[str], attempt_id: int) -> Path:
    return Path(folder) / f"{_JOURNAL_PREFIX}{int(attempt_id)}.json"


def write_journal(
    folder: str | os.PathLike[str], attempt_id: int, record: Mapping[str, Any]
) -> None:
    """Record that ``attempt_id``'s image is stored, with what its commit will say."""
    _write_entry(_journal_path(folder, attempt_id), dict(record))


def write_journals(
    folder: str | os.PathLike[str], records: Mapping[int, Mapping[str, Any]]
) -> Path:
    """:func:`write_journal` for several attempts at once, in one entry; returns its path (to
    remove with :func:`discard_journals` once every one of them is committed)."""
    path = Path(folder) / f"{_JOURNAL_PREFIX}{int(min(records))}{_GROUP_SUFFIX}"
    _write_entry(path, {"attempts": {str(int(k)): dict(v) for k, v in records.items()}})
    return path


def discard_journals(path: Path) -> None:
    """Every attempt of the entry :func:`write_journals` made is committed: remove it."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _write_entry(path: Path, content: Mapping[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    data = json.dumps(content, default=str).encode("utf-8")
    # Plain descriptor calls (no text layer): each system call lets go of the interpreter
    # lock, which the event loop then has to hand back, once an image for every one of them.
    # O_NOFOLLOW: a link left in the folder under this name is an error, not a write elsewhere.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
    os.replace(tmp, path)


def discard_journal(folder: str | os.PathLike[str], attempt_id: int) -> None:
    """The attempt is committed: its journal entry is no longer needed."""
    with contextlib.suppress(FileNotFoundError):
        _journal_path(folder, attempt_id).unlink()


def read_journal(folder: str | os.PathLike[str], attempt_id: int) -> dict[str, Any] | None:
    """The journal entry of ``attempt_id`` (its own, or in a group's) if it is whole and its
    image is intact, else None."""
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
    try:
        return json.loads(_journal_path(folder, attempt_id).read_text(encoding="utf-8"))
    except FileNotFoundError:
        pass
    for path in folder.glob(f"{_JOURNAL_PREFIX}*{_GROUP_SUFFIX}"):
        try:
            attempts = json.loads(path.read_text(encoding="utf-8"))["attempts"]
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a damaged entry adopts nothing
        if isinstance(attempts, dict) and str(attempt_id) in attempts:
            return attempts[str(attempt_id)]
    return None


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
