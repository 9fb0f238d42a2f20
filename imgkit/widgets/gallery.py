"""A gallery of generated images that fills as they arrive; click one to see it large.

One row per arm, its images in repeat order. Each tile is the thumbnail with the arm's name
under it; clicking either opens the image at a
readable size with the prompt it was asked, the revised prompt the service reported and a word
diff between the two (:func:`imgkit.analysis.divergence.html_diff`, which escapes its text).

ipywidgets' Image cannot be clicked, so the thumbnail is a Button painted with the picture: a
``<style>`` rule beside it gives that one button the thumbnail (a base64 ``data:`` URI, nothing
to escape) as its background.
"""

from __future__ import annotations

import base64
import io
import math
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ipywidgets as widgets
from PIL import Image

from imgkit.analysis.divergence import html_diff
from imgkit.widgets._common import escape, simulated_badge

__all__ = ["ArmRow", "Gallery", "GalleryItem", "thumbnail_png"]

_THUMB = 160
_LARGE = 512


def thumbnail_png(image: bytes | str | Path, size: int = _THUMB) -> bytes:
    """PNG bytes of ``image`` (bytes or a path) scaled to at most ``size`` pixels a side.

    Thumbnails keep the messages between kernel and browser small: a full-size PNG per tile
    would make a gallery of dozens of images slow to draw.
    """
    source = io.BytesIO(image) if isinstance(image, bytes | bytearray) else Path(image)
    with Image.open(source) as picture:
        picture = picture.convert("RGBA" if picture.mode in ("RGBA", "LA", "P") else "RGB")
        picture.thumbnail((size, size))
        out = io.BytesIO()
        picture.save(out, format="PNG")
    return out.getvalue()


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)


@dataclass
class GalleryItem:
    """One image in the gallery and what to show about it."""

    image: bytes | str | Path
    arm: str
    repeat: int | None = None
    prompt: str | None = None
    revised_prompt: str | None = None
    simulated: bool = True
    cost_usd: float | None = None
    cost_basis: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def title(self) -> str:
        return self.arm if self.repeat is None else f"{self.arm} #{self.repeat}"

    @classmethod
    def from_row(cls, row: Any) -> GalleryItem:
        """An item from one row of a run frame (``run.to_frame()``)."""
        get = row.get if hasattr(row, "get") else lambda key, default=None: default
        repeat = get("repeat")
        cost = get("cost_usd")
        return cls(
            image=str(get("image_path")),
            arm=str(get("arm", get("model", "?"))),
            repeat=None if _text(repeat) is None else int(repeat),
            prompt=_text(get("prompt")),
            revised_prompt=_text(get("revised_prompt")),
            simulated=bool(get("simulated", True)),
            cost_usd=None if _text(cost) is None else float(cost),
            cost_basis=_text(get("cost_basis")),
        )


class ArmRow(widgets.VBox):
    """One arm's images in the gallery: a heading and its thumbnails in repeat order."""

    def __init__(self, arm: str) -> None:
        self.arm = arm
        self.items: list[GalleryItem] = []
        self.heading = widgets.HTML(f"<b>{escape(arm)}</b>")
        self.tiles = widgets.GridBox(
            [],
            layout=widgets.Layout(
                grid_template_columns=f"repeat(auto-fill, {_THUMB + 16}px)", grid_gap="6px"
            ),
        )
        super().__init__([self.heading, self.tiles])
        self.add_class("imgkit-gallery-row")

    def show_only(self, prompt: str | None) -> int:
        """Show the tiles of ``prompt`` (None: all); return how many are shown."""
        shown = 0
        for item, tile in zip(self.items, self.tiles.children, strict=True):
            keep = prompt is None or item.prompt == prompt
            tile.layout.display = None if keep else "none"
            shown += keep
        return shown

    def insert(self, item: GalleryItem, tile: Any) -> None:
        """Put ``tile`` among the others in repeat order (images arrive in any order)."""
        key = -1 if item.repeat is None else item.repeat
        place = sum(1 for i in self.items if (-1 if i.repeat is None else i.repeat) <= key)
        self.items.insert(place, item)
        tiles = list(self.tiles.children)
        tiles.insert(place, tile)
        self.tiles.children = tuple(tiles)
        count = len(self.items)
        self.heading.value = (
            f"<b>{escape(self.arm)}</b> <small>{count} image{'s' if count != 1 else ''}</small>"
        )


class Gallery(widgets.VBox):
    """Thumbnails one row per arm (in the order :meth:`set_arms` gives, then as arms first
    appear), each row in repeat order, plus a detail view of the one last clicked.

    :meth:`add` may be called from a worker thread while a run is going on.
    """

    def __init__(self, **kwargs: Any) -> None:
        self.items: list[GalleryItem] = []
        self.arm_rows: list[ArmRow] = []
        self._arm_order: list[str] = []
        self._lock = threading.Lock()
        self.grid = widgets.VBox([])
        self.grid.add_class("imgkit-gallery")
        # Filters: by arm and by prompt ("" = all), offered once there is something to filter.
        self.arm_filter = widgets.Dropdown(options=[("all arms", "")], value="", description="Arm")
        self.prompt_filter = widgets.Dropdown(
            options=[("all prompts", "")], value="", description="Prompt"
        )
        self.filters = widgets.HBox([self.arm_filter, self.prompt_filter])
        self.filters.add_class("imgkit-gallery-filter")
        self.filters.layout.display = "none"
        self.arm_filter.observe(lambda _c: self.apply_filter(), names="value")
        self.prompt_filter.observe(lambda _c: self.apply_filter(), names="value")
        self.detail_image = widgets.Image(format="png", layout=widgets.Layout(max_width="520px"))
        self.detail_text = widgets.HTML()
        self.detail = widgets.HBox([self.detail_image, self.detail_text])
        self.detail.layout.display = "none"
        self.detail.add_class("imgkit-gallery-detail")
        self.status = widgets.HTML("<i>No images yet.</i>")
        super().__init__([self.status, self.filters, self.grid, self.detail], **kwargs)

    def __len__(self) -> int:
        return len(self.items)

    def set_arms(self, arms: Any) -> None:
        """The arms in the order their rows are to be shown (the run's order)."""
        with self._lock:
            self._arm_order = [str(a) for a in arms]

    def _row(self, arm: str) -> ArmRow:
        """``arm``'s row, made (and put in its place) on its first image; call under the lock."""
        for row in self.arm_rows:
            if row.arm == arm:
                return row
        row = ArmRow(arm)
        rank = {a: k for k, a in enumerate(self._arm_order)}
        rows = [*self.arm_rows, row]
        rows.sort(key=lambda r: rank.get(r.arm, len(rank)))  # stable: newcomers keep arrival
        self.arm_rows = rows
        self.grid.children = tuple(rows)
        return row

    def apply_filter(self) -> None:
        """Show the rows and tiles the arm and prompt filters choose."""
        arm, prompt = self.arm_filter.value or None, self.prompt_filter.value or None
        with self._lock:
            for row in self.arm_rows:
                shown = row.show_only(prompt)
                visible = (arm is None or row.arm == arm) and shown > 0
                row.layout.display = None if visible else "none"

    def _offer_filters(self) -> None:
        """Keep the filters' choices to the arms and prompts shown; call under the lock."""
        arms = [row.arm for row in self.arm_rows]
        prompts = list(dict.fromkeys(i.prompt for i in self.items if i.prompt is not None))
        arm_options = [("all arms", ""), *((a, a) for a in arms)]
        prompt_options = [("all prompts", ""), *((_short(p), p) for p in prompts)]
        if list(self.arm_filter.options) != arm_options:
            keep = self.arm_filter.value if self.arm_filter.value in arms else ""
            self.arm_filter.options = arm_options
            self.arm_filter.value = keep
        if list(self.prompt_filter.options) != prompt_options:
            keep = self.prompt_filter.value if self.prompt_filter.value in prompts else ""
            self.prompt_filter.options = prompt_options
            self.prompt_filter.value = keep
        self.filters.layout.display = "flex" if len(arms) > 1 or len(prompts) > 1 else "none"

    def clear(self) -> None:
        """Remove every image and close the detail view."""
        with self._lock:
            self.items = []
            self.arm_rows = []
            self.grid.children = ()
            self.filters.layout.display = "none"
            self.detail.layout.display = "none"
            self.status.value = "<i>No images yet.</i>"

    def add(self, item: GalleryItem) -> None:
        """Append an image; its thumbnail is made here, so call it from the worker thread."""
        png = thumbnail_png(item.image)
        painted = f"imgkit-thumb-{uuid.uuid4().hex[:12]}"
        picture = base64.b64encode(png).decode("ascii")
        paint = widgets.HTML(
            f"<style>.{painted} {{background: url(data:image/png;base64,{picture}) "
            "center / contain no-repeat !important;}</style>",
            layout=widgets.Layout(display="none"),
        )
        thumb = widgets.Button(
            description="",
            tooltip=f"{item.title}: show it large, with its revised prompt",
            layout=widgets.Layout(width=f"{_THUMB}px", height=f"{_THUMB}px"),
        )
        thumb.add_class("imgkit-thumb")
        thumb.add_class(painted)
        button = widgets.Button(
            description=item.title,
            tooltip=f"{item.title}: show it large, with its revised prompt",
            layout=widgets.Layout(width=f"{_THUMB}px"),
        )
        for clickable in (thumb, button):
            clickable.on_click(lambda _button, item=item: self.show(item))
        tile = widgets.VBox([paint, thumb, button])
        tile.add_class("imgkit-tile")
        with self._lock:
            self.items.append(item)
            row = self._row(item.arm)
            row.insert(item, tile)
            prompt = self.prompt_filter.value or None
            tile.layout.display = None if prompt is None or item.prompt == prompt else "none"
            arm = self.arm_filter.value or None
            row.layout.display = None if arm is None or row.arm == arm else "none"
            self._offer_filters()
            count = len(self.items)
        simulated = any(i.simulated for i in self.items)
        self.status.value = (
            f"{count} image{'s' if count != 1 else ''}. Click one to see it large. "
            + simulated_badge(simulated)
        )

    def show(self, item: GalleryItem) -> None:
        """Open ``item`` in the detail view."""
        self.detail_image.value = thumbnail_png(item.image, _LARGE)
        parts = [f"<h4>{escape(item.title)}</h4>", simulated_badge(item.simulated)]
        if item.prompt is not None:
            parts.append(f"<p><b>Prompt asked:</b> {escape(item.prompt)}</p>")
        if item.revised_prompt:
            parts.append(f"<p><b>Revised prompt:</b> {escape(item.revised_prompt)}</p>")
            parts.append(
                "<p><b>What changed</b> (struck out: dropped; underlined: added):<br>"
                f"{html_diff(item.prompt or '', item.revised_prompt)}</p>"
            )
        else:
            parts.append("<p><i>The service reported no revised prompt for this image.</i></p>")
        if item.cost_usd is not None:
            basis = escape(item.cost_basis or "estimate")
            parts.append(f"<p><b>Cost:</b> ${item.cost_usd:.4f} ({basis})</p>")
        for key, value in item.extra.items():
            parts.append(f"<p><b>{escape(key)}:</b> {escape(value)}</p>")
        self.detail_text.value = "".join(parts)
        self.detail.layout.display = "flex"
