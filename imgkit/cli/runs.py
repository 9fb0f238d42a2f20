"""Commands about run folders: ``imgkit runs [DIR]`` and ``imgkit verify RUN``.

``runs`` lists the run folders under a folder (default: the project's ``runs/``), one line
each, from their manifests and ledger summaries (:mod:`imgkit.runs.index`), quick with hundreds
of runs and without importing pandas. ``verify`` checks every image a run's ledger records
against its SHA-256 and says which are missing or damaged; exit status 0 when all are intact, 1
when some are not.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

__all__ = ["COMMANDS", "add_commands", "configure"]

#: The commands this module adds, each with the line ``imgkit --help`` shows for it.
COMMANDS = {
    "runs": "list the run folders under a folder: when, what, how many images, spent",
    "verify": "check a run folder's images against their recorded hashes",
}


def _cmd_runs(args: argparse.Namespace) -> int:
    from imgkit.runs.index import index_entries
    from imgkit.runs.location import runs_folder

    entries = index_entries(args.folder)
    if args.json:
        print(json.dumps(entries, indent=2, default=str))
        return 0
    folder = runs_folder(args.folder)
    if not entries:
        print(f"no run folders in {folder}")
        return 0
    header = ["run", "created (UTC)", "backend", "arms", "prompts", "images", "spent", "status"]
    rows = [header]
    for entry in entries:
        created = str(entry["created_at"] or "-").replace("T", " ")[:16]
        backend = entry["backend"] or "-"
        if entry["simulated"]:
            backend += " (simulated)"
        spent = "-" if entry["spent_usd"] is None else f"${entry['spent_usd']:.4f}"
        planned = entry["planned"] if entry["planned"] is not None else "?"
        images = f"{entry['images'] if entry['images'] is not None else '?'}/{planned}"
        status = entry["status"] + (f" ({entry['problem']})" if entry["problem"] else "")
        # The folder's name is what other commands are given; a copied folder (a baseline
        # kept as baseline/known-good) still carries the id of the run it copies.
        folder_name = Path(entry["path"]).name
        name = folder_name
        if folder_name != entry["run_id"]:
            name += f" (run {entry['run_id']})"
        rows.append(
            [
                name,
                created,
                backend,
                str(entry["arms"] if entry["arms"] is not None else "-"),
                str(entry["prompts"] if entry["prompts"] is not None else "-"),
                images,
                spent,
                status,
            ]
        )
    widths = [max(len(row[k]) for row in rows) for k in range(len(header))]
    print(f"{len(entries)} run(s) in {folder}")
    for row in rows:
        print("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from imgkit.runs.confined import escaping_links
    from imgkit.runs.folder import open_run

    run = open_run(args.run)
    checked = run.verify()
    bad = checked[checked["problem"].notna()]
    links = [{"path": str(path), "target": target} for path, target in escaping_links(run.path)]
    # "not an image: <reason>" counted as one kind of problem; the reasons are in the rows
    kinds = bad["problem"].astype(str).str.partition(":")[0]
    counts = {str(k): int(v) for k, v in kinds.value_counts().items()}
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
                    "links_leaving_the_folder": links,
                },
                indent=2,
            )
        )
        return 0 if bad.empty and not links else 1
    summary = ", ".join(f"{n} {problem}" for problem, n in sorted(counts.items()))
    print(
        f"run {run.run_id}: {len(checked)} image(s) checked, {len(checked) - len(bad)} intact"
        + (f", {summary}" if summary else "")
    )
    for row in bad.itertuples():
        print(f"  {row.arm} {row.prompt_id} repeat {row.repeat}: {row.problem} ({row.image_file})")
    for link in links:
        print(
            f"  {link['path']}: a symbolic link to {link['target']}, which leaves the run folder "
            "(imgkit refuses to write to this folder until it is removed)"
        )
    if not bad.empty:
        print(
            f"  `imgkit drill --resume {run.path} --regenerate-missing` makes them again "
            "(the cost is printed before anything is sent)"
        )
    return 0 if bad.empty and not links else 1


def add_commands(subparsers: Any) -> None:
    """Register this module's commands on an argparse subparsers object."""
    for name, summary in COMMANDS.items():
        configure(name, subparsers.add_parser(name, help=summary))


def configure(name: str, parser: argparse.ArgumentParser) -> None:
    """Give ``parser``, the subparser of command ``name`` (a key of :data:`COMMANDS`), its
    options and handler."""
    if name == "runs":
        parser.description = (
            "List the run folders under DIR (default: runs/ at the project's root, or "
            "$IMGKIT_RUNS), oldest first: id, when, backend, arms, prompts, images made of "
            "planned, money spent, status."
        )
        parser.add_argument("folder", metavar="DIR", nargs="?", help="a folder of run folders")
        parser.add_argument("--json", action="store_true", help="print the index as JSON")
        parser.set_defaults(func=_cmd_runs)
        return
    if name != "verify":
        raise KeyError(name)
    parser.description = (
        "Check every image a run folder's ledger records against its SHA-256; exit 1 when "
        "some are missing or damaged."
    )
    parser.add_argument("run", metavar="RUN_DIR", help="a run folder written by drill")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(func=_cmd_verify)
