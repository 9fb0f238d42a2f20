"""JSON answers that carry images inline as base64 strings, spliced in rather than escaped.

``json.dumps`` reads every character of every string, looking for ones to escape. An image
answer is mostly one such string: a 1024 px PNG is a base64 string of 1-2 million characters,
none of which needs escaping (base64 is letters, digits, ``+``, ``/`` and ``=``), and reading it
cost about 4 ms of the event loop's time (holding the GIL) per image, more than the rest of
the answer. So the payload carries :class:`Base64` values where those strings go; the small
rest is encoded as usual with a token in their place, and each token is then replaced by its
base64 text: the same bytes ``JSONResponse`` would send.
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

__all__ = ["Base64", "InlineJSONResponse"]


@dataclass(frozen=True)
class Base64:
    """Bytes to be sent as a base64 string in an :class:`InlineJSONResponse`."""

    data: bytes


class InlineJSONResponse(Response):
    """Starlette's ``JSONResponse`` (compact, UTF-8), with :class:`Base64` values spliced in."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        # A fresh random token per answer: no text a caller sent can spell it.
        nonce = "imgkit-inline-" + secrets.token_hex(8) + "-"
        texts: list[bytes] = []

        def token(value: Any) -> str:
            if not isinstance(value, Base64):
                raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")
            texts.append(base64.b64encode(value.data))
            return f"{nonce}{len(texts) - 1}"

        body = json.dumps(
            content, ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=token
        ).encode("utf-8")
        # Each token stands quoted in the body, in the order the values were met.
        head, *rest = body.split(b'"' + nonce.encode())
        parts = [head]
        for part in rest:
            number, _, tail = part.partition(b'"')
            parts += [b'"', texts[int(number)], b'"', tail]
        return b"".join(parts)
