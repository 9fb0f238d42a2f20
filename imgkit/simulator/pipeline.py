"""The path every simulated model request takes before an image is drawn.

After a vendor module has authenticated and validated a request, :func:`admit` counts it and
decides whether it fails: a scripted or random fault first, then a blocked prompt term, then the
optional per-model rate limit, and finally the configured latency. Each vendor supplies its own
error shapes through a :class:`VendorErrors`; ``timeout`` and ``drop`` are the same everywhere
because they are about the connection, not the payload.

A refusal (a blocked term, or a ``policy``, ``image_safety``, ``prohibited``, ``decline`` or
``job_failed`` fault) is not an error every route answers alike: the Images API answers a 400,
the Responses API a failed item inside a 200, Gemini a 200 with a finish reason, Leonardo a job
that fails later. So :func:`admit` hands it back as a :class:`Refusal` for the route to play.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from imgkit.simulator.state import SimState

__all__ = [
    "BATCH_SCOPE_KEY",
    "DropResponse",
    "HoldResponse",
    "Refusal",
    "VendorErrors",
    "admit",
    "in_thread",
    "request_id",
]

#: Kinds a route plays itself (see the module docstring).
IN_BAND_KINDS = ("policy", "image_safety", "prohibited", "decline", "job_failed")
#: Set in the ASGI scope of a request that is a line of a batch (imgkit.simulator.batch_jobs).
BATCH_SCOPE_KEY = "imgkit.batch_line"


def request_id(prefix: str = "req_sim_") -> str:
    """A fresh request id, visibly simulated."""
    return prefix + secrets.token_hex(12)


def rate_limit_headers(retry_after: float, limit: int | None = None) -> dict[str, str]:
    """The headers of a 429: Retry-After, and the x-ratelimit-* family clients read.

    ``limit`` is the model's configured images per minute (``--rate-limit``); an injected
    429 has no real limit behind it, so it reports none.
    """
    seconds = str(int(retry_after)) if float(retry_after).is_integer() else f"{retry_after:.3f}"
    headers = {
        "retry-after": seconds,
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": f"{retry_after:g}s",
    }
    if limit:
        headers["x-ratelimit-limit-requests"] = str(limit)
    return headers


@dataclass(frozen=True)
class VendorErrors:
    """How one vendor phrases the errors the pipeline can produce."""

    # (retry_after seconds, model, headers from rate_limit_headers)
    rate_limited: Callable[[float, str, dict[str, str]], Response]
    server_error: Callable[[int], Response]  # (status)
    gateway_timeout: Callable[[], Response]


@dataclass(frozen=True)
class Refusal:
    """A request the service refuses on content grounds (or fails late): the route plays it.

    ``kind`` is one of :data:`IN_BAND_KINDS`; ``reason`` says why, for the message; ``term`` is
    the blocked prompt term that caused it, if any.
    """

    kind: str
    reason: str
    term: str | None = None

    @property
    def output_stage(self) -> bool:
        """Refused after the image was drawn (the moderation of the output), not for the prompt."""
        return self.kind in ("image_safety", "prohibited")


class HoldResponse(Response):
    """Hold the connection open (the ``timeout`` fault), then answer with a gateway timeout.

    Returns early when the client gives up and disconnects, so a test with a short client
    timeout does not leave a sleeping task behind.
    """

    def __init__(self, hold: float, final: Response) -> None:
        super().__init__()
        self.hold = hold
        self.final = final

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        with anyio.move_on_after(self.hold):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
        await self.final(scope, receive, send)


class DropResponse(Response):
    """Start a response, send part of the body, and stop (the ``drop`` fault).

    The server then closes the connection because the body is shorter than its declared
    length; clients see a connection lost mid-response.
    """

    def __init__(self) -> None:
        super().__init__()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")],
            }
        )
        await send({"type": "http.response.body", "body": b'{"data": [', "more_body": True})


async def admit(
    request: Request,
    state: SimState,
    *,
    provider: str,
    model: str,
    prompt: str,
    images: int,
    errors: VendorErrors,
    apply_latency: bool = True,
    rate_limit: bool = True,
) -> Response | Refusal | None:
    """Count the request; return the error it suffers or the :class:`Refusal` the route plays,
    or None (after the latency has passed) when it is to be served.

    ``rate_limit=False`` leaves the per-model limit to the route (Leonardo queues instead). A
    line of a batch (:data:`BATCH_SCOPE_KEY` in the request's scope) waits no latency and meets
    no per-minute limit: the batch's own pace stands for both.
    """
    if request.scope.get(BATCH_SCOPE_KEY):
        apply_latency = rate_limit = False
    state.count_request(provider, model)
    kind = state.faults.draw(provider, model)
    reason = f"fault injected by the simulator ({kind})" if kind else ""
    term = None
    if kind is None:
        term = state.block.match(provider, model, prompt)
        if term is not None:
            kind = "policy"
            reason = f"the prompt contains the blocked term {term!r}"
    if kind in IN_BAND_KINDS:
        state.count_fault(provider, model, kind)
        refusal = Refusal(kind, reason, term)
        # Refused after the model worked (output moderation, a decline, a failed job): that
        # takes the time an answer takes. A prompt refused on arrival does not.
        if apply_latency and kind != "policy":
            await _wait(state)
        return refusal
    if kind is None and rate_limit:
        wait = state.rate_limited(model, images)
        if wait is not None:
            state.count_fault(provider, model, "429")
            return errors.rate_limited(
                wait, model, rate_limit_headers(wait, state.rate_limits.get(model))
            )
    if kind is not None:
        state.count_fault(provider, model, kind)
        return _fault_response(kind, state, model, errors)
    if apply_latency:
        await _wait(state)
    return None


async def _wait(state: SimState) -> None:
    delay = state.draw_latency()
    if delay > 0:
        await anyio.sleep(delay)


def _fault_response(kind: str, state: SimState, model: str, errors: VendorErrors) -> Response:
    if kind == "429":
        return errors.rate_limited(state.retry_after, model, rate_limit_headers(state.retry_after))
    if kind in ("500", "503"):
        return errors.server_error(int(kind))
    if kind == "timeout":
        return HoldResponse(state.timeout_hold, errors.gateway_timeout())
    return DropResponse()


async def in_thread(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run CPU-bound drawing in the worker pool so the event loop keeps serving."""
    return await run_in_threadpool(function, *args, **kwargs)
