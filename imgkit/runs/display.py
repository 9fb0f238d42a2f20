"""How a run looks in a notebook: a summary card for ``run``, thumbnails in ``run.to_frame()``.

:func:`run_card_html` is what :meth:`imgkit.runs.folder.Run._repr_html_` shows: the arms with
their images and spend, the run's status, a SIMULATED badge when the simulator made the
images, and a thumbnail per arm. :func:`run_line` is the one-line ``repr``. :func:`with_thumbnails`
adds a ``thumbnail`` column (small JPEGs as ``data:`` URIs) to a run frame and returns it as a
:class:`FrameWithThumbnails`, which a notebook displays with the pictures drawn.

Every piece of text from the run (arm names, paths, prompts, errors) is escaped; a thumbnail
is a base64 ``data:`` URI re-encoded here, so it holds nothing to escape. Reading needs only the
folder. Nothing here may raise out of a ``repr``: a folder that cannot be read is described as
such.
"""

from __future__ import annotations

import base64
import html
import io
import math
import os
from pathlib import Path
from typing import Any, ClassVar, Protocol

import pandas as pd


class Run(Protocol):
    """What a card needs of a run (:class:`imgkit.runs.folder.Run` has it). A protocol, not
    the class: the folder module imports this one to show itself, and this one needs no
    more of it than these."""

    path: Path
    run_id: str

    @property
    def manifest(self) -> dict[str, Any]: ...

    @property
    def status(self) -> str: ...

    def to_frame(self) -> pd.DataFrame: ...


__all__ = [
    "FrameWithThumbnails",
    "jpeg_uri",
    "run_card_html",
    "run_line",
    "thumbnail_jpeg",
    "thumbnail_uri",
    "with_thumbnails",
]

#: Side, in pixels, of the card's thumbnails and of the frame's thumbnail column.
CARD_THUMB, FRAME_THUMB = 96, 64
_BADGE = (
    '<span style="display:inline-block;background:#fde68a;color:#78350f;border-radius:4px;'
    "padding:1px 6px;font-weight:600;font-size:0.85em\">SIMULATED: made by imgkit's offline "
    "simulator, not by the real service</span>"
)
_CARD_STYLE = (
    "border:1px solid #d0d7de;border-radius:6px;padding:8px 12px;display:inline-block;"
    "max-width:100%;overflow-x:auto"
)


def _escape(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def thumbnail_jpeg(source: Any, side: int = FRAME_THUMB) -> bytes | None:
    """The image at ``source`` (a path, or the file's bytes) as JPEG bytes at most ``side``
    pixels a side; None when there is no readable image."""
    if isinstance(source, bytes | bytearray):
        source = io.BytesIO(source)
    elif not isinstance(source, str | os.PathLike) or not str(source):
        return None
    from PIL import Image

    try:
        with Image.open(source) as image:
            image = image.convert("RGB")
            image.thumbnail((side, side))
            buffer = io.BytesIO()
            image.save(buffer, format="JPEG", quality=80)
    except (OSError, ValueError):
        return None
    return buffer.getvalue()


def jpeg_uri(jpeg: bytes) -> str:
    """JPEG bytes as a ``data:image/jpeg`` URI (base64: nothing in it to escape)."""
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")


def thumbnail_uri(path: Any, side: int = FRAME_THUMB) -> str | None:
    """A ``data:image/jpeg`` URI of the image at ``path``, at most ``side`` pixels a side;
    None when there is no readable image."""
    jpeg = thumbnail_jpeg(path, side)
    return None if jpeg is None else jpeg_uri(jpeg)


def _per_arm(frame: pd.DataFrame) -> pd.DataFrame:
    costs = pd.to_numeric(frame["cost_usd"], errors="coerce")
    return (
        frame.assign(cost_usd=costs, ok=frame["status"] == "ok")
        .groupby("arm", sort=False)
        .agg(ok=("ok", "sum"), planned=("status", "size"), spent=("cost_usd", "sum"))
    )


def _simulated(run: Run) -> bool:
    try:
        return run.manifest.get("backend") == "sim"
    except Exception:  # a damaged manifest: the frame's column says it per image
        return False


def run_line(run: Run) -> str:
    """``Run('<path>', status=..., arms=[...], images=ok/planned, spent=$..., simulated)``."""
    head = f"Run({str(run.path)!r}, status={run.status!r}"
    try:
        frame = run.to_frame()
        per_arm = _per_arm(frame)
    except Exception as exc:  # a repr must not fail: say why there is no more
        return f"{head}, unreadable: {exc})"
    spent = float(per_arm["spent"].sum())
    simulated = _simulated(run) or bool(frame["simulated"].fillna(False).astype(bool).any())
    return (
        f"{head}, arms={list(per_arm.index)}, images={int(per_arm['ok'].sum())}/{len(frame)}, "
        f"spent=${spent:.4f}{', simulated' if simulated else ''})"
    )


def run_card_html(run: Run, *, thumbnails: int = 6) -> str:
    """The run as an HTML card: id and status, a SIMULATED badge when it applies, one row per
    arm (images made of planned, spend) and a thumbnail of up to ``thumbnails`` arms."""
    title = f"<b>Run {_escape(run.run_id)}</b>"
    try:
        status = run.status
        frame = run.to_frame()
        per_arm = _per_arm(frame)
    except Exception as exc:  # a repr must not fail: say why there is no more
        return (
            f'<div class="imgkit-run-card" style="{_CARD_STYLE}">{title}: cannot be read '
            f"({_escape(exc)})<br><code>{_escape(run.path)}</code></div>"
        )
    simulated = _simulated(run) or bool(frame["simulated"].fillna(False).astype(bool).any())
    rows = "".join(
        f"<tr><td style='white-space:nowrap;text-align:left'>{_escape(arm)}</td>"
        f"<td style='text-align:right'>{int(row.ok)} / {int(row.planned)}</td>"
        f"<td style='text-align:right'>${float(row.spent):.4f}</td></tr>"
        for arm, row in per_arm.iterrows()
    )
    pictures = []
    for arm, group in frame[frame["status"] == "ok"].groupby("arm", sort=False):
        if len(pictures) >= thumbnails:
            break
        uri = next((u for u in map(_card_thumb, group["image_path"]) if u), None)
        if uri is not None:
            pictures.append(
                f'<figure style="display:inline-block;margin:0 8px 0 0;text-align:center">'
                f'<img src="{uri}" alt="{_escape(arm)}" width="{CARD_THUMB}">'
                f'<figcaption style="font-size:0.8em">{_escape(arm)}</figcaption></figure>'
            )
    spent = float(per_arm["spent"].sum())
    ok = int(per_arm["ok"].sum())
    return (
        f'<div class="imgkit-run-card" style="{_CARD_STYLE}">'
        f"{title} &middot; {_escape(status)} &middot; {ok} of {len(frame)} images &middot; "
        f"spent ${spent:.4f}{' (simulated: nothing was billed)' if simulated else ''}"
        f"{'<br>' + _BADGE if simulated else ''}"
        "<table style='margin-top:6px'><tr><th style='text-align:left'>arm</th>"
        f"<th>images</th><th>spent</th></tr>{rows}</table>"
        f"<div>{''.join(pictures)}</div>"
        f"<small>Folder: <code>{_escape(run.path)}</code>; "
        "<code>run.to_frame()</code> has every generation.</small></div>"
    )


def _card_thumb(path: Any) -> str | None:
    return thumbnail_uri(path, CARD_THUMB)


# --------------------------------------------------------------------------------------------
# The run frame with thumbnails


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return _escape(value)


def _picture(value: Any) -> str:
    if isinstance(value, str) and value.startswith("data:image/jpeg;base64,"):
        return f'<img src="{_escape(value)}" width="{FRAME_THUMB}">'
    return ""


class FrameWithThumbnails(pd.DataFrame):
    """A run frame whose notebook display draws its ``thumbnail`` column as pictures.

    In every other way it is a DataFrame (its slices and copies too); the ``thumbnail`` column
    holds ``data:`` URIs, plain strings.
    """

    _metadata: ClassVar[list[str]] = []

    @property
    def _constructor(self) -> type[FrameWithThumbnails]:
        return FrameWithThumbnails

    def _repr_html_(self) -> str | None:
        if "thumbnail" not in self.columns:
            return super()._repr_html_()
        limit = pd.get_option("display.max_rows") or len(self)
        shown = self.head(limit)
        formatters = {column: _cell for column in shown.columns}
        formatters["thumbnail"] = _picture
        table = shown.to_html(escape=False, formatters=formatters, border=0, na_rep="")
        if len(shown) < len(self):
            table += f"<p>{len(self)} rows; the first {len(shown)} shown.</p>"
        return table


def with_thumbnails(frame: pd.DataFrame, side: int = FRAME_THUMB) -> FrameWithThumbnails:
    """``frame`` (a run frame) with a ``thumbnail`` column after ``arm``: each image as a small
    JPEG ``data:`` URI, missing (None or NaN) where there is no image."""
    from concurrent.futures import ThreadPoolExecutor

    shown = FrameWithThumbnails(frame.copy())
    # Decoding the images is most of the time, and Pillow does it without holding the GIL.
    with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 1) + 1)) as pool:
        uris = list(pool.map(lambda path: thumbnail_uri(path, side), shown["image_path"]))
    position = list(shown.columns).index("arm") + 1 if "arm" in shown.columns else 0
    shown.insert(position, "thumbnail", uris)
    return shown
