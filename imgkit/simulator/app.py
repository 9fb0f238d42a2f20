"""The simulator's ASGI application: routes for each vendor plus the ``/_sim`` control routes.

- POST /v1/images/generations: OpenAI Images API, generate (JSON; streams on request)
- POST /v1/images/edits: OpenAI Images API, edit (multipart; streams on request)
- POST /v1/responses: OpenAI Responses API with the image_generation tool (streams too)
- POST /v1/models/{model}:generateContent and :streamGenerateContent (and /v1beta/...): Gemini
- POST /v1beta1/projects/{p}/locations/{l}/publishers/google/models/{model}:generateContent
  (and v1, :streamGenerateContent): the same, by Vertex AI's path (imgkit.simulator.vertex_api)
- anything else: OpenAI's 404 "Invalid URL" JSON (Leonardo's shape under /api/rest/)
- POST /api/rest/v1/generations and /api/rest/v2/generations: Leonardo create
- GET /api/rest/v1/generations/{id}: Leonardo poll
- POST /v1/files, GET|DELETE /v1/files/{id}, GET /v1/files/{id}/content: OpenAI's Files API
- POST|GET /v1/batches, GET /v1/batches/{id}, POST /v1/batches/{id}/cancel: OpenAI's Batch API
- POST /upload/{version}/files, GET|DELETE /{version}/files/{name}[:download]: Gemini's Files API
- POST /{version}/models/{model}:batchGenerateContent, GET /{version}/batches[/{name}], POST
  /{version}/batches/{name}:cancel: Gemini's batch mode (imgkit.simulator.batch_jobs runs them)
- GET /_sim/files/{id}.{ext}: temporary image URLs (404 once expired)
- GET /_sim/stats, POST /_sim/reset, POST /_sim/configure: counters and control
"""

from __future__ import annotations

import hmac
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from imgkit.errors import ValidationError
from imgkit.simulator import (
    gemini_api,
    gemini_batches,
    leonardo_api,
    openai_batches,
    openai_errors,
    openai_images,
    openai_responses,
    vertex_api,
)
from imgkit.simulator.pipeline import request_id
from imgkit.simulator.state import SimState

__all__ = ["create_app"]


class _SimulatedHeaders:
    """Mark every response as simulated and give it a request id, as the vendors do."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                headers.append((b"x-imgkit-simulated", b"1"))
                if b"x-request-id" not in names:
                    headers.append((b"x-request-id", request_id().encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _file(request: Request) -> Response:
    state: SimState = request.app.state.sim
    stored = state.get_image(request.path_params["image_id"])
    if stored is None:
        return JSONResponse(
            {
                "error": {
                    "code": "BlobNotFound",
                    "message": "The specified blob does not exist "
                    "or its URL has expired. (imgkit simulator)",
                }
            },
            status_code=404,
        )
    state.count_download()
    # From its file on disk: the simulator keeps no image in memory for its URL's hour.
    return FileResponse(stored.path, media_type=stored.content_type)


async def _stats(request: Request) -> Response:
    return JSONResponse(request.app.state.sim.stats())


def _control_refused(request: Request) -> Response | None:
    """401 unless the request carries the simulator's control secret: any process on this
    machine can reach the port, and only the simulator's owner may reset its counters or
    change what it does (faults, latency) while a run measures it."""
    state: SimState = request.app.state.sim
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(
        token.strip().encode("utf-8", "replace"), state.control_secret.encode("utf-8")
    ):
        return None
    state.count_unauthorized()
    return JSONResponse(
        {
            "error": "the control routes need the simulator's control secret "
            "(Authorization: Bearer SECRET): SimServer.control_secret in the process that "
            "started it; `imgkit sim` takes it from IMGKIT_SIM_CONTROL_SECRET or writes it to "
            "--control-secret-file"
        },
        status_code=401,
    )


async def _reset(request: Request) -> Response:
    refused = _control_refused(request)
    if refused is not None:
        return refused
    state: SimState = request.app.state.sim
    state.reset()
    return JSONResponse(state.stats())


async def _configure(request: Request) -> Response:
    refused = _control_refused(request)
    if refused is not None:
        return refused
    state: SimState = request.app.state.sim
    try:
        body: Any = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return JSONResponse({"error": "send a JSON object"}, status_code=400)
    allowed = (
        "faults",
        "latency",
        "block",
        "url_ttl",
        "timeout_hold",
        "retry_after",
        "rate_limits",
        "batch_duration",
    )
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        return JSONResponse(
            {"error": f"unknown settings {unknown}; allowed {list(allowed)}"}, status_code=400
        )
    try:
        state.configure(**body)
    except ValidationError as exc:
        return JSONResponse({"error": str(exc), "param": exc.param}, status_code=400)
    return JSONResponse(state.stats())


async def _gemini_model(request: Request) -> Response:
    """POST /{version}/models/{model}:ACTION: generateContent (streamed or not), or a batch."""
    model, _, action = request.path_params["model_action"].partition(":")
    if action == "batchGenerateContent":
        return await gemini_batches.create_batch(request, model)
    return await gemini_api.generate_content(request)


async def _openai_file(request: Request) -> Response:
    if request.method == "DELETE":
        return await openai_batches.delete_file(request)
    return await openai_batches.retrieve_file(request)


async def _not_found(request: Request, exc: Exception) -> Response:
    if request.url.path.startswith("/api/rest/"):
        return leonardo_api.error(404, f"Not found: {request.url.path}", code="not-found")
    return openai_errors.not_found(request)


async def _method_not_allowed(request: Request, exc: Exception) -> Response:
    return openai_errors.method_not_allowed(request)


def _gemini_or_openai(gemini: Any, openai: Any) -> Any:
    """A route both vendors' SDKs reach at the same path (/v1/files/..., /v1/batches/...):
    Gemini's sends ``x-goog-api-key``, OpenAI's ``Authorization: Bearer``."""

    async def route(request: Request) -> Response:
        if request.headers.get("x-goog-api-key") and not request.headers.get("authorization"):
            return await gemini(request)
        if request.path_params.get("version", "v1") != "v1":
            return await gemini(request)
        return await openai(request)

    return route


def create_app(state: SimState) -> ASGIApp:
    """The ASGI app serving ``state``."""
    routes = [
        # First: the vendors' routes below take any first path segment as an API version.
        Route("/_sim/files/{image_id:str}.{ext:str}", _file, methods=["GET"]),
        Route("/v1/images/generations", openai_images.generations, methods=["POST"]),
        Route("/v1/images/edits", openai_images.edits, methods=["POST"]),
        Route("/v1/responses", openai_responses.responses, methods=["POST"]),
        Route("/v1/files", openai_batches.create_file, methods=["POST"]),
        Route("/v1/files/{file_id:str}/content", openai_batches.file_content, methods=["GET"]),
        Route(
            "/{version:str}/files/{file_id:str}",
            _gemini_or_openai(gemini_batches.file_route, _openai_file),
            methods=["GET", "DELETE"],
        ),
        Route("/v1/batches", openai_batches.create_batch, methods=["POST"]),
        Route(
            "/{version:str}/batches",
            _gemini_or_openai(gemini_batches.list_batches, openai_batches.list_batches),
            methods=["GET"],
        ),
        Route("/v1/batches/{batch_id:str}/cancel", openai_batches.cancel_batch, methods=["POST"]),
        Route(
            "/{version:str}/batches/{batch_id:str}",
            _gemini_or_openai(gemini_batches.batch_route, openai_batches.retrieve_batch),
            methods=["GET", "POST", "DELETE"],
        ),
        Route("/upload/{version:str}/files", gemini_batches.upload, methods=["POST"]),
        Route("/{version:str}/models/{model_action:str}", _gemini_model, methods=["POST"]),
        Route(vertex_api.VERTEX_PATH, vertex_api.generate_content, methods=["POST"]),
        Route("/api/rest/v1/generations", leonardo_api.create_v1, methods=["POST"]),
        Route("/api/rest/v2/generations", leonardo_api.create_v2, methods=["POST"]),
        Route("/api/rest/v1/generations/{generation_id:str}", leonardo_api.poll, methods=["GET"]),
        Route("/_sim/stats", _stats, methods=["GET"]),
        Route("/_sim/reset", _reset, methods=["POST"]),
        Route("/_sim/configure", _configure, methods=["POST"]),
    ]
    # A path nobody serves (or a served one asked with the wrong method) gets OpenAI's JSON
    # error rather than Starlette's text/plain, wherever it is: clients parse the body.
    app = Starlette(
        routes=routes,
        exception_handlers={404: _not_found, 405: _method_not_allowed},
    )
    app.state.sim = state
    return _SimulatedHeaders(app)
