"""What a finished batch made, recorded in the ledger: every request's outcome, what goes again.

The batch executor (:mod:`imgkit.runner.batch`) follows a batch to its end, then
:class:`OutcomeRecorder` (mixed into it) collects it: its result files are downloaded (streamed
to disk) and read line by line (:mod:`imgkit.runner.batch_results`), each outcome committed to
its attempt (an image stored durably first, as in a synchronous run), and the requests with no
line recorded from the batch's end state (expired, cancelled, refused). A request that failed in
a way a later try may not meet (a 5xx, a 429, an expiry) is returned to be sent again, while the
retry policy allows. Then the batch is ``collected`` and its files, here and at the vendor,
removed.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from imgkit.catalog.batch import batch_ratio
from imgkit.catalog.validation import ImageRequest
from imgkit.errors import BatchNotRunError, ContentPolicyError, ProviderError, ServerError
from imgkit.providers.batching import BatchClient, BatchState
from imgkit.runner.batch_results import LineOutcome, ResultReader, is_retryable
from imgkit.runner.executor import ExecutionContext
from imgkit.runner.plan import Planned
from imgkit.runner.progress import BatchBars
from imgkit.runs.ledger import Ledger, PlannedGeneration

__all__ = ["BatchDetached", "OutcomeRecorder", "file_stem", "not_run"]

T = TypeVar("T")


class BatchDetached(Exception):
    """Stop following a batch in this session; it stays open for a resume."""


class OutcomeRecorder:
    """The collecting half of :class:`imgkit.runner.batch.BatchExecutor` (mixed into it)."""

    # Provided by the executor.
    context: ExecutionContext
    ledger: Ledger
    folder: Path
    images: Path
    image_io: ThreadPoolExecutor
    bars: BatchBars
    cancel_all: bool
    _plan: dict[int, PlannedGeneration]
    _ratios: dict[str, float]
    _reserved: dict[str, float]
    _retries_left: dict[int, int]

    async def _write(self, method: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        raise NotImplementedError  # pragma: no cover - the executor's

    async def _read(self, method: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        raise NotImplementedError  # pragma: no cover - the executor's

    async def _control(self, call: Callable[[], Awaitable[T]], row: Mapping[str, Any]) -> T:
        raise NotImplementedError  # pragma: no cover - the executor's

    async def _collect(
        self, row: dict[str, Any], client: BatchClient, state: BatchState
    ) -> list[Planned]:
        """Record every request of a finished batch; return those to send again."""
        key = row["batch_key"]
        attempts = await self._read(self.ledger.batch_attempts, key, pending_only=False)
        # Every request of the batch by custom id: a line naming none of them is not ours.
        known = {str(a["attempt_id"]) for a in attempts}
        pending = {str(a["attempt_id"]): a for a in attempts if a["status"] == "sending"}
        del attempts
        again: list[Planned] = []
        reader = ResultReader(
            client,
            self.images,
            self.image_io,
            {**row, "batch_id": state.batch_id},
            self._ratio,
            self.context.options.backend == "sim",
            lambda attempt: ImageRequest(**self._plan[attempt["gen_id"]].request),
        )

        made = [0, 0]  # ok, not ok: what the bar shows when the vendor gives no counts

        async def decide(outcome: LineOutcome) -> None:
            made[outcome.record is None] += 1
            planned = await self._decide(outcome)
            if planned is not None:
                again.append(planned)

        stem = file_stem(key)
        for kind, file_id in (("output", state.output_file), ("errors", state.error_file)):
            if not file_id or not pending:
                continue
            path = self.folder / f"{stem}.{kind}.jsonl"
            try:
                if not path.exists():
                    # Streamed to disk: a full disk fails here, the batch stays open for a
                    # resume (the vendor keeps its result file), nothing is recorded wrong.
                    await self._control(lambda f=file_id, p=path: client.download(f, p), row)
                await reader.read(path, pending, decide, known)
            except OSError as exc:
                self.context.storage_failed(exc)
                raise BatchDetached from exc
        if reader.unreadable:
            self.context.log(
                f"imgkit drill: batch {key}: {reader.unreadable} line(s) of its result files "
                "could not be read (not JSON, or naming none of its requests); they are "
                "passed over, and a request left without an answer is recorded as such"
            )
        self._say_ended(row, state, len(pending))
        for attempt in list(pending.values()):
            planned = await self._decide(LineOutcome(attempt, error=not_run(state, row)))
            if planned is not None:
                again.append(planned)
        await self._write(self.ledger.update_batch, key, status="collected", ended_at=time.time())
        self.context.budget.reserved -= self._reserved.pop(key, 0.0)
        if state.completed is None:
            self.bars.update(key, state.status, made[0], made[1])
        await self._clean_up(row, client, state)
        return again

    def _say_ended(self, row: Mapping[str, Any], state: BatchState, never_ran: int) -> None:
        """Say why a batch ended without running all its requests (failed validation, expired,
        or cancelled by someone else), and what becomes of them."""
        name = f"batch {row['batch_key']} ({row['model']})"
        if state.status == "failed":
            self.context.log(
                f"imgkit drill: {name} failed at the vendor: {state.error_text()}; its "
                f"{never_ran} request(s) never ran (not billed) and are recorded as failed"
            )
        elif state.status == "expired":
            self.context.log(
                f"imgkit drill: {name} expired at the vendor before it ran {never_ran} "
                "request(s) (not billed); what it made is kept"
            )
        elif state.status == "cancelled" and not self.cancel_all:
            self.context.log(
                f"imgkit drill: {name} was cancelled at the vendor before it ran {never_ran} "
                f"request(s) (not billed); what it made is kept, and `imgkit drill --resume "
                f"{self.context.run_path}` sends the rest again after saying what that costs"
            )

    async def _decide(self, outcome: LineOutcome) -> Planned | None:
        """Commit one request's outcome; return it to send again when it may succeed later."""
        attempt = outcome.attempt
        gen = self._plan[attempt["gen_id"]]
        progress = self.context.progress
        if outcome.record is not None:
            await self._write(self.ledger.finish_ok, attempt["attempt_id"], **outcome.record)
            cost = outcome.record["cost_usd"]
            paid = cost if cost is not None else (attempt["estimated_usd"] or 0.0)
            self.context.budget.paid(gen.arm, paid)
            progress.update(gen.arm, "ok", paid)
            return None
        error = outcome.error
        common = {"ended_at": time.time()}
        if isinstance(error, ContentPolicyError):
            await self._write(
                self.ledger.finish_error,
                attempt["attempt_id"],
                "refused",
                error_kind=error.kind,
                error_message=str(error.reason or error),
                error=error.to_dict(),
                request_id=error.request_id,
                **common,
            )
            progress.update(gen.arm, "refused")
            return None
        retry = (
            is_retryable(error)
            and not self.cancel_all
            and self._retries_left.get(gen.gen_id, self.context.options.retry.transient_retries) > 0
        )
        if isinstance(error, ProviderError):
            fields = {
                "error_kind": error.kind,
                "error_message": str(error),
                "error": error.to_dict(),
                "request_id": error.request_id,
            }
        else:
            fields = {
                "error_kind": "internal_error",
                "error_message": f"{type(error).__name__}: {error}",
            }
        await self._write(
            self.ledger.finish_error,
            attempt["attempt_id"],
            "failed",
            will_retry=retry,
            may_have_been_billed=outcome.billed,
            **fields,
            **common,
        )
        if outcome.billed:
            # Answered, so billed, but unreadable: counted as spent, as a synchronous request
            # that may have been billed is, so that sending it again stays within the budget.
            self.context.budget.presume_billed(attempt["estimated_usd"] or 0.0)
        if not retry:
            progress.update(gen.arm, "failed")
            return None
        self._retries_left[gen.gen_id] = (
            self._retries_left.get(gen.gen_id, self.context.options.retry.transient_retries) - 1
        )
        return Planned(gen, ImageRequest(**gen.request))

    def _ratio(self, attempt: dict[str, Any], request: ImageRequest) -> float:
        arm = attempt["arm"]
        if arm not in self._ratios:
            self._ratios[arm] = batch_ratio(request, self.context.catalog)
        return self._ratios[arm]

    async def _clean_up(self, row: dict[str, Any], client: BatchClient, state: BatchState) -> None:
        """The batch is recorded: its files, here and at the vendor, are no longer needed."""
        for path in self.folder.glob(f"{file_stem(row['batch_key'])}.*"):
            with contextlib.suppress(OSError):
                path.unlink()
        for file_id in (row.get("input_file_id"), state.output_file, state.error_file):
            if file_id:
                with contextlib.suppress(ProviderError):
                    await client.delete_file(file_id)

    async def _never_sent(self, row: dict[str, Any], kind: str, why: str) -> None:
        """A batch that was never created: its requests were never sent (nor billed)."""
        attempts = await self._read(self.ledger.batch_attempts, row["batch_key"])
        error = BatchNotRunError(f"the batch was {why}", kind=kind, provider=row["provider"])
        for attempt in attempts:
            await self._decide(LineOutcome(attempt, error=error))
        await self._write(
            self.ledger.update_batch, row["batch_key"], status="collected", ended_at=time.time()
        )
        self.context.budget.reserved -= self._reserved.pop(row["batch_key"], 0.0)

    async def _refused(self, row: dict[str, Any], error: ProviderError) -> None:
        """The vendor refused to create the batch (a 4xx): every request fails that way."""
        self.context.log(f"imgkit drill: the vendor refused batch {row['batch_key']}: {error}")
        attempts = await self._read(self.ledger.batch_attempts, row["batch_key"])
        for attempt in attempts:
            await self._decide(LineOutcome(attempt, error=error))
        await self._write(
            self.ledger.update_batch, row["batch_key"], status="collected", ended_at=time.time()
        )
        self.context.budget.reserved -= self._reserved.pop(row["batch_key"], 0.0)

    async def _lost(self, row: Mapping[str, Any], error: ProviderError) -> list[Planned]:
        """The vendor does not know the batch (an embedded simulator that was restarted, or a
        batch deleted by hand): its requests are recorded as failed, to be sent again (they
        are returned)."""
        self.context.log(
            f"imgkit drill: the vendor no longer knows batch {row['batch_key']} ({error}); its "
            "requests are recorded as failed and a resume sends them again"
        )
        lost = ServerError(
            f"the vendor no longer knows batch {row.get('batch_id') or row['batch_key']}",
            provider=row["provider"],
            code="batch_lost",
        )
        attempts = await self._read(self.ledger.batch_attempts, row["batch_key"])
        again = []
        for attempt in attempts:
            planned = await self._decide(LineOutcome(attempt, error=lost))
            if planned is not None:
                again.append(planned)
        await self._write(self.ledger.update_batch, row["batch_key"], status="lost")
        self.context.budget.reserved -= self._reserved.pop(row["batch_key"], 0.0)
        return again


def file_stem(key: str) -> str:
    """A batch key as a file name."""
    return key.replace(":", "_").replace("/", "_")


def not_run(state: BatchState, row: Mapping[str, Any]) -> ProviderError:
    """The error of a request a finished batch has no line for."""
    fields = {"provider": row["provider"], "model": row["model"]}
    if state.status == "expired":
        return BatchNotRunError(
            "the batch's completion window passed before this request ran",
            kind="batch_expired",
            code="batch_expired",
            **fields,
        )
    if state.status == "cancelled":
        return BatchNotRunError(
            "the batch was cancelled before this request ran",
            kind="batch_cancelled",
            code="batch_cancelled",
            **fields,
        )
    if state.status == "failed":
        return BatchNotRunError(
            f"the vendor refused the batch: {state.error_text()}",
            kind="batch_failed",
            code="batch_failed",
            **fields,
        )
    return ServerError(
        "the batch completed without an answer for this request", code="no_result", **fields
    )
