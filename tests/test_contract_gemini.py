"""Contract tests: every Gemini route and model the simulator serves, on the wire.

Each 200 answer (an image, every refusal, every stream chunk) is validated against
``google.genai.types.GenerateContentResponse``, whose models forbid unknown fields; error
bodies are checked for Google's ``{"error": {"code", "message", "status"}}``. Then every failure
is driven through ``google-genai`` into :class:`~imgkit.providers.GeminiProvider` and the imgkit
error it becomes is asserted.
"""

from __future__ import annotations

import base64

import pytest
from google.genai import types

from imgkit import errors
from imgkit.catalog import default_catalog
from imgkit.catalog.validation import validate_request
from imgkit.providers import GeminiProvider

try:
    from contract_helpers import AUTH, HTTP, png, sse_events, strict
except ImportError:  # run from the repository root as a package
    from tests.contract_helpers import AUTH, HTTP, png, sse_events, strict

CATALOG = default_catalog()
GEMINI_MODELS = sorted(name for name, spec in CATALOG.items() if spec.provider == "gemini")
ROUTES = [(m, e) for m in GEMINI_MODELS for e in CATALOG.get_model(m).endpoints]


@pytest.fixture
def wire(sim):
    sim.reset()
    yield sim
    sim.configure(faults="", block=(), rate_limits={})
    sim.reset()


def _call(server, model, endpoint, *, stream=False, prompt="a kite over a beach", config=None):
    parts = [{"text": prompt}]
    if endpoint == "edit":
        parts.append({"inlineData": {"mimeType": "image/png", "data": base64.b64encode(png())
                                     .decode()}})  # fmt: skip
    body = {
        "contents": [{"role": "user", "parts": parts}],
        "generationConfig": {"responseModalities": ["TEXT", "IMAGE"], **(config or {})},
    }
    action = "streamGenerateContent?alt=sse" if stream else "generateContent"
    url = f"{server.gemini_base_url}/v1beta/models/{model}:{action}"
    return HTTP.post(url, json=body, headers=AUTH)


def _google_error(response) -> dict:
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert {"code", "message", "status"} <= set(error) <= {"code", "message", "status", "details"}
    assert error["code"] == response.status_code
    return error


@pytest.mark.parametrize(("model", "endpoint"), ROUTES, ids=lambda v: str(v))
def test_every_success_matches_the_sdk_type(wire, model, endpoint):
    response = _call(wire, model, endpoint)
    assert response.status_code == 200, response.text
    parsed = strict(types.GenerateContentResponse, response.json())
    assert parsed.candidates[0].finish_reason == types.FinishReason.STOP
    assert parsed.usage_metadata.prompt_tokens_details


@pytest.mark.parametrize(
    ("kind", "check"),
    [
        ("policy", lambda r: r.prompt_feedback.block_reason and not r.candidates),
        ("image_safety", lambda r: r.candidates[0].finish_reason == "IMAGE_SAFETY"),
        ("prohibited", lambda r: r.candidates[0].finish_reason == "IMAGE_PROHIBITED_CONTENT"),
        ("decline", lambda r: r.candidates[0].content.parts[0].text),
    ],
)
@pytest.mark.parametrize(("model", "endpoint"), ROUTES, ids=lambda v: str(v))
def test_every_refusal_matches_the_sdk_type(wire, model, endpoint, kind, check):
    wire.configure(faults=f"{model}:{kind}=x1")
    response = _call(wire, model, endpoint)
    assert response.status_code == 200  # Gemini refuses inside a 200
    assert check(strict(types.GenerateContentResponse, response.json()))


@pytest.mark.parametrize(
    ("kind", "status", "name"),
    [("429", 429, "RESOURCE_EXHAUSTED"), ("500", 500, "INTERNAL"), ("503", 503, "UNAVAILABLE")],
)
@pytest.mark.parametrize(("model", "endpoint"), ROUTES, ids=lambda v: str(v))
def test_every_error_has_googles_shape(wire, model, endpoint, kind, status, name):
    wire.configure(faults=f"{model}:{kind}=x1")
    response = _call(wire, model, endpoint)
    assert response.status_code == status
    assert _google_error(response)["status"] == name


@pytest.mark.parametrize(("model", "endpoint"), ROUTES, ids=lambda v: str(v))
def test_every_rejection_has_googles_shape(wire, model, endpoint):
    bad = _call(wire, model, endpoint, config={"imageConfig": {"aspectRatio": "7:1"}})
    assert bad.status_code == 400 and _google_error(bad)["status"] == "INVALID_ARGUMENT"
    unknown = _call(wire, model.replace("gemini", "gemmy"), endpoint)
    assert unknown.status_code == 404 and _google_error(unknown)["status"] == "NOT_FOUND"


@pytest.mark.parametrize(("model", "endpoint"), ROUTES, ids=lambda v: str(v))
def test_every_stream_chunk_matches_the_sdk_type(wire, model, endpoint):
    response = _call(wire, model, endpoint, stream=True)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    chunks = [strict(types.GenerateContentResponse, data) for _, data in sse_events(response)]
    assert len(chunks) >= 2
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    assert any(p.inline_data for p in chunks[-1].candidates[0].content.parts)


# -- every failure, through google-genai, into the provider -----------------------------------

PROVIDER_FAILURES = {
    "429": errors.RateLimitedError,
    "500": errors.ServerError,
    "503": errors.ServerError,
    "policy": errors.ContentPolicyError,
    "image_safety": errors.ContentPolicyError,
    "prohibited": errors.ContentPolicyError,
    "decline": errors.NoImageError,
}


@pytest.fixture(scope="module")
def gemini_provider(sim):
    provider = GeminiProvider(base_url=sim.gemini_base_url)
    yield provider
    provider.close()


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("kind", sorted(PROVIDER_FAILURES))
@pytest.mark.parametrize(("model", "endpoint"), ROUTES, ids=lambda v: str(v))
def test_every_failure_becomes_its_imgkit_error(
    wire, gemini_provider, model, endpoint, kind, stream
):
    wire.configure(faults=f"{model}:{kind}=x1")
    request = validate_request(model, "a kite", endpoint=endpoint, stream=stream or None)
    expected = PROVIDER_FAILURES[kind]
    with pytest.raises(expected) as caught:
        if endpoint == "edit":
            gemini_provider.edit(request, image=png())
        else:
            gemini_provider.generate(request)
    assert (caught.value.provider, caught.value.model) == ("gemini", model)
    if expected is errors.NoImageError:
        assert caught.value.text
    if expected is errors.RateLimitedError:
        assert caught.value.retry_after is not None
