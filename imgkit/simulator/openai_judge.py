"""The simulator plays a judge: ``POST /v1/responses`` with images in and structured output out.

A request with no ``image_generation`` tool and a ``text.format`` of type ``json_schema`` is a
judge's (:func:`is_judge_request`); :func:`judge_response` answers it in the Responses API's
shape, an assistant message whose text is JSON matching the schema, with usage. The model must
be one of imgkit's judges (``ratings/data/judges.toml``); another is answered 404
``model_not_found`` as the API does.

The answers follow what the simulator drew (:mod:`imgkit.simulator.judging`): the image in which
more of the prompt's drawn shapes can be seen follows it better. The simulated judge has no
position bias, so its two orders agree; a real one may not, which is why both are asked.

Usage: the text at four characters a token plus 85 tokens per low-detail image in, the answer's
text out (imgkit's own estimate rules, ``judges.toml``).
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from imgkit.simulator.judging import PROMPT_PATTERN, check_answer, pairwise_answer
from imgkit.simulator.openai_errors import error
from imgkit.simulator.openai_usage import text_tokens
from imgkit.simulator.pipeline import in_thread, request_id
from imgkit.simulator.state import SimState

__all__ = ["is_judge_request", "judge_response"]

_LOW_DETAIL_TOKENS = 85


def is_judge_request(body: dict[str, Any]) -> bool:
    """A Responses request asking for structured output and generating no image."""
    tools = body.get("tools") or []
    if any(isinstance(t, dict) and t.get("type") == "image_generation" for t in tools):
        return False
    fmt = (body.get("text") or {}).get("format") or {}
    return isinstance(fmt, dict) and fmt.get("type") == "json_schema"


def _parts(body: dict[str, Any]) -> tuple[str, list[bytes]]:
    texts, images = [], []
    for item in body.get("input") or []:
        if not isinstance(item, dict):
            continue
        content = item.get("content")
        if isinstance(content, str):
            texts.append(content)
            continue
        for part in content or []:
            if not isinstance(part, dict):
                continue
            if part.get("type") == "input_text":
                texts.append(str(part.get("text", "")))
            elif part.get("type") == "input_image":
                url = str(part.get("image_url") or "")
                _, _, data = url.partition("base64,")
                try:
                    images.append(base64.b64decode(data, validate=True))
                except (binascii.Error, ValueError):
                    images.append(b"")
    return "\n".join(texts), images


async def judge_response(request: Request, body: dict[str, Any], state: SimState) -> Response:
    """Answer a judge's request (see the module docstring)."""
    from imgkit.ratings.judges import judge_catalog

    model = str(body.get("model") or "")
    if model not in judge_catalog():
        return error(
            404,
            f"The model `{model}` does not exist or you do not have access to it.",
            code="model_not_found",
        )
    fmt = body["text"]["format"]
    text, images = _parts(body)
    match = PROMPT_PATTERN.search(text)
    if match is None:
        return error(400, "The imgkit simulator's judge needs the prompt in the request text.")
    name = fmt.get("name")
    needed = 2 if name == "pairwise_judgement" else 1
    if name not in ("pairwise_judgement", "image_check") or len(images) < needed:
        return error(
            400,
            f"The imgkit simulator's judge answers pairwise_judgement (two images) and "
            f"image_check (one image); got {name!r} with {len(images)} images.",
            param="text.format.name",
        )
    task = pairwise_answer if name == "pairwise_judgement" else check_answer
    answer = await in_thread(task, match.group(1), images)
    reply = json.dumps(answer)
    tokens_in = text_tokens(text + str(body.get("instructions") or "")) + _LOW_DETAIL_TOKENS * len(
        images
    )
    tokens_out = text_tokens(reply)
    message = {
        "id": "msg_sim_" + secrets.token_hex(12),
        "type": "message",
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "output_text", "text": reply, "annotations": []}],
    }
    return JSONResponse(
        {
            "id": "resp_sim_" + secrets.token_hex(12),
            "object": "response",
            "created_at": int(time.time()),
            "status": "completed",
            "model": model,
            "output": [message],
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "error": None,
            "incomplete_details": None,
            "instructions": body.get("instructions"),
            "metadata": body.get("metadata") or {},
            "temperature": 1.0,
            "top_p": 1.0,
            "max_output_tokens": body.get("max_output_tokens"),
            "text": {"format": fmt},
            "usage": {
                "input_tokens": tokens_in,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": tokens_out,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": tokens_in + tokens_out,
            },
        },
        headers={"x-request-id": request_id()},
    )
