"""Vendor payloads kept as a size and a digest, not whole.

An answer's metadata goes into the run's ledger with every image. Some of what vendors send is
large and needed neither to reproduce nor to audit a result: gemini-3-pro-image puts a
``thoughtSignature`` of about 2.9 million characters beside each image (an opaque token for
continuing a conversation, which a measuring run never does), and streamed answers carry
partial images. Kept whole, a 5,000-image Gemini 3 sweep would write gigabytes of signatures
into its ledger. :func:`bounded` replaces such a value (and any long string with no space in
it: a payload no reader can read) by ``{"omitted": <what>, "chars": n,
"sha256": hex}``: enough to tell two answers' payloads apart, or to check one against a copy
kept elsewhere, in under 200 bytes.
"""

from __future__ import annotations

import hashlib
from typing import Any

__all__ = ["LARGE_VALUE_CHARS", "OMITTED_KEYS", "bounded", "digest"]

#: Keys whose values are never kept whole, however short (snake_case and camelCase spellings).
OMITTED_KEYS = frozenset(
    {
        "thought_signature", "thoughtSignature", "partial_image_b64", "partialImageB64",
        "b64_json", "result", "data",
    }
)  # fmt: skip
#: Any other string value longer than this and without a space in it (an opaque token, a
#: payload in base64) is kept as a digest too: no answer, whatever a vendor adds to it, writes
#: more than a few kilobytes per image into the ledger. Words (a model's text parts, a revised
#: prompt) are kept, whatever their length: they are what a reader of the run wants to see.
LARGE_VALUE_CHARS = 4096


def digest(value: str | bytes, what: str) -> dict[str, Any]:
    """``{"omitted": what, "chars": len, "sha256": hex}`` of ``value``."""
    raw = value.encode() if isinstance(value, str) else bytes(value)
    return {"omitted": what, "chars": len(value), "sha256": hashlib.sha256(raw).hexdigest()}


def bounded(value: Any, key: str | None = None) -> Any:
    """``value`` (plain JSON data) with every omitted key's string and every long string
    replaced by its :func:`digest`."""
    if isinstance(value, dict):
        return {k: bounded(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [bounded(v, key) for v in value]
    if isinstance(value, bytes):
        return digest(value, key or "value") if len(value) > 64 else value
    if isinstance(value, str) and ((key in OMITTED_KEYS and len(value) > 64) or _opaque(value)):
        return digest(value, key or "value")
    return value


def _opaque(text: str) -> bool:
    return len(text) > LARGE_VALUE_CHARS and not any(c.isspace() for c in text[:LARGE_VALUE_CHARS])
