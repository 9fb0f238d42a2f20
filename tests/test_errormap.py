"""The error boundary: every vendor exception class is mapped, and mapped to the right kind."""

from __future__ import annotations

import inspect
from types import ModuleType

import google.genai.errors as genai_errors
import httpx
import httpx2
import openai
import pytest
from openai import _exceptions as openai_exceptions

from imgkit import errors
from imgkit.providers import errormap


def _exception_classes(*modules: ModuleType) -> list[type[BaseException]]:
    found: dict[type[BaseException], None] = {}
    for module in modules:
        for name, cls in inspect.getmembers(module, inspect.isclass):
            # public names, plus everything defined in openai._exceptions
            if name.startswith("_") and module is not openai_exceptions:
                continue
            # only the vendor's own classes, not builtins re-exported by the module
            vendor = cls.__module__.split(".")[0] in ("openai", "google", "httpx", "httpx2")
            if vendor and issubclass(cls, BaseException) and not issubclass(cls, Warning):
                found[cls] = None
    return list(found)


OPENAI_CLASSES = _exception_classes(openai, openai_exceptions)
GENAI_CLASSES = _exception_classes(genai_errors)
HTTPX_CLASSES = _exception_classes(httpx, httpx2)


@pytest.mark.parametrize(
    "classes, table",
    [
        (OPENAI_CLASSES, errormap.OPENAI_ERRORS),
        (GENAI_CLASSES, errormap.GENAI_ERRORS),
        (HTTPX_CLASSES, errormap.HTTPX_ERRORS),
    ],
    ids=["openai", "google-genai", "httpx"],
)
def test_every_sdk_exception_class_has_an_explicit_entry(classes, table):
    assert len(classes) > 5  # the walk really found the SDK's classes
    missing = [f"{c.__module__}.{c.__qualname__}" for c in classes if c not in table]
    assert missing == [], f"add these to imgkit.providers.errormap: {missing}"


def _instance(cls: type[BaseException]) -> BaseException:
    """An instance of ``cls`` built without calling its (often demanding) constructor."""
    request = httpx2.Request("POST", "http://sim.test/v1/images/generations")
    if issubclass(cls, openai_exceptions.APIStatusError):
        status = getattr(cls, "status_code", 500)
        status = status if isinstance(status, int) else 500
        response = httpx2.Response(status, request=request, headers={"x-request-id": "req_1"})
        if cls is openai_exceptions.OAuthError:
            return cls(response=response, body=None)
        return cls("boom", response=response, body=None)
    if cls is openai_exceptions.APIResponseValidationError:
        return cls(httpx2.Response(200, request=request), body=None)
    if cls is openai_exceptions.APITimeoutError:
        return cls(request=request)
    if cls is openai_exceptions.APIConnectionError:
        return cls(request=request)
    if cls is openai_exceptions.APIError:
        return cls("boom", request, body=None)
    if issubclass(cls, genai_errors.APIError):
        code = 500 if cls is genai_errors.ServerError else 400
        return cls(code, {"error": {"code": code, "message": "boom", "status": "X"}})
    if issubclass(cls, httpx.HTTPStatusError | httpx2.HTTPStatusError):
        module = httpx if issubclass(cls, httpx.HTTPStatusError) else httpx2
        req = module.Request("GET", "http://sim.test/")
        return cls("boom", request=req, response=module.Response(503, request=req))
    obj = cls.__new__(cls)
    Exception.__init__(obj, "boom")
    return obj


ALL_CLASSES = OPENAI_CLASSES + GENAI_CLASSES + HTTPX_CLASSES


@pytest.mark.parametrize("cls", ALL_CLASSES, ids=lambda c: f"{c.__module__}.{c.__name__}")
def test_every_sdk_exception_translates_to_a_provider_error(cls):
    mapped = errormap.translate(_instance(cls), provider="openai", model="gpt-image-2")
    assert isinstance(mapped, errors.ProviderError)
    assert mapped.provider == "openai" and mapped.model == "gpt-image-2"
    assert mapped.kind in {
        "rate_limited", "content_policy", "invalid_request", "auth", "server_error", "timeout",
        "connection_lost", "connect_failed", "provider_error", "malformed_response", "damaged",
    }  # fmt: skip


def _openai_status(status: int, body: dict | None = None, headers: dict | None = None):
    request = httpx2.Request("POST", "http://sim.test/v1/images/generations")
    response = httpx2.Response(
        status, request=request, headers={"x-request-id": "req_42", **(headers or {})}
    )
    cls = {
        400: openai.BadRequestError,
        401: openai.AuthenticationError,
        403: openai.PermissionDeniedError,
        404: openai.NotFoundError,
        429: openai.RateLimitError,
    }.get(status, openai.InternalServerError)
    error = (body or {}).get("error", body)
    return cls((error or {}).get("message", "boom"), response=response, body=error)


@pytest.mark.parametrize(
    "status, body, expected",
    [
        (429, None, errors.RateLimitedError),
        (500, None, errors.ServerError),
        (503, None, errors.ServerError),
        (401, None, errors.AuthenticationError),
        (403, None, errors.AuthenticationError),
        (404, None, errors.InvalidRequestError),
        (
            400,
            {"error": {"message": "rejected by our safety system",
                       "code": "content_policy_violation", "type": "invalid_request_error"}},
            errors.ContentPolicyError,
        ),
        (
            400,
            {"error": {"message": "blocked", "code": "moderation_blocked", "type": "x"}},
            errors.ContentPolicyError,
        ),
        (
            400,
            {"error": {"message": "Invalid size", "code": "invalid_value", "param": "size",
                       "type": "invalid_request_error"}},
            errors.InvalidRequestError,
        ),
    ],
)  # fmt: skip
def test_openai_status_errors_map_to_the_policy_kinds(status, body, expected):
    mapped = errormap.translate(_openai_status(status, body), provider="openai", model="m")
    assert type(mapped) is expected
    assert mapped.status == status
    assert mapped.request_id == "req_42"


def test_openai_details_are_kept():
    policy = errormap.translate(
        _openai_status(
            400, {"error": {"message": "no, because X", "code": "content_policy_violation"}}
        )
    )
    assert policy.reason == "no, because X" and policy.code == "content_policy_violation"
    invalid = errormap.translate(
        _openai_status(400, {"error": {"message": "bad", "code": "invalid_value", "param": "n"}})
    )
    assert invalid.param == "n"
    limited = errormap.translate(_openai_status(429, None, {"retry-after": "7"}))
    assert limited.retry_after == 7.0
    limited_ms = errormap.translate(_openai_status(429, None, {"retry-after-ms": "1500"}))
    assert limited_ms.retry_after == 1.5


def test_openai_timeout_and_connection_errors():
    request = httpx2.Request("POST", "http://sim.test/")
    assert isinstance(
        errormap.translate(openai.APITimeoutError(request=request)), errors.ProviderTimeoutError
    )
    assert isinstance(
        errormap.translate(openai.APIConnectionError(request=request)), errors.ConnectionLostError
    )


@pytest.mark.parametrize(
    "code, status, message, expected",
    [
        (429, "RESOURCE_EXHAUSTED", "quota", errors.RateLimitedError),
        (400, "INVALID_ARGUMENT", "bad aspect ratio", errors.InvalidRequestError),
        (400, "INVALID_ARGUMENT", "PROHIBITED_CONTENT: refused", errors.ContentPolicyError),
        (403, "PERMISSION_DENIED", "key", errors.AuthenticationError),
        (500, "INTERNAL", "oops", errors.ServerError),
        (503, "UNAVAILABLE", "overloaded", errors.ServerError),
    ],
)  # fmt: skip
def test_genai_errors_branch_on_code(code, status, message, expected):
    cls = genai_errors.ServerError if code >= 500 else genai_errors.ClientError
    body = {"error": {"code": code, "message": message, "status": status}}
    if code == 429:
        body["error"]["details"] = [
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "12s"}
        ]
    mapped = errormap.translate(cls(code, body), provider="gemini", model="g")
    assert type(mapped) is expected
    assert mapped.status == code
    if code == 429:
        assert mapped.retry_after == 12.0


@pytest.mark.parametrize("module", [httpx, httpx2])
def test_httpx_transport_errors(module):
    request = module.Request("GET", "http://sim.test/")
    assert isinstance(
        errormap.translate(module.ReadTimeout("slow", request=request)),
        errors.ProviderTimeoutError,
    )
    assert isinstance(
        errormap.translate(module.RemoteProtocolError("hung up", request=request)),
        errors.ConnectionLostError,
    )
    assert isinstance(
        errormap.translate(module.ConnectError("refused", request=request)),
        errors.ConnectionLostError,
    )


def test_non_vendor_exceptions_are_not_swallowed():
    assert errormap.translate(KeyError("bug")) is None
    with pytest.raises(KeyError), errormap.translating("openai"):
        raise KeyError("bug")


def test_translating_chains_the_original():
    request = httpx2.Request("POST", "http://sim.test/")
    with pytest.raises(errors.ProviderTimeoutError) as info, errormap.translating("openai", "m"):
        raise openai.APITimeoutError(request=request)
    assert isinstance(info.value.__cause__, openai.APITimeoutError)
    assert info.value.provider == "openai"


def test_retry_after_http_date_and_absent():
    assert errormap.parse_retry_after({}) is None
    assert errormap.parse_retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0


# --- what the SDKs let escape while reading an answer (issue 25, defect 2) ---------------------


def _reader_classes() -> list[type[BaseException]]:
    """Every exception the SDKs' answer-reading code can raise unwrapped: found by walking
    the modules they read answers with (json, pydantic_core, base64/binascii, codecs)."""
    import binascii
    import json

    import pydantic_core

    found = [json.JSONDecodeError, UnicodeDecodeError, binascii.Error]
    found += [
        cls
        for _, cls in inspect.getmembers(pydantic_core, inspect.isclass)
        if issubclass(cls, BaseException) and cls.__name__ == "ValidationError"
    ]
    return found


@pytest.mark.parametrize("cls", _reader_classes(), ids=lambda c: c.__qualname__)
def test_every_answer_reading_exception_is_mapped_and_counted_as_possibly_billed(cls):
    assert cls in errormap.READER_ERRORS
    import pydantic

    if cls.__name__ == "ValidationError":
        try:
            pydantic.TypeAdapter(int).validate_python("not a number")
        except pydantic.ValidationError as exc:
            instance = exc
    elif cls is UnicodeDecodeError:
        instance = UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")
    else:
        instance = _instance(cls)
    mapped = errormap.translate(instance, provider="gemini", model="gemini-3-pro-image")
    assert isinstance(mapped, errors.MalformedResponseError)
    assert mapped.may_have_been_billed and mapped.retry_same_provider


def test_a_pydantic_error_about_base64_is_a_damaged_image():
    from google.genai import types

    body = {"candidates": [{"content": {"parts": [{"inlineData": {"data": "not base64!!"}}]}}]}
    with pytest.raises(Exception) as caught:
        types.GenerateContentResponse.model_validate(body)
    mapped = errormap.translate(caught.value, provider="gemini", model="gemini-3-pro-image")
    assert isinstance(mapped, errors.DamagedImageError) and mapped.code == "bad_base64"
    assert "inlineData.data" in mapped.reason
