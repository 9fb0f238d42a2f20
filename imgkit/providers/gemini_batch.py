"""Gemini's batch mode through ``google-genai``: an uploaded JSONL file, one responses file.

- input: ``client.files.upload`` of one ``{"key", "request"}`` a line, the request the REST body
  :meth:`GeminiProvider.batch_body` writes (what the synchronous call sends);
- ``client.batches.create(model=..., src="files/...", config={"display_name": TAG})``: the
  display name is the tag a resume looks for in ``client.batches.list()``;
- the job's state (``JOB_STATE_PENDING|RUNNING|SUCCEEDED|FAILED|CANCELLED|EXPIRED``, mapped to
  OpenAI's words) and, once done, ``dest.file_name``: ``{"key", "response"}`` or ``{"key",
  "error"}`` lines, streamed to disk by ``client.files.download(..., destination=...)``.

The SDK reads no request counts from the job (only Vertex AI's ``completion_stats``), so a
Gemini batch shows its state without counts until its results are in. A request the batch
never ran is absent from the responses file: the runner records it from the batch's end state.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

from imgkit.catalog.validation import ImageRequest
from imgkit.providers.batching import BatchLine, BatchState, line_error
from imgkit.providers.errormap import translating
from imgkit.providers.gemini_provider import GeminiProvider
from imgkit.providers.results import GenerationResult

__all__ = ["JOB_STATES", "GeminiBatchClient"]

#: google-genai's job states, in OpenAI's batch vocabulary.
JOB_STATES = {
    "JOB_STATE_UNSPECIFIED": "validating",
    "JOB_STATE_QUEUED": "validating",
    "JOB_STATE_PENDING": "validating",
    "JOB_STATE_RUNNING": "in_progress",
    "JOB_STATE_UPDATING": "in_progress",
    "JOB_STATE_PAUSED": "in_progress",
    "JOB_STATE_SUCCEEDED": "completed",
    "JOB_STATE_PARTIALLY_SUCCEEDED": "completed",
    "JOB_STATE_FAILED": "failed",
    "JOB_STATE_CANCELLING": "cancelling",
    "JOB_STATE_CANCELLED": "cancelled",
    "JOB_STATE_EXPIRED": "expired",
}
_CLOCK_SLACK_S = 3600.0
_PAGE = 100


class GeminiBatchClient:
    """The batch mode of one :class:`GeminiProvider` (its settings, its client)."""

    provider = "gemini"

    def __init__(self, provider: GeminiProvider) -> None:
        self._provider = provider

    @property
    def _aio(self) -> Any:
        return self._provider.client.aio

    def request_line(self, custom_id: str, request: ImageRequest) -> bytes:
        line = {"key": custom_id, "request": self._provider.batch_body(request)}
        return json.dumps(line, separators=(",", ":")).encode() + b"\n"

    def batch_endpoint(self, request: ImageRequest) -> str:
        return "batchGenerateContent"

    async def upload(self, path: Path, name: str) -> str:
        with translating(self.provider):
            uploaded = await self._aio.files.upload(
                file=str(path), config={"mime_type": "application/jsonl", "display_name": name}
            )
        return str(uploaded.name)

    async def create(
        self, *, input_file: str, endpoint: str, model: str, tag: str, run_id: str
    ) -> BatchState:
        spec_model = self._vendor_model(model)
        with translating(self.provider, model):
            job = await self._aio.batches.create(
                model=spec_model, src=input_file, config={"display_name": tag}
            )
        return _state(job)

    async def find(self, tag: str, *, since: float) -> BatchState | None:
        with translating(self.provider):
            async for job in await self._aio.batches.list(config={"page_size": _PAGE}):
                if job.display_name == tag:
                    return _state(job)
                created = job.create_time.timestamp() if job.create_time else None
                if created is not None and created < since - _CLOCK_SLACK_S:
                    return None
        return None

    async def retrieve(self, batch_id: str) -> BatchState:
        with translating(self.provider):
            return _state(await self._aio.batches.get(name=batch_id))

    async def cancel(self, batch_id: str) -> BatchState:
        with translating(self.provider):
            await self._aio.batches.cancel(name=batch_id)
            return _state(await self._aio.batches.get(name=batch_id))

    async def download(self, file_id: str, destination: Path) -> None:
        partial = destination.with_name(destination.name + ".part")
        try:
            with translating(self.provider):
                # The synchronous client streams to the file chunk by chunk; in a thread, so
                # the loop keeps polling the other batches meanwhile.
                await asyncio.to_thread(
                    self._provider.client.files.download, file=file_id, destination=str(partial)
                )
            os.replace(partial, destination)
        finally:
            partial.unlink(missing_ok=True)  # a download cut off leaves nothing on the disk

    async def delete_file(self, file_id: str) -> None:
        with translating(self.provider):
            await self._aio.files.delete(name=file_id)

    def parse_line(self, raw: bytes) -> BatchLine:
        line = json.loads(raw)
        key = str(line.get("key"))
        if "response" in line:
            return BatchLine(key, 200, None, line["response"])
        error = line.get("error") or {}
        code = error.get("code") if isinstance(error, dict) else None
        return BatchLine(key, code if isinstance(code, int) else 500, None, {"error": error})

    def results(self, request: ImageRequest, line: BatchLine) -> list[GenerationResult]:
        if line.status_code != 200:
            raise line_error(line, self.provider, request.model)
        return self._provider.results_from_json(request, line.body, request_id=line.request_id)

    def _vendor_model(self, model: str) -> str:
        from imgkit.catalog.models import default_catalog

        spec = default_catalog().get_model(model)
        return spec.vendor_model_id or spec.name


def _state(job: Any) -> BatchState:
    state = getattr(job.state, "value", job.state) or "JOB_STATE_UNSPECIFIED"
    created = job.create_time
    return BatchState(
        batch_id=str(job.name),
        status=JOB_STATES.get(str(state), "in_progress"),
        vendor_status=str(state),
        tag=job.display_name,
        output_file=job.dest.file_name if job.dest is not None else None,
        errors=[{"code": "failed", "message": str(job.error)}] if job.error else [],
        created_at=created.timestamp() if isinstance(created, dt.datetime) else None,
    )
