"""``imgkit check RUN``: the gate a CI job runs after a drill.

Exit status 0 when every check holds, 1 when one fails (an inconclusive one fails only with
``--inconclusive fail``), 2 for an error (no such run, an arm the run does not have, no check
given). The table printed names each check, the figure measured with its interval, and the
threshold; ``--junit FILE`` writes the same as JUnit XML, ``--json`` prints it as JSON.
Without threshold options the checks come from the ``[checks]`` table of the run's
``sweep.toml`` (or of ``--config FILE``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

__all__ = ["COMMANDS", "add_commands", "configure", "run_check"]

#: The command this module adds, with the line ``imgkit --help`` shows for it.
COMMANDS = {"check": "gate a run on consistency, rewriting, cost and failures (exit 1 on a fail)"}

EXIT_OK, EXIT_FAILED = 0, 1


def run_check(args: argparse.Namespace) -> int:
    """Handler of ``imgkit check``; returns the exit status."""
    from imgkit.analysis.gates import check_run, run_checks
    from imgkit.experiment.checks import Checks
    from imgkit.experiment.sweep import Sweep
    from imgkit.report.checks import checks_junit, checks_text
    from imgkit.runs.folder import open_run

    # --kind and --inconclusive apply to thresholds from the command line or from a file alike.
    settings = {"kind": args.kind, "inconclusive": args.inconclusive}
    overrides = {k: v for k, v in settings.items() if v is not None}
    checks: Checks | None = Checks.from_options(
        min_similarity=args.min_similarity or (),
        max_rewrite=args.max_rewrite or (),
        max_cost_per_image=args.max_cost_per_image or (),
        max_failure_rate=args.max_failure_rate or (),
        **overrides,
    )
    if checks is not None and checks.is_empty():
        if args.config:
            written = Sweep.from_file(args.config, check_catalog=False).checks
        else:
            written = run_checks(open_run(args.run))
        checks = Checks.from_mapping({**written.to_dict(), **overrides}) if written else None
    result = check_run(args.run, checks, n_boot=args.n_boot, seed=args.seed)
    if args.junit:
        Path(args.junit).write_text(checks_junit(result), encoding="utf-8")
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, default=str))
    else:
        print(checks_text(result), end="")
        if args.junit:
            print(f"JUnit XML: {args.junit}")
    return EXIT_OK if result.passed else EXIT_FAILED


_THRESHOLD_HELP = {
    "min_similarity": "similarity of an arm's repeats, each prompt (0..1), at least X",
    "max_rewrite": "mean word edit distance from prompt to revised prompt (0..1), at most X",
    "max_cost_per_image": "USD spent per image made, at most X",
    "max_failure_rate": "share of generations failed/refused/unanswered, at most X "
    "(no ARM=: the whole run)",
}


def configure(name: str, parser: argparse.ArgumentParser) -> None:
    """Give ``parser``, the subparser of ``check``, its options and handler."""
    if name != "check":
        raise KeyError(name)
    parser.description = (
        "Measure a run folder against thresholds and exit 1 when one fails: the gate for CI. "
        "Each threshold is ARM=X for one arm or X for every arm (repeatable). A figure whose "
        "interval straddles its threshold is inconclusive and says which way it leans."
    )
    parser.add_argument("run", metavar="RUN_DIR", help="a run folder written by drill")
    for key, text in _THRESHOLD_HELP.items():
        parser.add_argument(
            "--" + key.replace("_", "-"), action="append", metavar="[ARM=]X", help=text
        )
    parser.add_argument(
        "--kind",
        help="the measure the similarity is measured with (default efficientnet-lite0, or the "
        "sweep's; a hash kind such as phash finds near-duplicates)",
    )
    parser.add_argument(
        "--inconclusive",
        choices=("pass", "fail"),
        help="what an inconclusive check counts as (default pass: it is reported, not failed)",
    )
    parser.add_argument(
        "--config", metavar="SWEEP", help="take the checks from this sweep file's [checks]"
    )
    parser.add_argument("--junit", metavar="FILE", help="also write the checks as JUnit XML")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument(
        "--n-boot", type=int, default=2000, metavar="N", help="bootstrap replicates (2000)"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.set_defaults(func=run_check)


def add_commands(subparsers: Any) -> None:
    """Register ``check`` on an argparse subparsers object."""
    for name, summary in COMMANDS.items():
        configure(name, subparsers.add_parser(name, help=summary))
