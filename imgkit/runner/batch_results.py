"""Reading a finished batch's result files into the ledger, line by line.

A result file can be large (base64 images in JSONL), so it is streamed to disk by the vendor's
client and read here one line at a time, a few lines in parallel: memory holds those few lines,
whatever the batch's size. Each line is mapped back to its attempt by ``custom_id`` (the
attempt id) and read by the provider exactly as a synchronous answer is, so an image, its
revised prompt, usage, cost and errors land in the run folder as a synchronous generation's do:
the image stored durably first, then its attempt committed ``ok``. The cost is the synchronous
cost of what the vendor reports (its ``usage``, or the catalog's estimate) times the batch's
price ratio; the synchronous figure stays in the attempt's metadata (``batch.synchronous_usd``).

Lines whose attempt is already decided are passed over, so reading a file again after a kill
records only what the first reading had not. Lines that are not JSON, or name no request of
the batch, are counted (:attr:`ResultReader.unreadable`) for the runner to say so; the requests
they may have been meant for are then recorded as without an answer. A line the vendor
answered (200) whose body cannot be read was billed all the same: its outcome says so.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imgkit.catalog.validation import ImageRequest
from imgkit.errors import ContentPolicyError, NoImageError, ProviderError, RateLimitedError
from imgkit.providers.batching import BatchClient
from imgkit.runner.executor import image_record
from imgkit.runs.storage import store_image

__all__ = ["LineOutcome", "ResultReader", "is_retryable"]

#: Lines read at once (parsing, decoding and storing run in worker threads).
LINES_AT_ONCE = 4

#: What :meth:`ResultReader._line` returns for a line that is not one of the batch's answers.
_UNREADABLE = "unreadable"


def is_retryable(error: BaseException) -> bool:
    """Whether a request that failed this way may succeed in a later batch."""
    return isinstance(error, ProviderError) and (
        isinstance(error, RateLimitedError) or error.retry_same_provider
    )


@dataclass
class LineOutcome:
    """What one result line became: an ok record (image stored) or an error."""

    attempt: dict[str, Any]
    record: dict[str, Any] | None = None
    error: BaseException | None = None
    synchronous_usd: float | None = None
    #: the vendor answered (and billed) the request, though no image could be read from it
    billed: bool = False


class ResultReader:
    """Reads the result files of one batch; ``decide`` records each outcome (the executor's)."""

    def __init__(
        self,
        client: BatchClient,
        images: Path,
        image_io: ThreadPoolExecutor,
        batch: Mapping[str, Any],
        ratio: Callable[[dict[str, Any], ImageRequest], float],
        simulated: bool,
        request_of: Callable[[dict[str, Any]], ImageRequest],
    ) -> None:
        self.client = client
        self.images = images
        self.image_io = image_io
        self.batch = batch
        self.ratio = ratio
        self.simulated = simulated
        self.request_of = request_of
        #: lines read so far that are not JSON or name no request of the batch
        self.unreadable = 0

    async def read(
        self,
        path: Path,
        pending: dict[str, dict[str, Any]],
        decide: Callable[[LineOutcome], Awaitable[None]],
        known: set[str] | frozenset[str] = frozenset(),
    ) -> None:
        """Read every line of ``path``; each line whose attempt is in ``pending`` (by custom
        id) is taken out of it and handed to ``decide``; a line naming none of ``known`` (the
        custom ids of every request of the batch) or not JSON is counted as unreadable. An
        OSError storing an image stops the reading (the caller treats it as a full disk) after
        the lines in progress."""
        loop = asyncio.get_running_loop()
        slots = asyncio.Semaphore(LINES_AT_ONCE)
        running: set[asyncio.Task] = set()
        failure: list[BaseException] = []

        async def one(raw: bytes) -> None:
            try:
                outcome = await loop.run_in_executor(self.image_io, self._line, raw, pending, known)
                if outcome == _UNREADABLE:
                    self.unreadable += 1
                elif isinstance(outcome, LineOutcome):
                    await decide(outcome)
            except BaseException as exc:  # re-raised once the lines in progress are done
                failure.append(exc)
            finally:
                slots.release()

        with open(path, "rb") as handle:
            for raw in handle:
                if failure:
                    break
                if not raw.strip():
                    continue
                await slots.acquire()
                task = asyncio.create_task(one(raw))
                running.add(task)
                task.add_done_callback(running.discard)
        if running:
            await asyncio.gather(*running, return_exceptions=True)
        if failure:
            raise failure[0]

    def _line(
        self, raw: bytes, pending: dict[str, dict[str, Any]], known: set[str] | frozenset[str]
    ) -> LineOutcome | str | None:
        """In a worker thread: parse a line, read its answer, store its image."""
        try:
            line = self.client.parse_line(raw)
        except (ValueError, TypeError, AttributeError):
            return _UNREADABLE  # torn or foreign: its request stays open
        attempt = pending.pop(line.custom_id, None)
        if attempt is None:
            # Recorded already (a file read again after a kill, a line twice), or not ours.
            return None if line.custom_id in known else _UNREADABLE
        request = self.request_of(attempt)
        # An answer the vendor gave (200) is billed even when it cannot be read; a refusal or
        # an answer without an image is what a synchronous request would record too.
        answered = line.status_code == 200
        try:
            results = self.client.results(request, line)
        except (ContentPolicyError, NoImageError) as exc:
            return LineOutcome(attempt, error=exc)
        except ProviderError as exc:
            return LineOutcome(attempt, error=exc, billed=answered)
        except Exception as exc:  # a bug (ours or a library's) must not lose the batch
            return LineOutcome(attempt, error=exc, billed=answered)
        result = results[0] if results else None
        if result is None or not result.image_bytes:
            return LineOutcome(
                attempt,
                error=NoImageError(
                    "the service answered without an image",
                    code="no_image",
                    request_id=line.request_id,
                ),
            )
        try:
            sha, stored = store_image(self.images, result.image_bytes, result.image_format)
        except OSError:
            pending[line.custom_id] = attempt  # not recorded: a resume reads it again
            raise
        ratio = self.ratio(attempt, request)
        cost = None if result.cost_usd is None else result.cost_usd * ratio
        metadata = dict(result.metadata or {})
        metadata["batch"] = {
            "batch_key": self.batch["batch_key"],
            "batch_id": self.batch.get("batch_id"),
            "price_ratio": ratio,
            "synchronous_usd": result.cost_usd,
        }
        record = image_record(
            result,
            sha,
            stored.name,
            cost_usd=cost,
            # No latency of its own: the vendor ran it at some moment within the batch.
            latency_s=None,
            ended_at=time.time(),
            simulated=result.simulated or self.simulated,
            metadata=metadata,
        )
        return LineOutcome(attempt, record=record, synchronous_usd=result.cost_usd)
