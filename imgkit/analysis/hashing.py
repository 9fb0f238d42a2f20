"""Perceptual hashes of images and Hamming distances between them.

:func:`hash_images` returns the same hex strings as the ``imagehash`` package (J. Buchner,
https://github.com/JohannesBuchner/imagehash) for its five hashes: ``average_hash`` (aHash,
hackerfactor.com "Looks Like It"), ``phash`` (DCT hash, same source), ``dhash`` (difference hash,
hackerfactor.com "Kind of Like That"), ``whash`` (Haar wavelet hash) and ``colorhash`` (HSV bin
fractions). It is faster than calling those five functions one after another because

* each image is decoded once and converted to grayscale once, and every kind asked for is
  computed from that one decode;
* ``average_hash``, ``phash`` and ``dhash`` are handed an image already reduced to their working
  size, which they pass through unchanged (Pillow's ``convert("L")`` of an "L" image and
  ``resize`` to the same size are plain copies), so the result is theirs bit for bit;
* ``whash`` comes from integer block sums of the resized image instead of three multi-level
  Haar transforms: in exact arithmetic its coefficients are scaled block sums, and a proven
  bound on pywt's rounding decides when that settles every bit; otherwise (block sums tied at
  the median) pywt's floating-point steps are replayed in numpy (:mod:`imgkit.analysis.whash`);
* ``colorhash`` of an RGB image classifies each pixel with integer comparisons that give the
  same bins as Pillow's HSV conversion for every one of the 2**24 colours, instead of
  converting to HSV (:mod:`imgkit.analysis.colorhash`);
* several images are hashed at once on a pool of threads (or processes, on request).

Distances are counted on packed 64-bit words with XOR and popcount (:func:`distance_matrix`,
:func:`cross_distances`), never with a Python double loop.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any

import imagehash
import numpy as np
import pandas as pd
from PIL import Image

from imgkit.analysis.colorhash import colorhash_bits
from imgkit.analysis.whash import whash_bits
from imgkit.errors import ValidationError, check_argument
from imgkit.features.decoding import ImageInput, open_image

__all__ = [
    "KINDS",
    "bits_from_hex",
    "colorhash_binbits",
    "cross_distances",
    "distance_matrix",
    "hamming",
    "hash_bits",
    "hash_images",
    "hash_one",
    "pair_distance_counts",
    "unrelated_distance",
]

#: The hash kinds :func:`hash_images` computes, named as the columns it returns.
KINDS: tuple[str, ...] = ("ahash", "phash", "dhash", "whash", "colorhash")


# imagehash resizes with LANCZOS (its ANTIALIAS alias); any other filter changes the bits.
_LANCZOS = Image.Resampling.LANCZOS
# Fewer images than this are hashed in-process: a pool costs more to start than it saves.
_POOL_MIN_IMAGES = 4


# --------------------------------------------------------------------------------------------
# Sizes and baselines


def colorhash_binbits(hash_size: int) -> int:
    """Return the ``binbits`` used for colorhash at a given ``hash_size``.

    The mapping is ``max(1, floor(log2(hash_size)))``: 3 at the default hash_size of 8 (which is
    imagehash's own default), 4 at 16, 2 at 4. It grows slowly because colorhash has 14 bins
    whatever the size, and each extra bit halves a bin's resolution step.
    """
    _check_hash_size(hash_size)
    return max(1, math.floor(math.log2(hash_size)))


def hash_bits(kind: str, hash_size: int = 8, binbits: int | None = None) -> int:
    """Return the number of bits in a hash of ``kind``.

    ``hash_size**2`` for ahash, phash, dhash and whash; ``14 * binbits`` for colorhash (its 14
    bins, see imagehash.colorhash). Raises :class:`ValidationError` for an unknown kind.
    """
    check_argument("kind", kind, KINDS)
    if kind == "colorhash":
        return 14 * (binbits if binbits is not None else colorhash_binbits(hash_size))
    return hash_size * hash_size


def bits_from_hex(kind: str, hex_length: int) -> int:
    """Return how many bits a hash of ``kind`` has, given the length of its hex string.

    Hex strings round up to whole digits (a 42-bit colorhash takes 11 digits), so the bit count
    is found from the hash's shape: ``hash_size**2`` bits, or ``14 * binbits`` for colorhash.
    Raises :class:`ValidationError` when no size gives that length.
    """
    check_argument("kind", kind, KINDS)
    first = 1 if kind == "colorhash" else 2  # binbits may be 1; hash_size starts at 2
    for size in range(first, 4 * hex_length + 2):
        bits = 14 * size if kind == "colorhash" else size * size
        if math.ceil(bits / 4) == hex_length:
            return bits
        if math.ceil(bits / 4) > hex_length:
            break
    raise ValidationError("hex_length", hex_length, f"the length of a {kind} hex string")


def unrelated_distance(bits: int) -> float:
    """Expected Hamming distance between the hashes of two unrelated images: ``bits / 2``.

    This is the random baseline: if each bit of two hashes is an independent fair coin, each bit
    differs with probability 1/2. Real hashes of unrelated photographs come close for ahash,
    phash, dhash and whash (31-32 of 64 bits); colorhash's are far closer (about 6 of 42),
    which is why :mod:`imgkit.analysis.consistency` scales similarities by distances
    calibrated on real photographs (:mod:`imgkit.analysis.reference`), and falls back to this
    only for a hash size the calibration does not cover.
    """
    if not isinstance(bits, int | np.integer) or bits < 1:
        raise ValidationError("bits", bits, "a positive integer")
    return bits / 2


# --------------------------------------------------------------------------------------------
# Hashing one image


def _check_hash_size(hash_size: int) -> None:
    if not isinstance(hash_size, int | np.integer) or isinstance(hash_size, bool) or hash_size < 2:
        raise ValidationError("hash_size", hash_size, "an integer >= 2")


def _check_kinds(kinds: Iterable[str], hash_size: int) -> tuple[str, ...]:
    if isinstance(kinds, str):
        kinds = (kinds,)
    kinds = tuple(kinds)
    if not kinds:
        raise ValidationError("kinds", kinds, KINDS, detail="at least one kind is needed")
    for kind in kinds:
        check_argument("kinds", kind, KINDS)
    if len(set(kinds)) != len(kinds):
        raise ValidationError("kinds", kinds, "each kind at most once")
    _check_hash_size(hash_size)
    if "whash" in kinds and hash_size & (hash_size - 1):
        raise ValidationError(
            "hash_size", hash_size, "a power of 2 (2, 4, 8, 16, ...)", detail="whash needs it"
        )
    return kinds


def _bits_to_hex(bits: np.ndarray) -> str:
    # Same encoding as imagehash's _binary_array_to_hex: the bits read as one big-endian integer,
    # written in hex padded to ceil(n/4) digits (so 42 colorhash bits give 11 digits).
    flat = np.asarray(bits, dtype=bool).ravel()
    value = int("".join("1" if b else "0" for b in flat), 2)
    return f"{value:0{math.ceil(flat.size / 4)}x}"


def hash_one(
    image: ImageInput,
    kinds: Sequence[str] = KINDS,
    hash_size: int = 8,
    *,
    binbits: int | None = None,
) -> dict[str, str]:
    """Hash one image; return ``{"source": ..., kind: hex, ...}``.

    Each hex string equals ``str(imagehash.<function>(image, ...))`` for the matching function
    (``ahash`` is ``average_hash``; colorhash uses ``binbits``, by default
    :func:`colorhash_binbits`). Raises :class:`ValidationError` for a bad kind or size or an
    unreadable image.
    """
    kinds = _check_kinds(kinds, hash_size)
    binbits = colorhash_binbits(hash_size) if binbits is None else binbits
    if "colorhash" in kinds and (not isinstance(binbits, int) or binbits < 1):
        raise ValidationError("binbits", binbits, "an integer >= 1")
    return _hash_item((image, 0, kinds, hash_size, binbits))


def _hash_item(job: tuple[Any, int, tuple[str, ...], int, int]) -> dict[str, str]:
    item, index, kinds, hash_size, binbits = job
    source, image = open_image(item, index)
    gray = image.convert("L")  # the one grayscale conversion every kind shares
    row = {"source": source}
    for kind in kinds:
        if kind == "ahash":
            small = gray.resize((hash_size, hash_size), _LANCZOS)
            row[kind] = str(imagehash.average_hash(small, hash_size))
        elif kind == "phash":
            small = gray.resize((hash_size * 4, hash_size * 4), _LANCZOS)
            row[kind] = str(imagehash.phash(small, hash_size))
        elif kind == "dhash":
            small = gray.resize((hash_size + 1, hash_size), _LANCZOS)
            row[kind] = str(imagehash.dhash(small, hash_size))
        elif kind == "whash":
            row[kind] = _bits_to_hex(whash_bits(gray, hash_size))
        else:
            row[kind] = _bits_to_hex(colorhash_bits(image, gray, binbits))
    return row


def hash_images(
    images: Iterable[ImageInput],
    kinds: Sequence[str] = KINDS,
    hash_size: int = 8,
    workers: int | None = None,
    *,
    binbits: int | None = None,
    executor: str = "thread",
) -> pd.DataFrame:
    """Hash many images; return one row per image, in input order.

    Columns: ``source`` (the path as given; ``bytes[i]:sha256=...`` for bytes; the file name or
    ``image[i]`` for a PIL image), then one hex column per kind in ``kinds``. Each hex string is
    bit for bit what imagehash's ``average_hash``, ``phash``, ``dhash``, ``whash`` or
    ``colorhash`` returns for that image with this ``hash_size`` (colorhash with ``binbits``,
    by default :func:`colorhash_binbits` of hash_size). ``frame.attrs`` records hash_size and
    binbits.

    ``workers``: how many images are hashed at once; None picks one per core when there are at
    least four images, else hashes them one by one; 1 never starts a pool. ``executor``:
    ``"thread"`` (default) or ``"process"``. Threads can overlap images on idle cores because
    Pillow's decode, convert and resize and numpy's whole-array operations release the GIL, and
    they need no pickling or process start-up; on the busy 2-core machine this was measured on,
    no pool beat one worker, which hashes 3.1-3.5x as fast as imagehash's five functions
    called one after another (``benchmarks/bench_hashing.py --pools``).

    Raises :class:`ValidationError` for an unknown kind, a hash_size below 2 (or not a power
    of 2 with whash), or an image that is missing or cannot be decoded.
    """
    kinds = _check_kinds(kinds, hash_size)
    binbits = colorhash_binbits(hash_size) if binbits is None else binbits
    if "colorhash" in kinds and (not isinstance(binbits, int) or binbits < 1):
        raise ValidationError("binbits", binbits, "an integer >= 1")
    if isinstance(images, str | bytes | os.PathLike | Image.Image):
        images = [images]  # a lone path would otherwise be iterated character by character
    items = list(images)
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise ValidationError("workers", workers, "None or an integer >= 1")
    check_argument("executor", executor, ("thread", "process"))
    if workers is None:
        workers = min(os.cpu_count() or 1, len(items)) if len(items) >= _POOL_MIN_IMAGES else 1
    jobs = [(item, i, kinds, hash_size, binbits) for i, item in enumerate(items)]

    if workers <= 1 or len(items) <= 1:
        rows = [_hash_item(job) for job in jobs]
    else:
        pool_class = ThreadPoolExecutor if executor == "thread" else ProcessPoolExecutor
        # Small chunks keep both workers busy to the end; with processes they also bound how
        # much image data is pickled at once.
        chunksize = 1 if executor == "thread" else max(1, len(jobs) // (workers * 4))
        with pool_class(max_workers=workers) as pool:
            rows = list(pool.map(_hash_item, jobs, chunksize=chunksize))

    frame = pd.DataFrame(rows, columns=["source", *kinds])
    frame.attrs.update(hash_size=hash_size, binbits=binbits)
    return frame


# --------------------------------------------------------------------------------------------
# Distances


def _pack(hex_hashes: Iterable[str], param: str) -> tuple[np.ndarray, int]:
    """Pack hex strings into an ``(n, words)`` uint64 array (most significant word first).

    Returns the array and the common hex length (0 when there are no hashes).
    """
    hashes = [hex_hashes] if isinstance(hex_hashes, str) else list(hex_hashes)
    if not hashes:
        return np.zeros((0, 1), dtype=np.uint64), 0
    for h in hashes:
        if not isinstance(h, str) or not h:
            raise ValidationError(param, h, "non-empty hex strings")
    lengths = {len(h) for h in hashes}
    if len(lengths) != 1:
        raise ValidationError(
            param, sorted(lengths), "hex strings of one length", detail="mixed hash sizes"
        )
    width = lengths.pop()
    words = math.ceil(width / 16)
    padded = "".join(h.rjust(words * 16, "0") for h in hashes)
    try:
        raw = bytes.fromhex(padded)
    except ValueError:
        bad = next((h for h in hashes if not _is_hex(h)), hashes[0])
        raise ValidationError(param, bad, "hex strings (0-9, a-f)") from None
    packed = np.frombuffer(raw, dtype=">u8").astype(np.uint64).reshape(len(hashes), words)
    return packed, width


def _is_hex(text: str) -> bool:
    try:
        bytes.fromhex(text.rjust(len(text) + len(text) % 2, "0"))
    except ValueError:
        return False
    return True


if hasattr(np, "bitwise_count"):  # numpy >= 2.0

    def _popcount(words: np.ndarray) -> np.ndarray:
        return np.bitwise_count(words)

else:  # pragma: no cover - numpy 1.x
    _BYTE_POPCOUNT = np.array([i.bit_count() for i in range(256)], dtype=np.uint8)

    def _popcount(words: np.ndarray) -> np.ndarray:
        as_bytes = words.view(np.uint8).reshape(*words.shape, 8)
        return _BYTE_POPCOUNT[as_bytes].sum(axis=-1, dtype=np.uint8)


def _distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    n_words = a.shape[1]
    dtype = np.int16 if n_words * 64 < 2**15 else np.int32
    out = np.empty((a.shape[0], b.shape[0]), dtype=dtype)
    # Row blocks keep the XOR temporary near 32 MB whatever the number of hashes.
    block = max(1, (4 * 2**20) // max(1, b.shape[0] * n_words))
    for start in range(0, a.shape[0], block):
        xor = a[start : start + block, None, :] ^ b[None, :, :]
        counts = _popcount(xor)
        if n_words == 1:
            out[start : start + block] = counts[:, :, 0]
        else:
            out[start : start + block] = counts.sum(axis=2, dtype=dtype)
    return out


def distance_matrix(hex_hashes: Iterable[str]) -> np.ndarray:
    """Return the symmetric matrix of Hamming distances between every pair of hashes.

    ``hex_hashes`` are hex strings of one length, as :func:`hash_images` writes them. The result
    is an ``(n, n)`` integer array (int16 up to 32,767 bits) with zeros on the diagonal; entry
    ``[i, j]`` equals ``imagehash.hex_to_hash(h_i) - imagehash.hex_to_hash(h_j)``. Counted with
    XOR and popcount on 64-bit words. Raises :class:`ValidationError` for non-hex strings or
    mixed lengths.
    """
    packed, _width = _pack(hex_hashes, "hex_hashes")
    return _distances(packed, packed)


def cross_distances(hashes_a: Iterable[str], hashes_b: Iterable[str]) -> np.ndarray:
    """Return the ``(len(a), len(b))`` Hamming distances between two sets of hashes.

    Both sets must hold hex strings of one common length; raises :class:`ValidationError`
    otherwise.
    """
    a, width_a = _pack(hashes_a, "hashes_a")
    b, width_b = _pack(hashes_b, "hashes_b")
    if width_a and width_b and width_a != width_b:
        raise ValidationError("hashes_b", f"hex length {width_b}", f"hex length {width_a}")
    if not width_a or not width_b:
        return np.zeros((a.shape[0] if width_a else 0, b.shape[0] if width_b else 0), np.int16)
    return _distances(a, b)


def pair_distance_counts(hex_hashes: Iterable[str], bits: int) -> np.ndarray:
    """Return how many pairs of the hashes lie at each distance: ``counts[d]``, d = 0..bits.

    Every unordered pair of distinct positions is counted once. Worked through in row blocks,
    so memory stays bounded whatever the number of hashes (time is still one popcount per
    pair). Raises :class:`ValidationError` for non-hex strings or mixed lengths.
    """
    packed, _width = _pack(hex_hashes, "hex_hashes")
    n = packed.shape[0]
    counts = np.zeros(bits + 1, dtype=np.int64)
    block = max(1, (2 * 2**20) // max(1, n))
    for start in range(0, max(0, n - 1), block):
        stop = min(n, start + block)
        distances = _distances(packed[start:stop], packed[start + 1 :])
        # Row i of the block holds distances to rows start+1.. : keep only j > i.
        rows = np.arange(start, stop)[:, None]
        columns = np.arange(start + 1, n)[None, :]
        values = distances[columns > rows]
        counts += np.bincount(values.astype(np.int64), minlength=bits + 1)[: bits + 1]
    return counts


def hamming(hash_a: str, hash_b: str) -> int:
    """Return the Hamming distance between two hex hashes of the same length."""
    return int(cross_distances([hash_a], [hash_b])[0, 0])
