"""The wavelet hash (``imagehash.whash`` with its defaults), bit for bit, without the wavelets.

imagehash computes whash (J. Buchner, https://github.com/JohannesBuchner/imagehash, after the
Kaggle Avito duplicate-ads solution) as: resize the grayscale image to ``n x n``, the largest
power of two that fits; scale it to ``x = pixels / 255``; take the full Haar decomposition with
``pywt.wavedec2``, zero its coarsest approximation coefficient and rebuild the image with
``pywt.waverec2``; decompose that again, ``K = log2(n / hash_size)`` levels; and set each bit to
"approximation coefficient > median of the approximation coefficients". On a 1024 x 1024 image
that is three passes of a ten-level transform over a million float64 values.

In exact arithmetic the whole chain is a block sum. One 2-D Haar step maps a 2 x 2 block
``a, b, c, d`` to the approximation ``r**2 * (a + b + c + d)`` with pywt's filter coefficient
``r`` (1/sqrt(2) rounded to a double), so the approximation after K steps is ``r**(2K)`` times
the sum over a ``2**K x 2**K`` block; decomposing all ``L = log2(n)`` levels and rebuilding
scales the image by ``(2 r**2)**(2L)``, and zeroing the coarsest coefficient removes exactly the
image mean first. Each coefficient the bits are taken from is therefore
``c * (T_i - m)`` with ``T_i`` the *integer* sum of the resized pixels over block i, ``m`` one
constant and ``c > 0``, and ``coefficient_i > median`` holds exactly when
``T_i > median(T)``. :func:`whash_bits` computes that from integer block sums.

The floating-point chain imagehash runs differs from exact arithmetic by rounding, and rounding
could only change a bit whose coefficient lies within the rounding error of the median.
:func:`_block_sums_decide` bounds that error (see there) and uses the block sums only when every
block sum is at least half a unit from their median, which the bound shows is thousands of
times more than rounding can move a coefficient. When two block sums tie at the median (flat
images, synthetic patterns) rounding decides those bits, so the hash is then computed by
replaying pywt's arithmetic operation for operation (:func:`_whash_bits_by_transform`).
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

__all__ = ["whash_bits"]

# imagehash resizes with LANCZOS (its ANTIALIAS alias); any other filter changes the bits.
_LANCZOS = Image.Resampling.LANCZOS
# The Haar filter coefficient exactly as pywt stores it (1/sqrt(2) rounded to a double).
_HAAR = 0.7071067811865476
# Unit roundoff of float64.
_UNIT_ROUNDOFF = 2.0**-53
# How many times the proven rounding bound must fit in the smallest gap to the median before the
# block sums are trusted. The bound is already a worst case; this covers any slack in it.
_SAFETY = 1000.0


def whash_bits(gray: Image.Image, hash_size: int) -> np.ndarray:
    """``imagehash.whash(gray, hash_size)`` (mode "haar", remove_max_haar_ll) as a bool array.

    ``gray`` is the image already converted to mode "L" (imagehash converts first too);
    ``hash_size`` a power of two. Returns the ``hash_size x hash_size`` bits in imagehash's
    row-major order.
    """
    # The same expressions imagehash uses, so the sizes agree for every image.
    image_scale = max(2 ** int(np.log2(min(gray.size))), hash_size)
    if gray.size != (image_scale, image_scale):
        gray = gray.resize((image_scale, image_scale), _LANCZOS)
    pixels = np.asarray(gray)
    bits = _block_sums_decide(pixels, hash_size)
    if bits is None:
        bits = _whash_bits_by_transform(pixels, hash_size)
    return bits


# --------------------------------------------------------------------------------------------
# The shortcut: integer block sums


def rounding_bound(image_scale: int, hash_size: int) -> float:
    """How far rounding can move a whash coefficient from its exact value, in block-sum units.

    Every 1-D Haar step imagehash's pywt chain takes computes ``r*a + r*b`` (or ``r*a - r*b``)
    with three roundings, so it adds an error of at most ``2 r u (|a| + |b|)`` to each output
    (``u = 2**-53``): at most ``2 sqrt(2) u`` times the 2-norm of its input over the whole array.
    The steps are orthogonal up to ``2 r**2 = 1 + 2e-16``, so earlier errors are carried along
    without growth, and every array in the chain has a 2-norm of at most ``n`` (n**2 values of
    at most 1). With ``1 + 4L + 2K`` steps (the division by 255, L levels down, L back up, K
    down) every coefficient is within ``E = (1 + 4L + 2K) * 3 u n`` of its exact value. The
    exact coefficients are ``c (T_i - m)`` with ``c >= 2**-K / 255``, so in units of the
    integer block sums ``T_i`` the error is at most ``E * 255 * 2**K``; the median of the
    rounded values is also within that distance of the exact median, plus one rounding of the
    halving of the two middle values (``u`` times the largest coefficient, ``255 * 4**K``
    units). Returns the distance a coefficient may move relative to the median: twice the
    first bound plus the second.
    """
    levels = int(math.log2(image_scale))
    down = levels - int(math.log2(hash_size))
    steps = 1 + 4 * levels + 2 * down
    per_value = steps * 3 * _UNIT_ROUNDOFF * image_scale * 255 * 2**down
    largest = 255 * 4**down
    return 2 * per_value * (1 + _UNIT_ROUNDOFF) + _UNIT_ROUNDOFF * (largest + per_value)


def _block_sums_decide(pixels: np.ndarray, hash_size: int) -> np.ndarray | None:
    """The whash bits from integer block sums, or None when rounding could decide a bit.

    ``pixels`` is the resized ``n x n`` uint8 array. The block sums ``T`` are exact integers; no
    ``T_i`` equals their median unless the two middle values tie, and then each ``T_i`` is at
    least 1/2 from it. The bits are trusted only if 1/2 exceeds ``_SAFETY`` times
    :func:`rounding_bound`.
    """
    image_scale = pixels.shape[0]
    block = image_scale // hash_size
    sums = pixels.reshape(hash_size, block, hash_size, block).sum(axis=(1, 3), dtype=np.int64)
    ordered = np.sort(sums, axis=None)
    half = ordered.size // 2  # hash_size is a power of two >= 2, so the count is even
    low, high = int(ordered[half - 1]), int(ordered[half])
    if low == high:
        return None
    if _SAFETY * rounding_bound(image_scale, hash_size) >= 0.5:
        return None  # only for images of tens of thousands of pixels a side
    return 2 * sums > low + high


# --------------------------------------------------------------------------------------------
# The exact replay of pywt, for ties at the median


def _haar_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # One Haar step down axis 0, as pywt computes it: each product rounded, then one add.
    # (pywt multiplies by dec_lo = [r, r] and dec_hi = [-r, r]; (-r)*x is exactly -(r*x).)
    scaled = x * _HAAR
    even, odd = scaled[0::2], scaled[1::2]
    return even + odd, even - odd


def _haar_cols(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scaled = x * _HAAR
    even, odd = scaled[:, 0::2], scaled[:, 1::2]
    return even + odd, even - odd


def _unhaar_rows(a: np.ndarray, d: np.ndarray) -> np.ndarray:
    ra, rd = a * _HAAR, d * _HAAR
    out = np.empty((a.shape[0] * 2, a.shape[1]))
    np.add(ra, rd, out=out[0::2])
    np.subtract(ra, rd, out=out[1::2])
    return out


def _unhaar_cols(a: np.ndarray, d: np.ndarray) -> np.ndarray:
    ra, rd = a * _HAAR, d * _HAAR
    out = np.empty((a.shape[0], a.shape[1] * 2))
    np.add(ra, rd, out=out[:, 0::2])
    np.subtract(ra, rd, out=out[:, 1::2])
    return out


def _haar_dwt2(x: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """One level of ``pywt.dwt2(x, "haar")`` for even-sized x: ``(LL, (HL, LH, HH))``.

    pywt.dwtn transforms axis 0 first, then axis 1, so the same order is kept here.
    """
    lo, hi = _haar_rows(x)
    ll, lh = _haar_cols(lo)
    hl, hh = _haar_cols(hi)
    return ll, (hl, lh, hh)


def _haar_idwt2(ll: np.ndarray, details: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
    """``pywt.idwt2((ll, details), "haar")``; pywt.idwtn undoes axis 1 first, then axis 0."""
    hl, lh, hh = details
    lo = _unhaar_cols(ll, lh)
    hi = _unhaar_cols(hl, hh)
    return _unhaar_rows(lo, hi)


def _whash_bits_by_transform(pixels: np.ndarray, hash_size: int) -> np.ndarray:
    """imagehash's whash steps on the resized pixels, with pywt's floating-point operations.

    Scale to 0..1, take the full Haar decomposition, zero the coarsest approximation,
    reconstruct, then decompose again down to a hash_size x hash_size approximation and compare
    it with its median. Each step rounds exactly as pywt does (checked array for array against
    pywt in tests/test_hashing.py).
    """
    image_scale = pixels.shape[0]
    ll_max_level = int(np.log2(image_scale))
    dwt_level = ll_max_level - int(np.log2(hash_size))
    details = []
    approx = pixels / 255.0
    for _ in range(ll_max_level):
        approx, detail = _haar_dwt2(approx)
        details.append(detail)
    approx = approx * 0  # imagehash's coeffs[0] *= 0 (keeps a -0.0 where pywt would)
    for detail in reversed(details):
        approx = _haar_idwt2(approx, detail)

    # The second decomposition only needs its approximation band, and the approximation of
    # each level depends on the previous approximation alone.
    for _ in range(dwt_level):
        lo, _hi = _haar_rows(approx)
        approx, _lh = _haar_cols(lo)
    return approx > np.median(approx)
