"""The simulator plays a Gemini judge: ``generateContent`` with images in and JSON out.

A ``generateContent`` request for one of imgkit's Gemini judges (``ratings/data/judges.toml``)
with ``responseMimeType: application/json`` and a schema (``responseJsonSchema`` or
``responseSchema``) is a judge's (:func:`is_judge_request`). :func:`judge_content` answers it as
the Developer API does, a candidate whose one text part is the JSON, with ``usageMetadata``. The
judging itself is :mod:`imgkit.simulator.judging`'s, the same as the Responses route's. Which
of the two questions is asked is read from the schema: a ``prompt`` property is the pairwise
question, an ``items`` property the per-image check.

Usage: the text at four characters a token plus 258 tokens per 768x768 tile of each image in
(imgkit's estimate rules), the answer's text out.
"""

from __future__ import annotations

import base64
import io
import json
import secrets
from typing import Any

from starlette.responses import JSONResponse, Response

from imgkit.simulator.judging import PROMPT_PATTERN, check_answer, pairwise_answer
from imgkit.simulator.openai_usage import text_tokens
from imgkit.simulator.pipeline import in_thread

__all__ = ["is_judge_request", "judge_content"]


def _config(body: dict[str, Any]) -> dict[str, Any]:
    config = body.get("generationConfig", body.get("generation_config")) or {}
    return config if isinstance(config, dict) else {}


def _schema(config: dict[str, Any]) -> Any:
    for name in ("responseJsonSchema", "response_json_schema", "responseSchema", "response_schema"):
        if name in config:
            return config[name]
    return None


def is_judge_request(model: str, body: dict[str, Any]) -> bool:
    """A request to one of imgkit's Gemini judges asking for JSON by a schema."""
    from imgkit.ratings.judges import judge_catalog

    spec = judge_catalog().get(model)
    if spec is None or spec.api != "gemini":
        return False
    config = _config(body)
    mime = config.get("responseMimeType", config.get("response_mime_type"))
    return mime == "application/json" and isinstance(_schema(config), dict)


def _images(body: dict[str, Any]) -> list[bytes]:
    """The inline images of the request. google-genai sends bytes in base64's URL-safe
    alphabet (pydantic's serialisation), which the standard decoder rejects or garbles, so
    both alphabets are read."""
    found = []
    contents = body.get("contents")
    for content in contents if isinstance(contents, list) else [contents]:
        for part in (content or {}).get("parts") or [] if isinstance(content, dict) else []:
            inline = (
                part.get("inlineData", part.get("inline_data")) if isinstance(part, dict) else None
            )
            if isinstance(inline, dict) and isinstance(inline.get("data"), str):
                text = inline["data"].replace("-", "+").replace("_", "/")
                try:
                    found.append(base64.b64decode(text + "=" * (-len(text) % 4)))
                except ValueError:
                    found.append(b"")
    return found


def _tiles(data: bytes) -> int:
    from PIL import Image

    try:
        width, height = Image.open(io.BytesIO(data)).size
    except Exception:  # an unreadable image still costs a tile
        return 1
    if max(width, height) <= 384:
        return 1
    return -(-width // 768) * -(-height // 768)


async def judge_content(
    model: str, body: dict[str, Any], prompt: str | None, images: list[bytes], error: Any
) -> Response:
    """Answer a Gemini judge's request; ``error(status, message)`` makes Google's error shape."""
    images = _images(body) or images
    properties = _schema(_config(body)).get("properties") or {}
    pairwise = "prompt" in properties
    match = PROMPT_PATTERN.search(prompt or "")
    if match is None:
        return error(400, "The imgkit simulator's judge needs the prompt in the request text.")
    if len(images) < (2 if pairwise else 1):
        return error(400, f"The imgkit simulator's judge got {len(images)} images.")
    answer = await in_thread(pairwise_answer if pairwise else check_answer, match.group(1), images)
    reply = json.dumps(answer)
    system = json.dumps(body.get("systemInstruction", body.get("system_instruction")) or "")
    tokens_in = text_tokens((prompt or "") + system) + 258 * sum(_tiles(i) for i in images)
    tokens_out = text_tokens(reply)
    return JSONResponse(
        {
            "candidates": [
                {
                    "content": {"role": "model", "parts": [{"text": reply}]},
                    "finishReason": "STOP",
                    "index": 0,
                }
            ],
            "usageMetadata": {
                "promptTokenCount": tokens_in,
                "candidatesTokenCount": tokens_out,
                "totalTokenCount": tokens_in + tokens_out,
                "promptTokensDetails": [{"modality": "TEXT", "tokenCount": tokens_in}],
            },
            "modelVersion": model,
            "responseId": "sim-" + secrets.token_hex(8),
        }
    )
