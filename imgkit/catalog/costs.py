"""The cost engine: what a request will cost, what a response did cost, what a volume costs a month.

Every figure is computed from the catalog's price data (with its source and date), never from a
constant in code. Money is summed as :class:`~decimal.Decimal` so that the lesson's projections
come out to the cent (20 images a day at $0.04 for 30 days is $24.00, not 23.999999999999996).

Three rules users of other toolkits asked for:

- a response without ``usage`` is *flagged*, never costed as $0;
- "auto" size or quality is estimated at its most expensive choice, and the note says so;
- qualities the price data has no figures for (``xhigh``, ``max``) have no estimate: they are
  billed from the response's ``usage``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from imgkit.catalog.models import Catalog, ModelSpec, default_catalog, parse_size
from imgkit.catalog.validation import ImageRequest, validate_request
from imgkit.errors import ValidationError

if TYPE_CHECKING:  # pandas loads when a table is made: a drill prices every image without it
    import pandas as pd

__all__ = [
    "PARTIAL_IMAGE_TOKENS",
    "CostEstimate",
    "basis_words",
    "chain_expected_cost",
    "cost_from_usage",
    "estimate_cost",
    "output_tokens",
    "price_per_image",
    "project_monthly",
    "projection_table",
]

_MILLION = Decimal(1_000_000)
_CENT = Decimal("0.01")


#: What each ``CostEstimate.basis`` means, in the words shown to a person next to a price.
_BASIS_WORDS = {
    "per_image": "price per image",
    "tokens": "priced by its tokens",
    "usage": "from the response's token count",
    "usage_missing": "estimated: the response gave no token count",
    "dearest_choice": "'auto' at its dearest choice; prompt tokens extra",
    "upper_bound": "'auto' at its dearest choice; prompt tokens extra",  # runs before 0.2
    "unknown": "no price figure",
}


def basis_words(basis: str) -> str:
    """``basis`` (a :class:`CostEstimate` basis) in words; an unknown one as it is."""
    return _BASIS_WORDS.get(basis, basis)


@dataclass(frozen=True)
class CostEstimate:
    """A cost in USD with how it was reached.

    ``usd`` is the total for ``n`` images and ``per_image`` the cost of one; both are None when
    the price data cannot say (``basis="unknown"``), which callers must show, not treat as zero.
    ``basis`` is one of "per_image" (a price table), "tokens" (a token table or formula),
    "usage" (the response's own token count), "usage_missing" (a token-billed response without
    usage: the estimate, flagged), "dearest_choice" ("auto" priced at its most expensive
    quality and size: not an upper bound, since the prompt's tokens come on top) or "unknown".
    Run folders written before 0.2 say "upper_bound" for "dearest_choice".
    """

    usd: float | None
    per_image: float | None
    n: int
    basis: str
    note: str
    source: str
    as_of: str

    @property
    def known(self) -> bool:
        return self.usd is not None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _decimal(value: float | int | str | Decimal) -> Decimal:
    # Through str so that 0.04 is exactly four cents, not the nearest binary fraction.
    return value if isinstance(value, Decimal) else Decimal(str(value))


def output_tokens(
    spec: ModelSpec, size: str, quality: str, catalog: Catalog | None = None
) -> int | None:
    """Output tokens one image of ``size`` and ``quality`` costs, or None when no figure exists.

    Uses the catalog's token table (gpt-image-1 family) or formula (gpt-image-2 family).
    ``size`` and ``quality`` must be concrete (not "auto").
    """
    catalog = catalog or default_catalog()
    name = spec.price.output_tokens
    if name is None:
        return None
    schedule = catalog.output_tokens[name]
    if schedule["kind"] == "table":
        return schedule["table"].get(size, {}).get(quality)
    if schedule["kind"] == "gpt-image-2-formula":
        factor = schedule["factor"].get(quality)
        wh = parse_size(size)
        if factor is None or wh is None:
            return None
        width, height = wh
        short, long = min(width, height), max(width, height)
        # Published reverse-engineered formula (see the catalog's source): tokens grow with the
        # pixel count, in steps set by the aspect ratio.
        steps = (2 * factor * short + long) // (2 * long)
        return math.ceil(factor * steps * (2_000_000 + width * height) / 4_000_000)
    return None


def _concrete_choices(spec: ModelSpec, size: str, quality: str) -> tuple[list[str], list[str]]:
    # "auto" lets the service choose; where the model has real choices, the estimate covers the
    # dearest. Models whose only quality is "auto" (Gemini, Leonardo) price it as such.
    sizes = [s for s in spec.allowed_sizes() if s != "auto"] if size == "auto" else [size]
    qualities = [q for q in spec.qualities if q != "auto"] if quality == "auto" else [quality]
    return sizes or [size], qualities or [quality]


def _tier_of(spec: ModelSpec, size: str) -> str:
    if spec.size_rule is not None and spec.size_rule.kind == "gemini":
        return spec.gemini_aspect_and_tier(size)[1]
    return "*"


def _table_price(spec: ModelSpec, size: str, quality: str) -> Decimal | None:
    table = spec.price.table
    row = table.get(quality) or table.get("auto") or table.get("*")
    if row is None:
        return None
    key = _tier_of(spec, size) if spec.price.by == "tier" else size
    value = row.get(key, row.get("*"))
    return None if value is None else _decimal(value)


def _token_price(spec: ModelSpec, size: str, quality: str, catalog: Catalog) -> Decimal | None:
    tokens = output_tokens(spec, size, quality, catalog)
    if tokens is None:
        return None
    return tokens * _decimal(spec.price.image_output_per_million) / _MILLION


def price_per_image(
    spec: ModelSpec, size: str, quality: str, catalog: Catalog | None = None
) -> tuple[Decimal | None, str]:
    """(USD per image, basis) for one image; "auto" is priced at its most expensive choice.

    Prompt (text input) tokens are left out: at a few dozen tokens they are below a tenth of a
    cent, and the estimate says so in its note.
    """
    catalog = catalog or default_catalog()
    sizes, qualities = _concrete_choices(spec, size, quality)
    pricer = _table_price if spec.price.kind == "per_image" else None
    prices = []
    for s in sizes:
        for q in qualities:
            value = pricer(spec, s, q) if pricer is not None else _token_price(spec, s, q, catalog)
            prices.append(value)
    if not prices or any(p is None for p in prices):
        return None, "unknown"
    basis = "per_image" if spec.price.kind == "per_image" else "tokens"
    if len(prices) > 1:
        basis = "dearest_choice"
    return max(prices), basis


#: Output tokens billed for each partial image of a streamed GPT image (a community measurement
#: of the Responses tool's previews, applied to the Images API's stream as well; see
#: docs/vendor-behaviour.md).
PARTIAL_IMAGE_TOKENS = 100


def estimate_cost(request: ImageRequest, catalog: Catalog | None = None) -> CostEstimate:
    """What ``request`` will cost before it is sent, from the catalog's price data."""
    catalog = catalog or default_catalog()
    spec = catalog.get_model(request.model)
    quality = request.quality or spec.default_quality
    per_image, basis = price_per_image(spec, request.size, quality, catalog)
    notes = []
    if per_image is not None and spec.price.kind == "per_token" and request.partial_images:
        partial_tokens = PARTIAL_IMAGE_TOKENS * request.partial_images
        per_image += partial_tokens * _decimal(spec.price.image_output_per_million) / _MILLION
        notes.append(f"{request.partial_images} partial image(s): {partial_tokens} output tokens")
    if basis == "dearest_choice":
        # Name what was left to the service: "quality", or "quality and size".
        auto = [name for name, v in (("quality", quality), ("size", request.size)) if v == "auto"]
        whose = "their" if len(auto) > 1 else "its"
        notes.append(
            f"{' and '.join(auto) or 'the'} 'auto' priced at {whose} dearest choice for {spec.name}"
        )
    if basis == "unknown":
        notes.append(
            f"no price figure for {spec.name} at size {request.size}, quality {quality}: "
            "the cost will be taken from the response's usage"
        )
    if spec.price.kind == "per_token" and per_image is not None:
        notes.append(
            "output tokens only; the prompt's tokens add well under $0.001"
            + (", so even this is not an upper bound" if basis == "dearest_choice" else "")
        )
    if spec.price.note:
        notes.append(spec.price.note)
    return CostEstimate(
        usd=None if per_image is None else float(per_image * request.n),
        per_image=None if per_image is None else float(per_image),
        n=request.n,
        basis=basis,
        note="; ".join(notes),
        source=catalog.describe_source(spec.price.source),
        as_of=spec.price.as_of,
    )


def cost_from_usage(
    spec: ModelSpec,
    usage: Mapping[str, Any] | None,
    *,
    n: int = 1,
    size: str | None = None,
    quality: str | None = None,
    catalog: Catalog | None = None,
) -> CostEstimate:
    """What a response did cost, from its ``usage`` block (token-billed models).

    ``usage`` is the OpenAI shape: input_tokens, input_tokens_details{text_tokens,
    image_tokens}, output_tokens. A response without usage is flagged (basis
    "usage_missing") and carries the catalog estimate for ``size`` and ``quality`` when there is
    one; it is never costed as $0.
    """
    catalog = catalog or default_catalog()
    price = spec.price
    source = catalog.describe_source(price.source)
    if price.kind != "per_token":
        raise ValidationError("model", spec.name, "a model billed per token", model=spec.name)
    if not usage or usage.get("output_tokens") is None:
        estimate = None
        if size is not None:
            estimate, _ = price_per_image(spec, size, quality or spec.default_quality, catalog)
        note = "usage missing: the response carried no usage block"
        note += "; cost shown is the catalog estimate" if estimate is not None else "; cost unknown"
        return CostEstimate(
            usd=None if estimate is None else float(estimate * n),
            per_image=None if estimate is None else float(estimate),
            n=n,
            basis="usage_missing",
            note=note,
            source=source,
            as_of=price.as_of,
        )
    details = usage.get("input_tokens_details") or {}
    image_in = int(details.get("image_tokens") or 0)
    text_in = details.get("text_tokens")
    if text_in is None:
        text_in = max(int(usage.get("input_tokens") or 0) - image_in, 0)
    total = (
        int(text_in) * _decimal(price.text_input_per_million or 0)
        + image_in * _decimal(price.image_input_per_million or 0)
        + int(usage["output_tokens"]) * _decimal(price.image_output_per_million)
    ) / _MILLION
    return CostEstimate(
        usd=float(total),
        per_image=float(total / n),
        n=n,
        basis="usage",
        note=f"{usage['output_tokens']} output tokens reported by the service",
        source=source,
        as_of=price.as_of,
    )


_TOO_BIG = Decimal(10) ** 12


def project_monthly(
    price_per_image: float | str | Decimal, images_per_day: float | int, days: int = 30
) -> Decimal:
    """Dollars a month: price x images a day x days, rounded to the cent."""
    for param, value in (("price_per_image", price_per_image), ("images_per_day", images_per_day)):
        try:
            number = _decimal(value)
            # Finite and below a trillion: beyond that it is a typo, and the sum in cents
            # would overflow Decimal's precision instead of answering.
            ok = not isinstance(value, bool) and number.is_finite() and 0 <= number < _TOO_BIG
        except (ArithmeticError, TypeError, ValueError):
            ok = False
        if not ok:
            raise ValidationError(param, value, "a number >= 0 and below 1e12")
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise ValidationError("days", days, "a whole number of days >= 1")
    total = _decimal(price_per_image) * _decimal(images_per_day) * days
    return total.quantize(_CENT, rounding=ROUND_HALF_UP)


def _price_option(option: Any, catalog: Catalog) -> tuple[str, Decimal | None, str, str]:
    """(label, price, basis, source) for a model name, 'model:quality[:size]' or (label, price)."""
    if isinstance(option, tuple | list) and len(option) == 2:
        label, price = option
        return str(label), _decimal(price), "custom", "user"
    if isinstance(option, str):
        model, _, rest = option.partition(":")
        quality, _, size = rest.partition(":")
        spec = catalog.get_model(model)
        quality = quality or spec.default_quality
        size = size or spec.default_size
        # The real checks, so that "dall-e-3:ultra" is refused naming what is allowed.
        request = validate_request(spec.name, "-", size=size, quality=quality, catalog=catalog)
        price, basis = price_per_image(spec, request.size, quality, catalog)
        label = f"{spec.name} {quality} {size}"
        return (
            label,
            price,
            basis,
            f"{catalog.describe_source(spec.price.source)}, {spec.price.as_of}",
        )
    raise ValidationError(
        "models", option, "a model name, 'model:quality[:size]', or a (label, price) pair"
    )


def projection_table(
    options: Iterable[Any],
    per_day: Sequence[float | int] = (1, 20, 50, 500),
    days: int = 30,
    catalog: Catalog | None = None,
) -> pd.DataFrame:
    """Monthly cost of each option at each volume.

    ``options``: model names ("dall-e-3"), "model:quality[:size]" ("dall-e-3:hd"), or
    (label, price per image) pairs for a custom price. Returns one row per option and volume:
    label, price_per_image, images_per_day, days, monthly_usd (Decimal, to the cent), basis,
    source. Options without a known price get monthly_usd None.
    """
    catalog = catalog or default_catalog()
    rows = []
    for option in options:
        label, price, basis, source = _price_option(option, catalog)
        for volume in per_day:
            rows.append(
                {
                    "label": label,
                    "price_per_image": price,
                    "images_per_day": volume,
                    "days": days,
                    "monthly_usd": None if price is None else project_monthly(price, volume, days),
                    "basis": basis,
                    "source": source,
                }
            )
    columns = [
        "label",
        "price_per_image",
        "images_per_day",
        "days",
        "monthly_usd",
        "basis",
        "source",
    ]
    import pandas as pd

    return pd.DataFrame(rows, columns=columns)


def chain_expected_cost(links: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Expected cost per request of a fallback chain.

    Each link: ``cost`` (USD when it serves the image), ``p_fail`` (probability it fails), and
    optionally ``fail_cost`` (USD charged even when it fails; 0 for errors that are not billed).
    Link i is tried only when all links before it failed, so
    E = sum_i prod_{j<i} p_j * ((1 - p_i) * cost_i + p_i * fail_cost_i).
    Returns expected_usd, p_all_fail, and for each link the probability it serves the request.
    """
    reach = Decimal(1)
    expected = Decimal(0)
    served = []
    for i, link in enumerate(links):
        p_fail = _decimal(link.get("p_fail", 0))
        if not Decimal(0) <= p_fail <= Decimal(1):
            raise ValidationError(f"links[{i}].p_fail", link.get("p_fail"), "a probability 0..1")
        cost = _decimal(link["cost"])
        fail_cost = _decimal(link.get("fail_cost", 0))
        expected += reach * ((1 - p_fail) * cost + p_fail * fail_cost)
        served.append(float(reach * (1 - p_fail)))
        reach *= p_fail
    return {
        "expected_usd": float(expected),
        "p_all_fail": float(reach),
        "p_served_by": served,
    }
