"""Vertex AI's paths to the Gemini models, served by the simulator's Gemini side.

Vertex AI serves the same models and the same ``generateContent`` bodies as the Gemini API, at
``POST /{v1,v1beta1}/projects/{project}/locations/{location}/publishers/google/models/
{model}:generateContent`` (and ``:streamGenerateContent``), authenticated by an OAuth access
token (``Authorization: Bearer``, from application-default credentials) or, in express mode, an
API key (``x-goog-api-key``). google-genai sends ``v1beta1`` by default. The answer is the
Gemini API's: this module checks the Vertex-only parts (version, credentials) and hands the
request on (:func:`imgkit.simulator.gemini_api.generate_content`), so the two paths can never
answer differently.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from imgkit.simulator import gemini_api

__all__ = ["VERTEX_PATH", "generate_content"]

VERTEX_PATH = (
    "/{version:str}/projects/{project:str}/locations/{location:str}"
    "/publishers/google/models/{model_action:str}"
)
_VERSIONS = ("v1", "v1beta1")


async def generate_content(request: Request) -> Response:
    """A Vertex ``generateContent`` call, answered as the Gemini API answers it."""
    version = request.path_params["version"]
    if version not in _VERSIONS:
        return gemini_api.error(404, f"Vertex AI has no API version {version}.")
    bearer = request.headers.get("authorization", "")
    token = bearer[7:].strip() if bearer.lower().startswith("bearer ") else ""
    key = request.headers.get("x-goog-api-key") or token
    if not key:
        request.app.state.sim.count_unauthorized()
        message = (
            "Request is missing required authentication credential. Expected OAuth 2 access "
            "token, login cookie or other valid authentication credential. (imgkit simulator)"
        )
        body = {"error": {"code": 401, "message": message, "status": "UNAUTHENTICATED"}}
        return JSONResponse(body, status_code=401)
    scope = dict(request.scope)
    # The Gemini side reads its version, model and key from these.
    scope["path_params"] = {**request.path_params, "version": "v1beta"}
    headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"x-goog-api-key"]
    scope["headers"] = [*headers, (b"x-goog-api-key", key.encode())]
    return await gemini_api.generate_content(Request(scope, request.receive))
