"""The report's pictures, as ``data:`` URIs: the figures as PNG and the images as thumbnails.

Embedding them keeps the report one self-contained file (no external request, mailable as is).
The PNGs are drawn with :mod:`imgkit.report.plots` on a bare matplotlib Figure with fixed
metadata, and the thumbnails re-encoded with fixed settings, so the same run folder gives the
same bytes. A data URI holds only base64 characters, so escaping leaves it unchanged.
"""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from PIL import Image

from imgkit.errors import ValidationError
from imgkit.report import plots
from imgkit.report.data import ReportData

__all__ = ["EmbeddedFigure", "Gallery", "GalleryGroup", "Thumbnail", "gallery", "report_figures"]

# Thumbnails in the HTML gallery: small enough that a 100-image run stays a few MB.
_THUMB_SIDE = 160
_PLOT_DPI = 80


@dataclass(frozen=True)
class EmbeddedFigure:
    """A figure of the report: its caption and the PNG as a ``data:image/png`` URI."""

    caption: str
    uri: str


@dataclass(frozen=True)
class Thumbnail:
    """One image of the gallery: a ``data:image/jpeg`` URI and its caption (repeat, revision)."""

    uri: str
    caption: str


@dataclass(frozen=True)
class GalleryGroup:
    """The thumbnails of one arm and prompt, in repeat order."""

    arm: str
    prompt: str
    thumbnails: list[Thumbnail]


@dataclass(frozen=True)
class Gallery:
    """The report's images; ``has_paths`` is False when the run recorded no image paths."""

    has_paths: bool
    groups: list[GalleryGroup]


def _png_uri(draw: Callable[[Axes], Any], size: tuple[float, float]) -> str | None:
    # A bare Figure (not pyplot) keeps the report free of global figure state and works on any
    # backend; Software metadata is dropped so the bytes do not change between versions' runs.
    figure = Figure(figsize=size)
    ax = figure.add_subplot()
    try:
        draw(ax)
    except ValidationError:
        return None  # nothing to draw for this run (e.g. no revised prompts)
    buffer = io.BytesIO()
    figure.savefig(
        buffer, format="png", dpi=_PLOT_DPI, bbox_inches="tight", metadata={"Software": None}
    )
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def report_figures(data: ReportData) -> list[EmbeddedFigure]:
    """Return every figure that has something to show for ``data``, in the report's order.

    The consistency intervals and distance distributions, a heatmap per arm with two images or
    more, the prompt rewriting, rewriting against image spread and the monthly cost projection;
    a figure whose plot function finds nothing to draw (a ValidationError) is left out.
    """
    frame, kind = data.frame, data.kind
    hashed = frame[frame[kind].notna()]
    figures: list[tuple[str, Callable[[Axes], Any], tuple[float, float]]] = []
    if len(data.consistency):
        figures.append(
            (
                "Consistency per prompt, with 95% intervals",
                lambda ax: plots.consistency_intervals(data.consistency, kind, ax=ax),
                (7.5, 4.5),
            )
        )
        figures.append(
            (
                "Within-arm distances against the unrelated-images baseline",
                lambda ax: plots.distance_distributions(frame, kind, ax=ax),
                (7.5, 4.5),
            )
        )
    for arm in sorted(hashed["arm"].unique()):
        if (hashed["arm"] == arm).sum() >= 2:
            figures.append(
                (
                    f"Pairwise distances, {arm}",
                    lambda ax, arm=arm: plots.distance_heatmap(frame, arm, kind=kind, ax=ax),
                    (6.0, 5.0),
                )
            )
    if len(data.divergence):
        figures.append(
            (
                "How far each arm rewrote the prompt",
                lambda ax: plots.prompt_divergence(data.divergence, ax=ax),
                (7.5, 4.5),
            )
        )
    if len(data.image_vs_prompt):
        figures.append(
            (
                "Prompt rewriting against image spread",
                lambda ax: plots.divergence_vs_image_distance(data.image_vs_prompt, ax=ax),
                (7.5, 4.5),
            )
        )
    if len(data.projection):
        projection = data.projection.copy()
        projection["simulated"] = data.simulated != "none"
        figures.append(
            (
                "Projected monthly cost",
                lambda ax: plots.cost_projection(projection, ax=ax),
                (7.5, 4.5),
            )
        )
    shown = []
    for caption, draw, size in figures:
        uri = _png_uri(draw, size)
        if uri:
            shown.append(EmbeddedFigure(caption, uri))
    return shown


def _thumbnail_uri(path: Any) -> str | None:
    if not isinstance(path, str | os.PathLike) or not str(path):
        return None
    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
            image.thumbnail((_THUMB_SIDE, _THUMB_SIDE))
            buffer = io.BytesIO()
            image.save(buffer, format="JPEG", quality=80)
    except (OSError, ValueError):
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


# --------------------------------------------------------------------------------------------


def gallery(frame: pd.DataFrame) -> Gallery:
    """Return the thumbnails of every successful generation, grouped by arm and prompt.

    Images that cannot be read are skipped; a group left with none is left out.
    """
    rows = frame[frame["status"] == "ok"] if "status" in frame.columns else frame
    if "image_path" not in rows.columns:
        return Gallery(has_paths=False, groups=[])
    order = [c for c in ("arm", "prompt", "repeat") if c in rows.columns]
    groups = []
    for (arm, prompt), group in rows.sort_values(order, kind="stable").groupby(
        ["arm", "prompt"], sort=True
    ):
        thumbnails = []
        for record in group.to_dict(orient="records"):
            uri = _thumbnail_uri(record.get("image_path"))
            if uri is None:
                continue
            revised = record.get("revised_prompt")
            caption = f"repeat {record.get('repeat', '')}"
            if isinstance(revised, str) and revised.strip():
                caption += f": {revised}"
            thumbnails.append(Thumbnail(uri, caption))
        if thumbnails:
            groups.append(GalleryGroup(str(arm), str(prompt), thumbnails))
    return Gallery(has_paths=True, groups=groups)
