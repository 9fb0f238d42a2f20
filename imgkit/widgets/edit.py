"""Edit panel: pick an image, mark the region to repaint, run the edit, check the mask was kept.

The mask is a rectangle drawn with four sliders or a PNG of your own; the preview tints the
region the model may repaint. The edit goes through :func:`imgkit.providers.editing.edit` (which
checks the mask the way the Images API does, before sending) in a background thread, and the result
is judged by :func:`imgkit.providers.editing.mask_fidelity`: the share of pixels *outside* the mask
that changed, near 0 when the service honoured the mask.
"""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import numpy as np
from PIL import Image, ImageDraw

from imgkit.catalog.models import Catalog, default_catalog
from imgkit.errors import ImgkitError, MaskError
from imgkit.providers.editing import DEFAULT_TOLERANCE, edit, mask_from_rect
from imgkit.widgets._common import (
    BackgroundTask,
    escape,
    figure_png,
    has_live_key,
    hide_picture,
    model_options,
    new_figure,
    show_picture,
    simulated_badge,
)
from imgkit.widgets.gallery import thumbnail_png

__all__ = ["EditPanel", "mask_fidelity_figure", "overlay_png", "sample_image"]

_SIM, _LIVE = "Simulator", "Live"
_RECT, _UPLOAD = "Rectangle", "Uploaded mask"
_PREVIEW = 384
_FAILED = "<b>The edit failed:</b>"


def sample_image(size: tuple[int, int] = (1024, 1024)) -> bytes:
    """A simple landscape drawn locally (PNG bytes), so the panel works before any upload."""
    width, height = size
    y = np.linspace(0, 1, height)[:, None, None]
    sky = (np.array([70, 130, 200]) * (1 - y) + np.array([250, 200, 150]) * y).astype(np.uint8)
    picture = Image.fromarray(np.broadcast_to(sky, (height, width, 3)).copy(), "RGB")
    draw = ImageDraw.Draw(picture)
    draw.ellipse((width * 0.65, height * 0.12, width * 0.85, height * 0.32), fill=(255, 230, 120))
    draw.polygon(
        [
            (0, height * 0.75),
            (width * 0.35, height * 0.5),
            (width * 0.7, height * 0.72),
            (width, height * 0.6),
            (width, height),
            (0, height),
        ],
        fill=(60, 110, 60),
    )
    draw.rectangle((width * 0.15, height * 0.62, width * 0.3, height * 0.8), fill=(150, 60, 40))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def _open_rgb(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB")


def overlay_png(image: bytes, mask: bytes, size: int = _PREVIEW) -> bytes:
    """``image`` with the mask's transparent (editable) pixels tinted red, as PNG bytes."""
    base = _open_rgb(image).convert("RGBA")
    with Image.open(io.BytesIO(mask)) as mask_image:
        alpha = np.asarray(mask_image.convert("RGBA"))[:, :, 3]
    tint = np.zeros((*alpha.shape, 4), dtype=np.uint8)
    tint[alpha == 0] = (230, 40, 40, 110)
    shown = Image.alpha_composite(base, Image.fromarray(tint, "RGBA"))
    shown.thumbnail((size, size))
    buffer = io.BytesIO()
    shown.save(buffer, format="PNG")
    return buffer.getvalue()


def mask_fidelity_figure(
    before: bytes,
    after: bytes,
    mask: bytes,
    fidelity: Any = None,
    *,
    tolerance: int = DEFAULT_TOLERANCE,
    simulated: bool = False,
) -> Any:
    """Before, after, and a map of the pixels that changed (inside the mask blue, outside red).

    ``fidelity`` is the :class:`imgkit.providers.editing.MaskFidelity` of the edit, quoted in the
    title. Returns the matplotlib Figure (made without pyplot: display it, or save it).
    """
    old = np.asarray(_open_rgb(before), dtype=np.int16)
    new_image = _open_rgb(after)
    if new_image.size != (old.shape[1], old.shape[0]):
        new_image = new_image.resize((old.shape[1], old.shape[0]), Image.Resampling.BILINEAR)
    new = np.asarray(new_image, dtype=np.int16)
    with Image.open(io.BytesIO(mask)) as mask_image:
        editable = np.asarray(mask_image.convert("RGBA"))[:, :, 3] == 0
    changed = np.abs(old - new).max(axis=2) > tolerance
    changes = np.full((*changed.shape, 3), 245, dtype=np.uint8)
    changes[editable] = (215, 225, 245)
    changes[changed & editable] = (30, 90, 200)
    changes[changed & ~editable] = (210, 30, 30)

    figure, axes = new_figure((10, 3.6), 1, 3)
    for ax, picture, title in (
        (axes[0], old.astype(np.uint8), "before"),
        (axes[1], new.astype(np.uint8), "after"),
        (axes[2], changes, "changed pixels: blue inside the mask, red outside"),
    ):
        ax.imshow(picture)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    if fidelity is not None:
        inside = "n/a" if fidelity.inside_changed is None else f"{fidelity.inside_changed:.1%}"
        headline = (
            f"Mask fidelity: {fidelity.outside_changed:.2%} of the pixels outside the mask "
            f"changed (inside: {inside})"
        )
    else:
        headline = "Mask fidelity"
    figure.suptitle(headline + (" (simulated)" if simulated else ""), fontsize=10)
    figure.tight_layout()
    return figure


def _upload_bytes(upload: widgets.FileUpload) -> bytes | None:
    value = upload.value
    if not value:
        return None
    item = value[0] if isinstance(value, list | tuple) else next(iter(value.values()))
    return bytes(item["content"])


class EditPanel(widgets.VBox):
    """Image, mask, prompt, model in; before/after and mask fidelity out.

    :meth:`run_edit` is what the Edit button does; :meth:`wait` awaits it. After an edit,
    :attr:`result` holds the :class:`imgkit.providers.editing.EditResult`.
    """

    def __init__(
        self,
        *,
        image: bytes | str | Path | None = None,
        run: Any = None,
        model: str = "gpt-image-2",
        prompt: str = "replace the red house with a small wooden cabin",
        rect: tuple[float, float, float, float] = (0.1, 0.55, 0.4, 0.85),
        backend: str = "sim",
        catalog: Catalog | None = None,
    ) -> None:
        self.catalog = catalog or default_catalog()
        self.image_bytes = (
            Path(image).read_bytes() if isinstance(image, str | Path) else image or sample_image()
        )
        self.mask_bytes: bytes | None = None
        self.result: Any = None
        self.task: BackgroundTask | None = None
        self._live = has_live_key("openai")

        self.backend = widgets.ToggleButtons(
            options=[_SIM, _LIVE], value=_SIM, description="Backend", disabled=not self._live
        )
        self.upload = widgets.FileUpload(
            accept="image/*", multiple=False, description="Upload image"
        )
        self.run_images = widgets.Dropdown(options=[], description="From a run")
        if run is not None:
            self.load_run(run)
        self.mask_kind = widgets.ToggleButtons(options=[_RECT, _UPLOAD], description="Mask")
        self.rect = {
            name: widgets.FloatSlider(
                value=value,
                min=0.0,
                max=1.0,
                step=0.01,
                description=name,
                readout_format=".0%",
                continuous_update=False,
            )
            for name, value in zip(("left", "top", "right", "bottom"), rect, strict=True)
        }
        self.mask_upload = widgets.FileUpload(
            accept="image/png", multiple=False, description="Upload mask"
        )
        self.model = widgets.Dropdown(
            options=model_options(self.catalog, endpoint="edit"), value=model, description="Model"
        )
        self.prompt = widgets.Text(
            value=prompt, description="Prompt", layout=widgets.Layout(width="560px")
        )
        self.preview = widgets.Image(format="png")
        self.preview.add_class("imgkit-edit-preview")
        self.message = widgets.HTML()
        self.edit_button = widgets.Button(description="Edit", button_style="primary", icon="play")
        self.before = widgets.Image(format="png")
        self.after = widgets.Image(format="png")
        self.fidelity_html = widgets.HTML()
        self.fidelity_html.add_class("imgkit-mask-fidelity")
        self.figure = widgets.Image(format="png", layout=widgets.Layout(max_width="900px"))
        for picture in (self.before, self.after, self.figure):
            hide_picture(picture)  # until an edit has come back
        super().__init__(
            [
                widgets.HTML("<h3>Edit with a mask</h3>"),
                self.backend,
                widgets.HBox([self.upload, self.run_images]),
                self.mask_kind,
                widgets.HBox([widgets.VBox(list(self.rect.values())), self.mask_upload]),
                widgets.HBox([self.model, self.prompt]),
                widgets.HBox([self.preview, self.message]),
                self.edit_button,
                widgets.HBox([self.before, self.after]),
                self.fidelity_html,
                self.figure,
            ]
        )
        self.add_class("imgkit-edit-panel")
        self.upload.observe(lambda _c: self._image_from_upload(), names="value")
        self.run_images.observe(lambda _c: self._image_from_run(), names="value")
        for control in (self.mask_kind, self.mask_upload, *self.rect.values()):
            control.observe(lambda _c: self.update_preview(), names="value")
        self.edit_button.on_click(lambda _b: self.run_edit())
        self.update_preview()

    # ---------------------------------------------------------------------------------------
    # Inputs

    def load_run(self, run: Any) -> None:
        """Offer the images of a run (a ``Run`` or a run folder) in the "From a run" list."""
        if isinstance(run, str | Path):
            from imgkit.runs.folder import open_run

            run = open_run(run)
        frame = run.to_frame()
        ok = frame[(frame["status"] == "ok") & frame["image_path"].notna()]
        self.run_images.options = [
            (f"{row.arm} #{row.repeat}", row.image_path) for row in ok.itertuples()
        ]
        self.run_images.value = None

    def set_image(self, data: bytes) -> None:
        """Use ``data`` (image bytes) as the picture to edit."""
        self.image_bytes = data
        self.update_preview()

    def _image_from_upload(self) -> None:
        data = _upload_bytes(self.upload)
        if data is not None:
            self.set_image(data)

    def _image_from_run(self) -> None:
        if self.run_images.value:
            self.set_image(Path(self.run_images.value).read_bytes())

    def image_size(self) -> tuple[int, int]:
        with Image.open(io.BytesIO(self.image_bytes)) as image:
            return image.size

    def current_mask(self) -> bytes:
        """The mask PNG the settings describe (transparent = may be repainted)."""
        if self.mask_kind.value == _UPLOAD:
            data = _upload_bytes(self.mask_upload)
            if data is None:
                raise MaskError("mask", None, "an uploaded mask PNG, or the rectangle")
            return data
        width, height = self.image_size()
        left, top, right, bottom = (self.rect[k].value for k in ("left", "top", "right", "bottom"))
        box = (
            round(left * width),
            round(top * height),
            round(right * width),
            round(bottom * height),
        )
        return mask_from_rect((width, height), box)

    def update_preview(self) -> None:
        """Redraw the overlay of mask on image (and drop a failure that was about other
        inputs)."""
        running = self.task is not None and self.task.running
        if not running and self.fidelity_html.value.startswith(_FAILED):
            self.fidelity_html.value = ""
        try:
            self.mask_bytes = self.current_mask()
            self.preview.value = overlay_png(self.image_bytes, self.mask_bytes)
            self.message.value = (
                "<p>The red region is what the model may repaint; the rest should come back "
                "unchanged.</p>"
            )
            self.edit_button.disabled = self.task is not None and self.task.running
        except (ImgkitError, OSError, ValueError) as exc:
            self.mask_bytes = None
            self.message.value = f"<b>No usable mask:</b> {escape(exc)}"
            self.edit_button.disabled = True

    # ---------------------------------------------------------------------------------------
    # Editing

    def run_edit(self) -> BackgroundTask | None:
        """Send the edit in the background; None (with the reason shown) if it cannot be sent."""
        if self.task is not None and self.task.running:
            return None
        self.update_preview()
        if self.mask_bytes is None:
            return None
        image, mask = self.image_bytes, self.mask_bytes
        model, prompt = self.model.value, self.prompt.value
        backend = "live" if self.backend.value == _LIVE else "sim"
        self.edit_button.disabled = True
        self.fidelity_html.value = "Editing..."

        def work(_stop: threading.Event) -> Any:
            return edit(image, mask, prompt, model=model, backend=backend)

        def done(task: BackgroundTask) -> None:
            self.edit_button.disabled = False
            if task.error is not None:
                self.fidelity_html.value = f"{_FAILED} {escape(task.error)}"
                return
            self.show_result(task.result, image, mask)

        self.task = BackgroundTask(work, on_done=done, name="imgkit-edit").start()
        return self.task

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the edit is done; True when it is."""
        return self.task is None or self.task.wait(timeout)

    def show_result(self, result: Any, image: bytes, mask: bytes) -> None:
        """Show before / after and the mask fidelity of an
        :class:`~imgkit.providers.editing.EditResult`."""
        self.result = result
        generated = result.result
        fidelity = result.mask_fidelity
        show_picture(self.before, thumbnail_png(image, _PREVIEW))
        show_picture(self.after, thumbnail_png(generated.image_bytes, _PREVIEW))
        if fidelity is None:
            self.fidelity_html.value = "<i>No mask fidelity: the answer could not be compared.</i>"
            return
        verdict = (
            "the mask was honoured"
            if fidelity.outside_changed < 0.01
            else "pixels outside the mask changed: the service did not keep to the mask"
        )
        self.fidelity_html.value = (
            simulated_badge(generated.simulated)
            + f"<p><b>{fidelity.outside_changed:.2%}</b> of the pixels outside the mask changed "
            f"({escape(verdict)}); inside the mask "
            f"{'n/a' if fidelity.inside_changed is None else f'{fidelity.inside_changed:.0%}'} "
            f"changed. Model: {escape(generated.model)}.</p>"
        )
        show_picture(
            self.figure,
            figure_png(
                mask_fidelity_figure(
                    image, generated.image_bytes, mask, fidelity, simulated=generated.simulated
                )
            ),
        )
