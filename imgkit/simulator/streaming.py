"""Server-sent events for the simulator's streaming routes (OpenAI's Images and Responses
streams, Gemini's ``streamGenerateContent?alt=sse``).

A stream is prepared whole (the images are drawn first), then each event is sent at its moment:
the configured latency is spread over the stream, partial images at even steps and the final
image at the end, so that a client measuring the time to its first partial image and to its
final image sees the first come before the second, as with the real services.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import anyio
from starlette.responses import StreamingResponse

__all__ = ["event_stream", "schedule", "sse"]


def sse(data: dict[str, Any], event: str | None = None) -> bytes:
    """One server-sent event: an ``event:`` line when named, then the JSON ``data:`` line."""
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def schedule(count: int, latency: float) -> list[float]:
    """When (seconds after the stream starts) each of ``count`` steps is due; the last at
    ``latency``, the others evenly before it."""
    if count <= 0:
        return []
    return [latency * (step + 1) / count for step in range(count)]


def event_stream(
    events: Sequence[tuple[float, bytes]], *, headers: dict[str, str] | None = None
) -> StreamingResponse:
    """Send each (seconds after start, event bytes) at its time, as ``text/event-stream``."""

    async def body() -> AsyncIterator[bytes]:
        start = time.monotonic()
        for due, chunk in events:
            delay = due - (time.monotonic() - start)
            if delay > 0:
                await anyio.sleep(delay)
            yield chunk

    return StreamingResponse(
        body(),
        media_type="text/event-stream",
        headers={"cache-control": "no-cache", **(headers or {})},
    )
