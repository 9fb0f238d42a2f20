"""Per-image features kept in a run folder, so an image is decoded and measured once.

``RUN/features/<measure>.v<version>.feat`` holds, for one measure (a hash kind and size, or a
network), one fixed-size record per image: the image's SHA-256 (32 bytes), the feature's bytes
(a hash's hex digits, or a network's float32 vector), and a CRC-32 of both. A 64-byte header
names the measure, its version and the record size.

Why this shape: records are appended, never rewritten, so a kill at any instant leaves every
earlier record whole and at most one partial record at the end, which readers ignore (and the
next writer cuts off). The CRC catches a record damaged any other way; a damaged, missing or
mismatched record is never trusted, its image is measured again. A file whose header does not
match the measure it is named for is ignored and replaced. Appends take an exclusive lock on
the file and go out in one write, so a report and a drill measuring the same run at once
interleave whole records. Nothing here is fsynced: every record can be made again from its
image, and the CRC covers what a power cut could tear.

Files are opened without following symbolic links: a link planted in a run folder cannot make
imgkit write outside it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import struct
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

__all__ = ["FEATURES_DIR", "FeatureFile", "feature_file_name", "features_bytes"]

#: The folder of a run that holds its kept features.
FEATURES_DIR = "features"

_MAGIC = b"IMGKFEAT"
_FORMAT = 1
_HEADER = struct.Struct("<8sHHI48s")  # magic, format, reserved, payload bytes, key (utf-8)
_DIGEST = 32
_CRC = struct.Struct("<I")


def feature_file_name(key: str) -> str:
    """The file a measure's features go in: ``"efficientnet-lite0/1"`` -> ``"efficientnet-
    lite0.v1.feat"``."""
    name, _, version = key.partition("/")
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
    return f"{safe}.v{version or '0'}.feat"


def _nofollow(flags: int) -> int:
    return flags | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


class FeatureFile:
    """The kept features of one measure in one run folder.

    ``key`` is the measure's name and version (``Measure.feature_key``), ``payload`` the size of
    one feature in bytes. Missing folders and files read as empty.
    """

    def __init__(self, run_folder: str | os.PathLike[str], key: str, payload: int) -> None:
        if len(key.encode("utf-8")) > 48:
            raise ValueError(f"feature key {key!r} is longer than 48 bytes")
        self.folder = Path(run_folder) / FEATURES_DIR
        self.path = self.folder / feature_file_name(key)
        self.key = key
        self.payload = int(payload)
        self.header = _HEADER.pack(_MAGIC, _FORMAT, 0, self.payload, key.encode("utf-8"))
        self.record = _DIGEST + self.payload + _CRC.size

    # ----------------------------------------------------------------------------- reading

    def _open_read(self) -> bytes | None:
        try:
            fd = os.open(self.path, _nofollow(os.O_RDONLY))
        except OSError:
            return None
        with os.fdopen(fd, "rb") as handle:
            return handle.read()

    def read(self) -> dict[str, bytes]:
        """``{sha256 hex: feature bytes}`` of every whole, undamaged record (the last one of an
        image wins). A file of another measure or format reads as empty."""
        data = self._open_read()
        if not data or data[: _HEADER.size] != self.header:
            return {}
        body = memoryview(data)[_HEADER.size :]
        whole = len(body) // self.record
        if not whole:
            return {}
        records = np.frombuffer(body[: whole * self.record], dtype=np.uint8).reshape(
            whole, self.record
        )
        found: dict[str, bytes] = {}
        for row in records:
            raw = row.tobytes()
            content, (crc,) = raw[: -_CRC.size], _CRC.unpack(raw[-_CRC.size :])
            if zlib.crc32(content) == crc:
                found[content[:_DIGEST].hex()] = content[_DIGEST:]
        return found

    # ----------------------------------------------------------------------------- writing

    def _records(self, features: Mapping[str, bytes]) -> bytes:
        out = bytearray()
        for digest, value in features.items():
            if len(value) != self.payload:
                raise ValueError(f"feature of {len(value)} bytes, expected {self.payload}")
            try:
                key = bytes.fromhex(digest)
            except (TypeError, ValueError):
                key = b""
            if len(key) != _DIGEST:
                raise ValueError(f"{digest!r} is not a SHA-256 in hex")
            content = key + bytes(value)
            out += content + _CRC.pack(zlib.crc32(content))
        return bytes(out)

    def append(self, features: Mapping[str, bytes]) -> None:
        """Keep ``features`` (``{sha256 hex: bytes}``). Raises OSError where the folder is not
        writable (callers measure in memory then)."""
        if not features:
            return
        records = self._records(features)
        with contextlib.suppress(FileExistsError):
            os.mkdir(self.folder)
        if self.folder.is_symlink():
            raise OSError(f"{self.folder} is a symbolic link; not writing through it")
        fd = os.open(self.path, _nofollow(os.O_RDWR | os.O_CREAT | os.O_APPEND), 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            size = os.fstat(fd).st_size
            head = os.pread(fd, _HEADER.size, 0) if size >= _HEADER.size else b""
            if head != self.header:
                # Empty, another measure's, an older format, or torn: start it afresh.
                os.ftruncate(fd, 0)
                size = 0
            elif (size - _HEADER.size) % self.record:
                # A record cut short by a kill: drop the torn tail before adding whole ones.
                size = _HEADER.size + (size - _HEADER.size) // self.record * self.record
                os.ftruncate(fd, size)
            data = memoryview((self.header if size == 0 else b"") + records)
            while data:  # a short write (a signal, a nearly full disk) goes on where it stopped
                data = data[os.write(fd, data) :]
        finally:
            os.close(fd)


def features_bytes(values: Iterable[np.ndarray]) -> list[bytes]:
    """Float vectors as the little-endian float32 bytes a :class:`FeatureFile` keeps."""
    return [np.ascontiguousarray(v, dtype="<f4").tobytes() for v in values]
