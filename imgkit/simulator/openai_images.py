"""The simulator's OpenAI Images API: ``POST /v1/images/generations`` and ``/v1/images/edits``.

Behaviour per model comes from the catalog through
:func:`imgkit.catalog.validation.validate_request`; rejections and refusals take the API's own
shapes (:mod:`imgkit.simulator.openai_errors`). DALL-E models rewrite the prompt and report
``revised_prompt``; GPT image models report ``usage`` instead (:mod:`.openai_usage`).

Edits keep what the mask keeps only approximately and answer at a size the model can produce:
an explicit ``size`` as asked, otherwise (``auto``, the GPT image models' default) the model's
fixed size nearest the input's aspect ratio, so a 600x400 input comes back 1536x1024.

With ``stream=true`` (GPT image models) the answer is a stream of server-sent events:
``partial_images`` (0 to 3) ``image_generation.partial_image`` events, then one
``image_generation.completed`` (``image_edit.*`` for edits); an image refused by the output
moderation ends the stream with an ``error`` event.
"""

from __future__ import annotations

import base64
import random
import time
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from imgkit.catalog.models import ModelSpec, default_catalog, parse_size
from imgkit.catalog.validation import ImageRequest, validate_request
from imgkit.errors import ValidationError
from imgkit.simulator import drawing, editing, streaming
from imgkit.simulator.inline_json import Base64, InlineJSONResponse
from imgkit.simulator.openai_errors import (
    ERRORS,
    IMAGE_INPUT_CODES,
    check_auth,
    error,
    invalid,
    json_body,
    moderation_error,
    refused,
    unknown_parameter,
)
from imgkit.simulator.openai_params import unknown_parameters
from imgkit.simulator.openai_usage import (
    fidelity_tokens,
    image_input_tokens,
    image_output_tokens,
    image_size_of,
    images_usage,
)
from imgkit.simulator.pipeline import Refusal, admit, in_thread
from imgkit.simulator.rewriting import revise_prompt
from imgkit.simulator.state import SimState, hash_seed

__all__ = ["edits", "generations"]

PROVIDER = "openai"
# The Images API's own default when no model is named.
_DEFAULT_MODEL = "dall-e-2"
#: Input images an edit takes (SDK ``ImageEditParams.image``: up to 16; DALL-E 2 one).
MAX_INPUT_IMAGES = 16
# Formats the stream events can name (ImageGen*Event.output_format in SDK and spec).
_STREAM_FORMATS = ("png", "webp", "jpeg")


# -- shared pieces ------------------------------------------------------------------------------


def concrete_size(spec: ModelSpec, size: str, source: tuple[int, int] | None = None) -> tuple:
    """The (width, height) answered for ``size``: itself, or for "auto" the model's fixed size
    nearest the ``source`` image's aspect ratio (square without one)."""
    wh = parse_size(size)
    if wh is not None:
        return wh
    fixed = [wh for s in spec.allowed_sizes() if (wh := parse_size(s)) is not None]
    if not fixed:
        return source or (1024, 1024)
    aspect = source[0] / source[1] if source else 1.0
    return min(fixed, key=lambda wh: abs(wh[0] / wh[1] - aspect))


def concrete_quality(spec: ModelSpec, quality: str | None) -> str:
    """What "auto" chose: the simulator chooses high, as imgkit's estimate assumes for "auto"."""
    if quality in (None, "auto"):
        concrete = [q for q in spec.qualities if q != "auto"]
        return "high" if "high" in concrete else (concrete[0] if concrete else "auto")
    return quality


def _file_url(request: Request, state: SimState, data: bytes, fmt: str) -> str:
    image_id = state.store_image(data, drawing.MIME_TYPES[fmt])
    expires = int(time.time() + state.url_ttl)
    return f"{str(request.base_url).rstrip('/')}/_sim/files/{image_id}.{fmt}?se={expires}"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _streaming_checks(req: ImageRequest) -> None:
    if req.stream and (req.output_format or "png") not in _STREAM_FORMATS:
        raise ValidationError(
            "output_format", req.output_format, f"{_STREAM_FORMATS} when streaming",
            model=req.model, detail="the stream events name png, webp or jpeg only",
        )  # fmt: skip


class _Answer:
    """The images of one request, drawn, and how to send them (a JSON body or a stream)."""

    def __init__(
        self,
        request: Request,
        state: SimState,
        spec: ModelSpec,
        req: ImageRequest,
        *,
        kind: str,
        images: list[bytes],
        revised: list[str | None],
        size: tuple[int, int],
        image_input: int = 0,
    ) -> None:
        self.request, self.state, self.spec, self.req = request, state, spec, req
        self.kind, self.images, self.revised = kind, images, revised
        self.width, self.height = size
        self.fmt = req.output_format or "png"
        self.image_input = image_input

    def _meta(self) -> dict[str, Any]:
        return {
            "background": "transparent" if self.req.background == "transparent" else "opaque",
            "output_format": self.fmt,
            "quality": concrete_quality(self.spec, self.req.quality),
            "size": f"{self.width}x{self.height}",
        }

    def _output_tokens(self) -> int:
        meta = self._meta()
        return image_output_tokens(
            self.spec, meta["size"], meta["quality"], self.req.partial_images or 0
        )

    def json(self) -> Response:
        data = []
        for image, prompt_used in zip(self.images, self.revised, strict=True):
            item: dict[str, Any] = {}
            if self.spec.family == "dall-e" and (self.req.response_format or "url") == "url":
                item["url"] = _file_url(self.request, self.state, image, self.fmt)
            else:
                item["b64_json"] = Base64(image)
            if prompt_used is not None:
                item["revised_prompt"] = prompt_used
            data.append(item)
        payload: dict[str, Any] = {"created": int(time.time()), "data": data}
        if self.spec.family != "dall-e":
            payload.update(self._meta())
            payload["usage"] = images_usage(
                self.req.prompt, len(self.images) * self._output_tokens(), self.image_input
            )
        return InlineJSONResponse(payload)

    def stream(self, latency: float, refusal: Refusal | None = None) -> Response:
        meta, created = self._meta(), int(time.time())
        partials = self.req.partial_images or 0
        events: list[tuple[float, bytes]] = []
        due = streaming.schedule(len(self.images) * (partials + 1), latency)
        if refusal is not None:
            # Refused by the output moderation: the stream ends in an error event, nested as
            # {"error": {...}} (the shape the SDK's stream reader raises from).
            body = {"type": "error", "error": moderation_error(refusal)}
            return streaming.event_stream([(latency, streaming.sse(body, "error"))])
        step = 0
        for image in self.images:
            for index in range(partials):
                event = {
                    "type": f"{self.kind}.partial_image",
                    "b64_json": _b64(editing.preview(image, index, partials, self.fmt)),
                    "created_at": created,
                    "partial_image_index": index,
                    **meta,
                }
                events.append((due[step], streaming.sse(event, event["type"])))
                step += 1
            usage = images_usage(self.req.prompt, self._output_tokens(), self.image_input)
            usage.pop("output_tokens_details")  # the completed event's usage type has none
            event = {
                "type": f"{self.kind}.completed",
                "b64_json": _b64(image),
                "created_at": created,
                "usage": usage,
                **meta,
            }
            events.append((due[step], streaming.sse(event, event["type"])))
            step += 1
        return streaming.event_stream(events)


async def _admitted(
    request: Request, state: SimState, spec: ModelSpec, req: ImageRequest
) -> tuple[Response | None, Refusal | None, float]:
    """(error to answer, refusal to play, latency left to spread over a stream)."""
    outcome = await admit(
        request,
        state,
        provider=PROVIDER,
        model=req.model,
        prompt=req.prompt,
        images=req.n,
        errors=ERRORS,
        apply_latency=not req.stream,
    )
    if isinstance(outcome, Response):
        return outcome, None, 0.0
    latency = state.draw_latency() if req.stream else 0.0
    if isinstance(outcome, Refusal):
        if req.stream and outcome.output_stage:
            return None, outcome, latency
        return refused(spec, outcome), None, 0.0
    return None, None, latency


# -- POST /v1/images/generations -------------------------------------------------------------


def _stream_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """``stream`` and (only on a stream: the API ignores it otherwise) ``partial_images``."""
    stream = fields.get("stream")
    if isinstance(stream, str):
        stream = stream.lower() in ("true", "1")
    if not stream:
        return {"stream": None}
    return {"stream": True, "partial_images": fields.get("partial_images")}


async def generations(request: Request) -> Response:
    """POST /v1/images/generations."""
    state: SimState = request.app.state.sim
    if (denied := check_auth(request, state)) is not None:
        return denied
    body = await json_body(request)
    if isinstance(body, Response):
        return body
    model = body.get("model") or _DEFAULT_MODEL
    if unknown := unknown_parameters(body, "generate"):
        state.count_invalid(PROVIDER, str(model))
        return unknown_parameter(unknown[0])
    try:
        req = validate_request(
            model,
            body.get("prompt"),
            endpoint="generate",
            backend="sim",
            size=body.get("size"),
            quality=body.get("quality"),
            style=body.get("style"),
            n=body.get("n") if body.get("n") is not None else 1,
            response_format=body.get("response_format"),
            output_format=body.get("output_format"),
            background=body.get("background"),
            output_compression=body.get("output_compression"),
            moderation=body.get("moderation"),
            **_stream_fields(body),
        )
        _streaming_checks(req)
    except ValidationError as exc:
        state.count_invalid(PROVIDER, str(model))
        return invalid(exc)
    spec = default_catalog().get_model(req.model)
    if spec.provider != PROVIDER:
        state.count_invalid(PROVIDER, req.model)
        return error(
            400,
            f"Invalid value for 'model': {req.model!r} is not an OpenAI model.",
            param="model",
            code="invalid_value",
        )
    failure, refusal, latency = await _admitted(request, state, spec, req)
    if failure is not None:
        return failure
    width, height = concrete_size(spec, req.size)
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
        req.output_format or "png",
        req.background == "transparent",
        req.output_compression,
        req.prompt,
    )
    state.count_images(PROVIDER, req.model, len(images))
    answer = _Answer(
        request, state, spec, req, kind="image_generation", images=images,
        revised=used if rewrites else [None] * len(images), size=(width, height),
    )  # fmt: skip
    return answer.stream(latency, refusal) if req.stream else answer.json()


def _draw_many(
    prompts: list[str],
    width: int,
    height: int,
    variations: list[int],
    fmt: str,
    transparent: bool,
    compression: int | None,
    subject: str,
) -> list[bytes]:
    return [
        drawing.render(
            p,
            width,
            height,
            fmt=fmt,
            variation=v,
            transparent=transparent,
            compression=compression,
            subject=subject,
        )
        for p, v in zip(prompts, variations, strict=True)
    ]


# -- POST /v1/images/edits -------------------------------------------------------------------


async def _read_upload(value: Any) -> bytes | None:
    if isinstance(value, UploadFile):
        return await value.read()
    return None


def _form_int(value: Any, param: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValidationError(param, value, "an integer") from None


def _check_inputs(spec: ModelSpec, images: list[bytes]) -> None:
    """Refuse what the edits endpoint refuses about the model and the input images."""
    if spec.provider != PROVIDER:
        raise ValidationError("model", spec.name, "an OpenAI image model that edits")
    if not images:
        raise ValidationError("image", None, "one or more image files")
    limit = 1 if spec.family == "dall-e" else MAX_INPUT_IMAGES
    if len(images) > limit:
        raise _TooManyImages(limit, len(images))
    if spec.family == "dall-e":
        # SDK ImageEditParams.image: "For dall-e-2 ... a square png file less than 4MB".
        width, height = image_size_of(images[0])
        if width != height:
            raise drawing.ImageInputError(
                "image",
                f"Invalid input image: {width}x{height} is not square; dall-e-2 edits square "
                "images only.",
                code=IMAGE_INPUT_CODES["not_square"],
            )


class _TooManyImages(Exception):
    def __init__(self, limit: int, given: int) -> None:
        super().__init__(limit, given)
        self.limit, self.given = limit, given


async def edits(request: Request) -> Response:
    """POST /v1/images/edits (multipart: image or image[], optional mask, prompt, ...)."""
    state: SimState = request.app.state.sim
    if (denied := check_auth(request, state)) is not None:
        return denied
    try:
        form = await request.form(max_files=64, max_fields=64, max_part_size=64 * 1024 * 1024)
    except Exception as exc:  # the multipart parser raises its own types for a broken body
        return error(400, f"Could not parse the multipart body: {exc} (imgkit simulator)")
    try:
        names = list(dict.fromkeys(form.keys()))
        uploads = form.getlist("image") or form.getlist("image[]")
        images = [b for b in [await _read_upload(u) for u in uploads] if b is not None]
        mask = await _read_upload(form.get("mask"))
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
    finally:
        await form.close()
    model = fields.get("model") or _DEFAULT_MODEL
    if unknown := unknown_parameters(names, "edit"):
        state.count_invalid(PROVIDER, str(model))
        return unknown_parameter(unknown[0])
    try:
        stream = _stream_fields(fields)
        if "partial_images" in stream:
            stream["partial_images"] = _form_int(stream["partial_images"], "partial_images")
        n = _form_int(fields.get("n"), "n")
        # GPT image models edit at size "auto" unless told otherwise (SDK ImageEditParams.size).
        default_size = "auto" if "auto" in default_catalog().get_model(model).sizes else None
        req = validate_request(
            model,
            fields.get("prompt"),
            endpoint="edit",
            backend="sim",
            size=fields.get("size") or default_size,
            quality=fields.get("quality") or None,
            n=1 if n is None else n,
            response_format=fields.get("response_format") or None,
            output_format=fields.get("output_format") or None,
            background=fields.get("background") or None,
            output_compression=_form_int(fields.get("output_compression"), "output_compression"),
            input_fidelity=fields.get("input_fidelity") or None,
            **stream,
        )
        _streaming_checks(req)
        spec = default_catalog().get_model(req.model)
        _check_inputs(spec, images)
    except ValidationError as exc:
        state.count_invalid(PROVIDER, str(model))
        return invalid(exc)
    except _TooManyImages as exc:
        state.count_invalid(PROVIDER, str(model))
        return error(
            400,
            f"Invalid 'image': array too long. Expected an array with maximum length "
            f"{exc.limit}, but got an array with length {exc.given} instead.",
            param="image",
            code="array_above_max_length",
        )
    except drawing.ImageInputError as exc:
        state.count_invalid(PROVIDER, str(model))
        return error(400, f"{exc} (imgkit simulator)", param=exc.param, code=exc.code)
    failure, refusal, latency = await _admitted(request, state, spec, req)
    if failure is not None:
        return failure
    source_size = image_size_of(images[0])
    size = concrete_size(spec, req.size, source_size)
    variations = [state.variation(PROVIDER, req.model, req.prompt) for _ in range(req.n)]
    try:
        results = await in_thread(
            _edit_many, images[0], mask, req.prompt, variations, req.output_format or "png",
            req.output_compression, size,
        )  # fmt: skip
    except drawing.ImageInputError as exc:
        state.count_invalid(PROVIDER, req.model)
        return error(400, f"{exc} (imgkit simulator)", param=exc.param, code=exc.code)
    state.count_images(PROVIDER, req.model, len(results))
    image_input = sum(image_input_tokens(*image_size_of(b)) for b in images)
    if req.input_fidelity == "high":
        image_input += sum(fidelity_tokens(*image_size_of(b)) for b in images)
    answer = _Answer(
        request, state, spec, req, kind="image_edit", images=results,
        revised=[None] * len(results), size=size, image_input=image_input,
    )  # fmt: skip
    return answer.stream(latency, refusal) if req.stream else answer.json()


def _edit_many(
    image: bytes,
    mask: bytes | None,
    prompt: str,
    variations: list[int],
    fmt: str,
    compression: int | None,
    size: tuple[int, int],
) -> list[bytes]:
    return [
        editing.edit_image(
            image, mask, prompt, variation=v, fmt=fmt, compression=compression, size=size,
            leak_seed=hash_seed(v, "leak") % (2**32),
        )[0]
        for v in variations
    ]  # fmt: skip
