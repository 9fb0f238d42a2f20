"""imgkit's own cache on this machine: figures worth making once, kept between processes.

``$IMGKIT_CACHE`` or ``$XDG_CACHE_HOME/imgkit`` or ``~/.cache/imgkit``. Everything here can be
made again, so a cache that cannot be read or written is skipped, never an error: a damaged
entry reads as missing, and entries are written to a temporary name and renamed into place, so
two processes writing one entry at once leave one whole copy.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["cache_dir", "read_cached_json", "write_cached_json"]


def cache_dir() -> Path:
    """Where the cache lives (not created here)."""
    if os.environ.get("IMGKIT_CACHE"):
        return Path(os.environ["IMGKIT_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "imgkit"


def read_cached_json(key: str) -> Any | None:
    """The JSON value cached under ``key`` (a relative path), or None when there is none."""
    try:
        return json.loads((cache_dir() / key).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_cached_json(key: str, value: Any) -> None:
    """Cache ``value`` under ``key``; silently does nothing where the cache is not writable."""
    target = cache_dir() / key
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            "w", encoding="utf-8", dir=target.parent, suffix=".tmp", delete=False
        ) as handle:
            json.dump(value, handle)
        os.replace(handle.name, target)
    except OSError:
        return
