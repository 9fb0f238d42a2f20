"""The PNG check against Pillow's full decode: what Pillow refuses, it refuses; what is whole, it
passes; and what only a full decode can see (a stream re-checksummed around broken data) it sees.

Pillow's ``verify`` plus ``load`` was the check before (issue 25); imgkit.providers.png_check
replaced it on PNGs to take the decode off the runner's CPU per image (issue 28), and may not
be weaker. The files are Pillow's own in every PNG colour type and depth it writes, the
simulator's (deflated by ISA-L), and Adam7-interlaced files built here (Pillow reads those but
does not write them).
"""

from __future__ import annotations

import io
import random
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imgkit.errors import DamagedImageError
from imgkit.providers.image_check import checked_image
from imgkit.providers.png_check import PNG_SIGNATURE, PngDamage, png_size

HASHING_FIXTURES = Path(__file__).parent / "data" / "hashing"


def pillow_whole(data: bytes) -> bool:
    """The old check: Pillow's verify, then a full load."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.verify()
        with Image.open(io.BytesIO(data)) as img:
            img.load()
    except Exception:
        return False
    return True


def ours_whole(data: bytes) -> bool:
    try:
        png_size(data)
    except PngDamage:
        return False
    return True


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def chunks_of(data: bytes) -> list[tuple[bytes, bytes]]:
    position, found = 8, []
    while position < len(data):
        (length,) = struct.unpack_from(">I", data, position)
        found.append(
            (data[position + 4 : position + 8], data[position + 8 : position + 8 + length])
        )
        position += 12 + length
    return found


def rebuilt(data: bytes, idat: bytes | None = None, ihdr: bytes | None = None) -> bytes:
    """``data`` with its pixel stream (all IDAT as one) or header replaced, CRCs made right."""
    out = [PNG_SIGNATURE]
    wrote_idat = False
    for kind, body in chunks_of(data):
        if kind == b"IDAT":
            if not wrote_idat:
                out.append(chunk(b"IDAT", idat if idat is not None else body))
                wrote_idat = idat is not None
            if idat is not None:
                continue
        elif kind == b"IHDR" and ihdr is not None:
            body = ihdr
        out.append(chunk(kind, body))
    return b"".join(out)


def interlaced_png(pixels: np.ndarray) -> bytes:
    """An Adam7-interlaced 8-bit RGB PNG of ``pixels`` (H x W x 3), every row filter 0."""
    height, width, _ = pixels.shape
    raw = bytearray()
    for x0, y0, dx, dy in ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4),
                           (1, 0, 2, 2), (0, 1, 1, 2)):  # fmt: skip
        part = pixels[y0::dy, x0::dx]
        if part.size:
            for row in part:
                raw += b"\x00" + row.tobytes()
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 1)
    return (
        PNG_SIGNATURE
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(raw)))
        + chunk(b"IEND", b"")
    )


def pillow_png(image: Image.Image, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", **options)
    return buffer.getvalue()


def whole_pngs() -> dict[str, bytes]:
    """PNGs of every colour type and depth Pillow writes, odd sizes, and other encoders'."""
    rng = np.random.default_rng(28)
    photo = Image.fromarray(rng.integers(0, 256, (37, 53, 3), dtype=np.uint8), "RGB")
    files = {
        "RGB": pillow_png(photo),
        "RGBA": pillow_png(photo.convert("RGBA")),
        "L": pillow_png(photo.convert("L")),
        "LA": pillow_png(photo.convert("LA")),
        "1-bit, odd width": pillow_png(photo.convert("1")),
        "P 8-bit": pillow_png(photo.convert("P")),
        "P 2-bit": pillow_png(photo.convert("P", colors=4), bits=2),
        "P 4-bit": pillow_png(photo.convert("P", colors=16), bits=4),
        "P with tRNS": pillow_png(photo.convert("P"), transparency=0),
        "I;16": pillow_png(Image.fromarray(rng.integers(0, 65535, (9, 11), dtype=np.uint16))),
        "1x1": pillow_png(Image.new("RGB", (1, 1), "red")),
        "stored, no compression": pillow_png(photo, compress_level=0),
        "optimised": pillow_png(photo, optimize=True),
        # Large enough for Pillow to split its stream over several IDAT chunks.
        "many IDAT": pillow_png(
            Image.fromarray(rng.integers(0, 256, (300, 400, 3), dtype=np.uint8))
        ),
        "interlaced 13x7": interlaced_png(rng.integers(0, 256, (7, 13, 3), dtype=np.uint8)),
        "interlaced 1x1": interlaced_png(rng.integers(0, 256, (1, 1, 3), dtype=np.uint8)),
        "interlaced 40x33": interlaced_png(rng.integers(0, 256, (33, 40, 3), dtype=np.uint8)),
    }
    for path in sorted(HASHING_FIXTURES.glob("*.png")):
        files[path.name] = path.read_bytes()
    return files


WHOLE = whole_pngs()


def simulator_png() -> bytes:
    """The simulator's own encoder (ISA-L deflate), as the runner's benchmark receives it."""
    from imgkit.simulator.drawing import encode

    image = Image.fromarray(np.random.default_rng(3).integers(0, 256, (64, 96, 3), np.uint8))
    return encode(image, "png")


def test_the_interlaced_builder_makes_what_pillow_reads_back():
    pixels = np.random.default_rng(5).integers(0, 256, (33, 40, 3), dtype=np.uint8)
    with Image.open(io.BytesIO(interlaced_png(pixels))) as img:
        assert img.info.get("interlace") == 1
        assert np.array_equal(np.asarray(img.convert("RGB")), pixels)


@pytest.mark.parametrize("name", sorted(WHOLE))
def test_a_whole_png_passes_with_pillows_size(name):
    data = WHOLE[name]
    assert pillow_whole(data), name  # the fixture itself is whole
    with Image.open(io.BytesIO(data)) as img:
        assert png_size(data) == img.size
    assert checked_image(data)[0] == "png"


def test_the_simulators_png_passes():
    data = simulator_png()
    assert png_size(data) == (96, 64)


@pytest.mark.parametrize("name", ["RGB", "P 2-bit", "interlaced 13x7", "many IDAT", "1x1"])
def test_every_cut_that_pillow_refuses_is_refused(name):
    data = WHOLE[name]
    step = max(1, len(data) // 400)
    refused_by_pillow = 0
    for end in range(0, len(data), step):
        cut = data[:end]
        if not pillow_whole(cut):
            refused_by_pillow += 1
            assert not ours_whole(cut), f"{name} cut at {end} of {len(data)} passed"
    assert refused_by_pillow > 0


@pytest.mark.parametrize("name", ["RGB", "LA", "P 4-bit", "interlaced 40x33", "I;16"])
def test_every_changed_byte_that_pillow_refuses_is_refused(name):
    data = WHOLE[name]
    rng = random.Random(name)
    refused_by_pillow = 0
    for _ in range(600):
        changed = bytearray(data)
        position = rng.randrange(len(changed))
        changed[position] ^= rng.randrange(1, 256)
        if not pillow_whole(bytes(changed)):
            refused_by_pillow += 1
            assert not ours_whole(bytes(changed)), f"{name}: byte {position} changed, passed"
    assert refused_by_pillow > 0


def test_a_stream_recrcd_around_broken_data_is_refused():
    """What CRCs cannot see: a stream broken inside, its chunk checksummed again."""
    data = WHOLE["RGB"]
    (stream,) = [body for kind, body in chunks_of(data) if kind == b"IDAT"]
    rng = random.Random(7)
    caught = 0
    for _ in range(200):
        broken = bytearray(stream)
        broken[rng.randrange(2, len(broken))] ^= rng.randrange(1, 256)
        damaged = rebuilt(data, idat=bytes(broken))
        if not pillow_whole(damaged):
            assert not ours_whole(damaged)
        caught += not ours_whole(damaged)
    # Every change inside a deflate stream is caught at the latest by its Adler-32.
    assert caught == 200


def test_a_stream_cut_before_its_checksum_is_refused():
    data = WHOLE["RGB"]
    (stream,) = [body for kind, body in chunks_of(data) if kind == b"IDAT"]
    with pytest.raises(PngDamage, match=r"stops before its end|does not inflate"):
        png_size(rebuilt(data, idat=stream[:-4]))


@pytest.mark.parametrize(
    ("change", "message", "pillow_passes"),
    [
        ("a bad filter", "filter type 9", False),
        # Pillow stops at the stream's end and leaves the missing row black: the old check's
        # blind spot, a picture with part of it gone.
        ("too few rows", "fewer bytes", True),
        ("too many rows", "more bytes", True),
    ],
)
def test_pixel_streams_that_do_not_fit_the_header_are_refused(change, message, pillow_passes):
    width, height = 5, 4
    rows = [b"\x00" + bytes(range(3 * width)) for _ in range(height)]
    if change == "a bad filter":
        rows[2] = b"\x09" + rows[2][1:]
    elif change == "too few rows":
        rows = rows[:-1]
    else:
        rows.append(rows[0])
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    data = (
        PNG_SIGNATURE
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"".join(rows)))
        + chunk(b"IEND", b"")
    )
    assert pillow_whole(data) == pillow_passes
    with pytest.raises(PngDamage, match=message):
        png_size(data)
    with pytest.raises(DamagedImageError, match=message):
        checked_image(data)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ((5, 4, 3, 2, 0, 0, 0), "bit depth 3"),
        ((5, 4, 8, 5, 0, 0, 0), "colour type 5"),
        ((5, 4, 8, 2, 1, 0, 0), "compression 1"),
        ((5, 4, 8, 2, 0, 0, 2), "interlace 2"),
        ((0, 4, 8, 2, 0, 0, 0), "0x4"),
    ],
)
def test_headers_no_png_has_are_refused(fields, message):
    data = rebuilt(WHOLE["RGB"], ihdr=struct.pack(">IIBBBBB", *fields))
    assert not pillow_whole(data)
    with pytest.raises(PngDamage, match=message):
        png_size(data)


def test_a_header_beyond_the_pixel_limit_is_refused_before_inflating():
    """A decompression bomb: a small file whose header promises 100,000 x 100,000 pixels."""
    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    data = rebuilt(WHOLE["RGB"], ihdr=header)
    with pytest.raises(PngDamage, match="more than"):
        png_size(data, max_pixels=2 * 89_478_485)
    with pytest.raises(DamagedImageError, match="more than"):
        checked_image(data)


def test_a_stream_that_would_inflate_far_past_its_size_is_not_expanded():
    """1 GB of zeros in 1 MB: refused after the header's 101 bytes and one more."""
    header = struct.pack(">IIBBBBB", 10, 10, 8, 0, 0, 0, 0)
    bomb = zlib.compress(bytes(2**30), 9)
    data = PNG_SIGNATURE + chunk(b"IHDR", header) + chunk(b"IDAT", bomb) + chunk(b"IEND", b"")
    with pytest.raises(PngDamage, match="more bytes"):
        png_size(data)


def test_damage_reaches_the_answer_as_a_damaged_image_with_its_reason():
    cut = WHOLE["RGB"][: len(WHOLE["RGB"]) // 3]
    with pytest.raises(DamagedImageError) as caught:
        checked_image(cut, claimed_format="png")
    assert caught.value.code == "truncated"
    assert "cut short" in caught.value.reason


def test_a_png_claimed_as_another_format_or_size_is_still_caught():
    data = WHOLE["RGB"]  # 53x37
    with pytest.raises(DamagedImageError, match="claimed jpeg, but the bytes are png"):
        checked_image(data, claimed_format="jpeg")
    with pytest.raises(DamagedImageError, match="claimed 1024x1024, but the image is 53x37"):
        checked_image(data, claimed_size="1024x1024")
    assert checked_image(data, claimed_format="image/png", claimed_size="53x37") == ("png", 53, 37)


def test_strict_base64_keeps_the_standard_librarys_verdicts():
    import base64

    from imgkit.providers.image_check import strict_b64decode

    cases = ["aGVsbG8=", "aGVsbG8", "aGVs bG8=", "aGVsbG8==", "=aGVsbG8", "aGVs=bG8", "YQ=",
             "aGVsbG8=\n", "", "YQ==", "YR==", "a", "aGVsbG8*", "aGVsbG8=YQ==", "aGVsbG8\u00e9",
             "YQ==\x00", "-_-_", "ab+/"]  # fmt: skip
    for text in cases:
        try:
            expected = base64.b64decode(text, validate=True)
        except ValueError:
            with pytest.raises(DamagedImageError, match="not base64"):
                strict_b64decode(text)
        else:
            assert strict_b64decode(text) == expected
            assert strict_b64decode(text.encode()) == expected
