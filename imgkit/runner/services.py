"""The services a session talks to: one provider per vendor, and the embedded simulator.

A ``sim`` run starts its own simulator on 127.0.0.1 unless it is pointed at one already running
(``sim_url``); a ``live`` run talks to the vendors with keys from the environment, checked
before the run folder exists.

Getting ready to send is slow the first time in a process: the SDKs take a second or more to
import, and a provider's first request makes its clients (TLS set-up), loads the SDK's lazily
imported parts and builds its response models' schemas. Done on the event loop, all of that
would hold up the first answers; so :func:`start_preparing` imports in a worker thread while
the run folder is being written, and :func:`open_providers` makes the providers and readies
them for the session's loop (``provider.prepare(loop)``) in a worker thread too, before the
first request is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import threading
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from imgkit.catalog.models import Catalog
from imgkit.experiment.options import DrillOptions
from imgkit.runs.ledger import PlannedGeneration

__all__ = [
    "check_keys",
    "embedded_simulator",
    "make_providers",
    "open_providers",
    "provider_urls",
    "start_preparing",
]

# Where each vendor's API sits under a simulator's base URL.
_SIM_SUFFIX = {"openai": "/v1", "gemini": "", "leonardo": "/api/rest/v1"}


def provider_urls(sim: Any, sim_url: str | None) -> dict[str, str | None]:
    """Each vendor's base URL: the embedded simulator's, ``sim_url``'s, or None (live)."""
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


def make_providers(
    options: DrillOptions, generations: Iterable[PlannedGeneration], urls: Mapping[str, Any]
) -> dict[str, Any]:
    """One provider for each vendor that ``generations`` use, keyed by vendor name."""
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


def _warm_tls_contexts() -> None:
    """Make the process's TLS contexts (:mod:`imgkit.providers.http_clients`), which every
    provider's clients take, while the SDKs import: loading the CA certificates (30 to 60 ms a
    context quiet, 0.17 s on a busy machine) runs in OpenSSL without the GIL, so on a second core
    it costs the import nothing, where made after it, it stood between the import and the first
    request."""
    from imgkit.providers.http_clients import tls_context

    with contextlib.suppress(Exception):  # a failure shows where the context is needed
        tls_context("httpx")
        tls_context("httpx2")


def _import_for(options: DrillOptions, vendors: Iterable[str]) -> None:
    threading.Thread(target=_warm_tls_contexts, name="imgkit-tls", daemon=True).start()
    # Imported in the order the session needs them: the embedded simulator starts first.
    if options.backend == "sim" and not options.sim_url:
        importlib.import_module("imgkit.simulator.app")
        importlib.import_module("uvicorn")
    from imgkit.providers import provider_module

    for vendor in sorted(set(vendors)):
        importlib.import_module(provider_module(vendor))


def start_preparing(options: DrillOptions, generations: Iterable[PlannedGeneration]) -> Future:
    """Start importing, in a worker thread, what a session of these generations will load:
    the embedded simulator and the providers with their SDKs. Returns its future, for
    :func:`open_providers` (a failure here is left for making the providers to report)."""
    vendors = {g.provider for g in generations}
    worker = ThreadPoolExecutor(1, thread_name_prefix="imgkit-prepare")
    try:
        return worker.submit(_import_for, options, vendors)
    finally:
        worker.shutdown(wait=False)


def _ready_providers(
    options: DrillOptions,
    generations: list[PlannedGeneration],
    urls: Mapping[str, Any],
    loop: asyncio.AbstractEventLoop,
) -> dict[str, Any]:
    providers = make_providers(options, generations, urls)
    endpoints: dict[str, set[str]] = {}
    for g in generations:
        endpoints.setdefault(g.provider, set()).add(g.endpoint)
    for vendor, provider in providers.items():
        prepare = getattr(provider, "prepare", None)
        if prepare is not None:
            prepare(loop, endpoints=endpoints.get(vendor, set()))
    return providers


async def open_providers(
    options: DrillOptions,
    generations: Iterable[PlannedGeneration],
    urls: Mapping[str, Any],
    preparing: Future | None = None,
) -> dict[str, Any]:
    """:func:`make_providers`, readied for the running loop, without blocking it: waits for
    ``preparing`` (from :func:`start_preparing`), then makes the providers and calls each one's
    ``prepare(loop)`` in a worker thread."""
    if preparing is not None:
        with contextlib.suppress(Exception):
            await asyncio.wrap_future(preparing)
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(
        None, _ready_providers, options, list(generations), urls, loop
    )


@contextlib.contextmanager
def embedded_simulator(options: DrillOptions) -> Iterator[Any]:
    """An embedded simulator for this run, unless the run targets one by URL (or is live)."""
    if options.backend != "sim" or options.sim_url:
        yield None
        return
    from imgkit.simulator import serve

    extra = {}
    if getattr(options, "sim_batch_duration", None) is not None:
        extra["batch_duration"] = options.sim_batch_duration
    with serve(
        seed=options.sim_seed, latency=options.sim_latency, faults=options.sim_faults, **extra
    ) as sim:
        yield sim


def check_keys(options: DrillOptions, catalog: Catalog) -> None:
    """Fail before the run folder exists when a live key is missing (AuthenticationError)."""
    from imgkit.providers import resolve_settings

    for provider in sorted({catalog.get_model(arm.model).provider for arm in options.arms}):
        resolve_settings(provider, backend="live")
