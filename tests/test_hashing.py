"""imgkit.analysis.hashing: goldens, bit-for-bit parity with imagehash, photo properties,
distances."""

from __future__ import annotations

import io
import itertools
import json
from fractions import Fraction

import imagehash
import numpy as np
import pytest
import pywt
from PIL import Image

from imgkit.analysis import colorhash, whash
from imgkit.analysis.hashing import (
    KINDS,
    bits_from_hex,
    colorhash_binbits,
    cross_distances,
    distance_matrix,
    hamming,
    hash_bits,
    hash_images,
    hash_one,
    unrelated_distance,
)
from imgkit.errors import ValidationError

try:
    from analysis_fixtures import HASHING_DATA, PERTURBATIONS, PHOTOS, photo, random_hashes
except ImportError:  # tests/ imported as a package
    from tests.analysis_fixtures import HASHING_DATA, PERTURBATIONS, PHOTOS, photo, random_hashes

GOLDEN = json.loads((HASHING_DATA / "golden.json").read_text())
COMMITTED = sorted(GOLDEN)


def reference(image: Image.Image, hash_size: int = 8, kinds=KINDS) -> dict[str, str]:
    """What imagehash itself returns, one function after another."""
    functions = {
        "ahash": lambda: imagehash.average_hash(image, hash_size),
        "phash": lambda: imagehash.phash(image, hash_size),
        "dhash": lambda: imagehash.dhash(image, hash_size),
        "whash": lambda: imagehash.whash(image, hash_size),
        "colorhash": lambda: imagehash.colorhash(image, binbits=colorhash_binbits(hash_size)),
    }
    return {kind: str(functions[kind]()) for kind in kinds}


# ---------------------------------------------------------------------------------------------
# Goldens


@pytest.mark.parametrize("name", COMMITTED)
@pytest.mark.parametrize("size", ["8", "16"])
def test_goldens_hold_for_imgkit(name, size):
    frame = hash_images([HASHING_DATA / name], hash_size=int(size), workers=1)
    assert frame.loc[0, list(KINDS)].to_dict() == GOLDEN[name][size]


@pytest.mark.parametrize("name", COMMITTED)
def test_goldens_hold_for_installed_imagehash(name):
    # Guards the goldens themselves: if an imagehash or Pillow upgrade changed the reference,
    # this fails and says so, rather than the parity tests silently following it.
    with Image.open(HASHING_DATA / name) as image:
        image.load()
        assert reference(image, 8) == GOLDEN[name]["8"]


def test_golden_hex_lengths():
    hashes = GOLDEN["shapes_rgb.png"]
    assert {k: len(v) for k, v in hashes["8"].items()} == {
        "ahash": 16,
        "phash": 16,
        "dhash": 16,
        "whash": 16,
        "colorhash": 11,  # 14 bins x 3 bits = 42 bits
    }
    assert len(hashes["16"]["phash"]) == 64


# ---------------------------------------------------------------------------------------------
# Parity with imagehash


def _bundled_photos() -> list[str]:
    return [
        "astronaut",
        "coffee",
        "chelsea",
        "rocket",
        "camera",
        "coins",
        "immunohistochemistry",
        "hubble_deep_field",
        "logo",  # RGBA
        "horse",  # boolean, mode "1"
        "colorwheel",
        "page",
        "text",
        "moon",
        "clock",
    ]


@pytest.mark.parametrize("name", _bundled_photos())
def test_parity_with_imagehash_on_photos(name):
    image = photo(name)
    assert hash_one(image) == {"source": "image[0]", **reference(image)}


@pytest.mark.parametrize("size", [2, 4, 16, 32])
def test_parity_at_other_hash_sizes(size):
    image = photo("chelsea")
    row = hash_one(image, hash_size=size)
    assert {k: row[k] for k in KINDS} == reference(image, size)


def test_parity_for_a_hash_size_that_is_not_a_power_of_two():
    image = photo("coffee")
    kinds = ("ahash", "phash", "dhash", "colorhash")
    row = hash_one(image, kinds=kinds, hash_size=6)
    assert {k: row[k] for k in kinds} == reference(image, 6, kinds)


def _synthetic_images():
    rng = np.random.default_rng(7)
    rgb = rng.integers(0, 256, (90, 130, 3), dtype=np.uint8)
    yield "rgb noise", Image.fromarray(rgb)
    yield "flat gray", Image.new("L", (64, 64), 128)  # every value ties with the median
    yield "flat black", Image.new("RGB", (40, 70), (0, 0, 0))
    yield (
        "two halves",
        Image.fromarray(np.repeat([[0] * 32 + [255] * 32], 64, axis=0).astype(np.uint8)),
    )
    yield "palette", Image.fromarray(rgb).quantize(16)
    yield "LA", Image.fromarray(rgb).convert("LA")
    yield "CMYK", Image.fromarray(rgb).convert("CMYK")
    yield "16-bit", Image.fromarray((rng.integers(0, 65535, (50, 60))).astype(np.uint16))
    yield "tiny", Image.fromarray(rgb[:5, :7])
    yield "wide", Image.fromarray(rng.integers(0, 256, (20, 300, 3), dtype=np.uint8))
    # Every hue and saturation edge imagehash's colorhash bins on (s = 85, 170; hue 42/43, ...),
    # with runs of each colour so that the bin fractions land on exact multiples.
    levels = np.arange(0, 256, 5, dtype=np.uint8)
    cube = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), axis=-1).reshape(-1, 3)
    yield "colour cube", Image.fromarray(cube.reshape(-1, 52 * 2, 3)[: 52 * 26])
    edges = np.array([[255, 85, 85], [255, 170, 170], [85, 0, 0], [255, 255, 85]], np.uint8)
    yield "saturation edges", Image.fromarray(np.repeat(edges, 16, axis=0).reshape(8, 8, 3))


@pytest.mark.parametrize(("label", "image"), list(_synthetic_images()), ids=lambda v: str(v)[:20])
def test_parity_with_imagehash_on_synthetic_images(label, image):
    assert {k: v for k, v in hash_one(image).items() if k != "source"} == reference(image)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF"])
def test_parity_for_encoded_bytes(fmt):
    image = photo("rocket").resize((160, 107))
    buffer = io.BytesIO()
    (image if fmt != "GIF" else image.quantize(64)).save(buffer, fmt)
    data = buffer.getvalue()
    row = hash_images([data], workers=1).iloc[0]
    decoded = Image.open(io.BytesIO(data))
    decoded.load()
    assert row[list(KINDS)].to_dict() == reference(decoded)
    assert row["source"].startswith("bytes[0]:sha256=")


def test_paths_bytes_and_images_give_the_same_hashes(tmp_path):
    image = photo("astronaut").resize((100, 100))
    path = tmp_path / "a.png"
    image.save(path)
    frame = hash_images([path, str(path), path.read_bytes(), Image.open(path)], workers=1)
    assert frame[list(KINDS)].nunique().tolist() == [1] * len(KINDS)
    assert frame["source"].iloc[0] == str(path)


@pytest.mark.parametrize("executor", ["thread", "process"])
def test_pools_give_the_same_rows_in_order(tmp_path, executor):
    paths = []
    for i, name in enumerate(PHOTOS * 2):
        path = tmp_path / f"{i}.png"
        photo(name).resize((64 + i, 64)).save(path)
        paths.append(path)
    alone = hash_images(paths, workers=1)
    pooled = hash_images(paths, workers=2, executor=executor)
    assert pooled.equals(alone)
    assert pooled["source"].tolist() == [str(p) for p in paths]


def test_frame_shape_and_attrs():
    frame = hash_images([photo("coffee")], kinds=("phash", "colorhash"), hash_size=16)
    assert frame.columns.tolist() == ["source", "phash", "colorhash"]
    assert frame.attrs == {"hash_size": 16, "binbits": 4}
    assert len(frame.loc[0, "colorhash"]) == 14  # 14 x 4 bits = 56 bits


def test_custom_binbits_matches_imagehash():
    image = photo("colorwheel")
    row = hash_one(image, kinds=("colorhash",), binbits=5)
    assert row["colorhash"] == str(imagehash.colorhash(image, binbits=5))


# ---------------------------------------------------------------------------------------------
# The Haar transform matches pywt array for array (not just in the final bits)


@pytest.mark.parametrize("shape", [(2, 2), (8, 4), (64, 64), (32, 128)])
def test_haar_steps_equal_pywt_exactly(shape):
    rng = np.random.default_rng(shape[0] * 1000 + shape[1])
    x = rng.integers(0, 256, shape) / 255.0
    ll, (hl, lh, hh) = pywt.dwt2(x, "haar")
    mine = whash._haar_dwt2(x)
    assert all(
        np.array_equal(a, b) for a, b in zip((ll, hl, lh, hh), (mine[0], *mine[1]), strict=True)
    )
    assert np.array_equal(pywt.idwt2((ll, (hl, lh, hh)), "haar"), whash._haar_idwt2(*mine))


def test_whash_reconstruction_equals_pywt_exactly():
    x = np.asarray(photo("camera").resize((256, 256))) / 255.0
    coeffs = list(pywt.wavedec2(x, "haar", level=8))
    coeffs[0] *= 0
    expected = pywt.waverec2(coeffs, "haar")
    approx, details = x, []
    for _ in range(8):
        approx, detail = whash._haar_dwt2(approx)
        details.append(detail)
    approx = approx * 0
    for detail in reversed(details):
        approx = whash._haar_idwt2(approx, detail)
    assert np.array_equal(approx, expected)


# ---------------------------------------------------------------------------------------------
# whash from integer block sums: the model, its rounding bound, ties, and odd images


def test_pywt_haar_filters_are_what_the_block_sum_model_assumes():
    r = whash._HAAR
    assert [list(f) for f in pywt.Wavelet("haar").filter_bank] == [
        [r, r],
        [-r, r],
        [r, r],
        [r, -r],
    ]


@pytest.mark.parametrize(("side", "hash_size"), [(256, 8), (64, 16), (32, 2)])
def test_pywt_coefficients_are_scaled_block_sums_within_the_rounding_bound(side, hash_size):
    # The derivation in imgkit.analysis.whash, checked in exact rational arithmetic: the
    # coefficients imagehash takes its bits from equal c * (T_i - m) up to rounding, and the
    # rounding stays inside the bound the shortcut relies on.
    gray = photo("camera").convert("L").resize((side, side), Image.Resampling.LANCZOS)
    pixels = np.asarray(gray)
    levels, down = int(np.log2(side)), int(np.log2(side // hash_size))
    coeffs = list(pywt.wavedec2(pixels / 255.0, "haar", level=levels))
    coeffs[0] *= 0
    approx = pywt.wavedec2(pywt.waverec2(coeffs, "haar"), "haar", level=down)[0]
    block = side // hash_size
    sums = pixels.reshape(hash_size, block, hash_size, block).sum(axis=(1, 3), dtype=np.int64)
    r = Fraction(whash._HAAR)
    scale = (2 * r * r) ** (2 * levels) * (r * r) ** down / 255
    mean_share = Fraction(int(pixels.sum()) * block * block, side * side)
    worst = max(
        abs(Fraction(float(value)) / scale - (int(total) - mean_share))
        for value, total in zip(approx.ravel(), sums.ravel(), strict=True)
    )
    assert worst <= whash.rounding_bound(side, hash_size) / 2
    assert whash._SAFETY * whash.rounding_bound(side, hash_size) < 0.5


def test_the_block_sums_are_trusted_up_to_very_large_images():
    assert whash._SAFETY * whash.rounding_bound(2**13, 8) < 0.5
    assert whash._SAFETY * whash.rounding_bound(2**16, 8) >= 0.5  # then pywt's steps are replayed


def _near_tie_images():
    """Small images whose block sums are few and close, so that ties and gaps of 1 are common."""
    rng = np.random.default_rng(11)
    for i in range(150):
        side = int(rng.choice([8, 16, 32, 64]))
        levels = rng.integers(0, 256, size=int(rng.integers(1, 4)))
        yield Image.fromarray(rng.choice(levels, size=(side, side)).astype(np.uint8), "L"), i


def test_block_sums_agree_with_pywts_steps_or_step_aside():
    decided = undecided = 0
    for image, _ in _near_tie_images():
        pixels = np.asarray(image)
        for hash_size in (2, 4, 8):
            if hash_size > pixels.shape[0]:
                continue
            shortcut = whash._block_sums_decide(pixels, hash_size)
            replayed = whash._whash_bits_by_transform(pixels, hash_size)
            if shortcut is None:
                undecided += 1
                block = pixels.shape[0] // hash_size
                sums = pixels.reshape(hash_size, block, hash_size, block).sum(axis=(1, 3))
                ordered = np.sort(sums, axis=None)
                middle = ordered.size // 2
                assert ordered[middle - 1] == ordered[middle]  # only on a tie
            else:
                decided += 1
                assert np.array_equal(shortcut, replayed)
    assert decided > 100 and undecided > 20  # both paths were exercised


def _blocks_with_sums(offsets: list[int], side: int = 256, hash_size: int = 8) -> Image.Image:
    """An L image of value 100 whose block i holds offsets[i] pixels of 101."""
    block = side // hash_size
    pixels = np.full((side, side), 100, dtype=np.uint8)
    for i, extra in enumerate(offsets):
        row, col = divmod(i, hash_size)
        tile = pixels[row * block : (row + 1) * block, col * block : (col + 1) * block]
        tile.reshape(-1)[:extra] = 101
    return Image.fromarray(pixels, "L")


def _whash_cases():
    rng = np.random.default_rng(5)
    rgb = rng.integers(0, 256, (700, 1000, 3), dtype=np.uint8)
    yield "1000x700 noise", Image.fromarray(rgb), 8
    yield "513 square", Image.fromarray(rgb[:513, :513]), 8
    yield "7x300", Image.fromarray(rgb[:7, :300]), 8
    yield "3x3 below the hash size", Image.fromarray(rgb[:3, :3]), 8
    yield "1x1", Image.fromarray(rgb[:1, :1]), 4
    yield "2048x16", Image.fromarray(np.tile(rgb[:16, :512], (1, 4, 1))), 16
    yield "greyscale photo", photo("camera"), 32
    yield "palette", Image.fromarray(rgb[:200, :300]).quantize(7), 8
    yield "RGBA", Image.fromarray(rng.integers(0, 256, (128, 96, 4), dtype=np.uint8), "RGBA"), 8
    yield "mode 1", Image.fromarray(rgb[:64, :64, 0] > 127), 8
    yield "16-bit", Image.fromarray(rng.integers(0, 65535, (90, 70)).astype(np.uint16)), 8
    yield (
        "checkerboard of blocks",
        Image.fromarray((np.indices((256, 256)).sum(axis=0) // 32 % 2 * 255).astype(np.uint8)),
        8,
    )
    yield "stripes", Image.fromarray(np.repeat([[0, 255] * 64], 128, axis=0).astype(np.uint8)), 4
    yield "block sums 1 apart", _blocks_with_sums(list(range(64))), 8
    yield (
        "block sums tied at the median",
        _blocks_with_sums([*range(31), 31, 31, *range(33, 64)]),
        8,
    )
    yield "block sums 1 apart, shuffled", _blocks_with_sums(list(rng.permutation(64))), 8


@pytest.mark.parametrize(
    ("label", "image", "hash_size"), list(_whash_cases()), ids=lambda v: str(v)[:24]
)
def test_parity_on_odd_images(label, image, hash_size):
    # Odd sizes, modes and patterns for the whash shortcut (and every other kind with it).
    row = hash_one(image, hash_size=hash_size)
    assert {k: row[k] for k in KINDS} == reference(image, hash_size), label


# ---------------------------------------------------------------------------------------------
# colorhash without HSV: every colour, and the modes that take the shortcut


def test_colour_classes_match_pillows_hsv_for_every_colour():
    # All 2**24 colours once each: the integer comparisons give every pixel the class that
    # Pillow's floating-point HSV conversion (and imagehash's thresholds) give it.
    everything = np.arange(2**24, dtype="<u4").view(np.uint8).reshape(4096, 4096, 4)[..., :3]
    image = Image.fromarray(np.ascontiguousarray(everything), "RGB")
    gray = np.asarray(image.convert("L")).reshape(-1)
    hue_bin, sat_offset = colorhash._hsv_tables()
    hsv = np.asarray(image.convert("HSV")).reshape(-1, 3)
    expected = hue_bin[hsv[:, 0]] + sat_offset[hsv[:, 1]]
    expected[gray < 32] = 24
    red, green, blue = (np.asarray(image.getchannel(band)).reshape(-1) for band in "RGB")
    keys = colorhash._rgb_keys(red, green, blue, gray)
    assert np.array_equal(colorhash._code_of_key().astype(np.uint8)[keys], expected)


@pytest.mark.parametrize("mode", ["RGBA", "RGBX"])
def test_colorhash_shortcut_ignores_the_fourth_band_as_pillow_does(mode):
    rng = np.random.default_rng(3)
    image = Image.fromarray(rng.integers(0, 256, (120, 90, 4), dtype=np.uint8), "RGBA")
    image = image.convert(mode)  # RGBX keeps the colours and drops the alpha
    assert image.mode in colorhash.RGB_MODES
    for binbits in (1, 3, 6):
        row = hash_one(image, kinds=("colorhash",), binbits=binbits)
        assert row["colorhash"] == str(imagehash.colorhash(image, binbits=binbits))


@pytest.mark.parametrize("name", ["coffee", "astronaut", "colorwheel", "immunohistochemistry"])
def test_colour_counts_by_comparisons_equal_those_by_hsv(name):
    image = photo(name).convert("RGB")
    gray = image.convert("L")
    by_comparisons = colorhash.counts_by_comparisons(image, gray)
    assert np.array_equal(by_comparisons, colorhash.counts_by_hsv(image, gray))
    assert by_comparisons.sum() == image.width * image.height


# ---------------------------------------------------------------------------------------------
# Properties on real photographs


@pytest.fixture(scope="module")
def photo_hashes():
    return {name: hash_one(photo(name)) for name in PHOTOS}


@pytest.mark.parametrize("name", PHOTOS)
@pytest.mark.parametrize("change", list(PERTURBATIONS))
def test_slightly_changed_photo_stays_near(name, change, photo_hashes):
    changed = hash_one(PERTURBATIONS[change](photo(name)))
    for kind in ("ahash", "phash", "dhash", "whash"):
        # 6 bits of 64 is the default near-duplicate threshold of imgkit.consistency.
        assert hamming(photo_hashes[name][kind], changed[kind]) <= 6, kind


@pytest.mark.parametrize(("a", "b"), list(itertools.combinations(PHOTOS, 2)))
def test_different_photos_are_far(a, b, photo_hashes):
    for kind in ("ahash", "phash", "dhash", "whash"):
        assert hamming(photo_hashes[a][kind], photo_hashes[b][kind]) >= 12, kind
    # phash of unrelated photos sits near the random expectation of 32 bits.
    assert hamming(photo_hashes[a]["phash"], photo_hashes[b]["phash"]) >= 20


# ---------------------------------------------------------------------------------------------
# Distances


def _slow_distance(a: str, b: str) -> int:
    return imagehash.hex_to_hash(a) - imagehash.hex_to_hash(b)


def test_distance_matrix_equals_imagehash_subtraction():
    hashes = random_hashes(25, seed=3)
    matrix = distance_matrix(hashes)
    expected = np.array([[_slow_distance(a, b) for b in hashes] for a in hashes])
    assert np.array_equal(matrix, expected)
    assert np.issubdtype(matrix.dtype, np.integer)
    assert (np.diag(matrix) == 0).all()
    assert (matrix == matrix.T).all()


def test_distances_for_hashes_longer_than_a_word():
    hashes = random_hashes(9, bits=256, seed=4)
    matrix = distance_matrix(hashes)
    expected = [[_slow_distance(a, b) for b in hashes] for a in hashes]
    assert matrix.tolist() == expected


def test_distances_for_colorhash_length():
    # 11 hex digits: not a whole number of 64-bit words.
    assert hamming("7ffffffffff", "00000000000") == 43
    assert hamming("0b400018000", "0b400018001") == 1


def test_hand_computed_distances():
    assert distance_matrix(["ff", "0f", "00"]).tolist() == [[0, 4, 8], [4, 0, 4], [8, 4, 0]]


def test_cross_distances_match_the_full_matrix():
    a, b = random_hashes(7, seed=1), random_hashes(5, seed=2)
    full = distance_matrix(a + b)
    assert np.array_equal(cross_distances(a, b), full[:7, 7:])
    assert cross_distances(a, []).shape == (7, 0)


def test_matrix_of_many_hashes_in_blocks():
    # More rows than one block holds, to exercise the blocking.
    hashes = random_hashes(1200, seed=5)
    matrix = distance_matrix(hashes)
    rows = [0, 517, 1199]
    for i in rows:
        assert matrix[i].tolist() == [(int(hashes[i], 16) ^ int(h, 16)).bit_count() for h in hashes]


@pytest.mark.parametrize(
    "bad", [["ff", "fff"], ["zz"], ["ff", None], [""]], ids=["lengths", "nonhex", "none", "empty"]
)
def test_bad_hashes_are_validation_errors(bad):
    with pytest.raises(ValidationError):
        distance_matrix(bad)


def test_cross_distances_need_one_length():
    with pytest.raises(ValidationError, match="hashes_b"):
        cross_distances(["ff"], ["ffff"])


# ---------------------------------------------------------------------------------------------
# Sizes, baselines, errors


def test_sizes_and_baselines():
    assert hash_bits("phash") == 64
    assert hash_bits("whash", 16) == 256
    assert hash_bits("colorhash") == 42
    assert hash_bits("colorhash", binbits=5) == 70
    assert [colorhash_binbits(s) for s in (2, 4, 6, 8, 16, 32)] == [1, 2, 2, 3, 4, 5]
    assert unrelated_distance(64) == 32.0
    assert bits_from_hex("phash", 16) == 64
    assert bits_from_hex("colorhash", 11) == 42
    assert bits_from_hex("ahash", 9) == 36  # hash_size 6


def test_random_hashes_sit_near_the_random_baseline():
    matrix = distance_matrix(random_hashes(300, seed=9))
    mean = matrix[np.triu_indices(300, 1)].mean()
    assert abs(mean - unrelated_distance(64)) < 0.5


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"kinds": ("phash", "nope")}, "kinds"),
        ({"kinds": ()}, "kinds"),
        ({"hash_size": 1}, "hash_size"),
        ({"hash_size": 6}, "hash_size"),  # whash needs a power of two
        ({"workers": 0}, "workers"),
        ({"executor": "gpu"}, "executor"),
        ({"binbits": 0}, "binbits"),
    ],
)
def test_bad_arguments(kwargs, param):
    with pytest.raises(ValidationError) as info:
        hash_images([photo("coffee")], **kwargs)
    assert info.value.param == param


def test_missing_and_unreadable_files(tmp_path):
    missing = tmp_path / "nope.png"
    with pytest.raises(ValidationError, match=r"nope\.png") as info:
        hash_images([missing])
    assert info.value.param == "images"
    junk = tmp_path / "junk.png"
    junk.write_text("not an image")
    with pytest.raises(ValidationError, match="cannot read"):
        hash_images([junk])
    with pytest.raises(ValidationError, match="cannot read"):
        hash_images([b"\x89PNG broken"])
    with pytest.raises(ValidationError):
        hash_images([tmp_path])  # a folder is not an image
    with pytest.raises(ValidationError):
        hash_images([12345])


def test_a_single_path_is_one_image(tmp_path):
    path = tmp_path / "one.png"
    photo("coffee").resize((32, 32)).save(path)
    assert len(hash_images(str(path))) == 1
