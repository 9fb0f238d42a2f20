"""The colour hash (``imagehash.colorhash``), bit for bit, without converting the image to HSV.

imagehash's colorhash (J. Buchner, https://github.com/JohannesBuchner/imagehash) converts the
image to grayscale and to HSV with Pillow, then counts pixels in 14 bins: black (gray < 32),
gray (saturation < 85), and six hue bins for faint (saturation 85..169) and for bright (171 and
up) colours; a saturation of exactly 170 is counted as colour but in neither hue histogram. The
bits encode each bin's share of the pixels.

Pillow's HSV conversion (``rgb2hsv_row`` in its ``Convert.c``) costs more than the rest of the
hash together: per pixel, four float divisions and an ``fmod``. For RGB images
:func:`colorhash_bits` decides each pixel's bin with integer comparisons on the channels
instead, which give the same bin as Pillow's floating-point hue and saturation for every one of
the 2**24 colours (tests/test_hashing.py checks all of them against the installed Pillow):

* saturation ``floor(255 * float32(spread / max))``, with ``spread = max - min``, is at least 85
  exactly when ``3 * spread >= max``, at least 170 when ``3 * spread >= 2 * max``, and at least
  171 when ``255 * spread >= 171 * max``;
* the hue bins are the six sectors of the colour wheel (which channel is largest and which is
  smallest) except near three sector edges, where the first hue of the odd sector still falls
  in the previous bin: when the largest channel exceeds the middle one by ``u`` with
  ``85 * u < spread``.

Other modes (grayscale, palette, CMYK, 16-bit, ...) are counted from Pillow's own HSV
conversion, as imagehash does.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from PIL import Image

__all__ = [
    "RGB_MODES",
    "colorhash_bits",
    "colorhash_counts",
    "counts_by_comparisons",
    "counts_by_hsv",
]

#: Modes whose first three bands are red, green and blue and whose HSV and grayscale conversions
#: ignore any fourth band (checked in tests/test_hashing.py).
RGB_MODES = ("RGB", "RGBA", "RGBX")

# Pixels are classified this many at a time, so the working arrays stay in the CPU cache.
_CHUNK = 1 << 16

# A pixel's class code, as colorhash_counts returns them: 0-5 faint colour by hue bin, 6-11
# bright colour by hue bin, 12-17 gray, 18-23 saturation exactly 170, 24 black.
_N_CODES = 25
_BLACK = 24


@cache
def _hsv_tables() -> tuple[np.ndarray, np.ndarray]:
    """Lookup tables from Pillow's hue and saturation bytes to a pixel's class code.

    imagehash bins hue with ``numpy.histogram(h, bins=linspace(0, 255, 7))``. Asking histogram
    itself where each of the 256 possible byte values falls gives a table that reproduces it
    exactly, edges included (its last bin is closed on the right).

    Saturation picks the class, with imagehash's thresholds: below 85 gray (code 12), 85..169
    faint colour (0..5 by hue), 171 and up bright colour (6..11), exactly 170 colour that
    imagehash counts in the colour total but in neither hue histogram (18). Black pixels are set
    to 24 afterwards, from the grayscale intensity.
    """
    edges = np.linspace(0, 255, 6 + 1)
    hue_bin = np.empty(256, dtype=np.uint8)
    for value in range(256):
        counts, _ = np.histogram(np.array([value], dtype=np.uint8), bins=edges)
        hue_bin[value] = int(np.argmax(counts))
    sat = np.arange(256)
    offset = np.select(
        [sat < 256 // 3, sat < 256 * 2 // 3, sat == 256 * 2 // 3], [12, 0, 18], default=6
    ).astype(np.uint8)
    return hue_bin, offset


@cache
def _code_of_key() -> np.ndarray:
    """The class code of each 7-bit key :func:`_rgb_keys` writes.

    Key bits: 0-2 the channel order ``4*(r >= g) + 2*(g >= b) + (b >= r)``; 3 "near the start
    of an odd sector"; 4-5 the saturation level (0 below 85, 1 up to 169, 2 at 170, 3 above);
    6 black. The channel order gives the sector: r >= g >= b is 0, g > r > b 1, g >= b >= r 2,
    b > g > r 3, b >= r >= g 4, r > b > g 5 (ties resolved as Pillow resolves them: red is
    the largest channel when it equals the largest, then green); in sectors 1, 3 and 5 the near
    bit moves the pixel to the previous hue bin.
    """
    sector = {0b110: 0, 0b111: 0, 0b010: 1, 0b011: 2, 0b001: 3, 0b101: 4, 0b100: 5, 0b000: 0}
    level_offset = (12, 0, 18, 6)  # gray, faint, exactly 170, bright
    codes = np.zeros(128, dtype=np.intp)
    for key in range(128):
        order, near, level, black = key & 7, (key >> 3) & 1, (key >> 4) & 3, key >> 6
        hue_bin = sector[order]
        if near and order in (0b010, 0b001, 0b100):
            hue_bin -= 1
        codes[key] = _BLACK if black else level_offset[level] + hue_bin
    return codes


def _rgb_keys(red: np.ndarray, green: np.ndarray, blue: np.ndarray, gray: np.ndarray) -> np.ndarray:
    """Each pixel's 7-bit class key (see :func:`_code_of_key`), a flat uint8 array.

    The inputs are flat uint8 arrays of one length. Works through them in chunks with a few
    reused buffers: each step is one numpy pass, mostly on uint8, and the uint8 arithmetic is
    allowed to wrap where the comment says why the wrapped value is not used.
    """
    n = red.size
    keys = np.empty(n, dtype=np.uint8)
    size = min(_CHUNK, n)
    top, bottom, spread, work, bit = (np.empty(size, dtype=np.uint8) for _ in range(5))
    flag = np.empty(size, dtype=bool)
    flag_u8 = flag.view(np.uint8)
    top16, bottom16, left16, right16 = (np.empty(size, dtype=np.uint16) for _ in range(4))
    for start in range(0, n, _CHUNK):
        stop = min(n, start + _CHUNK)
        if stop - start != size:
            size = stop - start
            top, bottom, spread, work, bit, flag, top16, bottom16, left16, right16 = (
                a[:size]
                for a in (top, bottom, spread, work, bit, flag, top16, bottom16, left16, right16)
            )
            flag_u8 = flag.view(np.uint8)
        r, g, b, out = red[start:stop], green[start:stop], blue[start:stop], keys[start:stop]
        np.maximum(r, g, out=top)
        np.maximum(top, b, out=top)
        np.minimum(r, g, out=bottom)
        np.minimum(bottom, b, out=bottom)
        np.subtract(top, bottom, out=spread)

        # Channel order, bits 0-2.
        np.greater_equal(r, g, out=flag)
        np.multiply(flag_u8, 4, out=out)
        np.greater_equal(g, b, out=flag)
        np.multiply(flag_u8, 2, out=bit)
        out |= bit
        np.greater_equal(b, r, out=flag)
        out |= flag_u8

        # Near the start of an odd sector, bit 3: 85 * (top - middle) < spread. The middle
        # channel is r + g + b - top - bottom, exact modulo 256 and so exact, as it is a byte.
        np.add(r, g, out=work)
        work += b
        work -= top
        work -= bottom
        np.subtract(top, work, out=work)  # top - middle
        np.less_equal(work, 2, out=flag)  # 85 * 3 = 255 >= spread: only 0..2 can qualify
        np.multiply(work, 85, out=work)  # wraps above 3, where flag is already False
        np.copyto(bit, flag_u8)
        np.less(work, spread, out=flag)
        bit &= flag_u8
        bit *= 8
        out |= bit

        # Saturation level, bits 4-5: the number of the three thresholds reached.
        np.copyto(top16, top)
        np.copyto(bottom16, bottom)
        np.subtract(top16, bottom16, out=left16)
        left16 *= 3  # 3 * spread
        np.greater_equal(left16, top16, out=flag)
        np.copyto(bit, flag_u8)
        np.add(top16, top16, out=right16)
        np.greater_equal(left16, right16, out=flag)
        bit += flag_u8
        # 255 * spread >= 171 * top  <=>  84 * top >= 255 * bottom  <=>  28 * top >= 85 * bottom
        np.multiply(top16, 28, out=left16)
        np.multiply(bottom16, 85, out=right16)
        np.greater_equal(left16, right16, out=flag)
        bit += flag_u8
        bit *= 16
        out |= bit

        # Black, bit 6, from Pillow's own grayscale conversion (as imagehash does).
        np.less(gray[start:stop], 256 // 8, out=flag)
        bit[...] = flag_u8
        bit *= 64
        out |= bit
    return keys


def colorhash_counts(image: Image.Image, gray: Image.Image) -> np.ndarray:
    """How many pixels of ``image`` fall in each of the 25 class codes (see ``_N_CODES``).

    ``gray`` is ``image.convert("L")``. For RGB images the classes come from integer
    comparisons on the channels (:func:`counts_by_comparisons`); for other modes from Pillow's
    HSV conversion (:func:`counts_by_hsv`). Both give imagehash's counts exactly.
    """
    if image.mode in RGB_MODES:
        return counts_by_comparisons(image, gray)
    return counts_by_hsv(image, gray)


def counts_by_comparisons(image: Image.Image, gray: Image.Image) -> np.ndarray:
    """:func:`colorhash_counts` of an image in one of :data:`RGB_MODES`, without HSV."""
    # One contiguous array per channel: numpy's passes are several times faster on those than
    # on the interleaved pixels.
    red, green, blue = (np.asarray(image.getchannel(band)).reshape(-1) for band in "RGB")
    keys = _rgb_keys(red, green, blue, np.asarray(gray).reshape(-1))
    # Pillow counts the 256 byte values in one C pass, several times faster than bincount.
    per_key = Image.frombuffer("L", image.size, keys, "raw", "L", 0, 1).histogram()[:128]
    counts = np.zeros(_N_CODES, dtype=np.int64)
    np.add.at(counts, _code_of_key(), np.asarray(per_key, dtype=np.int64))
    return counts


def counts_by_hsv(image: Image.Image, gray: Image.Image) -> np.ndarray:
    """:func:`colorhash_counts` from Pillow's HSV conversion of ``image``, as imagehash bins it.

    Instead of masks and two histograms over masked copies, each pixel gets one class code (see
    :func:`_hsv_tables`) and a single bincount gives every count imagehash needs.
    """
    hue_bin, sat_offset = _hsv_tables()
    hsv = np.asarray(image.convert("HSV"))
    codes = np.take(hue_bin, hsv[..., 0])
    codes += np.take(sat_offset, hsv[..., 1])
    codes = codes.reshape(-1)
    codes[np.asarray(gray).reshape(-1) < 256 // 8] = _BLACK
    return np.bincount(codes, minlength=_N_CODES)


def colorhash_bits(image: Image.Image, gray: Image.Image, binbits: int) -> np.ndarray:
    """``imagehash.colorhash(image, binbits)`` as a bool array, sharing the grayscale image.

    The counts are integers, so they are identical to imagehash's masks and histograms; the
    fractions are then formed with the same expressions as imagehash so the floats round the
    same way.
    """
    counts = colorhash_counts(image, gray)
    n_pixels = int(counts.sum())
    frac_black = np.float64(counts[_BLACK]) / n_pixels  # == mask_black.mean()
    frac_gray = np.float64(counts[12:18].sum()) / n_pixels
    c = max(1, int(counts[0:12].sum() + counts[18:24].sum()))
    maxvalue = 2**binbits
    values = [
        min(maxvalue - 1, int(frac_black * maxvalue)),
        min(maxvalue - 1, int(frac_gray * maxvalue)),
    ]
    for count in list(counts[0:6]) + list(counts[6:12]):
        values.append(min(maxvalue - 1, int(count * maxvalue * 1.0 / c)))
    bits = []
    for v in values:
        # imagehash's own bit layout (not plain binary), kept as is for parity.
        bits += [v // (2 ** (binbits - i - 1)) % 2 ** (binbits - i) > 0 for i in range(binbits)]
    return np.asarray(bits)
