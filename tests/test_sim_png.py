"""The simulator's own PNG encoder: lossless, valid chunk by chunk, and marked."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from imgkit.simulator.drawing import DRAWN_KEY, MARKER_KEY, encode, render, render_image


@pytest.mark.parametrize(
    ("size", "transparent"), [((1, 1), False), ((97, 33), False), ((64, 48), True)]
)
def test_png_decodes_to_the_drawn_pixels(size, transparent):
    image = render_image("a raccoon in the leaves", *size, variation=3, transparent=transparent)
    data = encode(image, "png", drawn="715c0446")
    decoded = Image.open(io.BytesIO(data))
    assert decoded.mode == ("RGBA" if transparent else "RGB") and decoded.size == size
    assert np.array_equal(np.asarray(decoded), np.asarray(image))
    assert decoded.text[MARKER_KEY] == "1" and decoded.text[DRAWN_KEY] == "715c0446"


def test_every_chunk_has_a_correct_crc():
    data = render("a lighthouse at dusk", 320, 200, variation=1)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    offset, kinds = 8, []
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind, body = data[offset + 4 : offset + 8], data[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length : offset + 12 + length])
        assert crc == zlib.crc32(kind + body), kind
        kinds.append(kind)
        offset += 12 + length
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND" and b"IDAT" in kinds
    Image.open(io.BytesIO(data)).verify()  # Pillow's own check of the chunks
