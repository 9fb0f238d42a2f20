"""The services a session talks to: one provider per vendor, and the embedded simulator.

A ``sim`` run starts its own simulator on 127.0.0.1 unless it is pointed at one already running
(``sim_url``); a ``live`` run talks to the vendors with keys from the environment, checked
before the run folder exists.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from imgkit.catalog.models import Catalog
from imgkit.experiment.options import DrillOptions
from imgkit.runs.ledger import PlannedGeneration

__all__ = ["check_keys", "embedded_simulator", "make_providers", "provider_urls"]

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


@contextlib.contextmanager
def embedded_simulator(options: DrillOptions) -> Iterator[Any]:
    """An embedded simulator for this run, unless the run targets one by URL (or is live)."""
    if options.backend != "sim" or options.sim_url:
        yield None
        return
    from imgkit.simulator import serve

    with serve(
        seed=options.sim_seed, latency=options.sim_latency, faults=options.sim_faults
    ) as sim:
        yield sim


def check_keys(options: DrillOptions, catalog: Catalog) -> None:
    """Fail before the run folder exists when a live key is missing (AuthenticationError)."""
    from imgkit.providers import resolve_settings

    for provider in sorted({catalog.get_model(arm.model).provider for arm in options.arms}):
        resolve_settings(provider, backend="live")
