"""The report's tables as rows of text: one function per table, and the formats they share.

Each ``*_rows`` function turns one of :class:`~imgkit.report.data.ReportData`'s frames into
rows of strings for a :class:`Table`, prompts named by their number
(``numbers``: {prompt: "#k"}); ``*_HEAD`` is that table's header. :func:`fmt` and :func:`usd`
are the report's number and money formats, kept in one place so every table agrees.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Table:
    """A table as text: the header cells and the rows, every cell a string."""

    head: list[str]
    rows: list[list[str]]


def fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, Decimal):
        return f"${value:,.4f}" if abs(value) < 1 else f"${value:,.2f}"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, float | np.floating):
        return f"{value:.{digits}f}"
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value))
    return str(value)


def usd(value: Any, cents: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "unknown"
    value = Decimal(str(value))
    return f"${value:,.2f}" if cents else f"${value:,.4f}"


def seconds(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return f"{float(value):.2f} s"


def prompt_ref(prompt: Any, numbers: Mapping[str, str]) -> str:
    return numbers.get(str(prompt), str(prompt))


def consistency_rows(table: pd.DataFrame, numbers: Mapping[str, str]) -> list[list[str]]:
    rows = []
    for record in table.to_dict(orient="records"):
        interval = f"[{fmt(record['ci_low'], 2)}, {fmt(record['ci_high'], 2)}]"
        cross = record["cross_prompt_distance"]
        bits = record.get("unit", "bits") == "bits"
        digits = 1 if bits else 3
        unit = "bits" if bits else "cosine"
        rows.append(
            [
                str(record["arm"]),
                prompt_ref(record["prompt"], numbers),
                str(record["kind"]),
                str(record["n_images"]),
                f"{fmt(record['mean_distance'], digits)} {unit}",
                fmt(record["similarity"], 2),
                interval,
                fmt(record["near_duplicate_share"], 2),
                (
                    f"{fmt(record['cross_prompt_similarity'], 2)} ({fmt(cross, digits)} {unit})"
                    if isinstance(cross, float) and math.isfinite(cross)
                    else "one prompt"
                ),
            ]
        )
    return rows


CONSISTENCY_HEAD = [
    "arm",
    "prompt",
    "measure",
    "images",
    "mean distance",
    "similarity",
    "95% interval",
    "near-duplicate pairs",
    "cross-prompt similarity",
]


def cost_rows(costs: pd.DataFrame) -> list[list[str]]:
    return [
        [
            str(r["arm"]),
            str(r["label"]),
            f"{r['n_ok']} / {r['n_generations']}",
            usd(r["per_image_usd"]),
            usd(r["total_usd"]),
            str(r["basis"]),
            str(r["n_unknown_cost"]),
        ]
        for r in costs.to_dict(orient="records")
    ]


COST_HEAD = ["arm", "model, quality, size", "ok / made", "per image", "total", "basis", "no cost"]


def projection_rows(projection: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    volumes = list(dict.fromkeys(projection["images_per_day"]))
    head = ["model, quality, size", "per image", *[f"{v:g}/day" for v in volumes]]
    rows = []
    for label, group in projection.groupby("label", sort=True):
        by_volume = dict(zip(group["images_per_day"], group["monthly_usd"], strict=True))
        rows.append(
            [
                str(label),
                usd(group["price_per_image"].iloc[0]),
                *[usd(by_volume.get(v), cents=True) for v in volumes],
            ]
        )
    return head, rows


def divergence_rows(divergence: pd.DataFrame, numbers: Mapping[str, str]) -> list[list[str]]:
    rows = []
    for r in divergence.to_dict(orient="records"):
        rows.append(
            [
                str(r["arm"]) if "arm" in r else "",
                str(r.get("repeat", "")),
                prompt_ref(r["prompt"], numbers),
                fmt(r["jaccard_distance"], 2),
                fmt(r["edit_distance"], 2),
                fmt(r["length_ratio"], 2),
                fmt(r["content_retention"], 2),
                f"+{r['n_added']} / -{r['n_dropped']}",
            ]
        )
    return rows


DIVERGENCE_HEAD = [
    "arm",
    "repeat",
    "prompt",
    "Jaccard",
    "edit",
    "length ratio",
    "content kept",
    "words +/-",
]


def variability_rows(variability: pd.DataFrame, numbers: Mapping[str, str]) -> list[list[str]]:
    return [
        [
            str(r["arm"]),
            prompt_ref(r["prompt"], numbers),
            str(r["n_revised"]),
            str(r["n_distinct"]),
            fmt(r["mean_pairwise_jaccard"], 2),
            fmt(r["mean_pairwise_edit"], 2),
            fmt(r["mean_jaccard_to_prompt"], 2),
        ]
        for r in variability.to_dict(orient="records")
    ]


VARIABILITY_HEAD = [
    "arm",
    "prompt",
    "revisions",
    "distinct",
    "Jaccard between revisions",
    "edit between revisions",
    "Jaccard to prompt",
]


def frame_rows(frame: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    return [str(c) for c in frame.columns], [
        [fmt(v) for v in row] for row in frame.itertuples(index=False, name=None)
    ]
