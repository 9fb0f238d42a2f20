"""Creating a run folder so that it appears whole or not at all.

A run folder is prepared under a hidden name in the same parent folder (``.<run_id>.<random>.
starting``): images folder, manifest, ledger with its schema and the whole plan. Only then is it
renamed to its real name, an atomic step. A start killed at any instant before the rename leaves
no run folder, only the hidden one, which the next start in the same parent folder removes (its
lock is free once its runner is dead). A start killed after the rename leaves a complete plan
that a resume finishes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from imgkit.errors import RunError, ValidationError
from imgkit.experiment.options import check_run_name
from imgkit.runs.ledger import Ledger, PlannedGeneration
from imgkit.runs.lock import FolderLock
from imgkit.runs.manifest import write_manifest
from imgkit.runs.storage import IMAGES_DIR, fsync_dir, write_atomic

__all__ = ["clear_abandoned_starts", "create_run_folder"]

_STARTING_SUFFIX = ".starting"


def clear_abandoned_starts(parent: Path) -> int:
    """Remove hidden folders of starts that died before their run appeared; return how many."""
    removed = 0
    for entry in parent.glob(f".*{_STARTING_SUFFIX}"):
        if not entry.is_dir():
            continue
        try:
            lock = FolderLock(entry)
        except (RunError, OSError):
            continue  # a start in progress: leave it alone
        with lock:
            shutil.rmtree(entry, ignore_errors=True)
        removed += 1
    return removed


def create_run_folder(
    parent: str | os.PathLike[str],
    run_id: str,
    manifest: Mapping[str, Any],
    plan: Iterable[PlannedGeneration],
    files: Mapping[str, bytes] | None = None,
) -> Ledger:
    """Create ``parent/run_id`` with its manifest, ledger and plan, atomically; return its
    ledger, open for writing and holding the folder's lock. ``files`` ({name: content}) are
    written into the folder too, before it appears (the run's ``sweep.toml``).

    :class:`~imgkit.errors.RunError` when the folder exists already,
    :class:`~imgkit.errors.ValidationError` (parameter ``out``) when ``parent`` cannot be
    created or written; in either case nothing is left behind.
    """
    parent = Path(parent)
    final = parent / check_run_name(run_id)
    try:
        parent.mkdir(parents=True, exist_ok=True)
        clear_abandoned_starts(parent)
        if final.exists():
            raise RunError(f"{final} already exists: choose another run name or resume it")
        staging = Path(tempfile.mkdtemp(prefix=f".{run_id}.", suffix=_STARTING_SUFFIX, dir=parent))
    except OSError as exc:
        raise ValidationError(
            "out", str(parent), "a folder imgkit can create and write to", detail=str(exc)
        ) from None
    lock = FolderLock(staging)
    try:
        (staging / IMAGES_DIR).mkdir()
        write_manifest(staging, manifest)
        for name, content in (files or {}).items():
            write_atomic(staging / check_run_name(name), content)
        ledger = Ledger.create(staging, lock=lock)
        try:
            ledger.add_plan(plan)
        finally:
            ledger.detach()  # closes the database, keeps the lock
        fsync_dir(staging)
        try:
            # Onto an existing non-empty folder (a race with another start of the same name)
            # this fails; the folder was checked just above, so that is the only way it can.
            os.rename(staging, final)
        except OSError:
            raise RunError(
                f"{final} already exists: choose another run name or resume it"
            ) from None
        fsync_dir(parent)
        lock.moved_to(final)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            shutil.rmtree(staging)
        lock.release()
        if isinstance(exc, OSError):
            raise ValidationError(
                "out", str(parent), "a folder imgkit can create and write to", detail=str(exc)
            ) from None
        raise
    return Ledger.open(final, writer=True, lock=lock)
