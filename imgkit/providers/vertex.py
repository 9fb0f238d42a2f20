"""Vertex AI as a way to reach the Gemini models.

Many teams reach Gemini through Google Cloud's Vertex AI rather than the Gemini API: the same
models and bodies, at ``/v1beta1/projects/{project}/locations/{location}/publishers/google/
models/{model}:generateContent``, billed to a Cloud project. google-genai speaks both
(``genai.Client(vertexai=True, project=..., location=...)``); :class:`GeminiProvider
<imgkit.providers.gemini_provider.GeminiProvider>` takes ``vertexai``, ``project`` and
``location``, or reads them where google-genai and the Cloud tools do:

==============================  ===============================================================
``GOOGLE_GENAI_USE_VERTEXAI``    ``true`` routes every Gemini request through Vertex AI (so a
                                 drill or a chain uses it with no change to its arms)
``GOOGLE_CLOUD_PROJECT``         the project (required, unless an API key is used)
``GOOGLE_CLOUD_LOCATION``        the location (default ``global``)
``GOOGLE_API_KEY``               Vertex's express mode: an API key instead of a project
``GOOGLE_APPLICATION_CREDENTIALS``  a service account file; else application-default
                                 credentials (``gcloud auth application-default login``)
==============================  ===============================================================

Live, with a project, the credentials are application-default ones, which google-genai finds
itself (imgkit never reads or stores them); with an API key and no project, express mode. On
the simulator, a placeholder access token stands in for the credentials, and the simulator
serves Vertex's paths with the Gemini API's answers (:mod:`imgkit.simulator.vertex_api`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from imgkit.errors import AuthenticationError, check_argument
from imgkit.providers.base import (
    BACKENDS,
    DEFAULT_TIMEOUT_S,
    SIM_API_KEY,
    ProviderSettings,
    sim_base_url,
)

__all__ = ["VertexTarget", "vertex_settings", "vertex_target"]

_TRUE = ("1", "true", "yes", "on")
#: The project a simulated Vertex request names when none is given.
SIM_PROJECT = "imgkit-sim"


@dataclass(frozen=True)
class VertexTarget:
    """Where on Vertex AI: the Cloud project and location (None project: express mode)."""

    project: str | None
    location: str

    def client_kwargs(self, settings: ProviderSettings) -> dict[str, Any]:
        """``genai.Client`` arguments for this target with ``settings``."""
        kwargs: dict[str, Any] = {"vertexai": True}
        if settings.backend == "sim":
            from google.oauth2.credentials import Credentials

            # A bearer token the simulator accepts; nothing to refresh, nothing read from disk.
            kwargs.update(
                project=self.project or SIM_PROJECT,
                location=self.location,
                credentials=Credentials(token=settings.api_key),
            )
        elif self.project is not None:
            kwargs.update(project=self.project, location=self.location)  # ADC, found by genai
        else:
            kwargs["api_key"] = settings.api_key  # express mode
        return kwargs


def vertex_target(
    vertexai: bool | None, project: str | None, location: str | None, env: Mapping[str, str]
) -> VertexTarget | None:
    """The Vertex target asked for (arguments first, then the environment), or None for the
    Gemini API."""
    if vertexai is None:
        vertexai = str(env.get("GOOGLE_GENAI_USE_VERTEXAI", "")).strip().lower() in _TRUE
    if not vertexai:
        return None
    return VertexTarget(
        project=project or env.get("GOOGLE_CLOUD_PROJECT") or None,
        location=location or env.get("GOOGLE_CLOUD_LOCATION") or "global",
    )


def vertex_settings(
    backend: str,
    base_url: str | None,
    api_key: str | None,
    timeout_s: float | None,
    target: VertexTarget,
    env: Mapping[str, str],
) -> ProviderSettings:
    """Settings for a Vertex provider. Live, the base URL is google-genai's own (regional
    endpoints follow the location) unless given; a key is needed only without a project."""
    check_argument("backend", backend, BACKENDS)
    timeout = DEFAULT_TIMEOUT_S if timeout_s is None else float(timeout_s)
    if backend == "sim":
        url = (base_url or sim_base_url("gemini")).rstrip("/")
        return ProviderSettings("gemini", "sim", url, api_key or SIM_API_KEY, timeout)
    key = api_key or env.get("GOOGLE_API_KEY") or ""
    if target.project is None and not key:
        raise AuthenticationError(
            "Vertex AI needs a project (GOOGLE_CLOUD_PROJECT, with application-default "
            "credentials) or an API key (GOOGLE_API_KEY, express mode)",
            provider="gemini",
            code="missing_vertex_credentials",
        )
    return ProviderSettings("gemini", "live", (base_url or "").rstrip("/"), key, timeout)
