"""The ``imgkit chain`` and ``imgkit edit`` subcommands.

``imgkit chain --prompt P [--config chain.toml] [--backend sim|live] [--faults SPEC] [--json]``
sends one request down a fallback chain (the lesson's default, or the TOML file's) and prints
every attempt and the result. With ``--backend sim`` a private simulator is started for the
command and ``--faults`` is handed to it, so each branch of the policy can be watched by hand::

    imgkit chain --prompt "a red fox" --faults "gemini:429=x1;leonardo:500=x2"

``imgkit edit --image IN.png (--mask MASK.png | --rect L,T,R,B) --prompt P --model M --out OUT``
checks the mask, sends the edit and prints the mask-fidelity figure.

Exit codes: 0 success; 1 every provider of the chain failed (the attempts are still printed);
2 bad input (printed by ``imgkit.cli.main``); 3 the image was made but could not be written where
``--out`` says (it is kept in the temporary folder, and the message says where). The providers
and their SDKs are imported by the handlers, so listing these commands in ``imgkit --help`` costs
nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imgkit.cli.argtypes import positive_int
from imgkit.cli.parsing import DeprecatedOption, options_named, print_error
from imgkit.errors import ChainExhaustedError, ValidationError

if TYPE_CHECKING:
    from imgkit.providers.chain import Attempt
    from imgkit.providers.results import GenerationResult

__all__ = ["COMMANDS", "add_commands", "configure", "run_chain", "run_edit"]

#: The commands this module adds, each with the line ``imgkit --help`` shows for it.
COMMANDS = {
    "chain": "send one prompt down a fallback chain and show every attempt",
    "edit": "edit an image inside a mask; report mask fidelity",
}

EXIT_OK = 0
EXIT_CHAIN_EXHAUSTED = 1
#: the image was made (and paid for) but could not be written where --out says
EXIT_NOT_SAVED = 3


@contextlib.contextmanager
def _backend_server(backend: str, faults: str | None) -> Iterator[Any]:
    """A private simulator for ``--backend sim`` (with the faults), nothing for live."""
    if backend != "sim":
        if faults:
            raise ValidationError("--faults", faults, "only with --backend sim")
        yield None
        return
    from imgkit.simulator import serve

    with serve(faults=faults or None) as server:
        yield server


def _check_out(out: str | None) -> None:
    """Refuse, before anything is paid for, an ``--out`` that cannot be written."""
    if not out:
        return
    path = Path(out)
    folder = path if path.is_dir() or out.endswith(("/", "\\")) else path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".imgkit-probe-"):
            pass
    except OSError as exc:
        raise ValidationError(
            "--out", out, "a file or folder imgkit can write to", detail=str(exc)
        ) from None


def _save(result: GenerationResult, out: str | None) -> str | None:
    """Write the image where ``out`` says; if that fails now (the disk filled up since the
    check), keep it in the temporary folder instead and say where: it is paid for."""
    if not out:
        return None
    path = Path(out)
    extension = "jpg" if result.image_format == "jpeg" else result.image_format
    try:
        if path.is_dir() or out.endswith(("/", "\\")):
            path.mkdir(parents=True, exist_ok=True)
            path = path / f"{result.provider}-{result.model}-{result.index}.{extension}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(result.image_bytes)
    except OSError as exc:
        fd, kept = tempfile.mkstemp(prefix="imgkit-image-", suffix=f".{extension}")
        with os.fdopen(fd, "wb") as handle:
            handle.write(result.image_bytes)
        message = f"could not write {path}: {exc}; the image (paid for) is kept at {kept}"
        raise _NotSaved(message) from exc
    return str(path.resolve())


class _NotSaved(Exception):
    """The image was paid for but could not be written where asked (the message says where
    it is instead)."""


def _attempt_lines(attempts: list[Attempt]) -> list[str]:
    header = f"{'#':>2}  {'provider/model':<36} {'try':>3}  {'outcome':<19} {'status':>6}  "
    header += f"{'elapsed':>8}  {'next':<19} message"
    lines = [header]
    for number, a in enumerate(attempts, 1):
        message = (a.message or "").replace("\n", " ")
        if len(message) > 80:
            message = message[:77] + "..."
        lines.append(
            f"{number:>2}  {a.provider + '/' + a.model:<36} {a.try_number:>3}  {a.outcome:<19} "
            f"{a.status if a.status is not None else '-':>6}  {a.elapsed_s:>7.2f}s  "
            f"{a.action:<19} {message}"
        )
    return lines


def _result_summary(result: GenerationResult, saved: str | None) -> dict[str, Any]:
    summary = result.to_dict()
    summary.pop("metadata", None)
    summary["image_path"] = saved
    summary["image_bytes"] = len(result.image_bytes)
    return summary


def run_chain(args: argparse.Namespace) -> int:
    """Handler of ``imgkit chain``. Returns the exit code."""
    _check_out(args.out)
    if args.timeout is not None and not (args.timeout > 0 and math.isfinite(args.timeout)):
        raise ValidationError("--timeout", args.timeout, "a number of seconds > 0")
    from imgkit.providers.chain import Chain  # the SDKs: only when the command runs

    options: dict[str, Any] = {"backend": args.backend}
    if args.retry_delay is not None:
        options["retry_delay_s"] = args.retry_delay
    if args.timeout is not None:
        options["timeout_s"] = args.timeout
    with _backend_server(args.backend, args.faults) as server:
        if server is not None:
            options["server"] = server
        chain = Chain.from_toml(args.config, **options) if args.config else Chain.default(**options)
        try:
            outcome = chain.generate(args.prompt)
        except ChainExhaustedError as exc:
            if args.json:
                payload = {"ok": False, "error": str(exc),
                           "attempts": [a.to_dict() for a in exc.attempts]}  # fmt: skip
                print(json.dumps(payload, indent=2))
            else:
                print("\n".join(_attempt_lines(exc.attempts)))
                print_error(exc)
            return EXIT_CHAIN_EXHAUSTED
        finally:
            chain.close()
    try:
        saved = _save(outcome.result, args.out)
    except _NotSaved as exc:
        print_error(exc)
        return EXIT_NOT_SAVED
    if args.json:
        payload = {
            "ok": True,
            "served_by": outcome.served_by,
            "cost_usd": outcome.cost_usd,
            "elapsed_s": outcome.elapsed_s,
            "simulated": outcome.result.simulated,
            "attempts": [a.to_dict() for a in outcome.attempts],
            "result": _result_summary(outcome.result, saved),
        }
        print(json.dumps(payload, indent=2))
        return EXIT_OK
    print("\n".join(_attempt_lines(outcome.attempts)))
    result = outcome.result
    cost = "unknown" if outcome.cost_usd is None else f"${outcome.cost_usd:.4f}"
    label = " [simulated]" if result.simulated else ""
    print(
        f"served by {outcome.served_by}{label}: {result.width}x{result.height} "
        f"{result.image_format}, cost {cost} ({result.cost_basis}), request {result.request_id}"
    )
    if result.revised_prompt:
        print(f"revised prompt: {result.revised_prompt}")
    if saved:
        print(f"image: {saved}")
    return EXIT_OK


def _rect(text: str) -> tuple[int, int, int, int]:
    parts = text.split(",")
    if len(parts) != 4 or not all(p.strip().lstrip("-").isdigit() for p in parts):
        raise ValidationError("--rect", text, "LEFT,TOP,RIGHT,BOTTOM in pixels")
    left, top, right, bottom = (int(p) for p in parts)
    return left, top, right, bottom


def run_edit(args: argparse.Namespace) -> int:
    """Handler of ``imgkit edit``. Returns the exit code."""
    from imgkit.providers.editing import edit, mask_from_rect

    image_path = Path(args.image)
    if not image_path.is_file():
        raise ValidationError("--image", args.image, "an existing image file")
    image = image_path.read_bytes()
    if args.mask and args.rect:
        raise ValidationError("--rect", args.rect, "either --mask or --rect, not both")
    mask: Any = args.mask
    if args.rect:
        mask = mask_from_rect(image, _rect(args.rect))
    params = {k: v for k, v in (("size", args.size), ("quality", args.quality)) if v}
    if args.images is not None:
        params["n"] = args.images
    _check_out(args.out)
    with _backend_server(args.backend, None) as server, options_named(n="--images"):
        base_url = None if server is None else server.openai_base_url
        if server is not None and args.model.startswith("gemini"):
            base_url = server.gemini_base_url
        outcome = edit(image, mask, args.prompt, model=args.model, backend=args.backend,
                       base_url=base_url, **params)  # fmt: skip
    saved: list[str | None] = []
    for r in outcome.results:
        try:
            saved.append(_save(r, _numbered(args.out, r.index, len(outcome.results))))
        except _NotSaved as exc:  # keep going: every image is paid for
            print_error(exc)
            saved.append(None)
    if args.out and None in saved:
        return EXIT_NOT_SAVED
    fidelity = outcome.mask_fidelity
    if args.json:
        payload = {
            "results": [_result_summary(r, s) for r, s in zip(outcome.results, saved, strict=True)],
            "mask_fidelity": [f.to_dict() if f else None for f in outcome.fidelity],
        }
        print(json.dumps(payload, indent=2))
        return EXIT_OK
    result = outcome.result
    cost = "unknown" if result.cost_usd is None else f"${result.cost_usd:.4f}"
    label = " [simulated]" if result.simulated else ""
    print(f"edited by {result.provider}/{result.model}{label}: {result.width}x{result.height}, "
          f"cost {cost} per image ({result.cost_basis})")  # fmt: skip
    if fidelity is not None:
        print(
            f"mask fidelity: {fidelity.outside_changed:.1%} of the pixels outside the mask "
            f"changed ({fidelity.inside_changed or 0:.1%} inside)"
        )
    for path in saved:
        if path:
            print(f"image: {path}")
    return EXIT_OK


def _numbered(out: str | None, index: int, count: int) -> str | None:
    if not out or count == 1 or Path(out).is_dir() or out.endswith(("/", "\\")):
        return out
    path = Path(out)
    return str(path.with_name(f"{path.stem}-{index}{path.suffix}"))


_CHAIN_DESCRIPTION = (
    "Send one request down a fallback chain (the lesson's default, or a TOML file's) and print "
    "every attempt and the result. With --backend sim a private simulator is started for the "
    "command and --faults is handed to it, so each branch of the policy can be watched by hand, "
    'e.g. imgkit chain --prompt "a red fox" --faults "gemini:429=x1;leonardo:500=x2". '
    "Exit status: 0 served, 1 every provider failed, 2 bad input, 3 made but not saved."
)
_BACKEND_HELP = (
    "sim: a private simulator, free and labelled simulated (default); live: the real "
    "services (needs the vendors' keys)"
)


def _configure_chain(chain: argparse.ArgumentParser) -> None:
    chain.description = _CHAIN_DESCRIPTION
    chain.add_argument("--prompt", required=True, help="the prompt to send")
    chain.add_argument("--config", metavar="TOML", help="chain file (default: the lesson's chain)")
    chain.add_argument("--backend", choices=("sim", "live"), default="sim", help=_BACKEND_HELP)
    chain.add_argument("--faults", metavar="SPEC", help="simulator faults (with --backend sim)")
    chain.add_argument(
        "--retry-delay", type=float, metavar="S", help="seconds to pause before a retry"
    )
    chain.add_argument("--timeout", type=float, metavar="S", help="per-request timeout (s)")
    chain.add_argument("--out", metavar="PATH", help="save the image (a file or a folder)")
    chain.add_argument("--json", action="store_true", help="print the attempts and result as JSON")
    chain.set_defaults(func=run_chain)


def _configure_edit(edit: argparse.ArgumentParser) -> None:
    edit.description = (
        "Edit an image inside a mask (a PNG whose transparent pixels may change, or a "
        "rectangle), then measure how many pixels outside the mask changed (mask fidelity)."
    )
    edit.add_argument("--image", required=True, help="the image to edit (PNG/JPEG/WebP)")
    edit.add_argument("--mask", help="mask PNG: transparent pixels may be edited")
    edit.add_argument("--rect", metavar="L,T,R,B", help="build the mask from a rectangle")
    edit.add_argument("--prompt", required=True, help="what to paint inside the mask")
    edit.add_argument("--model", required=True, help="a model with the edit endpoint")
    edit.add_argument("--backend", choices=("sim", "live"), default="sim", help=_BACKEND_HELP)
    edit.add_argument("--size", help="size of the edited image, e.g. 1024x1024")
    edit.add_argument("--quality", help="quality of the edited image (default: the model's)")
    edit.add_argument(
        "--images", type=positive_int, metavar="N", help="images per request (default 1)"
    )
    # Before --images this was --n, which in `imgkit drill` means repeats: kept, with a note.
    edit.add_argument(
        "--n", dest="images", type=positive_int, action=DeprecatedOption, replacement="--images"
    )
    edit.add_argument("--out", metavar="PATH", help="save the edited image(s)")
    edit.add_argument("--json", action="store_true", help="print the results as JSON")
    edit.set_defaults(func=run_edit)


def configure(name: str, parser: argparse.ArgumentParser) -> None:
    """Give ``parser``, the subparser of command ``name`` (a key of :data:`COMMANDS`), its
    options and handler."""
    {"chain": _configure_chain, "edit": _configure_edit}[name](parser)


def add_commands(subparsers: Any) -> None:
    """Register ``chain`` and ``edit`` on the main parser's subparsers."""
    for name, summary in COMMANDS.items():
        configure(name, subparsers.add_parser(name, help=summary))
