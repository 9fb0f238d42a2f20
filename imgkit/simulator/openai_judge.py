"""The simulator plays a judge: ``POST /v1/responses`` with images in and structured output out.

A request with no ``image_generation`` tool and a ``text.format`` of type ``json_schema`` is a
judge's (:func:`is_judge_request`); :func:`judge_response` answers it in the Responses API's
shape, an assistant message whose text is JSON matching the schema, with usage. The model must
be one of imgkit's judges (``ratings/data/judges.toml``); another is answered 404
``model_not_found`` as the API does.

The answers follow what the simulator drew. Each content word of a prompt is drawn as shapes
whose colour and place depend on the word alone (:func:`imgkit.simulator.drawing.composition`),
so the judge looks for each word of the prompt *as written* at its shapes' centres: a word is
shown when most of its shapes are there in their colour. An image in which more of the
prompt's shapes can be seen follows the prompt better; a rewrite that added words drew more
shapes over them. "Better made" is the calmer image (less edge clutter, the simulator's
stand-in for artefacts); "would use" weighs both. Differences within a small margin are ties.
The simulated judge has no position bias, so its two orders agree; a real one may not, which is
why both are asked.

Usage: the text at four characters a token plus 85 tokens per low-detail image in, the answer's
text out (imgkit's own estimate rules, ``judges.toml``).
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import re
import secrets
import time
from typing import Any

import numpy as np
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from imgkit.simulator import drawing
from imgkit.simulator.openai_errors import error
from imgkit.simulator.openai_usage import text_tokens
from imgkit.simulator.pipeline import in_thread, request_id
from imgkit.simulator.state import SimState

__all__ = ["is_judge_request", "judge_response", "judge_scores"]

_PROMPT = re.compile(r'Prompt as written:\n"""\n(.*?)\n"""', re.S)
_LOW_DETAIL_TOKENS = 85
_TIE_MARGIN = 0.04
_COLOUR_TOLERANCE = 25.0  # a visible shape's centre is within ~12 of its colour


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


def _words(prompt: str) -> list[str]:
    seen = []
    for word in re.findall(r"[a-z0-9']+", prompt.lower()):
        if word not in seen and drawing.composition(word) != drawing.composition(""):
            seen.append(word)
    return seen


def judge_scores(prompt: str, data: bytes) -> dict[str, Any]:
    """What the simulated judge sees in one image: which words of ``prompt`` are shown
    (``shown``: {word: bool}), ``follows`` (the share shown) and ``calm`` (1 - edge clutter)."""
    from PIL import Image

    try:
        image = Image.open(io.BytesIO(data)).convert("RGB")
    except Exception:  # an image the judge cannot open shows nothing
        return {"shown": {w: False for w in _words(prompt)}, "follows": 0.0, "calm": 0.0}
    image.thumbnail((256, 256))
    pixels = np.asarray(image, dtype=float)
    height, width = pixels.shape[:2]
    shown, visible, total = {}, 0, 0
    for word in _words(prompt):
        found = 0
        shapes = drawing.composition(word).shapes
        for shape in shapes:
            x = min(width - 1, max(0, int(shape.cx * width)))
            y = min(height - 1, max(0, int(shape.cy * height)))
            patch = pixels[max(0, y - 1) : y + 2, max(0, x - 1) : x + 2].reshape(-1, 3)
            distance = np.sqrt(((patch - np.array(shape.color)) ** 2).sum(axis=1)).min()
            found += bool(distance < _COLOUR_TOLERANCE)
        # a word is shown when most of its shapes can be seen (not drawn over)
        shown[word] = 2 * found >= len(shapes)
        visible, total = visible + found, total + len(shapes)
    grey = pixels.mean(axis=2)
    clutter = (np.abs(np.diff(grey, axis=0)) > 12).mean() + (
        np.abs(np.diff(grey, axis=1)) > 12
    ).mean()
    return {
        "shown": shown,
        "follows": visible / total if total else 0.0,
        "calm": float(1.0 - min(1.0, clutter)),
    }


def _pick(first: float, second: float) -> str:
    if abs(first - second) <= _TIE_MARGIN:
        return "tie"
    return "first" if first > second else "second"


def _pairwise(prompt: str, images: list[bytes]) -> dict[str, Any]:
    a, b = (judge_scores(prompt, data) for data in images[:2])
    use_a = 0.6 * a["follows"] + 0.4 * a["calm"]
    use_b = 0.6 * b["follows"] + 0.4 * b["calm"]
    return {
        "prompt": _pick(a["follows"], b["follows"]),
        "craft": _pick(a["calm"], b["calm"]),
        "use": _pick(use_a, use_b),
        "reason": (
            f"The first image shows {a['follows']:.0%} of what the prompt names, the second "
            f"{b['follows']:.0%} (simulated judge)."
        ),
    }


def _check(prompt: str, images: list[bytes]) -> dict[str, Any]:
    seen = judge_scores(prompt, images[0])["shown"]
    return {"items": [{"item": w, "kind": "object", "shown": s} for w, s in seen.items()]}


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
    match = _PROMPT.search(text)
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
    task = _pairwise if name == "pairwise_judgement" else _check
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
