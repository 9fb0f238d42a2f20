"""The simulator's OpenAI endpoints, driven through the real ``openai`` SDK."""

from __future__ import annotations

import asyncio
import base64
import io
import time

import httpx
import openai
import pytest
from PIL import Image

from imgkit.catalog import get_model
from imgkit.catalog.costs import output_tokens
from imgkit.providers.editing import mask_fidelity
from imgkit.simulator import AS_IS_PREFIX


@pytest.fixture
def client(sim):
    sim.reset()
    with openai.OpenAI(base_url=sim.openai_base_url, api_key="sim", max_retries=0) as c:
        yield c


def _decode(b64: str) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(b64)))
    image.load()
    return image


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


# -- the lesson's own calls -------------------------------------------------------------------


def test_lesson_dalle3_returns_revised_prompt_and_fetchable_url(client, sim):
    prompt = "a lighthouse on a cliff at dawn"
    response = client.images.generate(
        model="dall-e-3", prompt=prompt, size="1792x1024", quality="hd", style="natural", n=1
    )
    item = response.data[0]
    assert item.revised_prompt and item.revised_prompt != prompt
    assert "lighthouse" in item.revised_prompt
    assert item.b64_json is None and item.url.startswith(sim.base_url)
    fetched = httpx.get(item.url)
    assert fetched.status_code == 200 and fetched.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(fetched.content))
    assert image.size == (1792, 1024)
    assert image.info["imgkit-simulated"] == "1"
    assert response.usage is None  # DALL-E bills per image, with no usage block
    stats = sim.stats()
    assert stats["requests"]["openai"]["dall-e-3"] == 1
    assert stats["images"]["openai"]["dall-e-3"] == 1
    assert stats["downloads"] == 1


def test_revised_prompt_varies_between_calls_and_as_is_prefix_holds(client):
    prompt = "a red bicycle leaning on a wall"
    revisions = {
        client.images.generate(model="dall-e-3", prompt=prompt).data[0].revised_prompt
        for _ in range(4)
    }
    assert len(revisions) >= 3
    as_is = f"{AS_IS_PREFIX} {prompt}"
    revised = client.images.generate(model="dall-e-3", prompt=as_is).data[0].revised_prompt
    assert revised == prompt


def test_urls_expire_after_url_ttl(sim_factory):
    # Long enough for two 1024 px photographs to be drawn on a loaded machine first.
    server = sim_factory(url_ttl=1.5)
    with openai.OpenAI(base_url=server.openai_base_url, api_key="k", max_retries=0) as c:
        url = c.images.generate(model="dall-e-3", prompt="a kite").data[0].url
        b64 = (
            c.images.generate(model="dall-e-3", prompt="a kite", response_format="b64_json")
            .data[0]
            .b64_json
        )
    assert httpx.get(url).status_code == 200
    time.sleep(1.6)
    gone = httpx.get(url)
    assert gone.status_code == 404
    # The b64 copy is what survives: store bytes, not URLs.
    assert _decode(b64).size == (1024, 1024)


def _session(server) -> list[tuple[str, bytes]]:
    """Three dall-e-3 calls: what each rewrote the prompt to, and the image it drew."""
    with openai.OpenAI(base_url=server.openai_base_url, api_key="k", max_retries=0) as c:
        calls = [
            c.images.generate(model="dall-e-3", prompt="a kite", response_format="b64_json")
            for _ in range(3)
        ]
    return [(r.data[0].revised_prompt, base64.b64decode(r.data[0].b64_json)) for r in calls]


def test_the_same_seed_replays_the_same_session(sim_factory):
    # --seed makes a class's drill reproducible: a second simulator with the same seed gives
    # the same rewrites and the same image bytes, call by call; another seed does not.
    first, again, other = (_session(sim_factory(seed=s)) for s in (7, 7, 8))
    assert first == again
    assert len({rewrite for rewrite, _ in first}) > 1  # the calls still vary among themselves
    assert [image for _, image in first] != [image for _, image in other]


def test_lesson_gpt_image_1_b64_png_with_usage(client, sim):
    response = client.images.generate(
        model="gpt-image-1", prompt="a ceramic teapot", size="1536x1024", quality="high"
    )
    item = response.data[0]
    assert item.revised_prompt is None and item.url is None
    image = _decode(item.b64_json)
    assert (image.format, image.size) == ("PNG", (1536, 1024))
    assert image.info["imgkit-simulated"] == "1"
    expected = output_tokens(get_model("gpt-image-1"), "1536x1024", "high")
    assert response.usage.output_tokens == expected == 6208
    assert response.usage.total_tokens == (
        response.usage.input_tokens + response.usage.output_tokens
    )
    assert response.usage.input_tokens_details.text_tokens > 0
    assert (response.size, response.quality, response.output_format) == ("1536x1024", "high", "png")


def test_gpt_image_n_and_formats(client):
    response = client.images.generate(
        model="gpt-image-2",
        prompt="three pears",
        n=3,
        size="1024x1536",
        quality="low",
        output_format="webp",
        output_compression=50,
    )
    assert len(response.data) == 3
    images = [_decode(d.b64_json) for d in response.data]
    assert {(i.format, i.size) for i in images} == {("WEBP", (1024, 1536))}
    assert len({d.b64_json for d in response.data}) == 3  # per-call variation
    per_image = output_tokens(get_model("gpt-image-2"), "1024x1536", "low")
    assert response.usage.output_tokens == 3 * per_image
    jpeg = client.images.generate(model="gpt-image-1", prompt="x", output_format="jpeg")
    image = _decode(jpeg.data[0].b64_json)
    assert image.format == "JPEG" and b"imgkit-simulated" in image.info.get("comment", b"")


def test_free_size_and_transparent_background(client):
    response = client.images.generate(
        model="gpt-image-2", prompt="a logo", size="1280x720", background="transparent"
    )
    image = _decode(response.data[0].b64_json)
    assert image.size == (1280, 720) and image.mode == "RGBA"
    assert image.getchannel("A").getextrema()[0] == 0
    assert response.background == "transparent"


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"model": "dall-e-3", "size": "512x512"}, "size"),
        ({"model": "dall-e-3", "n": 2}, "n"),
        ({"model": "dall-e-3", "quality": "high"}, "quality"),
        ({"model": "dall-e-3", "style": "anime"}, "style"),
        ({"model": "dall-e-3", "response_format": "png"}, "response_format"),
        ({"model": "dall-e-3", "output_format": "webp"}, "output_format"),
        ({"model": "dall-e-2", "style": "vivid"}, "style"),
        ({"model": "gpt-image-1", "size": "1792x1024"}, "size"),
        ({"model": "gpt-image-1", "quality": "hd"}, "quality"),
        ({"model": "gpt-image-1", "n": 11}, "n"),
        ({"model": "gpt-image-1", "response_format": "url"}, "response_format"),
        ({"model": "gpt-image-1", "style": "vivid"}, "style"),
        (
            {"model": "gpt-image-1", "background": "transparent", "output_format": "jpeg"},
            "background",
        ),
        ({"model": "gpt-image-1", "output_compression": 50}, "output_compression"),
        ({"model": "gpt-image-1", "quality": "xhigh"}, "quality"),
        ({"model": "gpt-image-2", "size": "1000x1000"}, "size"),
        ({"model": "gpt-image-2", "size": "3840x800"}, "size"),
        ({"model": "no-such-model"}, "model"),
        ({"model": "gemini-2.5-flash-image"}, "model"),
    ],
)
def test_invalid_parameters_get_the_vendor_400(client, kwargs, param):
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(prompt="a cat", **kwargs)
    error = caught.value
    assert error.status_code == 400
    assert error.body["type"] == "invalid_request_error"
    assert error.body["param"] == param


def test_prompt_too_long_is_a_400(client):
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(model="dall-e-3", prompt="x" * 4001)
    assert caught.value.body["param"] == "prompt"


def test_missing_key_is_401(sim):
    response = httpx.post(
        sim.openai_base_url + "/images/generations", json={"model": "dall-e-3", "prompt": "a"}
    )
    assert response.status_code == 401
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    # The SDK refuses to run without a key, so the test strips the bearer token from the request.
    with (
        openai.OpenAI(base_url=sim.openai_base_url, api_key="sim", max_retries=0) as c,
        pytest.raises(openai.AuthenticationError),
    ):
        c.images.generate(model="dall-e-3", prompt="a", extra_headers={"Authorization": "Basic x"})


def test_responses_tool_returns_image_generation_call(client, sim):
    response = client.responses.create(
        model="gpt-5",
        input="Draw a paper boat on a pond",
        tools=[{"type": "image_generation", "size": "1024x1536", "quality": "low"}],
    )
    calls = [o for o in response.output if o.type == "image_generation_call"]
    assert len(calls) == 1
    call = calls[0]
    assert call.status == "completed"
    assert call.revised_prompt and "paper boat" in call.revised_prompt.lower()
    assert call.revised_prompt != "Draw a paper boat on a pond"
    assert _decode(call.result).size == (1024, 1536)
    assert sim.stats()["images"]["openai"]["gpt-image-2.6-sunburst"] == 1


def test_responses_image_call_has_no_usage_and_auto_sizes_vary(client):
    """Recorded Responses answers: the image call carries an action and no usage of its own
    (the response's usage is the conversational model's), and size auto comes back in more
    than one shape."""
    sizes = set()
    for _ in range(8):
        response = client.responses.create(
            model="gpt-5",
            input="a raccoon in the leaves",
            tools=[{"type": "image_generation", "quality": "low"}],
        )
        call = next(o for o in response.output if o.type == "image_generation_call")
        raw = call.model_dump()
        assert raw["action"] == "generate" and "usage" not in raw
        assert response.usage.output_tokens < 100  # words, not an image's tokens
        assert _decode(call.result).size == tuple(int(v) for v in call.size.split("x"))
        sizes.add(call.size)
    assert len(sizes) >= 2 and sizes <= {"1024x1024", "1024x1536", "1536x1024"}


def test_responses_tool_rejects_bad_tool_params(client):
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(
            model="gpt-5",
            input="a cat",
            tools=[{"type": "image_generation", "model": "gpt-image-1", "size": "1792x1024"}],
        )
    assert caught.value.body["param"] == "tools[0].size"


# -- edits ------------------------------------------------------------------------------------


def _source_and_mask(size=(256, 256)):
    source = Image.new("RGB", size, (10, 120, 200))
    for x in range(0, size[0], 16):
        for y in range(0, size[1], 16):
            source.putpixel((x, y), (255, 255, 0))
    mask = Image.new("RGBA", size, (0, 0, 0, 255))
    hole = Image.new("RGBA", (size[0] // 2, size[1] // 2), (0, 0, 0, 0))
    mask.paste(hole, (size[0] // 4, size[1] // 4))
    return source, mask


def test_edit_honours_the_mask(client, sim):
    source, mask = _source_and_mask()
    response = client.images.edit(
        model="gpt-image-1",
        image=("source.png", _png(source), "image/png"),
        mask=("mask.png", _png(mask), "image/png"),
        prompt="a bright red sun",
    )
    result = _decode(response.data[0].b64_json).convert("RGB")
    # gpt-image-1 answers at a size it produces, the square one for a square input ...
    assert result.size == (1024, 1024) and response.size == "1024x1024"
    # ... and keeps what the mask keeps, nearly: compared at the input's size, hardly any pixel
    # outside the edit region moved beyond the fidelity tolerance, most inside did.
    fidelity = mask_fidelity(_png(source), _png(result), _png(mask))
    assert fidelity.resized
    assert fidelity.outside_changed < 0.05
    assert fidelity.inside_changed > 0.5
    assert response.usage.input_tokens_details.image_tokens > 0
    assert sim.stats()["images"]["openai"]["gpt-image-1"] == 1


def test_edit_mask_size_mismatch_is_400(client):
    source, _ = _source_and_mask((256, 256))
    _, mask = _source_and_mask((128, 128))
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.edit(
            model="gpt-image-1",
            image=("s.png", _png(source), "image/png"),
            mask=("m.png", _png(mask), "image/png"),
            prompt="x",
        )
    assert caught.value.body["param"] == "mask"


def test_edit_rejected_for_generate_only_model(client):
    source, mask = _source_and_mask()
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.edit(model="dall-e-3", image=("s.png", _png(source), "image/png"), prompt="x")
    assert caught.value.body["param"] == "model"


def test_dalle2_edit_returns_url(client):
    source, mask = _source_and_mask()
    response = client.images.edit(
        model="dall-e-2",
        image=("s.png", _png(source), "image/png"),
        mask=("m.png", _png(mask), "image/png"),
        prompt="a boat",
        size="256x256",
    )
    assert Image.open(io.BytesIO(httpx.get(response.data[0].url).content)).size == (256, 256)


# -- async client -----------------------------------------------------------------------------


def test_async_client_concurrent_requests(sim):
    sim.reset()

    async def main():
        async with openai.AsyncOpenAI(
            base_url=sim.openai_base_url, api_key="sim", max_retries=0
        ) as c:
            return await asyncio.gather(
                *(
                    c.images.generate(model="gpt-image-1", prompt=f"tile {i}", quality="low")
                    for i in range(6)
                )
            )

    responses = asyncio.run(main())
    assert len(responses) == 6
    stats = sim.stats()
    assert stats["requests"]["openai"]["gpt-image-1"] == 6
    assert stats["total_images"] == 6
