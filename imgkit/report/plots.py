"""Figures for consistency, prompt rewriting and cost. Matplotlib only; these functions draw.

Every number drawn comes from :mod:`imgkit.analysis.consistency`, :mod:`imgkit.analysis.divergence`
or the cost module's projection frame; nothing is computed here beyond laying things out. Each
function takes ``ax=None``, makes a new figure only when no Axes is given, returns the Axes and
never calls ``plt.show()``. Whenever the data come from the simulator (a true ``simulated`` column
or attribute) the title says "simulated", so a simulated picture is never taken for a real one.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import pyplot as plt
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, StrMethodFormatter
from PIL import Image

from imgkit.analysis.consistency import (
    distance_histogram as distance_histogram_table,
)
from imgkit.analysis.consistency import pairwise_distances, within_arm_distances
from imgkit.analysis.divergence import (
    divergence_summary,
    divergence_table,
    divergence_vs_distance,
)
from imgkit.analysis.measures import DEFAULT_MEASURE, Measure, parse_measure
from imgkit.errors import ValidationError, check_argument
from imgkit.report.plot_text import (
    axes_points,
    fit_category_ticks,
    legend_outside,
    set_wrapped_labels,
    set_wrapped_title,
    wrap_name,
)

__all__ = [
    "consistency_intervals",
    "contact_sheet",
    "cost_projection",
    "distance_distributions",
    "distance_heatmap",
    "distance_histogram",
    "divergence_vs_image_distance",
    "prompt_divergence",
]

_SIMULATED = " (simulated)"
# Thumbnails are drawn at most this many pixels on a side: enough for a contact sheet, and
# it keeps a 40-image sheet light in memory and in saved files.
_THUMBNAIL = 256


def _axes(ax: Axes | None, size: tuple[float, float] = (6.4, 4.8)) -> Axes:
    if ax is None:
        _fig, ax = plt.subplots(figsize=size)
    return ax


def _is_simulated(data: Any) -> bool:
    if isinstance(data, pd.DataFrame):
        if data.attrs.get("simulated"):
            return True
        if "simulated" in data.columns:
            return bool(data["simulated"].fillna(False).astype(bool).any())
    return False


def _title(ax: Axes, text: str, simulated: bool) -> None:
    set_wrapped_title(ax, text + (_SIMULATED if simulated else ""))


def _arms_in(frame: pd.DataFrame) -> list[str]:
    """The arms of a run frame, in the order they first appear."""
    if "arm" not in frame.columns:
        return []
    return [str(a) for a in dict.fromkeys(frame["arm"].dropna())]


def _note_at(ax: Axes, x: float, text: str) -> None:
    """An upright grey note standing on the x axis at category ``x``, saying why it is empty."""
    ax.text(
        x,
        0.02,
        text,
        transform=ax.get_xaxis_transform(),
        rotation=90,
        ha="center",
        va="bottom",
        fontsize=8,
        color="dimgrey",
    )


def _short(text: Any, limit: int) -> str:
    text = "" if text is None or (isinstance(text, float) and math.isnan(text)) else str(text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: max(1, limit - 1)].rstrip() + "…"


def _require(frame: Any, columns: Sequence[str], param: str, what: str) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise ValidationError(param, type(frame).__name__, f"a DataFrame ({what})")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValidationError(param, f"missing columns {missing}", f"a DataFrame with {what}")


def _unit(attrs: dict[str, Any]) -> str:
    return "bits" if attrs.get("unit", "bits") == "bits" else "cosine distance"


def distance_heatmap(
    frame: pd.DataFrame,
    arm: str,
    prompt: str | None = None,
    kind: Measure | str = DEFAULT_MEASURE,
    ax: Axes | None = None,
) -> Axes:
    """Draw the matrix of distances between one arm's images (from
    :func:`imgkit.analysis.consistency.pairwise_distances`), each cell labelled with its distance
    when there are at most 12 images. The colour scale is fixed, from 0 (identical) to the
    measure's "unrelated photographs" distance (similarity 0), so heatmaps of different arms
    can be read side by side. Returns the Axes."""
    matrix = pairwise_distances(frame, arm, prompt, kind)
    title, unit = matrix.attrs.get("title", str(kind)), _unit(matrix.attrs)
    ax = _axes(ax)
    values = matrix.to_numpy()
    top = float(matrix.attrs.get("reference_distance") or (values.max() if values.size else 1))
    image = ax.imshow(values, cmap="viridis", vmin=0, vmax=top, interpolation="nearest")
    ax.figure.colorbar(image, ax=ax, label=f"{title} distance ({unit}; top = unrelated photos)")
    ax.set_xticks(range(len(matrix.columns)), labels=list(matrix.columns), rotation=90)
    ax.set_yticks(range(len(matrix.index)), labels=list(matrix.index))
    if len(values) <= 12:
        for (i, j), value in np.ndenumerate(values):
            colour = "black" if value > top * 0.6 else "white"
            text = str(int(value)) if unit == "bits" else f"{value:.2f}"
            ax.text(j, i, text, ha="center", va="center", fontsize=8, color=colour)
    where = f" — {_short(prompt, 40)}" if prompt is not None else ""
    _title(ax, f"{title} distances between {arm} images{where}", matrix.attrs.get("simulated"))
    return ax


def distance_distributions(
    frame: pd.DataFrame, kind: Measure | str = DEFAULT_MEASURE, ax: Axes | None = None
) -> Axes:
    """Draw, per arm, the within-arm pairwise distances (same prompt) as a box with the pairs
    as points, and the fixed scale's "unrelated photographs" distance as a dashed line (from
    :func:`imgkit.analysis.consistency.within_arm_distances`). Returns the Axes."""
    pairs = within_arm_distances(frame, kind)
    ax = _axes(ax)
    arms = sorted(pairs["arm"].unique())
    # Arms of the run with no pair of images to compare keep their place, with a note.
    silent = [a for a in sorted(_arms_in(frame)) if a not in set(arms)]
    data = [pairs.loc[pairs["arm"] == arm, "distance"].to_numpy(dtype=float) for arm in arms]
    if arms:
        ax.boxplot(
            data, positions=range(len(arms)), widths=0.5, patch_artist=True, showfliers=False
        )
        # Fixed seed: the jitter only spreads points for legibility and must not change
        # between two draws of the same data.
        jitter = np.random.default_rng(0)
        for position, values in enumerate(data):
            offsets = jitter.uniform(-0.12, 0.12, size=values.size)
            ax.scatter(position + offsets, values, s=12, color="black", alpha=0.6, zorder=3)
    for position, _arm in enumerate(silent, start=len(arms)):
        _note_at(ax, position, "fewer than two images")
    if arms or silent:
        ax.set_xlim(-0.5, len(arms) + len(silent) - 0.5)
        fit_category_ticks(ax, range(len(arms) + len(silent)), [*arms, *silent])
    baseline = pairs.attrs.get("baseline_distance")
    if baseline is not None and np.isfinite(baseline):
        label = f"unrelated photographs ({pairs.attrs.get('baseline')})"
        ax.axhline(baseline, linestyle="--", color="grey", label=label)
        ax.legend(loc="best")
    title = pairs.attrs.get("title", str(kind))
    unit = _unit(pairs.attrs)
    set_wrapped_labels(ax, "arm", f"{title} distance between images of one prompt ({unit})")
    _title(ax, f"Within-arm {title} distances", pairs.attrs.get("simulated"))
    return ax


def consistency_intervals(
    table: pd.DataFrame, kind: Measure | str | None = None, ax: Axes | None = None
) -> Axes:
    """Draw each arm's similarity per prompt with its bootstrap interval as error bars, from a
    :func:`imgkit.analysis.consistency.consistency_table`, on the measure ``kind`` (by default
    the table's first, the one it leads with). Prompts on the x axis, one marker colour per arm.
    Returns the Axes."""
    _require(
        table,
        ["arm", "prompt", "kind", "similarity", "ci_low", "ci_high"],
        "table",
        "consistency_table columns",
    )
    if kind is None:
        kind = table["kind"].iloc[0] if len(table) else DEFAULT_MEASURE
    measure = parse_measure(kind)
    rows = table[table["kind"] == measure.name]
    kind = measure.title
    ax = _axes(ax)
    prompts = list(dict.fromkeys(rows["prompt"]))
    arms = sorted(rows["arm"].unique())
    width = 0.6 / max(1, len(arms))
    for k, arm in enumerate(arms):
        arm_rows = rows[rows["arm"] == arm].set_index("prompt").reindex(prompts)
        x = np.arange(len(prompts)) - 0.3 + width * (k + 0.5)
        y = arm_rows["similarity"].to_numpy(dtype=float)
        # A point interval (two images) can sit a rounding error beside its estimate.
        low = np.maximum(y - arm_rows["ci_low"].to_numpy(dtype=float), 0.0)
        high = np.maximum(arm_rows["ci_high"].to_numpy(dtype=float) - y, 0.0)
        ax.errorbar(x, y, yerr=[low, high], fmt="o", capsize=4, label=arm)
    # Each prompt owns one unit of the x axis: the arms' points spread over its middle, never
    # against the Axes' edges.
    ax.set_xlim(-0.5, max(1, len(prompts)) - 0.5)
    fit_category_ticks(ax, range(len(prompts)), [_short(p, 40) or "(no prompt)" for p in prompts])
    ax.set_ylim(0, 1.05)
    set_wrapped_labels(ax, "prompt", f"{kind} similarity (1 = identical, 0 = unrelated)")
    if arms:
        legend_outside(ax, title="arm")
    reference = rows["reference"].iloc[0] if "reference" in rows.columns and len(rows) else None
    suffix = f", 0 = {reference}" if reference else ""
    _title(ax, f"Consistency per prompt with 95% intervals ({kind}{suffix})", _is_simulated(rows))
    return ax


def prompt_divergence(
    div_table: pd.DataFrame, ax: Axes | None = None, *, arms: Sequence[str] | None = None
) -> Axes:
    """Draw, per arm, mean Jaccard distance, mean normalized edit distance and mean share of
    content words dropped (bars, from :func:`imgkit.analysis.divergence.divergence_summary`) with
    each generation's edit distance as a point.

    ``div_table`` is a :func:`imgkit.analysis.divergence.divergence_table`, or a run frame (the
    table is then computed from it). Arms that reported no revised prompt are not in the table:
    those of the run frame, or named in ``arms``, keep their place on the axis with a note
    saying so. A bar too low to see is written out as its value. Returns the Axes.
    """
    if isinstance(div_table, pd.DataFrame) and "edit_distance" not in div_table.columns:
        every_arm = _arms_in(div_table)
        div_table = divergence_table(div_table)
    else:
        every_arm = []
    summary = divergence_summary(div_table).set_index("arm")
    order = list(arms) if arms is not None else every_arm or list(summary.index)
    order += [a for a in summary.index if a not in order]
    ax = _axes(ax)
    measures = [
        ("jaccard_distance", "Jaccard distance"),
        ("edit_distance", "edit distance (normalized)"),
        ("content_dropped", "content words dropped"),
    ]
    drawn = [a for a in order if a in summary.index]
    position = {arm: k for k, arm in enumerate(order)}
    width = 0.8 / len(measures)
    for k, (column, label) in enumerate(measures):
        x = np.array([position[a] for a in drawn], dtype=float) - 0.4 + width * (k + 0.5)
        heights = summary.loc[drawn, column].to_numpy(dtype=float) if drawn else np.array([])
        bars = ax.bar(x, heights, width=width, label=label)
        colour = bars.patches[0].get_facecolor() if bars.patches else None
        for x_bar, height in zip(x, heights, strict=True):
            # A bar under ~2% of the axis is a sliver or nothing: say its value instead.
            if np.isfinite(height) and height < 0.02:
                ax.text(x_bar, height + 0.01, "0" if height < 0.005 else f"{height:.2f}",
                        ha="center", va="bottom", fontsize=7, color=colour)  # fmt: skip
    edit_offset = -0.4 + width * 1.5
    for arm in drawn:
        values = div_table.loc[div_table["arm"] == arm, "edit_distance"].to_numpy(dtype=float)
        ax.scatter(
            np.full(values.size, position[arm] + edit_offset),
            values,
            s=10,
            color="black",
            zorder=3,
        )
    for arm in order:
        if arm not in summary.index:
            _note_at(ax, position[arm], "no revised prompt")
    # Fixed limits: one arm's three bars would otherwise stretch across the whole width.
    ax.set_xlim(-0.6, max(1, len(order)) - 0.4)
    if order:
        fit_category_ticks(ax, range(len(order)), order)
    ax.set_ylim(0, 1.05)
    set_wrapped_labels(ax, "arm", "divergence of revised prompt from prompt (0..1)")
    if drawn:
        legend_outside(ax)
    _title(ax, "How far each arm rewrote the prompt", _is_simulated(div_table))
    return ax


def divergence_vs_image_distance(
    frame_or_table: pd.DataFrame, ax: Axes | None = None, *, kind: Measure | str = DEFAULT_MEASURE
) -> Axes:
    """Scatter each generation's prompt rewrite (normalized edit distance) against its image's
    mean distance to the same arm's other images on that prompt. Takes a
    :func:`imgkit.analysis.divergence.divergence_vs_distance` table, or a run frame (then computes
    that table with ``kind``). Returns the Axes."""
    table = frame_or_table
    every_arm: list[str] = []
    if not (isinstance(table, pd.DataFrame) and "image_distance" in table.columns):
        table = divergence_vs_distance(frame_or_table, kind)
        every_arm = _arms_in(frame_or_table)
    _require(
        table,
        ["arm", "edit_distance", "image_distance"],
        "frame_or_table",
        "divergence_vs_distance columns",
    )
    kind = table.attrs.get(
        "title", table["kind"].iloc[0] if "kind" in table.columns and len(table) else str(kind)
    )
    scaled = "scale" in table.attrs
    ax = _axes(ax)
    plotted = sorted(table["arm"].unique())
    for arm in plotted:
        rows = table[table["arm"] == arm]
        ax.scatter(rows["edit_distance"], rows["image_distance"], label=arm, alpha=0.8)
    # Arms of the run without a point are named in the legend with the reason.
    revised = set(divergence_table(frame_or_table)["arm"]) if every_arm else set()
    for arm in every_arm:
        if arm not in plotted:
            why = "no revised prompt" if arm not in revised else "fewer than two images"
            ax.add_line(Line2D([], [], linestyle="none", label=f"{arm}: {why}"))
    # The whole 0..1 range, so that a spread of 0.84 to 0.87 does not look like a wide one.
    ax.set_xlim(0, 1.02)
    set_wrapped_labels(
        ax,
        "revised prompt edit distance from prompt (normalized, 0..1)",
        f"image's mean {kind} distance to its arm's other images"
        + (f" ({_unit(table.attrs)})" if scaled else ""),
    )
    if len(table) or every_arm:
        legend_outside(ax, title="arm")
    _title(ax, "Prompt rewriting against image spread", _is_simulated(table))
    return ax


def _dollars(value: float, _position: Any = None) -> str:
    return f"${value:,.2f}" if value < 100 else f"${value:,.0f}"


def cost_projection(
    projection_frame: pd.DataFrame, ax: Axes | None = None, *, scale: str = "auto"
) -> Axes:
    """Draw dollars a month against images a day, one line per model and quality (``label``).

    Expects columns ``label``, ``images_per_day`` and ``monthly_usd`` (numbers or Decimal), as
    :func:`imgkit.catalog.costs.projection_table` and
    :func:`imgkit.report.data.cost_projection_frame` produce them; a label whose price is unknown
    (None) gets no line. Both axes share one ``scale``: "linear", "log", or "auto" (log when the
    volumes span a factor of 50 or more, so 1 and 500 images a day both read; a cost
    proportional to volume is then a straight line of slope 1, and a dearer model the same line
    higher up). On log axes volumes of 0 are left out. Returns the Axes.
    """
    _require(
        projection_frame,
        ["label", "images_per_day", "monthly_usd"],
        "projection_frame",
        "label, images_per_day, monthly_usd",
    )
    check_argument("scale", scale, ("auto", "linear", "log"))
    volumes = pd.to_numeric(projection_frame["images_per_day"], errors="coerce")
    if scale == "auto":
        positive = volumes[volumes > 0]
        wide = (
            len(positive) == len(volumes)
            and len(positive)
            and positive.max() >= 50 * positive.min()
        )
        scale = "log" if wide else "linear"
    ax = _axes(ax)
    for label, rows in projection_frame.groupby("label", sort=False):
        rows = rows.sort_values("images_per_day")
        # The cost module gives Decimal cents and None for an unknown price: an unknown price
        # has no line rather than a line at $0.
        dollars = rows["monthly_usd"].map(lambda v: math.nan if v is None else float(v))
        per_day = rows["images_per_day"].astype(float)
        if scale == "log":
            shown = (per_day > 0) & (dollars > 0)
            per_day, dollars = per_day[shown], dollars[shown]
        if dollars.isna().all():
            continue
        ax.plot(per_day, dollars, marker="o", label=str(label))
    set_wrapped_labels(ax, "images per day", "cost per month (USD)")
    if scale == "log":
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.xaxis.set_major_formatter(
            FuncFormatter(lambda v, _p: f"{v:,.0f}" if v >= 1 else f"{v:g}")
        )
        ax.yaxis.set_major_formatter(FuncFormatter(_dollars))
        ax.grid(True, which="both", alpha=0.3)
    else:
        ax.yaxis.set_major_formatter(StrMethodFormatter("${x:,.2f}"))
        ax.set_xlim(left=0)
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
    if ax.lines:
        legend_outside(ax, title="model, quality, size")
    _title(ax, "Projected monthly cost", _is_simulated(projection_frame))
    return ax


def _thumbnail(path: Any) -> np.ndarray | None:
    if path is None or (isinstance(path, float) and math.isnan(path)):
        return None
    try:
        with Image.open(Path(str(path))) as image:
            image = image.convert("RGB")
            image.thumbnail((_THUMBNAIL, _THUMBNAIL))
            return np.asarray(image)
    except (OSError, ValueError):
        return None


# Contact-sheet geometry, in data units: a cell is one unit wide; its picture fits a square of
# _PICTURE units at its top, keeping the picture's own proportions, and its caption takes
# _CAPTION units below. Captions are set in _CAPTION_PT points when there is room.
_PICTURE, _CAPTION, _CAPTION_PT = 0.9, 0.32, 8.5
_ROW = 0.05 + _PICTURE + _CAPTION
# A caption line needs about this many characters to be worth reading.
_CAPTION_MIN_CHARS = 16


def _caption_font(unit_pt: float) -> float | None:
    """The caption size that fits a cell ``unit_pt`` points wide, or None (no room)."""
    size = min(_CAPTION_PT, 0.92 * unit_pt / (0.6 * _CAPTION_MIN_CHARS))
    return size if size >= 6 else None


def _caption_text(text: str, unit_pt: float, size: float) -> str:
    chars = max(_CAPTION_MIN_CHARS, int(0.92 * unit_pt / (0.6 * size)))
    lines = max(1, int(_CAPTION * unit_pt / (1.3 * size)))
    wrapped = textwrap.wrap(text, chars)
    if len(wrapped) > lines:
        wrapped = wrapped[:lines]
        wrapped[-1] = _short(wrapped[-1] + " …", chars)
    return "\n".join(wrapped)


def contact_sheet(
    frame: pd.DataFrame,
    ax: Axes | None = None,
    max_per_arm: int = 8,
    caption_chars: int = 60,
) -> Axes:
    """Draw a run's images as a grid: one row per arm (per arm and prompt when the frame holds
    several prompts), one column per repeat, each captioned with its revised prompt cut to
    ``caption_chars`` characters (or "repeat N" when there is none). Only rows with status
    ``"ok"`` are shown, at most ``max_per_arm`` per row; an image that cannot be read is drawn
    as a grey cell marked "unreadable". Every image keeps its proportions. Captions are set at
    8.5 points when the sheet has its own figure; on a given Axes too small for readable
    captions they are left out. The title says "simulated" when any image comes from the
    simulator. Returns the Axes.
    """
    _require(frame, ["arm", "image_path"], "frame", "arm and image_path columns")
    if not isinstance(max_per_arm, int) or max_per_arm < 1:
        raise ValidationError("max_per_arm", max_per_arm, "an integer >= 1")
    if not isinstance(caption_chars, int) or caption_chars < 4:
        raise ValidationError("caption_chars", caption_chars, "an integer >= 4")
    rows = frame[frame["status"] == "ok"] if "status" in frame.columns else frame
    rows = rows[rows["image_path"].notna()]
    several_prompts = "prompt" in rows.columns and rows["prompt"].nunique() > 1
    keys = ["arm", "prompt"] if several_prompts else ["arm"]
    order = keys + (["repeat"] if "repeat" in rows.columns else [])
    rows = rows.sort_values(order, kind="stable")
    groups = [(key, group.head(max_per_arm)) for key, group in rows.groupby(keys, sort=True)]
    n_rows = max(1, len(groups))
    n_cols = max([len(g) for _, g in groups] or [1])
    if ax is None:
        # About 2.3 inches a cell, and room on the left for the row labels.
        cell_in, left_in = 2.3, 1.9
        width, height = cell_in * n_cols + left_in + 0.3, cell_in * _ROW * n_rows + 0.9
        _fig, ax = plt.subplots(figsize=(width, height))
        ax.figure.subplots_adjust(
            left=left_in / width, right=1 - 0.3 / width, bottom=0.1 / height, top=1 - 0.8 / height
        )
    width_pt, height_pt = axes_points(ax)
    # One data unit in points: the Axes keep an equal aspect, so the tighter side decides.
    unit_pt = min(width_pt / (n_cols + 0.02), height_pt / (n_rows * _ROW))
    caption_pt = _caption_font(unit_pt)
    label_pt = min(8.5, max(5.0, 0.3 * unit_pt * _ROW))

    # One Axes holds the whole grid: each image is placed in its own cell via extent, its
    # proportions kept, and the caption goes in the lower part of the cell.
    for r, (key, group) in enumerate(groups):
        key = key if isinstance(key, tuple) else (key,)
        top = r * _ROW
        for c, (_, row) in enumerate(group.iterrows()):
            pixels = _thumbnail(row["image_path"])
            if pixels is None:
                box_w = box_h = _PICTURE
            else:
                tall, wide = pixels.shape[:2]
                scale = _PICTURE / max(tall, wide)
                box_w, box_h = wide * scale, tall * scale
            left = c + (1 - box_w) / 2
            upper = top + 0.05 + (_PICTURE - box_h) / 2
            extent = (left, left + box_w, upper + box_h, upper)
            if pixels is None:
                ax.imshow(np.full((8, 8, 3), 200, dtype=np.uint8), extent=extent)
                ax.text(c + 0.5, upper + box_h / 2, "unreadable", ha="center", va="center",
                        fontsize=min(8.0, max(5.0, unit_pt / 10)))  # fmt: skip
            else:
                ax.imshow(pixels, extent=extent, interpolation="antialiased")
            if caption_pt is None:
                continue
            revised = row.get("revised_prompt")
            if isinstance(revised, str) and revised.strip():
                caption = _short(revised, caption_chars)
            else:
                caption = f"repeat {row['repeat']}" if "repeat" in group.columns else ""
            ax.text(
                c + 0.5,
                top + 0.08 + _PICTURE,
                _caption_text(caption, unit_pt, caption_pt),
                ha="center",
                va="top",
                fontsize=caption_pt,
            )
        chars = max(8, int(1.6 * 72 / (0.6 * label_pt)))
        label = wrap_name(str(key[0]), chars)
        if several_prompts:
            label += "\n" + _short(key[1], 24)
        ax.text(-0.05, top + 0.05 + _PICTURE / 2, label, ha="right", va="center",
                fontsize=label_pt)  # fmt: skip
    ax.set_xlim(-0.02, n_cols)
    ax.set_ylim(n_rows * _ROW, 0)
    ax.set_aspect("equal")
    ax.axis("off")
    prompt_text = ""
    if not several_prompts and "prompt" in rows.columns and len(rows):
        prompt_text = f": {_short(rows['prompt'].iloc[0], 50)}"
    _title(ax, f"Contact sheet{prompt_text}", _is_simulated(rows))
    return ax


def distance_histogram(
    frame_or_histogram: pd.DataFrame, kind: Measure | str = DEFAULT_MEASURE, ax: Axes | None = None
) -> Axes:
    """Draw each arm's within-prompt pair distances as a histogram (share of its pairs per
    distance, as steps) over the fixed scale's unrelated photographs (grey bars) and mark the
    reference distance, similarity 0, with a dashed line. Takes a
    :func:`imgkit.analysis.consistency.distance_histogram` table, or a run frame (then computes
    it with ``kind``). Returns the Axes."""
    histogram = frame_or_histogram
    if not (isinstance(histogram, pd.DataFrame) and "pairs" in histogram.columns):
        histogram = distance_histogram_table(frame_or_histogram, kind)
    _require(histogram, ["arm", "distance", "share"], "frame_or_histogram", "histogram columns")
    kind = histogram.attrs.get("title", histogram.attrs.get("kind", str(kind)))
    unit = _unit(histogram.attrs)
    width = float(histogram.attrs.get("bin") or 1.0)
    reference = histogram.attrs.get("reference")
    ax = _axes(ax)
    if reference is not None and reference.histogram:
        counts = np.asarray(reference.histogram, dtype=float)
        centres = np.arange(counts.size) * width + (width / 2 if unit != "bits" else 0)
        ax.bar(
            centres,
            counts / counts.sum(),
            width=width,
            color="lightgrey",
            label=f"unrelated photographs ({reference.name})",
        )
    for arm in sorted(histogram["arm"].unique()):
        rows = histogram[histogram["arm"] == arm].sort_values("distance")
        ax.step(rows["distance"], rows["share"], where="mid", label=str(arm))
    if reference is not None:
        ax.axvline(reference.distance, linestyle="--", color="grey", label="similarity 0")
    if unit == "bits":
        ax.set_xlim(-0.5, (histogram.attrs.get("bits") or 64) * 0.75)
    else:
        ax.set_xlim(0, 1.2)
    ax.set_xlabel(f"{kind} distance between two images of one arm and prompt ({unit})")
    ax.set_ylabel("share of pairs")
    if len(histogram) or reference is not None:
        ax.legend(loc="best", fontsize=8)
    _title(ax, f"Within-arm {kind} distances on the fixed scale", _is_simulated(histogram))
    return ax
