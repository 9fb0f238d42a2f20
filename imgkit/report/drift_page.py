"""The drift page: what changed between runs, as one self-contained HTML file.

``imgkit drift RUN_A RUN_B --html`` writes it into the latest run's folder as ``drift.html``,
titled "Change since RUN_A", so that a run's folder names its predecessor and shows the change
beside its own report. The numbers come whole from a :class:`~imgkit.analysis.drift.DriftResult`;
this module only words them (:func:`drift_page`) and lays them out through the Jinja2 template
``templates/drift.html`` in the report's escaping environment (every value escaped), with the
plots of :mod:`imgkit.report.drift_plots` embedded as ``data:`` URIs.
"""

from __future__ import annotations

import base64
import io
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from imgkit.analysis.drift import DriftResult
from imgkit.errors import ValidationError
from imgkit.report.drift_plots import drift_images, drift_over_time
from imgkit.report.render import html_environment

__all__ = ["DRIFT_PAGE_NAME", "DriftPage", "drift_page", "render_drift_html", "write_drift_page"]

#: The page's file name in a run folder.
DRIFT_PAGE_NAME = "drift.html"
_DPI = 80
#: The drift page shows each arm's images for at most this many prompts (a page of a sweep's
#: hundred prompts would be megabytes; each run's report shows them all).
DRIFT_IMAGE_PROMPTS = 12


@dataclass(frozen=True)
class PageFigure:
    caption: str
    uri: str


@dataclass
class DriftPage:
    """What the drift page says, as strings and tables of strings."""

    title: str
    simulated: str
    banner: str
    runs_head: list[str]
    runs: list[list[str]]
    matching: str
    findings: list[str]
    unmatched: list[str]
    table_head: list[str]
    table_rows: list[list[str]]
    methods: str
    plots: list[PageFigure] = field(default_factory=list)
    images: list[PageFigure] = field(default_factory=list)
    images_note: str = ""


def _png_uri(draw: Callable[[Axes], Any], size: tuple[float, float]) -> str | None:
    # A bare Figure, not pyplot: no global state; Software metadata dropped for stable bytes.
    figure = Figure(figsize=size)
    try:
        draw(figure.add_subplot())
    except ValidationError:
        return None
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=_DPI, bbox_inches="tight", metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure(value: Any, low: Any, high: Any) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    if low is not None and high is not None and math.isfinite(low) and math.isfinite(high):
        return f"{value:.2f} [{low:.2f}, {high:.2f}]"
    return f"{value:.2f}"


def _p(value: Any) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def _is_number(value: Any) -> bool:
    return isinstance(value, float | int) and math.isfinite(value)


def _changed(flag: Any, is_reference: bool) -> str:
    """A later run's verdict cell, as ``imgkit drift`` prints it: "changed", "no", or "-" when
    there is nothing to compare (no revised prompt in either run); empty for the reference."""
    if is_reference:
        return ""
    return "changed" if flag is True else "no" if flag is False else "-"


def drift_page(result: DriftResult, *, images: bool = True) -> DriftPage:
    """The page's content for ``result`` (``images=False`` leaves out the images)."""
    runs = result.runs
    frame = result.frame
    simulated_rows = frame["simulated"].fillna(False).astype(bool)
    simulated = "all" if simulated_rows.all() else ("some" if simulated_rows.any() else "none")
    banner = {
        "all": "SIMULATED: every image here came from imgkit's simulator, not a real model",
        "some": "PARTLY SIMULATED: some images here came from imgkit's simulator",
        "none": "Real services: no image here came from the simulator",
    }[simulated]
    title = (
        f"Change since {runs[0]}" if len(runs) == 2 else f"Drift across {len(runs)} runs"
    ) + f" ({runs[-1]})"
    created = frame.groupby("run_id")["created_at"].first()
    run_rows = []
    for run in runs:
        mine = frame[frame["run_id"] == run]
        when = created.get(run)
        run_rows.append(
            [
                run,
                str(when)[:19] if when is not None else "-",
                str(mine["arm"].nunique()),
                str(mine["prompt"].nunique()),
                str(int((mine["status"] == "ok").sum())),
            ]
        )
    table = result.table
    rows = []
    for row in table.itertuples():
        rows.append(
            [
                row.arm,
                row.run_id + (" (reference)" if row.is_reference else ""),
                row.prompt if isinstance(row.prompt, str) else "all shared",
                _figure(row.similarity, row.ci_low, row.ci_high),
                _p(row.p_value),
                _changed(row.consistency_changed, row.is_reference),
                _figure(row.rewrite, row.rewrite_low, row.rewrite_high),
                _figure(row.rewrite_change, row.rewrite_change_low, row.rewrite_change_high),
                _changed(
                    row.rewrite_changed if _is_number(row.rewrite_change) else None,
                    row.is_reference,
                ),
            ]
        )
    page = DriftPage(
        title=title,
        simulated=simulated,
        banner=banner,
        runs_head=["run", "started (UTC)", "arms", "prompts", "images"],
        runs=run_rows,
        matching=(
            "Arms are matched across runs by what they ask for (model, snapshot, endpoint, "
            "request parameters, prompt transform), not by name; prompts by their text."
        ),
        findings=result.summary()[: len(result.summary()) - len(result.unmatched)],
        unmatched=list(result.unmatched),
        table_head=[
            "arm",
            "run",
            "prompts",
            f"similarity ({table.attrs.get('kind')})",
            "p (vs reference)",
            "consistency",
            "rewrite",
            "rewrite change",
            "rewriting",
        ],
        table_rows=rows,
        methods=(
            "Similarity and its interval, and the test of a change, are those of "
            "imgkit.compare_arms with the two runs as its two arms, over the prompts both runs "
            "have images for; p-values are not adjusted for the number of arms. Rewrite: mean "
            "word edit distance from the prompt to the revised prompt, with a bootstrap "
            "interval; a change counts when the interval of the difference excludes 0."
        ),
    )
    if len(table):
        for metric, caption in (("similarity", "Consistency per run"), ("rewrite", "Rewriting")):
            uri = _png_uri(lambda ax, m=metric: drift_over_time(table, m, ax=ax), (8.0, 4.0))
            if uri and (metric == "similarity" or table["rewrite"].notna().any()):
                page.plots.append(PageFigure(caption, uri))
    if images and len(table):
        for arm in dict.fromkeys(table["arm"]):
            prompts = _shared_prompts(frame, arm)
            for prompt in prompts[:DRIFT_IMAGE_PROMPTS]:
                uri = _png_uri(
                    lambda ax, a=arm, p=prompt: drift_images(frame, a, p, ax=ax),
                    (8.0, 1.9 * len(runs) + 0.6),
                )
                if uri:
                    page.images.append(PageFigure(f"{arm}: {prompt}", uri))
            if len(prompts) > DRIFT_IMAGE_PROMPTS:
                page.images_note += (
                    f"{arm}: the first {DRIFT_IMAGE_PROMPTS} of {len(prompts)} prompts shown "
                    "(each run's report has them all). "
                )
    return page


def _shared_prompts(frame: pd.DataFrame, arm: str) -> list[str]:
    """The prompts ``arm`` has an image for in every run, in the runs' order (every prompt it
    has an image for when no prompt is in all of them)."""
    keys = set(frame.loc[frame["arm"] == arm, "arm_key"])
    rows = frame[frame["arm_key"].isin(keys) & frame["image_path"].notna()]
    if "status" in rows.columns:
        rows = rows[rows["status"] == "ok"]
    ordered = [str(p) for p in dict.fromkeys(rows["prompt"])]
    runs = list(dict.fromkeys(frame["run_id"]))
    common = [
        p
        for p in ordered
        if all(((rows["run_id"] == r) & (rows["prompt"] == p)).any() for r in runs)
    ]
    return common or ordered


def render_drift_html(result: DriftResult, *, images: bool = True) -> str:
    """The drift page as one self-contained HTML document."""
    template = html_environment().get_template("drift.html")
    return template.render(page=drift_page(result, images=images))


def write_drift_page(
    result: DriftResult, out: str | os.PathLike[str] | None = None, *, images: bool = True
) -> Path:
    """Write the drift page; return its path. ``out``: a file, or a folder to hold
    ``drift.html``; default: the latest run's folder."""
    if out is None:
        paths = result.frame.attrs.get("paths") or {}
        if result.runs[-1] not in paths:
            raise ValidationError("out", None, "a file or folder (the runs' folders are unknown)")
        target = Path(paths[result.runs[-1]]) / DRIFT_PAGE_NAME
    else:
        target = Path(out)
        if target.is_dir() or not target.suffix:
            target = target / DRIFT_PAGE_NAME
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_drift_html(result, images=images), encoding="utf-8")
    return target
