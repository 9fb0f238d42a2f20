"""OpenAI's Batch API through the ``openai`` SDK: files, batches, result files.

- input: ``client.files.create(file=..., purpose="batch")``, one ``{"custom_id", "method":
  "POST", "url", "body"}`` a line, the body what the synchronous request would send
  (:meth:`OpenAIProvider.batch_body`);
- ``client.batches.create(input_file_id, endpoint, completion_window="24h", metadata=
  {"imgkit_run", "imgkit_batch"})``: the ``imgkit_batch`` key is the tag a resume looks for in
  ``client.batches.list()`` before it creates anything;
- results: ``output_file_id`` and ``error_file_id``, streamed to disk
  (``client.files.with_streaming_response.content``), one ``{"id", "custom_id", "response":
  {"status_code", "request_id", "body"}, "error"}`` a line, in any order.

Every call goes through the provider's own async client (``max_retries=0``) and its errors
through :func:`imgkit.providers.errormap.translating`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from imgkit.catalog.validation import ImageRequest
from imgkit.providers.batching import BatchLine, BatchState, line_error
from imgkit.providers.errormap import translating
from imgkit.providers.openai_provider import OpenAIProvider
from imgkit.providers.results import GenerationResult

__all__ = ["OpenAIBatchClient"]

#: metadata keys of an imgkit batch (the Batch object takes up to 16 string pairs)
RUN_KEY, TAG_KEY = "imgkit_run", "imgkit_batch"
# How far back a search for a tagged batch looks, before the batch's own record was made:
# the vendor's clock and ours may disagree a little.
_CLOCK_SLACK_S = 3600.0
_PAGE = 100


class OpenAIBatchClient:
    """The Batch API of one :class:`OpenAIProvider` (its settings, its clients)."""

    provider = "openai"

    def __init__(self, provider: OpenAIProvider) -> None:
        self._provider = provider

    @property
    def _client(self) -> Any:
        client, _download = self._provider._async.get()
        return client

    def request_line(self, custom_id: str, request: ImageRequest) -> bytes:
        url, body = self._provider.batch_body(request)
        line = {"custom_id": custom_id, "method": "POST", "url": url, "body": body}
        return json.dumps(line, separators=(",", ":")).encode() + b"\n"

    def batch_endpoint(self, request: ImageRequest) -> str:
        return self._provider.batch_body(request)[0]

    async def upload(self, path: Path, name: str) -> str:
        with translating(self.provider), open(path, "rb") as handle:
            uploaded = await self._client.files.create(file=(name, handle), purpose="batch")
        return str(uploaded.id)

    async def create(
        self, *, input_file: str, endpoint: str, model: str, tag: str, run_id: str
    ) -> BatchState:
        with translating(self.provider, model):
            batch = await self._client.batches.create(
                input_file_id=input_file,
                endpoint=endpoint,
                completion_window="24h",
                metadata={RUN_KEY: run_id[:512], TAG_KEY: tag},
            )
        return _state(batch)

    async def find(self, tag: str, *, since: float) -> BatchState | None:
        with translating(self.provider):
            async for batch in self._client.batches.list(limit=_PAGE):
                if (batch.metadata or {}).get(TAG_KEY) == tag:
                    return _state(batch)
                if batch.created_at < since - _CLOCK_SLACK_S:
                    return None  # most recent first: the rest are older still
        return None

    async def retrieve(self, batch_id: str) -> BatchState:
        with translating(self.provider):
            return _state(await self._client.batches.retrieve(batch_id))

    async def cancel(self, batch_id: str) -> BatchState:
        with translating(self.provider):
            return _state(await self._client.batches.cancel(batch_id))

    async def download(self, file_id: str, destination: Path) -> None:
        partial = destination.with_name(destination.name + ".part")
        try:
            with translating(self.provider):
                async with self._client.files.with_streaming_response.content(file_id) as answer:
                    with open(partial, "wb") as handle:
                        async for chunk in answer.iter_bytes(1024 * 1024):
                            handle.write(chunk)
            os.replace(partial, destination)
        finally:
            # A download cut off (a full disk, a dropped connection) leaves no partial file to
            # fill the disk: the next try starts again from the vendor's copy.
            partial.unlink(missing_ok=True)

    async def delete_file(self, file_id: str) -> None:
        with translating(self.provider):
            await self._client.files.delete(file_id)

    def parse_line(self, raw: bytes) -> BatchLine:
        line = json.loads(raw)
        response = line.get("response")
        if not isinstance(response, dict):
            return BatchLine(str(line.get("custom_id")), None, None, None, line.get("error") or {})
        return BatchLine(
            custom_id=str(line.get("custom_id")),
            status_code=int(response.get("status_code") or 0),
            request_id=response.get("request_id"),
            body=response.get("body"),
        )

    def results(self, request: ImageRequest, line: BatchLine) -> list[GenerationResult]:
        if line.status_code != 200:
            raise line_error(line, self.provider, request.model)
        return self._provider.results_from_json(request, line.body, request_id=line.request_id)


def _state(batch: Any) -> BatchState:
    counts = batch.request_counts
    errors = [e.model_dump() for e in ((batch.errors.data or []) if batch.errors else [])]
    return BatchState(
        batch_id=batch.id,
        status=batch.status,
        vendor_status=batch.status,
        tag=(batch.metadata or {}).get(TAG_KEY),
        total=counts.total if counts else None,
        completed=counts.completed if counts else None,
        failed=counts.failed if counts else None,
        output_file=batch.output_file_id,
        error_file=batch.error_file_id,
        errors=errors,
        created_at=float(batch.created_at),
    )
