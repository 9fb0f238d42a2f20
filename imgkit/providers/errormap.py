"""The one boundary where vendor exceptions become imgkit errors.

Providers wrap every SDK or HTTP call in :func:`translating` (or call :func:`translate`), so code
above them only ever sees :class:`~imgkit.errors.ProviderError` subclasses::

    429                                  -> RateLimitedError (retry_after from the headers/body)
    400 content policy / moderation      -> ContentPolicyError (reason = the service's message)
    other 4xx                            -> InvalidRequestError (param when the service names it)
    401 / 403                            -> AuthenticationError
    408 / timeouts                       -> ProviderTimeoutError
    5xx                                  -> ServerError
    a 200 the SDK cannot read (JSON that -> MalformedResponseError (may have been billed)
      does not parse, a schema it breaks,
      base64 that is not base64)
    an ``error`` event mid-stream        -> ContentPolicyError or ServerError, by its code
    refused / dropped connections        -> ConnectionLostError

Each vendor's exception classes are listed in an explicit table (``OPENAI_ERRORS``,
``GENAI_ERRORS``, ``HTTPX_ERRORS``, and ``READER_ERRORS`` for what the SDKs let escape while
reading an answer: ``json``'s and pydantic's errors, which they do not wrap);
``tests/test_errormap.py`` walks the installed SDKs and fails when a class is
missing, so an SDK upgrade that adds one cannot slip through unmapped.

A table is built when first needed, and an exception is looked up only in the tables of the SDKs
already loaded (an SDK that is not loaded cannot have raised anything): so the OpenAI provider
does not load google-genai, nearly a second of start-up, nor the other way round.
"""

from __future__ import annotations

import contextlib
import email.utils
import importlib
import re
import socket
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from imgkit.errors import (
    AuthenticationError,
    ConnectFailedError,
    ConnectionLostError,
    ContentPolicyError,
    DamagedImageError,
    InvalidRequestError,
    MalformedResponseError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitedError,
    ServerError,
)

__all__ = [
    "CONTENT_POLICY_CODES",
    "GENAI_ERRORS",
    "HTTPX_ERRORS",
    "OPENAI_ERRORS",
    "READER_ERRORS",
    "error_from_status",
    "is_content_policy",
    "parse_retry_after",
    "translate",
    "translating",
]

#: Error codes with which the services say "refused on content grounds".
CONTENT_POLICY_CODES = frozenset(
    {
        "content_policy_violation",  # OpenAI, DALL-E
        "moderation_blocked",  # OpenAI, GPT image models
        "content_filter",
        "safety",
        "image_safety",
        "prohibited_content",
        "blocklist",
        "content_moderation",
        "nsfw",
    }
)
_POLICY_WORDS = re.compile(
    r"content[ _-]?policy|safety (?:system|filter|polic)|blocked (?:by|for) safety|moderation"
    r"|prohibited[ _]content|image[ _]safety|\bnsfw\b",
    re.IGNORECASE,
)

# kind names used in the tables below (the ProviderError subclasses they stand for)
_BY_STATUS = "by_status"  # decided from the HTTP status (and body) the exception carries
_KINDS: Mapping[str, type[ProviderError]] = {
    "rate_limited": RateLimitedError,
    "content_policy": ContentPolicyError,
    "invalid_request": InvalidRequestError,
    "auth": AuthenticationError,
    "server_error": ServerError,
    "malformed_response": MalformedResponseError,
    "timeout": ProviderTimeoutError,
    "connection_lost": ConnectionLostError,
    "connect_failed": ConnectFailedError,
    "provider_error": ProviderError,
}


def _openai_errors() -> dict[type[BaseException], str]:
    """Every exception class of the ``openai`` SDK and what it becomes. Order matters only for
    subclasses of the same family: the most specific class wins (looked up along the MRO)."""
    from openai import _exceptions as openai_exceptions

    return {
        openai_exceptions.OpenAIError: "provider_error",
        openai_exceptions.APIError: _BY_STATUS,
        openai_exceptions.APIStatusError: _BY_STATUS,
        # content policy or invalid request, by code
        openai_exceptions.BadRequestError: _BY_STATUS,
        openai_exceptions.AuthenticationError: "auth",
        openai_exceptions.OAuthError: "auth",
        openai_exceptions.PermissionDeniedError: "auth",
        # an unknown model or route: a configuration error, not something to retry
        openai_exceptions.NotFoundError: "invalid_request",
        # a transient lock conflict, which the SDK itself would retry
        openai_exceptions.ConflictError: "server_error",
        openai_exceptions.UnprocessableEntityError: "invalid_request",
        openai_exceptions.RateLimitError: "rate_limited",
        openai_exceptions.InternalServerError: "server_error",
        # answered, but not in the schema: the image may have been made (and billed)
        openai_exceptions.APIResponseValidationError: "malformed_response",
        openai_exceptions.APIConnectionError: "connection_lost",
        openai_exceptions.APITimeoutError: "timeout",
        openai_exceptions.LengthFinishReasonError: "provider_error",
        openai_exceptions.ContentFilterFinishReasonError: "content_policy",
        openai_exceptions.InvalidWebhookSignatureError: "auth",
        # workload identity could not get a token
        openai_exceptions.SubjectTokenProviderError: "auth",
        openai_exceptions.WebSocketConnectionClosedError: "connection_lost",
        openai_exceptions.WebSocketQueueFullError: "provider_error",
    }


def _genai_errors() -> dict[type[BaseException], str]:
    """Every exception class of ``google.genai.errors`` and what it becomes."""
    import google.genai.errors as genai_errors

    return {
        genai_errors.APIError: _BY_STATUS,
        # 429 and 400 share it: decided by e.code/e.status
        genai_errors.ClientError: _BY_STATUS,
        genai_errors.ServerError: _BY_STATUS,
        # an answer the SDK cannot read
        genai_errors.UnknownApiResponseError: "malformed_response",
        genai_errors.UnknownFunctionCallArgumentError: "provider_error",
        genai_errors.UnsupportedFunctionError: "provider_error",
        genai_errors.FunctionInvocationError: "provider_error",
        genai_errors.ContinuationInterruptedError: "connection_lost",
    }


def _reader_errors() -> dict[type[BaseException], str]:
    """What the SDKs raise, unwrapped, when an answer (a 200 among them) cannot be read:
    ``json.JSONDecodeError`` (openai and google-genai parse bodies and stream events with
    ``json.loads``), pydantic's ``ValidationError`` (google-genai validates every answer into
    its models, base64 fields included), ``UnicodeDecodeError`` and ``binascii.Error``. Inside
    :func:`translating` these can only come from reading the answer: requests are built
    before it."""
    import binascii
    import json

    table: dict[type[BaseException], str] = {
        json.JSONDecodeError: "malformed_response",
        UnicodeDecodeError: "malformed_response",
        binascii.Error: "malformed_response",
    }
    pydantic_core = sys.modules.get("pydantic_core")
    if pydantic_core is not None:
        table[pydantic_core.ValidationError] = "malformed_response"
    return table


def _bad_base64(exc: BaseException) -> str | None:
    """Where and how, for a pydantic error about base64 that does not decode (an image's, in
    an answer); None for any other error."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        with contextlib.suppress(Exception):
            for error in errors():
                if error.get("type") == "bytes_invalid_encoding":
                    where = ".".join(str(p) for p in error.get("loc", ()))
                    return f"{where}: {error.get('msg')}"
    return None


def _httpx_table(module: Any) -> dict[type[BaseException], str]:
    table = {
        module.HTTPError: "provider_error",
        module.RequestError: "connection_lost",
        module.TransportError: "connection_lost",
        module.TimeoutException: "timeout",
        module.ConnectTimeout: "connect_failed",  # no connection yet: nothing was sent
        module.ReadTimeout: "timeout",
        module.WriteTimeout: "timeout",
        module.PoolTimeout: "timeout",
        module.NetworkError: "connection_lost",
        module.ConnectError: "connect_failed",
        module.ReadError: "connection_lost",
        module.WriteError: "connection_lost",
        module.CloseError: "connection_lost",
        module.ProtocolError: "connection_lost",
        module.RemoteProtocolError: "connection_lost",  # server hung up mid-response
        module.LocalProtocolError: "invalid_request",
        module.ProxyError: "connection_lost",
        module.UnsupportedProtocol: "invalid_request",  # a base URL without http(s)://
        module.DecodingError: "server_error",
        module.TooManyRedirects: "server_error",
        module.HTTPStatusError: _BY_STATUS,
        module.InvalidURL: "invalid_request",
        module.CookieConflict: "provider_error",
        module.StreamError: "provider_error",
        module.StreamConsumed: "provider_error",
        module.StreamClosed: "connection_lost",
        module.ResponseNotRead: "provider_error",
        module.RequestNotRead: "provider_error",
    }
    if hasattr(module, "SSEError"):
        table[module.SSEError] = "server_error"
    return table


#: The module each SDK's exceptions live in -> the function that builds its table. An SDK
#: exception can exist only once its module is loaded; httpx serves Leonardo and Gemini, httpx2
#: OpenAI and Gemini.
_TABLE_BUILDERS: dict[str, Callable[[], dict[type[BaseException], str]]] = {
    "openai._exceptions": _openai_errors,
    "google.genai.errors": _genai_errors,
    "httpx": lambda: _httpx_table(importlib.import_module("httpx")),
    "httpx2": lambda: _httpx_table(importlib.import_module("httpx2")),
    # pydantic_core is loaded with either SDK; json and binascii always are
    "pydantic_core": _reader_errors,
}
_tables: dict[str, dict[type[BaseException], str]] = {}

# The public tables, declared here and made on first access by __getattr__ below.
#: Every exception class of the ``openai`` SDK and what it becomes.
OPENAI_ERRORS: Mapping[type[BaseException], str]
#: Every exception class of ``google.genai.errors`` and what it becomes.
GENAI_ERRORS: Mapping[type[BaseException], str]
#: Every exception class of ``httpx`` (Leonardo, Gemini) and ``httpx2`` (OpenAI, Gemini).
HTTPX_ERRORS: Mapping[type[BaseException], str]
#: What the SDKs let escape while reading an answer (``json``, pydantic, base64 errors).
READER_ERRORS: Mapping[type[BaseException], str]


def _table(module: str) -> dict[type[BaseException], str]:
    table = _tables.get(module)
    if table is None:
        # Two threads may both build it: the same table, so either one may stay.
        table = _tables[module] = _TABLE_BUILDERS[module]()
    return table


def __getattr__(name: str) -> Any:
    # OPENAI_ERRORS, GENAI_ERRORS, HTTPX_ERRORS: built (and their SDK loaded) on first use.
    if name == "OPENAI_ERRORS":
        return _table("openai._exceptions")
    if name == "GENAI_ERRORS":
        return _table("google.genai.errors")
    if name == "HTTPX_ERRORS":
        return {**_table("httpx"), **_table("httpx2")}
    if name == "READER_ERRORS":
        importlib.import_module("pydantic_core")
        return _table("pydantic_core")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _lookup(exc: BaseException) -> tuple[str, str] | None:
    """(kind, SDK module) for a vendor exception, from the tables of the SDKs loaded."""
    loaded = [module for module in _TABLE_BUILDERS if module in sys.modules]
    for cls in type(exc).__mro__:
        for module in loaded:
            kind = _table(module).get(cls)
            if kind is not None:
                return kind, module
    return None


def parse_retry_after(headers: Mapping[str, str] | None, body: Any = None) -> float | None:
    """Seconds to wait, from ``retry-after-ms``, ``retry-after`` (seconds or HTTP date), or a
    Google ``RetryInfo.retryDelay`` ("12s") in the error body. None when nothing says."""
    if headers:
        lowered = {str(k).lower(): v for k, v in headers.items()}
        with contextlib.suppress(TypeError, ValueError):
            if lowered.get("retry-after-ms") is not None:
                return max(float(lowered["retry-after-ms"]) / 1000.0, 0.0)
        value = lowered.get("retry-after")
        if value is not None:
            try:
                return max(float(value), 0.0)
            except ValueError:
                with contextlib.suppress(TypeError, ValueError):
                    when = email.utils.parsedate_to_datetime(value)
                    return max(when.timestamp() - time.time(), 0.0)
    for detail in _google_details(body):
        delay = detail.get("retryDelay") if isinstance(detail, Mapping) else None
        if isinstance(delay, str) and delay.endswith("s"):
            with contextlib.suppress(ValueError):
                return float(delay[:-1])
    return None


def _google_details(body: Any) -> list[Any]:
    if isinstance(body, Mapping):
        error = body.get("error", body)
        if isinstance(error, Mapping) and isinstance(error.get("details"), list):
            return list(error["details"])
    return []


def is_content_policy(code: Any = None, message: Any = None, status: Any = None) -> bool:
    """Whether an error code, status string or message says "refused on content grounds"."""
    for value in (code, status):
        if isinstance(value, str) and value.lower() in CONTENT_POLICY_CODES:
            return True
    return isinstance(message, str) and bool(_POLICY_WORDS.search(message))


def error_from_status(
    status: int,
    message: str,
    *,
    provider: str | None = None,
    model: str | None = None,
    code: str | None = None,
    param: str | None = None,
    request_id: str | None = None,
    headers: Mapping[str, str] | None = None,
    body: Any = None,
    status_text: str | None = None,
) -> ProviderError:
    """The imgkit error for an HTTP error status and what the body says about it."""
    fields: dict[str, Any] = {
        "provider": provider,
        "model": model,
        "status": status,
        "request_id": request_id,
        "code": code,
    }
    text = message or f"HTTP {status}"
    if status == 429:
        return RateLimitedError(text, retry_after=parse_retry_after(headers, body), **fields)
    if status in (401, 403):
        return AuthenticationError(text, **fields)
    if status == 408:
        return ProviderTimeoutError(text, **fields)
    if status >= 500:
        return ServerError(text, **fields)
    if 400 <= status < 500:
        if is_content_policy(code, text, status_text):
            return ContentPolicyError(text, reason=text, **fields)
        return InvalidRequestError(text, param=param, **fields)
    return ProviderError(text, **fields)


def _status_error(
    exc: BaseException, sdk: str, provider: str | None, model: str | None
) -> ProviderError:
    """Errors whose class alone does not decide: read status, code and body. ``sdk`` is the
    module of the SDK that raised it (already loaded, so importing from it costs nothing)."""
    if sdk == "openai._exceptions":
        return _openai_status_error(exc, provider, model)
    if sdk == "google.genai.errors":
        return _genai_status_error(exc, provider, model)
    http_status_error = importlib.import_module(sdk).HTTPStatusError
    if isinstance(exc, http_status_error):
        response = exc.response
        return error_from_status(
            response.status_code,
            str(exc),
            provider=provider,
            model=model,
            headers=dict(response.headers),
            request_id=response.headers.get("x-request-id"),
        )
    return ProviderError(str(exc), provider=provider, model=model)


def _openai_status_error(
    exc: BaseException, provider: str | None, model: str | None
) -> ProviderError:
    import openai

    if isinstance(exc, openai.APIStatusError):
        return error_from_status(
            exc.status_code,
            exc.message,
            provider=provider,
            model=model,
            code=exc.code,
            param=exc.param,
            request_id=exc.request_id,
            headers=dict(exc.response.headers),
            body=exc.body,
            status_text=exc.type,
        )
    if isinstance(exc, openai.APIError):
        return _stream_error(exc, provider, model)
    return ProviderError(str(exc), provider=provider, model=model)


def _genai_status_error(
    exc: BaseException, provider: str | None, model: str | None
) -> ProviderError:
    import google.genai.errors as genai_errors

    if isinstance(exc, genai_errors.APIError):
        response = getattr(exc, "response", None)
        headers = dict(getattr(response, "headers", None) or {})
        request_id = headers.get("x-request-id") or headers.get("x-goog-request-id")
        code = exc.code if isinstance(exc.code, int) else 0
        return error_from_status(
            code,
            exc.message or str(exc),
            provider=provider,
            model=model,
            code=exc.status,
            param=_google_field(exc.details),
            request_id=request_id,
            headers=headers,
            body=exc.details,
            status_text=exc.status,
        )
    return ProviderError(str(exc), provider=provider, model=model)


def _stream_error(exc: Any, provider: str | None, model: str | None) -> ProviderError:
    """An APIError without a response: an ``error`` event in the middle of a stream (its body is
    the service's error object), or, with no body at all, an answer that never came whole."""
    fields = {"provider": provider, "model": model, "code": exc.code}
    if not isinstance(exc.body, Mapping):
        return ConnectionLostError(exc.message, **fields)
    if is_content_policy(exc.code, exc.message, exc.type):
        return ContentPolicyError(exc.message, reason=exc.message, **fields)
    if exc.code == "rate_limit_exceeded":
        return RateLimitedError(exc.message, **fields)
    return ServerError(exc.message, **fields)


def _google_field(body: Any) -> str | None:
    for detail in _google_details(body):
        if isinstance(detail, Mapping):
            for violation in detail.get("fieldViolations") or ():
                if isinstance(violation, Mapping) and violation.get("field"):
                    return str(violation["field"])
    return None


def _never_connected(exc: BaseException) -> bool:
    """Whether ``exc`` (or an error it was raised from) says no connection was ever made."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if (_lookup(current) or ("",))[0] == "connect_failed" or isinstance(
            current, ConnectionRefusedError | socket.gaierror
        ):
            return True
        current = current.__cause__ or current.__context__
    return False


def translate(
    exc: BaseException, *, provider: str | None = None, model: str | None = None
) -> ProviderError | None:
    """The imgkit error for a vendor exception, or None when ``exc`` is not a vendor error.

    imgkit's own errors pass through unchanged (with provider/model filled in when missing).
    """
    if isinstance(exc, ProviderError):
        exc.provider = exc.provider or provider
        exc.model = exc.model or model
        return exc
    found = _lookup(exc)
    if found is None:
        return None
    kind, sdk = found
    if kind in ("connection_lost", "timeout") and _never_connected(exc):
        # The SDKs wrap the transport's error (openai: APIConnectionError from httpx2's
        # ConnectError): what decides whether anything was sent is the cause.
        kind = "connect_failed"
    if kind == _BY_STATUS:
        return _status_error(exc, sdk, provider, model)
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    response = getattr(exc, "response", None)
    headers = dict(getattr(response, "headers", None) or {})
    request_id = getattr(exc, "request_id", None)
    status = getattr(exc, "status_code", None)
    code = getattr(exc, "code", None)
    fields: dict[str, Any] = {
        "provider": provider,
        "model": model,
        "request_id": request_id if isinstance(request_id, str) else None,
        "status": status if isinstance(status, int) else None,
        "code": code if isinstance(code, str) else type(exc).__name__,
    }
    cls = _KINDS[kind]
    bad_base64 = _bad_base64(exc) if cls is MalformedResponseError else None
    if bad_base64:
        # google-genai decodes inline images while validating: its error is the image's
        reason = f"the image's base64 is not base64 ({bad_base64})"
        fields["code"] = "bad_base64"
        return DamagedImageError(f"damaged image: {reason}", reason=reason, **fields)
    if cls is MalformedResponseError:
        message = f"the answer could not be read ({type(exc).__name__}): {message[:500]}"
    if cls is RateLimitedError:
        body = getattr(exc, "body", None)
        return RateLimitedError(message, retry_after=parse_retry_after(headers, body), **fields)
    if cls is ContentPolicyError:
        return ContentPolicyError(message, reason=message, **fields)
    if cls is InvalidRequestError:
        param = getattr(exc, "param", None)
        return InvalidRequestError(
            message, param=param if isinstance(param, str) else None, **fields
        )
    return cls(message, **fields)


@contextlib.contextmanager
def translating(provider: str, model: str | None = None) -> Iterator[None]:
    """Run a block and re-raise any vendor exception as its imgkit error (``from`` the original).

    Exceptions that are neither vendor nor imgkit errors (bugs) propagate untouched.
    """
    try:
        yield
    except ProviderError as exc:
        translate(exc, provider=provider, model=model)
        raise
    except Exception as exc:
        mapped = translate(exc, provider=provider, model=model)
        if mapped is None:
            raise
        raise mapped from exc
