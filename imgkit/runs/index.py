"""The run index: every run folder under a folder, one line each, read quickly.

``imgkit runs [DIR]`` prints it and :func:`run_index` returns it as a DataFrame. It must stay
quick with hundreds of runs, so each folder costs one small JSON file and two aggregate queries
on its ledger (the status of each generation, the money spent), never the images or the attempt
rows; and a folder that cannot be read is listed with what is wrong with it instead of stopping
the listing. :func:`index_entries` gives the same as plain dicts without importing pandas.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from imgkit.errors import RunError
from imgkit.runs.ledger import Ledger
from imgkit.runs.location import runs_folder
from imgkit.runs.lock import FolderLock
from imgkit.runs.manifest import MANIFEST_NAME

__all__ = ["INDEX_COLUMNS", "index_entries", "run_index"]

#: The columns of :func:`run_index`, in order.
INDEX_COLUMNS = (
    "run_id",
    "created_at",
    "backend",
    "simulated",
    "status",
    "arms",
    "arm_names",
    "prompts",
    "repeats",
    "planned",
    "images",
    "failed",
    "spent_usd",
    "estimated_usd",
    "path",
    "problem",
)


def _entry(folder: Path) -> dict[str, Any]:
    entry: dict[str, Any] = dict.fromkeys(INDEX_COLUMNS)
    entry.update(run_id=folder.name, path=str(folder.resolve()), arm_names=[])
    try:
        manifest = json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))
        if not isinstance(manifest, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as exc:
        entry.update(status="unreadable", problem=f"{MANIFEST_NAME}: {exc}")
        return entry
    parameters = manifest.get("parameters") if isinstance(manifest.get("parameters"), dict) else {}
    arms = [a.get("name") for a in parameters.get("arms") or [] if isinstance(a, dict)]
    prompts = parameters.get("prompts") or []
    repeats = parameters.get("n")
    status = str(manifest.get("status", "unknown"))
    if status == "running" and not FolderLock.is_held(folder):
        status = "crashed"  # as Run.status says it: the runner died; a resume finishes it
    entry.update(
        run_id=str(manifest.get("run_id") or folder.name),
        created_at=manifest.get("created_at"),
        backend=manifest.get("backend"),
        simulated=bool(manifest.get("simulated", manifest.get("backend") == "sim")),
        status=status,
        arms=len(arms),
        arm_names=arms,
        prompts=len(prompts),
        repeats=repeats,
        planned=len(arms) * len(prompts) * repeats if isinstance(repeats, int) else None,
        estimated_usd=(manifest.get("estimate") or {}).get("total_usd"),
    )
    try:
        with Ledger.open(folder) as ledger:
            counts = ledger.status_counts()
            entry["spent_usd"] = round(ledger.spent_usd(), 6)
    except (RunError, OSError) as exc:
        entry["problem"] = str(exc)
        return entry
    entry["images"] = counts.get("ok", 0)
    entry["failed"] = counts.get("failed", 0) + counts.get("refused", 0)
    entry["planned"] = sum(counts.values())
    return entry


def index_entries(folder: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """One dict per run folder directly under ``folder`` (default: the project's runs folder,
    :func:`imgkit.runs.location.default_runs_folder`), oldest first; keys
    :data:`INDEX_COLUMNS`. Hidden folders (a start in progress) and folders without a
    manifest are left out. :class:`RunError` when ``folder`` is not a folder."""
    parent = runs_folder(folder)
    if not parent.is_dir():
        raise RunError(f"{parent} is not a folder of runs")
    entries = []
    for child in sorted(parent.iterdir()):
        if child.name.startswith(".") or not (child / MANIFEST_NAME).is_file():
            continue
        with contextlib.suppress(OSError):
            entries.append(_entry(child))
    entries.sort(key=lambda e: (str(e["created_at"] or ""), e["run_id"]))
    return entries


def run_index(folder: str | os.PathLike[str] | None = None) -> Any:
    """The run folders under ``folder`` as a DataFrame, one row per run, oldest first.

    Columns :data:`INDEX_COLUMNS`: ``run_id``, ``created_at`` (a UTC timestamp), ``backend``,
    ``simulated``, ``status``, ``arms`` (how many) and ``arm_names``, ``prompts``,
    ``repeats``, ``planned`` (generations), ``images`` (made), ``failed`` (failed or refused),
    ``spent_usd``, ``estimated_usd``, ``path``, ``problem`` (why a folder could not be read
    in full, else None). Default folder: the project's runs folder
    (:func:`imgkit.runs.location.default_runs_folder`).
    """
    import pandas as pd

    frame = pd.DataFrame(index_entries(folder), columns=list(INDEX_COLUMNS))
    frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True, errors="coerce")
    return frame
