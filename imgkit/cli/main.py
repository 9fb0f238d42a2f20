"""The ``imgkit`` command line: the parser, and the one place where errors become exit codes.

An :class:`~imgkit.errors.ImgkitError` is printed as ``imgkit: error: ...`` with exit status 2,
never as a traceback; a bad option is reported the same way by the parser
(:class:`imgkit.cli.parsing.ImgkitParser`), whatever the command.

Start-up is kept short the way git and pip keep theirs: each command module lists its commands
with a one-line summary (``COMMANDS``) and imports nothing heavy when it loads. Building the
parser names every command, but only the command being run gets its options (``configure``),
and its handler imports the SDKs, pandas or the simulator when it runs. So ``imgkit --help`` and
``imgkit models`` load argparse and the catalog, not the whole toolkit
(``benchmarks/bench_startup.py`` measures it; ``tests/test_cli_startup.py`` checks what is
imported).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Collection, Sequence

import imgkit
from imgkit.cli.parsing import ImgkitParser, print_error
from imgkit.errors import ImgkitError

__all__ = ["COMMAND_MODULES", "EXIT_BROKEN_PIPE", "build_parser", "main"]

#: The modules that add commands, in the order ``imgkit --help`` lists them. Each has
#: ``COMMANDS`` ({name: summary}) and ``configure(name, parser)``.
COMMAND_MODULES = (
    "imgkit.cli.catalog",
    "imgkit.cli.drill",
    "imgkit.cli.sim",
    "imgkit.cli.chain",
    "imgkit.cli.analysis",
    "imgkit.cli.plan",
    "imgkit.cli.runs",
    "imgkit.cli.check",
    "imgkit.cli.drift",
    "imgkit.cli.batch",
    "imgkit.cli.ratings",
)

_GLOBAL_OPTIONS_WITH_VALUE = ("--prices",)


def _command_in(argv: Sequence[str]) -> str | None:
    """The command named in ``argv``: its first word that is neither an option of the main
    parser nor that option's value (None when there is none)."""
    words = iter(argv)
    for word in words:
        if word == "--":
            return next(words, None)
        if word.startswith("-"):
            # --prices FILE (or an abbreviation argparse accepts, --pri FILE) takes the next word
            if "=" not in word and any(
                len(word) > 2 and o.startswith(word) for o in _GLOBAL_OPTIONS_WITH_VALUE
            ):
                next(words, None)
            continue
        return word
    return None


def build_parser(commands: Collection[str] | None = None) -> argparse.ArgumentParser:
    """The ``imgkit`` parser, listing every command with its summary.

    Only the ``commands`` named get their options and handlers (the others stay bare, so what
    their modules need is not imported); None gives every command its options.
    """
    parser = ImgkitParser(
        prog="imgkit",
        description="Measure image-generation models: consistency, prompt rewriting, cost.",
    )
    parser.add_argument("--version", action="version", version=f"imgkit {imgkit.__version__}")
    parser.add_argument(
        "--prices",
        metavar="FILE",
        help="a TOML price file overriding catalog prices (also $IMGKIT_PRICES)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        module = importlib.import_module(module_name)
        for name, summary in module.COMMANDS.items():
            command_parser = sub.add_parser(name, help=summary)
            if commands is None or name in commands:
                module.configure(name, command_parser)
    return parser


#: Exit status when standard output's reader went away (128 + SIGPIPE, as a shell reports it).
EXIT_BROKEN_PIPE = 141


def _discard_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout replaced by something without a fd
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``imgkit`` console script; returns the exit status.

    Without ``argv`` (the console script, ``python -m imgkit``) the process is taken to end
    when this returns: see :func:`_ending_soon`."""
    if argv is None:
        from imgkit.analysis.blas import prefer_one_blas_thread

        prefer_one_blas_thread()  # before numpy loads: see imgkit.analysis.blas
        try:
            return _main(sys.argv[1:])
        finally:
            _ending_soon()
    return _main(argv)


def _ending_soon() -> None:
    """Let the interpreter end without a last garbage collection over every object loaded.

    Once the SDKs are imported (tens of thousands of objects, pydantic's models among them),
    that collection takes 0.2 s of a command's wall time at exit, to free memory the process
    is about to give back whole. Everything imgkit writes is closed and durable before the
    command returns, so nothing waits on a finaliser; :func:`gc.freeze` moves the objects out
    of the collector's reach, and the exit proceeds as usual (atexit handlers, flushes)."""
    import gc

    gc.freeze()


def _check_arguments_are_text(args: argparse.Namespace) -> None:
    """Every option's text must be UTF-8: argv bytes that are not (a path in another
    encoding) arrive as lone surrogates, which no file, manifest or ledger imgkit writes can
    hold. Refused here, naming the option, for every command at once."""
    from imgkit.experiment.boundary import check_text

    for dest, value in vars(args).items():
        if dest == "func":
            continue
        for item in value if isinstance(value, list | tuple) else [value]:
            check_text("--" + dest.replace("_", "-"), item, "UTF-8 text")


def _main(argv: Sequence[str]) -> int:
    argv = list(argv)
    command = _command_in(argv)
    parser = build_parser([command] if command else [])
    args, unknown = parser.parse_known_args(argv)
    if not hasattr(args, "func"):
        # The command was not where _command_in looked; parse again with every command built.
        args = build_parser().parse_args(argv)
    elif unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")  # as parse_args says it
    try:
        _check_arguments_are_text(args)
    except ImgkitError as exc:
        print_error(exc)
        return 2
    saved_prices = os.environ.get("IMGKIT_PRICES")
    if args.prices:
        # Every module reads prices through default_catalog(), which honours this variable;
        # it is put back afterwards so that main() can be called again in the same process.
        os.environ["IMGKIT_PRICES"] = os.path.abspath(args.prices)
    try:
        status = int(args.func(args) or 0)
        sys.stdout.flush()  # a reader gone away shows here, not at exit with a traceback
        return status
    except ImgkitError as exc:
        print_error(exc)
        return 2
    except KeyboardInterrupt:
        print("imgkit: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `imgkit runs --json | head -1`: the reader has what it wanted. Nothing more is
        # written (stdout goes to /dev/null so the exit flush stays quiet) and the status is a
        # shell's for a writer stopped by SIGPIPE.
        _discard_stdout()
        return EXIT_BROKEN_PIPE
    finally:
        if saved_prices is None:
            os.environ.pop("IMGKIT_PRICES", None)
        else:
            os.environ["IMGKIT_PRICES"] = saved_prices


if __name__ == "__main__":
    sys.exit(main())
