"""The simulator's mutable state: settings, counters, temporary image URLs, Leonardo jobs.

One :class:`SimState` is shared by every request of a server. Requests run on the server's
event loop and in its worker threads while tests read the counters from their own thread, so
everything here is guarded by one lock.
"""

from __future__ import annotations

import math
import random
import secrets
import threading
import time
from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imgkit.errors import ValidationError
from imgkit.simulator.blobs import BlobStore
from imgkit.simulator.faults import BlockList, FaultPlan

__all__ = ["LeonardoJob", "SimState", "StoredImage", "parse_latency"]

Latency = float | tuple[float, float]


def parse_latency(value: Any) -> Latency:
    """A latency as seconds, or (min, max) for a uniform draw; accepts "0.5" and "0.2:1.5".

    Raises :class:`~imgkit.errors.ValidationError` (param ``latency``) otherwise.
    """
    allowed = "seconds >= 0, or MIN:MAX with 0 <= MIN <= MAX"
    try:
        if isinstance(value, str):
            if ":" in value:
                low, high = (float(part) for part in value.split(":", 1))
                value = (low, high)
            else:
                value = float(value)
        if isinstance(value, tuple | list):
            low, high = float(value[0]), float(value[1])
            if 0 <= low <= high:
                return (low, high) if low != high else low
        elif value is not None and float(value) >= 0:
            return float(value)
    except (TypeError, ValueError, IndexError):
        pass
    raise ValidationError("latency", value, allowed)


@dataclass
class StoredImage:
    """An image reachable at a temporary URL until ``expires_at`` (monotonic seconds).

    Its bytes are a file of the server's :class:`~imgkit.simulator.blobs.BlobStore`, not held in
    memory: a long sweep of URL images would otherwise keep every one for the URL's hour."""

    path: Path
    content_type: str
    expires_at: float
    size: int

    @property
    def data(self) -> bytes:
        return self.path.read_bytes()


@dataclass
class LeonardoJob:
    """A Leonardo generation: PENDING until ``ready_at``, then COMPLETE (or FAILED)."""

    generation_id: str
    model: str
    prompt: str
    width: int
    height: int
    seed: int
    ready_at: float
    image_ids: list[str]
    failed: bool = False
    nsfw: bool = False
    created_at: float = field(default_factory=time.time)


def _nested_counter() -> defaultdict[str, defaultdict[str, int]]:
    return defaultdict(lambda: defaultdict(int))


# A "timeout" fault holds the request longer than any client's default timeout (the openai
# SDK waits 600 s, imgkit's providers 180 s), so the client gives up first, as it would with a
# service that stalls; after that the simulator answers 504.
DEFAULT_TIMEOUT_HOLD_S = 900.0
#: How long the ``thoughtSignature`` Gemini 3 sends in the image's part is: recorded
#: gemini-3-pro-image answers carry about 2.9 million base64 characters (docs/vendor-behaviour.md).
DEFAULT_THOUGHT_SIGNATURE_CHARS = 2_900_000
#: Seconds a simulated batch takes from creation to completion (at the least: drawing a large
#: batch may take longer).
DEFAULT_BATCH_DURATION_S = 2.0


#: A batch's completion window (24 h): the simulator's batches must end within it, as the
#: drill's ``sim_batch_duration`` must (imgkit.experiment.options).
_BATCH_WINDOW_S = 86_400.0


def _batch_duration(value: Any) -> float:
    number = _seconds("batch_duration", value)
    if number >= _BATCH_WINDOW_S:
        raise ValidationError(
            "batch_duration", value, "seconds >= 0 and below a day (a batch's 24 h window)"
        )
    return number


def _seconds(param: str, value: Any, *, positive: bool = False) -> float:
    """``value`` as seconds, or a ValidationError naming ``param``."""
    try:
        number = float(value)
        ok = math.isfinite(number) and (number > 0 if positive else number >= 0)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValidationError(param, value, "seconds > 0" if positive else "seconds >= 0")
    return number


class SimState:
    """Settings and bookkeeping of one simulator server (see :func:`imgkit.simulator.serve`)."""

    def __init__(
        self,
        *,
        seed: int = 0,
        latency: Any = 0.0,
        faults: str | None = None,
        block: Iterable[str] = (),
        default_block: bool = True,
        url_ttl: float = 3600.0,
        timeout_hold: float = DEFAULT_TIMEOUT_HOLD_S,
        retry_after: float = 1.0,
        rate_limits: dict[str, int] | None = None,
        batch_duration: float = DEFAULT_BATCH_DURATION_S,
        control_secret: str | None = None,
        thought_signature_chars: int = DEFAULT_THOUGHT_SIGNATURE_CHARS,
    ) -> None:
        if (
            isinstance(thought_signature_chars, bool)
            or not isinstance(thought_signature_chars, int)
            or thought_signature_chars < 0
        ):
            raise ValidationError(
                "thought_signature_chars", thought_signature_chars, "a whole number >= 0"
            )
        self.thought_signature_chars = thought_signature_chars
        self.seed = seed
        #: what the control routes (/_sim/configure, /_sim/reset) require as a bearer token:
        #: random per simulator unless its owner chose one; never in stats or logs
        self.control_secret = control_secret or secrets.token_urlsafe(32)
        #: every change of settings (and reset) since the start, for runs to record
        self.settings_log: list[dict[str, Any]] = []
        self.latency = parse_latency(latency)
        self.faults = FaultPlan(faults, seed=seed)
        self.default_block = default_block
        self.block = BlockList(block, defaults=default_block)
        self.url_ttl = _seconds("url_ttl", url_ttl)
        self.timeout_hold = _seconds("timeout_hold", timeout_hold, positive=True)
        self.retry_after = _seconds("retry_after", retry_after)
        self.rate_limits = dict(rate_limits or {})
        self.batch_duration = _batch_duration(batch_duration)
        self.started_at = time.time()
        self._lock = threading.Lock()
        #: image URLs and batch files, on disk
        self.blobs = BlobStore()
        self._images: dict[str, StoredImage] = {}
        #: the Batch API's jobs (made on first use: imgkit.simulator.batch_jobs)
        self.batch_jobs: Any = None
        self.jobs: dict[str, LeonardoJob] = {}
        self._variation_counts: dict[tuple[str, str, str], int] = {}
        self._latency_count = 0
        self._window: dict[str, deque[float]] = defaultdict(deque)
        self._queue: dict[str, deque[float]] = defaultdict(deque)
        self._reset_counters()

    # -- configuration ----------------------------------------------------------------------

    def configure(
        self,
        *,
        faults: str | None = None,
        latency: Any = None,
        block: Iterable[str] | None = None,
        url_ttl: float | None = None,
        timeout_hold: float | None = None,
        retry_after: float | None = None,
        rate_limits: dict[str, int] | None = None,
        batch_duration: float | None = None,
    ) -> None:
        """Change behaviour while running; arguments left None keep their current value.

        ``faults=""`` clears the fault plan; ``block=()`` leaves only the default terms.
        """
        new_faults = FaultPlan(faults, seed=self.seed) if faults is not None else None
        new_latency = parse_latency(latency) if latency is not None else None
        if url_ttl is not None:
            url_ttl = _seconds("url_ttl", url_ttl)
        if timeout_hold is not None:
            timeout_hold = _seconds("timeout_hold", timeout_hold, positive=True)
        if retry_after is not None:
            retry_after = _seconds("retry_after", retry_after)
        if batch_duration is not None:
            batch_duration = _batch_duration(batch_duration)
        given = {
            "faults": faults,
            "latency": latency,
            "block": list(block) if block is not None else None,
            "url_ttl": url_ttl,
            "timeout_hold": timeout_hold,
            "retry_after": retry_after,
            "rate_limits": dict(rate_limits) if rate_limits is not None else None,
            "batch_duration": batch_duration,
        }
        with self._lock:
            self._log_change({k: v for k, v in given.items() if v is not None})
            if new_faults is not None:
                self.faults = new_faults
            if new_latency is not None:
                self.latency = new_latency
            if block is not None:
                self.block = BlockList(block, defaults=self.default_block)
            if url_ttl is not None:
                self.url_ttl = float(url_ttl)
            if timeout_hold is not None:
                self.timeout_hold = float(timeout_hold)
            if retry_after is not None:
                self.retry_after = float(retry_after)
            if rate_limits is not None:
                self.rate_limits = dict(rate_limits)
                self._window.clear()
                self._queue.clear()
            if batch_duration is not None:
                self.batch_duration = float(batch_duration)

    # -- randomness ---------------------------------------------------------------------------

    def variation(self, provider: str, model: str, prompt: str, seed: int | None = None) -> int:
        """The per-call variation seed of the next image for this prompt.

        With a request ``seed`` (Gemini, Leonardo) the image is a pure function of it; otherwise
        the n-th call for a (model, prompt) gets the n-th variation of the server seed, so the
        sequence is reproducible whatever the interleaving with other prompts.
        """
        if seed is not None:
            return hash_seed(self.seed, "request-seed", model, prompt, seed)
        key = (provider, model, prompt)
        with self._lock:
            index = self._variation_counts.get(key, 0)
            self._variation_counts[key] = index + 1
        return hash_seed(self.seed, provider, model, prompt, index)

    def rng(self, *parts: Any) -> random.Random:
        """A generator seeded from the server seed and ``parts``."""
        return random.Random(hash_seed(self.seed, *parts))

    def draw_latency(self) -> float:
        """Seconds to wait before answering (a fixed value or a seeded uniform draw)."""
        latency = self.latency
        if isinstance(latency, tuple):
            with self._lock:
                index = self._latency_count
                self._latency_count += 1
            return random.Random(hash_seed(self.seed, "latency", index)).uniform(*latency)
        return latency

    # -- rate limits --------------------------------------------------------------------------

    def rate_limited(self, model: str, images: int) -> float | None:
        """Seconds to wait if ``images`` more images would pass the model's per-minute limit."""
        limit = self.rate_limits.get(model)
        if not limit:
            return None
        now = time.monotonic()
        with self._lock:
            window = self._window[model]
            while window and now - window[0] >= 60.0:
                window.popleft()
            if len(window) + images > limit:
                return max(0.1, 60.0 - (now - window[0])) if window else 60.0
            window.extend([now] * images)
        return None

    def queue_delay(self, model: str, images: int) -> float:
        """Seconds until ``images`` more images of ``model`` may start, taking their places.

        For a service that queues work beyond its limit instead of refusing it (Leonardo): each
        image starts at the earliest moment that keeps the model within its images per minute.
        """
        limit = self.rate_limits.get(model)
        if not limit:
            return 0.0
        now = time.monotonic()
        with self._lock:
            starts = self._queue[model]
            while starts and now - starts[0] >= 60.0:
                starts.popleft()
            last = now
            for _ in range(images):
                start = now if len(starts) < limit else max(now, starts[-limit] + 60.0)
                starts.append(start)
                last = max(last, start)
        return last - now

    # -- temporary image URLs -----------------------------------------------------------------

    def store_image(self, data: bytes, content_type: str, ttl: float | None = None) -> str:
        """Keep ``data`` for ``ttl`` seconds (default: the server's url_ttl); return its id.

        The bytes go to a file of :attr:`blobs` at once; memory keeps only the entry."""
        image_id = secrets.token_hex(12)
        expires = time.monotonic() + (self.url_ttl if ttl is None else ttl)
        name = f"url-{image_id}"
        size = self.blobs.put(name, data)
        expired: list[StoredImage] = []
        with self._lock:
            now = time.monotonic()
            # Forget expired images now and then so a long drill does not keep them all.
            if len(self._images) > 256:
                for key in [k for k, v in self._images.items() if v.expires_at <= now]:
                    expired.append(self._images.pop(key))
            self._images[image_id] = StoredImage(self.blobs.path(name), content_type, expires, size)
        for stored in expired:
            self.blobs.delete(stored.path.name)
        return image_id

    def get_image(self, image_id: str) -> StoredImage | None:
        """The stored image, or None when unknown or expired."""
        with self._lock:
            stored = self._images.get(image_id)
            if stored is not None and stored.expires_at > time.monotonic():
                return stored
            self._images.pop(image_id, None)
        if stored is not None:
            self.blobs.delete(stored.path.name)
        return None

    def close(self) -> None:
        """Stop the batch jobs and remove the files kept on disk."""
        if self.batch_jobs is not None:
            self.batch_jobs.close()
            self.batch_jobs = None
        with self._lock:
            self._images.clear()
        self.blobs.close()

    # -- counters -----------------------------------------------------------------------------

    def _reset_counters(self) -> None:
        self._requests = _nested_counter()
        self._images_made = _nested_counter()
        self._faults: defaultdict[str, defaultdict[str, defaultdict[str, int]]] = defaultdict(
            _nested_counter
        )
        self._invalid = _nested_counter()
        self._polls = 0
        self._downloads = 0
        self._unauthorized = 0

    def reset(self) -> None:
        """Zero every counter (images already stored stay reachable)."""
        with self._lock:
            self._log_change({"reset": True})
            self._reset_counters()

    def _log_change(self, settings: dict[str, Any]) -> None:
        # Under the lock. A run compares the log's length before and after it (see
        # imgkit.runner.provenance.simulator_changes), so entries are only ever appended.
        self.settings_log.append(
            {"seq": len(self.settings_log) + 1, "at": _utc_now(), "settings": settings}
        )

    def count_request(self, provider: str, model: str) -> None:
        with self._lock:
            self._requests[provider][model] += 1

    def count_images(self, provider: str, model: str, n: int) -> None:
        with self._lock:
            self._images_made[provider][model] += n

    def count_fault(self, provider: str, model: str, kind: str) -> None:
        with self._lock:
            self._faults[provider][model][kind] += 1

    def count_invalid(self, provider: str, model: str) -> None:
        """A request rejected as invalid: received (so counted) but never drawn."""
        with self._lock:
            self._requests[provider][model] += 1
            self._invalid[provider][model] += 1

    def count_poll(self) -> None:
        with self._lock:
            self._polls += 1

    def count_download(self) -> None:
        with self._lock:
            self._downloads += 1

    def count_unauthorized(self) -> None:
        with self._lock:
            self._unauthorized += 1

    def stats(self) -> dict[str, Any]:
        """Counters as plain data (the body of GET /_sim/stats)."""

        def plain(counter: Any) -> Any:
            if isinstance(counter, dict):
                return {k: plain(v) for k, v in sorted(counter.items())}
            return counter

        with self._lock:
            requests = plain(self._requests)
            images = plain(self._images_made)
            return {
                "simulated": True,
                "seed": self.seed,
                "requests": requests,
                "images": images,
                "faults": plain(self._faults),
                "invalid": plain(self._invalid),
                "total_requests": sum(sum(m.values()) for m in requests.values()),
                "total_images": sum(sum(m.values()) for m in images.values()),
                "polls": self._polls,
                "downloads": self._downloads,
                "unauthorized": self._unauthorized,
                "pending_faults": self.faults.pending(),
                "blocked_terms": self.block.terms,
                # A list, not a tuple, so the dict equals its JSON form at GET /_sim/stats.
                "latency": list(self.latency) if isinstance(self.latency, tuple) else self.latency,
                "url_ttl": self.url_ttl,
                "url_images": len(self._images),
                "url_image_bytes_on_disk": sum(i.size for i in self._images.values()),
                "batch_duration": self.batch_duration,
                "batches": self.batch_jobs.stats() if self.batch_jobs is not None else {},
                "uptime_s": round(time.time() - self.started_at, 3),
                "settings_changes": [dict(entry) for entry in self.settings_log],
            }


def _utc_now() -> str:
    import datetime as dt

    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def hash_seed(*parts: Any) -> int:
    """A 63-bit integer from ``parts``, stable across processes (unlike ``hash``)."""
    import hashlib

    text = "\x1f".join(str(p) for p in parts)
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "big") >> 1
