"""The OpenAI provider against the simulator, through the real ``openai`` SDK."""

from __future__ import annotations

import asyncio

import pytest

from imgkit import errors
from imgkit.catalog.costs import cost_from_usage, estimate_cost
from imgkit.catalog.validation import ImageRequest, validate_request
from imgkit.providers import OpenAIProvider, get_provider, provider_for_model, resolve_settings


@pytest.fixture
def openai_provider(sim):
    provider = provider_for_model("dall-e-3", base_url=sim.openai_base_url)
    yield provider
    provider.close()


@pytest.fixture
def faults(sim):
    """Set a fault SPEC for one test; cleared afterwards."""

    def set_faults(spec: str) -> None:
        sim.configure(faults=spec)
        sim.reset()

    yield set_faults
    sim.configure(faults="")


def test_dalle3_generate_keeps_revised_prompt_and_prices_by_estimate(openai_provider):
    request = validate_request("dall-e-3", "a red fox", size="1792x1024", quality="hd")
    (result,) = openai_provider.generate(request)
    assert result.provider == "openai" and result.model == "dall-e-3"
    assert (result.width, result.height, result.image_format) == (1792, 1024, "png")
    assert result.revised_prompt and result.revised_prompt != "a red fox"
    assert result.cost_usd == pytest.approx(0.12) and result.cost_basis == "estimate"
    assert result.simulated and result.request_id
    assert result.latency_s is not None and result.latency_s >= 0
    assert "b64_json" not in str(result.metadata)  # metadata never carries the image


def test_url_responses_are_downloaded_at_once(openai_provider):
    request = validate_request("dall-e-3", "a lighthouse", response_format="url")
    (result,) = openai_provider.generate(request)
    assert result.image_bytes.startswith(b"\x89PNG")
    assert result.metadata["data"][0]["url"].startswith("http://127.0.0.1")


def test_gpt_image_costs_come_from_usage(openai_provider):
    request = validate_request("gpt-image-2", "a teapot", quality="low", n=2)
    results = openai_provider.generate(request)
    assert [r.index for r in results] == [0, 1]
    usage = results[0].usage
    assert usage and usage["output_tokens"] > 0
    expected = cost_from_usage(request.spec, usage, n=2).per_image
    assert all(r.cost_basis == "usage" and r.cost_usd == pytest.approx(expected) for r in results)
    assert results[0].cost_usd > 0
    assert results[0].revised_prompt is None  # the Images API does not rewrite GPT image prompts


def test_responses_path_reports_the_rewritten_prompt(openai_provider):
    request = validate_request("gpt-image-2", "a tiny robot", endpoint="responses")
    (result,) = openai_provider.generate(request)
    assert result.endpoint == "responses"
    assert result.revised_prompt and result.revised_prompt != "a tiny robot"
    assert result.metadata["responses_model"] == openai_provider.responses_model
    # The image tool's tokens arrive in `tool_usage.image_gen`, so the cost comes from usage.
    assert result.cost_basis == "usage"
    assert result.usage["output_tokens"] > 0
    assert result.cost_usd == pytest.approx(estimate_cost(request).per_image, rel=0.05)


def test_async_generate_works_across_event_loops(openai_provider):
    request = validate_request("gpt-image-1.5", "a blue fox", quality="medium")

    async def once():
        try:
            return await openai_provider.agenerate(request)
        finally:
            await openai_provider.aclose()

    first = asyncio.run(once())
    second = asyncio.run(once())  # a fresh loop must get fresh clients
    assert first[0].image_bytes and second[0].image_bytes

    async def responses_twice():
        req = validate_request("gpt-image-2", "a kite", endpoint="responses", n=2)
        try:
            return await openai_provider.agenerate(req)
        finally:
            await openai_provider.aclose()

    assert len(asyncio.run(responses_twice())) == 2


def test_sdk_retries_are_off(openai_provider, faults, sim):
    faults("openai:500=x1")
    with pytest.raises(errors.ServerError) as info:
        openai_provider.generate(validate_request("dall-e-3", "a barn"))
    assert info.value.status == 500 and info.value.provider == "openai"
    assert sim.stats()["requests"]["openai"]["dall-e-3"] == 1


def test_rate_limit_carries_retry_after(openai_provider, faults):
    faults("openai/dall-e-3:429=x1")
    with pytest.raises(errors.RateLimitedError) as info:
        openai_provider.generate(validate_request("dall-e-3", "a barn"))
    assert info.value.retry_after is not None and info.value.request_id


def test_content_policy_keeps_the_reason(openai_provider, sim):
    sim.reset()
    with pytest.raises(errors.ContentPolicyError) as info:
        openai_provider.generate(validate_request("dall-e-3", "a real celebrity at dinner"))
    assert info.value.status == 400 and info.value.code == "content_policy_violation"
    assert "safety system" in info.value.reason


def test_invalid_request_names_the_param(openai_provider):
    # Built by hand to get past imgkit's own validation and reach the service's.
    request = ImageRequest(model="dall-e-3", prompt="a barn", size="999x999")
    with pytest.raises(errors.InvalidRequestError) as info:
        openai_provider.generate(request)
    assert info.value.param == "size" and info.value.status == 400


def test_timeout_and_dropped_connection(sim, faults):
    provider = get_provider("openai", base_url=sim.openai_base_url, timeout_s=0.5)
    try:
        faults("openai:timeout=x1;openai:drop=x1")
        with pytest.raises(errors.ProviderTimeoutError):
            provider.generate(validate_request("gpt-image-2", "a barn", quality="low"))
        with pytest.raises(errors.ConnectionLostError):
            provider.generate(validate_request("gpt-image-2", "a barn", quality="low"))
    finally:
        provider.close()


def test_wrong_vendor_or_endpoint_is_refused_before_sending(openai_provider):
    with pytest.raises(errors.ValidationError):
        openai_provider.generate(validate_request("gemini-3.1-flash-image", "x"))
    with pytest.raises(errors.ValidationError):
        openai_provider.generate(validate_request("gpt-image-2", "x", endpoint="edit"))


def test_live_backend_needs_a_key_and_honours_the_base_url_override():
    with pytest.raises(errors.AuthenticationError, match="OPENAI_API_KEY"):
        resolve_settings("openai", backend="live", environ={})
    settings = resolve_settings(
        "openai",
        backend="live",
        environ={"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": "http://gateway.local/v1/"},
    )
    assert settings.base_url == "http://gateway.local/v1"
    assert "sk-test" not in repr(settings)
    gemini = resolve_settings("gemini", backend="live", environ={"GOOGLE_API_KEY": "g"})
    assert gemini.api_key == "g" and gemini.base_url.startswith("https://generativelanguage")
    with pytest.raises(errors.ValidationError):
        resolve_settings("openai", backend="prod")  # type: ignore[arg-type]


def test_sim_without_base_url_uses_the_shared_simulator():
    provider = OpenAIProvider()
    try:
        assert provider.backend == "sim"
        (result,) = provider.generate(validate_request("gpt-image-2", "a cup", quality="low"))
        assert result.simulated
    finally:
        provider.close()
