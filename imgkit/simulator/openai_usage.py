"""What the simulator's OpenAI side bills, in the shapes the SDK's usage types declare.

Figures (sources and assumptions in docs/vendor-behaviour.md):

- output tokens per image: the catalog's table or formula
  (:func:`imgkit.catalog.costs.output_tokens`); qualities without a published figure bill a
  multiple of high (a simulator assumption);
- each partial image of a stream: :data:`~imgkit.catalog.costs.PARTIAL_IMAGE_TOKENS` more;
- an input image: 65 + 129 tokens per 512-pixel tile after scaling its shorter side to 512 (a
  square to 512x512): 194 for a square, 323 for a 3:2 or 16:9 picture (measured by a user of the
  edits endpoint);
- ``input_fidelity="high"``: each input image costs as many more input image tokens as a
  high-quality output image of its shape (4,160 square, 6,208 landscape, 6,240 portrait; an
  assumption matching the $0.062 a user measured for a 16:9 image on gpt-image-1);
- prompt text: about four characters per token.
"""

from __future__ import annotations

import io
import math
from typing import Any

from imgkit.catalog.costs import PARTIAL_IMAGE_TOKENS, output_tokens
from imgkit.catalog.models import ModelSpec, parse_size

__all__ = [
    "fidelity_tokens",
    "image_input_tokens",
    "image_output_tokens",
    "image_size_of",
    "images_usage",
    "responses_usage",
    "text_tokens",
]

# Simulator assumption: qualities without a published token figure bill as a multiple of high.
_EXTRA_QUALITY_FACTOR = {"xhigh": 1.5, "max": 2.0}
# High-quality output tokens of gpt-image-1 by shape (the catalog's community table).
_HIGH_FIDELITY_TOKENS = {"square": 4160, "landscape": 6208, "portrait": 6240}


def image_output_tokens(spec: ModelSpec, size: str, quality: str, partial_images: int = 0) -> int:
    """Output tokens for one image (and its partial images, when streamed)."""
    tokens = output_tokens(spec, size, quality)
    if tokens is None and quality in _EXTRA_QUALITY_FACTOR:
        high = output_tokens(spec, size, "high")
        if high is not None:
            tokens = math.ceil(high * _EXTRA_QUALITY_FACTOR[quality])
    if tokens is None:
        w, h = parse_size(size) or (1024, 1024)
        tokens = math.ceil(4160 * w * h / (1024 * 1024))
    return tokens + PARTIAL_IMAGE_TOKENS * partial_images


def text_tokens(text: str) -> int:
    """About four characters per token, the usual rule of thumb for English."""
    return max(1, math.ceil(len(text) / 4))


def image_input_tokens(width: int, height: int) -> int:
    """Input tokens of one image: 65 + 129 per 512-pixel tile, shorter side scaled to 512."""
    short = min(width, height)
    scale = 512 / short if short > 512 else 1.0
    w, h = width * scale, height * scale
    if short > 512 and abs(w - h) < 2:  # scaled down nearly square: one tile (1024x1025 too)
        return 65 + 129
    return 65 + 129 * math.ceil(w / 512 - 1e-9) * math.ceil(h / 512 - 1e-9)


def fidelity_tokens(width: int, height: int) -> int:
    """The extra input image tokens ``input_fidelity="high"`` bills for one input image."""
    if abs(width - height) <= 0.05 * max(width, height):
        return _HIGH_FIDELITY_TOKENS["square"]
    return _HIGH_FIDELITY_TOKENS["landscape" if width > height else "portrait"]


def image_size_of(data: bytes) -> tuple[int, int]:
    """(width, height) of encoded image bytes; one tile's worth when unreadable."""
    from PIL import Image

    try:
        return Image.open(io.BytesIO(data)).size
    except Exception:  # an unreadable extra image still costs something
        return (512, 512)


def images_usage(prompt: str, output: int, image_input: int = 0) -> dict[str, Any]:
    """The Images API's ``usage``: every field its SDK type declares."""
    text = text_tokens(prompt)
    return {
        "input_tokens": text + image_input,
        "input_tokens_details": {"text_tokens": text, "image_tokens": image_input},
        "output_tokens": output,
        "output_tokens_details": {"image_tokens": output, "text_tokens": 0},
        "total_tokens": text + image_input + output,
    }


def responses_usage(prompt: str, reply: str) -> dict[str, Any]:
    """The conversational model's ``usage`` of a Responses answer (the image is billed apart)."""
    text_in, text_out = text_tokens(prompt), text_tokens(reply)
    return {
        "input_tokens": text_in,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": text_out,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": text_in + text_out,
    }
