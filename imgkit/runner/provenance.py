"""What a run's manifest records about where it came from: versions, commit, prices, simulator.

Enough to reproduce a run, or to explain why two runs differ: the package versions, the git
commit of the working copy, the catalog version and each model's price source and date, and the
simulator's seed and latency.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import platform
import subprocess
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from imgkit.catalog.models import Catalog
from imgkit.experiment.arms import Arm
from imgkit.experiment.options import without_credentials

__all__ = [
    "MANIFEST_FORMAT",
    "catalog_info",
    "changes_since",
    "describe_running_simulator",
    "git_commit",
    "new_run_id",
    "now_iso",
    "package_versions",
    "platform_name",
    "simulator_settings_log",
]

MANIFEST_FORMAT = 1
#: Packages whose versions go into every manifest.
_VERSIONED = (
    "imgkit",
    "openai",
    "google-genai",
    "httpx",
    "httpx2",
    "pandas",
    "numpy",
    "pillow",
    "imagehash",
    "tqdm",
    "starlette",
    "uvicorn",
)


def now_iso() -> str:
    """The current UTC time, ISO 8601 to the millisecond."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def package_versions() -> dict[str, str | None]:
    """Python's version and each of :data:`_VERSIONED`'s (None when not installed)."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            versions[name] = _installed_version(importlib.metadata.distribution(name))
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _installed_version(distribution: importlib.metadata.Distribution) -> str:
    """The distribution's version, read from the header of its metadata file.

    ``Distribution.version`` parses the whole file as an e-mail message, long description
    included: for these packages 60 ms of a drill's start, against 20 ms for their headers."""
    for name in ("METADATA", "PKG-INFO"):
        text = distribution.read_text(name)
        if text is None:
            continue
        for line in text.splitlines():
            if not line:
                break  # the end of the header
            if line.startswith("Version:"):
                return line.partition(":")[2].strip()
    return distribution.version


def platform_name() -> str:
    """The operating system and machine, as :func:`platform.platform` names them."""
    return platform.platform()


def git_commit(cwd: Path) -> dict[str, Any] | None:
    """The commit of the git repository around ``cwd`` (None outside one, or before any commit)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5
        )
        if head.returncode != 0:
            return None
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": head.stdout.strip(), "dirty": bool(status.stdout.strip())}


def catalog_info(catalog: Catalog, arms: Iterable[Arm]) -> dict[str, Any]:
    """The catalog version, the price overrides in force, each arm's price source, and each
    model's snapshot (the dated version its name pointed to: runs are compared across time by
    it, see :mod:`imgkit.analysis.drift`)."""
    prices = {}
    snapshots = {}
    for arm in arms:
        spec = catalog.get_model(arm.model)
        prices[spec.name] = {
            "kind": spec.price.kind,
            "source": catalog.describe_source(spec.price.source),
            "as_of": spec.price.as_of,
        }
        snapshots[spec.name] = spec.snapshot
    return {
        "version": catalog.version,
        "price_overrides": list(catalog.price_overrides),
        "prices": prices,
        "snapshots": snapshots,
    }


def new_run_id(name: str | None) -> str:
    """``name`` if given, else a UTC timestamp and a random suffix."""
    if name:
        return name
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{uuid.uuid4().hex[:6]}"


def describe_running_simulator(sim_url: str) -> dict[str, Any]:
    """What a simulator started elsewhere (``--sim-url``) says of itself, for the manifest.

    Its seed and latency make the run reproducible; they are read from its stats route, so
    the manifest records what it really used rather than what this runner would have chosen.
    """
    import httpx

    from imgkit.providers.http_clients import shared_client

    described: dict[str, Any] = {"url": without_credentials(sim_url)}
    try:
        # The process's client: no TLS set-up of its own on the way to the first request.
        stats = shared_client().get(sim_url.rstrip("/") + "/_sim/stats", timeout=5.0).json()
    except (httpx.HTTPError, ValueError) as exc:
        described["unreadable"] = f"{type(exc).__name__}: {exc}"
        return described
    if not isinstance(stats, dict) or stats.get("simulated") is not True:
        described["unreadable"] = "the answer is not an imgkit simulator's"
        return described
    described["seed"] = stats.get("seed")
    described["latency_s"] = stats.get("latency")
    described["faults_pending"] = stats.get("pending_faults")
    return described


def simulator_settings_log(sim: Any, sim_url: str | None) -> list[dict[str, Any]] | None:
    """Every change of a simulator's settings since it started (its ``settings_changes``):
    the embedded one's, or the one at ``sim_url`` read from its stats route; None when there
    is no simulator or it cannot be read."""
    if sim is not None:
        return list(sim.stats().get("settings_changes", []))
    if not sim_url:
        return None
    import httpx

    from imgkit.providers.http_clients import shared_client

    try:
        stats = shared_client().get(sim_url.rstrip("/") + "/_sim/stats", timeout=5.0).json()
    except (httpx.HTTPError, ValueError):
        return None
    changes = stats.get("settings_changes") if isinstance(stats, dict) else None
    return list(changes) if isinstance(changes, list) else None


def changes_since(
    before: list[dict[str, Any]] | None, after: list[dict[str, Any]] | None
) -> list[dict[str, Any]] | None:
    """The entries of a simulator's settings log made between two readings of it (the log
    only grows; a simulator restarted between them shows as a shorter log: all of it is new)."""
    if after is None:
        return None
    last = max((entry.get("seq", 0) for entry in before or []), default=0)
    if len(after) < len(before or []):
        last = 0
    return [entry for entry in after if entry.get("seq", 0) > last]
