"""Attacks on the PNG check (imgkit.providers.png_check) from outside its own tests: what a
hostile or buggy service, proxy or recording could send, and what real encoders write.

Its promise: whatever Pillow's ``verify`` plus ``load`` (the old check, issue 25) refuses, it
refuses; every whole PNG passes with Pillow's size. A paid image wrongly refused is a defect
too: it would be retried and paid for twice. Where the check is stricter than Pillow, the file
breaks the PNG specification in a way no encoder writes, and the test says which rule.
"""

from __future__ import annotations

import io
import random
import shutil
import struct
import subprocess
import zlib

import numpy as np
import pytest
from PIL import Image

from imgkit.providers.png_check import PNG_SIGNATURE, png_size
from tests.test_png_check import chunk, ours_whole, pillow_whole


def png(fields: tuple[int, ...], *middle: bytes, end: bool = True) -> bytes:
    out = PNG_SIGNATURE + chunk(b"IHDR", struct.pack(">IIBBBBB", *fields)) + b"".join(middle)
    return out + (chunk(b"IEND", b"") if end else b"")


WIDTH, HEIGHT = 5, 4
RGB = (WIDTH, HEIGHT, 8, 2, 0, 0, 0)
GREY = (WIDTH, HEIGHT, 8, 0, 0, 0, 0)
PALETTE = (WIDTH, HEIGHT, 8, 3, 0, 0, 0)
STREAM = zlib.compress(b"".join(b"\x00" + bytes(range(3 * WIDTH)) for _ in range(HEIGHT)))
GREY_STREAM = zlib.compress(b"".join(b"\x00" + bytes(range(WIDTH)) for _ in range(HEIGHT)))
IDAT = chunk(b"IDAT", STREAM)


def actl(frames: int) -> bytes:
    return chunk(b"acTL", struct.pack(">II", frames, 0))


def fctl(sequence: int, width: int = WIDTH, height: int = HEIGHT) -> bytes:
    return chunk(b"fcTL", struct.pack(">IIIIIHHBB", sequence, width, height, 0, 0, 1, 1, 0, 0))


def ztxt_of(size: int) -> bytes:
    return b"k\0\0" + zlib.compress(bytes(size))


# Damaged files Pillow refuses; each passed png_check at 648e42f.
REFUSED_BY_PILLOW = {
    "a chunk type that is not letters": png(RGB, chunk(b"\x00\x01\x02\x03", b"x"), IDAT),
    "a chunk type that is not letters, after IDAT": png(RGB, IDAT, chunk(b"a\0b!", b"x")),
    # The stream's halves with a text chunk between: Pillow reads the first run of IDAT only.
    "IDAT split by another chunk": png(
        RGB, chunk(b"IDAT", STREAM[:10]), chunk(b"tEXt", b"a\0b"), chunk(b"IDAT", STREAM[10:])
    ),
    "a palette of 257 entries": png(
        PALETTE, chunk(b"PLTE", bytes(771)), chunk(b"IDAT", GREY_STREAM)
    ),
    "grey tRNS of 1 byte": png(GREY, chunk(b"tRNS", b"\x01"), chunk(b"IDAT", GREY_STREAM)),
    "RGB tRNS of 2 bytes": png(RGB, chunk(b"tRNS", b"\x01\x02"), IDAT),
    "a short tRNS after IDAT": png(RGB, IDAT, chunk(b"tRNS", b"\x01")),
    "a short pHYs": png(RGB, chunk(b"pHYs", b"\x01"), IDAT),
    "a short pHYs after IDAT": png(RGB, IDAT, chunk(b"pHYs", b"\x01")),
    "a short gAMA": png(RGB, chunk(b"gAMA", b"\x01"), IDAT),
    "a short cHRM": png(RGB, chunk(b"cHRM", b"\x01"), IDAT),
    "an empty sRGB": png(RGB, chunk(b"sRGB", b""), IDAT),
    "iCCP compression method 1": png(RGB, chunk(b"iCCP", b"n\0\x01" + zlib.compress(b"x")), IDAT),
    "iCCP without its method": png(RGB, chunk(b"iCCP", b"n\0"), IDAT),
    "iCCP inflating past 1 MB": png(RGB, chunk(b"iCCP", b"n\0" + ztxt_of(2_000_000)[2:]), IDAT),
    "zTXt inflating past 1 MB": png(RGB, chunk(b"zTXt", ztxt_of(2_000_000)), IDAT),
    "zTXt inflating past 1 MB, after IDAT": png(RGB, IDAT, chunk(b"zTXt", ztxt_of(2_000_000))),
    "zTXt compression method 1": png(RGB, chunk(b"zTXt", b"k\0\x01" + zlib.compress(b"x")), IDAT),
    "iTXt inflating past 1 MB": png(
        RGB, chunk(b"iTXt", b"k\0\x01\x00\0\0" + zlib.compress(bytes(2_000_000))), IDAT
    ),
    "70 MB of text": png(RGB, *[chunk(b"tEXt", b"k\0" + bytes(1_000_000))] * 70, IDAT),
    "a short acTL": png(RGB, chunk(b"acTL", b"\0"), IDAT),
    "a short fcTL": png(RGB, actl(1), chunk(b"fcTL", b"\0"), IDAT),
    "fcTL out of sequence": png(RGB, actl(1), fctl(5), IDAT),
    "fcTL larger than the image": png(RGB, actl(1), fctl(0, WIDTH + 1), IDAT),
}


@pytest.mark.parametrize("name", sorted(REFUSED_BY_PILLOW))
def test_what_pillow_refuses_is_refused(name):
    data = REFUSED_BY_PILLOW[name]
    assert not pillow_whole(data), "the case must be one Pillow refuses"
    assert not ours_whole(data), f"{name}: passed"


# Pillow passes these, against the specification; no encoder writes them.
STRICTER = {
    # 5.6: IDAT chunks are consecutive. Here the whole stream is in the first run and a stray
    # IDAT comes after a text chunk (Pillow skips it).
    "a stray IDAT after another chunk": png(
        RGB, IDAT, chunk(b"tEXt", b"a\0b"), chunk(b"IDAT", b"")
    ),
    # 11.2.1: IHDR appears once. Pillow takes the second one's size.
    "a second IHDR": png(RGB, chunk(b"IHDR", struct.pack(">IIBBBBB", *RGB)), IDAT),
    # 11.2.2: PLTE is required for colour type 3.
    "a palette image without PLTE": png(PALETTE, chunk(b"IDAT", GREY_STREAM)),
    # 5.3: a chunk type is four ASCII letters (Pillow's pattern also lets digits through).
    "a chunk type with a digit": png(RGB, chunk(b"ab1d", b"x"), IDAT),
}


@pytest.mark.parametrize("name", sorted(STRICTER))
def test_what_the_specification_forbids_is_refused_though_pillow_passes(name):
    data = STRICTER[name]
    assert pillow_whole(data)
    assert not ours_whole(data)


def packed_rows(height: int, width: int, bits: int, rng: random.Random) -> list[bytes]:
    return [
        b"\x00" + bytes(rng.randrange(256) for _ in range((width * bits + 7) // 8))
        for _ in range(height)
    ]


def built(width: int, height: int, depth: int, colour: int, interlace: int, seed: int) -> bytes:
    """A PNG written here of any colour type, depth and interlace (Pillow writes no interlaced
    file and no 16-bit RGB): random filter-0 rows; a full palette for colour type 3."""
    rng = random.Random(seed)
    bits = depth * {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[colour]
    raw = b""
    if interlace:
        for x0, y0, dx, dy in ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4),
                               (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)):  # fmt: skip
            columns, rows = len(range(x0, width, dx)), len(range(y0, height, dy))
            if columns and rows:
                raw += b"".join(packed_rows(rows, columns, bits, rng))
    else:
        raw = b"".join(packed_rows(height, width, bits, rng))
    middle = [chunk(b"PLTE", bytes(rng.randrange(256) for _ in range(3 << depth)))] * (colour == 3)
    return png(
        (width, height, depth, colour, 0, 0, interlace), *middle, chunk(b"IDAT", zlib.compress(raw))
    )


KINDS = [(colour, depth) for colour, depths in
         {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}.items()
         for depth in depths]  # fmt: skip
SIZES = [(1, 1), (1, 9), (9, 1), (3, 17), (13, 7), (17, 3), (33, 40)]


@pytest.mark.parametrize(("colour", "depth"), KINDS)
@pytest.mark.parametrize("interlace", [0, 1])
def test_every_colour_type_depth_and_interlace_passes_with_pillows_size(colour, depth, interlace):
    for width, height in SIZES:
        data = built(width, height, depth, colour, interlace, seed=width * 100 + height)
        assert pillow_whole(data), (width, height)
        assert png_size(data) == (width, height)


def apng(default_image: bool) -> bytes:
    frames = [Image.new("RGB", (20, 10), colour) for colour in ("red", "green", "blue")]
    buffer = io.BytesIO()
    frames[0].save(
        buffer, "PNG", save_all=True, append_images=frames[1:], default_image=default_image
    )
    return buffer.getvalue()


def odd_chunk_files() -> dict[str, bytes]:
    photo = Image.fromarray(np.random.default_rng(2).integers(0, 256, (9, 11, 3), np.uint8))
    buffer = io.BytesIO()
    photo.save(buffer, "PNG", icc_profile=b"profile" * 50, exif=b"II*\0\x08\0\0\0\0\0\0\0")
    tagged = buffer.getvalue()
    body = tagged[8:-12]  # between the signature and IEND
    ihdr, rest = body[:25], body[25:]
    text = (
        chunk(b"sBIT", b"\x05\x06\x05")
        + chunk(b"zTXt", b"Comment\0\0" + zlib.compress(b"made here"))
        + chunk(b"iTXt", b"Title\0\x01\0en\0Titel\0" + zlib.compress("é".encode()))
        + chunk(b"tEXt", b"Software\0imgkit")
    )
    (stream,) = [
        tagged[i + 8 : i + 8 + struct.unpack(">I", tagged[i : i + 4])[0]]
        for i in range(8, len(tagged) - 12)
        if tagged[i + 4 : i + 8] == b"IDAT"
    ]
    end = chunk(b"IEND", b"")
    return {
        "iCCP, eXIf, sBIT, zTXt, iTXt, tEXt": PNG_SIGNATURE + ihdr + text + rest + end,
        "APNG": apng(default_image=False),
        "APNG whose default image is not a frame": apng(default_image=True),
        "IDAT a byte each": png(
            RGB, *[chunk(b"IDAT", STREAM[i : i + 1]) for i in range(len(STREAM))]
        ),
        "empty IDAT first and last": png(RGB, chunk(b"IDAT", b""), IDAT, chunk(b"IDAT", b"")),
        "extra compressed data after the stream": png(RGB, chunk(b"IDAT", STREAM + b"extra")),
        "text after IDAT": png(RGB, IDAT, chunk(b"tEXt", b"a\0b"), chunk(b"zTXt", ztxt_of(10))),
        "unknown ancillary chunks": png(RGB, chunk(b"prVt", b"x" * 9), IDAT, chunk(b"zzZz", b"")),
        "stream split in the zlib header": png(
            RGB, chunk(b"IDAT", STREAM[:1]), chunk(b"IDAT", STREAM[1:])
        ),
        "stream split in the Adler-32": png(
            RGB, chunk(b"IDAT", STREAM[:-2]), chunk(b"IDAT", STREAM[-2:])
        ),
        "stream of stored blocks": png(
            RGB, chunk(b"IDAT", zlib.compress(zlib.decompress(STREAM), 0))
        ),
    }


ODD = odd_chunk_files()


@pytest.mark.parametrize("name", sorted(ODD))
def test_valid_files_from_other_writers_pass(name):
    data = ODD[name]
    assert pillow_whole(data)
    with Image.open(io.BytesIO(data)) as img:
        assert png_size(data) == img.size


def mutations(data: bytes, rng: random.Random) -> bytes:
    """One seeded change of the kinds a proxy, a truncation or a hostile writer makes; half of
    them re-checksum the chunk they touch so that they get past the CRCs."""
    position = 8
    spans = []
    while position + 12 <= len(data):
        (length,) = struct.unpack_from(">I", data, position)
        spans.append(
            (data[position + 4 : position + 8], data[position + 8 : position + 8 + length])
        )
        position += 12 + length
    kind = rng.randrange(6)
    if kind == 0:
        changed = bytearray(data)
        changed[rng.randrange(len(changed))] ^= 1 << rng.randrange(8)
        return bytes(changed)
    if kind == 1:
        at = rng.randrange(len(data))
        return data[:at] + bytes([rng.randrange(256)]) + data[at:]
    if kind == 2:
        at = rng.randrange(len(data))
        return data[:at] + data[at + rng.randrange(1, 5) :]
    index = rng.randrange(len(spans))
    name, body = spans[index]
    if kind == 3:  # two chunks swapped
        other = rng.randrange(len(spans))
        spans[index], spans[other] = spans[other], spans[index]
    elif kind == 4 and body:  # a byte inside a chunk changed, the CRC made right
        changed = bytearray(body)
        changed[rng.randrange(len(changed))] ^= 1 << rng.randrange(8)
        spans[index] = (name, bytes(changed))
    else:  # a chunk dropped or doubled, or a chunk type changed, re-checksummed
        choice = rng.randrange(3)
        if choice == 0:
            del spans[index]
        elif choice == 1:
            spans.insert(index, spans[index])
        else:
            letters = bytearray(name)
            letters[rng.randrange(4)] ^= 1 << rng.randrange(8)
            spans[index] = (bytes(letters), body)
    return PNG_SIGNATURE + b"".join(chunk(k, b) for k, b in spans)


FUZZED = {
    "RGB": built(13, 7, 8, 2, 0, 1),
    "P 2-bit interlaced": built(11, 9, 2, 3, 1, 2),
    "RGBA 16-bit": built(6, 5, 16, 6, 0, 3),
    "grey 1-bit interlaced": built(17, 3, 1, 0, 1, 4),
    "APNG": apng(default_image=False),
    "tagged": ODD["iCCP, eXIf, sBIT, zTXt, iTXt, tEXt"],
}


@pytest.mark.parametrize("name", sorted(FUZZED))
def test_a_differential_fuzz_refuses_whatever_pillow_refuses(name):
    rng = random.Random(f"fuzz {name}")
    refused = 0
    for attempt in range(400):
        changed = mutations(FUZZED[name], rng)
        if not pillow_whole(changed):
            refused += 1
            assert not ours_whole(changed), f"{name}, mutation {attempt} passed"
        elif ours_whole(changed):
            with Image.open(io.BytesIO(changed)) as img:
                assert png_size(changed) == img.size, f"{name}, mutation {attempt}"
    assert refused > 100


def peak_memory(data: bytes) -> tuple[tuple[int, int], int]:
    import tracemalloc

    tracemalloc.start()
    try:
        size = png_size(data)
        return size, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_large_valid_picture_is_checked_in_little_memory():
    """4096 x 4096 RGBA at 16 bits, black: 128 MB of rows in a 130 kB file, a whole PNG. At
    648e42f the check held all 128 MB at once (Pillow's decode holds 64 MB, its 8-bit image);
    a service can send one of 179 M pixels (Pillow's limit), 1.4 GB of rows."""
    width = height = 4096
    row = b"\0" + bytes(8 * width)
    stream = zlib.compressobj(9)
    body = b"".join(stream.compress(row) for _ in range(height)) + stream.flush()
    data = png((width, height, 16, 6, 0, 0, 0), chunk(b"IDAT", body))
    size, peak = peak_memory(data)
    assert size == (width, height)
    assert peak < 16 * 2**20, f"{peak / 2**20:.0f} MB"


def test_many_empty_idat_chunks_cost_no_memory_a_chunk():
    """200,000 empty IDAT chunks (2.4 MB): at 648e42f a list of a memoryview each, 40 MB."""
    data = png(RGB, *[chunk(b"IDAT", b"")] * 200_000, IDAT)
    size, peak = peak_memory(data)
    assert size == (WIDTH, HEIGHT)
    assert peak < 4 * 2**20, f"{peak / 2**20:.0f} MB"


@pytest.mark.skipif(
    not (shutil.which("optipng") and shutil.which("pngcrush")), reason="optipng, pngcrush"
)
@pytest.mark.parametrize(
    "command",
    [
        ["optipng", "-quiet", "-o1", "-i1", "-out", "{out}", "{src}"],  # Adam7, depths reduced
        ["optipng", "-quiet", "-o3", "-out", "{out}", "{src}"],
        ["pngcrush", "-q", "-rem", "alla", "-reduce", "{src}", "{out}"],
        ["pngcrush", "-q", "-brute", "{src}", "{out}"],
    ],
    ids=lambda command: " ".join(part for part in command[:4] if "{" not in part),
)
def test_other_encoders_files_pass_with_pillows_size(command, tmp_path):
    """What other encoders write from files of every colour type (155 outputs of six options
    were tried by hand, none refused)."""
    sources = [built(13, 7, depth, colour, 0, colour * 17 + depth) for colour, depth in KINDS]
    sources.append(apng(default_image=False))
    for index, data in enumerate(sources):
        src, out = tmp_path / f"{index}.png", tmp_path / f"{index}-out.png"
        src.write_bytes(data)
        subprocess.run(
            [part.format(src=src, out=out) for part in command], check=True, capture_output=True
        )
        written = out.read_bytes()
        assert pillow_whole(written), index
        with Image.open(io.BytesIO(written)) as img:
            assert png_size(written) == img.size, index
