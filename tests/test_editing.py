"""Masks checked before sending, edits against the simulator, and the mask-fidelity figure."""

from __future__ import annotations

import asyncio
import io

import numpy as np
import pytest
from PIL import Image

from imgkit import errors
from imgkit.providers import editing


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _picture(size: tuple[int, int] = (256, 256)) -> bytes:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    return _png(Image.fromarray(pixels, "RGB"))


def _gradient(size: int = 256) -> bytes:
    # Smooth, so that a service answering in another size can be scaled back and compared.
    ramp = np.linspace(0, 255, size, dtype=np.uint8)
    pixels = np.stack(np.broadcast_arrays(ramp[None, :], ramp[:, None], 128), axis=-1)
    return _png(Image.fromarray(pixels.astype(np.uint8), "RGB"))


IMAGE = _gradient()
MASK = editing.mask_from_rect((256, 256), (64, 64, 192, 192))


def test_mask_from_rect_marks_the_rectangle_transparent():
    alpha = np.asarray(Image.open(io.BytesIO(MASK)).getchannel("A"))
    assert alpha.shape == (256, 256)
    assert (alpha[64:192, 64:192] == 0).all()
    assert (alpha == 0).sum() == 128 * 128
    assert editing.check_mask(IMAGE, MASK) == (128 * 128, 256 * 256)


def test_mask_from_array_and_its_checks():
    editable = np.zeros((10, 20), dtype=bool)
    editable[2, 3] = True
    mask = Image.open(io.BytesIO(editing.mask_from_array(editable)))
    assert mask.size == (20, 10) and mask.getpixel((3, 2))[3] == 0
    with pytest.raises(errors.ValidationError, match="editable"):
        editing.mask_from_array(np.zeros((4, 4), dtype=int))
    with pytest.raises(errors.ValidationError, match="rect"):
        editing.mask_from_rect((10, 10), (5, 5, 5, 8))


@pytest.mark.parametrize(
    "mask, fragment",
    [
        (_png(Image.new("RGB", (256, 256), "white")), "alpha channel"),
        (_png(Image.new("RGBA", (128, 128), (0, 0, 0, 0))), "the image's size 256x256"),
        (_png(Image.new("RGBA", (256, 256), (255, 255, 255, 255))), "alpha 0"),
    ],
    ids=["no-alpha", "wrong-size", "masks-nothing"],
)
def test_bad_masks_are_refused_naming_param_value_and_allowed(mask, fragment):
    with pytest.raises(errors.MaskError) as info:
        editing.check_mask(IMAGE, mask)
    assert info.value.param == "mask" and fragment in str(info.value)


def test_a_jpeg_mask_is_refused():
    buffer = io.BytesIO()
    Image.new("RGB", (256, 256)).save(buffer, format="JPEG")
    with pytest.raises(errors.MaskError, match="a PNG"):
        editing.check_mask(IMAGE, buffer.getvalue())


def test_a_mask_over_the_size_limit_is_refused():
    noise = np.random.default_rng(1).integers(0, 255, (1100, 1100, 4), dtype=np.uint8)
    big = _png(Image.fromarray(noise, "RGBA"))
    assert len(big) >= editing.MAX_MASK_BYTES
    with pytest.raises(errors.MaskError, match="under 4,194,304 bytes"):
        editing.check_mask(_picture((1100, 1100)), big)


def test_mask_fidelity_counts_changes_outside_and_inside():
    before = Image.open(io.BytesIO(IMAGE)).convert("RGB")
    assert editing.mask_fidelity(before, before, MASK).outside_changed == 0.0
    inside_only = np.asarray(before).copy()
    inside_only[64:192, 64:192] = 255 - inside_only[64:192, 64:192]
    figure = editing.mask_fidelity(before, Image.fromarray(inside_only), MASK)
    assert figure.outside_changed == 0.0 and figure.inside_changed > 0.9
    everything = Image.fromarray(255 - np.asarray(before))
    assert editing.mask_fidelity(before, everything, MASK).outside_changed > 0.9
    smaller = before.resize((128, 128))
    assert editing.mask_fidelity(before, smaller, MASK).resized


@pytest.mark.parametrize("model", ["gpt-image-2", "dall-e-2"])
def test_edit_round_trip_reports_mask_fidelity(sim, model):
    outcome = editing.edit(
        IMAGE, MASK, "a golden coin", model=model, base_url=sim.openai_base_url, size="256x256"
        if model == "dall-e-2" else "1024x1024",
    )  # fmt: skip
    result = outcome.result
    assert result.endpoint == "edit" and result.image_bytes
    fidelity = outcome.mask_fidelity
    assert fidelity is not None and 0.0 <= fidelity.outside_changed <= 1.0
    assert result.metadata["mask_fidelity"]["outside_changed"] == fidelity.outside_changed
    # the simulator honours masks: what lies outside stays (nearly) as it was
    assert fidelity.outside_changed < 0.2
    assert result.cost_usd and result.cost_usd > 0


def test_async_edit_without_mask(sim):
    outcome = asyncio.run(
        editing.aedit(IMAGE, None, "make it dusk", model="gpt-image-2",
                      base_url=sim.openai_base_url, quality="low")
    )  # fmt: skip
    assert outcome.mask_fidelity is None and outcome.result.image_bytes


def test_problems_are_caught_before_anything_is_sent(sim):
    sim.reset()
    with pytest.raises(errors.MaskError):
        editing.edit(IMAGE, _png(Image.new("RGB", (256, 256))), "x", model="gpt-image-2",
                     base_url=sim.openai_base_url)  # fmt: skip
    with pytest.raises(errors.ValidationError, match="endpoint"):
        editing.edit(IMAGE, MASK, "x", model="dall-e-3", base_url=sim.openai_base_url)
    with pytest.raises(errors.MaskError):
        editing.edit(IMAGE, MASK, "x", model="gemini-3.1-flash-image",
                     base_url=sim.gemini_base_url)  # fmt: skip
    assert sim.stats()["total_requests"] == 0
