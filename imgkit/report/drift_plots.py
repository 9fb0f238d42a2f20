"""Figures of drift across runs: each arm's figure over time, and its images side by side.

As in :mod:`imgkit.report.plots`, these functions only draw: the numbers come from
:func:`imgkit.analysis.drift.drift_table` and the images from a
:func:`imgkit.analysis.drift.drift_frame`. Each takes ``ax=None``, returns the Axes, never calls
``plt.show()``, and says "simulated" in its title when the data come from the simulator.
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
from PIL import Image

from imgkit.errors import ValidationError, check_argument

__all__ = ["DRIFT_METRICS", "drift_images", "drift_over_time"]

#: What :func:`drift_over_time` can draw: the column and its interval's columns, and the label.
DRIFT_METRICS = {
    "similarity": ("similarity", "ci_low", "ci_high", "similarity (1 = identical images)"),
    "rewrite": ("rewrite", "rewrite_low", "rewrite_high", "mean rewrite (word edit distance)"),
}


# Thumbnails at most this many pixels a side: enough for a row of a few images per run.
_THUMBNAIL = 192


def _axes(ax: Axes | None, size: tuple[float, float]) -> Axes:
    if ax is None:
        _fig, ax = plt.subplots(figsize=size)
    return ax


def _is_simulated(data: pd.DataFrame) -> bool:
    return "simulated" in data.columns and bool(data["simulated"].fillna(False).astype(bool).any())


def _title(ax: Axes, text: str, simulated: bool) -> None:
    ax.set_title(text + (" (simulated)" if simulated else ""))


def _short(text: Any, limit: int) -> str:
    text = "" if text is None or (isinstance(text, float) and math.isnan(text)) else str(text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: max(1, limit - 1)].rstrip() + "…"


def _require(frame: Any, columns: Sequence[str], what: str) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise ValidationError("frame", type(frame).__name__, f"a DataFrame ({what})")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValidationError("frame", f"missing columns {missing}", what)


def _thumbnail(path: Any) -> np.ndarray | None:
    if not isinstance(path, str | Path):
        return None
    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
            image.thumbnail((_THUMBNAIL, _THUMBNAIL))
            return np.asarray(image)
    except (OSError, ValueError):
        return None


def drift_over_time(
    table: pd.DataFrame, metric: str = "similarity", ax: Axes | None = None
) -> Axes:
    """Draw each arm's ``metric`` ("similarity" or "rewrite") in each run, oldest run on the
    left, with its interval as an error bar; a run whose figure changed from the reference is
    drawn as a filled marker, an unchanged one hollow. Runs are spaced evenly and labelled with
    their id and date (runs minutes or months apart read the same). Returns the Axes."""
    check_argument("metric", metric, list(DRIFT_METRICS))
    column, low, high, label = DRIFT_METRICS[metric]
    _require(table, ["arm", "run_id", column, low, high], "a drift_table frame")
    changed_column = "consistency_changed" if metric == "similarity" else "rewrite_changed"
    ax = _axes(ax, (7.2, 4.4))
    runs = list(table.attrs.get("runs") or dict.fromkeys(table["run_id"]))
    position = {run: k for k, run in enumerate(runs)}
    rows = table[table["prompt"].isna()] if "prompt" in table.columns else table
    if rows.empty:
        rows = table
    for k, (arm, group) in enumerate(rows.groupby("arm", sort=True)):
        group = group.sort_values("run_id", key=lambda s: s.map(position))
        x = group["run_id"].map(position).to_numpy(dtype=float) + (k - 0.5) * 0.03
        y = group[column].to_numpy(dtype=float)
        below = np.clip(y - group[low].to_numpy(dtype=float), 0, None)
        above = np.clip(group[high].to_numpy(dtype=float) - y, 0, None)
        errors = np.nan_to_num(np.vstack([below, above]))
        (line,) = ax.plot(x, y, "-", label=_short(arm, 40))
        ax.errorbar(x, y, yerr=errors, fmt="none", ecolor=line.get_color(), capsize=3)
        changed = group[changed_column].fillna(False).astype(bool).to_numpy()
        ax.scatter(x[changed], y[changed], color=line.get_color(), zorder=3, s=36)
        ax.scatter(
            x[~changed], y[~changed], facecolors="white", edgecolors=line.get_color(), zorder=3
        )
    created = rows.groupby("run_id")["created_at"].first() if "created_at" in rows else {}
    labels = []
    for run in runs:
        when = created.get(run) if hasattr(created, "get") else None
        day = pd.Timestamp(when).strftime("%Y-%m-%d") if when is not None and pd.notna(when) else ""
        labels.append(f"{_short(run, 22)}\n{day}".strip())
    ax.set_xticks(range(len(runs)), labels=labels, fontsize=9)
    ax.set_xlim(-0.5, max(len(runs) - 0.5, 0.5))
    if metric == "similarity":
        ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel(label)
    if len(rows):
        # Beside the axes: with six arms a legend inside covers the points.
        ax.legend(
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            fontsize=10,
            title="arm (filled: changed)",
            title_fontsize=10,
            frameon=False,
        )
    kind = table.attrs.get("kind", "")
    what = f"Consistency ({kind})" if metric == "similarity" else "Prompt rewriting"
    _title(ax, f"{what} across runs", bool(table.attrs.get("simulated")) or _is_simulated(table))
    return ax


def drift_images(
    frame: pd.DataFrame,
    arm: str,
    prompt: str | None = None,
    per_run: int = 4,
    ax: Axes | None = None,
) -> Axes:
    """Draw one arm's images from each run side by side: a row per run (oldest on top), up to
    ``per_run`` images each, for ``prompt`` (default: the first prompt the arm has in every
    run). ``arm`` is an arm's name in any of the runs; rows of the other runs are found by the
    arm's identity, whatever they named it. Returns the Axes."""
    _require(frame, ["run_id", "arm", "arm_key", "prompt", "image_path"], "a drift_frame")
    if not isinstance(per_run, int) or per_run < 1:
        raise ValidationError("per_run", per_run, "an integer >= 1")
    check_argument("arm", arm, sorted(set(frame["arm"])))
    keys = set(frame.loc[frame["arm"] == arm, "arm_key"])
    rows = frame[frame["arm_key"].isin(keys)]
    if "status" in rows.columns:
        rows = rows[rows["status"] == "ok"]
    rows = rows[rows["image_path"].notna()]
    runs = list(dict.fromkeys(frame["run_id"]))
    if prompt is None:
        common = None
        for run in runs:
            prompts = set(rows.loc[rows["run_id"] == run, "prompt"])
            if prompts:
                common = prompts if common is None else common & prompts
        ordered = list(dict.fromkeys(rows["prompt"]))
        prompt = next((p for p in ordered if common and p in common), ordered[0] if ordered else "")
    else:
        check_argument("prompt", prompt, sorted(set(rows["prompt"])))
    rows = rows[rows["prompt"] == prompt]
    if ax is None:
        _fig, ax = plt.subplots(figsize=(2.0 * per_run + 2.0, 2.0 * len(runs) + 0.8))
    for r, run in enumerate(runs):
        mine = rows[rows["run_id"] == run]
        if "repeat" in mine.columns:
            mine = mine.sort_values("repeat", kind="stable")
        for c, path in enumerate(mine["image_path"].head(per_run)):
            pixels = _thumbnail(path)
            extent = (c + 0.05, c + 0.95, r + 0.95, r + 0.05)
            if pixels is None:
                ax.imshow(np.full((8, 8, 3), 200, dtype=np.uint8), extent=extent)
            else:
                ax.imshow(pixels, extent=extent, interpolation="antialiased")
        if mine.empty:
            ax.text(0.5, r + 0.5, "no image", ha="left", va="center", fontsize=10)
        ax.text(-0.05, r + 0.5, _short(run, 24), ha="right", va="center", fontsize=10)
    ax.set_xlim(-0.02, per_run)
    ax.set_ylim(max(len(runs), 1), 0)
    ax.set_aspect("equal")
    ax.axis("off")
    title = f"{_short(arm, 40)} across runs: {textwrap.shorten(str(prompt), 50)}"
    _title(ax, title, _is_simulated(rows))
    return ax
