"""The Gemini provider against the simulator, through the real ``google-genai`` SDK."""

from __future__ import annotations

import asyncio
import io

import pytest
from PIL import Image

from imgkit import errors
from imgkit.catalog.validation import validate_request
from imgkit.providers import provider_for_model

MODEL = "gemini-3.1-flash-image"


@pytest.fixture
def gemini(sim):
    provider = provider_for_model(MODEL, base_url=sim.gemini_base_url)
    yield provider
    provider.close()


@pytest.fixture
def faults(sim):
    def set_faults(spec: str) -> None:
        sim.configure(faults=spec)
        sim.reset()

    yield set_faults
    sim.configure(faults="")


@pytest.mark.parametrize(
    "size, tier, price",
    [("1344x768", "1K", 0.067), ("672x384", "0.5K", 0.045), ("2048x2048", "2K", 0.101)],
)
def test_size_maps_to_aspect_ratio_and_tier(gemini, size, tier, price):
    (result,) = gemini.generate(validate_request(MODEL, "a red fox", size=size))
    assert f"{result.width}x{result.height}" == size
    assert result.metadata["image_size"] == tier
    # Costed from the answer's usageMetadata at 3.1 Flash Image's token rates (USD per 1M:
    # $0.50 in, $60 image out, $3 text and thinking out), not the per-image estimate ``price``
    # (issue 25).
    usage = result.usage
    image_tokens = sum(
        d["token_count"] for d in usage["candidates_tokens_details"] if d["modality"] == "IMAGE"
    )
    text_tokens = usage["candidates_token_count"] - image_tokens
    thinking = usage.get("thoughts_token_count", 0)  # Gemini 3 thinks, at the text rate ($3)
    expected = (
        usage["prompt_token_count"] * 0.50 + image_tokens * 60.0 + (text_tokens + thinking) * 3.0
    ) / 1e6
    assert result.cost_basis == "usage" and result.cost_usd == pytest.approx(expected)
    assert result.cost_usd == pytest.approx(price, rel=0.25)  # the estimate is close
    assert result.revised_prompt is None and result.simulated and result.request_id
    assert result.usage and result.usage["candidates_token_count"] > 0
    parts = result.metadata["candidates"][0]["content"]["parts"]
    assert all("data" not in part.get("inline_data", {}) for part in parts)


def test_seed_makes_the_image_reproducible(gemini):
    from imgkit.analysis.hashing import hamming, hash_one

    request = validate_request(MODEL, "a lighthouse", seed=7)
    first, second = gemini.generate(request)[0], gemini.generate(request)[0]
    # Near-identical, as a seed is a best effort: the same perceptual hash or nearly.
    phash = [hash_one(r.image_bytes, ["phash"])["phash"] for r in (first, second)]
    assert hamming(*phash) <= 4


def test_async_generate(gemini):
    async def main():
        try:
            return await gemini.agenerate(validate_request(MODEL, "a blue fox"))
        finally:
            await gemini.aclose()

    (result,) = asyncio.run(main())
    assert result.width == 1024


def test_safety_block_is_a_content_policy_error(gemini):
    with pytest.raises(errors.ContentPolicyError) as info:
        gemini.generate(validate_request(MODEL, "some graphic violence"))
    # A blocked prompt: prompt feedback with its block reason, and the service's message kept.
    assert info.value.code == "PROHIBITED_CONTENT"
    assert "blocked" in info.value.reason and "graphic violence" in info.value.reason


@pytest.mark.parametrize(
    "kind, expected",
    [
        ("429", errors.RateLimitedError),
        ("500", errors.ServerError),
        ("503", errors.ServerError),
        ("drop", errors.ConnectionLostError),
        ("policy", errors.ContentPolicyError),
    ],
)
def test_faults_map_to_the_error_tree(gemini, faults, kind, expected):
    faults(f"gemini:{kind}=x1")
    with pytest.raises(expected) as info:
        gemini.generate(validate_request(MODEL, "a barn"))
    assert info.value.provider == "gemini" and info.value.model == MODEL
    if kind == "429":
        assert info.value.retry_after == pytest.approx(1.0)


def test_timeout(sim, faults):
    provider = provider_for_model(MODEL, base_url=sim.gemini_base_url, timeout_s=0.5)
    faults("gemini:timeout=x1")
    try:
        with pytest.raises(errors.ProviderTimeoutError):
            provider.generate(validate_request(MODEL, "a barn"))
    finally:
        provider.close()


def test_edit_sends_the_image_and_refuses_a_mask(gemini):
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), "navy").save(buffer, format="PNG")
    request = validate_request(MODEL, "add a moon", endpoint="edit")
    (result,) = gemini.edit(request, image=buffer.getvalue())
    assert result.endpoint == "edit" and result.image_format == "png"
    with pytest.raises(errors.MaskError):
        gemini.edit(request, image=buffer.getvalue(), mask=buffer.getvalue())
