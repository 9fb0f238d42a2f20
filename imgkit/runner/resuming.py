"""Resuming a run: :func:`resume` and :func:`aresume` finish what a run left undone."""

from __future__ import annotations

import os
import threading
from typing import Any

from imgkit.catalog.models import Catalog, default_catalog
from imgkit.catalog.validation import ImageRequest
from imgkit.experiment.boundary import check_sim_url
from imgkit.experiment.options import DrillOptions, check_options
from imgkit.runner.batching import batch_routes
from imgkit.runner.blocking import run_blocking
from imgkit.runner.budget import check_budget
from imgkit.runner.executor import Log
from imgkit.runner.plan import Planned, describe_estimate, estimate_plan
from imgkit.runner.session import run_session
from imgkit.runner.start import info_log
from imgkit.runs.confined import refuse_escaping_links
from imgkit.runs.folder import Run, open_run
from imgkit.runs.ledger import Ledger, PlannedGeneration
from imgkit.runs.manifest import write_manifest
from imgkit.runs.storage import clear_leftovers, read_journal

__all__ = ["RETRYABLE_KINDS", "aresume", "generations_to_resume", "resume"]

#: Error kinds a resume sends again (a later try may succeed); refusals and invalid requests
#: would fail the same way, so they are kept as they are.
RETRYABLE_KINDS = (
    "server_error",
    "timeout",
    "connection_lost",
    "connect_failed",
    "rate_limited",
    "interrupted",
    "not_stored",
    # batch mode: requests a batch never ran (its window passed, or it was cancelled)
    "batch_expired",
    "batch_cancelled",
)


async def aresume(
    path: str | os.PathLike[str],
    *,
    budget: float | None = None,
    concurrency: int | None = None,
    sim_url: str | None = None,
    retry_failed: bool = True,
    regenerate_missing: bool = False,
    progress: bool = True,
    log: Log | None = info_log,
    stop: threading.Event | None = None,
    interrupt: threading.Event | None = None,
    catalog: Catalog | None = None,
    cancel_batches: bool = False,
    allow_remote_sim: bool = False,
) -> Run:
    """The asynchronous form of :func:`resume`. ``cancel_batches``: send nothing, cancel the
    run's open batches at the vendor and record what they made (``imgkit batch cancel``)."""
    log = log or (lambda _message: None)
    catalog = catalog or default_catalog()
    run = open_run(path)
    # Before anything is locked, written or sent: a folder with a link that leaves it.
    refuse_escaping_links(run.path, "resuming the run")
    if sim_url is not None:
        check_sim_url("sim_url", sim_url, allow_remote=allow_remote_sim)
    manifest = run.manifest
    options = DrillOptions.from_manifest(manifest, str(run.path / "manifest.json"))
    if concurrency is not None:
        options.concurrency = concurrency
    if sim_url is not None:
        options.sim_url = sim_url
        options.sim_faults = None  # faults were the embedded simulator's; this one has its own
    if budget is None:
        budget = options.budget
    options.budget = budget
    check_options(options)

    ledger = Ledger.open(run.path, writer=True)
    try:
        _close_crashed_sessions(run, ledger)
        adopted = _adopt_received_images(run, ledger)
        if adopted:
            log(
                f"imgkit drill: {adopted} image(s) had reached the disk when the run was cut "
                "off; they are kept, not bought again"
            )
        clear_leftovers(run.images_dir)
        in_flight = ledger.in_flight()
        if in_flight:
            ledger.mark_interrupted(
                (a["attempt_id"] for a in in_flight), "in flight when the runner died"
            )
            presumed = sum(a["estimated_usd"] or 0.0 for a in in_flight)
            log(
                f"imgkit drill: {len(in_flight)} attempt(s) were in flight when the run was cut "
                f"off and may have been billed (estimated ${presumed:.4f}); they are sent again"
            )
        todo = [] if cancel_batches else generations_to_resume(ledger, retry_failed)
        if not cancel_batches:
            todo += _missing_images(run, ledger, catalog, regenerate_missing, log)
        requests = {(g.arm, 0): ImageRequest(**g.request) for g in reversed(todo)}
        routes = batch_routes(options, catalog, requests)
        estimate = estimate_plan(todo, catalog, routes)
        spent = ledger.spent_usd() + _in_batches(ledger, log)
        for line in describe_estimate(estimate, len(todo), "resuming,", budget):
            log(line)
        check_budget(budget, estimate["total_usd"], spent)
        planned = [Planned(g, ImageRequest(**g.request)) for g in todo]
        note = {
            "may_have_been_billed": [
                {
                    "attempt_id": a["attempt_id"],
                    "arm": a["arm"],
                    "prompt_id": a["prompt_id"],
                    "repeat": a["repeat"],
                    "estimated_usd": a["estimated_usd"],
                }
                for a in in_flight
            ],
            "to_send": len(todo),
        }
        await run_session(
            run.path,
            ledger,
            options,
            catalog,
            planned,
            budget=budget,
            progress=progress,
            log=log,
            stop=stop,
            interrupt=interrupt,
            kind="cancel" if cancel_batches else "resume",
            note=note,
            cancel_batches=cancel_batches,
        )
    finally:
        ledger.close()
    return open_run(run.path)


def _in_batches(ledger: Ledger, log: Log) -> float:
    """What the requests waiting in the run's open batches may cost (they are collected
    first, never sent again), said before anything is sent."""
    waiting = ledger.in_batches()
    if not waiting:
        return 0.0
    batches = {a["batch_key"] for a in waiting}
    estimate = sum(a["estimated_usd"] or 0.0 for a in waiting)
    log(
        f"imgkit drill: {len(waiting)} request(s) wait in {len(batches)} batch(es) already "
        f"sent (estimated ${estimate:.4f}): their results are collected, never bought again"
    )
    return estimate


def _close_crashed_sessions(run: Run, ledger: Ledger) -> None:
    """Sessions whose runner died still say "running": say "crashed", in ledger and manifest."""
    if not ledger.close_crashed_sessions():
        return
    manifest = run.manifest
    for session in manifest.get("sessions", []):
        if isinstance(session, dict) and session.get("ended_at") is None:
            session["status"] = "crashed"
    write_manifest(run.path, manifest)


def _adopt_received_images(run: Run, ledger: Ledger) -> int:
    """Commit the attempts whose image was stored but not yet recorded when the runner died
    (their journal entry says so, see :mod:`imgkit.runs.storage`); return how many."""
    adopted = 0
    for attempt in ledger.in_flight():
        record = read_journal(run.images_dir, attempt["attempt_id"])
        if record is not None:
            ledger.finish_ok(attempt["attempt_id"], **record)
            adopted += 1
    return adopted


def _missing_images(
    run: Run, ledger: Ledger, catalog: Catalog, regenerate: bool, log: Log
) -> list[PlannedGeneration]:
    """Generations recorded as made whose image is missing or damaged: made again only when
    asked (``regenerate``), after saying what that costs; otherwise only mentioned."""
    checked = run.verify(hashes=regenerate)
    bad = set(checked.loc[checked["problem"].notna(), "gen_id"])
    if not bad:
        return []
    again = [g for g in ledger.plan() if g.gen_id in bad]
    cost = estimate_plan(again, catalog)["total_usd"]
    if regenerate:
        log(
            f"imgkit drill: {len(again)} image(s) are missing or damaged and will be made again "
            f"(estimated ${cost:.4f})"
        )
        return again
    log(
        f"imgkit drill: {len(again)} image(s) recorded as made are missing or damaged; "
        f"`--regenerate-missing` makes them again (estimated ${cost:.4f}); `imgkit verify "
        f"{run.path}` lists them"
    )
    return []


def generations_to_resume(ledger: Ledger, retry_failed: bool) -> list[PlannedGeneration]:
    """Generations a resume sends: never made, cut off in flight, or (with ``retry_failed``)
    failed for a reason a later try may not meet. Never one that is ok or refused."""
    last: dict[int, dict[str, Any]] = {}
    made: set[int] = set()
    for attempt in ledger.attempts():
        last[attempt["gen_id"]] = attempt
        # ok, or waiting in a batch at the vendor (its results are collected, not re-bought)
        if attempt["status"] == "ok" or (
            attempt["status"] == "sending" and attempt.get("batch_key")
        ):
            made.add(attempt["gen_id"])
    todo = []
    for g in ledger.plan():
        if g.gen_id in made:
            continue
        attempt = last.get(g.gen_id)
        if (
            attempt is None
            or attempt["status"] in ("interrupted", "sending")
            or (
                attempt["status"] == "failed"
                and retry_failed
                and attempt["error_kind"] in RETRYABLE_KINDS
            )
        ):
            todo.append(g)
    return todo


def resume(
    path: str | os.PathLike[str],
    *,
    budget: float | None = None,
    concurrency: int | None = None,
    sim_url: str | None = None,
    retry_failed: bool = True,
    regenerate_missing: bool = False,
    progress: bool = True,
    log: Log | None = info_log,
    stop: threading.Event | None = None,
    interrupt: threading.Event | None = None,
    catalog: Catalog | None = None,
    cancel_batches: bool = False,
    allow_remote_sim: bool = False,
) -> Run:
    """Finish an interrupted, stopped or crashed run; return it.

    Never re-sends a generation that completed or was refused. Attempts that were in flight
    when the run was cut off are reported (log, manifest, :meth:`Run.may_have_been_billed`) as
    possibly billed, with their estimated cost, and their generations are sent again.
    Keyword arguments (the same as :func:`aresume`'s): ``budget`` (default: the run's own),
    ``concurrency``, ``sim_url`` (the simulator to use now), ``retry_failed`` (default True:
    send again generations that failed for a transient reason), ``regenerate_missing`` (make
    again the images recorded as made that are missing or damaged, after saying the cost),
    ``progress``, ``log``, ``stop``, ``interrupt`` and ``catalog``, as for :func:`drill`;
    ``cancel_batches``: send nothing, cancel the run's open batches at the vendor and record
    what they made (what ``imgkit batch cancel`` does).
    Raises :class:`~imgkit.errors.RunError` when the folder is not a run or another runner
    holds it, :class:`~imgkit.errors.BudgetExceededError` when what is left would pass the
    budget.
    """

    def finish(event: threading.Event, cut: threading.Event) -> Any:
        return aresume(
            path,
            budget=budget,
            concurrency=concurrency,
            sim_url=sim_url,
            retry_failed=retry_failed,
            regenerate_missing=regenerate_missing,
            progress=progress,
            log=log,
            stop=event,
            interrupt=cut,
            catalog=catalog,
            cancel_batches=cancel_batches,
            allow_remote_sim=allow_remote_sim,
        )

    return run_blocking(finish, stop, interrupt)
