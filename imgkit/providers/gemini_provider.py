"""Google Gemini image models through ``google-genai``.

``client.models.generate_content`` with ``response_modalities=["IMAGE"]``; the requested size is
mapped to the aspect ratio and resolution tier Gemini takes (``ModelSpec.gemini_aspect_and_tier``).
The image comes back as inline data in the first candidate. Gemini has no revised prompt.

Gemini refuses content in several ways: an HTTP 400 (mapped in ``errormap``), or a 200 whose
prompt feedback names a block reason (no candidates at all) or whose finish reason names a safety
block (``SAFETY``, ``IMAGE_SAFETY``, ``IMAGE_PROHIBITED_CONTENT``, ...): each becomes
:class:`ContentPolicyError`. A 200 with no image and no such reason (the model answered in
words, or finished ``NO_IMAGE``) is :class:`NoImageError`, with the model's words kept.

With ``stream=True`` the request goes through ``generate_content_stream``; the image arrives
whole, so the results carry the time to the final image and no partial-image time.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Collection, Mapping
from typing import Any

from google import genai
from google.genai import types

from imgkit.catalog.gemini_usage import gemini_cost_from_usage
from imgkit.catalog.validation import ImageRequest
from imgkit.errors import ContentPolicyError, MaskError, NoImageError, ServerError, ValidationError
from imgkit.providers.base import (
    Backend,
    ProviderSettings,
    Stopwatch,
    check_provider,
    image_info,
    is_simulated,
    off_loop,
    price_result,
    resolve_settings,
    warm_up_first_request,
)
from imgkit.providers.deadline import async_event_hooks, event_hooks, within_deadline
from imgkit.providers.errormap import translating
from imgkit.providers.image_check import checked_image
from imgkit.providers.payloads import bounded
from imgkit.providers.results import GenerationResult
from imgkit.providers.streaming import GeminiChunks, StreamClock
from imgkit.providers.vertex import vertex_settings, vertex_target

__all__ = ["SAFETY_REASONS", "GeminiProvider"]

#: Finish and block reasons that mean "refused on content grounds".
SAFETY_REASONS = frozenset(
    {
        "SAFETY", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT", "JAILBREAK", "MODEL_ARMOR", "RECITATION", "IMAGE_RECITATION",
    }
)  # fmt: skip


def _name(value: Any) -> str | None:
    if value is None:
        return None
    return str(getattr(value, "value", value))


class GeminiProvider:
    """Gemini image models (every ``provider = "gemini"`` entry of the catalog)."""

    name = "gemini"

    def __init__(
        self,
        *,
        backend: Backend = "sim",
        base_url: str | None = None,
        api_key: str | None = None,
        timeout_s: float | None = None,
        settings: ProviderSettings | None = None,
        vertexai: bool | None = None,
        project: str | None = None,
        location: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        env = os.environ if environ is None else environ
        self.vertex = vertex_target(vertexai, project, location, env)
        if self.vertex is not None and settings is None:
            settings = vertex_settings(backend, base_url, api_key, timeout_s, self.vertex, env)
        self.settings = settings or resolve_settings(
            "gemini", backend=backend, base_url=base_url, api_key=api_key, timeout_s=timeout_s
        )
        self.backend: Backend = self.settings.backend
        self._client: genai.Client | None = None

    def __repr__(self) -> str:
        via = f", vertex={self.vertex!r}" if self.vertex is not None else ""
        return f"GeminiProvider({self.settings!r}{via})"

    @property
    def client(self) -> genai.Client:
        """The SDK client (one object serves sync and async calls)."""
        if self._client is None:
            self._client = genai.Client(
                **self._auth(),
                http_options=types.HttpOptions(
                    base_url=self.settings.base_url or None,
                    # HttpOptions.timeout is in milliseconds
                    timeout=int(self.settings.timeout_s * 1000),
                    # a body still arriving at the deadline is cut (imgkit.providers.deadline)
                    client_args={"event_hooks": event_hooks(self.settings.timeout_s)},
                    async_client_args={"event_hooks": async_event_hooks(self.settings.timeout_s)},
                ),
            )
        return self._client

    def _auth(self) -> dict[str, Any]:
        """The client's way in: an API key (the Gemini API; Vertex's express mode), or Vertex
        AI's project, location and credentials (application-default ones when live)."""
        if self.vertex is None:
            return {"api_key": self.settings.api_key, "vertexai": False}
        return self.vertex.client_kwargs(self.settings)

    def prepare(
        self, loop: asyncio.AbstractEventLoop, endpoints: Collection[str] | None = None
    ) -> None:
        """Do now, from any thread, the one-off work of a first request: the SDK client and its
        async half (TLS set-up included) and what reading an answer loads. Nothing is sent.
        (One client serves every loop, so ``loop`` is not needed here; nor ``endpoints``: every
        endpoint needs the same.)"""
        _ = self.client.aio
        warm_up_first_request()

    def close(self) -> None:
        """Close the SDK client's connections."""
        if self._client is not None:
            self._client.close()
            self._client = None

    async def aclose(self) -> None:
        """Close the SDK client's connections, the async pool included."""
        if self._client is not None:
            await self._client.aio.aclose()
        self.close()

    # -- request building ------------------------------------------------------------------

    def _config(self, request: ImageRequest) -> types.GenerateContentConfig:
        aspect, tier = request.spec.gemini_aspect_and_tier(request.size)
        return types.GenerateContentConfig(
            response_modalities=["IMAGE"],
            image_config=types.ImageConfig(aspect_ratio=aspect, image_size=tier),
            seed=request.seed,
            candidate_count=request.n if request.n > 1 else None,
        )

    def _contents(self, request: ImageRequest, image: bytes | None) -> Any:
        if image is None:
            return request.prompt
        fmt, _, _ = image_info(image, "png", None)
        return [
            types.Part.from_text(text=request.prompt),
            types.Part.from_bytes(data=image, mime_type=f"image/{fmt}"),
        ]

    def _check(self, request: ImageRequest, endpoint: str, mask: bytes | None = None) -> None:
        check_provider(request, self.name)
        if request.endpoint != endpoint:
            raise ValidationError("endpoint", request.endpoint, [endpoint], model=request.model)
        if mask is not None:
            raise MaskError(
                "mask", "<mask>", "None (Gemini edits from the prompt alone; it takes no mask)",
                model=request.model,
            )  # fmt: skip

    # -- public API ------------------------------------------------------------------------

    def generate(self, request: ImageRequest) -> list[GenerationResult]:
        """Generate the request's image(s)."""
        self._check(request, "generate")
        return self._call(request, None)

    @within_deadline
    async def agenerate(self, request: ImageRequest) -> list[GenerationResult]:
        """Async :meth:`generate`, within the request's total deadline (``timeout_s``)."""
        self._check(request, "generate")
        return await self._acall(request, None)

    def edit(
        self, request: ImageRequest, *, image: bytes, mask: bytes | None = None
    ) -> list[GenerationResult]:
        """Edit ``image`` as the prompt says (Gemini takes no mask)."""
        self._check(request, "edit", mask)
        return self._call(request, image)

    @within_deadline
    async def aedit(
        self, request: ImageRequest, *, image: bytes, mask: bytes | None = None
    ) -> list[GenerationResult]:
        """Async :meth:`edit`, within the request's total deadline (``timeout_s``)."""
        self._check(request, "edit", mask)
        return await self._acall(request, image)

    # -- batch mode (imgkit.providers.gemini_batch) ---------------------------------------

    def batch_body(self, request: ImageRequest) -> dict[str, Any]:
        """``request`` as the REST body of a batch line: what :meth:`generate` sends, in the
        API's own JSON (camelCase), never streamed."""
        self._check(request, "generate")
        aspect, tier = request.spec.gemini_aspect_and_tier(request.size)
        config: dict[str, Any] = {
            "responseModalities": ["IMAGE"],
            "imageConfig": {"aspectRatio": aspect, "imageSize": tier},
        }
        if request.seed is not None:
            config["seed"] = request.seed
        if request.n > 1:
            config["candidateCount"] = request.n
        return {
            "contents": [{"role": "user", "parts": [{"text": request.prompt}]}],
            "generationConfig": config,
        }

    def results_from_json(
        self, request: ImageRequest, body: Any, *, request_id: str | None = None
    ) -> list[GenerationResult]:
        """The results of an answer that arrived as JSON (a line of a batch's responses file),
        read exactly as a synchronous answer is; raises the same imgkit errors."""
        with translating(self.name, request.model):
            try:
                response = types.GenerateContentResponse.model_validate(body)
            except ValueError as exc:
                raise ServerError(
                    f"the batch's answer is not a GenerateContentResponse: {exc}",
                    provider=self.name, model=request.model, request_id=request_id,
                ) from None  # fmt: skip
            if request_id and not response.response_id:
                response.response_id = request_id
            return self._results(request, response, None)

    # -- internals -------------------------------------------------------------------------

    def _call(self, request: ImageRequest, image: bytes | None) -> list[GenerationResult]:
        watch = Stopwatch()
        kwargs = {
            "model": request.spec.vendor_model_id or request.model,
            "contents": self._contents(request, image),
            "config": self._config(request),
        }
        with translating(self.name, request.model):
            if request.stream:
                clock = StreamClock(watch)
                chunks = GeminiChunks(clock)
                for chunk in self.client.models.generate_content_stream(**kwargs):
                    chunks.feed(chunk)
                response = chunks.response()
            else:
                response = self.client.models.generate_content(**kwargs)
        results = self._results(request, response, watch.elapsed())
        return clock.stamp(results) if request.stream else results

    async def _acall(self, request: ImageRequest, image: bytes | None) -> list[GenerationResult]:
        watch = Stopwatch()
        kwargs = {
            "model": request.spec.vendor_model_id or request.model,
            "contents": self._contents(request, image),
            "config": self._config(request),
        }
        with translating(self.name, request.model):
            if request.stream:
                clock = StreamClock(watch)
                chunks = GeminiChunks(clock)
                async for chunk in await self.client.aio.models.generate_content_stream(**kwargs):
                    chunks.feed(chunk)
                response = chunks.response()
            else:
                response = await self.client.aio.models.generate_content(**kwargs)
        results = await off_loop(self._results, request, response, watch.elapsed())
        return clock.stamp(results) if request.stream else results

    def _results(
        self,
        request: ImageRequest,
        response: types.GenerateContentResponse,
        latency: float | None,
    ) -> list[GenerationResult]:
        http = getattr(response, "sdk_http_response", None)
        headers = dict(getattr(http, "headers", None) or {})
        request_id = (
            response.response_id or headers.get("x-request-id") or headers.get("x-goog-request-id")
        )
        fields = {"provider": self.name, "model": request.model, "request_id": request_id}
        feedback = response.prompt_feedback
        block = _name(getattr(feedback, "block_reason", None))
        if block and block != "BLOCKED_REASON_UNSPECIFIED":
            reason = getattr(feedback, "block_reason_message", None) or f"prompt blocked: {block}"
            raise ContentPolicyError(reason, reason=reason, code=block, **fields)

        images: list[tuple[bytes, str | None]] = []
        texts: list[str] = []
        finish_reasons: list[str] = []
        for candidate in response.candidates or []:
            finish = _name(candidate.finish_reason)
            if finish:
                finish_reasons.append(finish)
            if getattr(candidate, "finish_message", None):
                texts.append(candidate.finish_message)
            for rating in getattr(candidate, "safety_ratings", None) or []:
                if rating.blocked:
                    texts.append(f"blocked category {_name(rating.category)}")
            for part in getattr(candidate.content, "parts", None) or []:
                if part.inline_data is not None and part.inline_data.data:
                    images.append((part.inline_data.data, part.inline_data.mime_type))
                elif part.text:
                    texts.append(part.text)
        if not images:
            refused = [r for r in finish_reasons if r in SAFETY_REASONS]
            detail = " ".join(texts)[:500] or ", ".join(finish_reasons) or "no candidates"
            if refused:
                message = (
                    f"refused ({refused[0]}): {detail}" if texts else f"refused ({refused[0]})"
                )
                raise ContentPolicyError(message, reason=message, code=refused[0], **fields)
            # No image and no refusal: the model answered in words (or finished NO_IMAGE).
            raise NoImageError(
                f"the response carried no image ({detail})", text=" ".join(texts) or None,
                code=finish_reasons[0] if finish_reasons else "no_image", **fields,
            )  # fmt: skip

        usage = (
            response.usage_metadata.model_dump(mode="json", exclude_none=True)
            if (response.usage_metadata)
            else None
        )
        from_usage = gemini_cost_from_usage(request.spec.name, usage, len(images))
        if from_usage is not None:
            cost, note = from_usage
            basis = "usage"
        else:
            cost, basis, note = price_result(request, usage=None, n_images=len(images))
        metadata = response.model_dump(mode="json", exclude_none=True)
        metadata.pop("sdk_http_response", None)
        for candidate in metadata.get("candidates", []):
            for part in (candidate.get("content") or {}).get("parts", []):
                if "inline_data" in part:
                    part["inline_data"].pop("data", None)
        # Thought signatures (2.9 M characters on Gemini 3) are kept as size and digest.
        metadata = bounded(metadata)
        aspect, tier = request.spec.gemini_aspect_and_tier(request.size)
        metadata.update(
            {"cost_note": note, "backend": self.backend, "aspect_ratio": aspect,
             "image_size": tier, "text": texts or None}
        )  # fmt: skip
        results = []
        for index, (data, mime) in enumerate(images):
            # Gemini names a MIME type and no size: the size it draws for an aspect ratio and
            # tier is its own (docs/vendor-behaviour.md), so only the format is held to a claim.
            fmt, width, height = checked_image(data, claimed_format=mime, **fields)
            results.append(
                GenerationResult(
                    provider=self.name,
                    model=request.model,
                    endpoint=request.endpoint,
                    prompt=request.prompt,
                    image_bytes=data,
                    image_format=fmt,
                    width=width,
                    height=height,
                    revised_prompt=None,
                    usage=usage,
                    cost_usd=cost,
                    cost_basis=basis,  # type: ignore[arg-type]
                    latency_s=latency,
                    request_id=request_id,
                    index=index,
                    simulated=is_simulated(data, self.backend),
                    metadata=metadata,
                )
            )
        return results
