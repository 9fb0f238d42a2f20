"""One interface in front of every image service.

::

    from imgkit.providers import provider_for_model
    provider = provider_for_model("gpt-image-2")            # the embedded simulator
    results = provider.generate(validate_request("gpt-image-2", "a red cube"))

``backend="sim"`` (the default) talks to imgkit's simulator; ``backend="live"`` to the real
services, with keys from the environment (see :mod:`imgkit.providers.base`). Providers raise only
:class:`~imgkit.errors.ProviderError` subclasses (translated in :mod:`imgkit.providers.errormap`)
and :class:`~imgkit.errors.ValidationError` for requests they cannot take.
"""

from __future__ import annotations

from typing import Any

from imgkit.catalog import get_model
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
from imgkit.providers.gemini_provider import GeminiProvider
from imgkit.providers.leonardo_provider import LeonardoProvider
from imgkit.providers.openai_provider import OpenAIProvider

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
    "resolve_settings",
    "sim_base_url",
]

_CLASSES: dict[str, type] = {
    "openai": OpenAIProvider,
    "gemini": GeminiProvider,
    "leonardo": LeonardoProvider,
}


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
    return _CLASSES[name](
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
