"""The drill runner: each prompt N times against each arm, fast, without losing or double-paying.

:func:`drill` plans every generation (arm x prompt x repeat), prints the estimated cost, refuses
to start when that passes the budget, then sends the requests concurrently (asyncio), bounded by
``concurrency`` and by per-model rate limits. Every attempt goes through the run's ledger (see
:mod:`imgkit.ledger` for the crash-safety protocol); :func:`resume` finishes a run that was
killed, stopped or cut short by its budget.

Retry policy (lesson 99, "do not retry content policy errors ... retry once on network
failures"), applied per generation:

==========================  ===================================================================
content-policy refusal       recorded as ``refused``; never sent again, not even by a resume
429 rate limited             every request to that model waits out Retry-After, then it is sent
                             again (up to ``RetryPolicy.rate_limit_retries`` times)
5xx, timeout, dropped        one more try after ``RetryPolicy.transient_delay_s``; a timeout or
                             dropped connection may have been billed, so its estimate counts
                             as spent (ledger ``may_have_been_billed``)
anything else                recorded as ``failed`` with the error's kind
==========================  ===================================================================

Each delay is a field of :class:`RetryPolicy`, so tests can set them to zero.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import importlib.metadata
import os
import platform
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from imgkit.arms import LESSON_PROMPT, LESSON_REPEATS, Arm, arms_for_models, lesson_arms
from imgkit.catalog import Catalog, default_catalog
from imgkit.costs import estimate_cost
from imgkit.errors import (
    BudgetExceededError,
    ConnectionLostError,
    ContentPolicyError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitedError,
    RunError,
    ValidationError,
    check_argument,
)
from imgkit.ledger import Ledger, PlannedGeneration, store_image
from imgkit.runs import IMAGES_DIR, Run, open_run, read_manifest, write_manifest
from imgkit.validation import ImageRequest

__all__ = ["DrillOptions", "RetryPolicy", "adrill", "aresume", "drill", "estimate_plan", "resume"]

MANIFEST_FORMAT = 1
#: Error kinds a resume sends again (a later try may succeed); refusals and invalid requests
#: would fail the same way, so they are kept as they are.
RETRYABLE_KINDS = ("server_error", "timeout", "connection_lost", "rate_limited", "interrupted")
#: Packages whose versions go into every manifest.
_VERSIONED = (
    "imgkit",
    "openai",
    "google-genai",
    "httpx",
    "httpx2",
    "pandas",
    "numpy",
    "pillow",
    "imagehash",
    "tqdm",
    "starlette",
    "uvicorn",
)

Log = Callable[[str], None]


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class RetryPolicy:
    """How the runner reacts to each kind of failure; every delay in seconds."""

    #: further tries after a 5xx, a timeout or a dropped connection ("retry once")
    transient_retries: int = 1
    #: wait before such a retry
    transient_delay_s: float = 0.5
    #: 429s waited out per generation before it is recorded as failed
    rate_limit_retries: int = 5
    #: wait after a 429 that carries no Retry-After
    default_retry_after_s: float = 2.0
    #: cap on any Retry-After (the OpenAI SDK caps at 120 s as well)
    max_retry_after_s: float = 120.0


@dataclass
class DrillOptions:
    """Everything that defines a drill; stored in the manifest so a resume repeats it exactly."""

    prompts: list[str]
    arms: list[Arm]
    n: int = LESSON_REPEATS
    size: str | None = None
    quality: str | None = None
    style: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    backend: str = "sim"
    out: str = "runs"
    run_name: str | None = None
    budget: float | None = None
    concurrency: int = 4
    #: per model: {"requests_per_minute": x, "images_per_minute": y}; the user's word
    rate_limits: dict[str, dict[str, float]] = field(default_factory=dict)
    #: apply the catalog's rate limits too; None = on live runs only (the simulator does not
    #: enforce them, and pacing a rehearsal at 5 images a minute would only slow it down)
    catalog_rate_limits: bool | None = None
    sim_url: str | None = None
    sim_seed: int = 0
    sim_latency: float = 0.0
    sim_faults: str | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout_s: float | None = None

    def defaults(self) -> dict[str, Any]:
        """Drill-wide request parameters (arms' own params win over these)."""
        return {"size": self.size, "quality": self.quality, "style": self.style, **self.params}

    def to_dict(self) -> dict[str, Any]:
        # Field by field: arms hold read-only mappings, which asdict() cannot copy.
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["arms"] = [arm.to_dict() for arm in self.arms]
        data["retry"] = asdict(self.retry)
        data["params"] = dict(self.params)
        data["sim_url"] = _without_credentials(self.sim_url)
        return data

    @classmethod
    def from_manifest(cls, manifest: Mapping[str, Any]) -> DrillOptions:
        """The options recorded in a run's manifest."""
        data = dict(manifest["parameters"])
        data["arms"] = [Arm.from_dict(a) for a in data["arms"]]
        data["retry"] = RetryPolicy(**data.get("retry", {}))
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


def _without_credentials(url: str | None) -> str | None:
    # A URL may carry user:password@; a manifest must never hold a secret.
    if not url:
        return url
    parts = urlsplit(url)
    if parts.username or parts.password:
        parts = parts._replace(netloc=parts.hostname + (f":{parts.port}" if parts.port else ""))
    return urlunsplit(parts)


# -- planning and estimating -------------------------------------------------------------------


@dataclass(frozen=True)
class _Planned:
    generation: PlannedGeneration
    request: ImageRequest


def _plan(options: DrillOptions, catalog: Catalog) -> list[_Planned]:
    """Every generation of the drill, validated, in sending order.

    Repeats are the outer loop, so arms advance together and a run stopped early (budget,
    Ctrl-C) still holds a balanced sample of every arm.
    """
    requests: dict[tuple[str, int], ImageRequest] = {}
    for arm in options.arms:
        for k, prompt in enumerate(options.prompts):
            requests[(arm.name, k)] = arm.request(
                prompt, backend=options.backend, defaults=options.defaults(), catalog=catalog
            )
    plan: list[_Planned] = []
    for repeat in range(options.n):
        for k, prompt in enumerate(options.prompts):
            for arm in options.arms:
                request = requests[(arm.name, k)]
                estimate = estimate_cost(request, catalog)
                generation = PlannedGeneration(
                    gen_id=len(plan),
                    arm=arm.name,
                    model=arm.model,
                    provider=catalog.get_model(arm.model).provider,
                    endpoint=arm.endpoint,
                    prompt_id=f"p{k}",
                    prompt=prompt,
                    sent_prompt=request.prompt,
                    repeat=repeat,
                    request=request.to_dict(),
                    estimated_usd=estimate.per_image,
                )
                plan.append(_Planned(generation, request))
    return plan


def estimate_plan(
    generations: Sequence[PlannedGeneration], catalog: Catalog | None = None
) -> dict[str, Any]:
    """The estimated cost of ``generations``: total, per arm, and what could not be priced.

    ``total_usd`` covers the priced generations only; ``unpriced`` counts the others (their
    cost will come from the responses), so an estimate is never a silent $0.
    """
    catalog = catalog or default_catalog()
    per_arm: dict[str, dict[str, Any]] = {}
    total = 0.0
    unpriced = 0
    for g in generations:
        entry = per_arm.get(g.arm)
        if entry is None:
            est = estimate_cost(ImageRequest(**g.request), catalog)
            entry = per_arm[g.arm] = {
                "model": g.model,
                "images": 0,
                "per_image_usd": est.per_image,
                "total_usd": 0.0 if est.per_image is not None else None,
                "basis": est.basis,
                "note": est.note,
                "source": est.source,
                "as_of": est.as_of,
            }
        entry["images"] += 1
        if g.estimated_usd is None:
            unpriced += 1
        else:
            entry["total_usd"] = (entry["total_usd"] or 0.0) + g.estimated_usd
            total += g.estimated_usd
    return {"total_usd": round(total, 6), "unpriced": unpriced, "per_arm": per_arm}


def _describe_estimate(
    estimate: Mapping[str, Any], images: int, label: str, budget: float | None = None
) -> list[str]:
    lines = [f"imgkit drill: {label} {images} image(s), estimated ${estimate['total_usd']:.4f}"]
    for arm, entry in estimate["per_arm"].items():
        each = entry["per_image_usd"]
        price = "no estimate" if each is None else f"${each:.4f} each ({entry['basis']})"
        lines.append(f"  {arm}: {entry['images']} x {price}")
    if estimate["unpriced"]:
        lines.append(
            f"  {estimate['unpriced']} image(s) have no price figure: their cost will be taken "
            "from the responses and is not in the estimate"
        )
        if budget is not None:
            lines.append(
                "  under the budget, each arm sends one request at a time until an image's "
                "actual cost is known, then reserves that much for each request in flight"
            )
    return lines


# -- manifest ----------------------------------------------------------------------------------


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def _versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _git_commit(cwd: Path) -> dict[str, Any] | None:
    """The commit of the git repository around ``cwd`` (None outside one, or before any commit)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5
        )
        if head.returncode != 0:
            return None
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": head.stdout.strip(), "dirty": bool(status.stdout.strip())}


def _catalog_info(catalog: Catalog, arms: Iterable[Arm]) -> dict[str, Any]:
    prices = {}
    for arm in arms:
        spec = catalog.get_model(arm.model)
        prices[spec.name] = {
            "kind": spec.price.kind,
            "source": catalog.describe_source(spec.price.source),
            "as_of": spec.price.as_of,
        }
    return {
        "version": catalog.version,
        "price_overrides": list(catalog.price_overrides),
        "prices": prices,
    }


def _new_run_id(name: str | None) -> str:
    if name:
        return name
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{uuid.uuid4().hex[:6]}"


# -- scheduling --------------------------------------------------------------------------------


class _ModelGate:
    """Pacing for one model: a minimum spacing from its rate limit, and a shared pause after
    a 429 so that every request waiting on the model honours the Retry-After, not just the
    one that received it."""

    def __init__(self, per_minute: float | None) -> None:
        self.interval = 60.0 / per_minute if per_minute else 0.0
        self.next_slot = 0.0
        self.blocked_until = 0.0

    def block(self, seconds: float) -> None:
        self.blocked_until = max(self.blocked_until, time.monotonic() + seconds)

    def blocked_for(self) -> float:
        return max(0.0, self.blocked_until - time.monotonic())

    async def wait_turn(self) -> None:
        while True:
            pause = self.blocked_for()
            if pause > 0:
                await asyncio.sleep(pause)
                continue
            if self.interval:
                now = time.monotonic()
                slot = max(now, self.next_slot)
                self.next_slot = slot + self.interval
                if slot > now:
                    await asyncio.sleep(slot - now)
                if self.blocked_for() > 0:
                    continue
            return


def _rate_limits(options: DrillOptions, catalog: Catalog) -> dict[str, float | None]:
    """Requests per minute allowed per model (one image per request), None for no limit."""
    use_catalog = options.catalog_rate_limits
    if use_catalog is None:
        use_catalog = options.backend == "live"
    keys = ("requests_per_minute", "images_per_minute")
    limits: dict[str, float | None] = {}
    for arm in options.arms:
        # The user's figure wins; otherwise the strictest one the catalog states (one image
        # per request, so images and requests per minute limit alike).
        user = options.rate_limits.get(arm.model, {})
        given = [float(user[k]) for k in keys if user.get(k)]
        if not given and use_catalog:
            listed = catalog.get_model(arm.model).rate_limit
            given = [float(listed[k]) for k in keys if listed.get(k)]
        limits[arm.model] = min(given) if given else None
    return limits


class _Progress:
    """One tqdm bar per arm (tqdm.auto: a widget in notebooks, text in a terminal), showing
    done / failed / refused and the money that arm has spent so far."""

    def __init__(self, totals: Mapping[str, int], done: Mapping[str, int], enabled: bool) -> None:
        self.bars: dict[str, Any] = {}
        self.counts = {arm: {"ok": 0, "failed": 0, "refused": 0} for arm in totals}
        self.spent = dict.fromkeys(totals, 0.0)
        if not enabled:
            return
        from tqdm.auto import tqdm

        width = max(len(a) for a in totals)
        for position, (arm, total) in enumerate(totals.items()):
            self.bars[arm] = tqdm(
                total=total,
                initial=done.get(arm, 0),
                desc=arm.ljust(width),
                position=position,
                unit="img",
                leave=True,
                dynamic_ncols=True,
            )

    def update(self, arm: str, outcome: str, cost: float = 0.0) -> None:
        self.counts[arm][outcome] += 1
        self.spent[arm] += cost
        bar = self.bars.get(arm)
        if bar is not None:
            c = self.counts[arm]
            bar.set_postfix_str(
                f"ok={c['ok']} failed={c['failed']} refused={c['refused']} "
                f"spent=${self.spent[arm]:.4f}",
                refresh=False,
            )
            bar.update(1)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


class _Executor:
    """Sends a set of planned generations through one ledger; one instance per session."""

    def __init__(
        self,
        *,
        run_path: Path,
        ledger: Ledger,
        options: DrillOptions,
        catalog: Catalog,
        providers: Mapping[str, Any],
        budget: float | None,
        spent: float,
        progress: _Progress,
        log: Log,
        stop: threading.Event | None,
        interrupt: threading.Event | None = None,
    ) -> None:
        self.images = run_path / IMAGES_DIR
        self.ledger = ledger
        self.options = options
        self.policy = options.retry
        self.providers = providers
        self.budget = budget
        self.spent = spent
        self.reserved = 0.0
        # The dearest image each arm has actually cost: reserved for its later requests when
        # it exceeds the estimate, so a catalog price that is too low cannot carry the run
        # past its budget (only the first requests in flight rely on the estimate alone).
        self.dearest: dict[str, float] = {}
        # Under a budget, an arm sends one request at a time until one of its images has a
        # known cost: the estimate may be missing (xhigh is billed from usage only) or too low,
        # and a full batch sent on it could pass the budget several times over before the
        # first answer. After that, ``dearest`` bounds what each request in flight may cost.
        self.first_cost: dict[str, asyncio.Lock] = {}
        self.progress = progress
        self.log = log
        self.stop_event = stop
        self.interrupt = interrupt
        self.stop_reason: str | None = None
        self.sem = asyncio.Semaphore(options.concurrency)
        self.gates = {m: _ModelGate(r) for m, r in _rate_limits(options, catalog).items()}
        # Ledger commits and image writes fsync. They run in worker threads so that the event
        # loop keeps other requests moving while the disk catches up: one thread for the ledger
        # (SQLite writes are serial anyway), a few for images (independent files).
        self.ledger_io = ThreadPoolExecutor(1, thread_name_prefix="imgkit-ledger")
        self.image_io = ThreadPoolExecutor(4, thread_name_prefix="imgkit-images")
        self.sent = 0

    async def _io(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.ledger_io, functools.partial(fn, *args, **kwargs))

    def _stopping(self) -> bool:
        if self.stop_reason is None:
            if self.interrupt is not None and self.interrupt.is_set():
                self.stop_reason = "interrupted"
            elif self.stop_event is not None and self.stop_event.is_set():
                self.stop_reason = "stopped"
                self.log("imgkit drill: stop requested; finishing the requests already sent")
        return self.stop_reason is not None

    async def _first_cost_turn(self, arm: str) -> asyncio.Lock | None:
        """Under a budget, wait until ``arm`` may send; return the lock to hold, if any."""
        if self.budget is None or arm in self.dearest:
            return None
        lock = self.first_cost.setdefault(arm, asyncio.Lock())
        await lock.acquire()
        if arm in self.dearest:  # the request ahead of this one learnt the price
            lock.release()
            return None
        return lock

    def _budget_allows(self, cost: float | None) -> bool:
        if self.budget is None:
            return True
        # Money already spent, money committed by requests in flight, and this request: only
        # if all three fit is it sent, so actual spend stays within the budget.
        return self.spent + self.reserved + (cost or 0.0) <= self.budget + 1e-9

    async def run(self, planned: Sequence[_Planned], tries_so_far: Mapping[int, int]) -> None:
        tasks = [
            asyncio.create_task(self._generation(p, tries_so_far.get(p.generation.gen_id, 0)))
            for p in planned
        ]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            # Only after the ledger thread is idle: requests cut off by a cancellation (Ctrl-C)
            # may have reached the service; say so now rather than leave it to a resume.
            self.image_io.shutdown(wait=True)
            self.ledger_io.shutdown(wait=True)
            cut_off = [a["attempt_id"] for a in self.ledger.in_flight()]
            if cut_off:
                self.ledger.mark_interrupted(cut_off, "the runner was stopped mid-request")

    async def _generation(self, planned: _Planned, previous_tries: int) -> None:
        """Make one generation: send, and retry as the policy allows, until it is decided."""
        gen, request = planned.generation, planned.request
        gate = self.gates[gen.model]
        provider = self.providers[gen.provider]
        try_number = previous_tries
        transient_left = self.policy.transient_retries
        rate_left = self.policy.rate_limit_retries
        not_before: float | None = None
        while True:
            first_cost = await self._first_cost_turn(gen.arm)
            try:
                await gate.wait_turn()
                async with self.sem:
                    if self._stopping():
                        return
                    if gate.blocked_for() > 0:
                        continue  # a 429 arrived while we queued: wait it out with the others
                    reserve = max(gen.estimated_usd or 0.0, self.dearest.get(gen.arm, 0.0))
                    if not self._budget_allows(reserve):
                        self._stop_for_budget()
                        return
                    try_number += 1
                    # Reserved until the cost is known (or known to be nothing).
                    self.reserved += reserve
                    try:
                        attempt_id = await self._io(
                            self.ledger.begin_attempt,
                            gen.gen_id,
                            try_number,
                            estimated_usd=gen.estimated_usd,
                            not_before=not_before,
                        )
                        self.sent += 1
                        started = time.perf_counter()
                        try:
                            results, error = await provider.agenerate(request), None
                        except Exception as exc:  # recorded below, whatever it is
                            results, error = None, exc
                        latency = time.perf_counter() - started
                        answered = time.time()
                    except BaseException:
                        self.reserved -= reserve
                        raise
                # The request is over: its slot serves the next one while this one is written down.
                try:
                    if error is None:
                        await self._keep(gen, results or [], attempt_id, latency, answered)
                        return
                    retry_in = await self._record_failure(
                        gen, error, attempt_id, latency, answered, gate, transient_left, rate_left
                    )
                finally:
                    self.reserved -= reserve
                if retry_in is None:
                    return
                if isinstance(error, RateLimitedError):
                    rate_left -= 1
                else:
                    transient_left -= 1
                not_before = time.time() + retry_in
            finally:
                if first_cost is not None:
                    first_cost.release()
            if retry_in:
                await asyncio.sleep(retry_in)

    def _stop_for_budget(self) -> None:
        if self.stop_reason is None:
            self.stop_reason = "budget"
            self.log(
                f"imgkit drill: budget ${self.budget:.4f} reached (spent ${self.spent:.4f}, "
                f"in flight ${self.reserved:.4f}); sending nothing more"
            )

    async def _record_failure(
        self,
        gen: PlannedGeneration,
        error: Exception,
        attempt_id: int,
        latency: float,
        answered: float,
        gate: _ModelGate,
        transient_left: int,
        rate_left: int,
    ) -> float | None:
        """Write down a failed attempt; return the delay before retrying it, or None."""
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
                delay = self._retry_after(error)
                # Everyone waiting on this model waits, not just this request.
                gate.block(delay)
        elif error.retry_same_provider and transient_left > 0:
            delay = self.policy.transient_delay_s
        # A request that timed out or lost its connection may have reached the service, which
        # then made (and billed) the image we never saw: count its estimate as spent, so the
        # retry cannot carry the run past its budget, and say so in the ledger.
        maybe_billed = isinstance(error, ProviderTimeoutError | ConnectionLostError)
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
            self.spent += gen.estimated_usd or 0.0
        if delay is None:
            self.progress.update(gen.arm, "failed")
        return delay

    def _retry_after(self, error: RateLimitedError) -> float:
        wait = error.retry_after
        if wait is None or wait < 0:
            wait = self.policy.default_retry_after_s
        return min(float(wait), self.policy.max_retry_after_s)

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
        loop = asyncio.get_running_loop()
        sha, path = await loop.run_in_executor(
            self.image_io, store_image, self.images, result.image_bytes, result.image_format
        )
        cost = result.cost_usd
        await self._io(
            self.ledger.finish_ok,
            attempt_id,
            image_sha256=sha,
            image_file=path.name,
            image_format=result.image_format,
            width=result.width,
            height=result.height,
            revised_prompt=result.revised_prompt,
            cost_usd=cost,
            cost_basis=result.cost_basis if cost is not None else "estimate",
            latency_s=result.latency_s if result.latency_s is not None else latency,
            ended_at=answered,
            request_id=result.request_id,
            simulated=result.simulated,
            usage=result.usage,
            metadata=result.metadata,
        )
        paid = cost if cost is not None else (gen.estimated_usd or 0.0)
        self.spent += paid
        self.dearest[gen.arm] = max(self.dearest.get(gen.arm, 0.0), paid)
        self.progress.update(gen.arm, "ok", paid)


# -- providers and the simulator ---------------------------------------------------------------

_SIM_SUFFIX = {"openai": "/v1", "gemini": "", "leonardo": "/api/rest/v1"}


def _provider_urls(sim: Any, sim_url: str | None) -> dict[str, str | None]:
    if sim is not None:
        return {
            "openai": sim.openai_base_url,
            "gemini": sim.gemini_base_url,
            "leonardo": sim.leonardo_base_url,
        }
    if sim_url:
        base = sim_url.rstrip("/")
        return {name: base + suffix for name, suffix in _SIM_SUFFIX.items()}
    return {name: None for name in _SIM_SUFFIX}


def _make_providers(
    options: DrillOptions, generations: Iterable[PlannedGeneration], urls: Mapping[str, Any]
) -> dict[str, Any]:
    from imgkit.providers import provider_for_model

    providers: dict[str, Any] = {}
    for g in generations:
        if g.provider not in providers:
            kwargs: dict[str, Any] = {"backend": options.backend}
            if options.backend == "sim":
                kwargs["base_url"] = urls[g.provider]
            if options.timeout_s is not None:
                kwargs["timeout_s"] = options.timeout_s
            providers[g.provider] = provider_for_model(g.model, **kwargs)
    return providers


@contextlib.contextmanager
def _simulator(options: DrillOptions) -> Any:
    """An embedded simulator for this run, unless the run targets one by URL (or is live)."""
    if options.backend != "sim" or options.sim_url:
        yield None
        return
    from imgkit.simulator import serve

    with serve(
        seed=options.sim_seed, latency=options.sim_latency, faults=options.sim_faults
    ) as sim:
        yield sim


# -- sessions ----------------------------------------------------------------------------------


def _summary(ledger: Ledger, total: int) -> dict[str, Any]:
    return {
        "generations": total,
        **ledger.status_counts(),
        "spent_usd": round(ledger.spent_usd(), 6),
    }


async def _execute(
    run_path: Path,
    ledger: Ledger,
    options: DrillOptions,
    catalog: Catalog,
    todo: Sequence[_Planned],
    *,
    budget: float | None,
    progress: bool,
    log: Log,
    stop: threading.Event | None,
    interrupt: threading.Event | None = None,
    kind: str,
    note: Mapping[str, Any],
) -> str:
    """Send ``todo`` in a new ledger session; update the manifest; return the run status."""
    plan = ledger.plan()
    totals: dict[str, int] = {}
    for g in plan:
        totals[g.arm] = totals.get(g.arm, 0) + 1
    todo_ids = {p.generation.gen_id for p in todo}
    done = {arm: 0 for arm in totals}
    for g in plan:
        if g.gen_id not in todo_ids:
            done[g.arm] += 1
    tries: dict[int, int] = {}
    for attempt in ledger.attempts():
        tries[attempt["gen_id"]] = max(tries.get(attempt["gen_id"], 0), attempt["try"])

    session = ledger.begin_session(kind, note)
    manifest = read_manifest(run_path)
    manifest["status"] = "running"
    manifest.setdefault("sessions", []).append(
        {"session": session, "kind": kind, "started_at": _now_iso(), "ended_at": None, **note}
    )
    write_manifest(run_path, manifest)

    bars = _Progress(totals, done, progress)
    status = "complete"
    executor: _Executor | None = None
    try:
        with _simulator(options) as sim:
            urls = _provider_urls(sim, options.sim_url)
            providers = _make_providers(options, (p.generation for p in todo), urls)
            executor = _Executor(
                run_path=run_path,
                ledger=ledger,
                options=options,
                catalog=catalog,
                providers=providers,
                budget=budget,
                spent=ledger.spent_usd(),
                progress=bars,
                log=log,
                stop=stop,
                interrupt=interrupt,
            )
            try:
                await executor.run(todo, tries)
            finally:
                for provider in providers.values():
                    with contextlib.suppress(Exception):
                        await provider.aclose()
        if executor.stop_reason == "budget":
            status = "stopped_budget"
        elif executor.stop_reason == "interrupted":
            status = "interrupted"
        elif executor.stop_reason is not None:
            status = "stopped"
    except (asyncio.CancelledError, KeyboardInterrupt):
        status = "interrupted"
    finally:
        bars.close()
        summary = _summary(ledger, len(plan))
        if status == "complete" and (summary.get("pending") or summary.get("in_flight")):
            status = "incomplete"
        ledger.end_session(status, {**note, "sent": executor.sent if executor else 0})
        manifest = read_manifest(run_path)
        manifest["status"] = status
        manifest["ended_at"] = _now_iso()
        manifest["result"] = summary
        manifest["sessions"][-1].update(
            {
                "ended_at": manifest["ended_at"],
                "status": status,
                "sent": executor.sent if executor else 0,
            }
        )
        write_manifest(run_path, manifest)
    if status == "interrupted":
        log(f"imgkit drill: interrupted; finish with `imgkit drill --resume {run_path}`")
    elif status == "stopped_budget":
        log(f"imgkit drill: stopped by the budget; `imgkit drill --resume {run_path} --budget ...`")
    return status


# -- public entry points -----------------------------------------------------------------------


def _check_options(options: DrillOptions) -> None:
    check_argument("backend", options.backend, ("sim", "live"))
    if isinstance(options.n, bool) or not isinstance(options.n, int) or options.n < 1:
        raise ValidationError("n", options.n, "a whole number of repeats >= 1")
    concurrency = options.concurrency
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ValidationError("concurrency", concurrency, "a whole number >= 1")
    if options.budget is not None and (
        not isinstance(options.budget, int | float) or not options.budget >= 0
    ):
        raise ValidationError("budget", options.budget, "a dollar amount >= 0")
    if options.backend == "live" and options.budget is None:
        raise ValidationError(
            "budget", None, "a dollar amount for live runs", detail="live runs spend real money"
        )
    if not options.prompts:
        raise ValidationError("prompts", options.prompts, "at least one prompt")
    if options.backend == "sim" and not options.sim_url and options.sim_faults:
        # A bad SPEC would otherwise fail only when the simulator starts, inside a run folder
        # already created: check it first so nothing is left behind.
        from imgkit.simulator.faults import parse_faults

        parse_faults(options.sim_faults)


def _describe_running_simulator(sim_url: str) -> dict[str, Any]:
    """What a simulator started elsewhere (``--sim-url``) says of itself, for the manifest.

    Its seed and latency make the run reproducible; they are read from its stats route, so
    the manifest records what it really used rather than what this runner would have chosen.
    """
    import httpx

    described: dict[str, Any] = {"url": _without_credentials(sim_url)}
    try:
        stats = httpx.get(sim_url.rstrip("/") + "/_sim/stats", timeout=5.0).json()
    except (httpx.HTTPError, ValueError) as exc:
        described["unreadable"] = f"{type(exc).__name__}: {exc}"
        return described
    described["seed"] = stats.get("seed")
    described["latency_s"] = stats.get("latency")
    described["faults_pending"] = stats.get("pending_faults")
    return described


def _check_keys(options: DrillOptions, catalog: Catalog) -> None:
    """Fail before the run folder exists when a live key is missing (AuthenticationError)."""
    from imgkit.providers import resolve_settings

    for provider in sorted({catalog.get_model(arm.model).provider for arm in options.arms}):
        resolve_settings(provider, backend="live")


def _check_budget(budget: float | None, needed: float, spent: float = 0.0) -> None:
    if budget is not None and spent + needed > budget + 1e-9:
        already = f" (${spent:.4f} already spent or presumed billed)" if spent else ""
        raise BudgetExceededError(
            f"estimated cost ${needed:.4f}{already} exceeds the budget of ${budget:.4f}; "
            "nothing was sent",
            budget_usd=budget,
            needed_usd=spent + needed,
        )


async def adrill(
    prompts: str | Sequence[str] | None = None,
    models: str | Sequence[str | Arm] | None = None,
    n: int = LESSON_REPEATS,
    *,
    size: str | None = None,
    quality: str | None = None,
    style: str | None = None,
    params: Mapping[str, Any] | None = None,
    backend: str = "sim",
    out: str | os.PathLike[str] = "runs",
    run_name: str | None = None,
    budget: float | None = None,
    concurrency: int = 4,
    arms: Sequence[Arm] | None = None,
    rate_limits: Mapping[str, Mapping[str, float]] | None = None,
    catalog_rate_limits: bool | None = None,
    sim_url: str | None = None,
    sim_seed: int = 0,
    sim_latency: float = 0.0,
    sim_faults: str | None = None,
    retry: RetryPolicy | None = None,
    timeout_s: float | None = None,
    progress: bool = True,
    log: Log | None = _stderr,
    stop: threading.Event | None = None,
    interrupt: threading.Event | None = None,
    catalog: Catalog | None = None,
) -> Run:
    """The asynchronous form of :func:`drill` (same arguments), for code already in a loop."""
    log = log or (lambda _message: None)
    catalog = catalog or default_catalog()
    if prompts is None:
        prompts = [LESSON_PROMPT]
    elif isinstance(prompts, str):
        prompts = [prompts]
    if arms is None:
        arms = lesson_arms() if models is None else arms_for_models(models, catalog)
    elif models is not None:
        raise ValidationError("models", models, "None when arms are given")
    else:
        arms = arms_for_models(arms, catalog)
    options = DrillOptions(
        prompts=list(prompts),
        arms=list(arms),
        n=n,
        size=size,
        quality=quality,
        style=style,
        params=dict(params or {}),
        backend=backend,
        out=str(out),
        run_name=run_name,
        budget=budget,
        concurrency=concurrency,
        rate_limits={k: dict(v) for k, v in (rate_limits or {}).items()},
        catalog_rate_limits=catalog_rate_limits,
        sim_url=sim_url,
        sim_seed=sim_seed,
        sim_latency=sim_latency,
        sim_faults=sim_faults,
        retry=retry or RetryPolicy(),
        timeout_s=timeout_s,
    )
    _check_options(options)
    planned = _plan(options, catalog)
    estimate = estimate_plan([p.generation for p in planned], catalog)
    for line in _describe_estimate(estimate, len(planned), "sending", budget):
        log(line)
    _check_budget(budget, estimate["total_usd"])
    if backend == "live":
        _check_keys(options, catalog)

    run_id = _new_run_id(run_name)
    run_path = (Path(out) / run_id).resolve()
    if run_path.exists():
        raise RunError(f"{run_path} already exists: choose another run name or resume it")
    try:
        (run_path / IMAGES_DIR).mkdir(parents=True)
    except OSError as exc:
        raise ValidationError(
            "out", str(out), "a folder imgkit can create and write to", detail=str(exc)
        ) from None
    created = _now_iso()
    simulator = None
    if backend == "sim" and not sim_url:
        simulator = {
            "url": "embedded",
            "seed": sim_seed,
            "latency_s": sim_latency,
            "faults": sim_faults,
        }
    elif backend == "sim":
        simulator = _describe_running_simulator(sim_url)
    write_manifest(
        run_path,
        {
            "format": MANIFEST_FORMAT,
            "run_id": run_id,
            "status": "created",
            "created_at": created,
            "started_at": created,
            "ended_at": None,
            "backend": backend,
            "simulated": backend == "sim",
            "parameters": options.to_dict(),
            "simulator": simulator,
            "estimate": estimate,
            "catalog": _catalog_info(catalog, options.arms),
            "versions": _versions(),
            "git": _git_commit(Path.cwd()),
            "platform": platform.platform(),
            "sessions": [],
        },
    )
    ledger = Ledger.create(run_path)
    try:
        ledger.add_plan(p.generation for p in planned)
        await _execute(
            run_path,
            ledger,
            options,
            catalog,
            planned,
            budget=budget,
            progress=progress,
            log=log,
            stop=stop,
            interrupt=interrupt,
            kind="start",
            note={},
        )
    finally:
        ledger.close()
    return open_run(run_path)


async def aresume(
    path: str | os.PathLike[str],
    *,
    budget: float | None = None,
    concurrency: int | None = None,
    sim_url: str | None = None,
    retry_failed: bool = True,
    progress: bool = True,
    log: Log | None = _stderr,
    stop: threading.Event | None = None,
    interrupt: threading.Event | None = None,
    catalog: Catalog | None = None,
) -> Run:
    """The asynchronous form of :func:`resume`."""
    log = log or (lambda _message: None)
    catalog = catalog or default_catalog()
    run = open_run(path)
    manifest = run.manifest
    options = DrillOptions.from_manifest(manifest)
    if concurrency is not None:
        options.concurrency = concurrency
    if sim_url is not None:
        options.sim_url = sim_url
    if budget is None:
        budget = options.budget
    options.budget = budget
    _check_options(options)

    ledger = Ledger.open(run.path, writer=True)
    try:
        in_flight = ledger.in_flight()
        if in_flight:
            ledger.mark_interrupted(
                (a["attempt_id"] for a in in_flight), "in flight when the runner died"
            )
            presumed = sum(a["estimated_usd"] or 0.0 for a in in_flight)
            log(
                f"imgkit drill: {len(in_flight)} attempt(s) were in flight when the run was cut "
                f"off and may have been billed (estimated ${presumed:.4f}); they are sent again"
            )
        todo = _to_resume(ledger, retry_failed)
        estimate = estimate_plan([g for g in todo], catalog)
        spent = ledger.spent_usd()
        for line in _describe_estimate(estimate, len(todo), "resuming,", budget):
            log(line)
        _check_budget(budget, estimate["total_usd"], spent)
        planned = [_Planned(g, ImageRequest(**g.request)) for g in todo]
        note = {
            "may_have_been_billed": [
                {
                    "attempt_id": a["attempt_id"],
                    "arm": a["arm"],
                    "prompt_id": a["prompt_id"],
                    "repeat": a["repeat"],
                    "estimated_usd": a["estimated_usd"],
                }
                for a in in_flight
            ],
            "to_send": len(todo),
        }
        await _execute(
            run.path,
            ledger,
            options,
            catalog,
            planned,
            budget=budget,
            progress=progress,
            log=log,
            stop=stop,
            interrupt=interrupt,
            kind="resume",
            note=note,
        )
    finally:
        ledger.close()
    return open_run(run.path)


def _to_resume(ledger: Ledger, retry_failed: bool) -> list[PlannedGeneration]:
    """Generations a resume sends: never made, cut off in flight, or (with ``retry_failed``)
    failed for a reason a later try may not meet. Never one that is ok or refused."""
    last: dict[int, dict[str, Any]] = {}
    made: set[int] = set()
    for attempt in ledger.attempts():
        last[attempt["gen_id"]] = attempt
        if attempt["status"] == "ok":
            made.add(attempt["gen_id"])
    todo = []
    for g in ledger.plan():
        if g.gen_id in made:
            continue
        attempt = last.get(g.gen_id)
        if (
            attempt is None
            or attempt["status"] in ("interrupted", "sending")
            or (
                attempt["status"] == "failed"
                and retry_failed
                and attempt["error_kind"] in RETRYABLE_KINDS
            )
        ):
            todo.append(g)
    return todo


_ABANDON_HINT = (
    "imgkit drill: Ctrl-C: sending nothing more; the requests already sent are being finished "
    "and kept (they are paid for). Press Ctrl-C again to abandon them."
)


def _run_sync(
    factory: Callable[[threading.Event, threading.Event], Any],
    stop: threading.Event | None,
    interrupt: threading.Event | None = None,
) -> Any:
    """Run a drill coroutine to completion from synchronous code.

    The first Ctrl-C sends nothing more but waits for the requests in flight and keeps their
    images, since the service has most likely made and billed them already; the run ends as
    "interrupted" and can be resumed. From a terminal, a second Ctrl-C abandons those requests
    too (they are marked "may have been billed"). Outside an event loop the run uses this
    thread; inside one (Jupyter) it gets a fresh loop in a worker thread.
    """
    stop = stop or threading.Event()
    interrupt = interrupt or threading.Event()
    try:
        asyncio.get_running_loop()
        in_loop = True
    except RuntimeError:
        in_loop = False
    if not in_loop:
        return _run_here(factory(stop, interrupt), interrupt)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(factory(stop, interrupt))
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name="imgkit-drill", daemon=True)
    thread.start()
    while thread.is_alive():
        try:
            thread.join()
        except KeyboardInterrupt:
            interrupt.set()
    if "error" in box:
        raise box["error"]
    return box["value"]


def _run_here(coroutine: Any, interrupt: threading.Event) -> Any:
    """``asyncio.run(coroutine)``, with the two-step Ctrl-C of :func:`_run_sync`."""
    if threading.current_thread() is not threading.main_thread():
        return asyncio.run(coroutine)  # no signal arrives here
    with asyncio.Runner() as runner:
        loop = runner.get_loop()
        task = loop.create_task(coroutine)

        def on_sigint(signum: int, frame: Any) -> None:
            if not interrupt.is_set():
                interrupt.set()
                print(_ABANDON_HINT, file=sys.stderr, flush=True)
            else:
                loop.call_soon_threadsafe(task.cancel)

        # Installed before the runner runs, so asyncio keeps it instead of its own handler
        # (which would cancel the run, in-flight requests and all, at the first Ctrl-C).
        previous = signal.signal(signal.SIGINT, on_sigint)
        try:
            return runner.run(_await(task))
        finally:
            signal.signal(signal.SIGINT, previous)


async def _await(task: asyncio.Task[Any]) -> Any:
    return await task


def drill(
    prompts: str | Sequence[str] | None = None,
    models: str | Sequence[str | Arm] | None = None,
    n: int = LESSON_REPEATS,
    **kwargs: Any,
) -> Run:
    """Run each prompt ``n`` times against each model (or arm) and return the :class:`Run`.

    With no arguments this is the lesson's drill: the astronaut prompt, dall-e-3 and
    gpt-image-1, five repeats each, on the simulator. Keyword arguments:

    - ``size``, ``quality``, ``style``, ``params``: request parameters for every arm (an arm's
      own ``params`` win); ``arms``: :class:`~imgkit.arms.Arm` objects instead of ``models``;
    - ``backend``: "sim" (default) or "live"; a live run requires ``budget``;
    - ``out`` (default "runs"), ``run_name``: the run folder is ``out/run_name`` (default: a
      timestamp and a random suffix);
    - ``budget``: USD. A run whose estimate exceeds it does not start
      (:class:`~imgkit.errors.BudgetExceededError`); a run stops sending before its actual
      spend (plus what is in flight) would pass it, leaving a resumable run;
    - ``concurrency`` (default 4), ``rate_limits`` ({model: {"requests_per_minute": ...,
      "images_per_minute": ...}}), ``catalog_rate_limits`` (default: on live runs only);
    - ``sim_url`` (a simulator already running), else ``sim_seed``, ``sim_latency``,
      ``sim_faults`` for the embedded one;
    - ``retry``: a :class:`RetryPolicy`; ``timeout_s``: per request;
    - ``progress`` (tqdm bars per arm), ``log`` (where the estimate and notices go; default
      stderr; None for silence), ``stop`` (a threading.Event that ends the run cleanly, as
      "stopped"), ``interrupt`` (the same, ending it as "interrupted": what Ctrl-C sets).

    Raises :class:`~imgkit.errors.ValidationError` for a request a model would reject (before
    anything is sent) and :class:`~imgkit.errors.BudgetExceededError`. Ctrl-C sends nothing
    more and keeps the images of the requests in flight (a second Ctrl-C abandons them): the
    returned run has status "interrupted" and can be resumed.
    """
    stop, interrupt = kwargs.pop("stop", None), kwargs.pop("interrupt", None)
    return _run_sync(
        lambda event, cut: adrill(prompts, models, n, stop=event, interrupt=cut, **kwargs),
        stop,
        interrupt,
    )


def resume(path: str | os.PathLike[str], **kwargs: Any) -> Run:
    """Finish an interrupted, stopped or crashed run; return it.

    Never re-sends a generation that completed or was refused. Attempts that were in flight
    when the run was cut off are reported (log, manifest, :meth:`Run.may_have_been_billed`) as
    possibly billed, with their estimated cost, and their generations are sent again.
    Keyword arguments: ``budget`` (default: the run's own), ``concurrency``, ``sim_url`` (the
    simulator to use now), ``retry_failed`` (default True: send again generations that failed
    for a transient reason), ``progress``, ``log``, ``stop``. Raises
    :class:`~imgkit.errors.RunError` when the folder is not a run or another runner holds it,
    :class:`~imgkit.errors.BudgetExceededError` when what is left would pass the budget.
    """
    stop, interrupt = kwargs.pop("stop", None), kwargs.pop("interrupt", None)
    return _run_sync(
        lambda event, cut: aresume(path, stop=event, interrupt=cut, **kwargs), stop, interrupt
    )
