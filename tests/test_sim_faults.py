"""Scripted and random faults, blocked terms and rate limits, as the SDKs see them."""

from __future__ import annotations

import httpx
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from imgkit.errors import ValidationError
from imgkit.simulator.faults import BlockList, FaultPlan, parse_faults


def _openai(server, **kwargs):
    return openai.OpenAI(base_url=server.openai_base_url, api_key="sim", max_retries=0, **kwargs)


def _gemini(server):
    return genai.Client(
        api_key="sim", http_options=types.HttpOptions(base_url=server.gemini_base_url)
    )


@pytest.fixture
def faulty(sim):
    """The session simulator, with faults cleared and counters zeroed afterwards."""
    sim.reset()
    yield sim
    sim.configure(faults="", block=(), rate_limits={})
    sim.reset()


def test_scripted_429_then_success_with_retry_after(faulty):
    faulty.configure(faults="openai/gpt-image-1:429=x1", retry_after=2)
    with _openai(faulty) as client:
        with pytest.raises(openai.RateLimitError) as caught:
            client.images.generate(model="gpt-image-1", prompt="a cat", quality="low")
        response = caught.value.response
        assert response.headers["retry-after"] == "2"
        assert response.headers["x-ratelimit-remaining-requests"] == "0"
        assert caught.value.code == "rate_limit_exceeded"
        # The script is spent: the next request succeeds.
        client.images.generate(model="gpt-image-1", prompt="a cat", quality="low")
    stats = faulty.stats()
    assert stats["requests"]["openai"]["gpt-image-1"] == 2
    assert stats["images"]["openai"]["gpt-image-1"] == 1
    assert stats["faults"]["openai"]["gpt-image-1"] == {"429": 1}
    faulty.configure(retry_after=1)


def test_issue_script_form_runs_in_order(faulty):
    faulty.configure(faults="dall-e-3=500,503,policy")
    with _openai(faulty) as client:
        for expected in (openai.InternalServerError, openai.InternalServerError):
            with pytest.raises(expected):
                client.images.generate(model="dall-e-3", prompt="a cat")
        with pytest.raises(openai.BadRequestError) as caught:
            client.images.generate(model="dall-e-3", prompt="a cat")
        assert caught.value.code == "content_policy_violation"
        assert client.images.generate(model="dall-e-3", prompt="a cat").data


def test_faults_only_hit_their_target(faulty):
    faulty.configure(faults="gemini:500=x1")
    with _openai(faulty) as client:
        client.images.generate(model="gpt-image-1", prompt="a cat", quality="low")
    assert faulty.stats()["pending_faults"] == {"gemini": ["500"]}


def test_timeout_fault_raises_api_timeout_error(faulty):
    faulty.configure(faults="openai:timeout=x1")
    with _openai(faulty, timeout=0.5) as client, pytest.raises(openai.APITimeoutError):
        client.images.generate(model="gpt-image-1", prompt="a cat", quality="low")


def test_drop_fault_raises_api_connection_error(faulty):
    faulty.configure(faults="openai:drop=x1")
    with _openai(faulty) as client:
        with pytest.raises(openai.APIConnectionError) as caught:
            client.images.generate(model="gpt-image-1", prompt="a cat", quality="low")
        assert not isinstance(caught.value, openai.APITimeoutError)


def test_blocked_term_is_a_policy_refusal(faulty):
    faulty.configure(block=["volcano"])
    with _openai(faulty) as client, pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(model="dall-e-3", prompt="A Volcano erupting")
    assert caught.value.code == "content_policy_violation"
    assert "volcano" in caught.value.message
    assert faulty.stats()["images"] == {}


def test_default_blocked_terms(faulty):
    with _openai(faulty) as client, pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(model="gpt-image-1", prompt="nsfw picture")
    # GPT image models refuse with moderation_blocked (dall-e-3: content_policy_violation).
    assert caught.value.code == "moderation_blocked"
    assert caught.value.body["moderation_details"]["categories"] == ["sexual"]


def test_targeted_block_only_applies_to_its_target(faulty):
    faulty.configure(block=["gemini:castle"])
    with _openai(faulty) as client:
        assert client.images.generate(model="dall-e-3", prompt="a castle").data
    client = _gemini(faulty)  # keep a reference: a collected genai Client closes its transport
    response = client.models.generate_content(model="gemini-2.5-flash-image", contents="a castle")
    # A blocked prompt: prompt feedback and no candidates at all.
    assert response.prompt_feedback.block_reason == types.BlockedReason.PROHIBITED_CONTENT
    assert response.candidates is None


def test_gemini_429_is_client_error(faulty):
    faulty.configure(faults="gemini:429=x1")
    client = _gemini(faulty)
    with pytest.raises(genai_errors.ClientError) as caught:
        client.models.generate_content(model="gemini-2.5-flash-image", contents="x")
    assert caught.value.code == 429 and caught.value.status == "RESOURCE_EXHAUSTED"


def test_gemini_500_is_server_error(faulty):
    faulty.configure(faults="gemini:500=1.0")
    client = _gemini(faulty)
    with pytest.raises(genai_errors.ServerError) as caught:
        client.models.generate_content(model="gemini-2.5-flash-image", contents="x")
    assert caught.value.code == 500


def test_leonardo_fault_and_policy(faulty):
    faulty.configure(faults="leonardo:503=x1", block=["leonardo:dragon"])
    headers = {"authorization": "Bearer sim"}
    url = faulty.leonardo_base_url + "/generations"
    assert httpx.post(url, json={"prompt": "a cat"}, headers=headers).status_code == 503
    refused = httpx.post(url, json={"prompt": "a dragon"}, headers=headers)
    assert refused.status_code == 400 and "moderation" in refused.json()["error"]


def test_random_faults_are_seeded_and_reproducible(sim_factory):
    outcomes = []
    for _ in range(2):
        server = sim_factory(seed=11, faults="*:500=0.3,429=0.2")
        seen = []
        with _openai(server) as client:
            for _ in range(12):
                try:
                    client.images.generate(model="gpt-image-1", prompt="a cat", quality="low")
                    seen.append("ok")
                except openai.RateLimitError:
                    seen.append("429")
                except openai.InternalServerError:
                    seen.append("500")
        outcomes.append(seen)
        server.stop()
    assert outcomes[0] == outcomes[1]
    assert "ok" in outcomes[0] and len(set(outcomes[0])) >= 2


def test_rate_limit_per_model(faulty):
    faulty.configure(rate_limits={"gpt-image-2": 2})
    with _openai(faulty) as client:
        client.images.generate(model="gpt-image-2", prompt="a", n=2, quality="low")
        with pytest.raises(openai.RateLimitError) as caught:
            client.images.generate(model="gpt-image-2", prompt="a", quality="low")
        headers = caught.value.response.headers
        assert float(headers["retry-after"]) > 0
        # The limit reported is the one configured, not a made-up figure.
        assert headers["x-ratelimit-limit-requests"] == "2"
        assert headers["x-ratelimit-remaining-requests"] == "0"


@pytest.mark.parametrize(
    ("target", "path", "body"),
    [
        (
            "gemini",
            "/v1beta/models/gemini-2.5-flash-image:generateContent",
            {"contents": [{"parts": [{"text": "x"}]}]},
        ),
        ("leonardo", "/api/rest/v1/generations", {"prompt": "x", "width": 1024, "height": 1024}),
    ],
)
def test_every_vendor_429_carries_retry_after_and_ratelimit_headers(faulty, target, path, body):
    faulty.configure(faults=f"{target}:429=x1", retry_after=3)
    response = httpx.post(
        faulty.base_url + path,
        json=body,
        headers={"authorization": "Bearer test", "x-goog-api-key": "test"},
    )
    assert response.status_code == 429
    assert response.headers["retry-after"] == "3"
    assert response.headers["x-ratelimit-remaining-requests"] == "0"
    assert response.headers["x-ratelimit-reset-requests"] == "3s"
    faulty.configure(retry_after=1)


@pytest.mark.parametrize(
    "spec", ["gemini:boom=x1", "gemini:429=2.0", "gemini:429", "*:429=0.8,500=0.5", ":500=x1"]
)
def test_malformed_specs_are_rejected(spec):
    with pytest.raises(ValidationError) as caught:
        parse_faults(spec)
    assert caught.value.param == "faults"


def test_fault_plan_orders_scripted_before_random():
    plan = FaultPlan("openai/dall-e-3:policy=x2;openai:500=1.0", seed=0)
    drawn = [plan.draw("openai", "dall-e-3") for _ in range(3)]
    assert drawn == ["policy", "policy", "500"]
    assert plan.draw("gemini", "gemini-2.5-flash-image") is None


def test_block_list_prefixes():
    block = BlockList(["gemini:castle", "not-a-target:word"], defaults=False)
    assert block.match("gemini", "gemini-2.5-flash-image", "A CASTLE") == "castle"
    assert block.match("openai", "dall-e-3", "a castle") is None
    assert block.match("openai", "dall-e-3", "not-a-target:word") == "not-a-target:word"


def test_rate_mode_is_random_faults_on_every_target():
    # The issue's spelling of the random mode, "rate:429=0.1,500=0.05", applies to every
    # provider and model, the same as "*:" with the same seed.
    rate, star = FaultPlan("rate:429=0.3,500=0.2", seed=4), FaultPlan("*:429=0.3,500=0.2", seed=4)
    targets = [("openai", "dall-e-3"), ("gemini", "gemini-2.5-flash-image"), ("leonardo", "x")]
    drawn = [rate.draw(*t) for t in targets * 20]
    assert drawn == [star.draw(*t) for t in targets * 20]
    assert {"429", "500", None} == set(drawn)
