"""OpenAI through the official ``openai`` SDK: Images API generate/edit and the Responses API.

Three endpoints, one result shape:

- ``generate``: ``POST /v1/images/generations`` (``client.images.generate``);
- ``edit``: ``POST /v1/images/edits``, multipart with the image and optional mask;
- ``responses``: ``POST /v1/responses`` with the ``image_generation`` tool. The tool's
  ``image_generation_call`` reports ``revised_prompt``, "the prompt that was used after any model
  prompt rewriting": the modern counterpart of DALL-E 3's rewriting, measured as its own arm.

The SDK's own retries are off (``max_retries=0``): the chain's policy decides what is retried.
Image URLs (DALL-E with ``response_format="url"``) expire after an hour, so they are downloaded
at once and the URL is kept in the metadata only.

A request with ``stream=True`` (GPT image models) is sent as a stream, ``partial_images`` with
it, and its results carry the time to the first partial image and to the final image
(:mod:`imgkit.providers.streaming`). Refusals arrive as the SDK raises them (a 400, or an
``error`` event mid-stream: :mod:`~imgkit.providers.errormap` maps both) or, on the Responses
API, as a failed ``image_generation_call`` inside a 200 (:class:`ContentPolicyError` too); a
Responses answer with words and no image call is :class:`NoImageError`, the words kept.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Collection
from typing import Any

import httpx
import openai

from imgkit.catalog.validation import ImageRequest
from imgkit.errors import (
    ContentPolicyError,
    NoImageError,
    ServerError,
    ValidationError,
)
from imgkit.providers.base import (
    Backend,
    PerLoop,
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
from imgkit.providers.deadline import event_hooks, within_deadline
from imgkit.providers.errormap import is_content_policy, translating
from imgkit.providers.http_clients import tls_context
from imgkit.providers.image_check import checked_image, downloaded_image, strict_b64decode
from imgkit.providers.payloads import bounded
from imgkit.providers.results import GenerationResult
from imgkit.providers.streaming import ImageEvents, ResponseEvents, StreamClock

__all__ = ["DEFAULT_RESPONSES_MODEL", "OpenAIProvider"]

#: The conversational model that calls the image_generation tool on the ``responses`` endpoint.
DEFAULT_RESPONSES_MODEL = "gpt-5"

# Request fields the Images API takes on each endpoint (None values are never sent).
_GENERATE_FIELDS = (
    "n", "size", "quality", "style", "response_format", "output_format", "background",
    "output_compression", "moderation",
)  # fmt: skip
_EDIT_FIELDS = (
    "n", "size", "quality", "response_format", "output_format", "background",
    "output_compression", "input_fidelity",
)  # fmt: skip
_TOOL_FIELDS = (
    "size", "quality", "output_format", "background", "output_compression", "moderation",
)  # fmt: skip
_MIME = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp", "gif": "image/gif"}


def _mime(data: bytes) -> tuple[str, str]:
    fmt, _, _ = image_info(data, "png", None)
    return fmt, _MIME.get(fmt, "application/octet-stream")


@functools.cache
def _build_dumped_models(responses: bool) -> None:
    """Build the pydantic schemas of the response models :func:`_dump` is given: the Images
    API's, and with ``responses`` the Responses API's too.

    The SDK defers building a model's schema to its first validation or dump (pydantic's
    ``defer_build``), which costs up to a few tenths of a second for a response; done here, in
    :meth:`OpenAIProvider.prepare`, it is not done on the event loop while answers wait.
    """
    from openai.types import ImagesResponse, images_response

    models: list[Any] = [ImagesResponse, images_response.Usage]
    if responses:
        from openai.types.responses import response

        models += [
            response.Response,
            getattr(response, "ToolUsageImageGen", None),  # tool_usage.image_gen (newer SDKs)
        ]
    for model in models:
        if model is not None:
            model.model_rebuild()


def _dump(model: Any) -> dict[str, Any]:
    if model is None:
        return {}
    if hasattr(model, "model_dump"):
        return model.model_dump(mode="json", exclude_none=True)
    return dict(model)


class OpenAIProvider:
    """OpenAI image models (every ``provider = "openai"`` entry of the catalog)."""

    name = "openai"

    def __init__(
        self,
        *,
        backend: Backend = "sim",
        base_url: str | None = None,
        api_key: str | None = None,
        timeout_s: float | None = None,
        responses_model: str = DEFAULT_RESPONSES_MODEL,
        settings: ProviderSettings | None = None,
    ) -> None:
        self.settings = settings or resolve_settings(
            "openai", backend=backend, base_url=base_url, api_key=api_key, timeout_s=timeout_s
        )
        self.backend: Backend = self.settings.backend
        self.responses_model = responses_model
        self._client: openai.OpenAI | None = None
        self._download: httpx.Client | None = None
        self._async = PerLoop(self._make_async)

    def __repr__(self) -> str:
        return f"OpenAIProvider({self.settings!r})"

    # -- clients --------------------------------------------------------------------------

    def _client_kwargs(self) -> dict[str, Any]:
        return {
            "api_key": self.settings.api_key,
            "base_url": self.settings.base_url,
            "timeout": self.settings.timeout_s,
            "max_retries": 0,  # the project's policy retries, not the SDK
        }

    @property
    def client(self) -> openai.OpenAI:
        """The synchronous SDK client (made on first use)."""
        if self._client is None:
            # The SDK's own client and defaults, with the process's TLS context.
            http_client = openai.DefaultHttpx2Client(
                verify=tls_context("httpx2"), event_hooks=event_hooks(self.settings.timeout_s)
            )
            self._client = openai.OpenAI(**self._client_kwargs(), http_client=http_client)
        return self._client

    def _make_async(self) -> tuple[openai.AsyncOpenAI, httpx.AsyncClient]:
        # No deadline hooks on these clients: every async call that uses them (agenerate and
        # aedit, downloads and streams included) is bounded as a whole by within_deadline, and
        # the hooks' body wrapper cost 0.2-0.5 ms of CPU a request (bench_runner, section 5).
        http_client = openai.DefaultAsyncHttpx2Client(verify=tls_context("httpx2"))
        download = httpx.AsyncClient(timeout=self.settings.timeout_s, verify=tls_context("httpx"))
        return openai.AsyncOpenAI(**self._client_kwargs(), http_client=http_client), download

    def prepare(
        self, loop: asyncio.AbstractEventLoop, endpoints: Collection[str] | None = None
    ) -> None:
        """Do now, from any thread, the one-off work of the first request on ``loop``: its
        clients (TLS set-up included), the SDK resources it calls (loaded on first access), the
        response models' schemas and what reading an answer loads. Nothing is sent.

        ``endpoints``: those the requests to come use (default: all). The Responses API's
        resource and models take a quarter of a second to load, which a run of the Images
        API alone does not need to wait for."""
        client, _ = self._async.prepare(loop)
        responses = endpoints is None or "responses" in endpoints
        _ = client.images
        if responses:
            _ = client.responses
        _build_dumped_models(responses)
        warm_up_first_request()

    def close(self) -> None:
        """Close the synchronous clients (async ones close in :meth:`aclose`)."""
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._download is not None:
            self._download.close()
            self._download = None

    async def aclose(self) -> None:
        """Close every client opened on the running loop, then the synchronous ones."""
        current = self._async.current()
        for client, download in self._async.drain():
            # Clients of other (finished) loops cannot be awaited from this one; their
            # connections went with their loop.
            if current is not None and client is current[0]:
                await client.close()
                await download.aclose()
        self.close()

    # -- request building ------------------------------------------------------------------

    def _vendor_model(self, request: ImageRequest) -> str:
        return request.spec.vendor_model_id or request.model

    def _images_kwargs(self, request: ImageRequest, fields: tuple[str, ...]) -> dict[str, Any]:
        values = request.to_dict()
        kwargs = {k: values[k] for k in fields if values.get(k) is not None}
        kwargs["model"] = self._vendor_model(request)
        kwargs["prompt"] = request.prompt
        if request.stream:
            kwargs["stream"] = True
            if request.partial_images is not None:
                kwargs["partial_images"] = request.partial_images
        return kwargs

    def _tool(self, request: ImageRequest) -> dict[str, Any]:
        values = request.to_dict()
        tool = {"type": "image_generation", "model": self._vendor_model(request)}
        tool.update({k: values[k] for k in _TOOL_FIELDS if values.get(k) is not None})
        if request.stream and request.partial_images is not None:
            tool["partial_images"] = request.partial_images
        return tool

    def _responses_kwargs(self, request: ImageRequest) -> dict[str, Any]:
        kwargs = {
            "model": self.responses_model,
            "input": request.prompt,
            "tools": [self._tool(request)],
            "tool_choice": {"type": "image_generation"},
        }
        if request.stream:
            kwargs["stream"] = True
        return kwargs

    @staticmethod
    def _edit_files(image: bytes, mask: bytes | None) -> dict[str, Any]:
        fmt, mime = _mime(image)
        files: dict[str, Any] = {"image": (f"image.{fmt}", image, mime)}
        if mask is not None:
            files["mask"] = ("mask.png", mask, "image/png")
        return files

    # -- public API ------------------------------------------------------------------------

    def generate(self, request: ImageRequest) -> list[GenerationResult]:
        """Generate ``request.n`` images on the request's endpoint (generate or responses)."""
        self._check(request, ("generate", "responses"))
        if request.endpoint == "responses":
            return [r for _ in range(request.n) for r in self._respond(request)]
        kwargs = self._images_kwargs(request, _GENERATE_FIELDS)
        if request.stream:
            return self._stream_images(request, lambda: self.client.images.generate(**kwargs))
        watch = Stopwatch()
        with translating(self.name, request.model):
            raw = self.client.images.with_raw_response.generate(**kwargs)
            parsed = raw.parse()
            images = [self._image_bytes(item) for item in parsed.data or []]
        return self._results(request, parsed, images, raw.headers, watch.elapsed())

    @within_deadline
    async def agenerate(self, request: ImageRequest) -> list[GenerationResult]:
        """Async :meth:`generate`, within the request's total deadline (``timeout_s``)."""
        self._check(request, ("generate", "responses"))
        if request.endpoint == "responses":
            batches = await asyncio.gather(*(self._arespond(request) for _ in range(request.n)))
            return [r for batch in batches for r in batch]
        client, _ = self._async.get()
        kwargs = self._images_kwargs(request, _GENERATE_FIELDS)
        if request.stream:
            return await self._astream_images(request, lambda: client.images.generate(**kwargs))
        watch = Stopwatch()
        with translating(self.name, request.model):
            raw = await client.images.with_raw_response.generate(**kwargs)
            parsed = raw.parse()
            images = [await self._aimage_bytes(item) for item in parsed.data or []]
        return await off_loop(self._results, request, parsed, images, raw.headers,
                              watch.elapsed(), image_bytes=sum(map(len, images)))  # fmt: skip

    def edit(
        self, request: ImageRequest, *, image: bytes, mask: bytes | None = None
    ) -> list[GenerationResult]:
        """Edit ``image`` (inside the transparent area of ``mask``, when given)."""
        self._check(request, ("edit",))
        kwargs = {**self._images_kwargs(request, _EDIT_FIELDS), **self._edit_files(image, mask)}
        if request.stream:
            return self._stream_images(request, lambda: self.client.images.edit(**kwargs))
        watch = Stopwatch()
        with translating(self.name, request.model):
            raw = self.client.images.with_raw_response.edit(**kwargs)
            parsed = raw.parse()
            images = [self._image_bytes(item) for item in parsed.data or []]
        return self._results(request, parsed, images, raw.headers, watch.elapsed())

    @within_deadline
    async def aedit(
        self, request: ImageRequest, *, image: bytes, mask: bytes | None = None
    ) -> list[GenerationResult]:
        """Async :meth:`edit`, within the request's total deadline (``timeout_s``)."""
        self._check(request, ("edit",))
        client, _ = self._async.get()
        kwargs = {**self._images_kwargs(request, _EDIT_FIELDS), **self._edit_files(image, mask)}
        if request.stream:
            return await self._astream_images(request, lambda: client.images.edit(**kwargs))
        watch = Stopwatch()
        with translating(self.name, request.model):
            raw = await client.images.with_raw_response.edit(**kwargs)
            parsed = raw.parse()
            images = [await self._aimage_bytes(item) for item in parsed.data or []]
        return await off_loop(self._results, request, parsed, images, raw.headers,
                              watch.elapsed(), image_bytes=sum(map(len, images)))  # fmt: skip

    # -- the Batch API (imgkit.providers.openai_batch) ------------------------------------

    def batch_body(self, request: ImageRequest) -> tuple[str, dict[str, Any]]:
        """(URL, JSON body) of ``request`` as a line of a batch: what :meth:`generate` sends,
        never streamed. A DALL-E image comes back as base64: a URL expires after an hour, and
        a batch may take a day."""
        self._check(request, ("generate", "responses"))
        if request.endpoint == "responses":
            kwargs = self._responses_kwargs(request)
            kwargs.pop("stream", None)
            kwargs["tools"] = [{k: v for k, v in t.items() if k != "partial_images"}
                               for t in kwargs["tools"]]  # fmt: skip
            return "/v1/responses", kwargs
        kwargs = self._images_kwargs(request, _GENERATE_FIELDS)
        for key in ("stream", "partial_images"):
            kwargs.pop(key, None)
        if request.spec.response_formats:
            kwargs["response_format"] = "b64_json"
        return "/v1/images/generations", kwargs

    def results_from_json(
        self, request: ImageRequest, body: Any, *, request_id: str | None = None
    ) -> list[GenerationResult]:
        """The results of an answer that arrived as JSON (a line of a batch's output file),
        read exactly as a synchronous answer is; raises the same imgkit errors."""
        from openai.types import ImagesResponse
        from openai.types.responses import Response

        headers = {"x-request-id": request_id} if request_id else {}
        with translating(self.name, request.model):
            try:
                if request.endpoint == "responses":
                    parsed = Response.model_validate(body)
                else:
                    parsed = ImagesResponse.model_validate(body)
            except ValueError as exc:
                raise ServerError(
                    f"the batch's answer is not a {request.endpoint} response: {exc}",
                    provider=self.name, model=request.model, request_id=request_id,
                ) from None  # fmt: skip
            if request.endpoint == "responses":
                return self._response_results(request, parsed, headers, None)
            images = [self._image_bytes(item) for item in parsed.data or []]
            return self._results(request, parsed, images, headers, None)

    # -- internals -------------------------------------------------------------------------

    def _check(self, request: ImageRequest, endpoints: tuple[str, ...]) -> None:
        check_provider(request, self.name)
        if request.endpoint not in endpoints:
            raise ValidationError(
                "endpoint", request.endpoint, endpoints, model=request.model,
                detail="use edit()/aedit() for the edit endpoint",
            )  # fmt: skip

    def _image_bytes(self, item: Any) -> bytes:
        if item.b64_json:
            return strict_b64decode(item.b64_json, provider=self.name)
        if item.url:
            if self._download is None:
                self._download = httpx.Client(
                    timeout=self.settings.timeout_s, verify=tls_context("httpx"),
                    event_hooks=event_hooks(self.settings.timeout_s),
                )  # fmt: skip
            return downloaded_image(self._download.get(item.url), provider=self.name)
        raise ServerError("the response carried neither b64_json nor url", provider=self.name)

    async def _aimage_bytes(self, item: Any) -> bytes:
        if item.b64_json:
            return strict_b64decode(item.b64_json, provider=self.name)
        if item.url:
            _, download = self._async.get()
            return downloaded_image(await download.get(item.url), provider=self.name)
        raise ServerError("the response carried neither b64_json nor url", provider=self.name)

    def _results(
        self,
        request: ImageRequest,
        parsed: Any,
        images: list[bytes],
        headers: Any,
        latency: float | None,
    ) -> list[GenerationResult]:
        request_id = headers.get("x-request-id") or getattr(parsed, "_request_id", None)
        usage = _dump(parsed.usage) or None
        cost, basis, note = price_result(request, usage=usage, n_images=len(images))
        metadata = _dump(parsed)
        items = metadata.pop("data", [])
        for item in items:
            item.pop("b64_json", None)
        metadata.update(
            {"data": items, "cost_note": note, "backend": self.backend,
             "usage_missing": usage is None}
        )  # fmt: skip
        metadata = bounded(metadata)
        if not images:
            raise ServerError(
                "the response carried no image", provider=self.name, model=request.model,
                request_id=request_id,
            )  # fmt: skip
        results = []
        for index, (data, item) in enumerate(zip(images, parsed.data, strict=True)):
            # What the answer claims (not what was asked): DALL-E's answers name neither.
            fmt, width, height = checked_image(
                data, claimed_format=getattr(parsed, "output_format", None),
                claimed_size=getattr(parsed, "size", None), provider=self.name,
                model=request.model, request_id=request_id,
            )  # fmt: skip
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
                    revised_prompt=item.revised_prompt,
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

    def _respond(self, request: ImageRequest) -> list[GenerationResult]:
        watch = Stopwatch()
        kwargs = self._responses_kwargs(request)
        with translating(self.name, request.model):
            if request.stream:
                clock = StreamClock(watch)
                events = ResponseEvents(clock)
                with self.client.responses.create(**kwargs) as stream:
                    for event in stream:
                        events.feed(event)
                    headers = stream.response.headers
                return clock.stamp(self._streamed_response(request, events, headers, watch))
            raw = self.client.responses.with_raw_response.create(**kwargs)
            parsed = raw.parse()
        return self._response_results(request, parsed, raw.headers, watch.elapsed())

    async def _arespond(self, request: ImageRequest) -> list[GenerationResult]:
        client, _ = self._async.get()
        watch = Stopwatch()
        kwargs = self._responses_kwargs(request)
        with translating(self.name, request.model):
            if request.stream:
                clock = StreamClock(watch)
                events = ResponseEvents(clock)
                async with await client.responses.create(**kwargs) as stream:
                    async for event in stream:
                        events.feed(event)
                    headers = stream.response.headers
                return clock.stamp(self._streamed_response(request, events, headers, watch))
            raw = await client.responses.with_raw_response.create(**kwargs)
            parsed = raw.parse()
        return await off_loop(self._response_results, request, parsed, raw.headers, watch.elapsed())

    def _streamed_response(
        self, request: ImageRequest, events: ResponseEvents, headers: Any, watch: Stopwatch
    ) -> list[GenerationResult]:
        if events.response is None:
            raise ServerError(
                "the stream ended without its response.completed event", provider=self.name,
                model=request.model,
            )  # fmt: skip
        return self._response_results(request, events.response, headers, watch.elapsed())

    # -- the Images API's stream ----------------------------------------------------------

    def _stream_images(self, request: ImageRequest, open_stream: Any) -> list[GenerationResult]:
        watch = Stopwatch()
        clock = StreamClock(watch)
        events = ImageEvents(clock)
        with translating(self.name, request.model):
            with open_stream() as stream:
                for event in stream:
                    events.feed(event)
                headers = stream.response.headers
            parsed = events.response()
            images = [self._image_bytes(item) for item in parsed.data or []]
        return clock.stamp(self._results(request, parsed, images, headers, watch.elapsed()))

    async def _astream_images(
        self, request: ImageRequest, open_stream: Any
    ) -> list[GenerationResult]:
        watch = Stopwatch()
        clock = StreamClock(watch)
        events = ImageEvents(clock)
        with translating(self.name, request.model):
            async with await open_stream() as stream:
                async for event in stream:
                    events.feed(event)
                headers = stream.response.headers
            parsed = events.response()
            images = [await self._aimage_bytes(item) for item in parsed.data or []]
        return clock.stamp(self._results(request, parsed, images, headers, watch.elapsed()))

    def _response_results(
        self, request: ImageRequest, parsed: Any, headers: Any, latency: float | None
    ) -> list[GenerationResult]:
        request_id = headers.get("x-request-id") or getattr(parsed, "_request_id", None)
        fields = {"provider": self.name, "model": request.model, "request_id": request_id}
        calls = [item for item in parsed.output or [] if item.type == "image_generation_call"]
        for call in calls:
            if call.status == "failed" or (call.error is not None and not call.result):
                error = call.error
                code = getattr(error, "code", None)
                message = getattr(error, "message", None) or "image generation call failed"
                if is_content_policy(code, message):
                    raise ContentPolicyError(message, reason=message, code=code, **fields)
                raise ServerError(message, code=code, **fields)
        calls = [call for call in calls if call.result]
        if not calls:
            # The model answered in words instead of calling the tool: keep what it said.
            words = " ".join(
                part.text
                for item in parsed.output or []
                if item.type == "message"
                for part in item.content or []
                if getattr(part, "type", None) == "output_text"
            )
            raise NoImageError(
                f"{self.responses_model} answered without an image"
                + (f": {words[:300]}" if words else " (no image_generation_call)"),
                text=words or None, code="no_image", **fields,
            )  # fmt: skip
        tool_usage = getattr(parsed, "tool_usage", None)
        usage = _dump(getattr(tool_usage, "image_gen", None)) or None
        cost, basis, note = price_result(request, usage=usage, n_images=len(calls))
        metadata = _dump(parsed)
        for item in metadata.get("output", []):
            item.pop("result", None)
        metadata.update(
            {"cost_note": note + "; the conversational model's own tokens are not included",
             "backend": self.backend, "usage_missing": usage is None,
             "responses_model": self.responses_model}
        )  # fmt: skip
        metadata = bounded(metadata)  # partial images and the like: size and digest
        results = []
        for index, call in enumerate(calls):
            damage = {"provider": self.name, "model": request.model, "request_id": request_id}
            data = strict_b64decode(call.result, **damage)
            fmt, width, height = checked_image(
                data, claimed_format=call.output_format, claimed_size=call.size, **damage
            )
            results.append(
                GenerationResult(
                    provider=self.name,
                    model=request.model,
                    endpoint="responses",
                    prompt=request.prompt,
                    image_bytes=data,
                    image_format=fmt,
                    width=width,
                    height=height,
                    revised_prompt=call.revised_prompt,
                    usage=usage,
                    cost_usd=cost,
                    cost_basis=basis,  # type: ignore[arg-type]
                    latency_s=latency,
                    request_id=request_id or parsed.id,
                    index=index,
                    simulated=is_simulated(data, self.backend),
                    metadata=metadata,
                )
            )
        return results
