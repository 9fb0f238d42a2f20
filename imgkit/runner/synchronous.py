"""The synchronous executor: one request per generation to the services' synchronous endpoints.

Requests go out concurrently (asyncio), bounded by ``concurrency`` and by per-model rate limits
(:mod:`imgkit.runner.pacing`). Retry policy (lesson 99, "do not retry content policy errors ...
retry once on network failures"), applied per generation:

==========================  ===================================================================
content-policy refusal       recorded as ``refused``; never sent again, not even by a resume
429 rate limited             every request to that model waits out Retry-After, then it is sent
                             again (up to ``RetryPolicy.rate_limit_retries`` times)
5xx, timeout, dropped,       one more try after ``RetryPolicy.transient_delay_s``; a timeout or
refused connection           dropped connection may have been billed, so its estimate counts
                             as spent (ledger ``may_have_been_billed``); a connection never
                             made (refused, DNS, TLS) cannot have been, and does not
anything else                recorded as ``failed`` with the error's kind
==========================  ===================================================================

Each delay is a field of :class:`~imgkit.experiment.options.RetryPolicy`, so tests can set them
to zero.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from imgkit.errors import (
    ContentPolicyError,
    ProviderError,
    RateLimitedError,
    RunError,
)
from imgkit.runner.executor import ExecutionContext, image_record
from imgkit.runner.pacing import ModelGate, rate_limits_per_model, retry_after
from imgkit.runner.plan import Planned
from imgkit.runs.image_writer import ImageWriter
from imgkit.runs.ledger import PlannedGeneration
from imgkit.runs.ledger_writer import LedgerWriter
from imgkit.runs.storage import IMAGES_DIR

__all__ = ["SynchronousExecutor"]


class SynchronousExecutor:
    """Sends a set of planned generations through one ledger; one instance per session."""

    def __init__(
        self,
        context: ExecutionContext,
        providers: Mapping[str, Any],
        ledger_writer: LedgerWriter | None = None,
    ) -> None:
        self.context = context
        self.images = context.run_path / IMAGES_DIR
        self.ledger = context.ledger
        self.policy = context.options.retry
        self.providers = providers
        self.budget = context.budget
        self.progress = context.progress
        self.sem = asyncio.Semaphore(context.options.concurrency)
        self.gates = {
            m: ModelGate(r)
            for m, r in rate_limits_per_model(context.options, context.catalog).items()
        }
        # Ledger commits and image writes fsync. They run in worker threads so that the event
        # loop keeps other requests moving while the disk catches up: one thread for the ledger
        # (SQLite writes are serial anyway; the writes that arrive together share one commit),
        # one for images (those that arrive together share one fsync of their folder). A
        # session that runs batches beside this executor hands over the writer they share (one
        # writer per ledger).
        self._owns_writer = ledger_writer is None
        self.ledger_writer = ledger_writer or LedgerWriter(self.ledger)
        self.image_writer = ImageWriter(self.images)

    async def _io(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)``, a ledger write, once it is durable. A write that fails (a
        full disk, a lost volume) stops the run: :class:`_StorageFailed` ends the generation
        that met it."""
        try:
            return await self.ledger_writer.write(fn, *args, **kwargs)
        except (OSError, sqlite3.Error, RunError) as exc:
            cause = exc.__cause__ if isinstance(exc, RunError) else exc
            if not isinstance(cause, OSError | sqlite3.Error):
                raise
            self.context.storage_failed(cause)
            raise _StorageFailed from exc

    async def run(self, todo: Sequence[Planned], tries_so_far: Mapping[int, int]) -> None:
        tasks = [
            asyncio.create_task(self._generation(p, tries_so_far.get(p.generation.gen_id, 0)))
            for p in todo
        ]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            # Only after the ledger thread is idle: requests cut off by a cancellation (Ctrl-C)
            # may have reached the service; say so now rather than leave it to a resume.
            self.image_writer.close()
            # On a full disk this write may fail too: the attempts then stay "sending", which a
            # resume reads the same way.
            if self._owns_writer:
                self.ledger_writer.close()
                with contextlib.suppress(OSError, sqlite3.Error, RunError):
                    self._mark_cut_off()
            else:
                with contextlib.suppress(OSError, sqlite3.Error, RunError):
                    await self.ledger_writer.write(self._mark_cut_off)

    def _mark_cut_off(self) -> None:
        cut_off = [a["attempt_id"] for a in self.ledger.in_flight()]
        if cut_off:
            self.ledger.mark_interrupted(cut_off, "the runner was stopped mid-request")

    async def _generation(self, planned: Planned, previous_tries: int) -> None:
        """Make one generation; a storage failure (already reported) ends it quietly."""
        with contextlib.suppress(_StorageFailed):
            await self._decide(planned, previous_tries)

    async def _decide(self, planned: Planned, previous_tries: int) -> None:
        """Make one generation: send, and retry as the policy allows, until it is decided."""
        gen, request = planned.generation, planned.request
        gate = self.gates[gen.model]
        provider = self.providers[gen.provider]
        budget = self.budget
        try_number = previous_tries
        transient_left = self.policy.transient_retries
        rate_left = self.policy.rate_limit_retries
        not_before: float | None = None
        while True:
            first_cost = await budget.first_cost_turn(gen.arm)
            try:
                await gate.wait_turn()
                async with self.sem:
                    if self.context.stopping():
                        return
                    if gate.blocked_for() > 0:
                        continue  # a 429 arrived while we queued: wait it out with the others
                    reserve = budget.reservation(gen.arm, gen.estimated_usd)
                    if not budget.allows(reserve):
                        self.context.stop_for_budget()
                        return
                    try_number += 1
                    # Reserved until the cost is known (or known to be nothing).
                    budget.reserved += reserve
                    try:
                        attempt_id = await self._io(
                            self.ledger.begin_attempt,
                            gen.gen_id,
                            try_number,
                            estimated_usd=gen.estimated_usd,
                            not_before=not_before,
                        )
                        self.context.sent += 1
                        started = time.perf_counter()
                        try:
                            results, error = await self._send(provider, request), None
                        except _CutOff:
                            await self._cut_off(gen, attempt_id)
                            return
                        except Exception as exc:  # recorded below, whatever it is
                            results, error = None, exc
                        latency = time.perf_counter() - started
                        answered = time.time()
                    except BaseException:
                        budget.reserved -= reserve
                        raise
                # The request is over: its slot serves the next one while this one is written down.
                try:
                    if error is None:
                        await self._keep(gen, results or [], attempt_id, latency, answered)
                        return
                    retry_at = await self._record_failure(
                        gen, error, attempt_id, latency, answered, gate, transient_left, rate_left
                    )
                finally:
                    budget.reserved -= reserve
                if retry_at is None:
                    return
                if isinstance(error, RateLimitedError):
                    rate_left -= 1
                else:
                    transient_left -= 1
                not_before = retry_at
            finally:
                if first_cost is not None:
                    first_cost.release()
            wait = not_before - time.time()
            if wait > 0:
                await asyncio.sleep(wait)

    async def _send(self, provider: Any, request: Any) -> Any:
        """``provider.agenerate(request)``; after a stop (Ctrl-C, SIGTERM), given
        ``stop_grace_s`` more to finish, then cut off (:class:`_CutOff`). Its own total
        deadline (the provider's ``timeout_s``) bounds it otherwise."""
        task = asyncio.ensure_future(provider.agenerate(request))
        interrupt = self.context.interrupt
        try:
            while interrupt is None or not interrupt.is_set():
                done, _ = await asyncio.wait({task}, timeout=_STOP_POLL_S)
                if done:
                    return task.result()
            done, _ = await asyncio.wait({task}, timeout=self.context.options.stop_grace_s)
            if done:
                return task.result()
            raise _CutOff
        finally:
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    async def _cut_off(self, gen: PlannedGeneration, attempt_id: int) -> None:
        """A request still in flight when the stop's grace ran out: interrupted, and (having
        reached the service) counted as possibly billed."""
        grace = self.context.options.stop_grace_s
        self.context.stopping()  # the run ends "interrupted", whatever else was in flight
        await self._io(
            self.ledger.mark_interrupted,
            [attempt_id],
            f"still in flight {grace:g} s after the stop: cut off (it may have been billed)",
        )
        self.budget.presume_billed(gen.estimated_usd or 0.0)
        self.progress.update(gen.arm, "failed")

    async def _record_failure(
        self,
        gen: PlannedGeneration,
        error: Exception,
        attempt_id: int,
        latency: float,
        answered: float,
        gate: ModelGate,
        transient_left: int,
        rate_left: int,
    ) -> float | None:
        """Write down a failed attempt; return when it may be retried (epoch seconds), or None."""
        common = {"latency_s": latency, "ended_at": answered}
        if isinstance(error, ContentPolicyError):
            await self._io(
                self.ledger.finish_error,
                attempt_id,
                "refused",
                error_kind=error.kind,
                error_message=str(error.reason or error),
                error=error.to_dict(),
                request_id=error.request_id,
                **common,
            )
            self.progress.update(gen.arm, "refused")
            return None
        if not isinstance(error, ProviderError):
            # A bug (ours or a library's) must not lose the rest of the run.
            await self._io(
                self.ledger.finish_error,
                attempt_id,
                "failed",
                error_kind="internal_error",
                error_message=f"{type(error).__name__}: {error}",
                **common,
            )
            self.progress.update(gen.arm, "failed")
            return None
        delay: float | None = None
        if isinstance(error, RateLimitedError):
            if rate_left > 0:
                delay = retry_after(self.policy, error)
                # Everyone waiting on this model waits, not just this request.
                gate.block(delay)
        elif error.retry_same_provider and transient_left > 0:
            delay = self.policy.transient_delay_s
        # Counted from now, as the gate's pause is, not from the end of the commit below: the
        # retry's not_before is then when the requests held by the gate may go too.
        retry_at = None if delay is None else time.time() + delay
        # A request that timed out or lost its connection may have reached the service, which
        # then made (and billed) the image we never saw: count its estimate as spent, so the
        # retry cannot carry the run past its budget, and say so in the ledger. A connection
        # that was never made (refused, DNS, TLS) sent nothing and costs nothing.
        maybe_billed = error.may_have_been_billed
        await self._io(
            self.ledger.finish_error,
            attempt_id,
            "failed",
            error_kind=error.kind,
            error_message=str(error),
            error=error.to_dict(),
            request_id=error.request_id,
            will_retry=delay is not None,
            may_have_been_billed=maybe_billed,
            **common,
        )
        if maybe_billed:
            self.budget.presume_billed(gen.estimated_usd or 0.0)
        if delay is None:
            self.progress.update(gen.arm, "failed")
        return retry_at

    async def _keep(
        self,
        gen: PlannedGeneration,
        results: Sequence[Any],
        attempt_id: int,
        latency: float,
        answered: float,
    ) -> None:
        """Store the image durably, then commit the attempt as ok."""
        result = results[0] if results else None
        if result is None or not result.image_bytes:
            await self._io(
                self.ledger.finish_error,
                attempt_id,
                "failed",
                error_kind="no_image",
                error_message="the service answered without an image",
                latency_s=latency,
                ended_at=answered,
                request_id=getattr(result, "request_id", None),
            )
            self.progress.update(gen.arm, "failed")
            return
        # First let the ledger commit what is queued: at the least the sending row of the
        # request that took this one's slot, which waits on that commit to leave. This image's
        # fsyncs would otherwise compete with it for the disk, and the image has the whole of
        # that request's time to be stored.
        try:
            await self.ledger_writer.flush()
        except RunError as exc:
            # The group that held earlier writes failed (a full disk): this image cannot be
            # recorded either, so it is not stored, and the run stops.
            if not isinstance(exc.__cause__, OSError | sqlite3.Error):
                raise
            await self._not_stored(gen, result, attempt_id, latency, answered, exc.__cause__)
            return
        cost = result.cost_usd

        def make_record(sha: str, file_name: str) -> dict[str, Any]:
            return image_record(
                result,
                sha,
                file_name,
                cost_usd=cost,
                latency_s=result.latency_s if result.latency_s is not None else latency,
                ended_at=answered,
                simulated=result.simulated,
                metadata=result.metadata,
            )

        # Stored with the images that arrive with it (one fsync of the folder for them all),
        # and journalled: a kill before the commit below leaves an image a resume adopts.
        try:
            _sha, _path, record = await self.image_writer.keep(
                result.image_bytes, result.image_format, attempt_id, make_record
            )
        except OSError as exc:
            await self._not_stored(gen, result, attempt_id, latency, answered, exc)
            return
        await self._io(self.ledger.finish_ok, attempt_id, **record)
        self.image_writer.discard_journal(attempt_id)
        paid = cost if cost is not None else (gen.estimated_usd or 0.0)
        self.budget.paid(gen.arm, paid)
        self.progress.update(gen.arm, "ok", paid)

    async def _not_stored(
        self,
        gen: PlannedGeneration,
        result: Any,
        attempt_id: int,
        latency: float,
        answered: float,
        error: OSError | sqlite3.Error,
    ) -> None:
        """The image arrived (and was paid for) but could not be written: record it as such,
        so a resume says what it re-buys, and stop the run."""
        self.context.storage_failed(error)
        self.context.lost_images += 1
        await self._io(
            self.ledger.finish_error,
            attempt_id,
            "failed",
            error_kind="not_stored",
            error_message=f"received but could not be stored in {self.images}: {error}",
            latency_s=latency,
            ended_at=answered,
            request_id=result.request_id,
            may_have_been_billed=True,
        )
        paid = result.cost_usd if result.cost_usd is not None else (gen.estimated_usd or 0.0)
        self.budget.presume_billed(paid)
        self.context.lost_usd += paid
        self.progress.update(gen.arm, "failed")


#: How often a request in flight looks for a stop (seconds).
_STOP_POLL_S = 0.1


class _CutOff(Exception):
    """A request in flight past the stop's grace, cancelled."""


class _StorageFailed(Exception):
    """Raised out of a generation whose ledger write failed; the context has the details."""
