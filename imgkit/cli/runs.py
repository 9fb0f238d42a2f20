"""Commands about run folders: ``imgkit verify RUN``.

``verify`` checks every image a run's ledger records against its SHA-256 and says which are
missing or damaged; exit status 0 when all are intact, 1 when some are not.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["COMMANDS", "add_commands", "configure"]

#: The commands this module adds, each with the line ``imgkit --help`` shows for it.
COMMANDS = {"verify": "check a run folder's images against their recorded hashes"}


def _cmd_verify(args: argparse.Namespace) -> int:
    from imgkit.runs.folder import open_run

    run = open_run(args.run)
    checked = run.verify()
    bad = checked[checked["problem"].notna()]
    counts = {str(k): int(v) for k, v in bad["problem"].value_counts().items()}
    if args.json:
        print(
            json.dumps(
                {
                    "run_id": run.run_id,
                    "path": str(run.path),
                    "images": len(checked),
                    "intact": len(checked) - len(bad),
                    "problems": counts,
                    "damaged": bad.to_dict(orient="records"),
                },
                indent=2,
            )
        )
        return 0 if bad.empty else 1
    summary = ", ".join(f"{n} {problem}" for problem, n in sorted(counts.items()))
    print(
        f"run {run.run_id}: {len(checked)} image(s) checked, {len(checked) - len(bad)} intact"
        + (f", {summary}" if summary else "")
    )
    for row in bad.itertuples():
        print(f"  {row.arm} {row.prompt_id} repeat {row.repeat}: {row.problem} ({row.image_file})")
    if not bad.empty:
        print(
            f"  `imgkit drill --resume {run.path} --regenerate-missing` makes them again "
            "(the cost is printed before anything is sent)"
        )
    return 0 if bad.empty else 1


def add_commands(subparsers: Any) -> None:
    """Register this module's commands on an argparse subparsers object."""
    for name, summary in COMMANDS.items():
        configure(name, subparsers.add_parser(name, help=summary))


def configure(name: str, parser: argparse.ArgumentParser) -> None:
    """Give ``parser``, the subparser of command ``name`` (a key of :data:`COMMANDS`), its
    options and handler."""
    if name != "verify":
        raise KeyError(name)
    parser.description = (
        "Check every image a run folder's ledger records against its SHA-256; exit 1 when "
        "some are missing or damaged."
    )
    parser.add_argument("run", metavar="RUN_DIR", help="a run folder written by drill")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(func=_cmd_verify)
