"""Vertex AI as a way to reach the Gemini models (issue 25): google-genai's ``vertexai=True``
with a project and a location, against the simulator's Vertex paths and a recorded Vertex
exchange, with the same results as the Gemini API."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

import httpx
import pytest

from imgkit import errors
from imgkit.catalog.validation import validate_request
from imgkit.providers import provider_for_model
from imgkit.providers.gemini_provider import GeminiProvider

try:
    from replay_server import Answer, ReplayServer
except ImportError:  # pragma: no cover - run from the project root
    from tests.replay_server import Answer, ReplayServer

MODEL = "gemini-3.1-flash-image"
RECORDED = Path(__file__).parent / "data/replay/pydantic-ai-vertex-gemini-2.5-flash-image-jpeg.json"


def test_vertex_through_the_simulator_gives_what_the_gemini_api_gives(sim):
    from imgkit.analysis.hashing import hamming, hash_one

    request = validate_request(MODEL, "a lighthouse", seed=7, size="1344x768")
    vertex = GeminiProvider(
        base_url=sim.gemini_base_url, vertexai=True, project="p-1", location="europe-west4"
    )
    gemini = GeminiProvider(base_url=sim.gemini_base_url)
    sim.reset()
    try:
        (via_vertex,) = vertex.generate(request)
        (via_api,) = gemini.generate(request)
        (via_vertex_async,) = asyncio.run(vertex.agenerate(request))
    finally:
        vertex.close()
        gemini.close()
    assert sim.stats()["requests"]["gemini"][MODEL] == 3
    for result in (via_vertex, via_vertex_async):
        assert (result.width, result.height) == (via_api.width, via_api.height) == (1344, 768)
        assert result.cost_basis == via_api.cost_basis == "usage"
        assert result.cost_usd == pytest.approx(via_api.cost_usd)
        assert result.usage == via_api.usage
        phash = [hash_one(r.image_bytes, ["phash"])["phash"] for r in (result, via_api)]
        assert hamming(*phash) <= 4  # a seed is a best effort, on either path


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_recorded_vertex_exchange_is_sent_on_vertex_paths_with_a_bearer_token(mode):
    fixture = json.loads(RECORDED.read_text())
    (exchange,) = fixture["exchanges"]
    route = "/v1beta1/projects/p-1/locations/us-central1/publishers/google/models/*"
    with ReplayServer() as server:
        server.add("POST", route, Answer(200, exchange["body"], exchange["headers"]))
        provider = GeminiProvider(
            base_url=server.base_url, vertexai=True, project="p-1", location="us-central1"
        )
        request = validate_request("gemini-2.5-flash-image", "Generate an image of an axolotl.")
        try:
            if mode == "sync":
                (result,) = provider.generate(request)
            else:
                (result,) = asyncio.run(provider.agenerate(request))
        finally:
            provider.close()
    (sent,) = server.requests
    assert sent.path.endswith("/models/gemini-2.5-flash-image:generateContent")
    headers = {k.lower(): v for k, v in sent.headers.items()}
    assert headers["authorization"].startswith("Bearer ") and "x-goog-api-key" not in headers
    recorded = base64.b64decode(
        exchange["body"]["candidates"][0]["content"]["parts"][0]["inlineData"]["data"]
    )
    assert result.image_bytes == recorded and result.image_format == "jpeg"
    # 9 prompt and 1,290 image tokens at gemini-2.5-flash-image's rates ($0.30 in, $30 out)
    assert result.cost_basis == "usage"
    assert result.cost_usd == pytest.approx((9 * 0.30 + 1290 * 30.0) / 1e6)


def test_the_environment_chooses_vertex_as_google_genai_does():
    env = {"GOOGLE_GENAI_USE_VERTEXAI": "true", "GOOGLE_CLOUD_PROJECT": "from-env"}
    provider = GeminiProvider(backend="sim", base_url="http://127.0.0.1:9", environ=env)
    assert provider.vertex is not None
    assert (provider.vertex.project, provider.vertex.location) == ("from-env", "global")
    assert GeminiProvider(backend="sim", base_url="http://127.0.0.1:9", environ={}).vertex is None


def test_live_vertex_needs_a_project_or_a_key_and_never_stores_either():
    env = {"GOOGLE_GENAI_USE_VERTEXAI": "1"}
    with pytest.raises(errors.AuthenticationError, match="GOOGLE_CLOUD_PROJECT"):
        GeminiProvider(backend="live", environ=env)
    express = GeminiProvider(backend="live", environ={**env, "GOOGLE_API_KEY": "k-123"})
    assert express.vertex.project is None
    assert express.vertex.client_kwargs(express.settings) == {"vertexai": True, "api_key": "k-123"}
    assert "k-123" not in repr(express)
    adc = GeminiProvider(backend="live", environ={**env, "GOOGLE_CLOUD_PROJECT": "p"})
    kwargs = adc.vertex.client_kwargs(adc.settings)
    assert kwargs == {"vertexai": True, "project": "p", "location": "global"}  # ADC: genai's


def test_the_simulators_vertex_path_wants_credentials(sim):
    url = (
        f"{sim.gemini_base_url}/v1beta1/projects/p/locations/global/publishers/google/models/"
        f"{MODEL}:generateContent"
    )
    body = {"contents": [{"role": "user", "parts": [{"text": "a red fox"}]}]}
    refused = httpx.post(url, json=body, timeout=30)
    assert refused.status_code == 401 and refused.json()["error"]["status"] == "UNAUTHENTICATED"
    served = httpx.post(url, json=body, headers={"authorization": "Bearer x"}, timeout=30)
    assert served.status_code == 200 and served.json()["candidates"]


def test_a_drill_reaches_gemini_through_vertex_when_the_environment_says_so(
    sim, tmp_path, monkeypatch
):
    from imgkit.runner.start import drill

    monkeypatch.setenv("GOOGLE_GENAI_USE_VERTEXAI", "true")
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "p-drill")
    provider = provider_for_model(MODEL, base_url=sim.gemini_base_url)
    assert provider.vertex is not None and provider.vertex.project == "p-drill"
    run = drill(["a red fox"], [MODEL], n=2, sim_url=sim.base_url, out=tmp_path, progress=False,
                log=None)  # fmt: skip
    assert run.summary()["ok"] == 2
