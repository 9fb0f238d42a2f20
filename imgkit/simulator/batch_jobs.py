"""The simulator's Batch APIs at work: uploaded files, and batches run in the background.

A batch (OpenAI's ``/v1/batches``, Gemini's ``batchGenerateContent``) lives through the
vendor's statuses at the pace the server is given (``batch_duration``, seconds, at the least):
about a tenth validating, eight tenths running its requests at an even pace, a tenth
finalizing. Each request line is served by the very route a synchronous request reaches, so
the fault rules, blocked terms and refusals apply per line; a line suffers no latency and no
per-minute limit (the batch's pace stands for both). What a route answers becomes one line of
the output file (an error, for OpenAI, of the error file), written to disk as it comes: memory
holds a few lines at a time whatever the size of the batch.

Whole-batch faults (:data:`imgkit.simulator.faults.BATCH_FAULT_KINDS`), drawn when a batch is
created: ``batch_failed`` fails validation, ``batch_expired`` runs half the requests and
expires the rest, ``batch_cancelled`` is cancelled halfway as if by someone else. A cancel
request stops the batch after the lines in progress; requests that never ran are written to
the error file with code ``batch_expired`` or ``batch_cancelled`` (OpenAI) and left out
(Gemini). Sources and assumptions: docs/vendor-behaviour.md, "Batch APIs".
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Protocol

from starlette.requests import Request
from starlette.responses import Response

from imgkit.simulator.pipeline import BATCH_SCOPE_KEY, DropResponse, HoldResponse, request_id

__all__ = [
    "LINE_CONCURRENCY",
    "BatchJob",
    "BatchJobs",
    "LineError",
    "SimFile",
    "VendorBatch",
    "jobs_of",
]

#: Lines of one batch served at once (the simulator's drawing runs in worker threads).
LINE_CONCURRENCY = 8
# Shares of ``batch_duration`` spent validating and finalizing (the rest runs the lines).
_VALIDATING_SHARE = 0.1
_FINALIZING_SHARE = 0.1


@dataclass
class SimFile:
    """An uploaded (or produced) file: its bytes are a blob on disk."""

    id: str
    vendor: str
    filename: str
    purpose: str
    size: int
    created_at: float
    blob: str
    mime_type: str = "application/jsonl"
    display_name: str | None = None


class LineError(Exception):
    """A line of an input file that the vendor would refuse at validation."""

    def __init__(self, line: int, message: str, code: str = "invalid_request", param=None):
        super().__init__(message)
        self.line, self.message, self.code, self.param = line, message, code, param

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "line": self.line, "message": self.message, "param": self.param}


@dataclass
class BatchJob:
    """One batch; ``status`` uses OpenAI's vocabulary (Gemini's routes translate it)."""

    id: str
    vendor: str
    endpoint: str
    model: str | None
    input_file_id: str
    metadata: dict[str, str]
    display_name: str | None
    created_at: float
    total: int = 0
    completed: int = 0
    failed: int = 0
    status: str = "validating"
    times: dict[str, float] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    output_file_id: str | None = None
    error_file_id: str | None = None
    fault: str | None = None
    cancel_requested: bool = False
    #: Gemini's inline requests: their answers are read back from the output file on GET
    inline: bool = False

    @property
    def finished(self) -> bool:
        return self.status in ("completed", "failed", "expired", "cancelled")

    def stamp(self, status: str) -> None:
        self.status = status
        self.times.setdefault(status, time.time())


class VendorBatch(Protocol):
    """How one vendor's batch reads its lines and writes its results."""

    vendor: str

    def parse_line(self, job: BatchJob, number: int, raw: bytes) -> tuple[str, str, bytes]:
        """(custom id, route path, JSON body) of an input line; raises :class:`LineError`."""
        ...

    def route(self, job: BatchJob, path: str) -> tuple[Callable[[Request], Any], dict[str, str]]:
        """The route handler serving ``path`` and its path parameters."""
        ...

    def result_line(
        self, job: BatchJob, custom_id: str, status: int, rid: str, body: Any
    ) -> tuple[dict[str, Any], bool]:
        """(the output line, whether it goes to the error file)."""
        ...

    def unrun_line(self, job: BatchJob, custom_id: str, code: str) -> dict[str, Any] | None:
        """The error-file line of a request that never ran (None: leave it out)."""
        ...

    def server_error(self, status: int) -> Response: ...


class BatchJobs:
    """Every file and batch of one simulator; the batches run as tasks on the server's loop."""

    def __init__(self, state: Any) -> None:
        self.state = state
        self.files: dict[str, SimFile] = {}
        self.jobs: dict[str, BatchJob] = {}
        self._tasks: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Task]] = {}
        self._lock = threading.Lock()
        self.created_by_tag: Counter[str] = Counter()
        self.created: Counter[str] = Counter()
        self.lines: Counter[str] = Counter()
        #: Gemini's resumable uploads in progress, by upload id
        self.uploads: dict[str, dict[str, Any]] = {}

    # -- files --------------------------------------------------------------------------------

    def add_file(
        self,
        vendor: str,
        filename: str,
        purpose: str,
        blob: str,
        *,
        file_id: str | None = None,
        mime_type: str = "application/jsonl",
        display_name: str | None = None,
    ) -> SimFile:
        prefix = "file-sim" if vendor == "openai" else "files/sim"
        record = SimFile(
            id=file_id or prefix + secrets.token_hex(10),
            vendor=vendor,
            filename=filename,
            purpose=purpose,
            size=self.state.blobs.size(blob),
            created_at=time.time(),
            blob=blob,
            mime_type=mime_type,
            display_name=display_name,
        )
        with self._lock:
            self.files[record.id] = record
        return record

    def get_file(self, file_id: str) -> SimFile | None:
        with self._lock:
            return self.files.get(file_id)

    def delete_file(self, file_id: str) -> bool:
        with self._lock:
            record = self.files.pop(file_id, None)
        if record is None:
            return False
        self.state.blobs.delete(record.blob)
        return True

    # -- batches ------------------------------------------------------------------------------

    def add_job(self, job: BatchJob) -> None:
        tag = job.metadata.get("imgkit_batch") or job.display_name
        with self._lock:
            self.jobs[job.id] = job
            self.created[job.vendor] += 1
            if tag:
                self.created_by_tag[tag] += 1

    def get_job(self, batch_id: str) -> BatchJob | None:
        with self._lock:
            return self.jobs.get(batch_id)

    def listing(self, vendor: str) -> list[BatchJob]:
        """The vendor's batches, most recent first."""
        with self._lock:
            found = [j for j in self.jobs.values() if j.vendor == vendor]
        return sorted(found, key=lambda j: (j.created_at, j.id), reverse=True)

    def start(self, job: BatchJob, vendor: VendorBatch, request: Request) -> None:
        """Run ``job`` in the background on the running loop (the server's)."""
        scope = {
            key: request.scope[key]
            for key in ("type", "http_version", "scheme", "server", "root_path", "app")
            if key in request.scope
        }
        loop = asyncio.get_running_loop()
        task = loop.create_task(self._run(job, vendor, scope))
        with self._lock:
            self._tasks[job.id] = (loop, task)
        task.add_done_callback(lambda _t: self._forget(job.id))

    def _forget(self, batch_id: str) -> None:
        with self._lock:
            self._tasks.pop(batch_id, None)

    def cancel(self, job: BatchJob) -> None:
        """Ask a batch to stop (it goes through ``cancelling`` to ``cancelled``)."""
        if job.finished or job.cancel_requested:
            return
        job.cancel_requested = True
        if job.vendor == "openai":
            job.stamp("cancelling")

    def close(self) -> None:
        """Stop every batch still running (the server is stopping)."""
        with self._lock:
            tasks = list(self._tasks.values())
        for loop, task in tasks:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(task.cancel)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            by_status = Counter(f"{j.vendor}:{j.status}" for j in self.jobs.values())
            return {
                "created": dict(self.created),
                "created_twice": sorted(t for t, n in self.created_by_tag.items() if n > 1),
                "by_tag": dict(self.created_by_tag),
                "status": dict(by_status),
                "lines": dict(self.lines),
                "files": len(self.files),
                "file_bytes": sum(f.size for f in self.files.values()),
            }

    # -- running a batch ----------------------------------------------------------------------

    async def _run(self, job: BatchJob, vendor: VendorBatch, scope: dict[str, Any]) -> None:
        duration = self.state.batch_duration
        started = time.monotonic()
        record = self.get_file(job.input_file_id)
        try:
            await _pause(job, duration * _VALIDATING_SHARE)
            if record is None:
                raise LineError(0, f"input file {job.input_file_id} was deleted", "file_deleted")
            job.total = await asyncio.to_thread(self._validate, job, vendor, record)
            if job.fault == "batch_failed":
                raise LineError(
                    0, "fault injected by the simulator (batch_failed)", "simulated_failure"
                )
        except LineError as exc:
            job.errors.append(exc.to_dict())
            job.stamp("failed")
            return
        if not job.cancel_requested:
            job.stamp("in_progress")
        stopped = await self._run_lines(job, vendor, record, scope, duration)
        if stopped is not None:
            if stopped == "batch_cancelled" and job.vendor == "openai":
                job.stamp("cancelling")
                await asyncio.sleep(min(0.5, duration * _FINALIZING_SHARE))
            job.stamp("cancelled" if stopped == "batch_cancelled" else "expired")
            return
        job.stamp("finalizing")
        left = duration - (time.monotonic() - started)
        await asyncio.sleep(max(0.0, min(left, duration * _FINALIZING_SHARE)))
        job.stamp("completed")

    def _validate(self, job: BatchJob, vendor: VendorBatch, record: SimFile) -> int:
        """Count the lines, refusing the file at the first bad one (as the vendors do)."""
        seen: set[str] = set()
        count = 0
        for number, raw in self._lines(record):
            custom_id, _path, _body = vendor.parse_line(job, number, raw)
            if custom_id in seen:
                raise LineError(number, f"duplicate custom_id {custom_id!r}", "duplicate_custom_id")
            seen.add(custom_id)
            count += 1
        if count == 0:
            raise LineError(0, "the input file holds no requests", "empty_file")
        return count

    def _lines(self, record: SimFile) -> Iterator[tuple[int, bytes]]:
        with open(self.state.blobs.path(record.blob), "rb") as handle:
            for number, raw in enumerate(handle, start=1):
                if raw.strip():
                    yield number, raw

    @contextlib.contextmanager
    def _outputs(self, job: BatchJob, vendor: VendorBatch) -> Iterator[tuple[BinaryIO, BinaryIO]]:
        """The output and error files being written; registered when the block ends."""
        blobs = self.state.blobs
        names = (blobs.new_name("out-"), blobs.new_name("err-"))
        with blobs.writer(names[0]) as output, blobs.writer(names[1]) as errors:
            yield output, errors
        purpose = "batch_output"
        for index, name in enumerate(names):
            if blobs.size(name) == 0:
                blobs.delete(name)
                continue
            kind = "output" if index == 0 else "errors"
            record = self.add_file(
                job.vendor, f"{job.id.replace('/', '_')}_{kind}.jsonl", purpose, name
            )
            if index == 0:
                job.output_file_id = record.id
            else:
                job.error_file_id = record.id

    async def _run_lines(
        self,
        job: BatchJob,
        vendor: VendorBatch,
        record: SimFile,
        scope: dict[str, Any],
        duration: float,
    ) -> str | None:
        """Serve every line at an even pace; return None, or why the batch stopped early
        ("batch_cancelled", "batch_expired"), its unrun requests then reported as such."""
        ran: set[str] = set()
        phase = duration * (1 - _VALIDATING_SHARE - _FINALIZING_SHARE)
        start = time.monotonic()
        stop_after = job.total // 2 if job.fault in ("batch_expired", "batch_cancelled") else None
        slots = asyncio.Semaphore(LINE_CONCURRENCY)
        running: set[asyncio.Task] = set()
        stopped: str | None = None
        with self._outputs(job, vendor) as (output, errors):

            async def serve(custom_id: str, path: str, body: bytes) -> None:
                try:
                    status, rid, answer = await self._call(vendor, job, scope, path, body)
                    line, is_error = vendor.result_line(job, custom_id, status, rid, answer)
                    (errors if is_error else output).write(_jsonl(line))
                    if is_error or status != 200:
                        job.failed += 1
                    else:
                        job.completed += 1
                    self._count_line(job.vendor, "ok" if status == 200 else "error")
                finally:
                    slots.release()

            for index, (custom_id, path, body) in self._each_parsed(job, vendor, record):
                if stop_after is not None and index >= stop_after:
                    if job.fault == "batch_cancelled":
                        self.cancel(job)
                    else:
                        stopped = "batch_expired"
                if job.cancel_requested:
                    stopped = "batch_cancelled"
                if stopped is not None:
                    break
                due = start + phase * index / max(job.total, 1)
                await _pause(job, due - time.monotonic())
                if job.cancel_requested:
                    stopped = "batch_cancelled"
                    break
                await slots.acquire()
                ran.add(custom_id)
                task = asyncio.create_task(serve(custom_id, path, body))
                running.add(task)
                task.add_done_callback(running.discard)
            if running:
                await asyncio.gather(*running, return_exceptions=True)
            if stopped is not None:
                for _index, (custom_id, _path, _body) in self._each_parsed(job, vendor, record):
                    if custom_id not in ran:
                        line = vendor.unrun_line(job, custom_id, stopped)
                        if line is not None:
                            errors.write(_jsonl(line))
        return stopped

    def _each_parsed(
        self, job: BatchJob, vendor: VendorBatch, record: SimFile
    ) -> Iterator[tuple[int, tuple[str, str, bytes]]]:
        for index, (number, raw) in enumerate(self._lines(record)):
            yield index, vendor.parse_line(job, number, raw)

    def _count_line(self, vendor: str, outcome: str) -> None:
        with self._lock:
            self.lines[f"{vendor}:{outcome}"] += 1

    async def _call(
        self, vendor: VendorBatch, job: BatchJob, scope: dict[str, Any], path: str, body: bytes
    ) -> tuple[int, str, Any]:
        """Serve one line through its route, as an HTTP request would be served."""
        delivered = False

        async def receive() -> dict[str, Any]:
            nonlocal delivered
            if delivered:
                await asyncio.Event().wait()  # nothing more will come; never disconnects
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        line_scope = {
            **scope,
            "method": "POST",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "headers": [
                (b"authorization", b"Bearer sim"),
                (b"x-goog-api-key", b"sim"),
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
            BATCH_SCOPE_KEY: True,
        }
        handler, line_scope["path_params"] = vendor.route(job, path)
        request = Request(line_scope, receive)
        response = await handler(request)
        if isinstance(response, HoldResponse):
            response = response.final  # a stalled request: the batch records its timeout
        elif isinstance(response, DropResponse):
            response = vendor.server_error(500)  # a dropped connection: a failed request
        rid = response.headers.get("x-request-id") or request_id()
        try:
            answer = json.loads(bytes(response.body))
        except (AttributeError, ValueError):
            answer = {"error": {"message": "the route answered a stream", "code": "stream"}}
        return response.status_code, rid, answer


#: How often a batch waiting out its pace looks for a cancellation (seconds).
_CANCEL_CHECK_S = 0.05


async def _pause(job: BatchJob, seconds: float) -> None:
    """Wait ``seconds`` of a batch's pace, ending early when the batch is cancelled: a cancel
    stops it after the lines in progress, however long the batch was meant to take."""
    deadline = time.monotonic() + seconds
    while not job.cancel_requested and (left := deadline - time.monotonic()) > 0:
        await asyncio.sleep(min(left, _CANCEL_CHECK_S))


def _jsonl(line: dict[str, Any]) -> bytes:
    return json.dumps(line, separators=(",", ":")).encode() + b"\n"


def jobs_of(state: Any) -> BatchJobs:
    """The batch registry of a simulator's state (made on first use)."""
    if state.batch_jobs is None:
        state.batch_jobs = BatchJobs(state)
    return state.batch_jobs
