"""One interface in front of every image service.

::

    from imgkit.providers import provider_for_model
    provider = provider_for_model("gpt-image-2")            # the embedded simulator
    results = provider.generate(validate_request("gpt-image-2", "a red cube"))

``backend="sim"`` (the default) talks to imgkit's simulator; ``backend="live"`` to the real
services, with keys from the environment (see :mod:`imgkit.providers.base`). Providers raise only
:class:`~imgkit.errors.ProviderError` subclasses (translated in :mod:`imgkit.providers.errormap`)
and :class:`~imgkit.errors.ValidationError` for requests they cannot take.

Also here, built on the providers: the fallback chain (:mod:`imgkit.providers.chain`) and masked
editing (:mod:`imgkit.providers.editing`); :mod:`imgkit.providers.results` holds the
:class:`~imgkit.providers.results.GenerationResult` every provider returns. The provider classes
load on first use, each with its vendor's SDK.
"""

from __future__ import annotations

import importlib
from typing import Any

from imgkit._lazy import lazy_exports
from imgkit.catalog.models import get_model
from imgkit.errors import check_argument
from imgkit.providers.base import (
    BACKENDS,
    PROVIDERS,
    Backend,
    Provider,
    ProviderSettings,
    resolve_settings,
    sim_base_url,
)

__all__ = [
    "BACKENDS",
    "PROVIDERS",
    "Backend",
    "GeminiProvider",
    "LeonardoProvider",
    "OpenAIProvider",
    "Provider",
    "ProviderSettings",
    "get_provider",
    "provider_for_model",
    "provider_module",
    "resolve_settings",
    "sim_base_url",
]

# vendor -> (module, class): imported when first asked for, so that using one vendor does not
# load the other vendors' SDKs
_CLASSES: dict[str, tuple[str, str]] = {
    "openai": ("imgkit.providers.openai_provider", "OpenAIProvider"),
    "gemini": ("imgkit.providers.gemini_provider", "GeminiProvider"),
    "leonardo": ("imgkit.providers.leonardo_provider", "LeonardoProvider"),
}
__getattr__, __dir__ = lazy_exports(
    __name__, {cls: module for module, cls in _CLASSES.values()}, globals()
)


def provider_module(name: str) -> str:
    """The module that holds vendor ``name``'s provider (importing it loads the vendor's SDK)."""
    check_argument("provider", name, PROVIDERS)
    return _CLASSES[name][0]


def get_provider(
    name: str,
    *,
    backend: Backend = "sim",
    base_url: str | None = None,
    api_key: str | None = None,
    timeout_s: float | None = None,
    **options: Any,
) -> Provider:
    """A provider by vendor name ('openai', 'gemini', 'leonardo').

    ``options`` go to the provider class (e.g. ``poll_interval_s`` for Leonardo,
    ``responses_model`` for OpenAI). Raises :class:`~imgkit.errors.ValidationError` for an
    unknown name or backend, :class:`~imgkit.errors.AuthenticationError` for a missing live key.
    """
    check_argument("provider", name, PROVIDERS)
    module, cls = _CLASSES[name]
    return getattr(importlib.import_module(module), cls)(
        backend=backend, base_url=base_url, api_key=api_key, timeout_s=timeout_s, **options
    )


def provider_for_model(
    model: str,
    *,
    backend: Backend = "sim",
    base_url: str | None = None,
    api_key: str | None = None,
    timeout_s: float | None = None,
    **options: Any,
) -> Provider:
    """The provider that serves ``model`` according to the catalog."""
    return get_provider(
        get_model(model).provider,
        backend=backend,
        base_url=base_url,
        api_key=api_key,
        timeout_s=timeout_s,
        **options,
    )
