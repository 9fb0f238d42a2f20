"""``imgkit drill``: run the repeat drill from a terminal, or a sweep file, or resume a run.

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
from typing import TYPE_CHECKING, Any

from imgkit.cli.argtypes import positive_int, seconds
from imgkit.cli.parsing import ImgkitParser, print_error
from imgkit.errors import ImgkitError, ValidationError
from imgkit.experiment.arms import LESSON_MODELS, LESSON_PROMPT, LESSON_REPEATS, Arm

if TYPE_CHECKING:
    from imgkit.experiment.sweep import Sweep
    from imgkit.runs.folder import Run

__all__ = ["COMMANDS", "add_commands", "configure", "main", "run_drill"]

#: The command this module adds, with the line ``imgkit --help`` shows for it.
COMMANDS = {"drill": "repeat prompts against models into a run folder"}

EXIT_OK, EXIT_INCOMPLETE, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130


def _read_prompt_file(path: str) -> list[str]:
    """The prompts of a text file (one a line; blank lines and '#' lines skipped), a CSV file
    (a ``prompt`` column) or a JSONL file (``{"prompt": ...}`` a line), by suffix."""
    from imgkit.errors import SweepFileError
    from imgkit.experiment.prompts import read_prompt_file

    try:
        return [prompt.text for prompt in read_prompt_file(path)]
    except SweepFileError as exc:
        raise ValidationError(
            "--prompt-file",
            path,
            "a UTF-8 text file (one prompt a line), a .csv with a 'prompt' column, or a .jsonl "
            'of {"prompt": ...} lines',
            detail=str(exc),
        ) from None


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
    maybe = []
    if summary["may_have_been_billed"]:  # the frame (and pandas) only when there is one
        columns = ["arm", "prompt_id", "repeat", "try", "estimated_usd"]
        maybe = run.may_have_been_billed()[columns].to_dict(orient="records")
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


def _deadline(text: str) -> float:
    """``--timeout``: seconds > 0 (a deadline of 0 would fail every request unsent)."""
    value = seconds(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected seconds > 0, got {text!r}")
    return value


def run_drill(args: argparse.Namespace) -> int:
    """Handle ``imgkit drill`` (and ``--resume``); returns the exit status."""
    from imgkit.runner import drill, resume  # the SDKs and pandas: only when a drill runs
    from imgkit.runner.start import stderr_log  # standard output is for the summary (--json)

    progress = not args.no_progress
    if args.regenerate_missing and not args.resume:
        raise ValidationError(
            "--regenerate-missing",
            True,
            "only with --resume RUN: it makes again the missing images of an existing run",
        )
    if args.sim_url is not None:
        from imgkit.experiment.boundary import check_sim_url

        check_sim_url("--sim-url", args.sim_url, allow_remote=args.allow_remote_sim)
    if args.allow_path and not args.config:
        raise ValidationError(
            "--allow-path", args.allow_path[0], "only with --config: it widens what a sweep reads"
        )
    if args.resume and args.config:
        raise ValidationError(
            "--config", args.config, "no sweep with --resume: a run resumes with its own options"
        )
    if args.resume:
        _check_resume_options(args)
        run = resume(
            args.resume,
            budget=args.budget,
            concurrency=args.concurrency,
            sim_url=args.sim_url,
            regenerate_missing=args.regenerate_missing,
            progress=progress,
            allow_remote_sim=args.allow_remote_sim,
            log=stderr_log,
        )
        return _finish(run, args)
    if args.config:
        sweep = _sweep_from_args(args)
        _check_sim_answers(sweep.sim_url if sweep.backend == "sim" else None, args)
        run = _drill_explaining(
            lambda: drill(
                sweep, progress=progress, log=stderr_log, allow_remote_sim=args.allow_remote_sim
            ),
            args,
            len(sweep.arms),
        )
        return _finish(run, args, sweep.kinds)
    prompts = _prompts_from_args(args)
    arms = _arms_from_args(args)
    if args.sim_url and args.sim_faults:
        raise ValidationError(
            "--sim-faults",
            args.sim_faults,
            "no faults with --sim-url: a running simulator has its own (imgkit sim --faults)",
        )
    _check_sim_answers(args.sim_url if (args.backend or "sim") == "sim" else None, args)
    limits = _rate_limits(args.rate_limit)
    in_run = {arm.model for arm in arms or [Arm.parse(m) for m in LESSON_MODELS]}
    for model in limits:
        if model not in in_run:
            raise ValidationError("--rate-limit", model, f"a model of this run: {sorted(in_run)}")
    run = _drill_explaining(
        lambda: drill(
            prompts or [LESSON_PROMPT],
            None,
            args.n or LESSON_REPEATS,
            arms=arms or None,
            size=args.size,
            quality=args.quality,
            style=args.style,
            backend=args.backend or "sim",
            out=args.out,
            run_name=args.name,
            budget=args.budget,
            concurrency=args.concurrency or 4,
            timeout_s=args.timeout,
            rate_limits=limits,
            sim_url=args.sim_url,
            sim_seed=args.sim_seed or 0,
            sim_latency=args.sim_latency or 0.0,
            sim_faults=args.sim_faults,
            progress=progress,
            log=stderr_log,
            batch=args.batch,
            sim_batch_duration=args.sim_batch_duration,
            allow_remote_sim=args.allow_remote_sim,
        ),
        args,
        len(arms) if arms else len(LESSON_MODELS),
    )
    return _finish(run, args)


def _check_sim_answers(sim_url: str | None, args: argparse.Namespace) -> None:
    """A simulator named by URL must answer before a run folder is made: a URL where none
    listens made a run of failed attempts (the Python API still lets one run, its attempts
    recorded as unbilled connection failures)."""
    if not sim_url:
        return
    from imgkit.experiment.boundary import check_sim_answers, check_sim_url
    from imgkit.runner.provenance import describe_running_simulator

    # Its address first (a sweep's [simulator] url too): nothing is asked of a remote host
    # the user did not allow.
    param = "--sim-url" if args.sim_url else "simulator.url"
    check_sim_url(param, sim_url, allow_remote=args.allow_remote_sim)
    check_sim_answers(param, describe_running_simulator(sim_url))


def _check_resume_options(args: argparse.Namespace) -> None:
    """A run resumes with its own options: refuse the batch options it would ignore (a
    synchronous run resumed with --batch would otherwise go on synchronously, at full price)."""
    from imgkit.runs.folder import open_run

    if args.timeout is not None:
        raise ValidationError(
            "--timeout", args.timeout, "no --timeout with --resume: a run resumes with its own"
        )
    if args.sim_batch_duration is not None:
        raise ValidationError(
            "--sim-batch-duration",
            args.sim_batch_duration,
            "no --sim-batch-duration with --resume: a run resumes with its own simulator",
        )
    if args.batch and not open_run(args.resume).options().batch:
        raise ValidationError(
            "--batch",
            True,
            "no --batch with --resume of a synchronous run: a run resumes with its own options "
            "(start a new run with --batch to use the Batch APIs)",
        )


def _prompts_from_args(args: argparse.Namespace) -> list[str]:
    prompts = list(args.prompt or [])
    for path in args.prompt_file or ():
        prompts += _read_prompt_file(path)
    return prompts


def _arms_from_args(args: argparse.Namespace) -> list[Arm]:
    """The arms of ``--models`` (comma lists of MODEL[@ENDPOINT][+as_is]) then of ``--arm``
    (one arm each, with its own parameters); empty when neither is given."""
    models: list[str] = []
    for entry in args.models or ():
        models += [m.strip() for m in entry.split(",") if m.strip()]
    if args.models is not None and not models:
        raise ValidationError("--models", ",".join(args.models), "at least one model or arm")
    return [Arm.parse(m) for m in models] + [Arm.from_option(a) for a in args.arm or ()]


def _sweep_from_args(args: argparse.Namespace) -> Sweep:
    """The sweep of ``--config``, with what the command line gives instead (arms, prompts,
    repeats, drill-wide parameters, backend, budget, ...); validated again if changed."""
    from imgkit.experiment.prompts import InlinePrompts, Prompt
    from imgkit.experiment.sweep import Sweep

    sweep = Sweep.from_file(args.config, allow_paths=args.allow_path or ())
    changes: dict[str, Any] = {}
    arms = _arms_from_args(args)
    if arms:
        changes["arms"] = arms
        if sweep.checks is not None:
            changes["checks"] = _checks_for(sweep.checks, [arm.name for arm in arms])
    prompts = _prompts_from_args(args)
    if prompts:
        changes["prompts"] = [Prompt(p, "command line") for p in prompts]
        changes["prompt_sources"] = [InlinePrompts(tuple(prompts))]
    params = {k: getattr(args, k) for k in ("size", "quality", "style") if getattr(args, k)}
    if params:
        changes["params"] = {**sweep.params, **params}
    given = {
        "repeats": args.n,
        "backend": args.backend,
        "budget": args.budget,
        "concurrency": args.concurrency,
        "timeout_s": args.timeout,
        "out": args.out,
        "run_name": args.name,
        "sim_url": args.sim_url,
        "sim_seed": args.sim_seed,
        "sim_latency": args.sim_latency,
        "sim_faults": args.sim_faults,
        "sim_batch_duration": args.sim_batch_duration,
    }
    changes.update({k: v for k, v in given.items() if v is not None})
    if args.batch:  # a flag: it can turn batch mode on over a sweep file, not off
        changes["batch"] = True
    if args.rate_limit:
        changes["rate_limits"] = {**sweep.rate_limits, **_rate_limits(args.rate_limit)}
    if args.sim_url and "sim_faults" not in changes:
        changes["sim_faults"] = None  # a running simulator has its own faults
    if changes:
        sweep = sweep.replace(**changes)
        sweep.validate()
    return sweep


def _checks_for(checks: Any, names: list[str]) -> Any:
    """The sweep's checks without those on arms the command line replaced (said on stderr)."""
    from imgkit.experiment.checks import ALL_ARMS, CHECK_KINDS, Checks

    kept: dict[str, Any] = {}
    dropped = set()
    for kind in CHECK_KINDS:
        thresholds = dict(getattr(checks, kind))
        dropped |= {arm for arm in thresholds if arm not in names and arm != ALL_ARMS}
        kept[kind] = {arm: v for arm, v in thresholds.items() if arm in names or arm == ALL_ARMS}
    if dropped:
        print(
            f"imgkit drill: the sweep's checks on {', '.join(sorted(dropped))} are left out: "
            "--models/--arm replaced its arms",
            file=sys.stderr,
        )
    data = {**checks.to_dict(), **kept}
    return Checks.from_mapping(data)


def _drill_explaining(start: Any, args: argparse.Namespace, n_arms: int) -> Run:
    """``start()``; a drill-wide --size/--quality/--style that one of several arms refuses
    gets a hint: give that arm its own value with --arm."""
    try:
        return start()
    except ValidationError as exc:
        option = exc.param if exc.param in ("size", "quality", "style") else None
        if option and getattr(args, option, None) and n_arms > 1 and exc.model:
            raise ValidationError(
                f"--{option}",
                exc.value,
                exc.allowed,
                model=exc.model,
                detail=f"--{option} applies to every arm; give an arm its own with "
                f"--arm '{exc.model}:{option}=VALUE' and leave --{option} out",
            ) from None
        raise


def _finish(run: Run, args: argparse.Namespace, kinds: Sequence[str] | None = None) -> int:
    if args.json:
        extra: dict[str, Any] = {}
        if args.report:
            extra = _write_report_for_json(run, kinds)
        return _report(run, True, extra)
    status = _report(run, False)
    if args.report:
        _print_findings(run, kinds)
    return status


def _report_options(kinds: Sequence[str] | None) -> dict[str, Any]:
    """The report's hash kinds: the sweep's (the first gives the verdicts), else its own."""
    return {"kind": kinds[0], "kinds": tuple(kinds)} if kinds else {}


def _write_report_for_json(run: Run, kinds: Sequence[str] | None = None) -> dict[str, Any]:
    """``--json --report``: the report's path for the JSON summary, or why there is none."""
    from imgkit.report import write_report

    try:
        return {"report": str(write_report(run, **_report_options(kinds)))}
    except ImgkitError as exc:
        return {"report": None, "report_error": str(exc)}


def _print_findings(run: Run, kinds: Sequence[str] | None = None) -> None:
    """Write the run's report and print what the drill found: verdicts and a rewrite."""
    # Imported here: the report pulls in matplotlib, which a plain drill does not need.
    from imgkit.report.data import report_data
    from imgkit.report.render import write_report

    data = report_data(run, **_report_options(kinds))
    html = write_report(run, data=data)
    label = "simulated " if data.simulated != "none" else ""
    print(f"\nWhat the {label}drill found:")
    for comparison in data.comparisons:
        print(f"  {comparison.verdict}")
    if not data.comparisons:
        print("  (no two arms to compare)")
    for line in _similarity_lines(data):
        print(f"  {line}")
    rewritten = run.to_frame().dropna(subset=["revised_prompt"])
    if not rewritten.empty:
        first = rewritten.iloc[0]
        print(f"  {first['model']} was asked for: {first['prompt']}")
        print(f"  and rewrote it as: {first['revised_prompt']}")
    print(f"  report: {html}")


def _similarity_lines(data: Any) -> list[str]:
    """Each arm's similarity on the verdicts' measure, with the hashes' beside it (they find
    near-duplicates, not the same subject)."""
    table = data.similarities
    if not len(table):
        return []
    hashes = [str(k) for k in dict.fromkeys(table.loc[table["family"] == "hash", "kind"])]
    lines = []
    if hashes:
        lines.append(f"similarity per arm ({data.measure.title}; near-duplicate hashes beside):")
    for arm, rows in table.groupby("arm", sort=False):
        by_kind = rows.set_index("kind")
        lead = by_kind.loc[data.kind]
        text = f"  {arm}: {lead['similarity']:.2f} [{lead['ci_low']:.2f}, {lead['ci_high']:.2f}]"
        if hashes:
            text += "; " + ", ".join(f"{k} {by_kind.loc[k, 'similarity']:.2f}" for k in hashes)
        lines.append(text)
    return lines


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
        "--config",
        metavar="SWEEP",
        help="a sweep file (.toml, or .yaml with PyYAML): arms, prompts, repeats, checks; the "
        "options below replace its settings. A run folder's sweep.toml repeats that run",
    )
    what.add_argument(
        "--allow-path",
        action="append",
        metavar="DIR",
        help="with --config: let the sweep file name files and folders under DIR (repeatable); "
        "by default the paths in a sweep file must stay inside its own folder",
    )
    what.add_argument(
        "--prompt", action="append", metavar="TEXT", help="a prompt; repeat for several"
    )
    what.add_argument(
        "--prompt-file",
        action="append",
        metavar="FILE",
        help="prompts from a file: .txt one a line ('#' skips), .csv a 'prompt' column, "
        '.jsonl {"prompt": ...} a line',
    )
    what.add_argument(
        "--models",
        action="append",
        metavar="A,B",
        help="models or arms, comma separated: MODEL[@ENDPOINT][+as_is], e.g. "
        f"dall-e-3,dall-e-3+as_is,gpt-image-2@responses (default {','.join(LESSON_MODELS)})",
    )
    what.add_argument(
        "--arm",
        action="append",
        metavar="SPEC",
        help="one arm with its own parameters (repeatable, with or without --models): "
        "MODEL[@ENDPOINT][+as_is][:KEY=VALUE,...], e.g. 'gpt-image-2:quality=low,size=1536x1024'"
        " or 'dall-e-3:prefix=\"exact same composition:\"' (keys: name, prefix, suffix, "
        "template, size, quality, style, background, output_format, seed, ...)",
    )
    what.add_argument(
        "-n",
        "--repeats",
        dest="n",
        type=positive_int,
        help=f"repeats per prompt and arm (default {LESSON_REPEATS})",
    )
    what.add_argument(
        "--size", help="size for every arm, e.g. 1024x1024 (default: the model's; one arm: --arm)"
    )
    what.add_argument(
        "--quality", help="quality for every arm (default: the model's; one arm: --arm)"
    )
    what.add_argument("--style", help="style for models that take one (dall-e-3: vivid|natural)")

    how = parser.add_argument_group("how to run it")
    how.add_argument(
        "--backend",
        choices=("sim", "live"),
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
        "--timeout",
        type=_deadline,
        metavar="S",
        help="each request's total deadline, however slowly its answer arrives (default 180)",
    )
    how.add_argument(
        "--rate-limit",
        action="append",
        metavar="MODEL=RPM",
        help="requests per minute for a model (repeatable); live runs also use the catalog's",
    )
    how.add_argument(
        "--out",
        help="parent folder of run folders (default: runs/ at the project's root, or $IMGKIT_RUNS)",
    )
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
    how.add_argument(
        "--batch",
        action="store_true",
        help="send through the vendors' Batch APIs at half price, results within 24 h "
        "(arms without batch mode, such as Leonardo's, run synchronously)",
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
        "--sim-url",
        metavar="URL",
        help="use a simulator already running (e.g. `imgkit sim`): http(s), on a loopback address",
    )
    sim.add_argument(
        "--allow-remote-sim",
        action="store_true",
        help="let --sim-url (or a sweep's [simulator] url) name a host other than this machine",
    )
    sim.add_argument("--sim-latency", type=seconds, metavar="S", help="seconds per image (0)")
    sim.add_argument("--sim-faults", metavar="SPEC", help="faults, e.g. 'openai:429=x1'")
    sim.add_argument("--sim-seed", type=int, metavar="N", help="simulator seed (default 0)")
    sim.add_argument(
        "--sim-batch-duration",
        type=seconds,
        metavar="S",
        help="seconds the embedded simulator takes over a batch (with --batch)",
    )
    parser.set_defaults(func=run_drill)


_DESCRIPTION = (
    "Send each prompt N times to each model or arm, concurrently, into a crash-safe run folder. "
    "The estimated cost is printed before anything is sent. Without options this is the "
    "lesson's drill: the astronaut prompt against dall-e-3 and gpt-image-1, five times each, "
    "on the simulator. With --config, the sweep file says what to run."
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
