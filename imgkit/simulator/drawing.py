"""Images for the simulator: photographs of the prompt's subject, varied per call, labelled.

Each prompt is a picture of one photograph from the simulator's bank of openly licensed
photographs (:mod:`imgkit.simulator.photos` chooses it from the prompt's words). Each call then
frames and lights it anew, as a real model's repeats differ: a per-call variation seed chooses
the crop (how close, where), a small tilt, a mirror image or not, and the exposure, contrast,
colour, warmth and vignette. Words of the prompt steer that treatment the way they steer a real
model ("close-up" frames tighter, "wide" looser, "golden hour" warms, "night" darkens, "black and
white" drops the colour), so a rewritten prompt, whose invented details differ on every call,
varies more than a prompt sent as it is.

So repeats of one prompt show the same subject (a learned image measure finds them alike) framed
differently (a perceptual hash finds them about as far apart as a real model's repeats, since a
hash compares the layout of light and dark), and different prompts show different subjects. The
figures against real recordings are in ``docs/vendor-behaviour.md`` and
``benchmarks/bench_sim_calibration.py``.

Every image carries a marker that it is simulated: a PNG text chunk ``imgkit-simulated=1``, an
EXIF ImageDescription/Software for JPEG and WebP, a GIF comment, an SVG comment, and a small
"SIMULATED" label drawn in a corner (not on edits, where it would touch kept pixels).
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import hashlib
import io
import math
import random
import re
import struct
from dataclasses import dataclass

import numpy as np
from isal import isal_zlib
from PIL import Image, ImageDraw, ImageFont

from imgkit.simulator import photos

__all__ = [
    "DRAWN_KEY",
    "MARKER_KEY",
    "MIME_TYPES",
    "ImageInputError",
    "Treatment",
    "content_words",
    "drawn_marker",
    "render",
    "render_image",
    "treatment",
    "word_digest",
]


def _words_of(text: str) -> frozenset[str]:
    """The set of the space-separated words of ``text`` (long word lists read better so)."""
    return frozenset(text.split())


MARKER_KEY = "imgkit-simulated"
#: The marker that tells the simulator's own judge (:mod:`imgkit.simulator.judging`) which words
#: a picture was drawn from: a digest of each content word of the prompt it drew (for a rewriting
#: model, its rewrite). A real judge sees pixels; the simulated one reads this, so it can tell
#: that a rewrite which dropped a word drew a picture without it.
DRAWN_KEY = "imgkit-drawn"
SOFTWARE = "imgkit simulator (not a real model's output)"
MIME_TYPES = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "gif": "image/gif",
    "svg": "image/svg+xml",
}

# Words that steer the framing and light (a simulator assumption: what the words ask a real
# model for, in the direction they ask it).
_CLOSE = _words_of("close-up closeup macro portrait headshot")
_WIDE = _words_of("wide establishing panoramic panorama landscape distant aerial vast")
_WARM = _words_of("golden warm sunset sunrise sunlit amber glow glowing dawn autumn")
_DARK = _words_of("night twilight moody dusk dark midnight shadowy noir moonlit evening")
_COOL = _words_of("cool blue misty foggy winter overcast icy morning")
#: How much wider a rewriting model's calls vary in framing and light than a model that draws
#: the prompt as sent (see treatment): chosen so that dall-e-3's repeats come out somewhat less
#: alike than gpt-image-1's on the learned measure, as the rewrites make real ones
#: (benchmarks/bench_sim_calibration.py prints the gap).
REWRITE_SPREAD = 1.8
# A red world: the bank's ground under an astronaut is the Moon's grey, and a real model asked
# for Mars paints it rust red; a strong warm cast does that to the whole frame.
_RED_WORLD = _words_of("martian mars")
_MONO = _words_of("monochrome black-and-white grayscale greyscale sepia")
_VIVID = _words_of("vibrant saturated vivid bold striking")
_MUTED = _words_of("muted understated realistic documentary-style true-to-life natural")
_CRISP = _words_of("crisp studio high-contrast")
_SOFT = _words_of("overcast diffused hazy")
# Phrases that ask for a framing, as one word each.
_PHRASES = {
    "off center": "off-center",
    "negative space": "negative-space",
    "low camera angle": "low-angle",
    "low angle": "low-angle",
    # A rewrite that dwells on one object's details frames it closer.
    "special attention": "closer",
    "focal point": "closer",
}


class ImageInputError(ValueError):
    """An input image or mask that cannot be used; ``param`` names the offending field and
    ``code`` the error code the API answers with."""

    def __init__(self, param: str, message: str, code: str = "invalid_image") -> None:
        super().__init__(message)
        self.param = param
        self.code = code


@dataclass(frozen=True)
class Treatment:
    """How one call frames and lights its photograph.

    ``zoom`` is the share of the largest crop of the output's shape that the photograph allows
    (1 = as wide as it goes); ``cx``/``cy`` place the crop's centre within the room left (0.5 =
    centred); ``angle`` tilts it (degrees); ``mirror`` flips it left to right. ``brightness``,
    ``contrast`` and ``saturation`` are factors (1 = unchanged), ``warmth`` shifts red against
    blue (-1..1, 0 = neutral), ``vignette`` darkens the corners by up to that share.
    """

    photo: str
    zoom: float = 0.85
    cx: float = 0.5
    cy: float = 0.5
    angle: float = 0.0
    mirror: bool = False
    brightness: float = 1.0
    contrast: float = 1.0
    saturation: float = 1.0
    warmth: float = 0.0
    vignette: float = 0.0


def _prompt_words(prompt: str) -> set[str]:
    text = prompt.lower()
    words = set(text.replace(",", " ").replace(".", " ").replace(";", " ").split())
    if "black" in words and "white" in words:
        words.add("monochrome")
    for phrase, word in _PHRASES.items():
        if phrase in text:
            words.add(word)
    return words


def _asked(prompt: str) -> dict[str, float]:
    """What the prompt's words ask of the framing and light, as factors and shifts."""
    words = _prompt_words(prompt)
    vivid, muted = bool(words & _VIVID), bool(words & _MUTED)
    return {
        "close": float(bool(words & _CLOSE)),
        "closer": float("closer" in words),
        "wide": float(bool(words & _WIDE) or "negative-space" in words),
        "warmth": 0.12 * bool(words & _WARM) - 0.1 * bool(words & _COOL)
        - 0.06 * bool(words & _DARK) + 0.7 * bool(words & _RED_WORLD),
        "brightness": 0.75 if words & _DARK else 1.0,
        "saturation": (0.0 if words & _MONO else 1.0) * (1.3 if vivid else 0.8 if muted else 1.0),
        "contrast": (1.15 if words & _CRISP else 1.0) * (0.85 if words & _SOFT else 1.0),
        "edge": float("off-center" in words),
        "low": float("low-angle" in words),
    }  # fmt: skip


def treatment(
    prompt: str,
    variation: int | None = None,
    jitter: int | None = None,
    *,
    subject: str | None = None,
) -> Treatment:
    """The framing and light of ``prompt``'s image for this call.

    ``variation`` None gives the prompt's plain treatment (centred, neutral); a variation seed
    gives one call's; ``jitter`` then moves it a very little (a seeded request repeated:
    near-identical, not identical). ``subject`` is the prompt the user sent when ``prompt`` is
    a rewrite of it: the picture shows the user's subject with the rewrite's look, so the
    details a rewrite invents (its light, palette, framing) vary the picture from call to call.
    """
    photo = photos.choose(subject if subject is not None else prompt).name
    ask = _asked(prompt)
    if variation is None:
        zoom = 0.6 if ask["close"] else 0.95 if ask["wide"] else 0.85
        base = Treatment(
            photo, zoom=zoom, cx=0.5 + 0.4 * ask["edge"], cy=0.5 + 0.3 * ask["low"],
            brightness=ask["brightness"], contrast=ask["contrast"],
            saturation=ask["saturation"], warmth=ask["warmth"],
        )  # fmt: skip
    else:
        rng = random.Random(variation)
        # A rewrite invents its own scene around the subject (where it stands, from which side,
        # in what palette: "bathed in amber light", "seen from the ridge below"), so a
        # rewriting model's calls spread wider than a model that draws the prompt as sent.
        spread = REWRITE_SPREAD if subject is not None and subject != prompt else 1.0
        low, high = (
            (0.36, 0.6) if ask["close"]
            else (0.5, 1.0) if ask["wide"]
            else (0.38, 0.8) if ask["closer"]
            else (0.38, 0.95)
        )  # fmt: skip
        cx = 0.5 + rng.uniform(-0.35, 0.35) * min(spread, 1.3)
        if ask["edge"]:  # off center: towards one side or the other
            cx = rng.choice((0.08, 0.92))
        base = Treatment(
            photo,
            zoom=rng.uniform(low, high),
            cx=cx,
            cy=0.85 if ask["low"] else 0.5 + rng.uniform(-0.25, 0.25) * min(spread, 1.3),
            angle=rng.uniform(-8.0, 8.0) * spread,
            mirror=rng.random() < 0.5,
            brightness=ask["brightness"] * (1 + rng.uniform(-0.18, 0.14) * spread),
            contrast=ask["contrast"] * (1 + rng.uniform(-0.15, 0.2) * spread),
            saturation=ask["saturation"] * (1 + rng.uniform(-0.25, 0.3) * spread),
            warmth=ask["warmth"] + rng.uniform(-0.08, 0.08) * spread * spread,
            vignette=rng.uniform(0.0, 0.35),
        )
    if jitter is None:
        return base
    rng = random.Random(jitter)
    return dataclasses.replace(
        base,
        zoom=min(1.0, base.zoom * rng.uniform(0.995, 1.005)),
        cx=base.cx + rng.uniform(-0.004, 0.004),
        cy=base.cy + rng.uniform(-0.004, 0.004),
        angle=base.angle + rng.uniform(-0.1, 0.1),
        brightness=base.brightness * rng.uniform(0.995, 1.005),
    )


def _quad(
    t: Treatment, source: tuple[int, int], out: tuple[int, int], focus: tuple[float, float]
) -> tuple[float, ...]:
    """The source quadrilateral (upper-left, lower-left, lower-right, upper-right) that fills
    the output: the output's shape at ``t.zoom`` of the largest fit, tilted by ``t.angle``,
    shrunk until it lies inside the photograph, and placed around the photograph's ``focus``
    (``t.cx``/``t.cy`` move it from there by up to half the room the crop leaves)."""
    sw, sh = source
    aspect = out[0] / out[1]
    # The largest crop of the output's aspect that fits the photograph.
    full_w = min(sw, sh * aspect)
    half_w, half_h = full_w * t.zoom / 2, full_w / aspect * t.zoom / 2
    theta = math.radians(t.angle)
    cos, sin = math.cos(theta), math.sin(theta)
    for _ in range(40):
        # The rotated rectangle's extent, to place its centre so that it stays inside.
        ext_x = abs(half_w * cos) + abs(half_h * sin)
        ext_y = abs(half_w * sin) + abs(half_h * cos)
        if 2 * ext_x <= sw and 2 * ext_y <= sh:
            break
        half_w, half_h = half_w * 0.97, half_h * 0.97
    cx = focus[0] * sw + (t.cx - 0.5) * (sw - 2 * ext_x)
    cy = focus[1] * sh + (t.cy - 0.5) * (sh - 2 * ext_y)
    cx = min(max(cx, ext_x), sw - ext_x)
    cy = min(max(cy, ext_y), sh - ext_y)
    corners = [(-half_w, -half_h), (-half_w, half_h), (half_w, half_h), (half_w, -half_h)]
    points = []
    for x, y in corners:
        points += [cx + x * cos - y * sin, cy + x * sin + y * cos]
    return tuple(points)


def _affine(quad: tuple[float, ...], size: tuple[int, int], mirror: bool) -> tuple[float, ...]:
    """The affine map (Pillow's ``Transform.AFFINE`` data) that takes an output of ``size``
    onto ``quad`` (a rotated rectangle, so affine), flipped left to right if ``mirror``.

    Cheaper than ``Transform.QUAD`` (which solves a bilinear map per pixel) and a flip after.
    """
    (x0, y0), (x1, y1), _, (x3, y3) = zip(quad[0::2], quad[1::2], strict=True)
    if mirror:  # start from the right edge and run leftwards
        x0, y0, x3, y3 = x3, y3, x0, y0
        x1, y1 = x1 + x0 - x3, y1 + y0 - y3
    width, height = size
    return (
        (x3 - x0) / width, (x1 - x0) / height, x0,
        (y3 - y0) / width, (y1 - y0) / height, y0,
    )  # fmt: skip


@functools.cache
def _radial() -> Image.Image:
    """Squared distance from the centre as a small "L" image: 0 there, 255 in the corners."""
    y = np.linspace(-1.0, 1.0, 128, dtype=np.float32)[:, None]
    x = np.linspace(-1.0, 1.0, 128, dtype=np.float32)[None, :]
    return Image.fromarray(((x * x + y * y) / 2.0 * 255.0).astype(np.uint8), "L")


def _corners(width: int, height: int) -> Image.Image:
    """The radial distance at ``width`` x ``height`` (scaled up from the small one by Pillow,
    so that no per-size copy is kept: the working size differs from call to call)."""
    return _radial().resize((width, height), Image.Resampling.BILINEAR)


#: ITU-R 601-2 luma, the weights of Pillow's own "L" conversion: the grey a colour fades to.
_LUMA = (0.299, 0.587, 0.114)
#: About the mean level of a photograph: contrast turns around it.
_PIVOT = 118.0


def _light_matrix(t: Treatment) -> tuple[float, ...]:
    """``t``'s saturation, contrast, exposure and warmth as one RGB -> RGB colour matrix.

    Each step is linear in the pixel's channels, so they compose into one 3 x 4 matrix
    (Pillow applies it in one pass, clamping to 0..255): saturation mixes each channel with
    the grey (``grey + s * (c - grey)``), contrast turns each channel around ``_PIVOT``, and
    exposure and warmth scale each channel, red against blue.
    """
    s, contrast = t.saturation, t.contrast
    matrix: list[float] = []
    for k, gain in enumerate((1 + 0.5 * t.warmth, 1.0, 1 - 0.5 * t.warmth)):
        scale = gain * t.brightness
        row = [(1 - s) * w + (s if j == k else 0.0) for j, w in enumerate(_LUMA)]
        matrix += [scale * contrast * v for v in row]
        matrix.append(scale * _PIVOT * (1 - contrast))
    return tuple(matrix)


def _lit(image: Image.Image, t: Treatment) -> Image.Image:
    """``image`` with ``t``'s exposure, contrast, colour, warmth and vignette (Pillow's C
    routines throughout: one colour-matrix pass, and one composite for the vignette)."""
    image = image.convert("RGB", _light_matrix(t))
    if t.vignette:
        # Scaled on the small radial image, then enlarged: the same mask for less work.
        strength = _radial().point(lambda v: round(v * t.vignette))
        mask = strength.resize(image.size, Image.Resampling.BILINEAR)
        image = Image.composite(Image.new("RGB", image.size), image, mask)
    return image


def _framed(t: Treatment, width: int, height: int) -> Image.Image:
    """The photograph cropped, tilted, mirrored and lit for an output of ``width`` x ``height``.

    The crop is taken at the photograph's own resolution (no larger than the output), lit there,
    and then scaled to the output in one resize: the work is done on the pixels the photograph
    has.
    """
    source = photos.load(t.photo)
    quad = _quad(t, source.size, (width, height), photos.named(t.photo).focus)
    crop_width = math.dist(quad[0:2], quad[6:8])
    factor = min(1.0, crop_width / width)
    work = (max(1, round(width * factor)), max(1, round(height * factor)))
    framed = source.transform(
        work, Image.Transform.AFFINE, _affine(quad, work, t.mirror), Image.Resampling.BILINEAR
    )
    framed = _lit(framed, t)
    if work != (width, height):
        framed = framed.resize((width, height), Image.Resampling.BICUBIC)
    return framed


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


def _cut_out(image: Image.Image) -> Image.Image:
    """An RGBA copy whose alpha keeps an oval around the centre and fades to clear at the
    edges: a transparent background, as far as a photograph allows."""
    # Radial value v/255 is half the squared distance: the edge midpoints sit at 127.5.
    alpha = _corners(image.width, image.height).point(
        lambda v: round(min(max((1.0 - 2.0 * v / 255.0) / 0.25, 0.0), 1.0) * 255.0)
    )
    rgba = image.convert("RGBA")
    rgba.putalpha(alpha)
    return rgba


def render_image(
    prompt: str,
    width: int,
    height: int,
    *,
    variation: int | None = None,
    transparent: bool = False,
    label: bool = True,
    jitter: int | None = None,
    subject: str | None = None,
) -> Image.Image:
    """Draw ``prompt`` at ``width`` x ``height`` as a Pillow image (RGB, or RGBA if transparent).

    ``variation`` varies a repeat the way a model's repeats vary; ``jitter`` varies it far less,
    the way a seeded request repeated varies (see :mod:`imgkit.simulator.state`); ``subject``
    is the user's prompt when ``prompt`` is the service's rewrite of it (:func:`treatment`).
    """
    image = _framed(treatment(prompt, variation, jitter, subject=subject), width, height)
    if transparent:
        image = _cut_out(image)
    if label:
        _label(image)
    return image


def _svg(
    prompt: str, width: int, height: int, variation: int | None, subject: str | None = None
) -> bytes:
    """An SVG holding the drawn picture as an embedded JPEG, marked and labelled."""
    buffer = io.BytesIO()
    render_image(prompt, width, height, variation=variation, label=False, subject=subject).save(
        buffer, "JPEG", quality=85
    )
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f"<!-- {MARKER_KEY}=1: drawn by the imgkit simulator, not by any real model -->",
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">',
        f"<metadata>{MARKER_KEY}=1</metadata>",
        f'<image width="{width}" height="{height}" href="data:image/jpeg;base64,{data}"/>',
        f'<text x="{width - 8}" y="{height - 8}" text-anchor="end" '
        f'font-size="{max(8, height // 48)}" fill="white" stroke="black" '
        'stroke-width="0.5">SIMULATED</text></svg>',
    ]
    return "\n".join(parts).encode("utf-8")


def _exif() -> Image.Exif:
    exif = Image.Exif()
    exif[0x010E] = f"{MARKER_KEY}=1"  # ImageDescription
    exif[0x0131] = SOFTWARE  # Software
    return exif


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    # ISA-L's CRC-32 (the one PNG uses) is about ten times faster than zlib's on a large IDAT.
    crc = isal_zlib.crc32(data, isal_zlib.crc32(kind))
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def _png(image: Image.Image, text: dict[str, str]) -> bytes:
    """Encode an RGB or RGBA image as PNG, with ``text`` as tEXt chunks.

    Written by hand because speed matters more than bytes here (the encoder was the
    throughput benchmark's bottleneck): every row uses the Sub filter (each byte less the one a
    pixel to its left, one numpy subtraction) and ISA-L's deflate at level 1, about four times
    faster than zlib's level 1 at about its size; Pillow's encoder tries every filter on every
    row, several times slower. The Up filter was a little faster still, but its files were 15%
    smaller than these, further below a real service's 1.2-3 MB at 1024 px. The subtraction and
    the deflate both release the GIL, so two requests encode at once.
    """
    if image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    width, height = image.size
    depth = 4 if image.mode == "RGBA" else 3
    pixels = np.asarray(image, dtype=np.uint8).reshape(height, -1)
    rows = np.empty((height, pixels.shape[1] + 1), dtype=np.uint8)
    rows[:, 0] = 1  # filter type 1, Sub
    rows[:, 1 : depth + 1] = pixels[:, :depth]
    np.subtract(pixels[:, depth:], pixels[:, :-depth], out=rows[:, depth + 1 :])
    color_type = 6 if image.mode == "RGBA" else 2
    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    chunks = [_png_chunk(b"IHDR", header)]
    chunks += [
        _png_chunk(b"tEXt", key.encode("latin-1") + b"\0" + value.encode("latin-1"))
        for key, value in text.items()
    ]
    chunks.append(_png_chunk(b"IDAT", isal_zlib.compress(rows, 1)))
    chunks.append(_png_chunk(b"IEND", b""))
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunks)


_DRAWN_STOPWORDS = frozenset(
    ("a", "an", "the", "of", "and", "or", "in", "on", "at", "to", "for", "with", "by", "from",
     "as", "is", "are", "be", "it", "its", "this", "that", "into", "onto", "over", "under")
)  # fmt: skip


def content_words(prompt: str) -> list[str]:
    """The words of ``prompt`` a picture can show (lower case, each once, in order)."""
    words = re.findall(r"[a-z0-9']+", prompt.lower())
    return list(dict.fromkeys(w for w in words if w not in _DRAWN_STOPWORDS))


def word_digest(word: str) -> str:
    """The short digest of one word in the :data:`DRAWN_KEY` marker."""
    return hashlib.sha256(word.encode("utf-8")).hexdigest()[:8]


def drawn_marker(prompt: str) -> str:
    """The :data:`DRAWN_KEY` value of a picture drawn from ``prompt``."""
    return " ".join(word_digest(w) for w in content_words(prompt))


def _exif_drawn(drawn: str | None) -> Image.Exif:
    exif = _exif()
    if drawn is not None:
        exif[0x9286] = f"{DRAWN_KEY}={drawn}"  # UserComment
    return exif


def encode(
    image: Image.Image, fmt: str, *, compression: int | None = None, drawn: str | None = None
) -> bytes:
    """Encode ``image`` as ``fmt`` (png, jpeg, webp, gif) with the simulated marker, and with
    ``drawn`` (:func:`drawn_marker`) as the :data:`DRAWN_KEY` marker when given.

    ``compression`` is the OpenAI ``output_compression`` (0-100, higher = smaller file), used
    for JPEG and WebP.
    """
    buffer = io.BytesIO()
    quality = 100 - compression if compression is not None else 90
    comment = f"{MARKER_KEY}=1" + (f"; {DRAWN_KEY}={drawn}" if drawn is not None else "")
    if fmt == "png":
        text = {MARKER_KEY: "1", "Software": SOFTWARE}
        if drawn is not None:
            text[DRAWN_KEY] = drawn
        return _png(image, text)
    if fmt == "jpeg":
        image.convert("RGB").save(
            buffer,
            "JPEG",
            quality=max(1, quality),
            exif=_exif_drawn(drawn),
            comment=comment.encode(),
        )
    elif fmt == "webp":
        image.save(buffer, "WEBP", quality=max(1, quality), method=0, exif=_exif_drawn(drawn))
    elif fmt == "gif":
        image.convert("RGB").quantize(64).save(buffer, "GIF", comment=comment)
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
    subject: str | None = None,
) -> bytes:
    """Draw ``prompt`` and return the encoded bytes of a ``width`` x ``height`` ``fmt`` image
    (``subject``: the user's prompt when ``prompt`` is a rewrite of it)."""
    if fmt == "svg":
        return _svg(prompt, width, height, variation, subject)
    transparent = transparent and fmt in ("png", "webp")
    image = render_image(
        prompt, width, height, variation=variation, transparent=transparent, jitter=jitter,
        subject=subject,
    )  # fmt: skip
    return encode(image, fmt, compression=compression, drawn=drawn_marker(prompt))
