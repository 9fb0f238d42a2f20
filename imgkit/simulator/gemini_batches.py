"""The simulator's Gemini Files and Batch APIs, at the URLs ``google-genai`` calls.

- ``client.files.upload``: POST /upload/{version}/files (``X-Goog-Upload-Command: start``,
  answered with an ``x-goog-upload-url``), then the bytes to that URL (``upload`` and
  ``upload, finalize``, 8 MB at a time), answered ``{"file": File}``;
  ``client.files.get/delete/download``: GET and DELETE /{version}/files/{name}, GET
  /{version}/files/{name}:download?alt=media;
- ``client.batches.create(model=..., src="files/..." or [inline requests])``: POST
  /{version}/models/{model}:batchGenerateContent (``{"batch": {"inputConfig": {"fileName"} or
  {"requests": {"requests": [...]}}, "displayName"}}``);
- ``client.batches.get/cancel/delete/list``: GET, POST ``:cancel``, DELETE
  /{version}/batches/{name}, GET /{version}/batches (``pageSize``, ``pageToken``).

A batch is a long-running operation ``{"name": "batches/...", "metadata": {"state":
"BATCH_STATE_...", "displayName", "model", "createTime", "updateTime", "endTime", "batchStats",
"output": {"responsesFile"} or {"inlinedResponses": {...}}}, "done"}``; the SDK maps the states
to ``JOB_STATE_*``. A file's line is ``{"key", "request"}``, its answer ``{"key", "response"}``
or ``{"key", "error"}`` in the one responses file. :mod:`imgkit.simulator.batch_jobs` runs the
batches; docs/vendor-behaviour.md says which details are assumptions.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import time
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

from imgkit.simulator import gemini_api
from imgkit.simulator.batch_jobs import BatchJob, LineError, SimFile, jobs_of
from imgkit.simulator.state import SimState

__all__ = ["batch_operation", "file_resource"]

_VERSIONS = ("v1", "v1beta", "v1alpha")
_STATES = {
    "validating": "BATCH_STATE_PENDING",
    "in_progress": "BATCH_STATE_RUNNING",
    "finalizing": "BATCH_STATE_RUNNING",
    "cancelling": "BATCH_STATE_RUNNING",
    "completed": "BATCH_STATE_SUCCEEDED",
    "failed": "BATCH_STATE_FAILED",
    "cancelled": "BATCH_STATE_CANCELLED",
    "expired": "BATCH_STATE_EXPIRED",
}
_BATCH_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch"


def _rfc3339(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    stamp = dt.datetime.fromtimestamp(epoch, dt.UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _denied(request: Request, state: SimState) -> Response | None:
    if request.headers.get("x-goog-api-key") or request.query_params.get("key"):
        return None
    state.count_unauthorized()
    return gemini_api.error(
        403,
        "Method doesn't allow unregistered callers (callers without established identity). "
        "Please use an API key (any value works here).",
    )


def _bad_version(version: str) -> Response | None:
    if version in _VERSIONS:
        return None
    return gemini_api.error(404, f"API version {version} is not found.")


def _refused(request: Request, state: SimState) -> Response | None:
    """The answer to a request for an unknown API version or without a key, else None."""
    bad = _bad_version(request.path_params["version"])
    return bad if bad is not None else _denied(request, state)


def file_resource(request: Request, record: SimFile) -> dict[str, Any]:
    """A ``File`` as the API sends it (camelCase)."""
    base = str(request.base_url).rstrip("/")
    name = record.id
    resource = {
        "name": name,
        "mimeType": record.mime_type,
        "sizeBytes": str(record.size),
        "createTime": _rfc3339(record.created_at),
        "updateTime": _rfc3339(record.created_at),
        "expirationTime": _rfc3339(record.created_at + 48 * 3600),
        "uri": f"{base}/v1beta/{name}",
        "state": "ACTIVE",
        "source": "GENERATED" if record.purpose == "batch_output" else "UPLOADED",
    }
    if record.display_name:
        resource["displayName"] = record.display_name
    if record.purpose == "batch_output":
        resource["downloadUri"] = f"{base}/v1beta/{name}:download?alt=media"
    return resource


def batch_operation(state: SimState, job: BatchJob) -> dict[str, Any]:
    """A batch as the long-running operation the API answers."""
    metadata: dict[str, Any] = {
        "@type": _BATCH_TYPE,
        "model": f"models/{job.model}",
        "displayName": job.display_name or "",
        "inputConfig": ({"requests": {}} if job.inline else {"fileName": job.input_file_id}),
        "createTime": _rfc3339(job.created_at),
        "updateTime": _rfc3339(max(job.times.values(), default=job.created_at)),
        "state": _STATES[job.status],
        "batchStats": {
            "requestCount": str(job.total),
            "successfulRequestCount": str(job.completed),
            "failedRequestCount": str(job.failed),
            "pendingRequestCount": str(max(job.total - job.completed - job.failed, 0)),
        },
    }
    if job.finished:
        metadata["endTime"] = _rfc3339(job.times.get(job.status))
        if job.inline:
            metadata["output"] = {"inlinedResponses": {"inlinedResponses": _inlined(state, job)}}
        elif job.output_file_id:
            metadata["output"] = {"responsesFile": job.output_file_id}
    operation: dict[str, Any] = {"name": job.id, "metadata": metadata, "done": job.finished}
    if job.status == "failed" and job.errors:
        operation["error"] = {"code": 400, "message": job.errors[0]["message"]}
    return operation


def _inlined(state: SimState, job: BatchJob) -> list[dict[str, Any]]:
    """The answers of an inline batch, in the order of its requests."""
    registry = jobs_of(state)
    record = registry.get_file(job.output_file_id) if job.output_file_id else None
    if record is None:
        return []
    answers = []
    with open(state.blobs.path(record.blob), "rb") as handle:
        for raw in handle:
            line = json.loads(raw)
            answers.append((int(line.pop("key")), line))
    return [answer for _key, answer in sorted(answers, key=lambda pair: pair[0])]


class _GeminiBatch:
    """How Gemini batch lines read and are answered (see the module docstring)."""

    vendor = "gemini"

    def parse_line(self, job: BatchJob, number: int, raw: bytes) -> tuple[str, str, bytes]:
        try:
            line = json.loads(raw)
        except ValueError:
            raise LineError(number, "Invalid JSON payload received.") from None
        if not isinstance(line, dict) or not isinstance(line.get("request"), dict):
            raise LineError(number, "Each line needs a 'request' object.", param="request")
        key = line.get("key")
        if not isinstance(key, str) or not key:
            raise LineError(number, "Each line needs a 'key' string.", param="key")
        path = f"/v1beta/models/{job.model}:generateContent"
        return key, path, json.dumps(line["request"]).encode()

    def route(self, job: BatchJob, path: str) -> tuple[Callable[[Request], Any], dict[str, str]]:
        return gemini_api.generate_content, {
            "version": "v1beta",
            "model_action": f"{job.model}:generateContent",
        }

    def result_line(
        self, job: BatchJob, custom_id: str, status: int, rid: str, body: Any
    ) -> tuple[dict[str, Any], bool]:
        if status == 200:
            return {"key": custom_id, "response": body}, False
        error = body.get("error", body) if isinstance(body, dict) else {"message": str(body)}
        return {"key": custom_id, "error": error}, False

    def unrun_line(self, job: BatchJob, custom_id: str, code: str) -> dict[str, Any] | None:
        return None  # the responses file holds the requests that ran

    def server_error(self, status: int) -> Response:
        return gemini_api.ERRORS.server_error(status)


VENDOR = _GeminiBatch()


# -- files --------------------------------------------------------------------------------------


async def upload(request: Request) -> Response:
    """POST /upload/{version}/files: start a resumable upload, or send its bytes."""
    state: SimState = request.app.state.sim
    if (bad := _bad_version(request.path_params["version"])) is not None:
        return bad
    upload_id = request.query_params.get("upload_id")
    if upload_id is None:
        return await _start_upload(request, state)
    uploads = jobs_of(state).uploads
    session = uploads.get(upload_id)
    if session is None:
        return gemini_api.error(404, f"No upload session {upload_id}.")
    command = request.headers.get("x-goog-upload-command", "")
    offset = int(request.headers.get("x-goog-upload-offset", "0") or 0)
    if offset != session["received"]:
        return gemini_api.error(400, f"Upload offset {offset} != {session['received']} received.")
    with open(session["partial"], "ab") as handle:
        async for chunk in request.stream():
            handle.write(chunk)
            session["received"] += len(chunk)
    if "finalize" not in command:
        return Response(status_code=200, headers={"x-goog-upload-status": "active"})
    uploads.pop(upload_id, None)
    os.replace(session["partial"], state.blobs.path(session["blob"]))
    record = jobs_of(state).add_file(
        "gemini",
        session["display_name"] or "upload.jsonl",
        "batch",
        session["blob"],
        mime_type=session["mime_type"],
        display_name=session["display_name"],
    )
    return JSONResponse(
        {"file": file_resource(request, record)}, headers={"x-goog-upload-status": "final"}
    )


async def _start_upload(request: Request, state: SimState) -> Response:
    if (denied := _denied(request, state)) is not None:
        return denied
    if request.headers.get("x-goog-upload-command", "").strip() != "start":
        return gemini_api.error(400, "Send X-Goog-Upload-Command: start to begin an upload.")
    try:
        body = await request.json()
    except ValueError:
        body = {}
    meta = body.get("file", {}) if isinstance(body, dict) else {}
    meta = meta if isinstance(meta, dict) else {}
    upload_id = secrets.token_hex(12)
    blob = state.blobs.new_name("gfile-")
    partial = state.blobs.path(f"up-{upload_id}")
    partial.write_bytes(b"")
    jobs_of(state).uploads[upload_id] = {
        "blob": blob,
        "partial": partial,
        "received": 0,
        "display_name": meta.get("displayName") or meta.get("display_name"),
        "mime_type": meta.get("mimeType")
        or meta.get("mime_type")
        or request.headers.get("x-goog-upload-header-content-type")
        or "application/jsonl",
    }
    base = str(request.base_url).rstrip("/")
    version = request.path_params["version"]
    url = f"{base}/upload/{version}/files?upload_id={upload_id}&upload_protocol=resumable"
    return JSONResponse({}, headers={"x-goog-upload-url": url, "x-goog-upload-status": "active"})


async def file_route(request: Request) -> Response:
    """GET /{version}/files/{name} (or ``:download?alt=media``) and DELETE of the same."""
    state: SimState = request.app.state.sim
    if (refused := _refused(request, state)) is not None:
        return refused
    name, _, action = request.path_params["file_id"].partition(":")
    registry = jobs_of(state)
    record = registry.get_file(f"files/{name}")
    if record is None:
        return gemini_api.error(404, f"File files/{name} not found.")
    if request.method == "DELETE":
        registry.delete_file(record.id)
        return JSONResponse({})
    if action == "download":
        return FileResponse(state.blobs.path(record.blob), media_type=record.mime_type)
    if action:
        return gemini_api.error(404, f"Method {action} is not found.")
    return JSONResponse(file_resource(request, record))


# -- batches ------------------------------------------------------------------------------------


async def create_batch(request: Request, model: str) -> Response:
    """POST /{version}/models/{model}:batchGenerateContent (dispatched by the app)."""
    state: SimState = request.app.state.sim
    if (refused := _refused(request, state)) is not None:
        return refused
    try:
        body = await request.json()
    except ValueError:
        body = None
    batch = body.get("batch") if isinstance(body, dict) else None
    if not isinstance(batch, dict):
        return gemini_api.error(400, "Invalid JSON payload received: expected {'batch': {...}}.")
    from imgkit.catalog.models import default_catalog  # the catalog: what the routes serve

    catalog = default_catalog()
    if model not in catalog or catalog.get_model(model).provider != "gemini":
        return gemini_api.error(404, f"models/{model} is not found or does not support batches.")
    registry = jobs_of(state)
    config = batch.get("inputConfig") or batch.get("input_config") or {}
    inline = False
    if isinstance(config.get("requests"), dict):
        requests = config["requests"].get("requests") or []
        blob = state.blobs.new_name("inline-")
        with state.blobs.writer(blob) as handle:
            for index, item in enumerate(requests):
                line = {"key": str(index), "request": (item or {}).get("request", {})}
                handle.write(json.dumps(line).encode() + b"\n")
        record = registry.add_file("gemini", "inline.jsonl", "batch", blob)
        inline = True
    else:
        file_name = config.get("fileName") or config.get("file_name")
        record = registry.get_file(str(file_name)) if file_name else None
        if record is None:
            return gemini_api.error(400, f"File {file_name} not found for the batch's input.")
    display_name = batch.get("displayName") or batch.get("display_name")
    job = BatchJob(
        id="batches/sim" + secrets.token_hex(10),
        vendor="gemini",
        endpoint="batchGenerateContent",
        model=model,
        input_file_id=record.id,
        metadata={},
        display_name=str(display_name) if display_name else None,
        created_at=time.time(),
        fault=state.faults.draw("gemini", model, batch=True),
        inline=inline,
    )
    if job.fault:
        state.count_fault("gemini", model, job.fault)
    registry.add_job(job)
    registry.start(job, VENDOR, request)
    return JSONResponse(batch_operation(state, job))


async def batch_route(request: Request) -> Response:
    """GET, DELETE /{version}/batches/{name}; POST /{version}/batches/{name}:cancel."""
    state: SimState = request.app.state.sim
    if (refused := _refused(request, state)) is not None:
        return refused
    name, _, action = request.path_params["batch_id"].partition(":")
    registry = jobs_of(state)
    job = registry.get_job(f"batches/{name}")
    if job is None:
        return gemini_api.error(404, f"Batch batches/{name} not found.")
    if request.method == "POST":
        if action != "cancel":
            return gemini_api.error(404, f"Method {action or '(none)'} is not found.")
        if job.finished and job.status != "cancelled":
            return gemini_api.error(400, f"Batch {job.id} has already ended ({job.status}).")
        registry.cancel(job)
        return JSONResponse({})
    if request.method == "DELETE":
        registry.cancel(job)
        return JSONResponse({})
    return JSONResponse(batch_operation(state, job))


async def list_batches(request: Request) -> Response:
    """GET /{version}/batches: most recent first, ``pageSize`` at a time."""
    state: SimState = request.app.state.sim
    if (refused := _refused(request, state)) is not None:
        return refused
    try:
        size = int(request.query_params.get("pageSize", 50))
        start = int(request.query_params.get("pageToken") or 0)
    except ValueError:
        return gemini_api.error(400, "Invalid pageSize or pageToken.")
    size = max(1, min(size, 1000))
    jobs = jobs_of(state).listing("gemini")
    page = jobs[start : start + size]
    body: dict[str, Any] = {"operations": [batch_operation(state, job) for job in page]}
    if start + size < len(jobs):
        body["nextPageToken"] = str(start + size)
    return JSONResponse(body)
