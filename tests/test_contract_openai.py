"""Contract tests: every OpenAI route and model the simulator serves, on the wire.

Each answer (success, every refusal, every error, every stream event) is validated strictly
against the installed ``openai`` SDK's own pydantic types: no field the type does not declare,
every field it requires. Where OpenAI's OpenAPI description says more than the SDK types
(required-but-nullable fields, enums, the ``partial_images`` range, the request properties of
each route, the Responses error codes), those facts are checked too: they come from
openai/openai-openapi at commit f85dbe223d40e1a31cba812ab2d755c7e98a92a3 (2026-08-21), extracted
into ``tests/data/openapi/openai_images.json`` by ``tools/openapi_facts.py``.

Then every failure is driven through the real SDK into :class:`~imgkit.providers.OpenAIProvider`,
and the imgkit error it becomes is asserted.
"""

from __future__ import annotations

import pytest
from openai.types import (
    ImageEditCompletedEvent,
    ImageEditPartialImageEvent,
    ImageGenCompletedEvent,
    ImageGenPartialImageEvent,
    ImagesResponse,
)
from openai.types.responses import Response
from openai.types.responses.response_output_item import ImageGenerationCallError
from openai.types.responses.response_stream_event import ResponseStreamEvent
from openai.types.shared import ErrorObject

from imgkit import errors
from imgkit.catalog import default_catalog
from imgkit.catalog.validation import ImageRequest, validate_request
from imgkit.providers import OpenAIProvider

try:
    from contract_helpers import (
        OPENAPI_FACTS,
        SPEC_COMMIT,
        openai_call,
        png,
        spec_enum,
        spec_required,
        sse_events,
        strict,
    )  # fmt: skip
except ImportError:  # run from the repository root as a package
    from tests.contract_helpers import (
        OPENAPI_FACTS,
        SPEC_COMMIT,
        openai_call,
        png,
        spec_enum,
        spec_required,
        sse_events,
        strict,
    )  # fmt: skip

assert SPEC_COMMIT == "f85dbe223d40e1a31cba812ab2d755c7e98a92a3"

CATALOG = default_catalog()
OPENAI_MODELS = sorted(name for name, spec in CATALOG.items() if spec.provider == "openai")
ROUTES = [(m, e) for m in OPENAI_MODELS for e in CATALOG.get_model(m).endpoints]
STREAMING_ROUTES = [(m, e) for m, e in ROUTES if not m.startswith("dall-e")]


def _route_id(value):
    return value if isinstance(value, str) else None


@pytest.fixture
def wire(sim):
    sim.reset()
    yield sim
    sim.configure(faults="", block=(), rate_limits={})
    sim.reset()


def _error_body(response) -> dict:
    body = response.json()
    assert set(body) == {"error"}
    spec_required("ErrorResponse", body)
    error = body["error"]
    spec_required("Error", error)  # type, message, param and code: always there, maybe null
    # The moderation refusal carries moderation_details, which the SDK declares on the error
    # type of the Responses image call; every other error is the shared ErrorObject.
    kind = ImageGenerationCallError if "moderation_details" in error else ErrorObject
    strict(kind, error)
    return error


# -- successes --------------------------------------------------------------------------------


@pytest.mark.parametrize(("model", "endpoint"), ROUTES, ids=lambda v: str(v))
def test_every_success_matches_the_sdk_types_and_the_spec(wire, model, endpoint):
    response = openai_call(wire, model, endpoint)
    assert response.status_code == 200, response.text
    body = response.json()
    if endpoint == "responses":
        strict(Response, body)
        calls = [o for o in body["output"] if o["type"] == "image_generation_call"]
        assert calls and calls[0]["status"] == "completed"
        for call in calls:
            spec_required("ImageGenToolCall", call)
        return
    strict(ImagesResponse, body)
    spec_required("ImagesResponse", body)
    for item in body["data"]:
        assert set(item) <= set(OPENAI_FACTS_IMAGE_PROPERTIES)
    if "usage" in body:
        spec_required("ImagesUsage", body["usage"])
        spec_required("ImageGenInputUsageDetails", body["usage"]["input_tokens_details"])
        spec_required("ImageGenOutputTokensDetails", body["usage"]["output_tokens_details"])
        # Asked within the spec's own vocabulary, the answer stays within its enums.
        assert body["size"] in spec_enum("ImagesResponse", "size")
        assert body["quality"] in spec_enum("ImagesResponse", "quality")
        assert body["output_format"] in spec_enum("ImagesResponse", "output_format")
        assert body["background"] in spec_enum("ImagesResponse", "background")
    else:
        assert model.startswith("dall-e")


OPENAI_FACTS_IMAGE_PROPERTIES = OPENAPI_FACTS["schemas"]["Image"]["properties"]


# -- refusals ---------------------------------------------------------------------------------

REFUSALS = ["policy", "image_safety", "prohibited", "decline"]


@pytest.mark.parametrize("kind", REFUSALS)
@pytest.mark.parametrize(("model", "endpoint"), ROUTES, ids=lambda v: str(v))
def test_every_refusal_matches_the_sdk_types_and_the_spec(wire, model, endpoint, kind):
    wire.configure(faults=f"{model}:{kind}=x1")
    response = openai_call(wire, model, endpoint)
    if endpoint == "responses":
        assert response.status_code == 200  # a refusal is an item of a 200, not a 400
        body = response.json()
        strict(Response, body)
        calls = [o for o in body["output"] if o["type"] == "image_generation_call"]
        if kind == "decline":
            assert calls == []  # the model answered in words and made no call
            assert any(o["type"] == "message" for o in body["output"])
            return
        (call,) = calls
        spec_required("ImageGenToolCall", call)  # "result" is there, as null
        assert call["status"] == "failed" and call["result"] is None
        assert call["error"]["code"] == "moderation_blocked"
        return
    assert response.status_code == 400
    error = _error_body(response)
    expected = "content_policy_violation" if model.startswith("dall-e") else "moderation_blocked"
    assert error["code"] == expected


# -- errors -----------------------------------------------------------------------------------

ERRORS = {
    "429": (429, "rate_limit_exceeded"),
    "500": (500, None),
    "503": (503, None),
}


@pytest.mark.parametrize("kind", sorted(ERRORS))
@pytest.mark.parametrize(("model", "endpoint"), ROUTES, ids=lambda v: str(v))
def test_every_fault_error_matches_the_sdk_types_and_the_spec(wire, model, endpoint, kind):
    wire.configure(faults=f"{model}:{kind}=x1")
    response = openai_call(wire, model, endpoint)
    status, code = ERRORS[kind]
    assert response.status_code == status
    assert _error_body(response)["code"] == code


@pytest.mark.parametrize(("model", "endpoint"), ROUTES, ids=lambda v: str(v))
def test_every_rejection_matches_the_sdk_types_and_the_spec(wire, model, endpoint):
    rejections = [
        (openai_call(wire, model, endpoint, extra={"foo": 1}), "unknown_parameter"),
        (openai_call(wire, model, endpoint, prompt=""), None),
    ]
    if endpoint == "responses":
        rejections.append(
            (openai_call(wire, model, endpoint, tool_extra={"size": "7x7"}), "invalid_value")
        )
    else:
        rejections.append((openai_call(wire, model, endpoint, extra={"size": "7x7"}), None))
    for response, code in rejections:
        assert response.status_code == 400, response.text
        error = _error_body(response)
        assert error["type"] == "invalid_request_error"
        if code:
            assert error["code"] == code


@pytest.mark.parametrize("path", ["/v1/images/variants", "/v1/models/gpt-image-2/x"])
def test_unknown_routes_match_the_error_type(wire, path):
    import httpx

    response = httpx.post(wire.base_url + path, json={}, headers={"authorization": "Bearer x"})
    assert response.status_code == 404
    _error_body(response)


# -- stream events ----------------------------------------------------------------------------

_IMAGE_EVENTS = {
    "image_generation.partial_image": ("ImageGenPartialImageEvent", ImageGenPartialImageEvent),
    "image_generation.completed": ("ImageGenCompletedEvent", ImageGenCompletedEvent),
    "image_edit.partial_image": ("ImageEditPartialImageEvent", ImageEditPartialImageEvent),
    "image_edit.completed": ("ImageEditCompletedEvent", ImageEditCompletedEvent),
}
_RESPONSE_IMAGE_EVENTS = {
    "response.image_generation_call.in_progress": "ResponseImageGenCallInProgressEvent",
    "response.image_generation_call.generating": "ResponseImageGenCallGeneratingEvent",
    "response.image_generation_call.partial_image": "ResponseImageGenCallPartialImageEvent",
    "response.image_generation_call.completed": "ResponseImageGenCallCompletedEvent",
}


def _response_event_types() -> dict[str, type]:
    import typing

    union = typing.get_args(ResponseStreamEvent)[0]
    table = {}
    for member in typing.get_args(union):
        literal = member.model_fields["type"].annotation
        table[typing.get_args(literal)[0]] = member
    return table


RESPONSE_EVENT_TYPES = _response_event_types()


@pytest.mark.parametrize(("model", "endpoint"), STREAMING_ROUTES, ids=lambda v: str(v))
def test_every_stream_event_matches_the_sdk_types_and_the_spec(wire, model, endpoint):
    if endpoint == "responses":
        response = openai_call(
            wire, model, endpoint, extra={"stream": True}, tool_extra={"partial_images": 2}
        )
    else:
        response = openai_call(wire, model, endpoint, extra={"stream": True, "partial_images": 2})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    events = list(sse_events(response))
    assert events
    for name, data in events:
        assert name == data["type"]  # the SSE event name repeats the payload's type
        if endpoint == "responses":
            strict(RESPONSE_EVENT_TYPES[data["type"]], data)
            if data["type"] in _RESPONSE_IMAGE_EVENTS:
                spec_required(_RESPONSE_IMAGE_EVENTS[data["type"]], data)
            continue
        schema, cls = _IMAGE_EVENTS[data["type"]]
        strict(cls, data)
        spec_required(schema, data)
        for field in ("size", "quality", "background", "output_format"):
            assert data[field] in spec_enum(schema, field), (schema, field, data[field])
    if endpoint == "responses":
        assert [d["sequence_number"] for _, d in events] == list(range(len(events)))


@pytest.mark.parametrize("partial_images", [-1, 4])
def test_partial_images_outside_the_spec_range_are_refused(wire, partial_images):
    facts = OPENAPI_FACTS["partial_images"]
    assert not facts["minimum"] <= partial_images <= facts["maximum"]
    response = openai_call(
        wire, "gpt-image-2", "generate", extra={"stream": True, "partial_images": partial_images}
    )
    assert response.status_code == 400
    assert _error_body(response)["param"] == "partial_images"


# -- what the spec says each route takes --------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "facts_key"),
    [
        ("generate", "create_image_request_properties"),
        ("edit", "create_image_edit_request_properties"),
    ],
)
def test_every_request_property_of_the_spec_is_known_and_no_other(endpoint, facts_key):
    from imgkit.simulator.openai_params import known_parameters

    spec_properties = set(OPENAPI_FACTS[facts_key])
    known = known_parameters(endpoint)
    assert spec_properties <= known  # nothing the API takes is refused as unknown
    assert "style" not in known if endpoint == "edit" else "style" in known


def test_the_image_error_codes_the_simulator_uses_are_the_apis():
    from imgkit.simulator.openai_errors import IMAGE_INPUT_CODES

    assert set(IMAGE_INPUT_CODES.values()) <= set(OPENAPI_FACTS["response_error_codes"])


# -- every failure, through the SDK, into the provider ----------------------------------------

PROVIDER_FAILURES = {
    "429": errors.RateLimitedError,
    "500": errors.ServerError,
    "503": errors.ServerError,
    "drop": errors.ConnectionLostError,
    "policy": errors.ContentPolicyError,
    "image_safety": errors.ContentPolicyError,
    "prohibited": errors.ContentPolicyError,
    "decline": errors.ContentPolicyError,  # the Images API has no way to answer in words
}


def _request(model: str, endpoint: str, **params) -> ImageRequest:
    return validate_request(model, "a kite over a beach", endpoint=endpoint, **params)


def _send(provider: OpenAIProvider, request: ImageRequest):
    if request.endpoint == "edit":
        return provider.edit(request, image=png())
    return provider.generate(request)


@pytest.fixture(scope="module")
def openai_provider(sim):
    provider = OpenAIProvider(base_url=sim.openai_base_url)
    yield provider
    provider.close()


@pytest.mark.parametrize("kind", sorted(PROVIDER_FAILURES))
@pytest.mark.parametrize(("model", "endpoint"), ROUTES, ids=lambda v: str(v))
def test_every_failure_becomes_its_imgkit_error(wire, openai_provider, model, endpoint, kind):
    wire.configure(faults=f"{model}:{kind}=x1")
    expected = PROVIDER_FAILURES[kind]
    if kind == "decline" and endpoint == "responses":
        expected = errors.NoImageError
    params = {"size": "256x256"} if model == "dall-e-2" else {}
    with pytest.raises(expected) as caught:
        _send(openai_provider, _request(model, endpoint, **params))
    error = caught.value
    assert (error.provider, error.model) == ("openai", model)
    if expected is errors.RateLimitedError:
        assert error.retry_after is not None
    if expected is errors.ContentPolicyError:
        assert not error.retry_same_provider and error.reason


@pytest.mark.parametrize(("model", "endpoint"), ROUTES, ids=lambda v: str(v))
def test_a_rejected_request_becomes_an_invalid_request_error(openai_provider, model, endpoint):
    # Built by hand: validate_request would refuse it before it left.
    request = ImageRequest(model=model, prompt="a kite", endpoint=endpoint, size="7x7")
    with pytest.raises(errors.InvalidRequestError) as caught:
        _send(openai_provider, request)
    assert caught.value.param and caught.value.param.endswith("size")
    assert caught.value.status == 400


def test_a_timeout_becomes_a_provider_timeout(sim_factory):
    server = sim_factory(faults="gpt-image-2:timeout=x1", timeout_hold=5)
    provider = OpenAIProvider(base_url=server.openai_base_url, timeout_s=0.3)
    try:
        with pytest.raises(errors.ProviderTimeoutError):
            provider.generate(_request("gpt-image-2", "generate"))
    finally:
        provider.close()
