"""One interface in front of the vendors' Batch APIs.

A :class:`BatchClient` writes a request as a line of the vendor's input file, uploads the file,
creates a batch tagged with a key of the runner's choosing (OpenAI ``metadata``, Gemini display
name), finds a batch by that tag among the account's recent batches, follows its status, cancels
it, streams its result files to disk, and reads each result line back into the
:class:`~imgkit.providers.results.GenerationResult` s (or the imgkit error) a synchronous
request would have given. Statuses are OpenAI's vocabulary (:data:`BATCH_STATUSES`); the
vendor's own word is kept in :attr:`BatchState.vendor_status`.

Vendor errors are translated at the same boundary as everywhere else
(:mod:`imgkit.providers.errormap`). The clients live in :mod:`imgkit.providers.openai_batch` and
:mod:`imgkit.providers.gemini_batch`; :func:`batch_client` picks one for a provider.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from imgkit.catalog.validation import ImageRequest
from imgkit.errors import BatchNotRunError, ProviderError
from imgkit.providers.errormap import error_from_status
from imgkit.providers.results import GenerationResult

__all__ = [
    "BATCH_STATUSES",
    "FINISHED_STATUSES",
    "BatchClient",
    "BatchLine",
    "BatchState",
    "batch_client",
    "line_error",
]

#: A batch's life, in OpenAI's words (Gemini's states are mapped onto them).
BATCH_STATUSES = (
    "validating",
    "in_progress",
    "finalizing",
    "completed",
    "failed",
    "expired",
    "cancelling",
    "cancelled",
)
#: Statuses after which a batch changes no more.
FINISHED_STATUSES = ("completed", "failed", "expired", "cancelled")

_CLIENTS = {
    "openai": ("imgkit.providers.openai_batch", "OpenAIBatchClient"),
    "gemini": ("imgkit.providers.gemini_batch", "GeminiBatchClient"),
}


@dataclass(frozen=True)
class BatchState:
    """What the vendor says of a batch right now."""

    batch_id: str
    status: str
    vendor_status: str
    tag: str | None = None
    total: int | None = None
    completed: int | None = None
    failed: int | None = None
    output_file: str | None = None
    error_file: str | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    created_at: float | None = None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_STATUSES

    def counts(self) -> dict[str, int | None]:
        return {"total": self.total, "completed": self.completed, "failed": self.failed}

    def error_text(self) -> str:
        """The vendor's reasons for failing the batch, as one sentence."""
        parts = []
        for error in self.errors:
            line = f" (line {error['line']})" if error.get("line") else ""
            parts.append(f"{error.get('code') or 'error'}: {error.get('message') or ''}{line}")
        return "; ".join(parts) or f"the batch ended {self.status}"


@dataclass(frozen=True)
class BatchLine:
    """One line of a result file: whose answer it is, and the answer."""

    custom_id: str
    status_code: int | None
    request_id: str | None
    body: Any
    #: the vendor's word for a request it never ran (``{"code", "message"}``), else None
    error: dict[str, Any] | None = None


def line_error(line: BatchLine, provider: str, model: str) -> ProviderError:
    """The imgkit error of a result line that carries no answer to read: an HTTP error status
    (the error a synchronous request would have raised) or a request the batch never ran."""
    if line.error is not None and line.status_code is None:
        code = str(line.error.get("code") or "batch_not_run")
        kind = code if code in ("batch_expired", "batch_cancelled") else "batch_not_run"
        return BatchNotRunError(
            str(line.error.get("message") or code),
            kind=kind,
            provider=provider,
            model=model,
            code=code,
            request_id=line.request_id,
        )
    body = line.body if isinstance(line.body, dict) else {}
    error = body.get("error", body)
    error = error if isinstance(error, dict) else {"message": str(error)}
    status = line.status_code
    if status is None:
        status = error.get("code") if isinstance(error.get("code"), int) else 500
    code = error.get("code") if isinstance(error.get("code"), str) else error.get("status")
    return error_from_status(
        status,
        str(error.get("message") or f"HTTP {status}"),
        provider=provider,
        model=model,
        code=code,
        param=error.get("param"),
        request_id=line.request_id,
        body=body,
        status_text=error.get("type") or error.get("status"),
    )


class BatchClient(Protocol):
    """A vendor's Batch API, for one provider instance."""

    provider: str

    def request_line(self, custom_id: str, request: ImageRequest) -> bytes:
        """One line of the input file (newline included)."""
        ...

    def batch_endpoint(self, request: ImageRequest) -> str:
        """The endpoint a batch of this request is created for."""
        ...

    async def upload(self, path: Path, name: str) -> str:
        """Upload an input file; return its id at the vendor."""
        ...

    async def create(
        self, *, input_file: str, endpoint: str, model: str, tag: str, run_id: str
    ) -> BatchState: ...

    async def find(self, tag: str, *, since: float) -> BatchState | None:
        """The batch carrying ``tag`` among those created after ``since`` (epoch seconds)."""
        ...

    async def retrieve(self, batch_id: str) -> BatchState: ...

    async def cancel(self, batch_id: str) -> BatchState: ...

    async def download(self, file_id: str, destination: Path) -> None:
        """Stream a result file to ``destination``, never holding it in memory."""
        ...

    async def delete_file(self, file_id: str) -> None: ...

    def parse_line(self, raw: bytes) -> BatchLine: ...

    def results(self, request: ImageRequest, line: BatchLine) -> list[GenerationResult]:
        """The results of a line, read as a synchronous answer is; raises its imgkit error."""
        ...


def batch_client(provider: Any) -> BatchClient:
    """The batch client of a provider instance (ValueError for a vendor without batch mode)."""
    entry = _CLIENTS.get(getattr(provider, "name", None) or "")
    if entry is None:
        raise ValueError(f"{provider!r} has no Batch API client")
    module, cls = entry
    return getattr(importlib.import_module(module), cls)(provider)
