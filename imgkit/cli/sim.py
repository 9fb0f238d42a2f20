"""``imgkit sim``: serve the simulator in the foreground until interrupted.

The first line of output is the base URL (flushed at once), so a script can start the server
and read where it listens::

    imgkit sim --seed 7 --latency 0.2:1.5 --faults "gemini:429=x2" --block "gemini:castle"

It refuses any host that is not a loopback address. ``python -m imgkit.cli.sim`` runs the
same command without the rest of the ``imgkit`` command line. The simulator (starlette,
uvicorn, Pillow) is imported when the command is configured to run, not when ``imgkit --help``
lists it.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any

from imgkit.cli.argtypes import seconds
from imgkit.cli.parsing import ImgkitParser, print_error
from imgkit.errors import ImgkitError, ValidationError

__all__ = ["COMMANDS", "add_commands", "configure", "main", "run_sim"]

#: The command this module adds, with the line ``imgkit --help`` shows for it.
COMMANDS = {"sim": "serve the local image-API simulator (OpenAI, Gemini, Leonardo)"}


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 0 to 65535, got {text!r}")
    return port


def _rate_limit(text: str) -> tuple[str, int]:
    model, sep, value = text.partition("=")
    try:
        per_minute = int(value)
    except ValueError:
        per_minute = 0
    if not sep or not model or per_minute <= 0:
        raise argparse.ArgumentTypeError(f"expected MODEL=IMAGES_PER_MINUTE, got {text!r}")
    return model, per_minute


#: The environment variable that gives ``imgkit sim`` its control secret.
SECRET_VARIABLE = "IMGKIT_SIM_CONTROL_SECRET"


def _write_secret(path: str, secret: str) -> None:
    """The secret into ``path``, readable by its owner only, never through a link."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        raise ValidationError(
            "--control-secret-file",
            path,
            "a file this user can write, not a symbolic link",
            detail=exc.strerror,
        ) from None
    try:
        os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_CREAT
        os.write(fd, (secret + "\n").encode("ascii"))
    finally:
        os.close(fd)


def add_commands(subparsers: Any) -> None:
    """Register ``sim`` on an argparse subparsers object."""
    for name, summary in COMMANDS.items():
        configure(name, subparsers.add_parser(name, help=summary))


def configure(name: str, parser: argparse.ArgumentParser) -> None:
    """Give ``parser``, the subparser of ``sim``, its options and handler (:func:`run_sim`)."""
    from imgkit.simulator.state import DEFAULT_BATCH_DURATION_S, DEFAULT_TIMEOUT_HOLD_S

    parser.description = (
        "Serve the imgkit simulator on the loopback interface until interrupted. "
        "The first line printed is the base URL."
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    parser.add_argument(
        "--port", type=_port, default=0, help="port from 0 to 65535 (0: any free port)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of every random choice")
    parser.add_argument(
        "--latency", default="0", help="seconds per request, or MIN:MAX for a uniform draw"
    )
    parser.add_argument(
        "--faults", default=None, help='fault SPEC, e.g. "gemini:429=x2;*:500=0.05"'
    )
    parser.add_argument(
        "--block",
        action="extend",
        nargs="+",
        default=[],
        metavar="TERM",
        help="refuse prompts containing TERM on content grounds ([TARGET:]TERM)",
    )
    parser.add_argument(
        "--no-default-block", action="store_true", help="do not block the default terms"
    )
    parser.add_argument(
        "--url-ttl", type=seconds, default=3600.0, help="lifetime of image URLs in seconds"
    )
    parser.add_argument(
        "--timeout-hold",
        type=seconds,
        default=DEFAULT_TIMEOUT_HOLD_S,
        help="seconds a 'timeout' fault holds the request before a 504 (default: longer than "
        "the clients' own timeouts, so they give up first)",
    )
    parser.add_argument(
        "--retry-after", type=seconds, default=1.0, help="Retry-After of injected 429s (seconds)"
    )
    parser.add_argument(
        "--rate-limit",
        type=_rate_limit,
        action="append",
        default=[],
        metavar="MODEL=PER_MINUTE",
        help="answer 429 past this many images per minute",
    )
    parser.add_argument(
        "--batch-duration",
        type=seconds,
        default=DEFAULT_BATCH_DURATION_S,
        metavar="S",
        help="seconds a batch of the Batch APIs takes, at the least, from creation to "
        "completion (default %(default)s)",
    )
    parser.add_argument(
        "--control-secret-file",
        metavar="FILE",
        help="write the secret that /_sim/configure and /_sim/reset require to FILE (mode "
        "0600); it is random per process unless IMGKIT_SIM_CONTROL_SECRET gives one",
    )
    parser.add_argument("--json", action="store_true", help="also print the URLs as JSON")
    parser.add_argument("--log-level", default="warning", help="uvicorn log level")
    parser.set_defaults(func=run_sim)


def run_sim(args: argparse.Namespace) -> int:
    """Serve until interrupted (Ctrl-C or SIGTERM); return the exit code."""
    from imgkit.simulator import SimServer
    from imgkit.simulator.state import parse_latency

    secret = os.environ.get(SECRET_VARIABLE)
    if secret is not None and len(secret.strip()) < 32:
        raise ValidationError(
            SECRET_VARIABLE,
            "(hidden)",
            "at least 32 characters (unset, the simulator makes a random one)",
        )
    server = SimServer(
        control_secret=secret.strip() if secret else None,
        host=args.host,
        port=args.port,
        seed=args.seed,
        latency=parse_latency(args.latency),
        faults=args.faults,
        block=args.block,
        default_block=not args.no_default_block,
        url_ttl=args.url_ttl,
        timeout_hold=args.timeout_hold,
        retry_after=args.retry_after,
        rate_limits=dict(args.rate_limit),
        log_level=args.log_level,
        batch_duration=args.batch_duration,
    )
    if args.control_secret_file:
        _write_secret(args.control_secret_file, server.control_secret)
    server.start()
    print(server.base_url, flush=True)
    urls = {
        "base_url": server.base_url,
        "openai_base_url": server.openai_base_url,
        "gemini_base_url": server.gemini_base_url,
        "leonardo_base_url": server.leonardo_base_url,
        "stats_url": server.base_url + "/_sim/stats",
        "seed": args.seed,
        "simulated": True,
    }
    if args.json:
        print(json.dumps(urls), flush=True)
    else:
        print(
            f"imgkit simulator (seed {args.seed}); OpenAI base_url={server.openai_base_url}  "
            f"Gemini base_url={server.gemini_base_url}  Leonardo={server.leonardo_base_url}  "
            f"stats={urls['stats_url']}  (Ctrl-C to stop)",
            flush=True,
        )

    def _terminate(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        signal.signal(signal.SIGTERM, previous)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``imgkit sim`` on its own: ``python -m imgkit.cli.sim [options]``."""
    parser = ImgkitParser(prog="imgkit")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["sim", *(sys.argv[1:] if argv is None else argv)])
    try:
        return args.func(args)
    except ImgkitError as exc:
        print_error(exc)
        return 2


if __name__ == "__main__":
    sys.exit(main())
