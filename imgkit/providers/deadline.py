"""A total deadline for every request, not only a limit on the gap between bytes.

The HTTP libraries' timeouts bound each wait (connect, each read): a service that sends its
headers and then one byte a second never trips them, and held a drill for as long as it cared
to (420 s and counting, in issue 25). Here every request gets ``timeout_s`` in all, from the
moment it is sent to its last byte:

- the async path (what a drill runs) wraps the whole call in :func:`async_deadline`, which
  cancels it at the deadline wherever it waits, and raises
  :class:`~imgkit.errors.ProviderTimeoutError`;
- the synchronous path hooks the HTTP client (:func:`event_hooks`): a response body that is
  still arriving at the deadline is cut there, with the library's ``ReadTimeout`` (which the
  SDKs and ``errormap`` turn into the same error). A service that stalls altogether after its
  headers is still bounded by the read timeout (``timeout_s`` too): there, the worst case is
  twice the deadline. :func:`async_event_hooks` does the same for an async client used outside
  :func:`within_deadline` (Gemini's and Leonardo's); OpenAI's async clients are used only
  inside it, and go without (the hooks cost 0.2-0.5 ms of CPU a request).

The default, :data:`~imgkit.providers.base.DEFAULT_TIMEOUT_S` (180 s), is long enough for the
slowest image model at its largest size and quality, and short enough that a stalled answer
does not hold a run for long.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from imgkit.errors import ProviderTimeoutError

__all__ = ["async_deadline", "async_event_hooks", "event_hooks", "within_deadline"]

_STARTED = "imgkit_started"


def _library(response: Any) -> Any:
    return importlib.import_module(type(response).__module__.split(".")[0])


@functools.cache
def _body_class(module: Any, kind: str) -> type:
    """:class:`_SyncBody` or :class:`_AsyncBody` as a subclass of ``module``'s byte stream
    (httpx and httpx2 check the stream's class before reading or closing it)."""
    if kind == "sync":
        return type("SyncDeadlineBody", (_SyncBody, module.SyncByteStream), {})
    return type("AsyncDeadlineBody", (_AsyncBody, module.AsyncByteStream), {})


def _read_timeout(response: Any, seconds: float) -> BaseException:
    return _library(response).ReadTimeout(
        f"no complete answer within the request's deadline of {seconds:g} s",
        request=response.request,
    )


class _SyncBody:
    def __init__(self, inner: Any, response: Any, deadline: float, seconds: float) -> None:
        self.inner, self.response, self.deadline, self.seconds = inner, response, deadline, seconds

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.inner:
            if time.monotonic() > self.deadline:
                raise _read_timeout(self.response, self.seconds)
            yield chunk

    def close(self) -> None:
        self.inner.close()


class _AsyncBody:
    def __init__(self, inner: Any, response: Any, deadline: float, seconds: float) -> None:
        self.inner, self.response, self.deadline, self.seconds = inner, response, deadline, seconds

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self.inner:
            if time.monotonic() > self.deadline:
                raise _read_timeout(self.response, self.seconds)
            yield chunk

    async def aclose(self) -> None:
        await self.inner.aclose()


def event_hooks(seconds: float) -> dict[str, list[Any]]:
    """``event_hooks`` for a synchronous httpx or httpx2 client: each response body is cut at
    ``seconds`` after its request was sent."""

    def on_request(request: Any) -> None:
        request.extensions[_STARTED] = time.monotonic()

    def on_response(response: Any) -> None:
        started = response.request.extensions.get(_STARTED, time.monotonic())
        body = _body_class(_library(response), "sync")
        response.stream = body(response.stream, response, started + seconds, seconds)

    return {"request": [on_request], "response": [on_response]}


def async_event_hooks(seconds: float) -> dict[str, list[Any]]:
    """:func:`event_hooks` for an async client."""

    async def on_request(request: Any) -> None:
        request.extensions[_STARTED] = time.monotonic()

    async def on_response(response: Any) -> None:
        started = response.request.extensions.get(_STARTED, time.monotonic())
        body = _body_class(_library(response), "async")
        response.stream = body(response.stream, response, started + seconds, seconds)

    return {"request": [on_request], "response": [on_response]}


@contextlib.asynccontextmanager
async def async_deadline(
    seconds: float, *, provider: str, model: str | None
) -> AsyncIterator[None]:
    """Run the block within ``seconds`` in all, else :class:`ProviderTimeoutError` (the
    request may have reached the service: possibly billed, retried once by the policy)."""
    scope = asyncio.timeout(seconds)
    try:
        async with scope:
            yield
    except TimeoutError:
        if not scope.expired():
            raise
        raise ProviderTimeoutError(
            f"no complete answer within the request's deadline of {seconds:g} s",
            provider=provider, model=model, code="deadline",
        ) from None  # fmt: skip


def within_deadline(method: Any) -> Any:
    """Decorate a provider's async ``agenerate``/``aedit(self, request, ...)``: the whole call
    within ``self.settings.timeout_s`` (:func:`async_deadline`)."""

    @functools.wraps(method)
    async def bounded(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        seconds = self.settings.timeout_s
        async with async_deadline(seconds, provider=self.name, model=request.model):
            return await method(self, request, *args, **kwargs)

    return bounded
