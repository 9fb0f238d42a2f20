"""A run's batches from outside the drill: what they are doing, and cancelling them.

:func:`batch_status` reads a run folder's batches from its ledger (what the runner last heard
from the vendor), and with ``refresh=True`` asks the vendor now, without writing anything.
:func:`cancel_batches` cancels the run's open batches at the vendor: when no runner holds the
folder it then waits for the vendor to finish cancelling and records what the batches had made
(and billed) before the cancellation, as a session of kind "cancel"; when a runner holds it,
it only asks the vendor, and the runner records the outcome as it collects the batches.
"""

from __future__ import annotations

import asyncio
import os
import threading
from typing import Any

from imgkit.catalog.models import Catalog, default_catalog
from imgkit.errors import ProviderError
from imgkit.experiment.options import DrillOptions
from imgkit.runner.blocking import run_blocking
from imgkit.runner.executor import Log
from imgkit.runner.services import make_providers, provider_urls
from imgkit.runner.start import info_log
from imgkit.runs.folder import Run, open_run
from imgkit.runs.ledger import Ledger

__all__ = ["acancel_batches", "batch_status", "cancel_batches"]


def _options(run: Run, sim_url: str | None) -> DrillOptions:
    options = run.options()
    if sim_url is not None:
        options.sim_url = sim_url
        options.sim_faults = None
    return options


def _clients(options: DrillOptions, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A batch client per provider of ``rows`` (sim: the run's simulator URL)."""
    from imgkit.providers.batching import batch_client

    urls = provider_urls(None, options.sim_url)
    generations = [_Stub(row["provider"], row["model"]) for row in rows]
    providers = make_providers(options, generations, urls)  # type: ignore[arg-type]
    return {name: batch_client(provider) for name, provider in providers.items()}


class _Stub:
    """Enough of a planned generation for :func:`make_providers`."""

    def __init__(self, provider: str, model: str) -> None:
        self.provider, self.model = provider, model


def batch_status(
    path: str | os.PathLike[str], *, refresh: bool = False, sim_url: str | None = None
) -> list[dict[str, Any]]:
    """The run's batches, oldest first: key, provider, model, endpoint, status (the runner's:
    preparing, uploaded, creating, submitted, collected, lost), vendor status and counts,
    batch id, requests, estimated USD, times. ``refresh`` asks the vendor for the open ones
    (``vendor_now``, or ``vendor_error``); nothing is written."""
    run = open_run(path)
    with Ledger.open(run.path) as ledger:
        rows = ledger.batches()
    if not refresh:
        return rows
    current = [row for row in rows if row["batch_id"] and row["status"] == "submitted"]
    if not current:
        return rows
    options = _options(run, sim_url)
    if options.backend == "sim" and not options.sim_url:
        why = (
            "on the embedded simulator of the runner holding the run, which only it reaches"
            if Ledger.is_locked(run.path)
            else "run on an embedded simulator, gone since: pass sim_url"
        )
        for row in current:
            row["vendor_error"] = why
        return rows

    async def ask() -> None:
        clients = _clients(options, current)
        for row in current:
            try:
                state = await clients[row["provider"]].retrieve(row["batch_id"])
                row["vendor_now"] = {"status": state.status, **state.counts()}
            except ProviderError as exc:
                row["vendor_error"] = str(exc)

    asyncio.run(ask())
    return rows


async def acancel_batches(
    path: str | os.PathLike[str],
    *,
    sim_url: str | None = None,
    progress: bool = True,
    log: Log | None = info_log,
    stop: threading.Event | None = None,
    interrupt: threading.Event | None = None,
    catalog: Catalog | None = None,
) -> Run:
    """The asynchronous form of :func:`cancel_batches`."""
    log = log or (lambda _message: None)
    run = open_run(path)
    with Ledger.open(run.path) as ledger:
        opened = ledger.batches(open_only=True)
    if not opened:
        # Nothing to cancel: the run is left as it is (no session, no simulator, no status).
        log(f"imgkit batch cancel: {run.path} has no open batch; nothing to cancel")
        return run
    if not Ledger.is_locked(run.path):
        from imgkit.runner.resuming import aresume

        return await aresume(
            run.path,
            sim_url=sim_url,
            progress=progress,
            log=log,
            stop=stop,
            interrupt=interrupt,
            catalog=catalog or default_catalog(),
            cancel_batches=True,
        )
    # A runner holds the folder: only the vendor is told; that runner records the outcome.
    rows = [r for r in opened if r["batch_id"]]
    options = _options(run, sim_url)
    if options.backend == "sim" and not options.sim_url:
        log(
            f"imgkit batch cancel: the batches of {run.path} are on the embedded simulator of "
            "the runner holding it, which only that runner reaches: press Ctrl-C twice in it "
            "to cancel them"
        )
        return run
    clients = _clients(options, rows)
    asked = 0
    for row in rows:
        try:
            await clients[row["provider"]].cancel(row["batch_id"])
            asked += 1
        except ProviderError as exc:
            log(f"imgkit batch cancel: could not cancel batch {row['batch_key']}: {exc}")
    if asked:
        log(
            f"imgkit batch cancel: asked the vendor to cancel {asked} batch(es); the runner "
            f"holding {run.path} records what they made"
        )
    return run


def cancel_batches(path: str | os.PathLike[str], **kwargs: Any) -> Run:
    """Cancel a run's open batches at the vendor and record what they had made; return the run.

    Requests the batches never ran are recorded as failed ("batch_cancelled"): never billed,
    and sent again by ``imgkit drill --resume`` after it says what that costs. Keyword
    arguments: ``sim_url`` (the simulator the run's batches are on), ``progress``, ``log``.
    """
    stop, interrupt = kwargs.pop("stop", None), kwargs.pop("interrupt", None)
    return run_blocking(
        lambda event, cut: acancel_batches(path, stop=event, interrupt=cut, **kwargs),
        stop,
        interrupt,
    )
