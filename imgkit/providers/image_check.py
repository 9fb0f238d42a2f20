"""Every image an answer carries is decoded and checked before it counts as an image.

A service (or a proxy, a gateway, a recording) can send in place of an image: base64 that is not
base64 (placeholder text decodes leniently to a few bytes of junk), a file cut short (the first
third of a PNG), a format other than the one it names, a size other than the one it names. Such
an answer is not an image: :func:`checked_image` raises :class:`~imgkit.errors.DamagedImageError`
with the reason, which a run records as a failed attempt that may have been billed and the
policy retries as a server fault; nothing of it is written as an image.

The checks, in order: strict base64 (:func:`strict_b64decode`), then a full decode (a PNG's
chunks, CRCs and pixel stream inflated to its end by :mod:`imgkit.providers.png_check`; any other
format through Pillow, whose ``verify`` reads the file's structure and checksums and ``load``
decodes every pixel, so a truncated file fails), then the format against the one the answer
claims, then the size against the one the answer claims (the vendors' rule: an OpenAI answer's
``size`` is the size of its images; ``auto`` claims nothing; Gemini names a MIME type and no
size). SVG, which Pillow does not read, must be an SVG document from its root element to its end.
"""

from __future__ import annotations

import binascii
import io
import re
import warnings
from collections.abc import Callable
from typing import Any

import pybase64

from imgkit.errors import DamagedImageError
from imgkit.providers.png_check import PNG_SIGNATURE, PngDamage, png_size

__all__ = ["checked_image", "downloaded_image", "normalise_format", "strict_b64decode"]

_SIZE = re.compile(r"^(\d+)x(\d+)$")
# An XML declaration, comments and a doctype may come before the root element.
_SVG_START = re.compile(
    rb"^\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*(?:<!DOCTYPE[^>]*>\s*)?<svg\b", re.S
)


def normalise_format(name: str | None) -> str | None:
    """'PNG', 'image/png', 'jpg' -> 'png', 'png', 'jpeg'; None for None or ''."""
    if not name:
        return None
    value = str(name).lower().rpartition("/")[2]
    value = value.removesuffix("+xml")
    return {"jpg": "jpeg"}.get(value, value)


def strict_b64decode(text: str | bytes, **fields: Any) -> bytes:
    """Base64 decoded strictly (characters outside the alphabet, or bad padding, are an error
    rather than skipped), else :class:`DamagedImageError`. ``fields`` go to the error."""
    try:
        # pybase64's SIMD decoder: the standard library's verdicts (a test walks them), at
        # 1/50 of its time.
        return pybase64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        sample = text[:40] if isinstance(text, str) else text[:40].decode("latin-1")
        reason = f"the image's base64 is not base64 ({exc}; begins {sample!r})"
        raise DamagedImageError(
            f"damaged image: {reason}", reason=reason, code="bad_base64", **fields
        ) from None


def _claimed_size(size: str | None) -> tuple[int, int] | None:
    match = _SIZE.match(size or "")
    return (int(match[1]), int(match[2])) if match else None


def _svg(data: bytes) -> bool:
    return bool(_SVG_START.match(data[:4096])) and data.rstrip().endswith(b"</svg>")


def checked_image(
    data: bytes | None,
    *,
    claimed_format: str | None = None,
    claimed_size: str | None = None,
    **fields: Any,
) -> tuple[str, int, int]:
    """(format, width, height) of ``data`` once it has decoded whole and matches what the answer
    claims; else :class:`DamagedImageError` naming the reason (``fields``: provider, model,
    request_id for the error)."""

    def damaged(reason: str, code: str) -> DamagedImageError:
        return DamagedImageError(f"damaged image: {reason}", reason=reason, code=code, **fields)

    if not data:
        raise damaged("the answer's image is empty", "empty_image")
    claim = normalise_format(claimed_format)
    if claim == "svg" or (claim is None and _svg(data)):
        if not _svg(data):
            raise damaged(f"claimed SVG, but {len(data)} bytes are not an SVG document", "not_svg")
        size = _claimed_size(claimed_size)
        return "svg", *(size or (0, 0))
    from PIL import Image, UnidentifiedImageError

    if data.startswith(PNG_SIGNATURE):
        # Checked whole without drawing it (png_check says why): the same verdicts, a third
        # of the time. Pillow refuses more than twice its pixel limit; so does this.
        limit = Image.MAX_IMAGE_PIXELS
        try:
            width, height = png_size(data, max_pixels=None if limit is None else 2 * limit)
        except PngDamage as exc:
            reason = f"{len(data)} bytes that do not decode whole: {exc}"
            raise damaged(reason, "truncated") from None
        return _matching("png", width, height, claim, claimed_size, damaged)
    try:
        with warnings.catch_warnings():
            # A decompression-bomb warning is still an image; an error is raised beyond 2x.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                img.verify()  # structure and checksums
            with Image.open(io.BytesIO(data)) as img:
                img.load()  # every pixel: a truncated file fails here
                fmt = normalise_format(img.format) or "unknown"
                width, height = img.width, img.height
    except UnidentifiedImageError:
        head = data[:16]
        raise damaged(
            f"{len(data)} bytes that no image decoder reads (begin {head!r})", "not_an_image"
        ) from None
    except Exception as exc:  # every decoder error means the same: not whole
        raise damaged(f"{len(data)} bytes that do not decode whole: {exc}", "truncated") from None
    return _matching(fmt, width, height, claim, claimed_size, damaged)


def _matching(
    fmt: str,
    width: int,
    height: int,
    claim: str | None,
    claimed_size: str | None,
    damaged: Callable[[str, str], DamagedImageError],
) -> tuple[str, int, int]:
    """(format, width, height) when they are what the answer claims; else the damage."""
    if claim is not None and claim != fmt:
        raise damaged(f"claimed {claim}, but the bytes are {fmt}", "wrong_format")
    size = _claimed_size(claimed_size)
    if size is not None and size != (width, height):
        raise damaged(
            f"claimed {size[0]}x{size[1]}, but the image is {width}x{height}", "wrong_size"
        )
    return fmt, width, height


def downloaded_image(response: Any, **fields: Any) -> bytes:
    """The bytes of an image URL's answer (an httpx response). A URL that does not serve its
    image (DALL-E's expire an hour after the answer, and the blob store then answers 403) is
    a damaged answer, not an authentication failure of the API key: the image was made, and
    billed. The bytes are checked by :func:`checked_image` with the rest of the answer."""
    if response.status_code >= 400:
        reason = f"the image URL answered HTTP {response.status_code} instead of the image"
        raise DamagedImageError(
            f"damaged image: {reason}", reason=reason, code="image_url_failed", **fields
        )
    return response.content
