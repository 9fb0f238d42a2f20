"""The OpenAI side of the simulator: Images API generations and edits, and the Responses API
``image_generation`` tool, in the wire format the ``openai`` SDK parses.

Behaviour per model comes from the catalog through
:func:`imgkit.catalog.validation.validate_request`, whose rejections become the vendor's 400
``invalid_request_error`` with the offending ``param``. DALL-E models rewrite the prompt and report
``revised_prompt``; GPT image models return no ``revised_prompt`` from the Images API but a
``usage`` block whose output tokens follow
:func:`imgkit.catalog.costs.output_tokens`. The Responses tool rewrites (as the conversational path
does).
"""

from __future__ import annotations

import base64
import math
import random
import secrets
import time
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from imgkit.catalog.models import ModelSpec, default_catalog, parse_size
from imgkit.catalog.validation import ImageRequest, validate_request
from imgkit.errors import UnknownModelError, ValidationError
from imgkit.simulator import drawing
from imgkit.simulator.pipeline import VendorErrors, admit, in_thread, request_id
from imgkit.simulator.rewriting import revise_prompt
from imgkit.simulator.state import SimState

__all__ = ["DEFAULT_TOOL_MODEL", "edits", "generations", "responses"]

PROVIDER = "openai"
#: The image model behind the Responses tool when the request names none (FACTS.md).
DEFAULT_TOOL_MODEL = "gpt-image-2.6-sunburst"
# The Images API's own defaults when no model is named.
_DEFAULT_MODEL = "dall-e-2"
# Simulator assumption: qualities without a published token figure bill as a multiple of high.
_EXTRA_QUALITY_FACTOR = {"xhigh": 1.5, "max": 2.0}


# -- error shapes ----------------------------------------------------------------------------


def error(
    status: int,
    message: str,
    *,
    type: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """An OpenAI-shaped error body: {"error": {"message", "type", "param", "code"}}."""
    body = {"error": {"message": message, "type": type, "param": param, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


def _rate_limited(retry_after: float, model: str, headers: dict[str, str]) -> Response:
    return error(
        429,
        f"Rate limit reached for {model} in organization org-simulated on images per min. "
        f"Please try again in {retry_after:g}s. (imgkit simulator)",
        type="requests",
        code="rate_limit_exceeded",
        headers=headers,
    )


def _server_error(status: int) -> Response:
    if status == 503:
        message = "The server is overloaded or not ready yet. (imgkit simulator)"
    else:
        message = (
            "The server had an error while processing your request. Sorry about that! "
            "(imgkit simulator)"
        )
    return error(status, message, type="server_error")


def _policy(reason: str) -> Response:
    return error(
        400,
        "Your request was rejected as a result of our safety system. Your prompt may contain "
        f"text that is not allowed by our safety system. (imgkit simulator: {reason})",
        code="content_policy_violation",
    )


def _gateway_timeout() -> Response:
    return error(504, "Gateway timeout. (imgkit simulator)", type="server_error")


ERRORS = VendorErrors(
    rate_limited=_rate_limited,
    server_error=_server_error,
    policy=_policy,
    gateway_timeout=_gateway_timeout,
)


def _invalid(exc: ValidationError, *, prefix: str = "") -> Response:
    param = exc.param
    if param == "endpoint":
        # The catalog's endpoint list is what the vendor expresses as "this model can't do that".
        param = "model"
    if isinstance(exc, UnknownModelError):
        return error(
            400,
            f"Invalid value for 'model': {exc.value!r} is not a model the simulator knows. "
            "(imgkit simulator)",
            param=prefix + "model",
            code="invalid_value",
        )
    return error(400, f"{exc} (imgkit simulator)", param=prefix + param, code="invalid_value")


def check_auth(request: Request, state: SimState) -> Response | None:
    """401 unless an ``Authorization: Bearer <anything>`` header is present."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return None
    state.count_unauthorized()
    return error(
        401,
        "You didn't provide an API key. You need to provide your API key in an Authorization "
        "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY). The imgkit simulator "
        "accepts any key.",
        code="invalid_api_key",
    )


# -- helpers ---------------------------------------------------------------------------------


def _concrete_size(spec: ModelSpec, size: str) -> tuple[int, int]:
    wh = parse_size(size)
    if wh is not None:
        return wh
    # "auto": the service picks; the simulator picks the model's first fixed size.
    for candidate in spec.allowed_sizes():
        wh = parse_size(candidate)
        if wh is not None:
            return wh
    return (1024, 1024)


def _concrete_quality(spec: ModelSpec, quality: str | None) -> str:
    if quality in (None, "auto"):
        # The real service reports what "auto" chose; the simulator chooses high, which is also
        # what imgkit's estimate assumes for "auto", so an estimate never undershoots.
        concrete = [q for q in spec.qualities if q not in ("auto",)]
        return "high" if "high" in concrete else (concrete[0] if concrete else "auto")
    return quality


def image_output_tokens(spec: ModelSpec, size: str, quality: str) -> int:
    """Output tokens the simulator bills for one image: the catalog's figure when there is one.

    For qualities without a published figure (xhigh, max) it bills a multiple of high; for any
    other gap, a pixel-proportional figure. Both are simulator assumptions, not vendor data.
    """
    from imgkit.catalog.costs import output_tokens

    tokens = output_tokens(spec, size, quality)
    if tokens is not None:
        return tokens
    if quality in _EXTRA_QUALITY_FACTOR:
        high = output_tokens(spec, size, "high")
        if high is not None:
            return math.ceil(high * _EXTRA_QUALITY_FACTOR[quality])
    w, h = parse_size(size) or (1024, 1024)
    return math.ceil(4160 * w * h / (1024 * 1024))


def _text_tokens(text: str) -> int:
    # About four characters per token, the usual rule of thumb for English.
    return max(1, math.ceil(len(text) / 4))


def _image_input_tokens(width: int, height: int) -> int:
    # Simulator assumption borrowed from the vision token rule: 85 + 170 per 512-pixel tile.
    return 85 + 170 * math.ceil(width / 512) * math.ceil(height / 512)


def _usage(prompt: str, output_tokens: int, image_tokens: int = 0) -> dict[str, Any]:
    text = _text_tokens(prompt)
    return {
        "input_tokens": text + image_tokens,
        "input_tokens_details": {"text_tokens": text, "image_tokens": image_tokens},
        "output_tokens": output_tokens,
        "total_tokens": text + image_tokens + output_tokens,
    }


def _format_of(req: ImageRequest) -> str:
    return req.output_format or "png"


def _file_url(request: Request, state: SimState, data: bytes, fmt: str) -> str:
    image_id = state.store_image(data, drawing.MIME_TYPES[fmt])
    expires = int(time.time() + state.url_ttl)
    return f"{str(request.base_url).rstrip('/')}/_sim/files/{image_id}.{fmt}?se={expires}"


def _draw_many(
    prompts: list[str],
    width: int,
    height: int,
    variations: list[int],
    fmt: str,
    transparent: bool,
    compression: int | None,
) -> list[bytes]:
    return [
        drawing.render(
            p, width, height, fmt=fmt, variation=v, transparent=transparent, compression=compression
        )
        for p, v in zip(prompts, variations, strict=True)
    ]


async def _json_body(request: Request) -> dict[str, Any] | Response:
    try:
        body = await request.json()
    except ValueError:
        return error(400, "We could not parse the JSON body of your request. (imgkit simulator)")
    if not isinstance(body, dict):
        return error(400, "The request body must be a JSON object. (imgkit simulator)")
    if body.get("stream"):
        return error(400, "Streaming is not supported by the imgkit simulator.", param="stream")
    return body


# -- POST /v1/images/generations -------------------------------------------------------------


async def generations(request: Request) -> Response:
    """POST /v1/images/generations."""
    state: SimState = request.app.state.sim
    if (denied := check_auth(request, state)) is not None:
        return denied
    body = await _json_body(request)
    if isinstance(body, Response):
        return body
    model = body.get("model") or _DEFAULT_MODEL
    try:
        req = validate_request(
            model,
            body.get("prompt"),
            endpoint="generate",
            backend="sim",
            size=body.get("size"),
            quality=body.get("quality"),
            style=body.get("style"),
            n=body.get("n", 1) if body.get("n") is not None else 1,
            response_format=body.get("response_format"),
            output_format=body.get("output_format"),
            background=body.get("background"),
            output_compression=body.get("output_compression"),
            moderation=body.get("moderation"),
        )
    except ValidationError as exc:
        state.count_invalid(PROVIDER, str(model))
        return _invalid(exc)
    spec = default_catalog().get_model(req.model)
    if spec.provider != PROVIDER:
        state.count_invalid(PROVIDER, req.model)
        return error(
            400,
            f"Invalid value for 'model': {req.model!r} is not an OpenAI model.",
            param="model",
            code="invalid_value",
        )
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
    return await _answer_images(request, state, spec, req)


async def _answer_images(
    request: Request, state: SimState, spec: ModelSpec, req: ImageRequest
) -> Response:
    width, height = _concrete_size(spec, req.size)
    fmt = _format_of(req)
    variations = [state.variation(PROVIDER, req.model, req.prompt) for _ in range(req.n)]
    rewrites = spec.returns_revised_prompt("generate")
    used = [
        revise_prompt(req.prompt, random.Random(v), style=req.style) if rewrites else req.prompt
        for v in variations
    ]
    images = await in_thread(
        _draw_many,
        used,
        width,
        height,
        variations,
        fmt,
        req.background == "transparent",
        req.output_compression,
    )
    state.count_images(PROVIDER, req.model, len(images))
    data = []
    for prompt_used, image in zip(used, images, strict=True):
        item: dict[str, Any] = {}
        if spec.family == "dall-e" and (req.response_format or "url") == "url":
            item["url"] = _file_url(request, state, image, fmt)
        else:
            item["b64_json"] = base64.b64encode(image).decode("ascii")
        if rewrites:
            item["revised_prompt"] = prompt_used
        data.append(item)
    payload: dict[str, Any] = {"created": int(time.time()), "data": data}
    if spec.family != "dall-e":
        quality = _concrete_quality(spec, req.quality)
        size = f"{width}x{height}"
        payload.update(
            background="transparent" if req.background == "transparent" else "opaque",
            output_format=fmt,
            quality=quality,
            size=size,
            usage=_usage(req.prompt, req.n * image_output_tokens(spec, size, quality)),
        )
    return JSONResponse(payload)


# -- POST /v1/images/edits -------------------------------------------------------------------


async def _read_upload(value: Any) -> bytes | None:
    if isinstance(value, UploadFile):
        return await value.read()
    return None


def _form_int(value: Any, param: str) -> int | ValidationError | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return ValidationError(param, value, "an integer")


async def edits(request: Request) -> Response:
    """POST /v1/images/edits (multipart: image or image[], optional mask, prompt, ...)."""
    state: SimState = request.app.state.sim
    if (denied := check_auth(request, state)) is not None:
        return denied
    try:
        form = await request.form(max_files=32, max_fields=64, max_part_size=64 * 1024 * 1024)
    except Exception as exc:  # the multipart parser raises its own types for a broken body
        return error(400, f"Could not parse the multipart body: {exc} (imgkit simulator)")
    try:
        uploads = form.getlist("image") or form.getlist("image[]")
        images = [b for b in [await _read_upload(u) for u in uploads] if b is not None]
        mask = await _read_upload(form.get("mask"))
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
    finally:
        await form.close()
    model = fields.get("model") or _DEFAULT_MODEL
    n = _form_int(fields.get("n"), "n")
    compression = _form_int(fields.get("output_compression"), "output_compression")
    try:
        for parsed in (n, compression):
            if isinstance(parsed, ValidationError):
                raise parsed
        if not images:
            raise ValidationError("image", None, "one or more image files")
        if fields.get("stream") in ("true", "True", "1"):
            raise ValidationError("stream", True, "false (the simulator does not stream)")
        req = validate_request(
            model,
            fields.get("prompt"),
            endpoint="edit",
            backend="sim",
            size=fields.get("size") or None,
            quality=fields.get("quality") or None,
            n=n if n is not None else 1,
            response_format=fields.get("response_format") or None,
            output_format=fields.get("output_format") or None,
            background=fields.get("background") or None,
            output_compression=compression,
            input_fidelity=fields.get("input_fidelity") or None,
        )
    except ValidationError as exc:
        state.count_invalid(PROVIDER, str(model))
        return _invalid(exc)
    spec = default_catalog().get_model(req.model)
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
    fmt = _format_of(req)
    variations = [state.variation(PROVIDER, req.model, req.prompt) for _ in range(req.n)]
    try:
        results = await in_thread(
            _edit_many,
            images[0],
            mask,
            req.prompt,
            variations,
            fmt,
            req.output_compression,
            # Only an explicit size resizes; by default the edit keeps the input's size.
            fields.get("size") or "auto",
        )
    except drawing.ImageInputError as exc:
        state.count_invalid(PROVIDER, req.model)
        return error(400, f"{exc} (imgkit simulator)", param=exc.param, code="invalid_value")
    state.count_images(PROVIDER, req.model, len(results))
    width, height = results[0][1], results[0][2]
    data = []
    for image, _, _ in results:
        if spec.family == "dall-e" and (req.response_format or "url") == "url":
            data.append({"url": _file_url(request, state, image, fmt)})
        else:
            data.append({"b64_json": base64.b64encode(image).decode("ascii")})
    payload: dict[str, Any] = {"created": int(time.time()), "data": data}
    if spec.family != "dall-e":
        quality = _concrete_quality(spec, req.quality)
        size = f"{width}x{height}"
        image_tokens = sum(_image_input_tokens(*_image_size(b)) for b in images)
        payload.update(
            background="transparent" if req.background == "transparent" else "opaque",
            output_format=fmt,
            quality=quality,
            size=size,
            usage=_usage(
                req.prompt, req.n * image_output_tokens(spec, size, quality), image_tokens
            ),
        )
    return JSONResponse(payload)


def _image_size(data: bytes) -> tuple[int, int]:
    import io

    from PIL import Image

    try:
        return Image.open(io.BytesIO(data)).size
    except Exception:  # unreadable extra images still cost something; count one tile
        return (512, 512)


def _edit_many(
    image: bytes,
    mask: bytes | None,
    prompt: str,
    variations: list[int],
    fmt: str,
    compression: int | None,
    size: str,
) -> list[tuple[bytes, int, int]]:
    results = []
    for variation in variations:
        data, width, height = drawing.edit_image(
            image, mask, prompt, variation=variation, fmt=fmt, compression=compression
        )
        wanted = parse_size(size)
        if wanted is not None and wanted != (width, height):
            # An explicit size different from the input: answer at that size, like the service.
            data, width, height = _resize(data, fmt, wanted, compression)
        results.append((data, width, height))
    return results


def _resize(
    data: bytes, fmt: str, size: tuple[int, int], compression: int | None
) -> tuple[bytes, int, int]:
    import io

    from PIL import Image

    image = Image.open(io.BytesIO(data))
    resized = image.resize(size)
    return drawing.encode(resized, fmt, compression=compression), size[0], size[1]


# -- POST /v1/responses ----------------------------------------------------------------------


def _prompt_from_input(value: Any) -> str | None:
    """The text of the last user turn of a Responses ``input``."""
    if isinstance(value, str):
        return value
    if not isinstance(value, list):
        return None
    for item in reversed(value):
        if not isinstance(item, dict) or item.get("role", "user") != "user":
            continue
        content = item.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            texts = [
                part.get("text", "")
                for part in content
                if isinstance(part, dict) and part.get("type") in ("input_text", "text")
            ]
            if texts:
                return " ".join(texts)
    return None


async def responses(request: Request) -> Response:
    """POST /v1/responses with the ``image_generation`` tool."""
    state: SimState = request.app.state.sim
    if (denied := check_auth(request, state)) is not None:
        return denied
    body = await _json_body(request)
    if isinstance(body, Response):
        return body
    prompt = _prompt_from_input(body.get("input"))
    tools = body.get("tools") or []
    index, tool = next(
        (
            (i, t)
            for i, t in enumerate(tools)
            if isinstance(t, dict) and t.get("type") == "image_generation"
        ),
        (None, None),
    )
    if tool is None or index is None:
        return error(
            400,
            "The imgkit simulator only serves the image_generation tool of the "
            "Responses API; add tools=[{'type': 'image_generation'}].",
            param="tools",
        )
    tool_model = tool.get("model") or DEFAULT_TOOL_MODEL
    try:
        req = validate_request(
            tool_model,
            prompt,
            endpoint="responses",
            backend="sim",
            size=tool.get("size"),
            quality=tool.get("quality"),
            output_format=tool.get("output_format"),
            background=tool.get("background"),
            output_compression=tool.get("output_compression"),
            moderation=tool.get("moderation"),
        )
    except ValidationError as exc:
        state.count_invalid(PROVIDER, str(tool_model))
        if exc.param == "prompt":
            return _invalid(exc)
        return _invalid(exc, prefix=f"tools[{index}].")
    spec = default_catalog().get_model(req.model)
    failure = await admit(
        request,
        state,
        provider=PROVIDER,
        model=req.model,
        prompt=req.prompt,
        images=1,
        errors=ERRORS,
    )
    if failure is not None:
        return failure
    width, height = _concrete_size(spec, req.size)
    fmt = _format_of(req)
    variation = state.variation(PROVIDER, req.model, req.prompt)
    revised = revise_prompt(req.prompt, random.Random(variation))
    (image,) = await in_thread(
        _draw_many,
        [revised],
        width,
        height,
        [variation],
        fmt,
        req.background == "transparent",
        req.output_compression,
    )
    state.count_images(PROVIDER, req.model, 1)
    quality = _concrete_quality(spec, req.quality)
    size = f"{width}x{height}"
    image_tokens = image_output_tokens(spec, size, quality)
    text_in = _text_tokens(req.prompt)
    message = "Here is the image you asked for (drawn by the imgkit simulator)."
    payload = {
        "id": "resp_sim_" + secrets.token_hex(12),
        "object": "response",
        "created_at": int(time.time()),
        "status": "completed",
        "model": body.get("model") or "gpt-5",
        "output": [
            {
                "id": "ig_sim_" + secrets.token_hex(12),
                "type": "image_generation_call",
                "status": "completed",
                "action": "generate",
                "background": "transparent" if req.background == "transparent" else "opaque",
                "output_format": fmt,
                "quality": quality,
                "size": size,
                "revised_prompt": revised,
                "result": base64.b64encode(image).decode("ascii"),
            },
            {
                "id": "msg_sim_" + secrets.token_hex(12),
                "type": "message",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": message, "annotations": []}],
            },
        ],
        "parallel_tool_calls": True,
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": tools,
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "metadata": body.get("metadata") or {},
        "temperature": 1.0,
        "top_p": 1.0,
        "text": {"format": {"type": "text"}},
        "usage": {
            "input_tokens": text_in,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": _text_tokens(message),
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": text_in + _text_tokens(message),
        },
        # The image model's own bill, where the SDK reads it: hosted-tool usage is reported
        # apart from the conversational model's `usage`.
        "tool_usage": {
            "image_gen": _usage(req.prompt, image_tokens),
            "web_search": {"num_requests": 0},
        },
    }
    return JSONResponse(payload, headers={"x-request-id": request_id()})
