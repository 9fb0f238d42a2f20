"""The simulator's OpenAI Responses API: ``POST /v1/responses`` with the ``image_generation`` tool.

The answer holds an ``image_generation_call`` item (the image, and the prompt as the tool
rewrote it: the conversational path rewrites) and an assistant message. A refused image is not
an HTTP error here: the call comes back ``status: "failed"``, ``result: null``, with an error
carrying the moderation details, inside a 200; a model that declines answers with a message
and no call at all. With ``stream: true`` the same answer arrives as the API's ``response.*``
server-sent events, partial images included (the tool's ``partial_images``).

The image model's bill is reported where the SDK reads it, in ``tool_usage.image_gen``; the
conversational model's own ``usage`` is small and apart.
"""

from __future__ import annotations

import base64
import random
import secrets
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from imgkit.catalog.models import ModelSpec, default_catalog, parse_size
from imgkit.catalog.validation import ImageRequest, validate_request
from imgkit.errors import ValidationError
from imgkit.simulator import drawing, editing, openai_judge, streaming
from imgkit.simulator.openai_errors import (
    ERRORS,
    check_auth,
    error,
    invalid,
    json_body,
    moderation_error,
    unknown_parameter,
)
from imgkit.simulator.openai_images import concrete_quality, concrete_size
from imgkit.simulator.openai_params import unknown_parameters
from imgkit.simulator.openai_usage import image_output_tokens, images_usage, responses_usage
from imgkit.simulator.pipeline import Refusal, admit, in_thread, request_id
from imgkit.simulator.rewriting import revise_prompt
from imgkit.simulator.state import SimState

__all__ = ["DEFAULT_TOOL_MODEL", "responses"]

PROVIDER = "openai"
#: The image model behind the tool when the request names none (the SDK's tool docstring).
DEFAULT_TOOL_MODEL = "gpt-image-2.6-sunburst"
_REPLY = "Here is the image you asked for (drawn by the imgkit simulator)."
_REFUSED_REPLY = "I can't help create that image, because it may go against the content policy."
_DECLINE_REPLY = (
    "I can't create that image. I could describe it in words instead (imgkit simulator)."
)


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


def _tool(body: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
    for index, tool in enumerate(body.get("tools") or []):
        if isinstance(tool, dict) and tool.get("type") == "image_generation":
            return index, tool
    return None


def _validate(body: dict[str, Any], prompt: Any, tool: dict[str, Any]) -> ImageRequest:
    stream = bool(body.get("stream"))
    return validate_request(
        tool.get("model") or DEFAULT_TOOL_MODEL,
        prompt,
        endpoint="responses",
        backend="sim",
        size=tool.get("size"),
        quality=tool.get("quality"),
        output_format=tool.get("output_format"),
        background=tool.get("background"),
        output_compression=tool.get("output_compression"),
        moderation=tool.get("moderation"),
        stream=True if stream else None,
        partial_images=tool.get("partial_images") if stream else None,
    )


async def responses(request: Request) -> Response:
    """POST /v1/responses with the ``image_generation`` tool."""
    state: SimState = request.app.state.sim
    if (denied := check_auth(request, state)) is not None:
        return denied
    body = await json_body(request)
    if isinstance(body, Response):
        return body
    if openai_judge.is_judge_request(body):  # a vision model judging images: imgkit's judge
        return await openai_judge.judge_response(request, body, state)
    found = _tool(body)
    if found is None:
        return error(
            400,
            "The imgkit simulator only serves the image_generation tool of the "
            "Responses API; add tools=[{'type': 'image_generation'}].",
            param="tools",
        )
    index, tool = found
    tool_model = str(tool.get("model") or DEFAULT_TOOL_MODEL)
    unknown = unknown_parameters(body, "responses") or [
        f"tools[{index}].{name}" for name in unknown_parameters(tool, "image_generation_tool")
    ]
    if unknown:
        state.count_invalid(PROVIDER, tool_model)
        return unknown_parameter(unknown[0])
    try:
        req = _validate(body, _prompt_from_input(body.get("input")), tool)
    except ValidationError as exc:
        state.count_invalid(PROVIDER, tool_model)
        return invalid(exc, prefix="" if exc.param == "prompt" else f"tools[{index}].")
    spec = default_catalog().get_model(req.model)
    outcome = await admit(
        request, state, provider=PROVIDER, model=req.model, prompt=req.prompt, images=1,
        errors=ERRORS, apply_latency=not req.stream,
    )  # fmt: skip
    if isinstance(outcome, Response):
        return outcome
    if isinstance(outcome, Refusal) and outcome.kind == "job_failed":
        return ERRORS.server_error(500)
    latency = state.draw_latency() if req.stream else 0.0
    answer = _Answer(body, req, spec, outcome)
    if outcome is None:
        await answer.draw(state)
    if req.stream:
        return answer.stream(latency)
    return JSONResponse(answer.response("completed"), headers={"x-request-id": request_id()})


#: The shapes the image tool chooses among for ``size: auto`` (recorded answers to one prompt
#: came back in different sizes), and the words that ask for one of them.
_AUTO_SIZES = ((1024, 1024), (1024, 1536), (1536, 1024))
_TALL_WORDS = frozenset(("portrait", "tall", "vertical", "standing", "tower", "poster"))
_WIDE_WORDS = frozenset(("landscape", "wide", "panoramic", "panorama", "establishing", "horizon"))


def _auto_size(spec: ModelSpec, revised: str, variation: int) -> tuple[int, int]:
    """The size the tool answers ``size: auto`` with: the shape the rewrite's words ask for, or
    the square most of the time and a tall or wide frame otherwise [assumption: the shares]."""
    allowed = {wh for s in spec.allowed_sizes() if (wh := parse_size(s)) is not None}
    choices = [wh for wh in _AUTO_SIZES if wh in allowed or not allowed]
    if not choices:
        return concrete_size(spec, "auto")
    words = set(revised.lower().replace(",", " ").replace(".", " ").split())
    wanted = (1024, 1536) if words & _TALL_WORDS else (1536, 1024) if words & _WIDE_WORDS else None
    if wanted in choices:
        return wanted
    draw = random.Random(variation ^ 0x5A5A).random()
    square, tall, wide = (1024, 1024), (1024, 1536), (1536, 1024)
    pick = square if draw < 0.5 else tall if draw < 0.75 else wide
    return pick if pick in choices else choices[0]


class _Answer:
    """One Responses answer: an image call (made, or failed), an assistant message, usage."""

    def __init__(
        self, body: dict[str, Any], req: ImageRequest, spec: ModelSpec, refusal: Refusal | None
    ) -> None:
        self.body, self.req, self.spec, self.refusal = body, req, spec, refusal
        self.id = "resp_sim_" + secrets.token_hex(12)
        self.call_id = "ig_sim_" + secrets.token_hex(12)
        self.message_id = "msg_sim_" + secrets.token_hex(12)
        self.created_at = int(time.time())
        self.image: bytes | None = None
        self.revised: str | None = None
        self.size = concrete_size(spec, req.size)
        self.quality = concrete_quality(spec, req.quality)
        self.fmt = req.output_format or "png"

    @property
    def declined(self) -> bool:
        return self.refusal is not None and self.refusal.kind == "decline"

    @property
    def reply(self) -> str:
        if self.refusal is None:
            return _REPLY
        return _DECLINE_REPLY if self.declined else _REFUSED_REPLY

    async def draw(self, state: SimState) -> None:
        variation = state.variation(PROVIDER, self.req.model, self.req.prompt)
        self.revised = revise_prompt(self.req.prompt, random.Random(variation))
        # The tool's size defaults to "auto" (the catalog's default stands in for an omitted
        # size in the request it validates).
        asked = (_tool(self.body) or (0, {}))[1].get("size")
        if asked in (None, "auto"):
            self.size = _auto_size(self.spec, self.revised, variation)
        self.image = await in_thread(
            drawing.render, self.revised, *self.size, fmt=self.fmt, variation=variation,
            transparent=self.req.background == "transparent", subject=self.req.prompt,
            compression=self.req.output_compression,
        )  # fmt: skip
        state.count_images(PROVIDER, self.req.model, 1)

    # -- items -----------------------------------------------------------------------------

    def call(self, status: str | None = None) -> dict[str, Any]:
        item: dict[str, Any] = {
            "id": self.call_id,
            "type": "image_generation_call",
            "status": status or ("failed" if self.refusal else "completed"),
            "result": None,
        }
        if status in (None, "completed") and self.refusal is None and self.image is not None:
            item.update(
                action="generate",
                background="transparent" if self.req.background == "transparent" else "opaque",
                output_format=self.fmt,
                quality=self.quality,
                size=f"{self.size[0]}x{self.size[1]}",
                revised_prompt=self.revised,
                result=base64.b64encode(self.image).decode("ascii"),
            )
        elif self.refusal is not None and status is None:
            item["error"] = moderation_error(self.refusal)
        return item

    def message(self, status: str = "completed") -> dict[str, Any]:
        content = [] if status != "completed" else [self._text_part(self.reply)]
        return {
            "id": self.message_id,
            "type": "message",
            "role": "assistant",
            "status": status,
            "content": content,
        }

    @staticmethod
    def _text_part(text: str) -> dict[str, Any]:
        return {"type": "output_text", "text": text, "annotations": []}

    def output(self) -> list[dict[str, Any]]:
        items = [] if self.declined else [self.call()]
        return [*items, self.message()]

    def response(self, status: str) -> dict[str, Any]:
        done = status == "completed"
        image_tokens = 0
        if done and self.image is not None:
            size = f"{self.size[0]}x{self.size[1]}"
            image_tokens = image_output_tokens(
                self.spec, size, self.quality, self.req.partial_images or 0
            )
        usage = images_usage(self.req.prompt, image_tokens)
        return {
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "model": self.body.get("model") or "gpt-5",
            "output": self.output() if done else [],
            "parallel_tool_calls": True,
            "tool_choice": self.body.get("tool_choice", "auto"),
            "tools": self.body.get("tools") or [],
            "error": None,
            "incomplete_details": None,
            "instructions": self.body.get("instructions"),
            "metadata": self.body.get("metadata") or {},
            "temperature": 1.0,
            "top_p": 1.0,
            "text": {"format": {"type": "text"}},
            "usage": responses_usage(self.req.prompt, self.reply) if done else None,
            # The image model's own bill, where the SDK reads it: hosted-tool usage is reported
            # apart from the conversational model's ``usage``.
            "tool_usage": {"image_gen": usage, "web_search": {"num_requests": 0}} if done else None,
        }

    # -- the stream ------------------------------------------------------------------------

    def stream(self, latency: float) -> Response:
        events: list[tuple[str, dict[str, Any]]] = []

        def add(kind: str, **data: Any) -> None:
            events.append((kind, {"type": kind, **data}))

        add("response.created", response=self.response("in_progress"))
        add("response.in_progress", response=self.response("in_progress"))
        index = 0
        partial_steps: list[int] = []
        if not self.declined:
            ids = {"output_index": 0, "item_id": self.call_id}
            add("response.output_item.added", output_index=0, item=self.call("in_progress"))
            add("response.image_generation_call.in_progress", **ids)
            if self.refusal is None:
                add("response.image_generation_call.generating", **ids)
                partials = self.req.partial_images or 0
                for k in range(partials):
                    partial_steps.append(len(events))
                    add(
                        "response.image_generation_call.partial_image", **ids,
                        partial_image_index=k,
                        partial_image_b64=base64.b64encode(
                            editing.preview(self.image or b"", k, partials, self.fmt)
                        ).decode("ascii"),
                        size=f"{self.size[0]}x{self.size[1]}", quality=self.quality,
                        background="transparent"
                        if self.req.background == "transparent" else "opaque",
                        output_format=self.fmt,
                    )  # fmt: skip
                add("response.image_generation_call.completed", **ids)
            add("response.output_item.done", output_index=0, item=self.call())
            index = 1
        texts = {"item_id": self.message_id, "output_index": index, "content_index": 0}
        add("response.output_item.added", output_index=index, item=self.message("in_progress"))
        add("response.content_part.added", **texts, part=self._text_part(""))
        add("response.output_text.delta", **texts, delta=self.reply, logprobs=[])
        add("response.output_text.done", **texts, text=self.reply, logprobs=[])
        add("response.content_part.done", **texts, part=self._text_part(self.reply))
        add("response.output_item.done", output_index=index, item=self.message())
        add("response.completed", response=self.response("completed"))
        # What precedes the first partial image goes at once, the partial images at even steps
        # of the latency, and the rest (the final image, the message) at its end.
        first = partial_steps[0] if partial_steps else 2
        due = streaming.schedule(len(partial_steps) + 1, latency)
        timed = []
        for number, (kind, data) in enumerate(events):
            data["sequence_number"] = number
            if number in partial_steps:
                at = due[partial_steps.index(number)]
            else:
                at = 0.0 if number < first else latency
            timed.append((at, streaming.sse(data, kind)))
        return streaming.event_stream(timed)
