"""``imgkit batch status RUN`` and ``imgkit batch cancel RUN``: a batch drill's batches.

``status`` lists the run's batches as its ledger records them (``--refresh`` asks the vendor
now, writing nothing); ``cancel`` cancels the open ones at the vendor and records what they had
already made and billed (:mod:`imgkit.runner.batch_control`). The runner is imported when a
command runs, not when the parser is built.

Exit status: 0; 1 when ``cancel`` leaves batches the vendor has not finished cancelling; 2 for
an error (not a run folder, a bad option).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from typing import Any

__all__ = ["COMMANDS", "add_commands", "configure"]

#: The command this module adds, with the line ``imgkit --help`` shows for it.
COMMANDS = {"batch": "show or cancel the Batch API batches of a run (status, cancel)"}


def _when(epoch: Any) -> str:
    if not epoch:
        return "-"
    return dt.datetime.fromtimestamp(float(epoch), dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _counts(row: dict[str, Any]) -> str:
    counts = (row.get("vendor_now") or row.get("counts") or {}) if row else {}
    if not counts or counts.get("total") is None:
        return f"{row['requests']} request(s)"
    return (
        f"{counts.get('completed') or 0} ok, {counts.get('failed') or 0} failed of "
        f"{counts.get('total')}"
    )


def _cmd_status(args: argparse.Namespace) -> int:
    from imgkit.runner.batch_control import batch_status

    rows = batch_status(args.run, refresh=args.refresh, sim_url=args.sim_url)
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return 0
    if not rows:
        print(f"{args.run}: no batches (not a batch drill, or nothing sent yet)")
        return 0
    for row in rows:
        vendor = (row.get("vendor_now") or {}).get("status") or row.get("vendor_status") or "-"
        print(
            f"{row['batch_key']}  {row['provider']} {row['model']} ({row['endpoint']})  "
            f"{row['status']}, vendor: {vendor}, {_counts(row)}, "
            f"estimated ${row['estimated_usd'] or 0:.4f}, created {_when(row['created_at'])}"
            + (f", id {row['batch_id']}" if row.get("batch_id") else "")
            + (f"  ({row['vendor_error']})" if row.get("vendor_error") else "")
        )
    return 0


def _cmd_cancel(args: argparse.Namespace) -> int:
    from imgkit.runner.batch_control import batch_status, cancel_batches
    from imgkit.runs.ledger_batches import OPEN_BATCH_STATUSES

    rows = batch_status(args.run)
    if not [r for r in rows if r["status"] in OPEN_BATCH_STATUSES]:
        # Nothing to cancel: the run is not touched (see batch_control.acancel_batches).
        if args.json:
            print(json.dumps({"cancelled": 0, "batches": rows}, indent=2, default=str))
        else:
            print(f"{args.run}: no open batch; nothing to cancel")
        return 0
    from imgkit.runner.start import stderr_log  # standard output is for the summary (--json)

    run = cancel_batches(
        args.run, sim_url=args.sim_url, progress=not args.no_progress, log=stderr_log
    )
    rows = batch_status(run.path)
    still_open = [r for r in rows if r["status"] in OPEN_BATCH_STATUSES]
    summary = run.summary()
    if args.json:
        print(json.dumps({"summary": summary, "batches": rows}, indent=2, default=str))
    else:
        print(
            f"run {summary['run_id']}: {summary['ok']} image(s) kept, {summary['failed']} "
            f"request(s) not run or failed; spent ${summary['spent_usd']:.4f}"
            + (" (simulated)" if run.manifest.get("simulated") else "")
        )
        if still_open:
            print(
                f"  {len(still_open)} batch(es) not yet cancelled at the vendor: "
                f"`imgkit batch status {run.path} --refresh` follows them"
            )
    return 1 if still_open else 0


def add_commands(subparsers: Any) -> None:
    """Register ``batch`` on an argparse subparsers object."""
    for name, summary in COMMANDS.items():
        configure(name, subparsers.add_parser(name, help=summary))


def configure(name: str, parser: argparse.ArgumentParser) -> None:
    """Give ``parser``, the subparser of ``batch``, its two commands and their handlers."""
    if name != "batch":
        raise KeyError(name)
    parser.description = (
        "The batches a drill sent with --batch: list them, or cancel them at the vendor and "
        "record what they had already made."
    )
    actions = parser.add_subparsers(dest="batch_command", required=True, metavar="ACTION")
    status = actions.add_parser("status", help="the run's batches and their status")
    status.add_argument("run", metavar="RUN_DIR", help="a run folder written by drill --batch")
    status.add_argument(
        "--refresh", action="store_true", help="ask the vendor for the open batches now"
    )
    cancel = actions.add_parser("cancel", help="cancel the run's open batches at the vendor")
    cancel.add_argument("run", metavar="RUN_DIR", help="a run folder written by drill --batch")
    cancel.add_argument("--no-progress", action="store_true", help="no progress bars")
    for sub in (status, cancel):
        sub.add_argument(
            "--sim-url", metavar="URL", help="the simulator the run's batches are on (sim runs)"
        )
        sub.add_argument("--json", action="store_true", help="print the result as JSON")
    status.set_defaults(func=_cmd_status)
    cancel.set_defaults(func=_cmd_cancel)
