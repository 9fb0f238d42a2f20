"""``imgkit drill``: run the repeat drill from a terminal, or resume one.

Registered on the main parser through :data:`COMMANDS` and :func:`configure`; also runnable on
its own as ``python -m imgkit.cli.drill ...`` (same options as ``imgkit drill``). The runner, and
with it the SDKs and pandas, is imported when the command runs, not when the parser is built.

Exit status: 0 when the run is complete (failed or refused generations are results, recorded in
the run), 1 when it stopped before the end (budget, stop), 130 when interrupted, 2 for an error
(bad option, budget refused before sending, run folder in use).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imgkit.cli.argtypes import positive_int, seconds
from imgkit.cli.parsing import ImgkitParser, print_error
from imgkit.errors import ImgkitError, ValidationError
from imgkit.experiment.arms import LESSON_MODELS, LESSON_PROMPT, LESSON_REPEATS, Arm

if TYPE_CHECKING:
    from imgkit.runs.folder import Run

__all__ = ["COMMANDS", "add_commands", "configure", "main", "run_drill"]

#: The command this module adds, with the line ``imgkit --help`` shows for it.
COMMANDS = {"drill": "repeat prompts against models into a run folder"}

EXIT_OK, EXIT_INCOMPLETE, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130


def _read_prompt_file(path: str) -> list[str]:
    """One prompt per line; blank lines and lines starting with '#' are skipped."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(
            "--prompt-file",
            path,
            "a readable UTF-8 text file, one prompt per line",
            detail=str(exc),
        ) from None
    prompts = [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"]
    if not prompts:
        raise ValidationError("--prompt-file", path, "a file with at least one prompt line")
    return prompts


def _rate_limits(values: Sequence[str] | None) -> dict[str, dict[str, float]]:
    """``MODEL=RPM`` (requests per minute) entries into the runner's rate-limit mapping."""
    limits: dict[str, dict[str, float]] = {}
    for value in values or ():
        model, _, rpm = value.partition("=")
        try:
            per_minute = float(rpm)
        except ValueError:
            per_minute = 0.0
        if not model or per_minute <= 0:
            raise ValidationError("--rate-limit", value, "MODEL=REQUESTS_PER_MINUTE (> 0)")
        limits[model.strip()] = {"requests_per_minute": per_minute}
    return limits


def _report(run: Run, as_json: bool, extra: dict[str, Any] | None = None) -> int:
    summary = run.summary()
    billed = run.may_have_been_billed()
    columns = ["arm", "prompt_id", "repeat", "try", "estimated_usd"]
    maybe = [] if billed.empty else billed[columns].to_dict(orient="records")
    if as_json:
        payload = {**summary, "may_have_been_billed": maybe, **(extra or {})}
        print(json.dumps(payload, indent=2, default=str))
    else:
        counts = ", ".join(
            f"{summary[s]} {s}"
            for s in ("ok", "failed", "refused", "in_flight", "pending")
            if summary.get(s)
        )
        print(f"run {summary['run_id']}: {summary['status']} ({counts or 'nothing sent'})")
        print(f"  folder:  {summary['path']}")
        print(
            f"  spent:   ${summary['spent_usd']:.4f}"
            + (" (simulated)" if run.manifest.get("simulated") else "")
        )
        if maybe:
            total = sum(m["estimated_usd"] or 0.0 for m in maybe)
            print(
                f"  {len(maybe)} attempt(s) may have been billed without an image "
                f"(estimated ${total:.4f})"
            )
        print(f"  open it: imgkit.open_run({summary['path']!r}).to_frame()")
    status = summary["status"]
    if status == "interrupted":
        return EXIT_INTERRUPTED
    return EXIT_OK if status == "complete" else EXIT_INCOMPLETE


def run_drill(args: argparse.Namespace) -> int:
    """Handle ``imgkit drill`` (and ``--resume``); returns the exit status."""
    from imgkit.runner import drill, resume  # the SDKs and pandas: only when a drill runs

    progress = not args.no_progress
    if args.resume:
        run = resume(
            args.resume,
            budget=args.budget,
            concurrency=args.concurrency,
            sim_url=args.sim_url,
            regenerate_missing=args.regenerate_missing,
            progress=progress,
        )
        return _finish(run, args)
    prompts = list(args.prompt or [])
    for path in args.prompt_file or ():
        prompts += _read_prompt_file(path)
    models: list[str] = []
    for entry in args.models or ():
        models += [m.strip() for m in entry.split(",") if m.strip()]
    if args.models is not None and not models:
        raise ValidationError("--models", ",".join(args.models), "at least one model or arm")
    if args.sim_url and args.sim_faults:
        raise ValidationError(
            "--sim-faults",
            args.sim_faults,
            "no faults with --sim-url: a running simulator has its own (imgkit sim --faults)",
        )
    limits = _rate_limits(args.rate_limit)
    in_run = {Arm.parse(m).model for m in models or LESSON_MODELS}
    for model in limits:
        if model not in in_run:
            raise ValidationError("--rate-limit", model, f"a model of this run: {sorted(in_run)}")
    run = drill(
        prompts or [LESSON_PROMPT],
        models or list(LESSON_MODELS),
        args.n,
        size=args.size,
        quality=args.quality,
        style=args.style,
        backend=args.backend,
        out=args.out,
        run_name=args.name,
        budget=args.budget,
        concurrency=args.concurrency or 4,
        rate_limits=limits,
        sim_url=args.sim_url,
        sim_seed=args.sim_seed,
        sim_latency=args.sim_latency,
        sim_faults=args.sim_faults,
        progress=progress,
    )
    return _finish(run, args)


def _finish(run: Run, args: argparse.Namespace) -> int:
    if args.json:
        extra: dict[str, Any] = {}
        if args.report:
            extra = _write_report_for_json(run)
        return _report(run, True, extra)
    status = _report(run, False)
    if args.report:
        _print_findings(run)
    return status


def _write_report_for_json(run: Run) -> dict[str, Any]:
    """``--json --report``: the report's path for the JSON summary, or why there is none."""
    from imgkit.report import write_report

    try:
        return {"report": str(write_report(run))}
    except ImgkitError as exc:
        return {"report": None, "report_error": str(exc)}


def _print_findings(run: Run) -> None:
    """Write the run's report and print what the drill found: verdicts and a rewrite."""
    # Imported here: the report pulls in matplotlib, which a plain drill does not need.
    from imgkit.report.data import report_data
    from imgkit.report.render import write_report

    data = report_data(run)
    html = write_report(run, data=data)
    label = "simulated " if data.simulated != "none" else ""
    print(f"\nWhat the {label}drill found:")
    for comparison in data.comparisons:
        print(f"  {comparison.verdict}")
    if not data.comparisons:
        print("  (no two arms to compare)")
    rewritten = run.to_frame().dropna(subset=["revised_prompt"])
    if not rewritten.empty:
        first = rewritten.iloc[0]
        print(f"  {first['model']} was asked for: {first['prompt']}")
        print(f"  and drew instead:  {first['revised_prompt']}")
    print(f"  report: {html}")


def _money(text: str) -> float:
    try:
        value = float(text.lstrip("$"))
    except ValueError:
        value = -1.0
    if not (math.isfinite(value) and 0 <= value < 1e12):
        raise argparse.ArgumentTypeError(f"{text!r} is not a dollar amount >= 0 and below 1e12")
    return value


def _configure(parser: argparse.ArgumentParser) -> None:
    what = parser.add_argument_group("what to run (default: the lesson's drill)")
    what.add_argument(
        "--prompt", action="append", metavar="TEXT", help="a prompt; repeat for several"
    )
    what.add_argument(
        "--prompt-file", action="append", metavar="FILE", help="one prompt per line ('#' skips)"
    )
    what.add_argument(
        "--models",
        action="append",
        metavar="A,B",
        help="models or arms, comma separated: MODEL[@ENDPOINT][+as_is], e.g. "
        f"dall-e-3,dall-e-3+as_is,gpt-image-2@responses (default {','.join(LESSON_MODELS)})",
    )
    what.add_argument(
        "-n",
        "--repeats",
        dest="n",
        type=positive_int,
        default=LESSON_REPEATS,
        help="repeats per prompt and arm (default %(default)s)",
    )
    what.add_argument("--size", help="size for every arm, e.g. 1024x1024 (default: the model's)")
    what.add_argument("--quality", help="quality for every arm (default: the model's)")
    what.add_argument("--style", help="style for models that take one (dall-e-3: vivid|natural)")

    how = parser.add_argument_group("how to run it")
    how.add_argument(
        "--backend",
        choices=("sim", "live"),
        default="sim",
        help="sim: imgkit's offline simulator, free and labelled simulated (default); live: the "
        "real services (needs the vendor's key and --budget)",
    )
    how.add_argument(
        "--budget", type=_money, metavar="USD", help="refuse or stop beyond it (live: required)"
    )
    how.add_argument(
        "--concurrency", type=positive_int, metavar="K", help="requests at once (default 4)"
    )
    how.add_argument(
        "--rate-limit",
        action="append",
        metavar="MODEL=RPM",
        help="requests per minute for a model (repeatable); live runs also use the catalog's",
    )
    how.add_argument("--out", default="runs", help="parent folder of run folders (default runs/)")
    how.add_argument("--name", help="run folder name (default: time stamp and random suffix)")
    how.add_argument(
        "--resume", metavar="DIR", help="finish an interrupted or stopped run folder instead"
    )
    how.add_argument(
        "--regenerate-missing",
        action="store_true",
        help="with --resume: make again the images that are missing or damaged (imgkit verify "
        "lists them); the cost is printed first",
    )
    how.add_argument("--no-progress", action="store_true", help="no progress bars")
    how.add_argument("--json", action="store_true", help="print the run summary as JSON")
    how.add_argument(
        "--report",
        action="store_true",
        help="afterwards, write the run's report and print the verdicts",
    )

    sim = parser.add_argument_group("simulator (backend sim)")
    sim.add_argument(
        "--sim-url", metavar="URL", help="use a simulator already running (e.g. `imgkit sim`)"
    )
    sim.add_argument(
        "--sim-latency", type=seconds, default=0.0, metavar="S", help="seconds per image"
    )
    sim.add_argument("--sim-faults", metavar="SPEC", help="faults, e.g. 'openai:429=x1'")
    sim.add_argument("--sim-seed", type=int, default=0, metavar="N", help="simulator seed")
    parser.set_defaults(func=run_drill)


_DESCRIPTION = (
    "Send each prompt N times to each model or arm, concurrently, into a crash-safe run folder. "
    "The estimated cost is printed before anything is sent. Without options this is the "
    "lesson's drill: the astronaut prompt against dall-e-3 and gpt-image-1, five times each, "
    "on the simulator."
)


def configure(name: str, parser: argparse.ArgumentParser) -> None:
    """Give ``parser``, the subparser of ``drill``, its options and handler (:func:`run_drill`)."""
    parser.description = _DESCRIPTION
    _configure(parser)


def add_commands(subparsers: Any) -> None:
    """Register ``drill`` on an argparse subparsers object (handler: :func:`run_drill`)."""
    for name, summary in COMMANDS.items():
        configure(name, subparsers.add_parser(name, help=summary))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m imgkit.cli.drill``: the drill command on its own; returns the exit status."""
    parser = ImgkitParser(prog="imgkit drill", description=_DESCRIPTION)
    _configure(parser)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ImgkitError as exc:
        print_error(exc)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
