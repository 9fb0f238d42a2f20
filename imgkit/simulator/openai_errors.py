"""How the simulator's OpenAI side says no: error bodies, refusals, and unknown routes.

Every error is ``{"error": {"message", "type", "param", "code"}}``, all four keys always present
(the OpenAPI ``Error`` schema requires them, null or not). Which ``code`` goes with which case
follows what the API is known to answer (sources in docs/vendor-behaviour.md):

- a refused prompt: GPT image models 400 ``type: image_generation_user_error``,
  ``code: moderation_blocked``, with ``moderation_details{moderation_stage, categories}``;
  DALL-E models 400 ``invalid_request_error`` / ``content_policy_violation``, worded for the
  prompt or, on dall-e-3, for the description it was rewritten into;
- a parameter the route (or the model) does not take: ``unknown_parameter``, "Unknown
  parameter: 'x'."; a value it does not allow: ``invalid_value``; a prompt over the limit:
  ``string_above_max_length``; a missing one: ``missing_required_parameter``; more images than
  allowed: ``array_above_max_length``;
- an unusable input image or mask: the image codes of the API's ``ResponseErrorCode`` enum
  (:data:`IMAGE_INPUT_CODES`);
- an unknown route: 404 "Invalid URL (POST /v1/...)"; a wrong method: 405
  ``method_not_supported``.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from imgkit.catalog.models import ModelSpec
from imgkit.errors import UnknownModelError, ValidationError
from imgkit.simulator.pipeline import Refusal, VendorErrors
from imgkit.simulator.state import SimState

__all__ = [
    "ERRORS",
    "IMAGE_INPUT_CODES",
    "check_auth",
    "error",
    "invalid",
    "json_body",
    "method_not_allowed",
    "moderation_error",
    "not_found",
    "refused",
    "unknown_parameter",
]

#: The code for each kind of unusable input image (a subset of the OpenAPI ResponseErrorCode
#: enum; the Images API is assumed to use the same codes as the Responses API).
IMAGE_INPUT_CODES = {
    "unreadable": "image_parse_error",
    "mask_without_alpha": "invalid_image_mode",
    "mask_of_another_size": "invalid_image",
    "not_square": "invalid_image",
}

# Moderation categories for the default blocked terms; anything else is "other".
_CATEGORIES = {"graphic violence": "violence", "gore": "violence", "nsfw": "sexual"}


async def json_body(request: Request) -> dict[str, Any] | Response:
    """The request's JSON object, or the 400 the API answers a body that is not one."""
    try:
        body = await request.json()
    except ValueError:
        return error(400, "We could not parse the JSON body of your request. (imgkit simulator)")
    if not isinstance(body, dict):
        return error(400, "The request body must be a JSON object. (imgkit simulator)")
    return body


def error(
    status: int,
    message: str,
    *,
    type: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """An OpenAI-shaped error body: {"error": {"message", "type", "param", "code", ...extra}}."""
    body = {"error": {"message": message, "type": type, "param": param, "code": code, **extra}}
    return JSONResponse(body, status_code=status, headers=headers)


def _rate_limited(retry_after: float, model: str, headers: dict[str, str]) -> Response:
    return error(
        429,
        f"Rate limit reached for {model} in organization org-simulated on images per min. "
        f"Please try again in {retry_after:g}s. (imgkit simulator)",
        type="requests",
        code="rate_limit_exceeded",
        headers=headers,
    )


def _server_error(status: int) -> Response:
    if status == 503:
        message = "The server is overloaded or not ready yet. (imgkit simulator)"
    else:
        message = (
            "The server had an error while processing your request. Sorry about that! "
            "(imgkit simulator)"
        )
    return error(status, message, type="server_error")


def _gateway_timeout() -> Response:
    return error(504, "Gateway timeout. (imgkit simulator)", type="server_error")


ERRORS = VendorErrors(
    rate_limited=_rate_limited,
    server_error=_server_error,
    gateway_timeout=_gateway_timeout,
)


# -- refusals ----------------------------------------------------------------------------------


def moderation_error(refusal: Refusal) -> dict[str, Any]:
    """The error object of a GPT image model's moderation refusal (also the ``error`` of a failed
    Responses ``image_generation_call`` and of a stream's ``error`` event)."""
    category = _CATEGORIES.get(refusal.term or "", "other")
    stage = "output" if refusal.output_stage else "input"
    return {
        "message": "Your request was rejected by the safety system. "
        f"(imgkit simulator: {refusal.reason}) safety_violations=[{category}].",
        "type": "image_generation_user_error",
        "param": None,
        "code": "moderation_blocked",
        "moderation_details": {"moderation_stage": stage, "categories": [category]},
    }


def refused(spec: ModelSpec, refusal: Refusal) -> Response:
    """The Images API's 400 for a refused request, in the model family's own shape."""
    if refusal.kind == "job_failed":
        return _server_error(500)
    if spec.family == "dall-e":
        # DALL-E 3 words its two refusals apart: the prompt refused, or the description it
        # rewrote the prompt into (the simulator's output-stage faults play the second).
        what = (
            "Image descriptions generated from your prompt may contain text that is not allowed "
            "by our safety system. If you believe this was done in error, your request may "
            "succeed if retried, or by adjusting your prompt."
            if refusal.output_stage and spec.name == "dall-e-3"
            else "Your prompt may contain text that is not allowed by our safety system."
        )
        return error(
            400,
            f"Your request was rejected as a result of our safety system. {what} "
            f"(imgkit simulator: {refusal.reason})",
            code="content_policy_violation",
        )
    return JSONResponse({"error": moderation_error(refusal)}, status_code=400)


# -- rejected requests -------------------------------------------------------------------------


def unknown_parameter(name: str) -> Response:
    """400 for a parameter the route or model does not take."""
    return error(400, f"Unknown parameter: '{name}'.", param=name, code="unknown_parameter")


def invalid(exc: ValidationError, *, prefix: str = "") -> Response:
    """The API's 400 for what :func:`imgkit.catalog.validation.validate_request` rejected."""
    param = "model" if exc.param == "endpoint" else exc.param
    where = prefix + param
    if isinstance(exc, UnknownModelError):
        return error(
            400,
            f"Invalid value for 'model': {exc.value!r} is not a model the simulator knows. "
            "(imgkit simulator)",
            param=prefix + "model",
            code="invalid_value",
        )
    allowed = str(exc.allowed)
    if allowed.startswith("nothing"):
        # A parameter this model does not take at all: the API does not know it for the model.
        return unknown_parameter(where)
    if param == "prompt" and exc.value is None:
        return error(
            400,
            f"Missing required parameter: '{where}'.",
            param=where,
            code="missing_required_parameter",
        )
    if param == "prompt" and allowed.startswith("at most"):
        return error(
            400,
            f"Invalid '{where}': string too long ({exc.value}; {allowed}). (imgkit simulator)",
            param=where,
            code="string_above_max_length",
        )
    return error(400, f"{exc} (imgkit simulator)", param=where, code="invalid_value")


def check_auth(request: Request, state: SimState) -> Response | None:
    """401 unless an ``Authorization: Bearer <anything>`` header is present."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return None
    state.count_unauthorized()
    return error(
        401,
        "You didn't provide an API key. You need to provide your API key in an Authorization "
        "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY). The imgkit simulator "
        "accepts any key.",
        code="invalid_api_key",
    )


# -- routes nobody serves ------------------------------------------------------------------------


def not_found(request: Request) -> Response:
    """404 for a path the simulator does not serve, as the API words it."""
    return error(404, f"Invalid URL ({request.method} {request.url.path})")


def method_not_allowed(request: Request) -> Response:
    """405 for a served path asked with the wrong method."""
    return error(
        405,
        f"Only POST requests are accepted. (imgkit simulator: got {request.method})",
        code="method_not_supported",
    )
