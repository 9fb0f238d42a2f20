"""One runner session over a run's ledger: a start or a resume, from first request to last.

A session records itself in the ledger and the manifest, starts the services, hands the
generations to an executor, and whatever happens (completion, budget, stop, Ctrl-C) writes how
it ended and the run's counts back to the manifest.

The executor is chosen per arm: in a batch drill (``options.batch``) the arms whose provider
has a Batch API go to the batch executor (:mod:`imgkit.runner.batch`), which also re-attaches
to the run's batches still open; the others (Leonardo, streamed arms) go to the synchronous
executor, at the same time, both writing the ledger through one :class:`LedgerWriter`.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from imgkit.catalog.models import Catalog
from imgkit.experiment.options import DrillOptions
from imgkit.runner.batching import BatchRoutes, batch_routes
from imgkit.runner.budget import Budget
from imgkit.runner.executor import ExecutionContext, Log
from imgkit.runner.plan import Planned
from imgkit.runner.progress import Progress
from imgkit.runner.provenance import changes_since, now_iso, simulator_settings_log
from imgkit.runner.services import (
    embedded_simulator,
    open_providers,
    provider_urls,
    start_preparing,
)
from imgkit.runner.synchronous import SynchronousExecutor
from imgkit.runs.ledger import Ledger
from imgkit.runs.ledger_writer import LedgerWriter
from imgkit.runs.manifest import read_manifest, write_manifest

__all__ = ["run_session"]


def _summary(ledger: Ledger, total: int) -> dict[str, Any]:
    return {
        "generations": total,
        **ledger.status_counts(),
        "spent_usd": round(ledger.spent_usd(), 6),
    }


async def run_session(
    run_path: Path,
    ledger: Ledger,
    options: DrillOptions,
    catalog: Catalog,
    todo: Sequence[Planned],
    *,
    budget: float | None,
    progress: bool,
    log: Log,
    stop: threading.Event | None,
    interrupt: threading.Event | None = None,
    kind: str,
    note: Mapping[str, Any],
    preparing: Future | None = None,
    cancel_batches: bool = False,
) -> str:
    """Send ``todo`` in a new ledger session; update the manifest; return the run status.

    ``preparing`` is the caller's :func:`~imgkit.runner.services.start_preparing` (begun
    earlier, so that the imports overlap the caller's own work); without it the session starts
    one, to overlap its own book-keeping and the simulator's start. ``cancel_batches``
    cancels the run's open batches at the vendor and records what they made
    (``imgkit batch cancel``).
    """
    if preparing is None:
        preparing = start_preparing(options, (p.generation for p in todo))
    plan = ledger.plan()
    totals: dict[str, int] = {}
    for g in plan:
        totals[g.arm] = totals.get(g.arm, 0) + 1
    todo_ids = {p.generation.gen_id for p in todo}
    done = {arm: 0 for arm in totals}
    for g in plan:
        if g.gen_id not in todo_ids:
            done[g.arm] += 1
    tries: dict[int, int] = {}
    for attempt in ledger.attempts():
        tries[attempt["gen_id"]] = max(tries.get(attempt["gen_id"], 0), attempt["try"])
    routes = _routes(options, catalog, todo)
    batch_todo = [p for p in todo if p.generation.arm in routes.terms]
    sync_todo = [p for p in todo if p.generation.arm not in routes.terms]
    open_batches = ledger.batches(open_only=True)
    # The services the open batches need too, when nothing new goes to their vendor: one
    # request of each (a batch whose every result was recorded before a kill, not yet marked
    # collected, has none still waiting, but its vendor is asked for it all the same).
    in_open = {
        first["gen_id"]
        for row in open_batches
        for first in ledger.batch_attempts(row["batch_key"], pending_only=False, limit=1)
    }
    services = [p.generation for p in todo] + [g for g in plan if g.gen_id in in_open]

    session = ledger.begin_session(kind, note)
    manifest = read_manifest(run_path)
    manifest["status"] = "running"
    manifest.setdefault("sessions", []).append(
        {"session": session, "kind": kind, "started_at": now_iso(), "ended_at": None, **note}
    )
    write_manifest(run_path, manifest)

    bars = Progress(totals, done, progress)
    status = "complete"
    context = ExecutionContext(
        run_path=run_path,
        ledger=ledger,
        options=options,
        catalog=catalog,
        budget=Budget(budget, ledger.spent_usd()),
        progress=bars,
        log=log,
        stop=stop,
        interrupt=interrupt,
    )
    changes: list[dict[str, Any]] | None = None
    try:
        with embedded_simulator(options) as sim:
            # Whoever holds the simulator's control secret can change what it does while the
            # run measures it: every change in this window goes into the session's record.
            seen = simulator_settings_log(sim, options.sim_url)
            urls = provider_urls(sim, options.sim_url)
            providers = await open_providers(options, services, urls, preparing)
            try:
                if batch_todo or open_batches or cancel_batches:
                    await _run_both(
                        context, providers, routes, sync_todo, batch_todo, tries, cancel_batches,
                        plan,
                    )  # fmt: skip
                else:
                    await SynchronousExecutor(context, providers).run(todo, tries)
            finally:
                for provider in providers.values():
                    with contextlib.suppress(Exception):
                        await provider.aclose()
                changes = changes_since(seen, simulator_settings_log(sim, options.sim_url))
        if context.stop_reason in ("budget", "storage"):
            status = f"stopped_{context.stop_reason}"
        elif context.stop_reason is not None:
            status = context.stop_reason
    except (asyncio.CancelledError, KeyboardInterrupt):
        status = "cancelled" if context.stop_reason == "cancelled" else "interrupted"
    finally:
        bars.close()
        summary = _summary(ledger, len(plan))
        if status == "complete" and (summary.get("pending") or summary.get("in_flight")):
            status = "incomplete"
        try:
            ledger.end_session(status, {**note, "sent": context.sent})
            manifest = read_manifest(run_path)
            manifest["status"] = status
            manifest["ended_at"] = now_iso()
            manifest["result"] = summary
            manifest["sessions"][-1].update(
                {"ended_at": manifest["ended_at"], "status": status, "sent": context.sent}
            )
            if options.backend == "sim":
                manifest["sessions"][-1]["simulator_changes"] = (
                    changes if changes is not None else "unreadable"
                )
            write_manifest(run_path, manifest)
        except (OSError, sqlite3.Error) as exc:
            # The disk that stopped the run may refuse these last words too; the ledger's
            # attempts still tell a resume everything it needs.
            context.storage_failed(exc)
    if changes:
        log(
            f"imgkit drill: the simulator's settings were changed {len(changes)} time(s) while "
            f"this run ran ({'; '.join(str(c['settings']) for c in changes[:3])}); recorded in "
            "the run's manifest.json (sessions[].simulator_changes)"
        )
    if status == "interrupted":
        log(f"imgkit drill: interrupted; finish with `imgkit drill --resume {run_path}`")
    elif status == "cancelled":
        log(f"imgkit drill: batches cancelled; `imgkit drill --resume {run_path}` sends again")
    elif status == "stopped_budget":
        log(f"imgkit drill: stopped by the budget; `imgkit drill --resume {run_path} --budget ...`")
    if context.storage_error is not None:
        lost = ""
        if context.lost_images:
            lost = (
                f"; {context.lost_images} image(s) received but could not be stored (they may "
                f"have been billed, ${context.lost_usd:.4f}) and will be sent again"
            )
        log(
            f"imgkit drill: stopped: could not write to {run_path} ({context.storage_error})"
            f"{lost}. Free some space, then `imgkit drill --resume {run_path}`"
        )
    return status


def _routes(options: DrillOptions, catalog: Catalog, todo: Sequence[Planned]) -> BatchRoutes:
    """Which arms of this session go by batch (see :mod:`imgkit.runner.batching`)."""
    if not options.batch or not todo:
        return BatchRoutes()
    requests: dict[tuple[str, int], Any] = {}
    for p in todo:
        requests.setdefault((p.generation.arm, 0), p.request)
    return batch_routes(options, catalog, requests)


async def _run_both(
    context: ExecutionContext,
    providers: Mapping[str, Any],
    routes: BatchRoutes,
    sync_todo: Sequence[Planned],
    batch_todo: Sequence[Planned],
    tries: Mapping[int, int],
    cancel: bool,
    plan: Sequence[Any],
) -> None:
    """The batch executor and (for the other arms) the synchronous one, side by side."""
    from imgkit.runner.batch import BatchExecutor  # the batch clients: only in batch runs

    writer = LedgerWriter(context.ledger)
    try:
        run_id = str(read_manifest(context.run_path).get("run_id") or context.run_path.name)
        batches = BatchExecutor(
            context,
            providers,
            routes,
            run_id=run_id,
            ledger_writer=writer,
            cancel=cancel,
            plan=plan,
        )
        work = [batches.run(batch_todo, tries)]
        if sync_todo:
            work.append(SynchronousExecutor(context, providers, writer).run(sync_todo, tries))
        await asyncio.gather(*work)
    finally:
        writer.close()
