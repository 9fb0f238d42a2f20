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

from imgkit.simulator import AS_IS_PREFIX, photos
from imgkit.simulator.drawing import ImageInputError, render, treatment
from imgkit.simulator.editing import edit_image
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


def test_each_prompt_is_a_photograph_of_its_subject():
    """The prompt's first naming word chooses the photograph; the control prefix names none."""
    # The lesson's prompt is a photograph of an astronaut, not of the Martian setting it names.
    lesson = (
        "A lone astronaut on a red Martian cliff, cinematic photography, golden hour "
        "backlighting, wide establishing shot, atmosphere of quiet solitude"
    )
    assert photos.choose(lesson).name == "moonwalker"
    assert photos.choose("a red fox in the snow").name == "red-fox"
    assert photos.choose("a cat").name == "tabby-cat"
    assert photos.choose("a dog").name == "spaniel"
    assert photos.choose("snow-capped mountains at dawn").name == "mountain-landscape"
    assert photos.choose("a beach at sunset").name == "beach"
    assert photos.choose("a wolf howling at the moon").name == "wolf-pup"
    assert photos.choose("a frog on a lily pad").name == "tree-frog"
    assert photos.choose("a small wooden cabin by a lake").name == "lake-cliff"
    assert photos.choose("a raccoon in the leaves").name == "raccoon"
    assert photos.choose("an orange dahlia beside a pagoda").name == "dahlia"
    assert photos.choose(f"{AS_IS_PREFIX} a raccoon").name == "raccoon"
    # A prompt that names no photograph keeps one all the same, call after call.
    assert photos.choose("a teapot on a windowsill") == photos.choose("a teapot on a windowsill")


def test_repeats_are_reframed_not_redrawn_identically():
    """Repeats share the photograph but differ in crop, tilt, mirror and light; a hash finds
    them far apart, as it finds a real model's repeats (0.00-0.25 on its fixed scale)."""
    hashes = [_hash(render("a cat", 256, 256, variation=v)) for v in range(4)]
    assert min(_pairwise(hashes)) > 6
    treatments = {treatment("a cat", v) for v in range(4)}
    assert len(treatments) == 4 and len({t.photo for t in treatments}) == 1


def test_same_prompt_and_variation_is_identical():
    assert render("a cat", 128, 128, variation=3) == render("a cat", 128, 128, variation=3)


def test_a_seeded_repeat_is_near_identical():
    """A jitter moves a seeded repeat a very little: the hash barely changes."""
    first = _hash(render("a cat", 256, 256, variation=3, jitter=1))
    second = _hash(render("a cat", 256, 256, variation=3, jitter=2))
    assert first - second <= 6


def test_words_steer_the_framing_and_light():
    plain = treatment("a raccoon", None)
    assert treatment("a close-up portrait of a raccoon", None).zoom < plain.zoom
    assert treatment("a wide shot of a raccoon", None).zoom > plain.zoom
    assert treatment("a raccoon at golden hour", None).warmth > 0
    assert treatment("a raccoon at night", None).brightness < 1
    assert treatment("a black and white photo of a raccoon", None).saturation == 0


def test_a_rewrite_shows_the_users_subject_with_the_rewrites_look():
    rewrite = "A solitary creature is depicted at night, in the style of a moody photograph."
    t = treatment(rewrite, 5, subject="a raccoon")
    assert t.photo == "raccoon" and t.brightness < 1.0


def test_rewriting_model_is_less_consistent_but_not_unrecognisably(sim):
    """The lesson's point, under the learned measure: dall-e-3's rewrites make its repeats less
    alike than gpt-image-1's, by a little (the real services differ by far less than 0.6)."""
    from imgkit.analysis.reference import reference_for_network
    from imgkit.features.extract import get_extractor

    # A subject the bank holds: a prompt that names none gets whichever photograph its words'
    # hashes point at, and so changes photograph whenever the bank grows.
    prompt = "a red fox in the snow"
    extract = get_extractor()
    scale = reference_for_network("efficientnet-lite0")
    with openai.OpenAI(base_url=sim.openai_base_url, api_key="sim", max_retries=0) as client:

        def similarity(model, text, **kwargs):
            images = [
                Image.open(
                    io.BytesIO(
                        base64.b64decode(
                            client.images.generate(model=model, prompt=text, **kwargs)
                            .data[0]
                            .b64_json
                        )
                    )
                )
                for _ in range(4)
            ]
            vectors = extract(images)
            cosines = [float(a @ b) for a, b in itertools.combinations(vectors, 2)]
            return scale.similarity(1.0 - statistics.mean(cosines))

        rewriting = similarity("dall-e-3", prompt, response_format="b64_json")
        plain = similarity("gpt-image-1", prompt, quality="low")
        as_is = similarity("dall-e-3", f"{AS_IS_PREFIX} {prompt}", response_format="b64_json")
    assert 0.3 < rewriting < plain and plain - rewriting < 0.6
    assert as_is > rewriting - 0.05


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
    # The subject is described, not quoted inside a template.
    assert all("teapot" in r for r in first)
    assert all(r.split(".")[0].lower().count("a teapot on a windowsill") == 0 for r in first)
    natural = revise_prompt(prompt, random.Random(0), style="natural")
    assert natural != first[0]
    assert revise_prompt(f"{AS_IS_PREFIX} {prompt}", random.Random(0)) == prompt


def test_a_request_becomes_a_description():
    """ "Draw a paper boat" is rewritten as a description of a paper boat."""
    for seed in range(5):
        revised = revise_prompt("Draw a paper boat on a pond", random.Random(seed))
        assert "paper boat" in revised and "draw" not in revised.lower().split()[:3]


def test_every_photograph_is_licensed_and_none_is_a_calibration_photograph():
    """The bank installs with the package; each photograph names its licence and source, and
    none is one the learned measure's calibration or the tests' held-out set uses."""
    import json
    from importlib import resources

    from imgkit.analysis.calibration import HELD_OUT, PHOTOGRAPHS

    index = json.loads(
        resources.files("imgkit.simulator").joinpath("data", "photos.json").read_text("utf-8")
    )
    folder = resources.files("imgkit.simulator").joinpath("data", "photos")
    reserved = {name.split(".")[0].split(":")[0] for name, _s, _l in [*PHOTOGRAPHS, *HELD_OUT]}
    total = 0
    for entry in index["photos"]:
        assert entry["licence"] and entry["source"] and entry["author"], entry["file"]
        assert entry["licence_url"] and entry["obtained_from"], entry["file"]
        assert folder.joinpath(entry["file"]).is_file()
        assert entry["file"].split(".")[0] not in reserved
        image = photos.load(entry["file"].rsplit(".", 1)[0])
        # Resized for the bank: at most 960 px on the long side, so the package stays small.
        assert image.mode == "RGB" and max(image.size) <= 960, entry["file"]
        total += len(folder.joinpath(entry["file"]).read_bytes())
    assert total < 4_000_000, f"the photograph bank is {total} bytes"
    # The words that describe a look never name a subject: a rewrite keeps its subject.
    from imgkit.simulator.rewriting import STYLE_WORDS

    keywords = set().union(*(p.keywords for p in photos.bank()))
    assert not keywords & STYLE_WORDS
