"""``imgkit plan``: how many repeats per arm a comparison needs, and what they cost.

``imgkit plan RUN --difference 0.1 --power 0.8`` reads a pilot run folder and prints the
repeats per arm (and prompt) at which a similarity difference of 0.1 would be detected with 80%
power after the report's correction, the power curve behind it, and the cost at the catalog's
prices (:func:`imgkit.analysis.planning.plan_repeats`). Without a run, ``--similarity 0.8``
plans from an assumed similarity. Nothing is sent.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from imgkit.cli.parsing import print_error
from imgkit.errors import ImgkitError

__all__ = ["COMMANDS", "add_commands", "configure", "run_plan"]

#: The commands this module adds, each with the line ``imgkit --help`` shows for it.
COMMANDS = {"plan": "how many repeats per arm a comparison needs, and what they cost"}


def run_plan(args: argparse.Namespace) -> int:
    """Handler of ``imgkit plan``: print the plan (or JSON); exit 2 on bad input."""
    from imgkit.analysis.planning import plan_repeats

    if args.run is None and args.similarity is None:
        print_error("give a pilot RUN_DIR, or --similarity for an assumed one")
        return 2
    # A plan simulates hundreds of runs (seconds to minutes): say what it is doing to a person
    # watching a terminal; a pipe or a log file gets only the result.
    watched = bool(getattr(sys.stderr, "isatty", lambda: False)())
    try:
        plan = plan_repeats(
            args.run,
            difference=args.difference,
            power=args.power,
            alpha=args.alpha,
            comparisons=args.comparisons,
            kind=args.kind,
            arms=args.arms.split(",") if args.arms else None,
            base_arm=args.base_arm,
            similarity=args.similarity if args.run is None else None,
            n_prompts=args.prompts,
            n_sims=args.sims,
            max_repeats=args.max_repeats,
            seed=args.seed,
            progress=(lambda line: print(f"imgkit plan: {line}", file=sys.stderr, flush=True))
            if watched
            else None,
        )
    except (ImgkitError, OSError) as error:
        print_error(error)
        return 2
    if args.json:
        print(json.dumps(plan.to_dict(), indent=2, default=str))
        return 0
    if plan.simulated:
        print("SIMULATED pilot: the plan describes the simulator's images, not a real model")
    print(plan.sentence)
    base = f"base arm {plan.base_arm}" if plan.base_arm else plan.basis
    print(
        f"  ({base}; power from {plan.settings['n_sims']} simulated runs per candidate, "
        "+- is two Monte Carlo standard errors; a small pilot adds its own uncertainty)"
    )
    if len(plan.curve):
        print("\n  repeats  power")
        for row in plan.curve.itertuples():
            print(f"  {row.n:7d}  {row.power:5.0%} +- {2 * row.se:.0%}")
    if plan.prices:
        print("\n  price per image (catalog):")
        for arm, price in plan.prices.items():
            print(f"    {arm}: {'unknown' if price is None else f'${price:.4f}'}")
    return 0


def add_commands(subparsers: Any) -> None:
    """Register ``plan`` on an argparse subparsers object."""
    for name, summary in COMMANDS.items():
        configure(name, subparsers.add_parser(name, help=summary))


def configure(name: str, parser: argparse.ArgumentParser) -> None:
    """Give ``parser``, the subparser of command ``name`` (a key of :data:`COMMANDS`), its
    options and handler."""
    if name != "plan":
        raise KeyError(name)
    parser.description = (
        "Plan a consistency comparison: the repeats per arm needed to detect a similarity "
        "difference with the power asked for, after correcting for every pair of arms, from a "
        "pilot run (or an assumed similarity), and what they cost at the catalog's prices. "
        "Nothing is sent."
    )
    parser.add_argument("run", nargs="?", metavar="RUN_DIR", help="a pilot run folder")
    parser.add_argument(
        "--difference",
        type=float,
        default=0.1,
        help="similarity difference to detect, on the fixed 0..1 scale (default %(default)s)",
    )
    parser.add_argument(
        "--power", type=float, default=0.8, help="chance of detecting it (default %(default)s)"
    )
    parser.add_argument(
        "--alpha", type=float, default=0.05, help="significance level (default %(default)s)"
    )
    parser.add_argument(
        "--comparisons",
        type=int,
        help="comparisons the verdict is corrected over (default: every pair of the run's arms)",
    )
    parser.add_argument(
        "--kind",
        default="efficientnet-lite0",
        help="the measure the verdicts use (default %(default)s)",
    )
    parser.add_argument("--arms", help="comma-separated arms of the pilot to plan for")
    parser.add_argument("--base-arm", help="the arm whose images the simulation starts from")
    parser.add_argument(
        "--similarity", type=float, help="without a pilot: the assumed similarity (0..1)"
    )
    parser.add_argument("--prompts", type=int, help="prompts in the planned run (default pilot's)")
    parser.add_argument(
        "--sims", type=int, default=200, help="simulated runs per candidate (default %(default)s)"
    )
    parser.add_argument(
        "--max-repeats", type=int, default=200, help="largest repeats tried (default %(default)s)"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--json", action="store_true", help="print the plan as JSON")
    parser.set_defaults(func=run_plan)
