"""``imgkit rate``, ``imgkit ratings`` and ``imgkit judge``: quality as people and a judge see it.

* ``imgkit rate RUN --rater NAME`` serves the blind rating page on 127.0.0.1 until Ctrl-C
  (:mod:`imgkit.ratings.page`); every answer is in the run folder as soon as it is given.
* ``imgkit ratings RUN [--json]`` prints the rankings, the verdicts and how far raters agree
  (:func:`imgkit.ratings.summary.rating_summary`); ``imgkit ratings merge RUN OTHER...`` adds
  the answers kept in copies of the run (a class's laptops) that RUN lacks.
* ``imgkit judge RUN --judge MODEL`` asks a vision model the same questions
  (:mod:`imgkit.ratings.judge`).
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import threading
from pathlib import Path
from typing import Any

__all__ = ["COMMANDS", "configure"]

#: The commands this module adds, each with the line ``imgkit --help`` shows for it.
COMMANDS = {
    "rate": "rate a run's images blind, two at a time, in the browser (127.0.0.1)",
    "ratings": "the ranking people's ratings give, with intervals; 'ratings merge' adds copies'",
    "judge": "ask a vision model the raters' questions about a run's images",
}


def _run_rate(args: argparse.Namespace) -> int:
    from imgkit.ratings.page import serve
    from imgkit.ratings.session import RatingSession

    session = RatingSession(args.run, args.rater, seed=args.seed)
    server = serve(session, host="127.0.0.1", port=args.port)
    print(f"rating {args.run} as {args.rater}: open {server.url}  (Ctrl-C to stop)", flush=True)
    if args.open:
        import webbrowser

        webbrowser.open(server.url)
    # Ctrl-C or SIGTERM stops the page. Both are handled here, not left to Python's default:
    # a process started in the background by a shell inherits SIGINT ignored, and then Ctrl-C's
    # signal (or a test's) never reached it and the page served on for ever.
    stopping = threading.Event()
    previous = {
        number: signal.signal(number, lambda *_: stopping.set())
        for number in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        while not stopping.wait(1.0):
            pass
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        server.shutdown()
        server.server_close()
    print(f"{session.given} answers kept in {session.store.path}")
    return 0


def _pct(value: Any) -> str:
    return (
        "-"
        if value is None or (isinstance(value, float) and math.isnan(value))
        else (f"{value:.0%}")
    )


def _alpha(value: Any) -> str:
    return (
        "-"
        if value is None or (isinstance(value, float) and math.isnan(value))
        else (f"{value:.2f}")
    )


def _print_summary(summary: Any) -> None:
    from imgkit.ratings.store import CRITERION_TEXT
    from imgkit.ratings.summary import settle_text

    raters = len(summary.raters)
    skipped = f" (and {summary.people_skipped} skipped)" if summary.people_skipped else ""
    print(
        f"{summary.people_answers} answers{skipped} from {raters} rater{'s' if raters != 1 else ''}"
    )
    for verdict in summary.verdicts:
        print(verdict)
    overall = summary.ranking[summary.ranking["prompt_id"].isna()]
    for criterion, rows in overall.groupby("criterion", sort=False):
        print(f"\nranking for {CRITERION_TEXT[criterion]} (score: chance of being preferred):")
        for row in rows.itertuples(index=False):
            ranks = (
                f"rank {row.rank}"
                if row.rank_low == row.rank_high
                else f"rank {row.rank} [{row.rank_low}-{row.rank_high}]"
            )
            print(
                f"  {ranks}  {row.arm}: {row.score:.2f} [{row.score_low:.2f}, "
                f"{row.score_high:.2f}], {row.answers} answers"
            )
    print(f"\n{settle_text(summary.more_answers)}")
    if len(summary.raters):
        print(f"agreement between raters (Krippendorff's alpha): {_alpha(summary.alpha)}")
        for row in summary.raters.itertuples(index=False):
            print(
                f"  {row.rater}: {row.answers} answers, {row.shared} shared with others, "
                f"agrees with the rest {_pct(row.agrees)}, alpha {_alpha(row.alpha_vs_rest)}"
            )
    if summary.judge_answers:
        label = " (simulated)" if summary.judge_simulated else ""
        print(f"\njudge {summary.judge}{label}: {summary.judge_answers} answers")
        others = [j for j in summary.judges if j != summary.judge]
        if others:
            print(f"  other judges of this run (--judge MODEL): {', '.join(others)}")
        for verdict in summary.judge_preferences["verdict"]:
            print(verdict)
        for row in summary.judge_agreement.itertuples(index=False):
            if row.units:
                print(
                    f"  agrees with the people on {row.criterion}: {_pct(row.agrees)} of "
                    f"{row.units} pairs, alpha {_alpha(row.alpha)}"
                )


def _run_ratings(args: argparse.Namespace) -> int:
    from imgkit.errors import ValidationError
    from imgkit.ratings.store import merge_ratings
    from imgkit.ratings.summary import rating_summary

    words = list(args.words)
    if words[0] == "merge" and not (len(words) == 1 and Path("merge").is_dir()):
        if len(words) < 3:
            raise ValidationError("merge", " ".join(words[1:]), "RUN OTHER [OTHER ...]")
        added = merge_ratings(words[1], words[2:])
        if args.json:
            print(json.dumps({"added": added}, indent=2))
        else:
            total = sum(added.values())
            raters = ", ".join(f"{r} {n}" for r, n in sorted(added.items())) or "none new"
            print(f"added {total} answers to {words[1]} ({raters})")
        return 0
    if len(words) != 1:
        raise ValidationError("RUN", " ".join(words), "one run folder, or 'merge RUN OTHER...'")
    summary = rating_summary(
        words[0],
        alpha=args.alpha,
        correction=args.correction,
        n_boot=args.n_boot,
        seed=args.seed,
        judge=args.judge,
    )
    if args.json:
        print(json.dumps(summary.to_dict(), indent=2, default=str))
    else:
        _print_summary(summary)
    return 0


def _run_judge(args: argparse.Namespace) -> int:
    from imgkit.ratings.judge import judge_run

    result = judge_run(
        args.run,
        judge=args.judge,
        backend=args.backend,
        budget=args.budget,
        sim_url=args.sim_url,
        pairs_per_prompt=args.pairs,
        log=print if not args.json else None,
    )
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, default=str))
    else:
        print(result.sentence)
    return 0


def configure(name: str, parser: argparse.ArgumentParser) -> None:
    """Give command ``name`` its options and handler."""
    if name == "rate":
        parser.add_argument("run", metavar="RUN_DIR", help="a run folder written by drill")
        parser.add_argument("--rater", required=True, help="your name (letters, digits, . _ -)")
        parser.add_argument("--port", type=int, default=0, help="port (default: any free one)")
        parser.add_argument("--seed", type=int, default=None, help="the schedule's seed")
        parser.add_argument("--open", action="store_true", help="open the page in a browser")
        parser.set_defaults(func=_run_rate)
    elif name == "ratings":
        parser.add_argument(
            "words",
            nargs="+",
            metavar="RUN_DIR",
            help="a run folder; or 'merge RUN_DIR OTHER...' to add copies' answers to RUN_DIR",
        )
        parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
        parser.add_argument("--alpha", type=float, default=0.05, help="significance level")
        parser.add_argument("--correction", default="holm", help="holm (default), bh or none")
        parser.add_argument("--n-boot", type=int, default=1000, help="bootstrap draws")
        parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")
        parser.add_argument(
            "--judge",
            default=None,
            metavar="MODEL",
            help="the judge to show when several judged the run (default: the most answers)",
        )
        parser.set_defaults(func=_run_ratings)
    elif name == "judge":
        parser.add_argument("run", metavar="RUN_DIR", help="a run folder written by drill")
        parser.add_argument("--judge", required=True, metavar="MODEL", help="the vision model")
        parser.add_argument(
            "--backend",
            default="sim",
            choices=("sim", "live"),
            help="sim (default: the simulator plays the judge) or live",
        )
        parser.add_argument("--budget", type=float, default=None, help="USD (required live)")
        parser.add_argument("--sim-url", default=None, help="a simulator already running")
        parser.add_argument(
            "--pairs", type=int, default=3, help="pairs of images per prompt and two arms"
        )
        parser.add_argument("--json", action="store_true", help="print the result as JSON")
        parser.set_defaults(func=_run_judge)
