"""Fields and behaviour the simulator plays as the services do (sources: docs/vendor-behaviour.md).

Usage blocks complete enough for the SDKs' strict types, high input fidelity billed, edits that
snap to the sizes a model can produce and keep unmasked pixels only approximately, an AS-IS
rewrite that is small but not always nothing, and seeds that give near-identical images.
"""

from __future__ import annotations

import base64
import io
import random

import numpy as np
import openai
import pytest
from google import genai
from google.genai import types
from openai.types import ImagesResponse
from openai.types.responses import Response
from PIL import Image

from imgkit.analysis.divergence import prompt_divergence
from imgkit.analysis.hashing import hamming, hash_one
from imgkit.providers import editing
from imgkit.simulator import AS_IS_PREFIX
from imgkit.simulator.rewriting import revise_prompt


@pytest.fixture
def client(sim):
    sim.reset()
    with openai.OpenAI(base_url=sim.openai_base_url, api_key="sim", max_retries=0) as c:
        yield c


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def _scene(size=(600, 400)) -> Image.Image:
    """A smooth picture with a few soft shapes, like a photograph more than a test card."""
    w, h = size
    x = np.linspace(0, 1, w)[None, :]
    y = np.linspace(0, 1, h)[:, None]
    red = 40 + 160 * x + 0 * y
    green = 60 + 120 * y + 0 * x
    blue = 200 - 100 * x * y
    pixels = np.stack(np.broadcast_arrays(red, green, blue), axis=-1).astype(np.uint8)
    return Image.fromarray(pixels, "RGB")


# -- usage blocks the SDK types declare ---------------------------------------------------------


def test_images_usage_carries_output_token_details(client):
    raw = client.images.with_raw_response.generate(model="gpt-image-2", prompt="a pear")
    usage = raw.http_response.json()["usage"]
    details = usage["output_tokens_details"]
    assert details == {"image_tokens": usage["output_tokens"], "text_tokens": 0}
    ImagesResponse.model_validate(raw.http_response.json())


def test_responses_usage_passes_the_strict_type(client):
    raw = client.responses.with_raw_response.create(
        model="gpt-5", input="a pear", tools=[{"type": "image_generation", "quality": "low"}]
    )
    body = raw.http_response.json()
    assert body["usage"]["input_tokens_details"] == {"cached_tokens": 0, "cache_write_tokens": 0}
    Response.model_validate(body)  # fails when a field the type requires is missing


# -- input fidelity ---------------------------------------------------------------------------


def _edit_usage(client, fidelity):
    image = _png(_scene((1024, 1024)))
    response = client.images.edit(
        model="gpt-image-1.5",
        image=("a.png", image, "image/png"),
        prompt="a hat",
        quality="low",
        input_fidelity=fidelity,
    )
    return response.usage


def test_high_input_fidelity_bills_more_input_image_tokens(client):
    low, high = _edit_usage(client, "low"), _edit_usage(client, "high")
    assert high.input_tokens_details.image_tokens > low.input_tokens_details.image_tokens
    # For a square input the extra is the high-quality output figure of a square image.
    extra = high.input_tokens_details.image_tokens - low.input_tokens_details.image_tokens
    assert extra == 4160
    assert high.output_tokens == low.output_tokens


def test_input_image_tokens_follow_the_tile_rule(client):
    # One 512-pixel tile for a square input (the image is scaled down to 512x512 first).
    usage = _edit_usage(client, "low")
    assert usage.input_tokens_details.image_tokens == 194


# -- edits: snapped sizes and approximate masks ----------------------------------------------


@pytest.mark.parametrize(
    ("model", "size", "expected"),
    [
        ("gpt-image-1", (600, 400), (1536, 1024)),
        ("gpt-image-1.5", (400, 600), (1024, 1536)),
        ("gpt-image-2", (500, 500), (1024, 1024)),
    ],
)
def test_edits_snap_to_a_size_the_model_produces(client, model, size, expected):
    response = client.images.edit(
        model=model, image=("a.png", _png(_scene(size)), "image/png"), prompt="a kite"
    )
    image = Image.open(io.BytesIO(base64.b64decode(response.data[0].b64_json)))
    assert image.size == expected
    assert response.size == f"{expected[0]}x{expected[1]}"


def test_dalle2_edits_need_a_square_image(client):
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.edit(
            model="dall-e-2", image=("a.png", _png(_scene((600, 400))), "image/png"), prompt="x"
        )
    assert caught.value.param == "image"


def _sdk_edit(server, source: bytes, mask: bytes | None, *, model="gpt-image-1") -> bytes:
    files = {"mask": ("m.png", mask, "image/png")} if mask is not None else {}
    with openai.OpenAI(base_url=server.openai_base_url, api_key="k", max_retries=0) as c:
        response = c.images.edit(
            model=model, image=("a.png", source, "image/png"), prompt="a bright red kite", **files
        )
    return base64.b64decode(response.data[0].b64_json)


SQUARE = _png(_scene((1024, 1024)))
HOLE = editing.mask_from_rect((1024, 1024), (256, 256, 768, 768))
KEEP = np.asarray(Image.open(io.BytesIO(HOLE)).getchannel("A")) != 0


def _outside_change(before: bytes, after: bytes) -> np.ndarray:
    old = np.asarray(Image.open(io.BytesIO(before)).convert("RGB"), dtype=np.int16)
    new = np.asarray(Image.open(io.BytesIO(after)).convert("RGB"), dtype=np.int16)
    return np.abs(new - old).max(axis=2)[KEEP]


def test_unmasked_pixels_leak_a_little_but_the_verdict_holds(sim):
    after = _sdk_edit(sim, SQUARE, HOLE)
    change = _outside_change(SQUARE, after)
    assert change.max() > 0  # not pixel-exact outside the mask any more ...
    assert np.median(change) <= 2  # ... but close: a few levels of noise
    fidelity = editing.mask_fidelity(SQUARE, after, HOLE)
    assert fidelity.outside_changed < 0.01 < fidelity.inside_changed  # honoured reads honoured
    ignored = editing.mask_fidelity(SQUARE, _sdk_edit(sim, SQUARE, None), HOLE)
    assert ignored.outside_changed > 0.3  # and a dropped mask still reads as dropped


def test_an_honoured_mask_reads_honoured_after_a_snapped_size(sim):
    source = _png(_scene((600, 400)))
    mask = editing.mask_from_rect((600, 400), (200, 100, 400, 300))
    result = editing.edit(
        source, mask, "a bright red kite", model="gpt-image-1", base_url=sim.openai_base_url,
        size="auto",
    )  # fmt: skip
    assert (result.result.width, result.result.height) == (1536, 1024)
    assert result.mask_fidelity.resized
    assert result.mask_fidelity.outside_changed < 0.01 < result.mask_fidelity.inside_changed


def test_the_leak_is_seeded(sim_factory):
    def leak(seed):
        return _outside_change(SQUARE, _sdk_edit(sim_factory(seed=seed), SQUARE, HOLE))

    assert np.array_equal(leak(3), leak(3))
    assert not np.array_equal(leak(3), leak(4))


# -- the AS-IS control: small rewrites, not always none --------------------------------------


def test_as_is_rewrites_are_small_but_not_always_nothing():
    prompt = "a red bicycle leaning on a wall"
    rewrites = [revise_prompt(f"{AS_IS_PREFIX} {prompt}", random.Random(i)) for i in range(40)]
    distances = [prompt_divergence(prompt, r)["edit_distance"] for r in rewrites]
    full = [
        prompt_divergence(prompt, revise_prompt(prompt, random.Random(i)))["edit_distance"]
        for i in range(40)
    ]
    assert any(d == 0 for d in distances)  # often left exactly as written
    assert any(d > 0 for d in distances)  # but not always
    assert max(distances) < 0.5 and np.mean(distances) < 0.25 * np.mean(full)


# -- seeds: near-identical, not byte-identical ------------------------------------------------


def _gemini_image(server, seed):
    client = genai.Client(
        api_key="sim", http_options=types.HttpOptions(base_url=server.gemini_base_url)
    )
    config = types.GenerateContentConfig(seed=seed)
    response = client.models.generate_content(
        model="gemini-2.5-flash-image", contents="a kite over a beach", config=config
    )
    return next(p.inline_data.data for p in response.candidates[0].content.parts if p.inline_data)


def _phash(data: bytes) -> str:
    return hash_one(data, ["phash"])["phash"]


def test_a_gemini_seed_gives_near_identical_images(sim):
    first, again, other = _gemini_image(sim, 7), _gemini_image(sim, 7), _gemini_image(sim, 8)
    assert first != again  # not byte-identical ...
    assert hamming(_phash(first), _phash(again)) <= 4  # ... but near-identical
    assert hamming(_phash(first), _phash(other)) > hamming(_phash(first), _phash(again))


def test_seeded_sessions_still_replay(sim_factory):
    a, b = sim_factory(seed=5), sim_factory(seed=5)
    assert [_gemini_image(a, 7) for _ in range(2)] == [_gemini_image(b, 7) for _ in range(2)]


def test_a_leonardo_seed_gives_near_identical_images(sim):
    import httpx

    def image(seed):
        headers = {"authorization": "Bearer sim"}
        created = httpx.post(
            sim.leonardo_base_url + "/generations",
            json={"prompt": "a lantern", "width": 512, "height": 512, "seed": seed},
            headers=headers,
        ).json()["sdGenerationJob"]["generationId"]
        record = httpx.get(f"{sim.leonardo_base_url}/generations/{created}", headers=headers)
        return httpx.get(record.json()["generations_by_pk"]["generated_images"][0]["url"]).content

    first, again = image(11), image(11)
    assert first != again
    assert hamming(_phash(first), _phash(again)) <= 4
