"""Files in a run folder, written and removed without following a link out of it.

A run folder is shared, copied, unpacked from an archive: a link in it (``report.html`` to a
file elsewhere, ``images`` to another folder) must not make imgkit write or delete anything
outside it. Every writer of a run folder goes through here:

- :func:`write_atomic`, :func:`open_file` and :func:`unlink` reach their file from a descriptor
  of the run folder, one folder at a time with ``O_NOFOLLOW``: a link on the way, or as the
  file written, is refused with a :class:`~imgkit.errors.RunError` naming it (a link removed
  is only the link). The run folder itself may be a link: where it lives is its owner's choice.
- :func:`escaping_links` lists the links in a run folder that lead out of it (``imgkit
  verify`` reports them), and :func:`refuse_escaping_links` is what a writer calls before it
  starts (a resume, a report), so a folder with one is refused as a whole, before anything is
  sent or written.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath

from imgkit.errors import RunError

__all__ = [
    "escaping_links",
    "folder_fd",
    "open_file",
    "refuse_escaping_links",
    "refuse_links",
    "relative_to_run",
    "unlink",
    "write_atomic",
]

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)


def _parts(relative: str | os.PathLike[str]) -> list[str]:
    parts = [p for p in PurePosixPath(os.fspath(relative)).parts if p not in ("", ".")]
    if not parts or PurePosixPath(os.fspath(relative)).is_absolute() or ".." in parts:
        raise RunError(f"{os.fspath(relative)!r} is outside the run folder: not writing it")
    return parts


def _is_link(name: str, dir_fd: int) -> bool:
    try:
        return stat.S_ISLNK(os.lstat(name, dir_fd=dir_fd).st_mode)
    except OSError:
        return False


def _refused(run: Path, parts: list[str]) -> RunError:
    where = run.joinpath(*parts)
    try:
        target = os.readlink(where)
    except OSError:
        target = "?"
    return RunError(
        f"{where} is a symbolic link (to {target}): imgkit does not write through links in a "
        "run folder; remove it (`imgkit verify` lists them)"
    )


@contextlib.contextmanager
def folder_fd(
    run: str | os.PathLike[str], relative: str | os.PathLike[str] = "", *, create: bool = False
) -> Iterator[int]:
    """A descriptor of the folder ``run/relative``, reached without following any link below
    ``run`` (``create``: making the folders missing on the way). Closed on leaving."""
    run = Path(run)
    parts = _parts(relative) if os.fspath(relative) not in ("", ".") else []
    fd = os.open(run, os.O_RDONLY | _DIRECTORY | _CLOEXEC)
    try:
        for k, part in enumerate(parts):
            try:
                child = os.open(part, os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o755, dir_fd=fd)
                child = os.open(part, os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR) and _is_link(part, fd):
                    raise _refused(run, parts[: k + 1]) from None
                raise
            os.close(fd)
            fd = child
        yield fd
    finally:
        os.close(fd)


def open_file(
    run: str | os.PathLike[str], relative: str | os.PathLike[str], flags: int, mode: int = 0o644
) -> int:
    """``os.open`` of ``run/relative`` with ``flags``, refusing a link anywhere below ``run``."""
    parts = _parts(relative)
    with folder_fd(run, PurePosixPath(*parts[:-1]) if len(parts) > 1 else "") as dir_fd:
        try:
            return os.open(parts[-1], flags | _NOFOLLOW | _CLOEXEC, mode, dir_fd=dir_fd)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.EMLINK) and _is_link(parts[-1], dir_fd):
                raise _refused(Path(run), parts) from None
            raise


def write_atomic(
    run: str | os.PathLike[str],
    relative: str | os.PathLike[str],
    data: bytes,
    *,
    durable: bool = True,
) -> Path:
    """Write ``data`` to ``run/relative`` so that a reader sees the old file or the new, never
    half: a temporary file beside it, fsync, rename over it, fsync the folder (``durable=
    False``: no fsyncs, for files that can be made again). A link on the way or in the file's
    place is refused. Returns the file's path."""
    parts = _parts(relative)
    name = parts[-1]
    parent = PurePosixPath(*parts[:-1]) if len(parts) > 1 else ""
    with folder_fd(run, parent) as dir_fd:
        if _is_link(name, dir_fd):
            raise _refused(Path(run), parts)
        tmp = f".{name}.{secrets.token_hex(6)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, 0o644,
                     dir_fd=dir_fd)  # fmt: skip
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                if durable:
                    os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=dir_fd)
            raise
        if durable:
            os.fsync(dir_fd)
    return Path(run).joinpath(*parts)


def unlink(
    run: str | os.PathLike[str], relative: str | os.PathLike[str], *, missing_ok: bool = True
) -> None:
    """Remove ``run/relative``, reached without following links (a link there is removed
    itself, never what it points to)."""
    parts = _parts(relative)
    try:
        with folder_fd(run, PurePosixPath(*parts[:-1]) if len(parts) > 1 else "") as dir_fd:
            os.unlink(parts[-1], dir_fd=dir_fd)
    except FileNotFoundError:
        if not missing_ok:
            raise


def relative_to_run(run: str | os.PathLike[str], path: str | os.PathLike[str]) -> str | None:
    """``path`` relative to the run folder when it is written as inside it (its folders not
    resolved, so a link among them is not followed out), else None."""
    run_abs = Path(os.path.abspath(run))
    path_abs = Path(os.path.abspath(path))
    try:
        return os.fspath(path_abs.relative_to(run_abs))
    except ValueError:
        pass
    # The same folder written another way (the run folder through a link of its owner's).
    with contextlib.suppress(OSError, ValueError):
        parent = path_abs.parent.resolve()
        return os.fspath((parent / path_abs.name).relative_to(run_abs.resolve()))
    return None


def escaping_links(run: str | os.PathLike[str]) -> list[tuple[PurePosixPath, str]]:
    """Each link in ``run`` (at any depth, links not followed) whose target is outside it,
    as (its path relative to ``run``, what it points to). Dangling links count when their
    target would be outside."""
    root = Path(run).resolve()
    found = []
    folders = [root]
    while folders:  # scandir's entries know whether they are links: one lstat a folder
        folder = folders.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if entry.is_symlink():
                resolved = Path(os.path.realpath(entry.path))
                if not resolved.is_relative_to(root):
                    relative = PurePosixPath(Path(entry.path).relative_to(root))
                    found.append((relative, os.readlink(entry.path)))
            elif entry.is_dir(follow_symlinks=False):
                folders.append(Path(entry.path))
    return sorted(found)


def refuse_links(folder: str | os.PathLike[str], names: Iterable[str]) -> None:
    """:class:`RunError` when one of ``names`` in ``folder`` is a link: for files opened by
    name by code that follows links (SQLite's ledger and its WAL)."""
    for name in names:
        if (Path(folder) / name).is_symlink():
            raise _refused(Path(folder), [name])


def refuse_escaping_links(run: str | os.PathLike[str], doing: str) -> None:
    """:class:`RunError` naming the links that lead out of ``run``, when there are any: a
    writer refuses such a folder before it starts (``doing`` says what was refused)."""
    links = escaping_links(run)
    if links:
        named = ", ".join(f"{path} is a link to {target}" for path, target in links[:5])
        more = f" and {len(links) - 5} more" if len(links) > 5 else ""
        raise RunError(
            f"{run} holds symbolic links that leave the run folder ({named}{more}): not "
            f"{doing} through them; remove them (`imgkit verify {run}` lists them)"
        )
