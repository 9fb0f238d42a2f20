"""A run's ``manifest.json``: every parameter, the backend, versions, prices and times.

Written atomically (a crash leaves the old manifest or the new one, never half of one).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from imgkit.errors import RunError
from imgkit.runs.confined import write_atomic as write_confined

__all__ = ["MANIFEST_NAME", "read_manifest", "write_manifest"]

MANIFEST_NAME = "manifest.json"


def write_manifest(folder: str | os.PathLike[str], manifest: Mapping[str, Any]) -> None:
    """Write ``manifest.json`` atomically (a crash leaves the old one or the new one)."""
    text = json.dumps(manifest, indent=2, sort_keys=False, default=str) + "\n"
    write_confined(folder, MANIFEST_NAME, text.encode("utf-8"))


def read_manifest(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """The manifest of a run folder; :class:`RunError` naming the file when it is missing,
    unreadable or not a JSON object."""
    path = Path(folder) / MANIFEST_NAME
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunError(f"{folder} has no {MANIFEST_NAME}: not a run folder") from None
    except (OSError, ValueError) as exc:
        raise RunError(f"{path} is unreadable: {exc}") from None
    if not isinstance(manifest, dict):
        raise RunError(f"{path}: expected a JSON object, found {type(manifest).__name__}")
    return manifest
