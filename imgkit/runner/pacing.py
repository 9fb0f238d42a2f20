"""Pacing: per-model rate limits, a shared pause after a 429, and how long to wait before a retry.

Every delay comes from the :class:`~imgkit.experiment.options.RetryPolicy` or the service's own
Retry-After, so tests run the whole policy at zero delay.
"""

from __future__ import annotations

import asyncio
import time

from imgkit.catalog.models import Catalog
from imgkit.errors import RateLimitedError
from imgkit.experiment.options import DrillOptions, RetryPolicy

__all__ = ["ModelGate", "rate_limits_per_model", "retry_after"]


class ModelGate:
    """Pacing for one model: a minimum spacing from its rate limit, and a shared pause after
    a 429 so that every request waiting on the model honours the Retry-After, not just the
    one that received it."""

    def __init__(self, per_minute: float | None) -> None:
        self.interval = 60.0 / per_minute if per_minute else 0.0
        self.next_slot = 0.0
        self.blocked_until = 0.0

    def block(self, seconds: float) -> None:
        """Hold every request to this model for ``seconds`` from now."""
        self.blocked_until = max(self.blocked_until, time.monotonic() + seconds)

    def blocked_for(self) -> float:
        """Seconds left of the current pause (0 when none)."""
        return max(0.0, self.blocked_until - time.monotonic())

    async def wait_turn(self) -> None:
        """Return when a request to this model may be sent."""
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


def rate_limits_per_model(options: DrillOptions, catalog: Catalog) -> dict[str, float | None]:
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


def retry_after(policy: RetryPolicy, error: RateLimitedError) -> float:
    """Seconds to wait after ``error``: its Retry-After, or the policy's default, capped."""
    wait = error.retry_after
    if wait is None or wait < 0:
        wait = policy.default_retry_after_s
    return min(float(wait), policy.max_retry_after_s)
