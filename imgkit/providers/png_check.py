"""A PNG checked whole without drawing it: every chunk's CRC, the header's numbers, and the
compressed pixel stream inflated to its end.

Why not Pillow's ``load``: it inflates the stream and then undoes each row's filter into an
image, and the second half is work whose result the check throws away. At the runner's zero
latency the whole decode was the largest part of its CPU time per image (1.8 ms of a 256 px
PNG, against 2 ms for everything the bare SDK does per request). What can go wrong in a PNG is
found without it:

- a cut-short file has no IEND, or a chunk runs past the end of the bytes;
- a changed byte fails its chunk's CRC-32 (Pillow's ``verify`` checks the same CRCs);
- a stream whose chunks were re-checksummed around broken data fails to inflate, or fails the
  stream's own Adler-32, or inflates to more or fewer bytes than the header's size needs
  (``rows x (1 + bytes a row)``, for each of the seven passes when interlaced);
- a row that names a filter other than the five PNG defines is caught by reading the first
  byte of every row, which is all of the unfiltering that can fail;
- the chunks around the pixels go through Pillow's own handlers (``_pillow_rules`` says why),
  and the order the specification sets is kept: IHDR once and first, chunk types of four
  letters, the IDAT chunks in one run, PLTE before the pixels of a palette image.

The inflate is ISA-L's (python-isal, already a dependency for the simulator's encoder), 2.5x
zlib's speed on these streams, 4 MB at a time (``_PixelStream``): memory stays flat.
``tests/test_png_check.py`` and ``tests/test_png_check_attack.py`` run it against Pillow on
thousands of cut, changed and crafted files: whatever Pillow's ``verify`` plus ``load`` refuses,
this refuses too. It is stricter where Pillow passes what the specification forbids (a stream
short of rows or with a wrong Adler-32, a bad IEND, IHDR not first or twice, an unknown
compression method, a palette image with no palette): no encoder writes those.
"""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any

from isal import isal_zlib

__all__ = ["PNG_SIGNATURE", "PngDamage", "png_size"]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

#: Bit depths each colour type allows (PNG specification, table 11.1).
_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
#: Adam7: (first column, first row, column step, row step) of each pass.
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
          (0, 1, 1, 2))  # fmt: skip
_CHUNK_HEAD = struct.Struct(">I4s")
_IHDR = struct.Struct(">IIBBBBB")
_LARGEST_LENGTH = 2**31 - 1  # the specification's limit on a chunk's length and on a side
_MAX_FILTER = 4  # None, Sub, Up, Average, Paeth
_STEP = 1 << 22  # bytes inflated at a time


class PngDamage(ValueError):
    """The bytes begin as a PNG but are not a whole one; the message says where."""


def _row_bytes(width: int, bits_per_pixel: int) -> int:
    return (width * bits_per_pixel + 7) // 8


def _passes(width: int, height: int, interlace: int, bits_per_pixel: int) -> list[tuple[int, int]]:
    """(rows, bytes a row with its filter byte) of each pass that holds pixels."""
    if not interlace:
        return [(height, 1 + _row_bytes(width, bits_per_pixel))]
    passes = []
    for x0, y0, dx, dy in _ADAM7:
        columns = (width - x0 + dx - 1) // dx if width > x0 else 0
        rows = (height - y0 + dy - 1) // dy if height > y0 else 0
        if columns and rows:
            passes.append((rows, 1 + _row_bytes(columns, bits_per_pixel)))
    return passes


def _header(data: bytes) -> tuple[int, int, int, int]:
    """(width, height, bits a pixel, interlace) from IHDR, the first chunk."""
    length, kind = _CHUNK_HEAD.unpack_from(data, 8)
    if kind != b"IHDR" or length != _IHDR.size:
        raise PngDamage(f"the first chunk is {kind!r} of {length} bytes, not a 13-byte IHDR")
    width, height, depth, colour, compression, filtering, interlace = _IHDR.unpack_from(data, 16)
    if not (0 < width <= _LARGEST_LENGTH and 0 < height <= _LARGEST_LENGTH):
        raise PngDamage(f"the header's size {width}x{height} is not a picture's")
    if depth not in _DEPTHS.get(colour, ()):
        raise PngDamage(f"colour type {colour} with bit depth {depth} is not a PNG's")
    if compression or filtering or interlace > 1:
        raise PngDamage(
            f"the header names compression {compression}, filtering {filtering}, "
            f"interlace {interlace}; PNG defines only 0, 0 and 0-1"
        )
    return width, height, depth * _CHANNELS[colour], interlace


class _PixelStream:
    """The IDAT chunks' stream, inflated as each chunk comes and at most ``_STEP`` bytes at a
    time, each row's filter byte read on the way and the rows then dropped: memory stays flat
    whatever size the header names (a valid 179 M-pixel RGBA at 16 bits is 1.4 GB of rows, from
    a file of 1 MB), and a million IDAT chunks cost no list of them."""

    def __init__(self, width: int, height: int, passes: list[tuple[int, int]]) -> None:
        self.size = f"{width}x{height}"
        self.inflater = isal_zlib.decompressobj()
        self.chunks = 0
        self.produced = 0
        # (first byte, end, bytes a row) of each pass in the inflated stream
        self.passes = []
        start = 0
        for rows, stride in passes:
            self.passes.append((start, start + rows * stride, stride))
            start += rows * stride
        self.expected = start

    def feed(self, data: memoryview) -> None:
        self.chunks += 1
        # In slices, so that what a step leaves over (which the inflater copies) stays small.
        for offset in range(0, len(data), _STEP):
            self._inflate(data[offset : offset + _STEP])

    def _inflate(self, data: memoryview | bytes) -> None:
        while not self.inflater.eof:
            # One more byte than the size needs is enough to tell "too much": a stream that
            # would inflate far beyond it (a bomb) is never expanded.
            room = min(_STEP, self.expected + 1 - self.produced)
            try:
                piece = self.inflater.decompress(data, room)
            except (isal_zlib.error, zlib.error) as exc:
                raise PngDamage(f"the pixel stream does not inflate: {exc}") from None
            self._filters(piece)
            self.produced += len(piece)
            if self.produced > self.expected:
                raise PngDamage(
                    f"the pixel stream holds more bytes than {self.size} needs "
                    f"({self.produced}+ against {self.expected})"
                )
            data = self.inflater.unconsumed_tail
            # A full piece may leave output inside the inflater with no input left over.
            if len(piece) < room and not data:
                return

    def _filters(self, piece: bytes) -> None:
        begin, end = self.produced, self.produced + len(piece)
        for first, last, stride in self.passes:
            if last <= begin or first >= end:
                continue
            row = first + -(-(max(begin, first) - first) // stride) * stride
            filters = piece[row - begin : min(end, last) - begin : stride]
            if filters and max(filters) > _MAX_FILTER:
                raise PngDamage(f"a row names filter type {max(filters)}; PNG defines 0-4")

    def finish(self) -> None:
        if not self.chunks:
            raise PngDamage("the file has no IDAT chunk: no pixels")
        if self.produced < self.expected:
            raise PngDamage(
                f"the pixel stream holds fewer bytes than {self.size} needs "
                f"({self.produced} against {self.expected})"
            )
        if not self.inflater.eof:
            raise PngDamage("the pixel stream stops before its end (no Adler-32 checksum)")


def _pillow_rules(data: bytes) -> Any:
    """Pillow's own reader of the chunks around the pixels, over ``data``.

    Pillow's ``open`` and ``load`` run a handler on every chunk they know (text, palette,
    transparency, colour, APNG frames) and refuse the file when one raises: a tRNS or pHYs too
    short, iCCP or zTXt that inflates past 1 MB or names another method, 64 MB of text, an
    fcTL out of sequence or larger than the image. Those rules are Pillow's code, run here, so
    they cannot drift from Pillow's when Pillow changes; they cost microseconds a chunk, the
    pixels being what is slow and what they never touch."""
    from PIL import PngImagePlugin

    return PngImagePlugin.PngStream(io.BytesIO(data))


def _run_rule(rules: Any, kind: bytes, position: int, length: int) -> None:
    handler = getattr(rules, f"chunk_{kind.decode('ascii')}", None)
    if handler is not None:
        rules.fp.seek(position + 8)
        handler(position + 8, length)


def _chunks(data: bytes, colour: int, pixels: _PixelStream) -> None:
    """Every chunk up to IEND through its CRC, the specification's rules on order and Pillow's
    rules on the chunks it reads; each IDAT's data, once its CRC has passed, into ``pixels``."""
    view = memoryview(data)
    position, end = len(PNG_SIGNATURE), len(data)
    rules = _pillow_rules(data)
    after_pixels = False  # a chunk other than IDAT has come after the IDAT run
    rules_apply = True  # Pillow's load stops reading chunks at a next APNG frame
    animated = False
    palette = False
    while True:
        if position + 12 > end:
            raise PngDamage(f"the file ends at byte {end} before its IEND chunk (cut short)")
        length, kind = _CHUNK_HEAD.unpack_from(data, position)
        body_end = position + 8 + length
        if length > _LARGEST_LENGTH or body_end + 4 > end:
            raise PngDamage(
                f"chunk {kind!r} at byte {position} claims {length} bytes, past the file's end "
                f"at {end} (cut short)"
            )
        # Pillow's verify refuses a type that is not four word characters; the specification
        # allows only ASCII letters, and so does this.
        if not kind.isalpha():
            raise PngDamage(f"chunk type {kind!r} at byte {position} is not four letters")
        (stored,) = struct.unpack_from(">I", data, body_end)
        if isal_zlib.crc32(view[position + 4 : body_end]) != stored:
            raise PngDamage(f"chunk {kind!r} at byte {position} fails its CRC")
        if kind == b"IDAT":
            # The stream is the IDAT chunks in a row: Pillow reads only the first run.
            if after_pixels:
                raise PngDamage(f"an IDAT chunk at byte {position} after another chunk")
            if not pixels.chunks:
                if colour == 3 and not palette:
                    raise PngDamage("a palette image with no PLTE before its pixels")
                # Pillow's is_animated: the frames acTL names, and the default image when no
                # fcTL came before it (then it is not one of them).
                frames = (rules.im_n_frames or 1) + (
                    rules.im_n_frames is not None and "bbox" not in rules.im_info
                )
                animated = frames > 1
            pixels.feed(view[position + 8 : body_end])
            position = body_end + 4
            continue
        if kind == b"IEND":
            return
        if kind == b"IHDR" and position != len(PNG_SIGNATURE):
            raise PngDamage(f"a second IHDR at byte {position}")
        if kind == b"PLTE":
            palette = True
            if colour == 3 and length // 3 > 256:  # Pillow's load refuses it too
                raise PngDamage(f"a palette of {length // 3} entries; at most 256")
        after_pixels = pixels.chunks > 0
        if kind == b"fdAT" and not pixels.chunks:
            raise PngDamage(f"an APNG frame's fdAT at byte {position} before the IDAT")
        if after_pixels and kind == b"fcTL" and animated:
            rules_apply = False
        if rules_apply:
            try:
                _run_rule(rules, kind, position, length)
            except EOFError:  # fdAT after the pixels: a frame, which load skips
                pass
            except UnicodeDecodeError:
                # Pillow's load stops reading chunks there and keeps the image; its open
                # (before the pixels) refuses the file.
                if not after_pixels:
                    raise PngDamage(f"chunk {kind!r} at byte {position}: unreadable text") from None
                rules_apply = False
            except Exception as exc:  # any handler's error is a refusal of Pillow's
                raise PngDamage(f"chunk {kind!r} at byte {position}: {exc}") from None
        position = body_end + 4


def png_size(data: bytes, *, max_pixels: int | None = None) -> tuple[int, int]:
    """(width, height) of the PNG ``data`` once it has checked whole (see the module's text);
    else :class:`PngDamage`. ``max_pixels`` refuses a larger header before anything is
    inflated (a decompression bomb)."""
    if not data.startswith(PNG_SIGNATURE):
        raise PngDamage("the bytes do not begin with PNG's signature")
    if len(data) < len(PNG_SIGNATURE) + 8 + _IHDR.size:
        raise PngDamage(f"{len(data)} bytes are too few for a PNG's header (cut short)")
    width, height, bits_per_pixel, interlace = _header(data)
    if max_pixels is not None and width * height > max_pixels:
        raise PngDamage(f"{width}x{height} is more than {max_pixels} pixels")
    pixels = _PixelStream(width, height, _passes(width, height, interlace, bits_per_pixel))
    _chunks(data, data[25], pixels)
    pixels.finish()
    return width, height
