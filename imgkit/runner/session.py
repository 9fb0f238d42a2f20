"""One runner session over a run's ledger: a start or a resume, from first request to last.

A session records itself in the ledger and the manifest, starts the services, hands the
generations to an executor, and whatever happens (completion, budget, stop, Ctrl-C) writes how
it ended and the run's counts back to the manifest.
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
from imgkit.runner.budget import Budget
from imgkit.runner.executor import ExecutionContext, Log
from imgkit.runner.plan import Planned
from imgkit.runner.progress import Progress
from imgkit.runner.provenance import now_iso
from imgkit.runner.services import (
    embedded_simulator,
    open_providers,
    provider_urls,
    start_preparing,
)
from imgkit.runner.synchronous import SynchronousExecutor
from imgkit.runs.ledger import Ledger
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
) -> str:
    """Send ``todo`` in a new ledger session; update the manifest; return the run status.

    ``preparing`` is the caller's :func:`~imgkit.runner.services.start_preparing` (begun
    earlier, so that the imports overlap the caller's own work); without it the session starts
    one, to overlap its own book-keeping and the simulator's start.
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
    try:
        with embedded_simulator(options) as sim:
            urls = provider_urls(sim, options.sim_url)
            generations = (p.generation for p in todo)
            providers = await open_providers(options, generations, urls, preparing)
            try:
                await SynchronousExecutor(context, providers).run(todo, tries)
            finally:
                for provider in providers.values():
                    with contextlib.suppress(Exception):
                        await provider.aclose()
        if context.stop_reason in ("budget", "storage"):
            status = f"stopped_{context.stop_reason}"
        elif context.stop_reason is not None:
            status = context.stop_reason
    except (asyncio.CancelledError, KeyboardInterrupt):
        status = "interrupted"
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
            write_manifest(run_path, manifest)
        except (OSError, sqlite3.Error) as exc:
            # The disk that stopped the run may refuse these last words too; the ledger's
            # attempts still tell a resume everything it needs.
            context.storage_failed(exc)
    if status == "interrupted":
        log(f"imgkit drill: interrupted; finish with `imgkit drill --resume {run_path}`")
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
