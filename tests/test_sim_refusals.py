"""Refusals and errors as the services send them, through the real SDKs and into the providers.

Each test pins one shape the real service is known to send (sources in docs/vendor-behaviour.md)
and the imgkit error the provider turns it into.
"""

from __future__ import annotations

import io

import httpx
import openai
import pytest
from google import genai
from google.genai import types
from PIL import Image

from imgkit import errors
from imgkit.catalog.validation import validate_request
from imgkit.providers import provider_for_model


def _openai(server):
    return openai.OpenAI(base_url=server.openai_base_url, api_key="sim", max_retries=0)


def _gemini(server):
    return genai.Client(
        api_key="sim", http_options=types.HttpOptions(base_url=server.gemini_base_url)
    )


@pytest.fixture
def refusing(sim):
    """The session simulator; faults, blocked terms and rate limits cleared afterwards."""
    sim.reset()
    yield sim
    sim.configure(faults="", block=(), rate_limits={})
    sim.reset()


def _png(size=(64, 64), mode="RGB", color=(10, 120, 200)) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, color if mode == "RGB" else (*color, 255)).save(buffer, "PNG")
    return buffer.getvalue()


# -- OpenAI Images API: each model family refuses in its own shape ----------------------------


@pytest.mark.parametrize("model", ["gpt-image-1", "gpt-image-2", "gpt-image-2.6-flare"])
def test_gpt_image_refusal_is_moderation_blocked(refusing, model):
    with _openai(refusing) as client, pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(model=model, prompt="graphic violence in a street")
    error = caught.value
    assert error.code == "moderation_blocked"
    assert error.type == "image_generation_user_error"
    assert error.param is None
    details = error.body["moderation_details"]
    assert details["moderation_stage"] == "input" and details["categories"]
    assert "rejected by the safety system" in error.message


def test_gpt_image_output_moderation_says_its_stage(refusing):
    refusing.configure(faults="gpt-image-2:image_safety=x1")
    with _openai(refusing) as client, pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(model="gpt-image-2", prompt="a calm lake", quality="low")
    assert caught.value.code == "moderation_blocked"
    assert caught.value.body["moderation_details"]["moderation_stage"] == "output"


def test_gpt_image_edit_refusal_is_moderation_blocked(refusing):
    with _openai(refusing) as client, pytest.raises(openai.BadRequestError) as caught:
        client.images.edit(
            model="gpt-image-1.5",
            image=("a.png", _png(), "image/png"),
            prompt="add gore to the picture",
        )
    assert caught.value.code == "moderation_blocked"


def test_dalle3_refusal_stays_content_policy_violation(refusing):
    with _openai(refusing) as client, pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(model="dall-e-3", prompt="graphic violence in a street")
    assert caught.value.code == "content_policy_violation"
    assert caught.value.type == "invalid_request_error"


def test_dalle3_words_its_two_refusals_apart(refusing):
    """Recorded DALL-E 3 refusals name either the prompt or the description rewritten from it."""
    with _openai(refusing) as client, pytest.raises(openai.BadRequestError) as prompt_refused:
        client.images.generate(model="dall-e-3", prompt="graphic violence in a street")
    refusing.configure(faults="dall-e-3:image_safety=x1")
    with _openai(refusing) as client, pytest.raises(openai.BadRequestError) as rewrite_refused:
        client.images.generate(model="dall-e-3", prompt="a calm lake")
    for caught in (prompt_refused, rewrite_refused):
        assert caught.value.code == "content_policy_violation"
        assert "Your request was rejected as a result of our safety system." in (
            caught.value.message
        )
    assert "Your prompt may contain text" in prompt_refused.value.message
    assert "Image descriptions generated from your prompt" in rewrite_refused.value.message


@pytest.mark.parametrize("model", ["gpt-image-2", "dall-e-3"])
def test_the_provider_maps_both_shapes_to_a_content_policy_error(refusing, model):
    provider = provider_for_model(model, base_url=refusing.openai_base_url)
    try:
        with pytest.raises(errors.ContentPolicyError) as caught:
            provider.generate(validate_request(model, "graphic violence in a street"))
    finally:
        provider.close()
    error = caught.value
    assert error.code in ("moderation_blocked", "content_policy_violation")
    assert not error.retry_same_provider
    assert "safety system" in error.reason
    assert refusing.stats()["images"] == {}


# -- OpenAI Responses API: a refused image is a failed call inside a 200 ----------------------


def test_responses_refusal_is_a_failed_call_in_a_200(refusing):
    with _openai(refusing) as client:
        raw = client.responses.with_raw_response.create(
            model="gpt-5",
            input="draw graphic violence",
            tools=[{"type": "image_generation", "quality": "low"}],
        )
        response = raw.parse()
    assert raw.http_response.status_code == 200
    (call,) = [item for item in response.output if item.type == "image_generation_call"]
    assert call.status == "failed" and call.result is None
    assert call.error.code == "moderation_blocked"
    assert call.error.type == "image_generation_user_error"
    assert call.error.moderation_details.moderation_stage == "input"
    # The assistant still says something about it.
    assert any(item.type == "message" for item in response.output)


def test_the_provider_turns_a_failed_call_into_a_content_policy_error(refusing):
    provider = provider_for_model("gpt-image-2", base_url=refusing.openai_base_url)
    request = validate_request("gpt-image-2", "draw graphic violence", endpoint="responses")
    try:
        with pytest.raises(errors.ContentPolicyError) as caught:
            provider.generate(request)
    finally:
        provider.close()
    assert caught.value.code == "moderation_blocked"


def test_a_responses_decline_in_words_is_no_image_with_the_text_kept(refusing):
    refusing.configure(faults="gpt-image-2:decline=x1")
    provider = provider_for_model("gpt-image-2", base_url=refusing.openai_base_url)
    request = validate_request("gpt-image-2", "a paper boat", endpoint="responses")
    try:
        with pytest.raises(errors.NoImageError) as caught:
            provider.generate(request)
    finally:
        provider.close()
    assert caught.value.text and "can't" in caught.value.text
    assert not caught.value.retry_same_provider


# -- OpenAI: unknown parameters, limits, unknown routes ---------------------------------------


def test_an_unknown_parameter_is_refused(refusing):
    with _openai(refusing) as client, pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(model="gpt-image-2", prompt="a cat", extra_body={"foo": 1})
    error = caught.value
    assert (error.code, error.param, error.type) == (
        "unknown_parameter",
        "foo",
        "invalid_request_error",
    )
    assert error.body["message"] == "Unknown parameter: 'foo'."
    assert refusing.stats()["images"] == {}


def test_response_format_on_a_gpt_image_model_is_an_unknown_parameter(refusing):
    with _openai(refusing) as client, pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(model="gpt-image-1.5", prompt="a cat", response_format="b64_json")
    assert (caught.value.code, caught.value.param) == ("unknown_parameter", "response_format")
    assert caught.value.body["message"] == "Unknown parameter: 'response_format'."


def test_an_unknown_tool_parameter_names_its_path(refusing):
    with _openai(refusing) as client, pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(
            model="gpt-5", input="a cat", tools=[{"type": "image_generation", "n": 2}]
        )
    assert (caught.value.code, caught.value.param) == ("unknown_parameter", "tools[0].n")


def test_style_on_edits_is_refused(refusing):
    with _openai(refusing) as client, pytest.raises(openai.BadRequestError) as caught:
        client.images.edit(
            model="gpt-image-1",
            image=("a.png", _png(), "image/png"),
            prompt="a hat",
            extra_body={"style": "vivid"},
        )
    assert (caught.value.code, caught.value.param) == ("unknown_parameter", "style")


def test_more_than_sixteen_input_images_are_refused(refusing):
    images = [(f"{i}.png", _png(), "image/png") for i in range(17)]
    with _openai(refusing) as client, pytest.raises(openai.BadRequestError) as caught:
        client.images.edit(model="gpt-image-1.5", image=images, prompt="a collage")
    assert caught.value.code == "array_above_max_length"
    assert caught.value.param == "image"
    assert refusing.stats()["images"] == {}


def test_sixteen_input_images_are_fine(refusing):
    images = [(f"{i}.png", _png(), "image/png") for i in range(16)]
    with _openai(refusing) as client:
        response = client.images.edit(model="gpt-image-1.5", image=images, prompt="a collage")
    assert len(response.data) == 1


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("POST", "/v1/images/variants", 404), ("POST", "/v1/nothing", 404)],
)
def test_unknown_routes_answer_openais_json_error(refusing, method, path, status):
    response = httpx.request(
        method, refusing.base_url + path, headers={"authorization": "Bearer x"}, json={}
    )
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {
        "error": {
            "message": f"Invalid URL ({method} {path})",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    }


def test_a_wrong_method_answers_openais_405(refusing):
    response = httpx.get(
        refusing.openai_base_url + "/images/generations", headers={"authorization": "Bearer x"}
    )
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_supported"


def test_an_unknown_route_through_the_sdk_is_a_not_found_error(refusing):
    with _openai(refusing) as client, pytest.raises(openai.NotFoundError) as caught:
        client.post("/images/variants", body={}, cast_to=object)
    assert caught.value.type == "invalid_request_error"


@pytest.mark.parametrize(
    ("call", "code", "param"),
    [
        ({"model": "dall-e-3", "prompt": "x" * 4001}, "string_above_max_length", "prompt"),
        ({"model": "gpt-image-2", "prompt": "a cat", "quality": "hd"}, "invalid_value", "quality"),
        (
            {"model": "gpt-image-1", "prompt": "a cat", "style": "vivid"},
            "unknown_parameter",
            "style",
        ),
    ],
)
def test_each_rejection_carries_the_code_the_api_uses(refusing, call, code, param):
    with _openai(refusing) as client, pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(**call)
    assert (caught.value.code, caught.value.param) == (code, param)


def test_a_mask_without_alpha_is_an_invalid_image_mode(refusing):
    with _openai(refusing) as client, pytest.raises(openai.BadRequestError) as caught:
        client.images.edit(
            model="gpt-image-1",
            image=("a.png", _png(), "image/png"),
            mask=("m.png", _png(), "image/png"),
            prompt="a hat",
        )
    assert (caught.value.code, caught.value.param) == ("invalid_image_mode", "mask")


def test_a_mask_of_another_size_is_an_invalid_image(refusing):
    with _openai(refusing) as client, pytest.raises(openai.BadRequestError) as caught:
        client.images.edit(
            model="gpt-image-1",
            image=("a.png", _png((64, 64)), "image/png"),
            mask=("m.png", _png((32, 32), mode="RGBA"), "image/png"),
            prompt="a hat",
        )
    assert (caught.value.code, caught.value.param) == ("invalid_image", "mask")


# -- Gemini: the ways a Gemini image model says no --------------------------------------------


def test_a_blocked_prompt_has_prompt_feedback_and_no_candidates(refusing):
    client = _gemini(refusing)
    response = client.models.generate_content(
        model="gemini-2.5-flash-image", contents="graphic violence"
    )
    assert response.candidates is None
    assert response.prompt_feedback.block_reason == types.BlockedReason.PROHIBITED_CONTENT
    assert response.usage_metadata.prompt_token_count > 0


@pytest.mark.parametrize(
    ("kind", "finish"),
    [
        ("image_safety", types.FinishReason.IMAGE_SAFETY),
        ("prohibited", types.FinishReason.IMAGE_PROHIBITED_CONTENT),
    ],
)
def test_image_refusals_carry_their_finish_reason(refusing, kind, finish):
    refusing.configure(faults=f"gemini:{kind}=x1")
    client = _gemini(refusing)
    response = client.models.generate_content(model="gemini-2.5-flash-image", contents="a kite")
    (candidate,) = response.candidates
    assert candidate.finish_reason == finish
    assert not any(p.inline_data for p in (candidate.content.parts if candidate.content else []))


def test_a_decline_in_words_is_a_text_only_answer(refusing):
    refusing.configure(faults="gemini:decline=x1")
    client = _gemini(refusing)
    response = client.models.generate_content(model="gemini-2.5-flash-image", contents="a kite")
    (candidate,) = response.candidates
    assert candidate.finish_reason == types.FinishReason.STOP
    assert [p.inline_data for p in candidate.content.parts] == [None]
    assert "can't" in response.text


def test_usage_metadata_has_prompt_token_details(refusing):
    client = _gemini(refusing)
    response = client.models.generate_content(model="gemini-2.5-flash-image", contents="a kite")
    (details,) = response.usage_metadata.prompt_tokens_details
    assert details.modality == types.MediaModality.TEXT
    assert details.token_count == response.usage_metadata.prompt_token_count


@pytest.mark.parametrize(
    ("setup", "expected", "code"),
    [
        ({"block": ["castle"]}, "ContentPolicyError", "PROHIBITED_CONTENT"),
        ({"faults": "gemini:image_safety=x1"}, "ContentPolicyError", "IMAGE_SAFETY"),
        ({"faults": "gemini:prohibited=x1"}, "ContentPolicyError", "IMAGE_PROHIBITED_CONTENT"),
        ({"faults": "gemini:decline=x1"}, "NoImageError", "STOP"),
    ],
)
def test_the_gemini_provider_maps_each_refusal(refusing, setup, expected, code):
    expected = getattr(errors, expected)
    refusing.configure(**setup)
    provider = provider_for_model("gemini-2.5-flash-image", base_url=refusing.gemini_base_url)
    try:
        with pytest.raises(expected) as caught:
            provider.generate(validate_request("gemini-2.5-flash-image", "a castle"))
    finally:
        provider.close()
    assert caught.value.code == code
    if expected is errors.NoImageError:
        assert "can't" in caught.value.text


# -- Leonardo: failed jobs, NSFW flags, and a queue instead of 429 ----------------------------

_LEONARDO = {"authorization": "Bearer sim"}


def _create(server, prompt="a lantern", **extra):
    response = httpx.post(
        server.leonardo_base_url + "/generations",
        json={"prompt": prompt, "width": 512, "height": 512, **extra},
        headers=_LEONARDO,
    )
    response.raise_for_status()
    return response.json()["sdGenerationJob"]["generationId"]


def _poll(server, generation_id):
    response = httpx.get(
        f"{server.leonardo_base_url}/generations/{generation_id}", headers=_LEONARDO
    )
    return response.json()["generations_by_pk"]


def test_a_failed_job_reaches_failed(refusing):
    refusing.configure(faults="leonardo:job_failed=x1")
    record = _poll(refusing, _create(refusing))
    assert record["status"] == "FAILED" and record["generated_images"] == []


def test_the_leonardo_provider_reports_a_failed_job_as_a_server_error(refusing):
    refusing.configure(faults="leonardo:job_failed=x1")
    provider = provider_for_model("leonardo-phoenix", base_url=refusing.leonardo_base_url)
    provider.poll_interval_s = 0.01
    try:
        with pytest.raises(errors.ServerError) as caught:
            provider.generate(validate_request("leonardo-phoenix", "a lantern", size="512x512"))
    finally:
        provider.close()
    assert caught.value.code == "FAILED" and caught.value.retry_same_provider


def test_nsfw_flagged_images_are_flagged(refusing):
    refusing.configure(faults="leonardo:image_safety=x1")
    record = _poll(refusing, _create(refusing, num_images=2))
    assert record["status"] == "COMPLETE"
    assert [image["nsfw"] for image in record["generated_images"]] == [True, True]


def test_the_leonardo_provider_keeps_a_flagged_image_and_says_so(refusing):
    refusing.configure(faults="leonardo:image_safety=x1")
    provider = provider_for_model("leonardo-phoenix", base_url=refusing.leonardo_base_url)
    provider.poll_interval_s = 0.01
    try:
        (result,) = provider.generate(validate_request("leonardo-phoenix", "a lantern"))
    finally:
        provider.close()
    assert result.metadata["nsfw"] is True
    assert result.image_bytes and result.cost_usd is not None


def test_the_v2_endpoint_takes_the_partner_models_it_exists_for(refusing):
    response = httpx.post(
        refusing.base_url + "/api/rest/v2/generations",
        json={
            "model": "gpt-image-1.5",
            "public": False,
            "parameters": {
                "prompt": "a koala with a purple hat",
                "quality": "MEDIUM",
                "quantity": 1,
                "width": 1024,
                "height": 1024,
                "seed": 42,
                "prompt_enhance": "OFF",
            },
        },
        headers=_LEONARDO,
    )
    assert response.status_code == 200, response.text
    job = response.json()["generate"]
    assert job["cost"]["amount"] > 0
    record = _poll(refusing, job["generationId"])
    assert record["status"] == "COMPLETE" and len(record["generated_images"]) == 1


def test_leonardo_queues_instead_of_answering_429(refusing):
    refusing.configure(rate_limits={"leonardo-phoenix": 1})
    first, second = _create(refusing), _create(refusing)  # no 429: both are accepted
    assert _poll(refusing, first)["status"] == "COMPLETE"
    assert _poll(refusing, second)["status"] == "PENDING"  # waits its turn in the queue


def test_the_leonardo_provider_waits_in_the_queue_then_times_out(refusing):
    refusing.configure(rate_limits={"leonardo-phoenix": 1})
    provider = provider_for_model("leonardo-phoenix", base_url=refusing.leonardo_base_url)
    provider.poll_interval_s, provider.max_wait_s = 0.01, 0.2
    request = validate_request("leonardo-phoenix", "a lantern", size="512x512")
    try:
        provider.generate(request)
        with pytest.raises(errors.ProviderTimeoutError) as caught:
            provider.generate(request)
    finally:
        provider.close()
    assert caught.value.code == "poll_timeout"
