"""Leonardo.Ai over plain HTTP (``httpx``): create, poll with a bounded wait, download.

1. ``POST {base}/generations`` with ``prompt``, ``modelId``, ``width``, ``height``,
   ``num_images`` (and ``seed``) returns ``sdGenerationJob.generationId`` and the job's ``cost``;
2. ``GET {base}/generations/{id}`` until ``status`` is ``COMPLETE`` or ``FAILED``, at most
   ``max_wait_s`` seconds (then :class:`ProviderTimeoutError`);
3. each ``generated_images[].url`` is downloaded at once: Leonardo returns URLs, not bytes.

The cost Leonardo reports for the job is the cost (``cost_basis="reported"``), shared equally by
its images; when the response carries none (or in a unit other than USD) the catalog estimate is
used and marked as such.

What the service does that a caller must see: a job that ends ``FAILED`` is a
:class:`ServerError` (tried once more, as any server failure) or, when its reason names the
content filter, a :class:`ContentPolicyError`; an image Leonardo flags ``nsfw`` was made and
billed, so it is kept, with ``metadata["nsfw"]`` saying so; and beyond its concurrency
Leonardo queues a job instead of answering 429, so the wait shows up as time spent PENDING
(bounded by ``max_wait_s``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection, Mapping
from typing import Any

import httpx

from imgkit.catalog.validation import ImageRequest
from imgkit.errors import ContentPolicyError, ProviderTimeoutError, ServerError, ValidationError
from imgkit.providers.base import (
    Backend,
    ProviderSettings,
    Stopwatch,
    check_provider,
    is_simulated,
    price_result,
    resolve_settings,
    warm_up_first_request,
)
from imgkit.providers.deadline import async_event_hooks, event_hooks
from imgkit.providers.errormap import error_from_status, is_content_policy, translating
from imgkit.providers.http_clients import tls_context
from imgkit.providers.image_check import checked_image, downloaded_image
from imgkit.providers.results import GenerationResult

__all__ = ["LeonardoProvider"]

_USD_UNITS = frozenset({"usd", "$", "dollars", "dollar"})


def _error_message(response: httpx.Response) -> tuple[str, str | None, Any]:
    try:
        body = response.json()
    except ValueError:
        return response.text[:500] or response.reason_phrase, None, None
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping):
            return str(error.get("message") or error), error.get("code"), body
        message = error or body.get("message") or body.get("detail") or response.reason_phrase
        return str(message), body.get("code"), body
    return str(body), None, body


def _raise_for_status(response: httpx.Response, model: str) -> None:
    if response.status_code < 400:
        return
    message, code, body = _error_message(response)
    raise error_from_status(
        response.status_code,
        message,
        provider="leonardo",
        model=model,
        code=str(code) if code is not None else None,
        request_id=response.headers.get("x-request-id"),
        headers=dict(response.headers),
        body=body,
    )


class LeonardoProvider:
    """Leonardo.Ai models (every ``provider = "leonardo"`` entry of the catalog)."""

    name = "leonardo"

    def __init__(
        self,
        *,
        backend: Backend = "sim",
        base_url: str | None = None,
        api_key: str | None = None,
        timeout_s: float | None = None,
        poll_interval_s: float = 1.0,
        max_wait_s: float = 180.0,
        settings: ProviderSettings | None = None,
    ) -> None:
        self.settings = settings or resolve_settings(
            "leonardo", backend=backend, base_url=base_url, api_key=api_key, timeout_s=timeout_s
        )
        self.backend: Backend = self.settings.backend
        self.poll_interval_s = poll_interval_s
        self.max_wait_s = max_wait_s
        self._client: httpx.Client | None = None
        self._download: httpx.Client | None = None
        self._aclients: dict[int, tuple[Any, httpx.AsyncClient, httpx.AsyncClient]] = {}

    def __repr__(self) -> str:
        return f"LeonardoProvider({self.settings!r})"

    def _client_kwargs(self) -> dict[str, Any]:
        return {
            "base_url": self.settings.base_url,
            "timeout": self.settings.timeout_s,
            "verify": tls_context("httpx"),  # the process's, made once
            "headers": {
                "authorization": f"Bearer {self.settings.api_key}",
                "accept": "application/json",
            },
        }

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            hooks = event_hooks(self.settings.timeout_s)  # each call's total deadline
            self._client = httpx.Client(**self._client_kwargs(), event_hooks=hooks)
        return self._client

    @property
    def download_client(self) -> httpx.Client:
        """A client *without* the API key: image URLs may point at another host (a CDN)."""
        if self._download is None:
            self._download = httpx.Client(
                timeout=self.settings.timeout_s, verify=tls_context("httpx"),
                event_hooks=event_hooks(self.settings.timeout_s),
            )  # fmt: skip
        return self._download

    def _aclients_for_loop(
        self, loop: asyncio.AbstractEventLoop | None = None
    ) -> tuple[httpx.AsyncClient, httpx.AsyncClient]:
        loop = loop or asyncio.get_running_loop()
        entry = self._aclients.get(id(loop))
        if entry is None or entry[0] is not loop:
            hooks = async_event_hooks(self.settings.timeout_s)  # each call's total deadline
            entry = (
                loop,
                httpx.AsyncClient(**self._client_kwargs(), event_hooks=hooks),
                httpx.AsyncClient(
                    timeout=self.settings.timeout_s, verify=tls_context("httpx"), event_hooks=hooks
                ),
            )
            self._aclients[id(loop)] = entry
        return entry[1], entry[2]

    def prepare(
        self, loop: asyncio.AbstractEventLoop, endpoints: Collection[str] | None = None
    ) -> None:
        """Do now, from any thread, the one-off work of the first request on ``loop``: its
        clients (TLS set-up included) and what reading an answer loads. Nothing is sent.
        (``endpoints``: every endpoint here needs the same.)"""
        self._aclients_for_loop(loop)
        warm_up_first_request()

    def close(self) -> None:
        """Close the synchronous clients."""
        for client in (self._client, self._download):
            if client is not None:
                client.close()
        self._client = self._download = None

    async def aclose(self) -> None:
        """Close every client opened on the running loop, then the synchronous ones."""
        loop = asyncio.get_running_loop()
        for owner, client, download in list(self._aclients.values()):
            if owner is loop:
                await client.aclose()
                await download.aclose()
        self._aclients.clear()
        self.close()

    # -- request building ------------------------------------------------------------------

    def _payload(self, request: ImageRequest) -> dict[str, Any]:
        width, height = request.width_height or (1024, 1024)
        payload: dict[str, Any] = {
            "prompt": request.prompt,
            "modelId": request.spec.vendor_model_id or request.model,
            "width": width,
            "height": height,
            "num_images": request.n,
        }
        if request.seed is not None:
            payload["seed"] = request.seed
        return payload

    def _check(self, request: ImageRequest) -> None:
        check_provider(request, self.name)
        if request.endpoint != "generate":
            raise ValidationError("endpoint", request.endpoint, ["generate"], model=request.model)

    @staticmethod
    def _job(body: Any) -> tuple[str, Mapping[str, Any]]:
        job = body.get("sdGenerationJob") if isinstance(body, Mapping) else None
        if not isinstance(job, Mapping) or not job.get("generationId"):
            raise ServerError(f"create answered without a generationId: {str(body)[:300]}")
        return str(job["generationId"]), job

    def _poll_outcome(
        self, body: Any, request: ImageRequest, generation_id: str
    ) -> list[Mapping[str, Any]] | None:
        """The finished images, None while pending; raises when the job failed."""
        record = body.get("generations_by_pk") if isinstance(body, Mapping) else None
        if not isinstance(record, Mapping):
            raise ServerError(
                f"poll answered without generations_by_pk: {str(body)[:300]}",
                provider=self.name, model=request.model, request_id=generation_id,
            )  # fmt: skip
        status = str(record.get("status", "")).upper()
        if status == "COMPLETE":
            return list(record.get("generated_images") or [])
        if status == "FAILED":
            message = str(record.get("failure_reason") or record.get("error") or "job FAILED")
            fields = {"provider": self.name, "model": request.model, "request_id": generation_id}
            if is_content_policy(record.get("code"), message):
                raise ContentPolicyError(message, reason=message, code="FAILED", **fields)
            raise ServerError(f"generation failed: {message}", code="FAILED", **fields)
        return None

    def _absolute(self, url: Any) -> str:
        # A relative URL (a gateway may answer with one) is resolved against the API's host.
        return str(httpx.URL(self.settings.base_url + "/").join(str(url)))

    def _timeout(self, request: ImageRequest, generation_id: str) -> ProviderTimeoutError:
        return ProviderTimeoutError(
            f"generation {generation_id} not finished after {self.max_wait_s:g} s",
            provider=self.name, model=request.model, request_id=generation_id, code="poll_timeout",
        )  # fmt: skip

    # -- public API ------------------------------------------------------------------------

    def generate(self, request: ImageRequest) -> list[GenerationResult]:
        """Create the job, wait for it, download its images."""
        self._check(request)
        watch = Stopwatch()
        with translating(self.name, request.model):
            response = self.client.post("/generations", json=self._payload(request))
            _raise_for_status(response, request.model)
            generation_id, job = self._job(response.json())
            deadline = time.monotonic() + self.max_wait_s
            while True:
                poll = self.client.get(f"/generations/{generation_id}")
                _raise_for_status(poll, request.model)
                images = self._poll_outcome(poll.json(), request, generation_id)
                if images is not None:
                    break
                if time.monotonic() >= deadline:
                    raise self._timeout(request, generation_id)
                time.sleep(self.poll_interval_s)
            downloads = []
            for image in images:
                got = self.download_client.get(self._absolute(image["url"]))
                # an image URL that does not serve its image: damaged (made and billed)
                downloads.append(downloaded_image(got, provider=self.name, model=request.model))
        return self._results(request, job, poll.json(), images, downloads, watch.elapsed())

    async def agenerate(self, request: ImageRequest) -> list[GenerationResult]:
        """Async :meth:`generate`."""
        self._check(request)
        client, download = self._aclients_for_loop()
        watch = Stopwatch()
        with translating(self.name, request.model):
            response = await client.post("/generations", json=self._payload(request))
            _raise_for_status(response, request.model)
            generation_id, job = self._job(response.json())
            deadline = time.monotonic() + self.max_wait_s
            while True:
                poll = await client.get(f"/generations/{generation_id}")
                _raise_for_status(poll, request.model)
                images = self._poll_outcome(poll.json(), request, generation_id)
                if images is not None:
                    break
                if time.monotonic() >= deadline:
                    raise self._timeout(request, generation_id)
                await asyncio.sleep(self.poll_interval_s)
            downloads = []
            for image in images:
                got = await download.get(self._absolute(image["url"]))
                # an image URL that does not serve its image: damaged (made and billed)
                downloads.append(downloaded_image(got, provider=self.name, model=request.model))
        return self._results(request, job, poll.json(), images, downloads, watch.elapsed())

    def edit(
        self, request: ImageRequest, *, image: bytes, mask: bytes | None = None
    ) -> list[GenerationResult]:
        """Leonardo models in the catalog do not edit: always a ValidationError."""
        raise ValidationError("endpoint", "edit", ["generate"], model=request.model)

    async def aedit(
        self, request: ImageRequest, *, image: bytes, mask: bytes | None = None
    ) -> list[GenerationResult]:
        """Leonardo models in the catalog do not edit: always a ValidationError."""
        raise ValidationError("endpoint", "edit", ["generate"], model=request.model)

    # -- internals -------------------------------------------------------------------------

    def _results(
        self,
        request: ImageRequest,
        job: Mapping[str, Any],
        final: Mapping[str, Any],
        images: list[Mapping[str, Any]],
        downloads: list[bytes],
        latency: float,
    ) -> list[GenerationResult]:
        generation_id = str(job["generationId"])
        if not downloads:
            raise ServerError(
                "the generation completed without images", provider=self.name,
                model=request.model, request_id=generation_id,
            )  # fmt: skip
        cost = job.get("cost") or (final.get("generations_by_pk") or {}).get("cost")
        reported = None
        if (
            isinstance(cost, Mapping)
            and cost.get("amount") is not None
            and str(cost.get("unit", "usd")).lower() in _USD_UNITS
        ):
            reported = float(cost["amount"])
        per_image, basis, note = price_result(
            request, usage=None, n_images=len(downloads), reported_usd=reported
        )
        if cost and reported is None:
            note += f"; Leonardo reported {cost!r}, not in USD"
        record = dict(final.get("generations_by_pk") or {})
        metadata = {
            "generation": record,
            "job": dict(job),
            "cost_note": note,
            "backend": self.backend,
        }
        results = []
        for index, (data, image) in enumerate(zip(downloads, images, strict=True)):
            fmt, width, height = checked_image(
                data, provider=self.name, model=request.model, request_id=generation_id
            )
            results.append(
                GenerationResult(
                    provider=self.name,
                    model=request.model,
                    endpoint="generate",
                    prompt=request.prompt,
                    image_bytes=data,
                    image_format=fmt,
                    width=width,
                    height=height,
                    revised_prompt=None,
                    usage=None,
                    cost_usd=per_image,
                    cost_basis=basis,  # type: ignore[arg-type]
                    latency_s=latency,
                    request_id=generation_id,
                    index=index,
                    simulated=is_simulated(data, self.backend),
                    metadata={**metadata, "image": dict(image), "nsfw": bool(image.get("nsfw"))},
                )
            )
        return results
