"""Reading a streamed answer: what it carries, and when its images arrived.

The providers iterate the SDKs' own streams (sync or async) and feed each event here; what comes
out is the response the non-streamed call would have returned, so the same code turns it into
:class:`~imgkit.providers.results.GenerationResult` objects, plus two times measured from the
moment the request was sent: to the first partial image, and to the final image.

- OpenAI Images API: ``image_generation.partial_image`` / ``.completed`` (``image_edit.*`` for
  edits); the completed events become an ``ImagesResponse``.
- OpenAI Responses API: ``response.image_generation_call.partial_image`` events, the call's
  ``response.output_item.done`` (the final image), then ``response.completed`` with the whole
  response.
- Gemini: ``generate_content_stream`` chunks, merged into one ``GenerateContentResponse``; the
  image arrives whole, so there is no partial image to time.
"""

from __future__ import annotations

from typing import Any

from imgkit.providers.base import Stopwatch
from imgkit.providers.results import GenerationResult

__all__ = ["GeminiChunks", "ImageEvents", "ResponseEvents", "StreamClock"]


class StreamClock:
    """When the first partial image and the final image of a stream arrived."""

    def __init__(self, watch: Stopwatch) -> None:
        self.watch = watch
        self.first_partial_s: float | None = None
        self.final_image_s: float | None = None
        self.partials = 0

    def partial(self) -> None:
        self.partials += 1
        if self.first_partial_s is None:
            self.first_partial_s = self.watch.elapsed()

    def final(self) -> None:
        if self.final_image_s is None:
            self.final_image_s = self.watch.elapsed()

    def stamp(self, results: list[GenerationResult]) -> list[GenerationResult]:
        """Write the times (and how many partial images came) into ``results``."""
        for result in results:
            result.first_partial_s = self.first_partial_s
            result.final_image_s = self.final_image_s
            result.metadata = {**result.metadata, "streamed": True,
                               "partial_images_received": self.partials}  # fmt: skip
        return results


def _usage_total(usages: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not usages:
        return None
    text = sum(u.get("input_tokens_details", {}).get("text_tokens", 0) for u in usages[:1])
    image_in = sum(u.get("input_tokens_details", {}).get("image_tokens", 0) for u in usages[:1])
    output = sum(int(u.get("output_tokens", 0)) for u in usages)
    return {
        "input_tokens": text + image_in,
        "input_tokens_details": {"text_tokens": text, "image_tokens": image_in},
        "output_tokens": output,
        "total_tokens": text + image_in + output,
    }


class ImageEvents:
    """An Images API stream, fed event by event; :meth:`response` is the ``ImagesResponse``.

    Each ``.completed`` event is one image; the request's input is billed once, so the usage
    keeps the first event's input tokens and adds up the output tokens of all.
    """

    def __init__(self, clock: StreamClock) -> None:
        self.clock = clock
        self.completed: list[Any] = []

    def feed(self, event: Any) -> None:
        kind = str(getattr(event, "type", ""))
        if kind.endswith(".partial_image"):
            self.clock.partial()
        elif kind.endswith(".completed"):
            self.clock.final()
            self.completed.append(event)

    def response(self) -> Any:
        from openai.types import ImagesResponse

        events = self.completed
        usages = [e.usage.model_dump() for e in events if getattr(e, "usage", None) is not None]
        last = events[-1] if events else None
        return ImagesResponse.model_validate(
            {
                "created": getattr(last, "created_at", 0),
                "data": [{"b64_json": e.b64_json} for e in events],
                "size": getattr(last, "size", None),
                "quality": getattr(last, "quality", None),
                "output_format": getattr(last, "output_format", None),
                "background": getattr(last, "background", None),
                "usage": _usage_total(usages),
            }
        )


class ResponseEvents:
    """A Responses API stream, fed event by event; :attr:`response` is the final ``Response``."""

    def __init__(self, clock: StreamClock) -> None:
        self.clock = clock
        self.response: Any = None

    def feed(self, event: Any) -> None:
        kind = str(getattr(event, "type", ""))
        if kind == "response.image_generation_call.partial_image":
            self.clock.partial()
        elif kind == "response.output_item.done":
            item = getattr(event, "item", None)
            if getattr(item, "type", None) == "image_generation_call" and item.result:
                self.clock.final()
        elif kind in ("response.completed", "response.incomplete", "response.failed"):
            self.response = event.response


def _plain_text(part: Any) -> bool:
    """A text part with nothing else to it (no image, no signature, not a thought)."""
    return bool(part.text) and not (
        part.inline_data
        or getattr(part, "thought", None)
        or getattr(part, "thought_signature", None)
    )


class GeminiChunks:
    """``generate_content_stream`` chunks, merged into one ``GenerateContentResponse``."""

    def __init__(self, clock: StreamClock) -> None:
        self.clock = clock
        self.chunks: list[Any] = []

    def feed(self, chunk: Any) -> None:
        self.chunks.append(chunk)
        for candidate in getattr(chunk, "candidates", None) or []:
            for part in getattr(candidate.content, "parts", None) or []:
                if part.inline_data is not None and part.inline_data.data:
                    self.clock.final()

    def response(self) -> Any:
        from google.genai import types

        if not self.chunks:
            return types.GenerateContentResponse()
        last = self.chunks[-1]
        parts: list[Any] = []
        finish = None
        candidate_fields: dict[str, Any] = {}
        for chunk in self.chunks:
            for candidate in chunk.candidates or []:
                for part in getattr(candidate.content, "parts", None) or []:
                    previous = parts[-1] if parts else None
                    if _plain_text(part) and previous is not None and _plain_text(previous):
                        # A streamed text arrives in fragments ("The", " capital of France",
                        # " is Paris."): one text, joined as sent, not word by word.
                        parts[-1] = types.Part(text=previous.text + part.text)
                    else:
                        parts.append(part)
                finish = candidate.finish_reason or finish
                for name in ("finish_message", "safety_ratings"):
                    if getattr(candidate, name, None):
                        candidate_fields[name] = getattr(candidate, name)
        feedback = next((c.prompt_feedback for c in self.chunks if c.prompt_feedback), None)
        candidates = None
        if parts or finish:
            content = types.Content(role="model", parts=parts) if parts else None
            candidates = [
                types.Candidate(content=content, finish_reason=finish, index=0, **candidate_fields)
            ]
        return types.GenerateContentResponse(
            candidates=candidates,
            prompt_feedback=feedback,
            usage_metadata=last.usage_metadata,
            model_version=last.model_version,
            response_id=last.response_id,
            sdk_http_response=getattr(last, "sdk_http_response", None),
        )
