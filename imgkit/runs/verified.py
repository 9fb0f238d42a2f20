"""Which images of a run folder were last found to hold their recorded bytes, so that checking
them again hashes only the files that changed since (as git's index does for a work tree).

``to_frame(verify=True)`` (every report) checks each image against the SHA-256 its ledger
records: for 5,000 images of 1024 px, 1.3 GB read and digested, 1.8 s of CPU, on every report.
``RUN/features/verified.v1.json`` keeps, per image file, the digest it was found to have and
the file's ``(size, mtime_ns, ctime_ns, inode, device)`` at the time; a file whose stat is
unchanged is not read again, any other is hashed as before.

Why that catches a changed image: writing a file's bytes sets its ctime to the current time,
and so does setting its mtime back (``os.utime``, ``touch -d``); no call lets a user set the
ctime itself. So an image rewritten in place with the same size and its old mtime, or replaced
by another file (another inode), has another stat and is hashed again. Two caveats, as in git:

* "racily clean" files: a file written within the clock tick in which it was recorded could
  change again with the same times. An entry whose mtime or ctime is not at least
  :data:`RACY_NS` older than the record file itself (written after the entry; the file
  system's own clock, so a skewed network clock does not matter) is not trusted: it is hashed.
* it guards against accidents and ordinary tools, not against someone who can write the run
  folder at will (they could rewrite the ledger too; ``imgkit verify`` re-hashes everything).

A record that cannot be read or parsed is ignored whole (every image is hashed); writing one
that fails (a read-only run folder) is skipped: it only saves time. Written through
:mod:`imgkit.runs.confined` (no link followed), atomically, not fsynced (it can be made again).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from imgkit.errors import RunError
from imgkit.runs import confined

__all__ = ["RACY_NS", "VERIFIED_FILE", "VerifiedImages"]

#: The record, relative to the run folder (beside the kept features: made again at will).
VERIFIED_FILE = "features/verified.v1.json"
_FORMAT = 1
#: An entry whose file changed less than this before the record was written is hashed again.
RACY_NS = 2_000_000_000

_Stat = tuple[int, int, int, int, int]


def _stat_key(st: os.stat_result) -> _Stat:
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


def _digest(path: Path) -> tuple[str, _Stat | None]:
    """The file's SHA-256 and its stat, or None for the stat when the file changed while it was
    read (then its digest is not recorded)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as handle:
        before = _stat_key(os.fstat(handle.fileno()))
        digest = hashlib.file_digest(handle, "sha256").hexdigest()
        after = _stat_key(os.fstat(handle.fileno()))
    return digest, before if before == after else None


class VerifiedImages:
    """The verified-image record of one run folder: :meth:`matches` answers whether an image
    file holds the recorded digest (hashing it unless its stat is as recorded), :meth:`save`
    keeps what was learnt."""

    def __init__(self, run: str | os.PathLike[str]) -> None:
        self.run = Path(run)
        self._known: dict[str, list[Any]] = self._load()
        self._changed = False
        #: Files read and digested by :meth:`matches` (the rest were known).
        self.hashed = 0

    def _load(self) -> dict[str, list[Any]]:
        try:
            fd = confined.open_file(self.run, VERIFIED_FILE, os.O_RDONLY)
        except (OSError, RunError):  # none yet, or a link planted in its place: not followed
            return {}
        try:
            with os.fdopen(fd, "rb") as handle:
                written = os.fstat(handle.fileno()).st_mtime_ns
                record = json.loads(handle.read())
        except (OSError, ValueError):
            return {}
        if not isinstance(record, dict) or record.get("format") != _FORMAT:
            return {}
        images = record.get("images")
        if not isinstance(images, dict):
            return {}
        settled = written - RACY_NS
        known = {}
        for name, entry in images.items():
            if (
                isinstance(entry, list)
                and len(entry) == 6
                and isinstance(entry[0], str)
                and all(isinstance(v, int) for v in entry[1:])
                and max(entry[2], entry[3]) < settled
            ):
                known[name] = entry
        return known

    def matches(self, path: Path, sha256: str) -> bool:
        """Whether the file at ``path`` (a resolved image of the run) holds ``sha256``."""
        name = path.name
        entry = self._known.get(name)
        if entry is not None:
            try:
                current = _stat_key(os.stat(path))
            except OSError:
                current = None
            if current is not None and entry == [sha256, *current]:
                return True
        self.hashed += 1
        digest, stat = _digest(path)
        if digest == sha256 and stat is not None:
            self._known[name] = [sha256, *stat]
            self._changed = True
        elif self._known.pop(name, None) is not None:
            self._changed = True
        return digest == sha256

    def save(self) -> None:
        """Write the record when it changed; a run folder that cannot be written is left as is."""
        if not self._changed:
            return
        text = json.dumps({"format": _FORMAT, "images": self._known}, sort_keys=True)
        with contextlib.suppress(OSError, RunError):
            with confined.folder_fd(self.run, "features", create=True):
                pass
            confined.write_atomic(self.run, VERIFIED_FILE, text.encode("utf-8"), durable=False)
        self._changed = False
