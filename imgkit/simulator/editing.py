"""Images the simulator makes from other images: masked edits and streamed previews.

An edit keeps the pixels the mask protects and draws the prompt's picture where the mask is
transparent (with the small leaks real edit endpoints show at the seam, :data:`LEAK_SEAM_PX`);
a preview is a partial image of a final one, as a stream sends before it. Both start from
:mod:`imgkit.simulator.drawing`'s pictures and encoders, and keep its "simulated" marks.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageFilter

from imgkit.simulator.drawing import ImageInputError, drawn_marker, encode, render_image

__all__ = ["LEAK_NOISE_LEVELS", "LEAK_SEAM_BLEND", "LEAK_SEAM_PX", "edit_image", "preview"]


def _open(data: bytes, param: str) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except Exception as exc:  # Pillow raises many types for unreadable data
        raise ImageInputError(
            param, f"Invalid image file or mode for {param!r}: {exc}", code="image_parse_error"
        ) from None
    return image


#: How an edit leaks outside its mask (a simulator assumption, documented in
#: docs/vendor-behaviour.md): real edits regenerate the whole picture, so the pixels the mask
#: keeps come back close to, not equal to, the original. The simulator adds seeded noise of at
#: most this many levels per channel everywhere ...
LEAK_NOISE_LEVELS = 2
#: ... and blends the ring of kept pixels this many pixels wide around the edit region this far
#: toward the new content, as an inpainting seam does.
LEAK_SEAM_PX = 1
LEAK_SEAM_BLEND = 0.25


def _seam(redraw: Image.Image) -> Image.Image:
    """The kept pixels within LEAK_SEAM_PX of the edit region, as an "L" mask (255 = seam)."""
    grown = redraw.filter(ImageFilter.MaxFilter(2 * LEAK_SEAM_PX + 1))
    ring = np.asarray(grown, dtype=np.uint8) & ~np.asarray(redraw, dtype=np.uint8)
    return Image.fromarray(ring, "L")


def _add_noise(image: Image.Image, seed: int) -> Image.Image:
    """``image`` (RGB or RGBA) with seeded noise of up to LEAK_NOISE_LEVELS on each colour."""
    rng = np.random.default_rng(seed)
    pixels = np.asarray(image, dtype=np.int16)
    noise = rng.integers(-LEAK_NOISE_LEVELS, LEAK_NOISE_LEVELS + 1, pixels.shape, dtype=np.int16)
    if image.mode == "RGBA":
        noise[..., 3] = 0  # transparency comes back as it was
    return Image.fromarray(np.clip(pixels + noise, 0, 255).astype(np.uint8), image.mode)


def edit_image(
    image_bytes: bytes,
    mask_bytes: bytes | None,
    prompt: str,
    *,
    variation: int | None = None,
    fmt: str = "png",
    compression: int | None = None,
    size: tuple[int, int] | None = None,
    leak_seed: int | None = None,
) -> tuple[bytes, int, int]:
    """Redraw the part of an image the mask marks; keep the rest, nearly.

    Mask semantics follow the Images API: fully transparent mask pixels (alpha 0) are redrawn
    from ``prompt``; the others are kept. Without a mask, the image's own fully transparent
    pixels are the edit region; if it has none the whole image is redrawn. The answer is
    ``size`` (width, height) when given, else the input's size. With ``leak_seed`` the kept
    pixels leak as :data:`LEAK_NOISE_LEVELS` and :data:`LEAK_SEAM_BLEND` say; without it they
    come back exactly. Returns (bytes, width, height).

    Raises :class:`ImageInputError` for an unreadable image or mask, a mask without an alpha
    channel, or a mask whose size differs from the image.
    """
    source = _open(image_bytes, "image")
    width, height = source.size
    if mask_bytes is not None:
        mask = _open(mask_bytes, "mask")
        if mask.size != source.size:
            raise ImageInputError(
                "mask",
                f"Invalid mask image: the mask is {mask.size[0]}x{mask.size[1]} but the image "
                f"is {width}x{height}; they must be the same size.",
                code="invalid_image",
            )
        if "A" not in mask.getbands() and "transparency" not in mask.info:
            raise ImageInputError(
                "mask",
                f"Invalid mask image: the mask must have an alpha channel, got mode {mask.mode}.",
                code="invalid_image_mode",
            )
        alpha = mask.convert("RGBA").getchannel("A")
    elif "A" in source.getbands() or "transparency" in source.info:
        alpha = source.convert("RGBA").getchannel("A")
        if alpha.getextrema()[0] != 0:
            alpha = Image.new("L", source.size, 0)
    else:
        alpha = Image.new("L", source.size, 0)
    # 255 where the mask is fully transparent (to redraw), 0 where the original is kept.
    redraw = alpha.point(lambda a: 255 if a == 0 else 0)
    keep_alpha = "A" in source.getbands() or "transparency" in source.info
    mode = "RGBA" if keep_alpha and fmt in ("png", "webp") else "RGB"
    original = source.convert(mode)
    drawn = render_image(prompt, width, height, variation=variation, label=False).convert(mode)
    result = Image.composite(drawn, original, redraw)
    if leak_seed is not None:
        seam = _seam(redraw).point(lambda v: round(v * LEAK_SEAM_BLEND))
        result = Image.composite(drawn, result, seam)
    if size is not None and size != (width, height):
        result = result.resize(size, Image.Resampling.LANCZOS)
        width, height = size
    if leak_seed is not None:
        result = _add_noise(result, leak_seed)
    if fmt == "svg":
        fmt = "png"
    return encode(result, fmt, compression=compression, drawn=drawn_marker(prompt)), width, height


def preview(data: bytes, index: int, total: int, fmt: str, compression: int | None = None) -> bytes:
    """Partial image ``index`` (0-based) of ``total`` for a streamed image: the final picture at
    a lower resolution, scaled back up, sharper with each partial (as a diffusion preview
    sharpens). SVG and GIF answers send no partial images, so their previews are PNGs."""
    image = Image.open(io.BytesIO(data))
    image.load()
    width, height = image.size
    factor = 2 ** (total - index + 1)
    small = image.resize((max(1, width // factor), max(1, height // factor)))
    blurred = small.resize((width, height), Image.Resampling.BILINEAR)
    fmt = fmt if fmt in ("png", "jpeg", "webp") else "png"
    return encode(blurred, fmt, compression=compression)
