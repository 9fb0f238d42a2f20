"""The batch executor: a drill's requests sent through the vendors' Batch APIs.

The requests of the arms that go by batch (:mod:`imgkit.runner.batching`) are grouped per
provider, model and endpoint, cut at the vendor's limits of one input file, and each chunk
becomes one batch: its record and one ``sending`` attempt per request committed together, the
input file written and uploaded, the batch created with its key as tag, then polled (status and
counts on a progress bar) until it ends, and its result files read into the ledger
(:mod:`imgkit.runner.batch_results`) exactly as synchronous answers would be. Requests that
failed in a way a later batch may not meet (a 5xx, a 429, an expiry) are sent again in a new
batch, as many times as the retry policy's ``transient_retries`` allows.

Crash safety is the ledger's protocol for batches (:mod:`imgkit.runs.ledger_batches`): the batch
is on record before anything reaches the vendor, ``creating`` before the vendor is asked, its id
as soon as it is known; a resume re-attaches to every batch not yet collected and, for one that
was being created, looks among the account's recent batches for its tag before creating it, so
a kill at any instant never makes a batch twice and never loses one.

Stopping: the first Ctrl-C (or ``stop``) sends nothing more and leaves the batches running at
the vendor (they are paid for and will finish; ``imgkit drill --resume`` collects them); the
second cancels them at the vendor, waits a while for the cancellation to land and records what
was already made (and billed). ``imgkit batch cancel RUN`` does the same for a run no runner
holds (:mod:`imgkit.runner.batch_control`).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sqlite3
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from imgkit.catalog.batch import batch_terms
from imgkit.catalog.validation import ImageRequest
from imgkit.errors import (
    InvalidRequestError,
    ProviderError,
    RunError,
)
from imgkit.providers.batching import BatchClient, BatchState, batch_client
from imgkit.runner.batch_outcomes import BatchDetached, OutcomeRecorder, file_stem
from imgkit.runner.batch_results import is_retryable
from imgkit.runner.batching import BatchRoutes, chunk_generations
from imgkit.runner.executor import ExecutionContext
from imgkit.runner.plan import Planned
from imgkit.runner.progress import BatchBars
from imgkit.runs.ledger import PlannedGeneration
from imgkit.runs.ledger_writer import LedgerWriter
from imgkit.runs.storage import IMAGES_DIR

__all__ = ["BATCHES_DIR", "BatchExecutor", "BatchPolicy"]

T = TypeVar("T")

#: The folder of a run that holds batch input and result files while a batch is open.
BATCHES_DIR = "batches"


@dataclass(frozen=True)
class BatchPolicy:
    """How often a batch is looked at, and how long a cancellation is waited for (seconds)."""

    #: first wait between two status checks; it grows by half each time, up to max_poll_s
    poll_s: float = 10.0
    max_poll_s: float = 120.0
    #: after cancelling (second Ctrl-C, ``imgkit batch cancel``): how long to wait for the
    #: vendor to finish cancelling and hand over what it had made
    cancel_wait_s: float = 600.0
    #: tries of a control call (upload, create, status, download) that fails transiently
    control_tries: int = 4
    #: after a first Ctrl-C: how long the batches are still followed (and collected, if they
    #: end) before the run leaves them to the vendor; a second Ctrl-C meanwhile cancels them
    detach_grace_s: float = 10.0

    @classmethod
    def for_backend(cls, backend: str) -> BatchPolicy:
        """The simulator answers in seconds, the vendors in minutes to hours."""
        if backend == "sim":
            return cls(poll_s=0.1, max_poll_s=1.0, cancel_wait_s=30.0, detach_grace_s=3.0)
        return cls()


class _Lost(Exception):
    """The vendor does not know the batch (404)."""

    def __init__(self, error: ProviderError) -> None:
        super().__init__(str(error))
        self.error = error


class BatchExecutor(OutcomeRecorder):
    """Sends a session's batch generations and follows every open batch of the run."""

    def __init__(
        self,
        context: ExecutionContext,
        providers: Mapping[str, Any],
        routes: BatchRoutes,
        *,
        run_id: str,
        ledger_writer: LedgerWriter,
        policy: BatchPolicy | None = None,
        cancel: bool = False,
        plan: Sequence[PlannedGeneration] | None = None,
    ) -> None:
        self.context = context
        self.ledger = context.ledger
        self.providers = providers
        self.routes = routes
        self.run_id = run_id
        self.writer = ledger_writer
        self.policy = policy or BatchPolicy.for_backend(context.options.backend)
        #: cancel every open batch at the vendor (imgkit batch cancel, or a second Ctrl-C)
        self.cancel_all = cancel
        self.folder = context.run_path / BATCHES_DIR
        self.images = context.run_path / IMAGES_DIR
        self.bars = BatchBars(bool(context.progress.bars), position=len(context.progress.bars))
        self.image_io = ThreadPoolExecutor(4, thread_name_prefix="imgkit-batch")
        self._clients: dict[str, BatchClient] = {}
        self._reserved: dict[str, float] = {}
        self._retries_left: dict[int, int] = {}
        # Every generation of the run, by id: a batch's requests are read from here (one copy
        # of the plan, however many batches and rounds).
        self._plan: dict[int, PlannedGeneration] = {g.gen_id: g for g in plan or ()}
        self._ratios: dict[str, float] = dict(routes.ratios)
        self._detached_said = False
        self._interrupted_at: float | None = None
        self._serial = 0
        # Set when this session gives up on its own requests mid-call (second Ctrl-C): a
        # create it sent may still land at the vendor after a look finds nothing.
        self._create_may_be_in_flight = False

    # -- the session -----------------------------------------------------------------------

    async def run(self, todo: Sequence[Planned], tries_so_far: Mapping[int, int]) -> None:
        """Re-attach to the run's open batches, send ``todo`` in new ones, follow them all."""
        tries = dict(tries_so_far)
        followers: list[asyncio.Task] = []
        try:
            self.folder.mkdir(exist_ok=True)
            if not self._plan:
                self._plan = {g.gen_id: g for g in await self._read(self.ledger.plan)}
            opened = await self._read(self.ledger.batches, open_only=True)
            self._serial = len(await self._read(self.ledger.batches))
            # What these batches may still cost is held, as for requests in flight: their
            # requests not yet recorded (those recorded before a kill are spent already).
            unrecorded: dict[str, float] = {}
            for attempt in await self._read(self.ledger.in_batches):
                key = attempt["batch_key"]
                unrecorded[key] = unrecorded.get(key, 0.0) + (attempt["estimated_usd"] or 0.0)
            for row in opened:
                self._reserved[row["batch_key"]] = unrecorded.get(row["batch_key"], 0.0)
                self.context.budget.reserved += unrecorded.get(row["batch_key"], 0.0)
                self.bars.add(row["batch_key"], self._label(row), row["requests"])
                followers.append(asyncio.create_task(self._follow(row["batch_key"])))
            round_number = 1 + max((row["round"] for row in opened), default=0)
            batch = list(todo)
            while True:
                for key in await self._submit(batch, tries, round_number):
                    followers.append(asyncio.create_task(self._follow(key)))
                again: list[Planned] = []
                outcomes = await asyncio.gather(*followers, return_exceptions=True)
                followers = []
                # A follower's failure (a bug) must not orphan the others: all have ended.
                failures = [o for o in outcomes if isinstance(o, BaseException)]
                if failures:
                    raise failures[0]
                for retry in outcomes:
                    again += retry
                if not again or self.cancel_all or self.context.stopping():
                    break
                estimate = sum(p.generation.estimated_usd or 0.0 for p in again)
                self.context.log(
                    f"imgkit drill: sending again in a new batch {len(again)} request(s) that "
                    f"failed in a way a later try may not (estimated ${estimate:.4f})"
                )
                batch, round_number = again, round_number + 1
        except asyncio.CancelledError:
            # The second Ctrl-C: cancel the batches at the vendor, keep what they made.
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            for follower in followers:
                follower.cancel()
            await asyncio.gather(*followers, return_exceptions=True)
            await self._abandon()
            raise
        finally:
            self.bars.close()
            self.image_io.shutdown(wait=True)

    async def _abandon(self) -> None:
        """Cancel every open batch at the vendor and wait (a while) to record what it made."""
        self.cancel_all = True
        self._create_may_be_in_flight = True
        self.context.stop_reason = "cancelled"
        rows = await self._read(self.ledger.batches, open_only=True)
        if not rows:
            return
        self.context.log(f"imgkit drill: cancelling {len(rows)} batch(es) at the vendor")
        try:
            await asyncio.wait_for(
                asyncio.gather(*(self._follow(row["batch_key"]) for row in rows)),
                self.policy.cancel_wait_s,
            )
        except TimeoutError:
            self.context.log(
                f"imgkit drill: the vendor is still cancelling; `imgkit batch status "
                f"{self.context.run_path}` follows it and `imgkit drill --resume` records "
                "what it made"
            )

    # -- sending -----------------------------------------------------------------------------

    def _client(self, provider: str) -> BatchClient:
        client = self._clients.get(provider)
        if client is None:
            client = self._clients[provider] = batch_client(self.providers[provider])
        return client

    async def _submit(
        self, todo: Sequence[Planned], tries: dict[int, int], round_number: int
    ) -> list[str]:
        """Record one batch per chunk of ``todo`` (with its attempts); return their keys."""
        if not todo or self.cancel_all:
            return []

        def group(p: Planned) -> tuple[str, ...]:
            g = p.generation
            return (g.provider, g.model, g.endpoint)

        def line_size(p: Planned) -> int:
            return len(self._client(p.generation.provider).request_line("0" * 12, p.request))

        def terms(key: tuple[str, ...]) -> Any:
            return batch_terms(key[0], self.context.catalog)

        chunks = chunk_generations(
            todo,
            group,
            line_size,
            max_requests=lambda key: terms(key).max_requests,
            max_bytes=lambda key: terms(key).max_bytes,
        )
        keys = []
        budget = self.context.budget
        for (provider, model, endpoint), members in chunks:
            if self.context.stopping():
                break
            fitted, reserve = [], 0.0
            for p in members:
                each = p.generation.estimated_usd or 0.0
                if not budget.allows(reserve + each):
                    self.context.stop_for_budget()
                    break
                fitted.append(p)
                reserve += each
            if not fitted:
                break
            self._serial += 1
            key = f"imgkit:{self.run_id[:48]}:b{self._serial}:{secrets.token_hex(4)}"
            rows = [
                (
                    p.generation.gen_id,
                    tries.get(p.generation.gen_id, 0) + 1,
                    p.generation.estimated_usd,
                )
                for p in fitted
            ]
            await self._write(
                self.ledger.begin_batch,
                key,
                provider=provider,
                endpoint=endpoint,
                model=model,
                round_number=round_number,
                requests=rows,
                estimated_usd=reserve,
            )
            budget.reserved += reserve
            self._reserved[key] = reserve
            for p in fitted:
                gen_id = p.generation.gen_id
                tries[gen_id] = tries.get(gen_id, 0) + 1
                self._retries_left.setdefault(gen_id, self.context.options.retry.transient_retries)
            self.context.sent += len(fitted)
            self.bars.add(key, f"batch {self._serial} {model} ({endpoint})", len(fitted))
            keys.append(key)
        return keys

    # -- following a batch -----------------------------------------------------------------

    async def _follow(self, key: str) -> list[Planned]:
        """Take one batch from wherever its record says to its collection; return the
        generations to send again. A batch this session cannot finish stays open."""
        row = await self._row(key)
        try:
            client = self._client(row["provider"])
            state = await self._created(row, client)
            if state is None:
                return []
            state = await self._wait(row, client, state)
            return await self._collect(row, client, state)
        except _Lost as lost:
            if self.context.options.backend == "live" and not self.cancel_all:
                # A vendor does not lose a batch it created: a 404 says this key or project
                # cannot see it, while it runs (and is billed) under the one that created it.
                # Buying its requests again would pay twice: it stays open.
                self.context.log(
                    f"imgkit drill: the vendor does not know batch {row['batch_key']} "
                    f"({row['batch_id']}: {lost.error}); it was created under another API key "
                    "or project, where it may run and be billed, so it stays open: resume with "
                    f"the key that created it, or give it up with `imgkit batch cancel "
                    f"{self.context.run_path}` (a resume then sends its requests again)"
                )
                return []
            try:
                return await self._lost(row, lost.error)
            except BatchDetached:
                return []
        except BatchDetached:
            self._say_detached()
            return []

    async def _row(self, key: str) -> dict[str, Any]:
        rows = await self._read(self.ledger.batches)
        return next(row for row in rows if row["batch_key"] == key)

    async def _created(self, row: dict[str, Any], client: BatchClient) -> BatchState | None:
        """The batch at the vendor: uploaded and created if need be, found if its creation
        may have landed, or None when it never will (recorded as such)."""
        key = row["batch_key"]
        if row["batch_id"]:
            return await self._control(lambda: client.retrieve(row["batch_id"]), row)
        if row["status"] == "creating":
            # A runner was asking the vendor to create it when it died: look before creating.
            found = await self._control(lambda: client.find(key, since=row["created_at"]), row)
            if found is not None:
                self.context.log(f"imgkit drill: batch {key} was created before the cut: kept")
                await self._submitted(row, found)
                return found
        if self.cancel_all:
            if row["status"] == "creating" and self._create_may_be_in_flight:
                # Cut off while asking the vendor: the batch may yet appear. Left for a resume
                # or `imgkit batch cancel`, which look for it again.
                raise BatchDetached
            await self._never_sent(row, "batch_cancelled", "cancelled before it was sent")
            return None
        if self.context.stopping() and self.context.stop_reason != "budget":
            raise BatchDetached  # asked to send nothing more: a resume sends it
        if not row["input_file_id"]:
            try:
                path = await self._write_input(row, client)
            except OSError as exc:  # a full disk: stop as for any write the run cannot make
                self.context.storage_failed(exc)
                raise BatchDetached from exc
            name = path.name
            file_id = await self._control(lambda: client.upload(path, name), row)
            await self._write(
                self.ledger.update_batch, key, status="uploaded", input_file_id=file_id
            )
            row["input_file_id"], row["status"] = file_id, "uploaded"
        self._check_detach()
        endpoint = await self._endpoint(row, client)
        await self._write(self.ledger.update_batch, key, status="creating")
        last: ProviderError | None = None
        for attempt in range(self.policy.control_tries):
            if attempt:
                await self._pause(self.policy.poll_s * 2**attempt)
            try:
                state = await client.create(
                    input_file=row["input_file_id"],
                    endpoint=endpoint,
                    model=row["model"],
                    tag=key,
                    run_id=self.run_id,
                )
            except ProviderError as exc:
                if not is_retryable(exc) and not exc.may_have_been_billed:
                    await self._refused(row, exc)
                    return None
                last = exc
                # The answer was lost or an error, but the batch may exist: look before retrying.
                found = await self._control(lambda: client.find(key, since=row["created_at"]), row)
                if found is not None:
                    state = found
                else:
                    continue
            await self._submitted(row, state)
            return state
        self.context.log(f"imgkit drill: could not create batch {key}: {last}; a resume retries")
        raise BatchDetached

    async def _endpoint(self, row: dict[str, Any], client: BatchClient) -> str:
        """The vendor's name for the batch's endpoint (from one of its requests)."""
        [first] = await self._read(
            self.ledger.batch_attempts, row["batch_key"], pending_only=False, limit=1
        )
        return client.batch_endpoint(self._request(first))

    def _request(self, attempt: Mapping[str, Any]) -> ImageRequest:
        return ImageRequest(**self._plan[attempt["gen_id"]].request)

    async def _write_input(self, row: dict[str, Any], client: BatchClient) -> Path:
        """Write the batch's input file from its attempts (rebuilt the same after a kill)."""
        attempts = await self._read(self.ledger.batch_attempts, row["batch_key"])
        path = self.folder / f"{file_stem(row['batch_key'])}.input.jsonl"

        def write() -> None:
            partial = path.with_name(path.name + ".part")
            # Never through a link left in the run folder (issue 27): it could lead out of it.
            flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
            with os.fdopen(os.open(partial, flags, 0o644), "wb") as handle:
                for attempt in attempts:
                    line = client.request_line(str(attempt["attempt_id"]), self._request(attempt))
                    handle.write(line)
            partial.replace(path)

        await asyncio.get_running_loop().run_in_executor(self.image_io, write)
        return path

    async def _submitted(self, row: dict[str, Any], state: BatchState) -> None:
        await self._write(
            self.ledger.update_batch,
            row["batch_key"],
            status="submitted",
            batch_id=state.batch_id,
            vendor_status=state.vendor_status,
            counts=state.counts(),
        )
        row.update(status="submitted", batch_id=state.batch_id)

    async def _wait(
        self, row: dict[str, Any], client: BatchClient, state: BatchState
    ) -> BatchState:
        """Poll the batch until it ends (cancelling it first in cancel mode)."""
        key, batch_id = row["batch_key"], row["batch_id"]
        interval = self.policy.poll_s
        seen = None
        while True:
            if self.cancel_all and not state.finished and state.status != "cancelling":
                state = await self._control(lambda: client.cancel(batch_id), row)
                await self._write(self.ledger.update_batch, key, cancel_requested_at=time.time())
            now = (state.vendor_status, state.counts())
            self.bars.update(key, state.status, state.completed, state.failed)
            if now != seen:
                seen = now
                await self._write(
                    self.ledger.update_batch,
                    key,
                    vendor_status=state.vendor_status,
                    counts=state.counts(),
                    errors=state.errors or None,
                    output_file_id=state.output_file,
                    error_file_id=state.error_file,
                )
            if state.finished:
                return state
            self._check_detach()
            await self._pause(interval)
            interval = min(interval * 1.5, self.policy.max_poll_s)
            state = await self._control(lambda: client.retrieve(batch_id), row)

    # -- plumbing ----------------------------------------------------------------------------

    def _label(self, row: Mapping[str, Any]) -> str:
        return f"batch {row['batch_key'].rsplit(':', 2)[-2]} {row['model']} ({row['endpoint']})"

    def _detaching(self) -> bool:
        """Whether to leave the batches to the vendor now: at once for a stop or a full disk,
        a few seconds after a Ctrl-C (the time to press it again and cancel them)."""
        if self.cancel_all:
            return False
        if not self.context.stopping() or self.context.stop_reason == "budget":
            return False
        if self.context.stop_reason != "interrupted":
            return True
        if self._interrupted_at is None:
            self._interrupted_at = time.monotonic()
            self.context.log(
                "imgkit drill: the batches already sent keep running at the vendor; this run "
                f"leaves them in {self.policy.detach_grace_s:g} s (a resume collects them). "
                "Press Ctrl-C again to cancel them at the vendor instead."
            )
        return time.monotonic() - self._interrupted_at >= self.policy.detach_grace_s

    def _check_detach(self) -> None:
        if self._detaching():
            raise BatchDetached

    def _say_detached(self) -> None:
        if self._detached_said:
            return
        self._detached_said = True
        path = self.context.run_path
        self.context.log(
            "imgkit drill: the batches already sent keep running at the vendor: "
            f"`imgkit drill --resume {path}` collects their results, `imgkit batch cancel "
            f"{path}` cancels them"
        )

    async def _pause(self, seconds: float) -> None:
        """Sleep, waking early to leave when the session is told to stop."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self._check_detach()
            await asyncio.sleep(min(left, 0.1))

    async def _control(self, call: Callable[[], Awaitable[T]], row: Mapping[str, Any]) -> T:
        """A call to the vendor's Batch API, tried again after a transient failure. A batch
        the vendor no longer knows (404) is reported; other failures leave it for a resume."""
        for attempt in range(self.policy.control_tries):
            try:
                return await call()
            except ProviderError as exc:
                if isinstance(exc, InvalidRequestError) and exc.status == 404:
                    raise _Lost(exc) from exc
                if not is_retryable(exc) or attempt + 1 == self.policy.control_tries:
                    self.context.log(
                        f"imgkit drill: batch {row['batch_key']}: {exc}; it stays open for a resume"
                    )
                    raise BatchDetached from exc
                await self._pause(self.policy.poll_s * 2**attempt)
        raise BatchDetached  # pragma: no cover - the loop returns or raises

    async def _write(self, method: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """A ledger write, durable on return; a failed write stops the session (full disk)."""
        try:
            return await self.writer.write(method, *args, **kwargs)
        except (OSError, sqlite3.Error, RunError) as exc:
            cause = exc.__cause__ if isinstance(exc, RunError) else exc
            if not isinstance(cause, OSError | sqlite3.Error):
                raise
            self.context.storage_failed(cause)
            raise BatchDetached from exc

    async def _read(self, method: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """A ledger read, on the writer's thread (the connection is not shared across
        threads at once)."""
        return await self._write(method, *args, **kwargs)
