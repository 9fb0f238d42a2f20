"""The simulator's OpenAI Files and Batch APIs.

- POST /v1/files (multipart ``file``, ``purpose``), GET /v1/files/{id}, GET /v1/files/{id}/content,
  DELETE /v1/files/{id}: a ``FileObject``, the bytes, a ``FileDeleted``;
- POST /v1/batches (``input_file_id``, ``endpoint``, ``completion_window="24h"``, ``metadata``),
  GET /v1/batches (``limit``, ``after``; most recent first), GET /v1/batches/{id},
  POST /v1/batches/{id}/cancel: a ``Batch``, or a page of them.

An input line is ``{"custom_id", "method": "POST", "url", "body"}`` with ``url`` the batch's
endpoint; a result line ``{"id", "custom_id", "response": {"status_code", "request_id",
"body"}, "error"}``, in the output file for a 200 and in the error file otherwise; a request
that never ran has ``response: null`` and ``error{code, message}``. The simulator serves
batches of ``/v1/images/generations`` and ``/v1/responses`` (the routes it has);
:mod:`imgkit.simulator.batch_jobs` runs them.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

from imgkit.simulator import openai_images, openai_responses
from imgkit.simulator.batch_jobs import BatchJob, LineError, SimFile, jobs_of
from imgkit.simulator.openai_errors import ERRORS, check_auth, error, json_body
from imgkit.simulator.state import SimState

__all__ = [
    "BATCH_ENDPOINTS",
    "MAX_BATCH_BYTES",
    "MAX_BATCH_REQUESTS",
    "batch_object",
    "file_object",
]

#: Endpoints the simulator's batches serve (the SDK's ``BatchCreateParams.endpoint`` names more).
BATCH_ENDPOINTS: dict[str, Callable[[Request], Any]] = {
    "/v1/images/generations": openai_images.generations,
    "/v1/responses": openai_responses.responses,
}
#: Limits of one input file (the SDK's ``BatchCreateParams.input_file_id`` docstring).
MAX_BATCH_REQUESTS = 50_000
MAX_BATCH_BYTES = 200 * 1024 * 1024
_COMPLETION_WINDOW_S = 24 * 3600
_FILE_PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
_COPY_CHUNK = 1024 * 1024


def file_object(record: SimFile) -> dict[str, Any]:
    """A ``FileObject``."""
    return {
        "id": record.id,
        "object": "file",
        "bytes": record.size,
        "created_at": int(record.created_at),
        "expires_at": int(record.created_at) + 30 * 24 * 3600,
        "filename": record.filename,
        "purpose": record.purpose,
        "status": "processed",
        "status_details": None,
    }


def batch_object(job: BatchJob) -> dict[str, Any]:
    """A ``Batch``: every field the API sends, null where it does not apply yet."""

    def at(status: str) -> int | None:
        value = job.times.get(status)
        return None if value is None else int(value)

    errors = {"object": "list", "data": job.errors} if job.errors else None
    return {
        "id": job.id,
        "object": "batch",
        "endpoint": job.endpoint,
        "model": job.model,
        "errors": errors,
        "input_file_id": job.input_file_id,
        "completion_window": "24h",
        "status": job.status,
        "output_file_id": job.output_file_id if job.finished else None,
        "error_file_id": job.error_file_id if job.finished else None,
        "created_at": int(job.created_at),
        "in_progress_at": at("in_progress"),
        "expires_at": int(job.created_at) + _COMPLETION_WINDOW_S,
        "finalizing_at": at("finalizing"),
        "completed_at": at("completed"),
        "failed_at": at("failed"),
        "expired_at": at("expired"),
        "cancelling_at": at("cancelling"),
        "cancelled_at": at("cancelled"),
        "request_counts": {
            "total": job.total,
            "completed": job.completed,
            "failed": job.failed,
        },
        "metadata": job.metadata or None,
    }


class _OpenAIBatch:
    """How OpenAI batch lines read and are answered (see the module docstring)."""

    vendor = "openai"

    def parse_line(self, job: BatchJob, number: int, raw: bytes) -> tuple[str, str, bytes]:
        try:
            line = json.loads(raw)
        except ValueError:
            raise LineError(number, "This line is not parseable as valid JSON.") from None
        if not isinstance(line, dict):
            raise LineError(number, "Each line must be a JSON object.")
        custom_id = line.get("custom_id")
        if not isinstance(custom_id, str) or not custom_id:
            raise LineError(number, "Missing required parameter: 'custom_id'.", param="custom_id")
        if line.get("method") != "POST":
            raise LineError(number, "Only POST requests are accepted.", param="method")
        if line.get("url") != job.endpoint:
            raise LineError(
                number,
                f"The url {line.get('url')!r} does not match the batch's endpoint "
                f"{job.endpoint!r}.",
                param="url",
            )
        body = line.get("body")
        if not isinstance(body, dict):
            raise LineError(number, "Missing required parameter: 'body'.", param="body")
        if body.get("stream"):
            raise LineError(number, "Streaming is not supported in a batch.", param="body.stream")
        return custom_id, job.endpoint, json.dumps(body).encode()

    def route(self, job: BatchJob, path: str) -> tuple[Callable[[Request], Any], dict[str, str]]:
        return BATCH_ENDPOINTS[path], {}

    def result_line(
        self, job: BatchJob, custom_id: str, status: int, rid: str, body: Any
    ) -> tuple[dict[str, Any], bool]:
        line = {
            "id": "batch_req_sim_" + secrets.token_hex(12),
            "custom_id": custom_id,
            "response": {"status_code": status, "request_id": rid, "body": body},
            "error": None,
        }
        return line, status != 200

    def unrun_line(self, job: BatchJob, custom_id: str, code: str) -> dict[str, Any] | None:
        message = (
            "This request could not be executed before the completion window expired."
            if code == "batch_expired"
            else "This request was not executed because the batch was cancelled."
        )
        return {
            "id": "batch_req_sim_" + secrets.token_hex(12),
            "custom_id": custom_id,
            "response": None,
            "error": {"code": code, "message": f"{message} (imgkit simulator)"},
        }

    def server_error(self, status: int) -> Response:
        return ERRORS.server_error(status)


VENDOR = _OpenAIBatch()


# -- /v1/files ----------------------------------------------------------------------------------


def _no_such_file(file_id: str) -> Response:
    return error(404, f"No such File object: {file_id}", param="id", code=None)


async def create_file(request: Request) -> Response:
    """POST /v1/files."""
    state: SimState = request.app.state.sim
    if (denied := check_auth(request, state)) is not None:
        return denied
    try:
        form = await request.form(max_files=1, max_fields=8)
    except Exception as exc:  # the multipart parser raises its own types for a broken body
        return error(400, f"Could not parse the multipart body: {exc} (imgkit simulator)")
    try:
        upload, purpose = form.get("file"), form.get("purpose")
        if not isinstance(upload, UploadFile):
            return error(400, "Missing required parameter: 'file'.", param="file")
        if purpose not in _FILE_PURPOSES:
            return error(
                400,
                f"Invalid value for 'purpose': {purpose!r}; supported values are "
                f"{', '.join(_FILE_PURPOSES)}.",
                param="purpose",
                code="invalid_value",
            )
        blobs = state.blobs
        name = blobs.new_name("file-")
        with blobs.writer(name) as handle:
            # Copied a megabyte at a time: a 200 MB input file never sits in memory whole.
            while chunk := await upload.read(_COPY_CHUNK):
                handle.write(chunk)
        filename = upload.filename or "upload.jsonl"
    finally:
        await form.close()
    if purpose == "batch" and blobs.size(name) > MAX_BATCH_BYTES:
        blobs.delete(name)
        return error(
            400,
            f"File is too large: a batch input file may be up to {MAX_BATCH_BYTES} bytes.",
            param="file",
            code="file_too_large",
        )
    record = jobs_of(state).add_file("openai", filename, str(purpose), name)
    return JSONResponse(file_object(record))


async def retrieve_file(request: Request) -> Response:
    """GET /v1/files/{file_id}."""
    state: SimState = request.app.state.sim
    if (denied := check_auth(request, state)) is not None:
        return denied
    file_id = request.path_params["file_id"]
    record = jobs_of(state).get_file(file_id)
    return _no_such_file(file_id) if record is None else JSONResponse(file_object(record))


async def file_content(request: Request) -> Response:
    """GET /v1/files/{file_id}/content: the bytes, streamed from disk."""
    state: SimState = request.app.state.sim
    if (denied := check_auth(request, state)) is not None:
        return denied
    file_id = request.path_params["file_id"]
    record = jobs_of(state).get_file(file_id)
    if record is None:
        return _no_such_file(file_id)
    return FileResponse(state.blobs.path(record.blob), media_type="application/octet-stream")


async def delete_file(request: Request) -> Response:
    """DELETE /v1/files/{file_id}."""
    state: SimState = request.app.state.sim
    if (denied := check_auth(request, state)) is not None:
        return denied
    file_id = request.path_params["file_id"]
    if not jobs_of(state).delete_file(file_id):
        return _no_such_file(file_id)
    return JSONResponse({"id": file_id, "object": "file", "deleted": True})


# -- /v1/batches --------------------------------------------------------------------------------


def _check_metadata(metadata: Any) -> dict[str, str] | Response:
    if metadata is None:
        return {}
    if (
        not isinstance(metadata, dict)
        or len(metadata) > 16
        or not all(
            isinstance(k, str) and isinstance(v, str) and len(k) <= 64 and len(v) <= 512
            for k, v in metadata.items()
        )
    ):
        return error(
            400,
            "Invalid 'metadata': up to 16 string keys (64 characters) and string values "
            "(512 characters).",
            param="metadata",
            code="invalid_value",
        )
    return dict(metadata)


async def create_batch(request: Request) -> Response:
    """POST /v1/batches."""
    state: SimState = request.app.state.sim
    if (denied := check_auth(request, state)) is not None:
        return denied
    body = await json_body(request)
    if isinstance(body, Response):
        return body
    for name in ("input_file_id", "endpoint", "completion_window"):
        if not body.get(name):
            return error(400, f"Missing required parameter: '{name}'.", param=name)
    if body["completion_window"] != "24h":
        return error(
            400,
            "Invalid value for 'completion_window': only '24h' is supported.",
            param="completion_window",
            code="invalid_value",
        )
    endpoint = body["endpoint"]
    if endpoint not in BATCH_ENDPOINTS:
        return error(
            400,
            f"Invalid value for 'endpoint': the imgkit simulator runs batches of "
            f"{', '.join(BATCH_ENDPOINTS)} (got {endpoint!r}).",
            param="endpoint",
            code="invalid_value",
        )
    metadata = _check_metadata(body.get("metadata"))
    if isinstance(metadata, Response):
        return metadata
    registry = jobs_of(state)
    record = registry.get_file(str(body["input_file_id"]))
    if record is None or record.vendor != "openai":
        return error(400, f"No such File object: {body['input_file_id']}", param="input_file_id")
    if record.purpose != "batch":
        return error(
            400,
            f"File {record.id} was not uploaded with purpose 'batch'.",
            param="input_file_id",
            code="invalid_value",
        )
    model = _model_of(state, record)
    job = BatchJob(
        id="batch_sim_" + secrets.token_hex(12),
        vendor="openai",
        endpoint=endpoint,
        model=model,
        input_file_id=record.id,
        metadata=metadata,
        display_name=None,
        created_at=time.time(),
        fault=state.faults.draw("openai", model or "*", batch=True),
    )
    if job.fault:
        state.count_fault("openai", model or "*", job.fault)
    registry.add_job(job)
    registry.start(job, VENDOR, request)
    return JSONResponse(batch_object(job))


def _model_of(state: SimState, record: SimFile) -> str | None:
    """The model of the file's first request (the Batch object names one)."""
    with open(state.blobs.path(record.blob), "rb") as handle:
        first = handle.readline()
    try:
        body = json.loads(first).get("body") or {}
    except (ValueError, AttributeError):
        return None
    if not isinstance(body, dict):
        return None
    tools = body.get("tools") if isinstance(body.get("tools"), list) else []
    for tool in tools:
        if isinstance(tool, dict) and tool.get("type") == "image_generation" and tool.get("model"):
            return str(tool["model"])
    return str(body["model"]) if body.get("model") else None


def _no_such_batch(batch_id: str) -> Response:
    return error(404, f"No batch found with id '{batch_id}'.", param="batch_id")


async def retrieve_batch(request: Request) -> Response:
    """GET /v1/batches/{batch_id}."""
    state: SimState = request.app.state.sim
    if (denied := check_auth(request, state)) is not None:
        return denied
    batch_id = request.path_params["batch_id"]
    job = jobs_of(state).get_job(batch_id)
    if job is None or job.vendor != "openai":
        return _no_such_batch(batch_id)
    return JSONResponse(batch_object(job))


async def cancel_batch(request: Request) -> Response:
    """POST /v1/batches/{batch_id}/cancel."""
    state: SimState = request.app.state.sim
    if (denied := check_auth(request, state)) is not None:
        return denied
    batch_id = request.path_params["batch_id"]
    registry = jobs_of(state)
    job = registry.get_job(batch_id)
    if job is None or job.vendor != "openai":
        return _no_such_batch(batch_id)
    if job.finished and job.status != "cancelled":
        return error(
            409,
            f"Cannot cancel a batch with status '{job.status}'.",
            code="batch_not_cancellable",
        )
    registry.cancel(job)
    return JSONResponse(batch_object(job))


async def list_batches(request: Request) -> Response:
    """GET /v1/batches: a cursor page, most recent first."""
    state: SimState = request.app.state.sim
    if (denied := check_auth(request, state)) is not None:
        return denied
    try:
        limit = int(request.query_params.get("limit", 20))
    except ValueError:
        limit = 0
    if not 1 <= limit <= 100:
        return error(
            400,
            "Invalid 'limit': expected an integer from 1 to 100.",
            param="limit",
            code="invalid_value",
        )
    jobs = jobs_of(state).listing("openai")
    after = request.query_params.get("after")
    if after:
        ids = [job.id for job in jobs]
        jobs = jobs[ids.index(after) + 1 :] if after in ids else []
    page = jobs[:limit]
    return JSONResponse(
        {
            "object": "list",
            "data": [batch_object(job) for job in page],
            "first_id": page[0].id if page else None,
            "last_id": page[-1].id if page else None,
            "has_more": len(jobs) > limit,
        }
    )
