"""Bounds on the files a sweep reads, and where they may be.

Sweep files travel: a CI recipe, a pull request, a colleague's folder. Whoever runs one should
not find that it read a file of theirs elsewhere (``[prompts] file = "/etc/shadow"`` would send
its lines as prompts and copy them into the run folder), took the machine's memory, or never
answered. So every sweep and prompt file is read here: a regular file (a FIFO or a device
would block or never end), no larger than its limit, and a path written in a sweep file must
resolve inside that file's folder, links followed, unless the user allows another folder on
the command line (``--allow-path DIR``; Python: ``allow_paths=[DIR]``).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path

from imgkit.errors import SweepFileError, ValidationError

__all__ = [
    "MAX_NESTING",
    "MAX_PROMPT_FILE_BYTES",
    "MAX_SWEEP_BYTES",
    "MAX_SWEEP_ELEMENTS",
    "confined_path",
    "read_bounded_text",
]

#: The largest sweep file read: sweeps are a page or two; prompts in bulk go in prompt files.
MAX_SWEEP_BYTES = 1 << 20
#: The largest prompt file read (50,000 prompts of 300 characters fit).
MAX_PROMPT_FILE_BYTES = 16 << 20
#: The most values (tables, lists, strings, numbers) one sweep file may hold.
MAX_SWEEP_ELEMENTS = 100_000
#: The deepest nesting of tables and lists in a sweep file (a real sweep uses four or five).
MAX_NESTING = 32


def _size(count: int) -> str:
    return (
        f"{count:,} bytes" if count < 1 << 20 else f"{count / (1 << 20):.0f} MiB ({count:,} bytes)"
    )


def read_bounded_text(path: str | os.PathLike[str], limit: int, what: str, encoding: str) -> str:
    """The text of ``path``, a regular file of at most ``limit`` bytes; else
    :class:`SweepFileError` naming the file and the limit. ``what`` names the kind of file
    in the message ("sweep file", "prompt file")."""
    name = os.fspath(path)
    if "\x00" in name:
        raise SweepFileError(name.replace("\x00", "\\x00"), "is not a path (it holds a NUL)")
    try:
        # O_NONBLOCK: opening a FIFO for reading would wait for a writer forever.
        fd = os.open(name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise SweepFileError(name, f"cannot be read ({type(exc).__name__}: {exc})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SweepFileError(name, f"is not a regular file: a {what} must be one")
        if info.st_size > limit:
            raise SweepFileError(
                name, f"is {_size(info.st_size)}, over the limit of {_size(limit)} for a {what}"
            )
        chunks = []
        left = limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
    except OSError as exc:
        raise SweepFileError(name, f"cannot be read ({type(exc).__name__}: {exc})") from None
    finally:
        os.close(fd)
    if len(data) > limit:  # it grew while being read
        raise SweepFileError(name, f"is over the limit of {_size(limit)} for a {what}")
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise SweepFileError(name, f"cannot be read as UTF-8 text ({exc})") from None


def confined_path(
    param: str, written: str, base: Path, allowed: Iterable[str | os.PathLike[str]] = ()
) -> Path:
    """``written`` (a path from a sweep file, relative to its folder ``base``) as an absolute
    path, if it resolves inside ``base`` or one of the ``allowed`` folders (links followed);
    else :class:`ValidationError` naming ``param`` and how to allow it."""
    if "\x00" in written:
        raise ValidationError(param, written, "a path (without NUL characters)")
    path = Path(written).expanduser()
    full = path if path.is_absolute() else base / path
    try:
        real = full.resolve()
    except (OSError, RuntimeError) as exc:  # a loop of links, a name too long
        raise ValidationError(param, written, "a path that resolves", detail=str(exc)) from None
    roots: Sequence[Path] = [base.resolve(), *(Path(a).expanduser().resolve() for a in allowed)]
    if any(real.is_relative_to(root) for root in roots):
        return Path(os.path.normpath(full))
    raise ValidationError(
        param,
        written,
        f"a path inside the sweep file's folder {base}",
        detail=f"it resolves to {real}, outside it; a sweep file reads and writes only beside "
        "itself unless you allow a folder on the command line: --allow-path DIR (Python: "
        "allow_paths=[DIR])",
    )
