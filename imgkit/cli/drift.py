"""``imgkit drift RUN_A RUN_B [...]``: the same arms and prompts compared across runs.

Runs are taken oldest first whatever the order given; each arm shared by two or more of them is
compared between its runs (see :mod:`imgkit.analysis.drift`): consistency with a test of
"changed", rewriting with an interval of its change. Arms that do not match are named, with
what differs. ``--html`` writes the drift page (into the latest run's folder by default, titled
"Change since RUN_A"), ``--plot FILE`` the figure over time, ``--json`` the numbers.

Exit status 0, or 1 with ``--fail-on-change`` when some arm changed; 2 for an error.
"""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

__all__ = ["COMMANDS", "add_commands", "configure", "run_drift"]

#: The command this module adds, with the line ``imgkit --help`` shows for it.
COMMANDS = {"drift": "compare the same arms and prompts across runs made at different times"}


def _figure(value: Any, low: Any, high: Any) -> str:
    if value is None or not isinstance(value, float | int) or not math.isfinite(value):
        return "-"
    if isinstance(low, float) and isinstance(high, float) and math.isfinite(low + high):
        return f"{value:.2f} [{low:.2f}, {high:.2f}]"
    return f"{value:.2f}"


def run_drift(args: argparse.Namespace) -> int:
    """Handler of ``imgkit drift``; returns the exit status."""
    from imgkit.analysis.drift import drift

    result = drift(
        args.runs,
        args.kind,
        reference=args.reference,
        by_prompt=args.by_prompt,
        n_boot=args.n_boot,
        seed=args.seed,
    )
    written = []
    if args.plot:
        from matplotlib.figure import Figure

        from imgkit.report.drift_plots import drift_over_time

        figure = Figure(figsize=(8.0, 4.2))
        drift_over_time(result.table, ax=figure.add_subplot())
        figure.savefig(args.plot, dpi=100, bbox_inches="tight")
        written.append(args.plot)
    if args.html is not None:
        from imgkit.report.drift_page import write_drift_page

        written.append(str(write_drift_page(result, args.html or None)))
    if args.json:
        payload = result.to_dict()
        payload["written"] = written
        print(json.dumps(payload, indent=2, default=str))
    else:
        _print(result, written)
    return 1 if args.fail_on_change and len(result.changed) else 0


def _print(result: Any, written: list[str]) -> None:
    simulated = bool(result.frame["simulated"].fillna(False).astype(bool).any())
    print(
        f"imgkit drift: {len(result.runs)} runs, oldest first: {', '.join(result.runs)}"
        + (" [simulated]" if simulated else "")
    )
    table = result.table
    if len(table):
        head = ["arm", "run", "images", "similarity", "p", "rewrite", "changed"]
        rows = [head]
        for row in table.itertuples():
            changed = [
                name
                for name, flag in (
                    ("consistency", row.consistency_changed),
                    ("rewrite", row.rewrite_changed),
                )
                if flag is True
            ]
            rows.append(
                [
                    row.arm + (f" [{row.prompt[:24]}]" if isinstance(row.prompt, str) else ""),
                    row.run_id + (" (ref)" if row.is_reference else ""),
                    "-"
                    if row.n_images is None or row.n_images != row.n_images
                    else str(int(row.n_images)),
                    _figure(row.similarity, row.ci_low, row.ci_high),
                    "-"
                    if row.p_value is None or not math.isfinite(row.p_value)
                    else f"{row.p_value:.3f}",
                    _figure(row.rewrite, row.rewrite_low, row.rewrite_high),
                    ", ".join(changed) or ("" if row.is_reference else "no"),
                ]
            )
        widths = [max(len(r[k]) for r in rows) for k in range(len(head))]
        for cells in rows:
            print("  " + "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip())
        print()
    for line in result.summary():
        print(f"- {line}")
    for path in written:
        print(f"wrote {path}")


def configure(name: str, parser: argparse.ArgumentParser) -> None:
    """Give ``parser``, the subparser of ``drift``, its options and handler."""
    if name != "drift":
        raise KeyError(name)
    parser.description = (
        "Compare the same arms and prompts across run folders made at different times: "
        "consistency (with a test of a change) and prompt rewriting, each arm against its "
        "first run. Arms are matched by what they ask (model, snapshot, parameters, prompt "
        "transform), not by name."
    )
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR", help="two or more run folders")
    parser.add_argument(
        "--kind",
        default="efficientnet-lite0",
        help="the measure the similarity is measured with (default %(default)s; a hash kind "
        "such as phash finds near-duplicates)",
    )
    parser.add_argument(
        "--reference",
        choices=("first", "previous"),
        default="first",
        help="compare each run with the arm's first run (default) or with the run before it",
    )
    parser.add_argument("--by-prompt", action="store_true", help="one comparison per prompt too")
    parser.add_argument(
        "--html",
        nargs="?",
        const="",
        metavar="FILE",
        help="write the drift page (default: drift.html in the latest run's folder)",
    )
    parser.add_argument("--plot", metavar="PNG", help="write the figure over time")
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    parser.add_argument(
        "--fail-on-change",
        action="store_true",
        help="exit 1 when consistency or rewriting changed for some arm (for CI)",
    )
    parser.add_argument(
        "--n-boot", type=int, default=2000, metavar="N", help="bootstrap replicates (2000)"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.set_defaults(func=run_drift)


def add_commands(subparsers: Any) -> None:
    """Register ``drift`` on an argparse subparsers object."""
    for name, summary in COMMANDS.items():
        configure(name, subparsers.add_parser(name, help=summary))
