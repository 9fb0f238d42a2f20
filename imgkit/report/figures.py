"""The report's pictures, as ``data:`` URIs: the figures as PNG and the images as thumbnails.

Embedding them keeps the report one self-contained file (no external request, mailable as is).
The PNGs are drawn with :mod:`imgkit.report.plots` on a bare matplotlib Figure with fixed
metadata, and the thumbnails re-encoded with fixed settings, so the same run folder gives the
same bytes. A data URI holds only base64 characters, so escaping leaves it unchanged.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import os
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from imgkit.analysis.consistency import distance_histogram
from imgkit.analysis.generations import in_run_order
from imgkit.errors import ValidationError
from imgkit.report import plots
from imgkit.report.data import ReportData
from imgkit.report.sampling import evenly_spaced
from imgkit.runs.display import jpeg_uri, thumbnail_jpeg, thumbnail_uri

__all__ = [
    "HEATMAP_IMAGES",
    "THUMBNAILS_IN_REPORT",
    "THUMBNAILS_PER_GROUP",
    "EmbeddedFigure",
    "Gallery",
    "GalleryGroup",
    "Thumbnail",
    "gallery",
    "gallery_links",
    "report_figures",
]

# Thumbnails in the HTML gallery: small enough that a 100-image run stays a few MB.
_THUMB_SIDE = 160
_PLOT_DPI = 80

#: At most this many thumbnails of one arm x prompt group are embedded in the report...
THUMBNAILS_PER_GROUP = 8
#: ...and at most this many in all (about 10 kB each), so a sweep of thousands of images still
#: gives a page a browser and a mail attachment take (the full gallery is a page of its own).
THUMBNAILS_IN_REPORT = 400
#: A heatmap shows at most this many images (more would be unreadable and slow to draw).
HEATMAP_IMAGES = 24


@dataclass(frozen=True)
class EmbeddedFigure:
    """A figure of the report: its caption, the PNG as a ``data:image/png`` URI, and the
    section of the page it illustrates ("consistency", "divergence" or "cost")."""

    caption: str
    uri: str
    section: str = "consistency"


@dataclass(frozen=True)
class Thumbnail:
    """One image of the gallery: a ``data:image/jpeg`` URI and its caption (repeat, revision)."""

    uri: str
    caption: str


@dataclass(frozen=True)
class GalleryGroup:
    """The thumbnails of one arm and prompt, in repeat order (``available``: the group's images)."""

    arm: str
    prompt: str
    thumbnails: list[Thumbnail]
    available: int = 0


@dataclass(frozen=True)
class Gallery:
    """The report's images; ``has_paths`` is False when the run recorded no image paths.

    ``shown`` thumbnails were embedded of the ``available`` images, at most ``per_group`` per
    arm and prompt; :attr:`note` says so when some were left out.
    """

    has_paths: bool
    groups: list[GalleryGroup]
    shown: int = 0
    available: int = 0
    per_group: int = 0

    def at_a_glance(self, per_arm: int = 4) -> list[GalleryGroup]:
        """A few thumbnails of each arm, from its first prompt: what the report shows first."""
        chosen: dict[str, GalleryGroup] = {}
        for group in self.groups:
            if group.arm not in chosen and group.thumbnails:
                thumbnails = group.thumbnails[:per_arm]
                chosen[group.arm] = GalleryGroup(
                    group.arm, group.prompt, thumbnails, len(thumbnails)
                )
        return list(chosen.values())

    @property
    def sampled(self) -> bool:
        """True when some images are not embedded."""
        return self.shown < self.available

    @property
    def note(self) -> str:
        """What the embedded sample is, or "" when every image is shown."""
        if not self.sampled:
            return ""
        return (
            f"Showing {self.shown} of {self.available} images: at most {self.per_group} per arm "
            "and prompt, spread evenly over the repeats, so the page stays small. Every image "
            "is in the full gallery next to this report (gallery.html) and in the run folder."
        )


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


def _heatmap_sample(frame: pd.DataFrame, arm: str, kind: str) -> tuple[pd.DataFrame, str]:
    """A bounded, deterministic set of one arm's images for its heatmap, and what it shows."""
    rows = frame[(frame["arm"] == arm) & frame[kind].notna()]
    if "status" in rows.columns:
        rows = rows[rows["status"] == "ok"]
    prompts = list(dict.fromkeys(rows["prompt"]))
    if len(rows) <= HEATMAP_IMAGES:
        return rows, ""
    first = rows[rows["prompt"] == prompts[0]]
    chosen = first.iloc[evenly_spaced(len(first), HEATMAP_IMAGES)]
    note = f" ({len(chosen)} of {len(rows)} images: the first prompt"
    return chosen, note + (", evenly spaced repeats)" if len(first) > len(chosen) else ")")


def report_figures(data: ReportData) -> list[EmbeddedFigure]:
    """Return every figure that has something to show for ``data``, in the report's order.

    The consistency intervals and the distance histogram on the fixed scale, a heatmap per arm
    with two images or more (at most :data:`HEATMAP_IMAGES` images each), the prompt
    rewriting, rewriting against image spread and the monthly cost projection; each is drawn
    once, and a figure whose plot function finds nothing to draw (a ValidationError) is left
    out.
    """
    frame, kind = data.frame, data.kind
    hashed = frame[frame[kind].notna()]
    # (caption, draw, size in inches, section of the page)
    figures: list[tuple[str, Callable[[Axes], Any], tuple[float, float], str]] = []
    if len(data.consistency):
        figures.append(
            (
                "Consistency per prompt, with 95% intervals",
                lambda ax: plots.consistency_intervals(data.consistency, kind, ax=ax),
                (7.5, 4.5),
                "consistency",
            )
        )
        figures.append(
            (
                "Within-arm distances against unrelated photographs (the fixed scale)",
                lambda ax: plots.distance_histogram(distance_histogram(frame, kind), ax=ax),
                (7.5, 4.5),
                "consistency",
            )
        )
    for arm in sorted(hashed["arm"].unique()):
        if (hashed["arm"] == arm).sum() >= 2:
            sample, note = _heatmap_sample(hashed, arm, kind)
            figures.append(
                (
                    f"Pairwise distances, {arm}{note}",
                    lambda ax, sample=sample, arm=arm: plots.distance_heatmap(
                        sample, arm, kind=kind, ax=ax
                    ),
                    (6.0, 5.0),
                    "consistency",
                )
            )
    if len(data.divergence):
        figures.append(
            (
                "How far each arm rewrote the prompt",
                lambda ax: plots.prompt_divergence(
                    data.divergence, ax=ax, arms=list(dict.fromkeys(data.frame["arm"]))
                ),
                (7.5, 4.5),
                "divergence",
            )
        )
    if len(data.image_vs_prompt):
        figures.append(
            (
                "Prompt rewriting against image spread",
                lambda ax: plots.divergence_vs_image_distance(data.image_vs_prompt, ax=ax),
                (7.5, 4.5),
                "divergence",
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
                "cost",
            )
        )
    shown = []
    for caption, draw, size, section in figures:
        uri = _png_uri(draw, size)
        if uri:
            shown.append(EmbeddedFigure(caption, uri, section))
    return shown


# --------------------------------------------------------------------------------------------


def _image_groups(rows: pd.DataFrame) -> list[tuple[Any, Any, list[dict[str, Any]]]]:
    """``rows`` in run order (:func:`in_run_order`, then by repeat) as ``(arm, prompt,
    records)`` groups, in the order the groups first appear, as ``groupby(["arm", "prompt"],
    sort=False)`` gives them (rows without an arm or prompt left out); each record holds the
    columns a gallery shows. Built from whole columns: a pandas group and row at a time took
    longer than the rest of the gallery for thousands of images."""
    ordered = in_run_order(rows, then=("repeat",))
    shown = [c for c in ("image_path", "image_sha256", "repeat", "revised_prompt") if c in rows]
    values = [ordered[c].tolist() for c in shown]
    groups: dict[tuple[Any, Any], list[dict[str, Any]]] = {}
    keys = zip(ordered["arm"].tolist(), ordered["prompt"].tolist(), strict=True)
    for position, (arm, prompt) in enumerate(keys):
        if pd.isna(arm) or pd.isna(prompt):
            continue
        record = {c: column[position] for c, column in zip(shown, values, strict=True)}
        groups.setdefault((arm, prompt), []).append(record)
    return [(arm, prompt, records) for (arm, prompt), records in groups.items()]


def _thumbnail_uris(records: list[dict[str, Any]], side: int) -> list[str | None]:
    """A thumbnail URI per record (its ``image_path``, None when there is no readable image).

    Images of a run folder are thumbnailed once and kept there under their SHA-256
    (:class:`~imgkit.runs.thumbnail_store.ThumbnailFile`): a record whose ledger digest has a
    kept thumbnail is not read at all (a verified frame's digest is its file's); any other is
    read, digested, thumbnailed and kept under the digest of the bytes read.
    """
    from imgkit.analysis.image_features import run_folder_of
    from imgkit.runs.thumbnail_store import ThumbnailFile

    uris: list[str | None] = [None] * len(records)
    by_run: dict[Path | None, list[int]] = {}
    for position, record in enumerate(records):
        path = record.get("image_path")
        if isinstance(path, str | os.PathLike) and str(path):
            by_run.setdefault(run_folder_of(path), []).append(position)
    for run, positions in by_run.items():
        if run is None:
            for position in positions:
                uris[position] = thumbnail_uri(records[position]["image_path"], side)
            continue
        store = ThumbnailFile(run, side)
        kept = store.read()
        fresh: dict[str, bytes] = {}
        for position in positions:
            digest = records[position].get("image_sha256")
            jpeg = kept.get(digest) if isinstance(digest, str) else None
            if jpeg is None:
                try:
                    data = Path(records[position]["image_path"]).read_bytes()
                except OSError:
                    continue
                digest = hashlib.sha256(data).hexdigest()
                jpeg = kept.get(digest) or fresh.get(digest) or thumbnail_jpeg(data, side)
                if jpeg is None:
                    continue
                if digest not in kept:
                    fresh[digest] = jpeg
            uris[position] = jpeg_uri(jpeg)
        # Thumbnails only save time: a run folder that cannot be written goes without them.
        with contextlib.suppress(OSError):
            store.append(fresh)
    return uris


def gallery(
    frame: pd.DataFrame,
    *,
    per_group: int = THUMBNAILS_PER_GROUP,
    total: int = THUMBNAILS_IN_REPORT,
) -> Gallery:
    """Return a bounded sample of thumbnails of the successful generations, by arm and prompt
    (prompts in the run's order).

    Each arm x prompt group shows at most ``per_group`` images, fewer when there are so many
    groups that ``total`` would be passed (at least one per group, and at most ``total`` groups
    in all), chosen evenly over the group's repeats, so the same run always shows the same
    images. Images that cannot be read are skipped; a group left with none is left out.
    ``Gallery.shown`` and ``Gallery.available`` count what was embedded and what there is.
    """
    rows = frame[frame["status"] == "ok"] if "status" in frame.columns else frame
    if "image_path" not in rows.columns:
        return Gallery(has_paths=False, groups=[])
    rows = rows[rows["image_path"].notna()]
    grouped = _image_groups(rows)
    each = max(1, min(per_group, total // max(1, len(grouped))))
    chosen = [
        (arm, prompt, group, [group[k] for k in evenly_spaced(len(group), each)])
        for arm, prompt, group in grouped[:total]
    ]
    uris = iter(_thumbnail_uris([r for *_, records in chosen for r in records], _THUMB_SIDE))
    groups = []
    for arm, prompt, group, records in chosen:
        thumbnails = []
        for record in records:
            uri = next(uris)
            if uri is None:
                continue
            revised = record.get("revised_prompt")
            caption = f"repeat {record.get('repeat', '')}"
            if isinstance(revised, str) and revised.strip():
                caption += f": {revised}"
            thumbnails.append(Thumbnail(uri, caption))
        if thumbnails:
            groups.append(GalleryGroup(str(arm), str(prompt), thumbnails, len(group)))
    return Gallery(
        has_paths=True,
        groups=groups,
        shown=sum(len(g.thumbnails) for g in groups),
        available=len(rows),
        per_group=each,
    )


def gallery_links(frame: pd.DataFrame, folder: str | os.PathLike) -> Gallery:
    """Every successful generation's image as a link relative to ``folder`` (for gallery.html).

    Nothing is read or embedded: the page points at the run folder's own image files, so it
    stays small whatever the number of images, and works wherever the run folder and the page
    are moved together.
    """
    rows = frame[frame["status"] == "ok"] if "status" in frame.columns else frame
    if "image_path" not in rows.columns:
        return Gallery(has_paths=False, groups=[])
    rows = rows[rows["image_path"].notna()]
    groups = []
    for arm, prompt, group in _image_groups(rows):
        links = []
        for record in group:
            relative = os.path.relpath(str(record["image_path"]), os.fspath(folder))
            caption = f"repeat {record.get('repeat', '')}"
            revised = record.get("revised_prompt")
            if isinstance(revised, str) and revised.strip():
                caption += f": {revised}"
            links.append(Thumbnail(urllib.parse.quote(Path(relative).as_posix()), caption))
        groups.append(GalleryGroup(str(arm), str(prompt), links, len(group)))
    shown = sum(len(g.thumbnails) for g in groups)
    return Gallery(has_paths=True, groups=groups, shown=shown, available=shown, per_group=0)
