"""What every provider is, and where it finds its service: backend, base URL and API key.

Two backends exist. ``sim`` (the default everywhere) talks to imgkit's embedded simulator, which
speaks each vendor's wire protocol; ``live`` talks to the real services and is only ever used
when asked for by name. Resolution order for the base URL: the ``base_url`` argument, then (live
only) the vendor's override variable (``OPENAI_BASE_URL``, ``GOOGLE_GEMINI_BASE_URL``,
``LEONARDO_BASE_URL``) for self-hosted gateways, then the vendor's public address. For ``sim``
without a base URL, the process-wide simulator (``imgkit.simulator.shared_server()``) is used.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import io
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar, runtime_checkable

from imgkit.catalog.validation import ImageRequest
from imgkit.errors import AuthenticationError, check_argument
from imgkit.providers.results import GenerationResult

__all__ = [
    "BACKENDS",
    "Backend",
    "Endpoint",
    "Provider",
    "ProviderName",
    "ProviderSettings",
    "resolve_settings",
]

Backend = Literal["sim", "live"]
ProviderName = Literal["openai", "gemini", "leonardo"]
BACKENDS: tuple[str, ...] = ("sim", "live")
PROVIDERS: tuple[str, ...] = ("openai", "gemini", "leonardo")

#: Environment variables holding each vendor's key, in order of preference.
KEY_VARIABLES: Mapping[str, tuple[str, ...]] = {
    "openai": ("OPENAI_API_KEY",),
    "gemini": ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
    "leonardo": ("LEONARDO_API_KEY",),
}
#: Environment variables that point a live provider at a gateway instead of the vendor.
BASE_URL_VARIABLES: Mapping[str, str] = {
    "openai": "OPENAI_BASE_URL",
    "gemini": "GOOGLE_GEMINI_BASE_URL",
    "leonardo": "LEONARDO_BASE_URL",
}
#: The vendors' public addresses (the SDKs' own defaults for OpenAI and Gemini).
LIVE_BASE_URLS: Mapping[str, str] = {
    "openai": "https://api.openai.com/v1",
    "gemini": "https://generativelanguage.googleapis.com",
    "leonardo": "https://cloud.leonardo.ai/api/rest/v1",
}
#: Attribute of a simulator server object holding each vendor's base URL.
_SIM_ATTRIBUTES: Mapping[str, str] = {
    "openai": "openai_base_url",
    "gemini": "gemini_base_url",
    "leonardo": "leonardo_base_url",
}
#: The key sent to the simulator: the SDKs insist on one, the simulator ignores it.
SIM_API_KEY = "sim"
#: Seconds a request may take before it counts as a timeout (image generation is slow).
DEFAULT_TIMEOUT_S = 180.0


@dataclass(frozen=True)
class ProviderSettings:
    """Where and how a provider connects. The key is never printed (see ``__repr__``)."""

    provider: str
    backend: Backend
    base_url: str
    api_key: str
    timeout_s: float

    def __repr__(self) -> str:
        return (
            f"ProviderSettings(provider={self.provider!r}, backend={self.backend!r}, "
            f"base_url={self.base_url!r}, timeout_s={self.timeout_s!r})"
        )


def sim_base_url(provider: str, server: Any = None) -> str:
    """The base URL of ``provider`` on a simulator ``server`` (default: the shared one)."""
    if server is None:
        try:
            from imgkit.simulator import shared_server
        except ImportError as exc:  # pragma: no cover - only while the simulator is missing
            raise RuntimeError(
                "backend='sim' without base_url needs imgkit.simulator.shared_server()"
            ) from exc
        server = shared_server()
    return str(getattr(server, _SIM_ATTRIBUTES[provider]))


def resolve_settings(
    provider: str,
    *,
    backend: Backend = "sim",
    base_url: str | None = None,
    api_key: str | None = None,
    timeout_s: float | None = None,
    environ: Mapping[str, str] | None = None,
) -> ProviderSettings:
    """Work out base URL, key and timeout for ``provider`` on ``backend``.

    Raises :class:`~imgkit.errors.ValidationError` for an unknown provider or backend and
    :class:`~imgkit.errors.AuthenticationError` when a live key is missing (before anything is
    sent, so a chain records it as a configuration error).
    """
    check_argument("provider", provider, PROVIDERS)
    check_argument("backend", backend, BACKENDS)
    env = os.environ if environ is None else environ
    timeout = DEFAULT_TIMEOUT_S if timeout_s is None else float(timeout_s)
    if backend == "sim":
        url = base_url or sim_base_url(provider)
        return ProviderSettings(provider, backend, url.rstrip("/"), api_key or SIM_API_KEY, timeout)
    url = base_url or env.get(BASE_URL_VARIABLES[provider]) or LIVE_BASE_URLS[provider]
    key = api_key
    for variable in KEY_VARIABLES[provider]:
        key = key or env.get(variable)
    if not key:
        names = " or ".join(KEY_VARIABLES[provider])
        raise AuthenticationError(
            f"no API key for {provider}: set {names} (backend='live' is never chosen implicitly)",
            provider=provider,
            code="missing_api_key",
        )
    return ProviderSettings(provider, backend, url.rstrip("/"), key, timeout)


@runtime_checkable
class Provider(Protocol):
    """One image service behind one interface.

    Every method takes a validated :class:`~imgkit.catalog.validation.ImageRequest` and returns one
    :class:`~imgkit.providers.results.GenerationResult` per image; failures are raised as
    :class:`~imgkit.errors.ProviderError` subclasses, never as vendor exceptions.
    """

    name: str
    backend: Backend
    settings: ProviderSettings

    def generate(self, request: ImageRequest) -> list[GenerationResult]: ...

    async def agenerate(self, request: ImageRequest) -> list[GenerationResult]: ...

    def edit(
        self, request: ImageRequest, *, image: bytes, mask: bytes | None = None
    ) -> list[GenerationResult]: ...

    async def aedit(
        self, request: ImageRequest, *, image: bytes, mask: bytes | None = None
    ) -> list[GenerationResult]: ...

    def close(self) -> None: ...

    async def aclose(self) -> None: ...


# --- helpers shared by the provider modules --------------------------------------------------

Endpoint = Literal["generate", "edit", "responses"]
_T = TypeVar("_T")


def image_info(data: bytes, fallback_format: str | None, fallback_size: str | None) -> tuple:
    """(format, width, height) of encoded image bytes, read from the bytes themselves.

    The service's word is the fallback only (SVG, or bytes Pillow cannot read), because a
    service that says 1024x1024 and sends 512x512 is exactly what a measuring toolkit must see.
    """
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as img:
            fmt = (img.format or fallback_format or "unknown").lower()
            return ("jpeg" if fmt == "jpg" else fmt), img.width, img.height
    except Exception:
        width = height = 0
        if fallback_size and "x" in fallback_size:
            w, _, h = fallback_size.partition("x")
            if w.isdigit() and h.isdigit():
                width, height = int(w), int(h)
        return (fallback_format or "unknown"), width, height


def warm_up_first_request() -> None:
    """Load now what a first request and its answer would load: the asyncio half of anyio
    (httpx's async transport picks it on its first connection), Pillow and its common image
    formats (:func:`image_info`) and the cost functions (:func:`price_result`, with pandas).

    Providers call it from ``prepare``, in a worker thread, before the first request is sent.
    """
    from PIL import Image

    import imgkit.catalog.costs  # noqa: F401 - imported to be loaded, nothing more

    # A private module of anyio's, hence the care: without it only the warm-up is lost.
    with contextlib.suppress(ImportError):
        importlib.import_module("anyio._backends._asyncio")
    Image.preinit()


#: Below this many bytes of images, an answer is read on the event loop (:func:`off_loop`).
OFF_LOOP_BYTES = 1 << 20


async def off_loop(read: Callable[..., _T], *args: Any, image_bytes: int | None = None) -> _T:
    """``read(*args)`` in a worker thread: reading an answer decodes its images whole (a few
    milliseconds for a 1024 px PNG, a hundred for a 4096 px one,
    :mod:`imgkit.providers.image_check`; the inflate lets go of the interpreter lock), which the
    event loop's other requests need not wait for.

    With ``image_bytes`` under :data:`OFF_LOOP_BYTES`, ``read`` runs here instead: the hand-over
    to a thread and back cost 0.6-0.8 ms of CPU (bench_runner, section 5), more than checking
    a 256 px PNG (0.6 ms), and the loop waits at most about 2 ms."""
    if image_bytes is not None and image_bytes < OFF_LOOP_BYTES:
        return read(*args)
    return await asyncio.to_thread(read, *args)


def is_simulated(data: bytes, backend: str) -> bool:
    """True for anything from the simulator backend or carrying the simulator's PNG label."""
    return backend == "sim" or b"imgkit-simulated" in data[:4096]


class Stopwatch:
    """Wall-clock seconds since creation (``time.perf_counter``)."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.start


class PerLoop:
    """Keeps one async client per event loop.

    Async HTTP clients are bound to the loop that first used them; a provider reused from a
    second ``asyncio.run`` would otherwise fail with "Event loop is closed".
    """

    def __init__(self, factory: Callable[[], Any]) -> None:
        self._factory = factory
        self._clients: dict[int, tuple[Any, Any]] = {}

    def get(self) -> Any:
        return self.prepare(asyncio.get_running_loop())

    def prepare(self, loop: asyncio.AbstractEventLoop) -> Any:
        """The client of ``loop``, made now if need be. Callable from any thread: making a
        client (TLS set-up included) is work the runner keeps off the event loop."""
        entry = self._clients.get(id(loop))
        if entry is None or entry[0] is not loop:
            entry = (loop, self._factory())
            self._clients[id(loop)] = entry
        return entry[1]

    def current(self) -> Any | None:
        """The client of the running loop, if one was made."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return None
        entry = self._clients.get(id(loop))
        return entry[1] if entry and entry[0] is loop else None

    def drain(self) -> list[Any]:
        """Forget every client and return them (the caller closes them)."""
        clients = [client for _, client in self._clients.values()]
        self._clients.clear()
        return clients


def price_result(
    request: ImageRequest,
    *,
    usage: Mapping[str, Any] | None,
    n_images: int,
    reported_usd: float | None = None,
) -> tuple[float | None, str, str]:
    """(USD per image, cost basis, note) for a response to ``request``.

    In order of trust: a cost the service reported (Leonardo), the token ``usage`` it reported
    (token-billed models), then the catalog estimate. A response that should have carried usage
    and did not is costed by the estimate *and says so*: it never becomes $0.
    """
    from imgkit.catalog.costs import cost_from_usage, estimate_cost

    n_images = max(n_images, 1)
    if reported_usd is not None:
        return reported_usd / n_images, "reported", "cost reported by the service"
    spec = request.spec
    notes = []
    if spec.price.kind == "per_token":
        from_usage = cost_from_usage(spec, usage, n=n_images)
        if from_usage.per_image is not None:
            return from_usage.per_image, "usage", from_usage.note
        notes.append(from_usage.note)
    estimate = estimate_cost(request)
    if estimate.per_image is None:
        notes.append(estimate.note)
        return None, "unknown", "; ".join(n for n in notes if n)
    notes.append(f"catalog estimate ({estimate.basis})")
    if estimate.note:
        notes.append(estimate.note)
    return estimate.per_image, "estimate", "; ".join(n for n in notes if n)


def check_provider(request: ImageRequest, provider: str) -> None:
    """Refuse a request for another vendor's model (a programming error, caught early)."""
    from imgkit.errors import ValidationError

    if request.spec.provider != provider:
        raise ValidationError(
            "model",
            request.model,
            f"a {provider} model",
            model=request.model,
            detail=f"{request.model} is served by {request.spec.provider}",
        )
