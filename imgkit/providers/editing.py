"""Image editing with a mask, checked before sending and measured after.

``edit(image, mask, prompt, model=...)`` sends an edit to a model that edits (the catalog's
``edit`` endpoint). Before anything is sent, the mask is checked the way the Images API checks it
(a PNG with an alpha channel, the image's exact size, under 4 MB) and for the mistake no service
reports: a mask with no fully transparent pixel edits nothing. Problems raise
:class:`~imgkit.errors.MaskError` naming the parameter, the value and what is allowed.

Transparent pixels (alpha 0) mark where the model may paint; everything else should come back
unchanged. Users of other toolkits found masks silently ignored, so after the edit
:func:`mask_fidelity` reports the share of the pixels *outside* the mask that changed: near 0 for
an honoured mask, large when the service repainted the whole picture.
"""

from __future__ import annotations

import io
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from imgkit.catalog.validation import validate_request
from imgkit.errors import MaskError, ValidationError
from imgkit.providers import Provider, provider_for_model
from imgkit.providers.base import Backend
from imgkit.providers.results import GenerationResult

__all__ = [
    "MAX_IMAGE_BYTES",
    "MAX_MASK_BYTES",
    "EditResult",
    "MaskFidelity",
    "aedit",
    "check_mask",
    "edit",
    "mask_fidelity",
    "mask_from_array",
    "mask_from_rect",
]

#: The Images API's limits: a mask under 4 MB, each input image under 50 MB.
MAX_MASK_BYTES = 4 * 1024 * 1024
MAX_IMAGE_BYTES = 50 * 1024 * 1024
#: A channel difference (0..255) at or below which a pixel counts as unchanged: lossy re-encoding
#: moves untouched pixels by a few levels, and that is not an edit.
DEFAULT_TOLERANCE = 8

ImageInput = bytes | str | os.PathLike[str] | Image.Image


def _read_bytes(value: ImageInput, param: str) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, Image.Image):
        buffer = io.BytesIO()
        value.save(buffer, format="PNG")
        return buffer.getvalue()
    if isinstance(value, str | os.PathLike):
        path = Path(value)
        if not path.is_file():
            raise ValidationError(param, str(path), "an existing image file")
        return path.read_bytes()
    raise ValidationError(param, type(value).__name__, "PNG/JPEG/WebP bytes, a path or a PIL image")


def _open(data: bytes, param: str) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except Exception as exc:  # Pillow raises many types for undecodable data
        raise ValidationError(param, f"<{len(data):,} bytes>", "a decodable image") from exc
    return image


def _has_alpha(image: Image.Image) -> bool:
    return "A" in image.getbands() or "transparency" in image.info


def _alpha(image: Image.Image) -> np.ndarray:
    """The alpha channel as a uint8 array (255 everywhere for an image without one)."""
    if "A" not in image.getbands():
        image = image.convert("RGBA")
    return np.asarray(image.getchannel("A"))


def check_mask(image: bytes, mask: bytes) -> tuple[int, int]:
    """Check ``mask`` against ``image`` as the services would, and that it masks something.

    Returns (transparent pixels, total pixels). Raises :class:`MaskError` for a mask that is not
    a PNG, has no alpha channel, differs in size from the image, is 4 MB or more, or has no
    fully transparent pixel (it would edit nothing).
    """
    if len(mask) >= MAX_MASK_BYTES:
        raise MaskError("mask", f"<{len(mask):,} bytes>", f"a PNG under {MAX_MASK_BYTES:,} bytes")
    if len(image) >= MAX_IMAGE_BYTES:
        raise MaskError(
            "image", f"<{len(image):,} bytes>", f"an image under {MAX_IMAGE_BYTES:,} bytes"
        )
    mask_image = _open(mask, "mask")
    if mask_image.format != "PNG":
        raise MaskError("mask", f"<{mask_image.format} image>", "a PNG")
    if not _has_alpha(mask_image):
        raise MaskError(
            "mask", f"<PNG mode {mask_image.mode}>", "a PNG with an alpha channel (RGBA or LA)"
        )
    base = _open(image, "image")
    if mask_image.size != base.size:
        raise MaskError(
            "mask", "x".join(map(str, mask_image.size)),
            f"the image's size {base.width}x{base.height}",
        )  # fmt: skip
    alpha = _alpha(mask_image)
    transparent = int((alpha == 0).sum())
    if transparent == 0:
        raise MaskError(
            "mask", "<no fully transparent pixel>",
            "at least one pixel with alpha 0 (transparent marks the area to edit)",
        )  # fmt: skip
    return transparent, int(alpha.size)


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def mask_from_array(editable: Any) -> bytes:
    """A mask PNG from a boolean array of shape (height, width): True = may be edited.

    The editable pixels become fully transparent, the rest opaque white.
    """
    array = np.asarray(editable)
    if array.ndim != 2 or array.dtype != bool:
        raise ValidationError(
            "editable", f"<array {array.dtype} {array.shape}>", "a 2-D boolean array"
        )
    height, width = array.shape
    rgba = np.full((height, width, 4), 255, dtype=np.uint8)
    rgba[array, 3] = 0
    return _png(Image.fromarray(rgba, "RGBA"))


def mask_from_rect(
    size: tuple[int, int] | bytes | Image.Image, rect: tuple[int, int, int, int]
) -> bytes:
    """A mask PNG whose rectangle ``rect`` = (left, top, right, bottom) may be edited.

    ``size`` is (width, height), or the image itself (bytes or PIL) whose size to take.
    Coordinates follow Pillow: right and bottom are exclusive.
    """
    if isinstance(size, bytes | bytearray):
        size = _open(bytes(size), "size").size
    elif isinstance(size, Image.Image):
        size = size.size
    width, height = size
    left, top, right, bottom = rect
    if not (0 <= left < right <= width and 0 <= top < bottom <= height):
        raise ValidationError(
            "rect", rect, f"(left, top, right, bottom) inside 0..{width} x 0..{height}, non-empty"
        )
    editable = np.zeros((height, width), dtype=bool)
    editable[top:bottom, left:right] = True
    return mask_from_array(editable)


@dataclass(frozen=True)
class MaskFidelity:
    """How well an edit kept to its mask.

    ``outside_changed`` is the share (0..1) of pixels outside the mask that changed by more than
    ``tolerance``: the figure to watch (an honoured mask keeps it near 0).
    ``inside_changed`` is the same share inside the mask (an edit that changed nothing there
    did not edit). ``resized`` says the result had another size and was scaled back to compare.
    """

    outside_changed: float
    inside_changed: float | None
    outside_pixels: int
    inside_pixels: int
    tolerance: int
    resized: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _rgb(data: bytes | Image.Image, param: str) -> Image.Image:
    image = data if isinstance(data, Image.Image) else _open(bytes(data), param)
    return image.convert("RGB")


def mask_fidelity(
    before: bytes | Image.Image,
    after: bytes | Image.Image,
    mask: bytes | Image.Image,
    *,
    tolerance: int = DEFAULT_TOLERANCE,
) -> MaskFidelity:
    """Compare ``before`` and ``after`` outside (and inside) the transparent area of ``mask``.

    A pixel counts as changed when any RGB channel moved by more than ``tolerance`` levels.
    ``after`` is scaled to ``before``'s size first when the service answered in another size.
    """
    old = _rgb(before, "before")
    new = _rgb(after, "after")
    mask_image = mask if isinstance(mask, Image.Image) else _open(bytes(mask), "mask")
    if mask_image.size != old.size:
        raise MaskError("mask", "x".join(map(str, mask_image.size)), "the image's size")
    resized = new.size != old.size
    if resized:
        new = new.resize(old.size, Image.Resampling.BILINEAR)
    editable = _alpha(mask_image) == 0
    diff = np.abs(np.asarray(old, dtype=np.int16) - np.asarray(new, dtype=np.int16)).max(axis=2)
    changed = diff > tolerance
    outside = ~editable
    n_out, n_in = int(outside.sum()), int(editable.sum())
    return MaskFidelity(
        outside_changed=float(changed[outside].mean()) if n_out else 0.0,
        inside_changed=float(changed[editable].mean()) if n_in else None,
        outside_pixels=n_out,
        inside_pixels=n_in,
        tolerance=tolerance,
        resized=resized,
    )


@dataclass
class EditResult:
    """The edited image(s) and, when a mask was sent, how well each kept to it."""

    results: list[GenerationResult]
    fidelity: list[MaskFidelity | None]

    @property
    def result(self) -> GenerationResult:
        return self.results[0]

    @property
    def mask_fidelity(self) -> MaskFidelity | None:
        """The fidelity of the first image (None without a mask)."""
        return self.fidelity[0]


def _prepare(image: ImageInput, mask: ImageInput | None) -> tuple[bytes, bytes | None]:
    image_bytes = _read_bytes(image, "image")
    mask_bytes = None if mask is None else _read_bytes(mask, "mask")
    if mask_bytes is not None:
        check_mask(image_bytes, mask_bytes)
    elif len(image_bytes) >= MAX_IMAGE_BYTES:
        raise MaskError(
            "image", f"<{len(image_bytes):,} bytes>", f"an image under {MAX_IMAGE_BYTES:,} bytes"
        )
    else:
        _open(image_bytes, "image")
    return image_bytes, mask_bytes


def _finish(
    image: bytes, mask: bytes | None, results: list[GenerationResult], tolerance: int
) -> EditResult:
    fidelity: list[MaskFidelity | None] = []
    for result in results:
        figure = None
        if mask is not None:
            try:
                figure = mask_fidelity(image, result.image_bytes, mask, tolerance=tolerance)
            except ValidationError:  # an SVG or undecodable answer cannot be compared
                figure = None
            result.metadata = {
                **result.metadata,
                "mask_fidelity": figure.to_dict() if figure else None,
            }
        fidelity.append(figure)
    return EditResult(results, fidelity)


def _edit_request(model: str, prompt: str, backend: Backend, params: dict[str, Any]) -> Any:
    return validate_request(model, prompt, endpoint="edit", backend=backend, **params)


def edit(
    image: ImageInput,
    mask: ImageInput | None,
    prompt: str,
    *,
    model: str,
    backend: Backend = "sim",
    base_url: str | None = None,
    provider: Provider | None = None,
    tolerance: int = DEFAULT_TOLERANCE,
    **params: Any,
) -> EditResult:
    """Edit ``image`` where ``mask`` is transparent (``mask=None``: the whole image).

    ``params`` are request parameters (size, quality, n, output_format, input_fidelity, ...).
    Raises :class:`MaskError` for an unusable mask and :class:`ValidationError` for a model
    that does not edit, both before anything is sent; :class:`ProviderError` subclasses when
    the service fails.
    """
    request = _edit_request(model, prompt, backend, params)
    image_bytes, mask_bytes = _prepare(image, mask)
    owned = provider is None
    service = provider or provider_for_model(model, backend=backend, base_url=base_url)
    try:
        results = service.edit(request, image=image_bytes, mask=mask_bytes)
    finally:
        if owned:
            service.close()
    return _finish(image_bytes, mask_bytes, results, tolerance)


async def aedit(
    image: ImageInput,
    mask: ImageInput | None,
    prompt: str,
    *,
    model: str,
    backend: Backend = "sim",
    base_url: str | None = None,
    provider: Provider | None = None,
    tolerance: int = DEFAULT_TOLERANCE,
    **params: Any,
) -> EditResult:
    """Async :func:`edit`."""
    request = _edit_request(model, prompt, backend, params)
    image_bytes, mask_bytes = _prepare(image, mask)
    owned = provider is None
    service = provider or provider_for_model(model, backend=backend, base_url=base_url)
    try:
        results = await service.aedit(request, image=image_bytes, mask=mask_bytes)
    finally:
        if owned:
            await service.aclose()
    return _finish(image_bytes, mask_bytes, results, tolerance)
