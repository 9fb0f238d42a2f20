"""The simulator's Gemini (through google-genai) and Leonardo (through plain HTTP) endpoints."""

from __future__ import annotations

import io
import time

import httpx
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types
from PIL import Image


@pytest.fixture
def gemini(sim):
    sim.reset()
    return genai.Client(api_key="sim", http_options=types.HttpOptions(base_url=sim.gemini_base_url))


def _image_part(response):
    parts = [p for p in response.candidates[0].content.parts if p.inline_data]
    assert len(parts) == 1
    return parts[0].inline_data


@pytest.mark.parametrize(
    ("model", "aspect", "tier", "size"),
    [
        ("gemini-2.5-flash-image", None, None, (1024, 1024)),
        ("gemini-2.5-flash-image", "16:9", None, (1344, 768)),
        ("gemini-3.1-flash-image", "3:4", "0.5K", (432, 592)),
        ("gemini-3-pro-image", "21:9", "2K", (3072, 1344)),
    ],
)
def test_image_config_sets_the_size(gemini, sim, model, aspect, tier, size):
    config = types.GenerateContentConfig(
        response_modalities=["IMAGE"],
        image_config=types.ImageConfig(aspect_ratio=aspect, image_size=tier),
    )
    response = gemini.models.generate_content(model=model, contents="a harbour", config=config)
    inline = _image_part(response)
    image = Image.open(io.BytesIO(inline.data))
    assert inline.mime_type == "image/png" and image.size == size
    assert image.info["imgkit-simulated"] == "1"
    assert response.candidates[0].finish_reason == types.FinishReason.STOP
    assert sim.stats()["images"]["gemini"][model] == 1


def test_text_and_image_modalities(gemini):
    config = types.GenerateContentConfig(response_modalities=["TEXT", "IMAGE"])
    response = gemini.models.generate_content(
        model="gemini-2.5-flash-image", contents="a kite", config=config
    )
    assert "simulat" in response.text
    assert _image_part(response).data


def _parts_and_usage(client, model, config=None):
    response = client.models.generate_content(model=model, contents="a raccoon", config=config)
    part = next(p for p in response.candidates[0].content.parts if p.inline_data)
    return part, response.usage_metadata


def test_gemini3_pro_image_answers_as_its_recordings_show(gemini):
    """Asked for no size: a 1408x768 JPEG, a ~2.9 million character thoughtSignature in the
    image's own part, 1,120 image tokens and a thought count in the usage."""
    part, usage = _parts_and_usage(gemini, "gemini-3-pro-image")
    image = Image.open(io.BytesIO(part.inline_data.data))
    assert part.inline_data.mime_type == "image/jpeg" and image.format == "JPEG"
    assert image.size == (1408, 768)
    assert image.getexif()[0x010E] == "imgkit-simulated=1"
    # The SDK hands the signature over decoded: 3 bytes for every 4 base64 characters.
    assert 2_800_000 <= len(part.thought_signature) * 4 / 3 <= 3_000_000
    image_tokens = [d.token_count for d in usage.candidates_tokens_details if d.modality == "IMAGE"]
    assert image_tokens == [1120]
    assert [d.modality for d in usage.prompt_tokens_details] == [types.MediaModality.TEXT]
    assert usage.thoughts_token_count and usage.thoughts_token_count > 0
    assert usage.total_token_count == (
        usage.prompt_token_count + usage.candidates_token_count + usage.thoughts_token_count
    )


def test_gemini_25_flash_image_has_no_thoughts(gemini):
    part, usage = _parts_and_usage(gemini, "gemini-2.5-flash-image")
    assert part.inline_data.mime_type == "image/png" and part.thought_signature is None
    assert [d.token_count for d in usage.candidates_tokens_details] == [1290]
    assert usage.thoughts_token_count is None


def test_thought_signature_length_is_a_server_option(sim_factory):
    server = sim_factory(thought_signature_chars=400)
    client = genai.Client(
        api_key="sim", http_options=types.HttpOptions(base_url=server.gemini_base_url)
    )
    config = types.GenerateContentConfig(image_config=types.ImageConfig(aspect_ratio="1:1"))
    part, _ = _parts_and_usage(client, "gemini-3-pro-image", config)
    assert len(part.thought_signature) == 300  # 400 base64 characters
    # A size asked for is answered as before: a PNG of that shape.
    assert Image.open(io.BytesIO(part.inline_data.data)).size == (1024, 1024)


def test_seed_makes_the_image_repeatable(gemini):
    from imgkit.analysis.hashing import hamming, hash_one

    def draw(seed):
        config = types.GenerateContentConfig(seed=seed)
        response = gemini.models.generate_content(
            model="gemini-2.5-flash-image", contents="a kite", config=config
        )
        return hash_one(_image_part(response).data, ["phash"])["phash"]

    # A seed repeats the image nearly (the SDK: "a best effort"), another seed does not.
    assert hamming(draw(7), draw(7)) <= hamming(draw(7), draw(8))
    assert hamming(draw(7), draw(7)) <= 4


def test_v1beta_path_and_edit_with_input_image(sim):
    client = genai.Client(
        api_key="sim",
        http_options=types.HttpOptions(base_url=sim.gemini_base_url, api_version="v1beta"),
    )
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 30, 30)).save(buffer, "PNG")
    response = client.models.generate_content(
        model="gemini-2.5-flash-image",
        contents=[
            types.Part.from_bytes(data=buffer.getvalue(), mime_type="image/png"),
            "make it blue",
        ],
    )
    assert Image.open(io.BytesIO(_image_part(response).data)).size == (1024, 1024)


@pytest.mark.parametrize(
    ("model", "config", "code"),
    [
        (
            "gemini-2.5-flash-image",
            types.GenerateContentConfig(image_config=types.ImageConfig(image_size="4K")),
            400,
        ),
        (
            "gemini-3-pro-image",
            types.GenerateContentConfig(image_config=types.ImageConfig(aspect_ratio="7:3")),
            400,
        ),
        ("gemini-2.5-flash-image", types.GenerateContentConfig(candidate_count=2), 400),
        ("no-such-gemini", None, 404),
        ("dall-e-3", None, 404),
    ],
)
def test_invalid_requests_are_client_errors(gemini, model, config, code):
    with pytest.raises(genai_errors.ClientError) as caught:
        gemini.models.generate_content(model=model, contents="x", config=config)
    assert caught.value.code == code


def test_gemini_without_key_is_refused(sim):
    response = httpx.post(
        sim.base_url + "/v1/models/gemini-2.5-flash-image:generateContent",
        json={"contents": [{"parts": [{"text": "x"}]}]},
    )
    assert response.status_code == 403
    assert set(response.json()["error"]) >= {"code", "message", "status"}


# -- Leonardo ---------------------------------------------------------------------------------

AUTH = {"authorization": "Bearer sim"}


def _poll(sim, generation_id):
    url = f"{sim.leonardo_base_url}/generations/{generation_id}"
    return httpx.get(url, headers=AUTH).json()["generations_by_pk"]


def test_leonardo_v1_create_poll_download(sim_factory):
    server = sim_factory(latency=0.3)
    created = httpx.post(
        server.leonardo_base_url + "/generations",
        json={
            "prompt": "a lantern",
            "modelId": "de7d3faf-762f-48e0-b3b7-9d0ac3a3fcf3",
            "width": 832,
            "height": 1472,
            "num_images": 2,
            "seed": 5,
        },
        headers=AUTH,
    ).json()["sdGenerationJob"]
    assert created["cost"] == {"amount": 0.016, "unit": "USD"}
    job = _poll(server, created["generationId"])
    assert job["status"] == "PENDING" and job["generated_images"] == []
    time.sleep(0.4)
    job = _poll(server, created["generationId"])
    assert job["status"] == "COMPLETE" and len(job["generated_images"]) == 2
    image = Image.open(io.BytesIO(httpx.get(job["generated_images"][0]["url"]).content))
    assert image.format == "JPEG" and image.size == (832, 1472)
    stats = server.stats()
    assert stats["requests"]["leonardo"]["leonardo-phoenix"] == 1
    assert stats["images"]["leonardo"]["leonardo-phoenix"] == 2
    assert stats["polls"] == 2


def test_leonardo_v2_and_errors(sim):
    created = httpx.post(
        sim.base_url + "/api/rest/v2/generations",
        json={
            "model": "leonardo-phoenix",
            "parameters": {
                "prompt": "a lantern",
                "width": 1024,
                "height": 1024,
                "quantity": 1,
                "prompt_enhance": "ON",
            },
        },
        headers=AUTH,
    ).json()["generate"]
    job = _poll(sim, created["generationId"])
    assert job["status"] == "COMPLETE" and job["prompt"] != "a lantern"
    bad = httpx.post(
        sim.leonardo_base_url + "/generations",
        json={"prompt": "x", "width": 1001, "height": 1024},
        headers=AUTH,
    )
    assert bad.status_code == 400 and "width/height" in bad.json()["error"]
    too_many = httpx.post(
        sim.leonardo_base_url + "/generations", json={"prompt": "x", "num_images": 9}, headers=AUTH
    )
    assert too_many.status_code == 400 and "num_images" in too_many.json()["error"]
    assert (
        httpx.post(sim.leonardo_base_url + "/generations", json={"prompt": "x"}).status_code == 401
    )
    assert _poll(sim, "no-such-id") is None
