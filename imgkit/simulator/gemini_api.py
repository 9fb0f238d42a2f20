"""The Gemini side of the simulator: ``POST /{v1,v1beta}/models/{model}:generateContent``.

Speaks the Gemini Developer API's JSON as ``google-genai`` sends and parses it (camelCase on the
wire; snake_case is accepted too). The image comes back as ``inlineData`` in
``candidates[0].content.parts``. ``imageConfig.aspectRatio`` and ``imageConfig.imageSize`` pick
the size from the catalog's aspect-ratio table at the model's tiers; a request ``seed`` makes the
image a pure function of (prompt, seed). Errors use Google's shape
``{"error": {"code", "message", "status"}}``; a content-policy refusal is a 200 whose only
candidate has ``finishReason: "SAFETY"`` and no content, as the service answers a blocked image.
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
from imgkit.simulator import drawing
from imgkit.simulator.pipeline import VendorErrors, admit, in_thread
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
# Simulator assumption: output tokens per image by tier (Google bills images as tokens too).
_IMAGE_TOKENS = {"0.5K": 747, "1K": 1290, "2K": 1680, "4K": 2520}


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


def _policy(reason: str) -> Response:
    return JSONResponse(
        {
            "candidates": [
                {
                    "finishReason": "SAFETY",
                    "finishMessage": f"The image was blocked for safety. (imgkit simulator: "
                    f"{reason})",
                    "index": 0,
                    "safetyRatings": [
                        {
                            "category": "HARM_CATEGORY_DANGEROUS_CONTENT",
                            "probability": "HIGH",
                            "blocked": True,
                        }
                    ],
                }
            ],
            "usageMetadata": {"promptTokenCount": 0, "totalTokenCount": 0},
            "responseId": "sim-" + secrets.token_hex(8),
        }
    )


def _gateway_timeout() -> Response:
    return error(504, "Deadline expired before operation could complete.")


ERRORS = VendorErrors(
    rate_limited=_rate_limited,
    server_error=_server_error,
    policy=_policy,
    gateway_timeout=_gateway_timeout,
)


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


def _draw(prompt: str, width: int, height: int, variation: int, source: bytes | None) -> bytes:
    image = drawing.render_image(prompt, width, height, variation=variation)
    if source is not None:
        try:
            base = Image.open(io.BytesIO(source)).convert("RGB").resize((width, height))
            # A conversational edit: keep the input visible under the newly drawn content.
            image = Image.blend(base, image, 0.6)
        except Exception:  # an unreadable input image is ignored, as a chat model would
            pass
    return drawing.encode(image, "png")


async def generate_content(request: Request) -> Response:
    """POST /{version}/models/{model}:generateContent."""
    state: SimState = request.app.state.sim
    version = request.path_params["version"]
    model, _, action = request.path_params["model_action"].partition(":")
    if version not in ("v1", "v1beta", "v1alpha") or action != "generateContent":
        return error(404, f"Method {action or '(none)'} is not found on {version}.")
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
    failure = await admit(
        request,
        state,
        provider=PROVIDER,
        model=req.model,
        prompt=req.prompt,
        images=req.n,
        errors=ERRORS,
    )
    if failure is not None:
        return failure
    width, height = parse_size(req.size) or (1024, 1024)
    variation = state.variation(PROVIDER, req.model, req.prompt, seed=req.seed)
    data = await in_thread(
        _draw, req.prompt, width, height, variation, sources[0] if sources else None
    )
    state.count_images(PROVIDER, req.model, 1)
    parts: list[dict[str, Any]] = []
    modalities = [
        str(m).upper() for m in _get(config, "responseModalities", "response_modalities") or []
    ]
    if "TEXT" in modalities:
        parts.append({"text": "Here is a simulated image (imgkit simulator, not a real model)."})
    parts.append(
        {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(data).decode("ascii")}}
    )
    tier = spec.gemini_aspect_and_tier(req.size)[1]
    prompt_tokens = max(1, math.ceil(len(req.prompt) / 4))
    image_tokens = _IMAGE_TOKENS.get(tier, 1290)
    return JSONResponse(
        {
            "candidates": [
                {"content": {"parts": parts, "role": "model"}, "finishReason": "STOP", "index": 0}
            ],
            "usageMetadata": {
                "promptTokenCount": prompt_tokens,
                "candidatesTokenCount": image_tokens,
                "totalTokenCount": prompt_tokens + image_tokens,
                "candidatesTokensDetails": [{"modality": "IMAGE", "tokenCount": image_tokens}],
            },
            "modelVersion": req.model,
            "responseId": "sim-" + secrets.token_hex(8),
        }
    )
