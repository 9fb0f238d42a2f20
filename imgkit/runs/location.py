"""Where run folders go when nobody says: one ``runs/`` folder per project.

A drill started from a terminal at the project's root and one started from a notebook in
``notebooks/`` must land in the same place, or notebook 6 does not see the command line's runs
and ``imgkit runs`` lists only half of them. So the default is not "``runs/`` under the current
folder" but "``runs/`` at the root of the project the current folder belongs to": the nearest
folder, going up, that holds a ``pyproject.toml`` or a ``.git`` (a repository or a worktree).
Outside any project it is ``runs/`` under the current folder. ``$IMGKIT_RUNS`` overrides both,
for a CI job or a shared archive.

An ``out`` given explicitly (``--out``, ``out=``) is used as given, relative to the current
folder, as every command line tool does.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["PROJECT_MARKERS", "RUNS_ENV", "default_runs_folder", "project_root", "runs_folder"]

#: The environment variable that names the runs folder outright.
RUNS_ENV = "IMGKIT_RUNS"
#: What marks a project's root folder.
PROJECT_MARKERS = ("pyproject.toml", ".git")


def project_root(start: str | os.PathLike[str] | None = None) -> Path | None:
    """The nearest folder at or above ``start`` (default: the current folder) holding one of
    :data:`PROJECT_MARKERS`, or None outside any project."""
    here = Path(start if start is not None else Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if any((folder / marker).exists() for marker in PROJECT_MARKERS):
            return folder
    return None


def default_runs_folder(start: str | os.PathLike[str] | None = None) -> Path:
    """Where run folders go by default: ``$IMGKIT_RUNS``, else ``runs/`` at the project's root
    (see :func:`project_root`), else ``runs/`` under ``start`` (default: the current folder)."""
    named = os.environ.get(RUNS_ENV)
    if named:
        return Path(named).expanduser()
    root = project_root(start)
    if root is None:
        root = Path(start if start is not None else Path.cwd()).resolve()
    return root / "runs"


def runs_folder(out: str | os.PathLike[str] | None) -> Path:
    """``out`` as a path, or :func:`default_runs_folder` when it is None or empty."""
    if out is None or str(out) == "":
        return default_runs_folder()
    return Path(out)
