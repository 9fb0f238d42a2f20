"""``imgkit models`` and ``imgkit costs``: the model catalog and what requests cost.

Registered on the main parser through :data:`COMMANDS` and :func:`configure`. Reading the
catalog is quick; the cost functions (and pandas, for the projection table) are imported by the
handlers that use them, not when the parser is built.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from imgkit.catalog.models import default_catalog
from imgkit.catalog.validation import validate_request
from imgkit.cli.argtypes import positive_int
from imgkit.cli.parsing import DeprecatedOption, ExtendNumbers, options_named, volumes
from imgkit.errors import ValidationError

__all__ = ["COMMANDS", "add_commands", "configure", "print_json"]

#: The commands this module adds, each with the line ``imgkit --help`` shows for it.
COMMANDS = {
    "models": "the model catalog",
    "costs": "estimate and project costs",
}


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def print_json(data: Any) -> None:
    """Print ``data`` as indented JSON (Decimals as exact strings)."""
    print(json.dumps(data, indent=2, default=_json_default))


def _print_table(rows: list[dict[str, Any]], columns: Sequence[str]) -> None:
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    print("  ".join("-" * widths[c] for c in columns))
    for row in rows:
        print("  ".join(str(row.get(c, "")).ljust(widths[c]) for c in columns))


# -- imgkit models -----------------------------------------------------------------------------


def _cmd_models(args: argparse.Namespace) -> int:
    catalog = default_catalog()
    today = dt.date.today()
    rows = []
    for spec in catalog.values():
        status = spec.status(today)
        if status == "retired" and not args.all:
            continue
        life = spec.lifecycle
        rows.append(
            {
                "model": spec.name,
                "provider": spec.provider,
                "status": status,
                "shutdown_on": life.shutdown_on.isoformat() if life.shutdown_on else "",
                "replacement": life.replacement or "",
                "endpoints": ",".join(spec.endpoints),
                "qualities": ",".join(spec.qualities),
                "rewrites_prompt": ",".join(spec.revised_prompt_on) or "no",
                "billing": spec.price.kind,
                "price_as_of": spec.price.as_of,
            }
        )
    if args.json:
        print_json({"catalog_version": catalog.version, "models": rows})
        return 0
    _print_table(
        rows,
        ["model", "provider", "status", "shutdown_on", "replacement", "qualities", "billing"],
    )
    if not args.all:
        print("\n(retired models, which the simulator still plays, are listed with --all)")
    return 0


# -- imgkit costs ------------------------------------------------------------------------------


def _cmd_estimate(args: argparse.Namespace) -> int:
    # loaded only when costs run
    from imgkit.catalog.costs import basis_words, estimate_cost

    with options_named(n="--images"):
        request = validate_request(
            args.model, "cost estimate", size=args.size, quality=args.quality, n=args.images
        )
    estimate = estimate_cost(request)
    data = {
        "model": request.model,
        "size": request.size,
        "quality": request.quality,
        "n": request.n,
        **estimate.to_dict(),
    }
    if args.json:
        print_json(data)
        return 0
    if estimate.usd is None:
        print(f"{request.model} {request.quality} {request.size} x{request.n}: no estimate")
    else:
        print(
            f"{request.model} {request.quality} {request.size} x{request.n}: "
            f"${estimate.usd:.4f} (${estimate.per_image:.4f} per image, "
            f"{basis_words(estimate.basis)})"
        )
    if estimate.note:
        print(f"note: {estimate.note}")
    print(f"source: {estimate.source}, as of {estimate.as_of}")
    return 0


def _parse_price(text: str) -> tuple[str, str]:
    """'0.008' or 'leonardo=0.008' -> (label, price)."""
    label, _, price = text.rpartition("=")
    try:
        value = Decimal(price)
    except ArithmeticError:
        value = None
    if value is None or not value.is_finite() or not 0 <= value < Decimal(10) ** 12:
        raise ValidationError(
            "--price", text, "a dollar amount >= 0 and below 1e12, optionally LABEL=USD"
        )
    return (label or f"custom ${price}"), price


def _cmd_project(args: argparse.Namespace) -> int:
    from imgkit.catalog.costs import projection_table  # pandas, for the table

    if not args.model and not args.price:
        raise ValidationError("--model/--price", None, "at least one --model or --price")
    options: list[Any] = []
    for model in args.model or ():
        name, _, rest = model.partition(":")
        if rest:
            options.append(model)
        else:
            spec = default_catalog().get_model(name)
            quality = args.quality or spec.default_quality
            size = args.size or spec.default_size
            options.append(f"{name}:{quality}:{size}")
    options.extend(_parse_price(p) for p in args.price or ())
    table = projection_table(options, per_day=args.per_day, days=args.days)
    rows = table.to_dict(orient="records")
    if args.json:
        print_json({"days": args.days, "rows": rows})
        return 0
    shown = [
        {
            "option": r["label"],
            "per image": "?" if r["price_per_image"] is None else f"${r['price_per_image']}",
            "images/day": r["images_per_day"],
            f"per {args.days} days": "unknown"
            if r["monthly_usd"] is None
            else f"${r['monthly_usd']:,}",
        }
        for r in rows
    ]
    _print_table(shown, list(shown[0]))
    return 0


def _configure_models(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "The models imgkit knows: provider, status and shutdown date, qualities and how each "
        "is billed. Retired models (which the simulator still plays) only with --all."
    )
    parser.add_argument("--all", action="store_true", help="include retired models")
    parser.add_argument(
        "--json", action="store_true", help="print the catalog as JSON (every field)"
    )
    parser.set_defaults(func=_cmd_models)


def _configure_costs(parser: argparse.ArgumentParser) -> None:
    parser.description = "What one request costs, and what a volume of images costs a month."
    costs_sub = parser.add_subparsers(dest="costs_command", required=True, metavar="COMMAND")
    est = costs_sub.add_parser(
        "estimate",
        help="the cost of one request",
        description="The cost of one request, from the catalog's price (its source and date "
        "are printed with it).",
    )
    est.add_argument("--model", required=True, help="a model of `imgkit models --all`")
    est.add_argument("--size", help="image size, e.g. 1024x1024 (default: the model's)")
    est.add_argument("--quality", help="quality, e.g. standard, hd, low (default: the model's)")
    est.add_argument(
        "--images",
        type=positive_int,
        default=1,
        metavar="N",
        help="images per request (default 1)",
    )
    # Before --images this was --n, which in `imgkit drill` means repeats: kept, with a note.
    est.add_argument(
        "--n", dest="images", type=positive_int, action=DeprecatedOption, replacement="--images"
    )
    est.add_argument("--json", action="store_true", help="print the estimate as JSON")
    est.set_defaults(func=_cmd_estimate)

    proj = costs_sub.add_parser(
        "project",
        help="monthly cost at a volume",
        description="Monthly cost of one or more models (MODEL or MODEL:QUALITY[:SIZE]) and/or "
        "custom prices ([LABEL=]USD) at each volume.",
    )
    proj.add_argument(
        "--model",
        action="append",
        metavar="MODEL[:QUALITY[:SIZE]]",
        help="a model to price; repeat to compare models",
    )
    proj.add_argument("--size", help="size for every --model given without one")
    proj.add_argument("--quality", help="quality for every --model given without one")
    proj.add_argument("--price", action="append", help="custom price per image, [LABEL=]USD")
    proj.add_argument(
        "--per-day",
        type=volumes,
        nargs="+",
        action=ExtendNumbers,
        required=True,
        metavar="N",
        help="images a day, separated by commas or spaces, e.g. 1,20,500 or 1 20 500",
    )
    proj.add_argument(
        "--days",
        type=positive_int,
        default=30,
        help="days in the period priced (default 30: a month)",
    )
    proj.add_argument("--json", action="store_true", help="print the table as JSON")
    proj.set_defaults(func=_cmd_project)


def configure(name: str, parser: argparse.ArgumentParser) -> None:
    """Give ``parser``, the subparser of command ``name`` (a key of :data:`COMMANDS`), its
    options and handler."""
    {"models": _configure_models, "costs": _configure_costs}[name](parser)


def add_commands(subparsers: Any) -> None:
    """Register ``models`` and ``costs`` on an argparse subparsers object."""
    for name, summary in COMMANDS.items():
        configure(name, subparsers.add_parser(name, help=summary))
