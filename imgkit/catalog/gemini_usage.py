"""What a Gemini answer cost, from the ``usageMetadata`` it carries.

Google bills Gemini image models by the token: prompt tokens (text and images in) at the input
rate, image tokens out at the image-output rate, text tokens out and thinking tokens (Gemini 3)
at the text-output rate. An answer's ``usageMetadata`` splits its tokens by modality
(``candidatesTokensDetails``), so its cost is known exactly, text parts and thinking included,
where the per-image price of ``catalog.toml`` knows only the image. The rates are data
(``data/gemini_tokens.toml``), each with its source and the date it was read.

An answer with no usage, or a model with no token rates, is costed by the catalog's per-image
estimate, and says so (``basis`` "estimate").
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources
from typing import Any

__all__ = ["GeminiTokenPrices", "gemini_cost_from_usage", "gemini_token_prices"]

_MILLION = Decimal(1_000_000)


@dataclass(frozen=True)
class GeminiTokenPrices:
    """USD per 1M tokens for one Gemini model, with where the figures come from."""

    model: str
    input_per_million: Decimal
    text_output_per_million: Decimal
    image_output_per_million: Decimal
    source: str
    as_of: str


@functools.cache
def _table() -> dict[str, GeminiTokenPrices]:
    text = resources.files("imgkit.catalog").joinpath("data/gemini_tokens.toml").read_text()
    data = tomllib.loads(text)
    sources = data.get("sources", {})
    table = {}
    for name, entry in data.get("models", {}).items():
        table[name] = GeminiTokenPrices(
            model=name,
            input_per_million=Decimal(str(entry["input_per_million"])),
            text_output_per_million=Decimal(str(entry["text_output_per_million"])),
            image_output_per_million=Decimal(str(entry["image_output_per_million"])),
            source=sources.get(entry["source"], entry["source"]),
            as_of=str(entry["as_of"]),
        )
    return table


def gemini_token_prices(model: str) -> GeminiTokenPrices | None:
    """The token rates of catalog model ``model``, or None when none are known."""
    return _table().get(model)


def _count(usage: Mapping[str, Any], *names: str) -> int:
    for name in names:
        value = usage.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return max(int(value), 0)
    return 0


def _by_modality(details: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in details or []:
        if isinstance(item, Mapping):
            modality = str(item.get("modality") or "").upper().rpartition(".")[2]
            counts[modality] = counts.get(modality, 0) + _count(item, "token_count", "tokenCount")
    return counts


def gemini_cost_from_usage(
    model: str, usage: Mapping[str, Any] | None, n_images: int = 1
) -> tuple[float, str] | None:
    """(USD per image, note) for an answer of ``model`` with ``usage`` (the SDK's
    ``usage_metadata`` dumped, snake_case, or the REST camelCase); None when there is no usage
    or no token rates for the model. The note names the tokens and the rates' source."""
    prices = gemini_token_prices(model)
    if prices is None or not usage:
        return None
    prompt = _count(usage, "prompt_token_count", "promptTokenCount")
    candidates = _count(usage, "candidates_token_count", "candidatesTokenCount")
    thoughts = _count(usage, "thoughts_token_count", "thoughtsTokenCount")
    if not (prompt or candidates or thoughts):
        return None
    details = usage.get("candidates_tokens_details", usage.get("candidatesTokensDetails"))
    modality = _by_modality(details)
    if modality:
        image_out = modality.get("IMAGE", 0)
        text_out = max(candidates - image_out, 0)
    else:
        # No split: every output token is taken as an image token, the dearer rate, so a
        # cost from usage is never below what was billed.
        image_out, text_out = candidates, 0
    total = (
        prompt * prices.input_per_million
        + image_out * prices.image_output_per_million
        + (text_out + thoughts) * prices.text_output_per_million
    ) / _MILLION
    note = (
        f"from usageMetadata: {prompt} prompt, {image_out} image, {text_out} text and "
        f"{thoughts} thinking tokens at {prices.source} ({prices.as_of})"
    )
    return float(total / max(n_images, 1)), note
