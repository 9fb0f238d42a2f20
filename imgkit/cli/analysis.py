"""The ``imgkit hash``, ``imgkit consistency`` and ``imgkit report`` subcommands.

:func:`add_commands` registers them on an argparse subparsers object; the main parser lists
them from :data:`COMMANDS` and calls :func:`configure` for the one being run, which is when
numpy, Pillow, pandas and the report are imported. Each handler takes the parsed ``args``,
prints its result to stdout (a table, or JSON with ``--json``) and returns an exit code: 0 on
success, 2 on bad input, with a one-line message on stderr naming the parameter and value,
never a traceback.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imgkit.cli.parsing import ExtendNumbers, print_error, volumes
from imgkit.errors import ImgkitError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["COMMANDS", "add_commands", "configure", "run_consistency", "run_hash", "run_report"]

#: The commands this module adds, each with the line ``imgkit --help`` shows for it.
COMMANDS = {
    "hash": "perceptual hashes of images and their pairwise distances",
    "consistency": "how alike a folder of images is",
    "report": "write a run's self-contained HTML report and Markdown summary",
}

EXIT_OK = 0
EXIT_BAD_INPUT = 2


def _kinds(values: Sequence[str] | None, default: Sequence[str]) -> tuple[str, ...]:
    # Accept both "--kinds phash dhash" and "--kinds phash,dhash"; validation is left to the
    # computing functions so every message has the one ValidationError shape.
    if not values:
        return tuple(default)
    return tuple(k.strip() for value in values for k in value.split(",") if k.strip())


def _fail(error: Exception) -> int:
    print_error(error)  # the message names the parameter and the value
    return EXIT_BAD_INPUT


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):  # numpy scalars
        return _json_value(value.item())
    return value


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {key: _json_value(value) for key, value in row.items()}
        for row in frame.to_dict(orient="records")
    ]


def run_hash(args: argparse.Namespace) -> int:
    """Handler of ``imgkit hash``: print each file's hashes, and with two or more files the
    pairwise Hamming distances per kind. Returns the exit code."""
    import pandas as pd

    from imgkit.analysis.hashing import KINDS, distance_matrix, hash_images

    try:
        kinds = _kinds(args.kinds, KINDS)
        frame = hash_images(args.files, kinds=kinds, hash_size=args.hash_size)
    except (ImgkitError, OSError) as error:
        return _fail(error)
    sources = frame["source"].tolist()
    matrices = {}
    if len(frame) >= 2:
        matrices = {kind: distance_matrix(frame[kind].tolist()) for kind in kinds}
    if args.json:
        payload = {
            "hash_size": args.hash_size,
            "hashes": _records(frame),
            "distances": {
                kind: {"sources": sources, "matrix": matrix.tolist()}
                for kind, matrix in matrices.items()
            },
        }
        print(json.dumps(payload, indent=2))
        return EXIT_OK
    print(frame.to_string(index=False))
    for kind, matrix in matrices.items():
        labels = [f"[{i}]" for i in range(len(sources))]
        print(f"\n{kind} distances (bits):")
        print(pd.DataFrame(matrix, index=labels, columns=labels).to_string())
    if matrices:
        print()
        for i, source in enumerate(sources):
            print(f"[{i}] {source}")
    return EXIT_OK


def run_consistency(args: argparse.Namespace) -> int:
    """Handler of ``imgkit consistency``: score folders or lists of images (see
    :func:`imgkit.analysis.consistency.consistency_for_paths`) and print the table. Returns the exit
    code."""
    from imgkit.analysis.consistency import DEFAULT_KINDS, consistency_for_paths

    try:
        kinds = _kinds(args.kinds, DEFAULT_KINDS)
        table = consistency_for_paths(
            args.paths,
            kinds=kinds,
            near_duplicate=args.near_duplicate,
            n_boot=args.n_boot,
            seed=args.seed,
            hash_size=args.hash_size,
        )
    except (ImgkitError, OSError) as error:
        return _fail(error)
    if args.json:
        print(json.dumps({"consistency": _records(table)}, indent=2))
        return EXIT_OK
    # A run folder's rows are per prompt too; plain folders have one unnamed prompt.
    named_prompts = bool((table["prompt"].astype(str) != "").any()) if len(table) else False
    shown = table[
        [
            "arm",
            *(["prompt"] if named_prompts else []),
            "kind",
            "n_images",
            "mean_distance",
            "median_distance",
            "similarity",
            "ci_low",
            "ci_high",
            "near_duplicate_share",
        ]
    ]
    numbers: dict[str, str] = {}
    if named_prompts:
        # Numbered in the run's order, as the report numbers them, and listed under the table.
        numbers = {str(p): f"#{k}" for k, p in enumerate(dict.fromkeys(table["prompt"]), 1)}
        shown = shown.assign(prompt=shown["prompt"].astype(str).map(numbers))
    print(shown.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    for prompt, number in numbers.items():
        print(f"  {number} {prompt}")
    if "simulated" in table.columns and table["simulated"].fillna(False).astype(bool).any():
        print("\nSIMULATED: images from imgkit's simulator, not a real model")
    if len(table):
        print("\nscale: 0 = unrelated photographs, 1 = identical; per measure:")
        for first in table.drop_duplicates("kind").to_dict(orient="records"):
            bits = first["unit"] == "bits"
            distance = (
                f"{first['reference_distance']:.1f} bits"
                if bits
                else (f"cosine distance {first['reference_distance']:.3f}")
            )
            limit = (
                f"{first['near_duplicate_distance']:g} bits"
                if bits
                else f"{first['near_duplicate_distance']:.3f}"
            )
            print(
                f"  {first['kind']}: unrelated photographs {distance} ({first['reference']}); "
                f"near-duplicate at most {limit} apart. Sees: {first['detects']}."
            )
    return EXIT_OK


def run_report(args: argparse.Namespace) -> int:
    """Handler of ``imgkit report``: write a run's HTML report and Markdown summary (see
    :func:`imgkit.report.render.write_report`) and print where; with ``--json`` print the report's
    numbers too. Returns the exit code."""
    from imgkit.report.data import report_data
    from imgkit.report.render import write_report

    try:
        data = report_data(
            args.run,
            kind=args.kind,
            per_day=args.per_day,
            n_boot=args.n_boot,
            seed=args.seed,
            correction=args.correction,
            alpha=args.alpha,
            by_prompt=args.by_prompt,
            plan=not args.no_plan,
        )
        first = write_report(args.run, args.out, formats=args.formats, data=data)
    except (ImgkitError, OSError) as error:
        return _fail(error)
    written = {fmt: str(first.with_suffix(f".{fmt}")) for fmt in args.formats}
    if args.json:
        print(json.dumps({"written": written, **data.to_dict()}, indent=2, default=str))
        return EXIT_OK
    if data.simulated != "none":
        print(
            f"{'SIMULATED' if data.simulated == 'all' else 'PARTLY SIMULATED'}: images from "
            "imgkit's simulator, not a real model"
        )
    for line in data.sweep.summary() if data.comparisons else []:
        print(line)
    for comparison in data.comparisons:
        scope = "all prompts" if comparison.prompt is None else comparison.prompt
        print(f"[{scope}] {comparison.verdict}")
    for path in written.values():
        print(f"wrote {path}")
    if args.previous:
        _write_change_since(args.previous, args.run, args.kind)
    return EXIT_OK


def _write_change_since(previous: str, run: str, kind: str) -> None:
    """``report --previous``: the drift page beside the report, naming the predecessor."""
    from imgkit.analysis.drift import drift
    from imgkit.report.drift_page import write_drift_page

    result = drift([previous, run], kind)
    for line in result.summary():
        print(f"since {result.runs[0]}: {line}")
    print(f"wrote {write_drift_page(result, Path(run))}")


def add_commands(subparsers: Any) -> None:
    """Register ``hash``, ``consistency`` and ``report`` on an argparse subparsers object.

    Each subcommand sets ``func`` to its handler (:func:`run_hash`, :func:`run_consistency`,
    :func:`run_report`), which takes the parsed arguments and returns an exit code.
    """
    for name, summary in COMMANDS.items():
        configure(name, subparsers.add_parser(name, help=summary))


def configure(name: str, parser: argparse.ArgumentParser) -> None:
    """Give ``parser``, the subparser of command ``name`` (a key of :data:`COMMANDS`), its
    options and handler."""
    configure_command = {
        "hash": _configure_hash,
        "consistency": _configure_consistency,
        "report": _configure_report,
    }[name]
    configure_command(parser)


def _kinds_help() -> str:
    from imgkit.analysis.measures import MEASURE_NAMES

    return f"measures, space- or comma-separated (from {', '.join(MEASURE_NAMES)})"


def _configure_hash(hash_parser: argparse.ArgumentParser) -> None:
    hash_parser.description = (
        "Print each image's perceptual hashes (identical to the imagehash "
        "package's), and with two or more images their pairwise Hamming distances."
    )
    hash_parser.add_argument("files", nargs="+", metavar="FILE", help="image files")
    hash_parser.add_argument("--json", action="store_true", help="print JSON")
    hash_parser.add_argument(
        "--kinds",
        nargs="+",
        metavar="KIND",
        help="hash kinds, space- or comma-separated (ahash, phash, dhash, whash, colorhash); "
        "default all",
    )
    hash_parser.add_argument(
        "--hash-size", type=int, default=8, help="hash side in bits (default 8, i.e. 64 bits)"
    )
    hash_parser.set_defaults(func=run_hash)


def _configure_consistency(cons_parser: argparse.ArgumentParser) -> None:
    from imgkit.analysis.consistency import DEFAULT_NEAR_DUPLICATE

    cons_parser.description = (
        "Score how alike images are. A run folder is scored per arm and prompt, as its report "
        "does; any other folder is an arm, and each subfolder holding images is another arm; "
        "image files given directly form the arm 'files'."
    )
    cons_parser.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders")
    cons_parser.add_argument("--json", action="store_true", help="print JSON")
    cons_parser.add_argument(
        "--kinds",
        nargs="+",
        metavar="KIND",
        help=_kinds_help() + "; default efficientnet-lite0 phash dhash whash",
    )
    cons_parser.add_argument("--hash-size", type=int, default=8, help="hash side (default 8)")
    cons_parser.add_argument(
        "--near-duplicate",
        type=float,
        default=DEFAULT_NEAR_DUPLICATE,
        help="near-duplicate threshold as a share of the distance between unrelated "
        "photographs (default %(default)s)",
    )
    cons_parser.add_argument(
        "--n-boot", type=int, default=2000, help="bootstrap replicates (default %(default)s)"
    )
    cons_parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    cons_parser.set_defaults(func=run_consistency)


def _configure_report(report_parser: argparse.ArgumentParser) -> None:
    from imgkit.analysis.measures import MEASURE_NAMES
    from imgkit.report.data import DEFAULT_PER_DAY
    from imgkit.report.render import FORMATS

    report_parser.description = (
        "Write report.html (one self-contained file: plots and thumbnails "
        "embedded, no external requests) and report.md for a run folder. Offline; the same "
        "folder always gives the same numbers."
    )
    report_parser.add_argument("run", metavar="RUN_DIR", help="a run folder written by drill")
    report_parser.add_argument(
        "--out", metavar="FILE", help="x.html (also writes x.md) or a folder; default RUN_DIR"
    )
    report_parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    report_parser.add_argument(
        "--formats", nargs="+", choices=FORMATS, default=list(FORMATS), help="files to write"
    )
    report_parser.add_argument(
        "--kind",
        default="efficientnet-lite0",
        choices=MEASURE_NAMES,
        help="the measure the verdicts use (default %(default)s: learned features that see what "
        "a person sees; a hash kind finds near-duplicates)",
    )
    report_parser.add_argument(
        "--per-day",
        nargs="+",
        type=volumes,
        action=ExtendNumbers,
        default=list(DEFAULT_PER_DAY),
        metavar="N",
        help="images a day for the monthly projection, separated by commas or spaces "
        f"(default {','.join(f'{v:g}' for v in DEFAULT_PER_DAY)})",
    )
    report_parser.add_argument(
        "--n-boot", type=int, default=2000, help="bootstrap replicates (default %(default)s)"
    )
    report_parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    report_parser.add_argument(
        "--previous",
        metavar="RUN_DIR",
        help="an earlier run of the same arms: also write drift.html, the change since it",
    )
    report_parser.add_argument(
        "--correction",
        choices=("holm", "bh", "none"),
        default="holm",
        help="how the p-values of all comparisons are corrected together: holm (family-wise "
        "error), bh (false discovery rate) or none (default %(default)s)",
    )
    report_parser.add_argument(
        "--alpha", type=float, default=0.05, help="significance level (default %(default)s)"
    )
    report_parser.add_argument(
        "--by-prompt",
        action="store_true",
        help="also compare the arms on each prompt (those comparisons join the corrected family)",
    )
    report_parser.add_argument(
        "--no-plan",
        action="store_true",
        help="leave out the repeats that would settle each inconclusive comparison",
    )
    report_parser.set_defaults(func=run_report)
