"""What the simulator draws: sizes, formats, markers, and perceptual-hash behaviour."""

from __future__ import annotations

import base64
import io
import itertools
import random
import statistics

import imagehash
import openai
import pytest
from PIL import Image

from imgkit.simulator import AS_IS_PREFIX
from imgkit.simulator.drawing import ImageInputError, edit_image, render
from imgkit.simulator.rewriting import revise_prompt

PROMPTS = [
    "a red fox in the snow",
    "a bowl of ramen on a wooden table",
    "portrait of an astronaut riding a horse",
    "a lighthouse at dusk",
    "a cat",
    "a dog",
]


def _hash(data: bytes) -> imagehash.ImageHash:
    return imagehash.phash(Image.open(io.BytesIO(data)))


def _pairwise(hashes):
    return [a - b for a, b in itertools.combinations(hashes, 2)]


def test_repeats_are_closer_than_different_prompts():
    hashes = {p: [_hash(render(p, 256, 256, variation=v)) for v in range(4)] for p in PROMPTS}
    repeats = [d for hs in hashes.values() for d in _pairwise(hs)]
    different = [
        a - b for p, q in itertools.combinations(PROMPTS, 2) for a in hashes[p] for b in hashes[q]
    ]
    assert max(repeats) < min(different)
    assert statistics.median(repeats) * 3 < statistics.median(different)
    assert statistics.median(repeats) > 0  # repeats vary, as a real model's do


def test_same_prompt_and_variation_is_identical():
    assert render("a cat", 128, 128, variation=3) == render("a cat", 128, 128, variation=3)


def test_rewriting_model_drifts_more_than_non_rewriting_model(sim):
    """The lesson's point: dall-e-3's rewrites show up as larger hash distances."""
    prompt = "a small wooden cabin by a lake"
    with openai.OpenAI(base_url=sim.openai_base_url, api_key="sim", max_retries=0) as client:

        def repeats(model, **kwargs):
            return [
                _hash(
                    base64.b64decode(
                        client.images.generate(model=model, prompt=prompt, **kwargs)
                        .data[0]
                        .b64_json
                    )
                )
                for _ in range(4)
            ]

        rewriting = repeats("dall-e-3", response_format="b64_json")
        plain = repeats("gpt-image-1", quality="low")
        as_is = [
            _hash(
                base64.b64decode(
                    client.images.generate(
                        model="dall-e-3",
                        prompt=f"{AS_IS_PREFIX} {prompt}",
                        response_format="b64_json",
                    )
                    .data[0]
                    .b64_json
                )
            )
            for _ in range(4)
        ]
    assert statistics.mean(_pairwise(rewriting)) > 2 * statistics.mean(_pairwise(plain))
    assert statistics.mean(_pairwise(as_is)) < statistics.mean(_pairwise(rewriting))


@pytest.mark.parametrize(
    ("fmt", "pil_format"), [("png", "PNG"), ("jpeg", "JPEG"), ("webp", "WEBP"), ("gif", "GIF")]
)
def test_formats_sizes_and_markers(fmt, pil_format):
    data = render("a kite", 320, 200, fmt=fmt, variation=1)
    image = Image.open(io.BytesIO(data))
    assert image.format == pil_format and image.size == (320, 200)
    if fmt == "png":
        assert image.info["imgkit-simulated"] == "1"
    elif fmt in ("jpeg", "webp"):
        assert image.getexif()[0x010E] == "imgkit-simulated=1"
    else:
        assert b"imgkit-simulated" in image.info["comment"]


def test_svg_is_marked():
    svg = render("a kite", 300, 200, fmt="svg").decode()
    assert svg.startswith("<?xml") and "imgkit-simulated=1" in svg and "SIMULATED" in svg
    assert 'width="300" height="200"' in svg


def test_images_carry_a_visible_label():
    plain = render("a kite", 400, 400, variation=1)
    image = Image.open(io.BytesIO(plain)).convert("RGB")
    # The corner label is black with white text: both appear in the bottom-right corner.
    corner = image.crop((300, 370, 400, 400)).getcolors(10_000)
    colors = {c for _, c in corner}
    assert (0, 0, 0) in colors and any(min(c) > 200 for c in colors)


def test_edit_without_mask_redraws_transparent_pixels_only():
    source = Image.new("RGBA", (64, 64), (0, 200, 0, 255))
    source.paste(Image.new("RGBA", (16, 16), (0, 0, 0, 0)), (0, 0))
    buffer = io.BytesIO()
    source.save(buffer, "PNG")
    data, w, h = edit_image(buffer.getvalue(), None, "a sun", variation=1)
    result = Image.open(io.BytesIO(data)).convert("RGBA")
    assert (w, h) == (64, 64)
    assert result.getpixel((40, 40)) == (0, 200, 0, 255)
    assert result.getpixel((5, 5)) != (0, 0, 0, 0)


def test_edit_rejects_mask_without_alpha():
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32)).save(buffer, "PNG")
    with pytest.raises(ImageInputError) as caught:
        edit_image(buffer.getvalue(), buffer.getvalue(), "x")
    assert caught.value.param == "mask"


def test_rewrites_vary_are_seeded_and_respect_as_is():
    prompt = "a teapot on a windowsill"
    first = [revise_prompt(prompt, random.Random(i)) for i in range(6)]
    again = [revise_prompt(prompt, random.Random(i)) for i in range(6)]
    assert first == again
    assert len(set(first)) == 6
    assert all("teapot on a windowsill" in r for r in first)
    assert all(len(r) > len(prompt) + 20 for r in first)
    natural = revise_prompt(prompt, random.Random(0), style="natural")
    assert natural != first[0]
    assert revise_prompt(f"{AS_IS_PREFIX} {prompt}", random.Random(0)) == prompt
