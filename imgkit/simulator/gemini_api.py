"""The Gemini side of the simulator: ``POST /{v1,v1beta}/models/{model}:generateContent`` and
``:streamGenerateContent?alt=sse``.

Speaks the Gemini Developer API's JSON as ``google-genai`` sends and parses it (camelCase on the
wire; snake_case is accepted too). The image comes back as ``inlineData`` in
``candidates[0].content.parts`` (gemini-3-pro-image, asked for no size, answers a 1408 x 768 JPEG
and puts a long ``thoughtSignature`` in the image's part, as recorded answers do; its
``usageMetadata`` counts ``thoughtsTokenCount``). ``imageConfig.aspectRatio`` and
``imageConfig.imageSize`` pick the size from the catalog's aspect-ratio table at the model's
tiers. Errors use Google's shape ``{"error": {"code", "message", "status"}}``.

Gemini refuses inside a 200, in several ways (sources in docs/vendor-behaviour.md): a blocked
prompt has ``promptFeedback.blockReason`` and no candidates; an image refused after drawing has a
candidate with ``finishReason`` ``IMAGE_SAFETY`` or ``IMAGE_PROHIBITED_CONTENT`` and no image; a
model that declines answers in words only (``finishReason: STOP``, text parts, no image).

A request ``seed`` makes the image near-identical for the same (prompt, seed), not
byte-identical: the SDK documents the seed as a best effort ("the model makes a best effort to
provide the same response for repeated requests"), so the simulator draws the seeded picture and
moves it a very little per call (:func:`imgkit.simulator.drawing.render_image`'s ``jitter``).
"""

from __future__ import annotations

import base64
import contextlib
import io
import math
import secrets
from typing import Any

from PIL import Image
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from imgkit.catalog.models import ModelSpec, default_catalog, parse_size
from imgkit.catalog.validation import validate_request
from imgkit.errors import ValidationError
from imgkit.simulator import drawing, gemini_judge, streaming
from imgkit.simulator.pipeline import Refusal, VendorErrors, admit, in_thread
from imgkit.simulator.state import SimState

__all__ = ["generate_content"]

PROVIDER = "gemini"
_STATUS = {
    400: "INVALID_ARGUMENT",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_ACTIONS = ("generateContent", "streamGenerateContent")
# Output tokens per image by tier (Google bills images as tokens too): recorded answers show
# 1,290 for gemini-2.5-flash-image and 1,120 for gemini-3-pro-image at 1K; the other tiers
# follow Google's pricing page's token counts [assumption where no recording exists].
_IMAGE_TOKENS = {"0.5K": 747, "1K": 1290, "2K": 1680, "4K": 2520}
_IMAGE_TOKENS_BY_MODEL = {"gemini-3-pro-image": {"1K": 1120, "2K": 1120, "4K": 2000}}
#: What gemini-3-pro-image answers when the request names no aspect ratio or size (recorded):
#: a 1408 x 768 JPEG.
GEMINI3_DEFAULT_IMAGE = (1408, 768, "jpeg")
# Gemini 3 thinks before it draws: its usage counts thought tokens [assumption: the count
# itself; recorded answers carry the field].
_THOUGHT_TOKENS = (180, 420)


def error(
    status: int,
    message: str,
    *,
    headers: dict[str, str] | None = None,
    details: list[dict[str, Any]] | None = None,
) -> JSONResponse:
    """A Google API error body."""
    body: dict[str, Any] = {
        "error": {
            "code": status,
            "message": f"{message} (imgkit simulator)",
            "status": _STATUS.get(status, "UNKNOWN"),
        }
    }
    if details:
        body["error"]["details"] = details
    return JSONResponse(body, status_code=status, headers=headers)


def _rate_limited(retry_after: float, model: str, headers: dict[str, str]) -> Response:
    delay = f"{retry_after:g}s"
    # Google's retry-after is whole seconds.
    headers = {**headers, "retry-after": str(max(1, math.ceil(retry_after)))}
    return error(
        429,
        f"Resource has been exhausted (e.g. check quota) for model {model}.",
        headers=headers,
        details=[{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}],
    )


def _server_error(status: int) -> Response:
    if status == 503:
        return error(503, "The model is overloaded. Please try again later.")
    return error(status, "An internal error has occurred.")


def _gateway_timeout() -> Response:
    return error(504, "Deadline expired before operation could complete.")


ERRORS = VendorErrors(
    rate_limited=_rate_limited,
    server_error=_server_error,
    gateway_timeout=_gateway_timeout,
)
_DECLINE = (
    "I can't create that image, but I can describe a scene like it in words if that helps. "
    "(imgkit simulator)"
)


def _usage(
    prompt_tokens: int, output: list[tuple[str, int]], thoughts: int | None = None
) -> dict[str, Any]:
    """``usageMetadata`` with the per-modality details the service sends (and, for Gemini 3,
    the thought tokens, which count in the total)."""
    candidates = sum(count for _, count in output)
    usage: dict[str, Any] = {
        "promptTokenCount": prompt_tokens,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt_tokens}],
        "totalTokenCount": prompt_tokens + candidates + (thoughts or 0),
    }
    if output:
        usage["candidatesTokenCount"] = candidates
        usage["candidatesTokensDetails"] = [
            {"modality": modality, "tokenCount": count} for modality, count in output
        ]
    if thoughts is not None:
        usage["thoughtsTokenCount"] = thoughts
    return usage


def _thinks(model: str) -> bool:
    """Whether the model's answers carry thought tokens and a thought signature: the recorded
    Gemini 3 image model's do (gemini-3.1-flash-image has no recording to follow)."""
    return model == "gemini-3-pro-image"


def _thought_signature(chars: int) -> str:
    """An opaque signature of ``chars`` base64 characters (random: it means nothing here)."""
    raw = secrets.token_bytes(chars * 3 // 4 + 3)
    return base64.b64encode(raw).decode("ascii")[: chars - chars % 4]


def _refusal_body(refusal: Refusal, model: str, prompt_tokens: int) -> dict[str, Any]:
    """The 200 body of a refusal (see the module docstring)."""
    common = {"modelVersion": model, "responseId": "sim-" + secrets.token_hex(8)}
    note = f"(imgkit simulator: {refusal.reason})"
    if refusal.kind == "policy":
        return {
            "promptFeedback": {
                "blockReason": "PROHIBITED_CONTENT",
                "blockReasonMessage": f"The prompt was blocked. {note}",
            },
            "usageMetadata": _usage(prompt_tokens, []),
            **common,
        }
    if refusal.kind == "decline":
        text_tokens = max(1, math.ceil(len(_DECLINE) / 4))
        candidate = {
            "content": {"parts": [{"text": _DECLINE}], "role": "model"},
            "finishReason": "STOP",
            "index": 0,
        }
        usage = _usage(prompt_tokens, [("TEXT", text_tokens)])
        return {"candidates": [candidate], "usageMetadata": usage, **common}
    finish = "IMAGE_PROHIBITED_CONTENT" if refusal.kind == "prohibited" else "IMAGE_SAFETY"
    candidate = {
        "finishReason": finish,
        "finishMessage": f"The generated image was blocked. {note}",
        "index": 0,
    }
    return {"candidates": [candidate], "usageMetadata": _usage(prompt_tokens, []), **common}


def _get(mapping: Any, camel: str, snake: str) -> Any:
    if not isinstance(mapping, dict):
        return None
    return mapping.get(camel, mapping.get(snake))


def _prompt_and_images(contents: Any) -> tuple[str | None, list[bytes]]:
    """Text and inline images of the last user turn."""
    if isinstance(contents, dict):
        contents = [contents]
    if not isinstance(contents, list):
        return None, []
    for content in reversed(contents):
        if not isinstance(content, dict) or content.get("role", "user") != "user":
            continue
        texts, images = [], []
        for part in content.get("parts") or []:
            if not isinstance(part, dict):
                continue
            if isinstance(part.get("text"), str):
                texts.append(part["text"])
            inline = _get(part, "inlineData", "inline_data")
            if isinstance(inline, dict) and inline.get("data"):
                with contextlib.suppress(ValueError):
                    images.append(base64.b64decode(inline["data"]))
        return (" ".join(texts) if texts else None), images
    return None, []


def _size_for(spec: ModelSpec, aspect: str | None, tier: str | None) -> str:
    """The catalog size for (aspect, tier); ValidationError naming the imageConfig field."""
    rule = spec.size_rule
    if rule is None or rule.kind != "gemini":
        raise ValidationError("model", spec.name, "a Gemini image model")
    aspect = aspect or "1:1"
    tier = tier or "1K"
    if aspect not in rule.aspect_1k:
        raise ValidationError(
            "generationConfig.imageConfig.aspectRatio",
            aspect,
            list(rule.aspect_1k),
            model=spec.name,
        )
    if tier not in spec.tiers:
        raise ValidationError(
            "generationConfig.imageConfig.imageSize", tier, list(spec.tiers), model=spec.name
        )
    for size, (a, t) in rule.gemini_sizes(spec.tiers).items():
        if (a, t) == (aspect, tier):
            return size
    raise ValidationError(
        "generationConfig.imageConfig.aspectRatio", aspect, list(rule.aspect_1k), model=spec.name
    )


def _draw(
    prompt: str,
    width: int,
    height: int,
    variation: int,
    source: bytes | None,
    jitter: int | None = None,
    fmt: str = "png",
) -> bytes:
    image = drawing.render_image(prompt, width, height, variation=variation, jitter=jitter)
    if source is not None:
        try:
            base = Image.open(io.BytesIO(source)).convert("RGB").resize((width, height))
            # A conversational edit: keep the input visible under the newly drawn content.
            image = Image.blend(base, image, 0.6)
        except Exception:  # an unreadable input image is ignored, as a chat model would
            pass
    return drawing.encode(image, fmt, drawn=drawing.drawn_marker(prompt))


async def generate_content(request: Request) -> Response:
    """POST /{version}/models/{model}:generateContent (or :streamGenerateContent?alt=sse)."""
    state: SimState = request.app.state.sim
    version = request.path_params["version"]
    model, _, action = request.path_params["model_action"].partition(":")
    if version not in ("v1", "v1beta", "v1alpha") or action not in _ACTIONS:
        return error(404, f"Method {action or '(none)'} is not found on {version}.")
    stream = action == "streamGenerateContent"
    key = request.headers.get("x-goog-api-key") or request.query_params.get("key")
    if not key:
        state.count_unauthorized()
        return error(
            403,
            "Method doesn't allow unregistered callers (callers without established "
            "identity). Please use an API key (any value works here).",
        )
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return error(400, "Invalid JSON payload received.")
    config = _get(body, "generationConfig", "generation_config") or {}
    image_config = _get(config, "imageConfig", "image_config") or {}
    prompt, sources = _prompt_and_images(body.get("contents"))
    if gemini_judge.is_judge_request(model, body):  # a vision model judging images
        return await gemini_judge.judge_content(model, body, prompt, sources, error)
    candidates = _get(config, "candidateCount", "candidate_count")
    try:
        spec = default_catalog().get_model(model)
        if spec.provider != PROVIDER:
            raise ValidationError("model", model, "a Gemini image model")
        size = _size_for(
            spec,
            _get(image_config, "aspectRatio", "aspect_ratio"),
            _get(image_config, "imageSize", "image_size"),
        )
        req = validate_request(
            model,
            prompt,
            endpoint="edit" if sources else "generate",
            backend="sim",
            size=size,
            n=candidates if candidates is not None else 1,
            seed=config.get("seed"),
        )
    except ValidationError as exc:
        state.count_invalid(PROVIDER, model)
        param = {
            "n": "generationConfig.candidateCount",
            "seed": "generationConfig.seed",
            "prompt": "contents",
        }.get(exc.param, exc.param)
        if exc.param == "model":
            return error(
                404,
                f"models/{model} is not found for API version {version}, or is "
                "not supported for generateContent.",
            )
        return error(400, f"Invalid value at '{param}': {exc}")
    outcome = await admit(
        request,
        state,
        provider=PROVIDER,
        model=req.model,
        prompt=req.prompt,
        images=req.n,
        errors=ERRORS,
        apply_latency=not stream,
    )
    if isinstance(outcome, Response):
        return outcome
    latency = state.draw_latency() if stream else 0.0
    prompt_tokens = max(1, math.ceil(len(req.prompt) / 4))
    if isinstance(outcome, Refusal):
        if outcome.kind == "job_failed":
            return ERRORS.server_error(500)
        body = _refusal_body(outcome, req.model, prompt_tokens)
        if stream:
            return streaming.event_stream([(latency, streaming.sse(body))])
        return JSONResponse(body)
    width, height = parse_size(req.size) or (1024, 1024)
    fmt = "png"
    if req.model == "gemini-3-pro-image" and not image_config:
        width, height, fmt = GEMINI3_DEFAULT_IMAGE
    variation = state.variation(PROVIDER, req.model, req.prompt, seed=req.seed)
    # A seeded repeat comes out near-identical, not identical (see the module docstring).
    jitter = None if req.seed is None else state.variation(PROVIDER, req.model, req.prompt)
    data = await in_thread(
        _draw, req.prompt, width, height, variation, sources[0] if sources else None, jitter, fmt
    )
    state.count_images(PROVIDER, req.model, 1)
    modalities = [
        str(m).upper() for m in _get(config, "responseModalities", "response_modalities") or []
    ]
    text = "Here is a simulated image (imgkit simulator, not a real model)."
    text_part = {"text": text} if "TEXT" in modalities else None
    image_part: dict[str, Any] = {
        "inlineData": {"mimeType": drawing.MIME_TYPES[fmt], "data": base64.b64encode(data).decode()}
    }
    thoughts = None
    if _thinks(req.model):
        # Gemini 3 Pro sends the signature of its thinking in the same part as the image.
        image_part["thoughtSignature"] = _thought_signature(state.thought_signature_chars)
        thoughts = _THOUGHT_TOKENS[0] + variation % (_THOUGHT_TOKENS[1] - _THOUGHT_TOKENS[0])
    tier = spec.gemini_aspect_and_tier(req.size)[1]
    output = [("IMAGE", _IMAGE_TOKENS_BY_MODEL.get(req.model, _IMAGE_TOKENS).get(tier, 1290))]
    if text_part:
        output.insert(0, ("TEXT", max(1, math.ceil(len(text) / 4))))
    common = {"modelVersion": req.model, "responseId": "sim-" + secrets.token_hex(8)}

    def answer(parts: list[dict[str, Any]], done: bool) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
        if done:
            candidate["finishReason"] = "STOP"
        usage = _usage(prompt_tokens, output, thoughts)
        return {"candidates": [candidate], "usageMetadata": usage, **common}

    if not stream:
        return JSONResponse(answer([p for p in (text_part, image_part) if p], done=True))
    # Streamed: the words first (when asked for), then the image with the finish reason.
    chunks = [(0.0, streaming.sse(answer([text_part], done=False)))] if text_part else []
    chunks.append((latency, streaming.sse(answer([image_part], done=True))))
    return streaming.event_stream(chunks)
