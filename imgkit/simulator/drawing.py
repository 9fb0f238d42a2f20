"""Procedural images for the simulator: deterministic in the prompt, varied per call, labelled.

Each content word of the prompt contributes one shape whose kind, place, size and colour come
from a hash of the word; the first two content words choose the background. So the same prompt
always gives the same composition, a different prompt a different one (sharing shapes only for
shared words), and a rewritten prompt (more words) a visibly busier one. A per-call variation
seed nudges every shape and colour a little, so repeats of one prompt are close but not equal
under a perceptual hash, as repeats of a real model are.

Every image carries a marker that it is simulated: a PNG text chunk ``imgkit-simulated=1``, an
EXIF ImageDescription/Software for JPEG and WebP, a GIF comment, an SVG comment, and a small
"SIMULATED" label drawn in a corner (not on edits, where it would touch kept pixels).
"""

from __future__ import annotations

import functools
import hashlib
import io
import random
import re
import struct
import zlib
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

__all__ = [
    "MARKER_KEY",
    "MIME_TYPES",
    "Composition",
    "ImageInputError",
    "composition",
    "edit_image",
    "preview",
    "render",
    "render_image",
]

MARKER_KEY = "imgkit-simulated"
SOFTWARE = "imgkit simulator (not a real model's output)"
MIME_TYPES = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "gif": "image/gif",
    "svg": "image/svg+xml",
}

_STOPWORDS = frozenset(
    (
        "a",
        "an",
        "the",
        "of",
        "and",
        "or",
        "in",
        "on",
        "at",
        "to",
        "for",
        "with",
        "by",
        "from",
        "as",
        "is",
        "are",
        "be",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "into",
        "onto",
        "over",
        "under",
        "near",
        "while",
        "very",
        "some",
        "any",
    )
)
_KINDS = ("ellipse", "rectangle", "triangle", "ring", "bar", "diamond")
_MAX_WORDS = 40
_SHAPES_PER_WORD = 3


class ImageInputError(ValueError):
    """An input image or mask that cannot be used; ``param`` names the offending field and
    ``code`` the error code the API answers with."""

    def __init__(self, param: str, message: str, code: str = "invalid_image") -> None:
        super().__init__(message)
        self.param = param
        self.code = code


@dataclass(frozen=True)
class _Shape:
    kind: str
    cx: float
    cy: float
    size: float
    aspect: float
    color: tuple[int, int, int]


@dataclass(frozen=True)
class Composition:
    """What a prompt looks like: a four-corner gradient and a few shapes per content word."""

    corners: tuple[tuple[int, int, int], ...]
    shapes: tuple[_Shape, ...]


def _rng_for(text: str) -> random.Random:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _color(rng: random.Random) -> tuple[int, int, int]:
    return (rng.randrange(256), rng.randrange(256), rng.randrange(256))


def _words(prompt: str) -> list[str]:
    words = [w for w in re.findall(r"[a-z0-9']+", prompt.lower()) if w not in _STOPWORDS]
    return list(dict.fromkeys(words))[:_MAX_WORDS]


@functools.lru_cache(maxsize=4096)
def composition(prompt: str) -> Composition:
    """The composition of ``prompt`` (cached: it depends on the prompt alone)."""
    words = _words(prompt) or ["empty"]
    background = _rng_for("background:" + " ".join(words[:2]))
    shapes = []
    for rank, word in enumerate(words):
        rng = _rng_for("shape:" + word)
        # Earlier words (usually the subject) draw larger, so they dominate the hash.
        scale = 1.0 / (1.0 + 0.08 * rank)
        for _ in range(_SHAPES_PER_WORD):
            shapes.append(
                _Shape(
                    kind=rng.choice(_KINDS),
                    cx=rng.uniform(0.05, 0.95),
                    cy=rng.uniform(0.05, 0.95),
                    size=rng.uniform(0.1, 0.4) * scale,
                    aspect=rng.uniform(0.6, 1.6),
                    color=_color(rng),
                )
            )
    # Draw the big shapes first so small ones stay visible on top.
    shapes.sort(key=lambda s: -s.size)
    return Composition(
        corners=tuple(_color(background) for _ in range(4)),
        shapes=tuple(shapes),
    )


def _jitter_color(color: tuple[int, int, int], rng: random.Random, amount: int) -> tuple:
    return tuple(max(0, min(255, c + rng.randint(-amount, amount))) for c in color)


def _nudged(comp: Composition, seed: int, move: float, scale: float, tint: int) -> Composition:
    rng = random.Random(seed)
    shapes = tuple(
        _Shape(
            kind=s.kind,
            cx=s.cx + rng.uniform(-move, move),
            cy=s.cy + rng.uniform(-move, move),
            size=s.size * rng.uniform(1 - scale, 1 + scale),
            aspect=s.aspect,
            color=_jitter_color(s.color, rng, tint),
        )
        for s in comp.shapes
    )
    corners = tuple(_jitter_color(c, rng, tint) for c in comp.corners)
    return Composition(corners=corners, shapes=shapes)


def _varied(comp: Composition, variation: int | None, jitter: int | None = None) -> Composition:
    """The composition nudged by a per-call variation seed (None: no variation), then by a much
    smaller ``jitter`` (a seeded request repeated: near-identical, not identical)."""
    if variation is not None:
        comp = _nudged(comp, variation, 0.012, 0.03, 6)
    if jitter is not None:
        comp = _nudged(comp, jitter, 0.0015, 0.004, 1)
    return comp


def _polygon(shape: _Shape, w: int, h: int) -> tuple[str, list[tuple[float, float]]]:
    unit = min(w, h)
    cx, cy = shape.cx * w, shape.cy * h
    rx, ry = shape.size * unit * shape.aspect / 2, shape.size * unit / shape.aspect / 2
    if shape.kind == "bar":
        rx, ry = shape.size * unit, shape.size * unit / 8
    box = [(cx - rx, cy - ry), (cx + rx, cy + ry)]
    if shape.kind == "triangle":
        return "polygon", [(cx, cy - ry), (cx + rx, cy + ry), (cx - rx, cy + ry)]
    if shape.kind == "diamond":
        return "polygon", [(cx, cy - ry), (cx + rx, cy), (cx, cy + ry), (cx - rx, cy)]
    return shape.kind, box


def _background(comp: Composition, width: int, height: int) -> Image.Image:
    """A smooth gradient between the four corner colours (a 2x2 image scaled up bilinearly)."""
    corners = Image.new("RGB", (2, 2))
    corners.putdata(list(comp.corners))
    # Scaling from a 4x4 padded copy keeps the whole frame a gradient instead of flat edges.
    return corners.resize((width, height), Image.Resampling.BILINEAR, box=(0.5, 0.5, 1.5, 1.5))


@functools.lru_cache(maxsize=32)
def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except (OSError, TypeError):  # Pillow built without FreeType: the bitmap font will do
        return ImageFont.load_default()


def _label(image: Image.Image) -> None:
    """Draw a small "SIMULATED" mark in the bottom-right corner."""
    w, h = image.size
    font = _font(max(8, min(w, h) // 48))
    draw = ImageDraw.Draw(image)
    text = "SIMULATED"
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    pad = max(2, (bottom - top) // 4)
    x, y = w - (right - left) - 3 * pad, h - (bottom - top) - 3 * pad
    fill = (0, 0, 0, 255) if image.mode == "RGBA" else (0, 0, 0)
    ink = (255, 255, 255, 255) if image.mode == "RGBA" else (255, 255, 255)
    draw.rectangle((x - pad, y - pad, x + right - left + pad, y + bottom + pad), fill=fill)
    draw.text((x - left, y), text, font=font, fill=ink)


def render_image(
    prompt: str,
    width: int,
    height: int,
    *,
    variation: int | None = None,
    transparent: bool = False,
    label: bool = True,
    jitter: int | None = None,
) -> Image.Image:
    """Draw ``prompt`` at ``width`` x ``height`` as a Pillow image (RGB, or RGBA if transparent).

    ``variation`` varies a repeat the way a model's repeats vary; ``jitter`` varies it far less,
    the way a seeded request repeated varies (see :mod:`imgkit.simulator.state`).
    """
    comp = _varied(composition(prompt), variation, jitter)
    if transparent:
        image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    else:
        image = _background(comp, width, height)
    draw = ImageDraw.Draw(image)
    for shape in comp.shapes:
        kind, points = _polygon(shape, width, height)
        fill = (*shape.color, 255) if transparent else shape.color
        if kind == "polygon":
            draw.polygon(points, fill=fill)
        elif kind == "ellipse":
            draw.ellipse(points, fill=fill)
        elif kind == "ring":
            draw.ellipse(points, outline=fill, width=max(2, min(width, height) // 60))
        else:
            draw.rectangle(points, fill=fill)
    if label:
        _label(image)
    return image


def _svg(prompt: str, width: int, height: int, variation: int | None) -> bytes:
    comp = _varied(composition(prompt), variation)
    top, bottom = comp.corners[0], comp.corners[3]
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f"<!-- {MARKER_KEY}=1: drawn by the imgkit simulator, not by any real model -->",
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">',
        f"<metadata>{MARKER_KEY}=1</metadata>",
        '<defs><linearGradient id="bg" x1="0" y1="0" x2="1" y2="1">'
        f'<stop offset="0" stop-color="rgb{top}"/>'
        f'<stop offset="1" stop-color="rgb{bottom}"/></linearGradient></defs>',
        f'<rect width="{width}" height="{height}" fill="url(#bg)"/>',
    ]
    for shape in comp.shapes:
        kind, pts = _polygon(shape, width, height)
        color = f"rgb{shape.color}"
        if kind == "polygon":
            points = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
            parts.append(f'<polygon points="{points}" fill="{color}"/>')
        else:
            (x0, y0), (x1, y1) = pts
            if kind in ("ellipse", "ring"):
                fill = (
                    f'fill="none" stroke="{color}" stroke-width="8"'
                    if kind == "ring"
                    else (f'fill="{color}"')
                )
                parts.append(
                    f'<ellipse cx="{(x0 + x1) / 2:.1f}" cy="{(y0 + y1) / 2:.1f}" '
                    f'rx="{(x1 - x0) / 2:.1f}" ry="{(y1 - y0) / 2:.1f}" {fill}/>'
                )
            else:
                parts.append(
                    f'<rect x="{x0:.1f}" y="{y0:.1f}" width="{x1 - x0:.1f}" '
                    f'height="{y1 - y0:.1f}" fill="{color}"/>'
                )
    parts.append(
        f'<text x="{width - 8}" y="{height - 8}" text-anchor="end" '
        f'font-size="{max(8, height // 48)}" fill="white" stroke="black" '
        'stroke-width="0.5">SIMULATED</text></svg>'
    )
    return "\n".join(parts).encode("utf-8")


def _exif() -> Image.Exif:
    exif = Image.Exif()
    exif[0x010E] = f"{MARKER_KEY}=1"  # ImageDescription
    exif[0x0131] = SOFTWARE  # Software
    return exif


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png(image: Image.Image, text: dict[str, str]) -> bytes:
    """Encode an RGB or RGBA image as PNG, with ``text`` as tEXt chunks.

    Written by hand because speed matters more than bytes here: every row uses filter 0 and
    zlib level 1, about three times faster than Pillow's adaptive filtering (the benchmark's
    bottleneck), and still small because the drawings are flat shapes on smooth gradients.
    """
    if image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    width, height = image.size
    pixels = np.asarray(image, dtype=np.uint8).reshape(height, -1)
    rows = np.zeros((height, pixels.shape[1] + 1), dtype=np.uint8)
    rows[:, 1:] = pixels
    color_type = 6 if image.mode == "RGBA" else 2
    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    chunks = [_png_chunk(b"IHDR", header)]
    chunks += [
        _png_chunk(b"tEXt", key.encode("latin-1") + b"\0" + value.encode("latin-1"))
        for key, value in text.items()
    ]
    chunks.append(_png_chunk(b"IDAT", zlib.compress(rows.tobytes(), 1)))
    chunks.append(_png_chunk(b"IEND", b""))
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunks)


def encode(image: Image.Image, fmt: str, *, compression: int | None = None) -> bytes:
    """Encode ``image`` as ``fmt`` (png, jpeg, webp, gif) with the simulated marker.

    ``compression`` is the OpenAI ``output_compression`` (0-100, higher = smaller file), used
    for JPEG and WebP.
    """
    buffer = io.BytesIO()
    quality = 100 - compression if compression is not None else 90
    if fmt == "png":
        return _png(image, {MARKER_KEY: "1", "Software": SOFTWARE})
    if fmt == "jpeg":
        image.convert("RGB").save(
            buffer,
            "JPEG",
            quality=max(1, quality),
            exif=_exif(),
            comment=f"{MARKER_KEY}=1".encode(),
        )
    elif fmt == "webp":
        image.save(buffer, "WEBP", quality=max(1, quality), method=0, exif=_exif())
    elif fmt == "gif":
        image.convert("RGB").quantize(64).save(buffer, "GIF", comment=f"{MARKER_KEY}=1")
    else:
        raise ValueError(f"cannot encode format {fmt!r}")
    return buffer.getvalue()


def render(
    prompt: str,
    width: int,
    height: int,
    *,
    fmt: str = "png",
    variation: int | None = None,
    transparent: bool = False,
    compression: int | None = None,
    jitter: int | None = None,
) -> bytes:
    """Draw ``prompt`` and return the encoded bytes of a ``width`` x ``height`` ``fmt`` image."""
    if fmt == "svg":
        return _svg(prompt, width, height, variation)
    transparent = transparent and fmt in ("png", "webp")
    image = render_image(
        prompt, width, height, variation=variation, transparent=transparent, jitter=jitter
    )
    return encode(image, fmt, compression=compression)


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
    from PIL import ImageFilter

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
    return encode(result, fmt, compression=compression), width, height


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
