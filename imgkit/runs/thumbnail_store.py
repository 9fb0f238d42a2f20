"""Gallery thumbnails kept in a run folder, so a report decodes each image it shows once.

A report embeds a few hundred thumbnails; making one decodes a whole 1024 px image (13 ms for a
PNG, about 3.3 s of a 5,000-image report), for the same small picture every time.
``RUN/features/thumbnails-<side>.v1.jpegs`` keeps them: a 16-byte header (magic, format, side),
then one record per image: the image's SHA-256 (32 bytes), the JPEG's length (4 bytes), the
JPEG, and a CRC-32 of all three. Records vary in length, so unlike the fixed-size features
(:mod:`imgkit.runs.feature_store`) a reader walks them in order and stops at the first record
that is cut short or fails its CRC: a damaged thumbnail is never shown, and neither is any
record after it (its length cannot be trusted); those images are thumbnailed again, and the
next append cuts the file at that point first, so the file heals. Appends take an exclusive
lock and go out in one write; nothing is fsynced (every record can be made again). Opened
without following symbolic links.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import struct
import zlib
from collections.abc import Mapping
from pathlib import Path

from imgkit.runs.feature_store import FEATURES_DIR

__all__ = ["ThumbnailFile"]

_MAGIC = b"IMGKTHMB"
_FORMAT = 1
_HEADER = struct.Struct("<8sHHI")  # magic, format, side, reserved
_HEAD = struct.Struct("<32sI")  # an image's SHA-256, the JPEG's length
_CRC = struct.Struct("<I")
#: A thumbnail longer than this is not a thumbnail (a damaged length, read as such).
_LONGEST = 1 << 22


def _nofollow(flags: int) -> int:
    return flags | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


class ThumbnailFile:
    """The kept JPEG thumbnails of ``side`` pixels of one run folder's images."""

    def __init__(self, run_folder: str | os.PathLike[str], side: int) -> None:
        self.folder = Path(run_folder) / FEATURES_DIR
        self.side = int(side)
        self.path = self.folder / f"thumbnails-{self.side}.v{_FORMAT}.jpegs"
        self.header = _HEADER.pack(_MAGIC, _FORMAT, self.side, 0)

    def _scan(self, data: bytes) -> tuple[dict[str, bytes], int]:
        """The whole, undamaged records of ``data`` and where the last of them ends (0 when the
        header is not this file's)."""
        if data[: _HEADER.size] != self.header:
            return {}, 0
        found: dict[str, bytes] = {}
        view = memoryview(data)
        at = _HEADER.size
        while at + _HEAD.size + _CRC.size <= len(data):
            digest, length = _HEAD.unpack_from(view, at)
            end = at + _HEAD.size + length
            if length > _LONGEST or end + _CRC.size > len(data):
                break
            (crc,) = _CRC.unpack_from(view, end)
            if zlib.crc32(view[at:end]) != crc:
                break
            found[digest.hex()] = bytes(view[at + _HEAD.size : end])
            at = end + _CRC.size
        return found, at

    def read(self) -> dict[str, bytes]:
        """``{sha256 hex: JPEG bytes}`` of the records before the first damaged one."""
        try:
            fd = os.open(self.path, _nofollow(os.O_RDONLY))
        except OSError:
            return {}
        with os.fdopen(fd, "rb") as handle:
            data = handle.read()
        return self._scan(data)[0]

    def append(self, thumbnails: Mapping[str, bytes]) -> None:
        """Keep ``thumbnails`` (``{sha256 hex: JPEG bytes}``). Raises OSError where the folder
        is not writable (callers then go without)."""
        records = bytearray()
        for digest, jpeg in thumbnails.items():
            key = bytes.fromhex(digest)
            if len(key) != 32 or not 0 < len(jpeg) <= _LONGEST:
                raise ValueError(f"not a SHA-256 and a thumbnail: {digest!r}, {len(jpeg)} bytes")
            content = _HEAD.pack(key, len(jpeg)) + bytes(jpeg)
            records += content + _CRC.pack(zlib.crc32(content))
        if not records:
            return
        with contextlib.suppress(FileExistsError):
            os.mkdir(self.folder)
        if self.folder.is_symlink():
            raise OSError(f"{self.folder} is a symbolic link; not writing through it")
        fd = os.open(self.path, _nofollow(os.O_RDWR | os.O_CREAT), 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            size = os.fstat(fd).st_size
            data = os.pread(fd, size, 0) if size else b""
            _, end = self._scan(data)
            if end < size or end == 0:
                # Another format, a torn or damaged record: keep what is whole before it.
                os.ftruncate(fd, end)
            out = memoryview((self.header if end == 0 else b"") + bytes(records))
            at = end if end else 0
            while out:  # a short write (a signal, a nearly full disk) goes on where it stopped
                written = os.pwrite(fd, out, at)
                out, at = out[written:], at + written
        finally:
            os.close(fd)
