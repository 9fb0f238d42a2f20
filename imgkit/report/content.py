"""What the experiment report says, as text: every table, banner and sentence, formatted.

:func:`report_content` turns a :class:`~imgkit.report.data.ReportData` into a
:class:`ReportContent`: plain strings and :class:`Table` s (a header and rows of strings), the
same for the HTML page and the Markdown summary. The templates under ``templates/`` only lay
them out and escape them, so what the report says can be tested here without rendering.

Text from the run (prompts, revised prompts, error messages, manifest values) is left as it is
here; escaping belongs to the output format, and the templates do it (see
:mod:`imgkit.report.render`). The one exception is :attr:`ReportContent.diffs`, HTML fragments
that :func:`imgkit.analysis.divergence.html_diff` built and escaped word by word.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from imgkit.report.data import ReportData, arm_label, json_ready

__all__ = ["ReportContent", "Table", "report_content"]


@dataclass(frozen=True)
class Table:
    """A table as text: the header cells and the rows, every cell a string."""

    head: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class ReportContent:
    """The report's text, section by section; ``None`` where the report shows a sentence instead.

    ``banner`` is "SIMULATED", "PARTLY SIMULATED" or "LIVE" and ``simulated`` the matching
    "all", "some" or "none" of :attr:`ReportData.simulated`. ``diffs`` holds one HTML word diff
    per row of ``divergence`` (already escaped: see the module docstring).
    """

    title: str
    title_suffix: str
    simulated: str
    banner: str
    banner_explanation: str
    run: Table
    manifest_json: str | None
    prompts: list[str]
    verdicts: list[tuple[str, str]]
    consistency: Table
    methods: str
    variability: Table | None
    divergence: Table | None
    diffs: list[str]
    costs: Table
    n_unknown_cost: int
    days: int
    projection: Table | None
    status_counts: Table
    problems: Table | None
    attempts: Table | None
    image_problems: str | None
    command: str


def report_content(data: ReportData) -> ReportContent:
    """Return everything the report says about ``data``, formatted as text."""
    word, explanation = _banner_text(data.simulated)
    revised = len(data.divergence) > 0
    return ReportContent(
        title=data.title,
        title_suffix={"all": " (simulated)", "some": " (partly simulated)"}.get(data.simulated, ""),
        simulated=data.simulated,
        banner=word,
        banner_explanation=explanation,
        run=Table(["", ""], [list(row) for row in _run_summary(data)]),
        manifest_json=_manifest_json(data.manifest) if data.manifest else None,
        prompts=[str(p) for p in dict.fromkeys(data.frame["prompt"].dropna())],
        verdicts=[(str(c.prompt), str(c.verdict)) for c in data.comparisons],
        consistency=Table(_CONSISTENCY_HEAD, _consistency_rows(data.consistency)),
        methods=_methods(data),
        variability=(
            Table(_VARIABILITY_HEAD, _variability_rows(data.variability)) if revised else None
        ),
        divergence=Table(_DIVERGENCE_HEAD, _divergence_rows(data.divergence)) if revised else None,
        diffs=[str(d) for d in data.divergence["diff_html"]] if revised else [],
        costs=Table(_COST_HEAD, _cost_rows(data.costs)),
        n_unknown_cost=int(data.costs["n_unknown_cost"].sum()) if len(data.costs) else 0,
        days=int(data.settings["days"]),
        projection=Table(*_projection_rows(data.projection)) if len(data.projection) else None,
        status_counts=Table(*_frame_rows(data.status_counts)),
        problems=Table(*_frame_rows(data.problems)) if len(data.problems) else None,
        attempts=Table(*_frame_rows(data.attempt_counts)) if len(data.attempt_counts) else None,
        image_problems=_image_problem_text(data),
        command=data.command,
    )


def _image_problem_text(data: ReportData) -> str | None:
    """The sentence about images the run folder no longer holds intact, if any."""
    if not data.image_problems:
        return None
    total = sum(data.image_problems.values())
    reasons = ", ".join(f"{n} {reason}" for reason, n in sorted(data.image_problems.items()))
    where = str(data.path) if data.path else "RUN"
    return (
        f"{total} image(s) recorded as made could not be used ({reasons}) and are left out of "
        f"every figure. `imgkit verify {where}` lists them; `imgkit drill --resume {where} "
        "--regenerate-missing` makes them again, after saying what that costs."
    )


def _fmt(value: Any, digits: int = 3) -> str:
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


def _usd(value: Any, cents: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "unknown"
    value = Decimal(str(value))
    return f"${value:,.2f}" if cents else f"${value:,.4f}"


def _banner_text(simulated: str) -> tuple[str, str]:
    if simulated == "all":
        return "SIMULATED", (
            "Every image in this report came from imgkit's simulator, not from a real model. "
            "Consistency, prompt rewriting and costs describe the simulator; do not read them "
            "as facts about the services."
        )
    if simulated == "some":
        return "PARTLY SIMULATED", (
            "Some images in this report came from imgkit's simulator, not from a real model. "
            "Check the 'simulated' column before drawing conclusions."
        )
    return "LIVE", "The images in this report came from the services themselves."


def _get(mapping: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(mapping, Mapping):
            return None
        mapping = mapping.get(key)
    return mapping


def _run_summary(data: ReportData) -> list[tuple[str, str]]:
    """The few facts about a run a reader needs first, from the manifest and the frame."""
    manifest, frame = data.manifest, data.frame
    parameters = _get(manifest, "parameters") or {}
    word, _ = _banner_text(data.simulated)
    rows = [("run", data.title), ("images from", word.lower())]
    facts = [
        ("status", manifest.get("status")),
        ("backend", manifest.get("backend")),
        ("simulator seed", _get(manifest, "simulator", "seed")),
        ("simulator faults", _get(manifest, "simulator", "faults")),
        ("seed", manifest.get("seed")),
        ("created", manifest.get("created_at")),
        ("ended", manifest.get("ended_at")),
        ("repeats per prompt", _get(parameters, "n")),
        ("price table", _get(manifest, "catalog", "version") or manifest.get("price_table")),
        ("estimate (USD)", _get(manifest, "estimate", "total_usd")),
        ("git commit", _get(manifest, "git", "commit")),
    ]
    rows += [(name, _fmt(value)) for name, value in facts if value not in (None, "", [])]
    for arm, group in frame.groupby("arm", sort=True):
        rows.append((f"arm {arm}", arm_label(group)))
    versions = manifest.get("versions")
    if isinstance(versions, Mapping):
        rows.append(("versions", ", ".join(f"{k} {v}" for k, v in versions.items() if v)))
    rows.append(("generations", str(len(frame))))
    rows += _batch_rows(data.batch)
    if data.path is not None:
        rows.append(("folder", str(data.path)))
    return rows


def _batch_rows(batch: Mapping[str, Any]) -> list[tuple[str, str]]:
    """A batch drill's two facts: its price against the synchronous one, and the arms that ran
    synchronously (with why)."""
    if not batch:
        return []
    rows = [
        (
            "batch mode",
            f"{len(batch['arms'])} arm(s) through the vendors' Batch APIs cost "
            f"{_usd(batch['batch_usd'])}; the same images synchronously: "
            f"{_usd(batch['synchronous_usd'])}",
        )
    ]
    if batch.get("synchronous_arms"):
        rows.append(
            (
                "run synchronously",
                "; ".join(f"{arm}: {why}" for arm, why in batch["synchronous_arms"].items()),
            )
        )
    return rows


def _manifest_json(manifest: Mapping[str, Any]) -> str:
    return json.dumps(json_ready(manifest), indent=2, sort_keys=True, default=str)


def _consistency_rows(table: pd.DataFrame) -> list[list[str]]:
    rows = []
    for record in table.to_dict(orient="records"):
        interval = f"[{_fmt(record['ci_low'], 2)}, {_fmt(record['ci_high'], 2)}]"
        rows.append(
            [
                str(record["arm"]),
                str(record["prompt"]),
                str(record["kind"]),
                str(record["n_images"]),
                _fmt(record["mean_distance"], 1),
                _fmt(record["similarity"], 2),
                interval,
                _fmt(record["near_duplicate_share"], 2),
                f"{record['baseline']} ({_fmt(record['baseline_distance'], 1)})",
            ]
        )
    return rows


_CONSISTENCY_HEAD = [
    "arm",
    "prompt",
    "hash",
    "images",
    "mean distance (bits)",
    "similarity",
    "95% interval",
    "near-duplicate pairs",
    "baseline (bits)",
]


def _cost_rows(costs: pd.DataFrame) -> list[list[str]]:
    return [
        [
            str(r["arm"]),
            str(r["label"]),
            f"{r['n_ok']} / {r['n_generations']}",
            _usd(r["per_image_usd"]),
            _usd(r["total_usd"]),
            str(r["basis"]),
            str(r["n_unknown_cost"]),
        ]
        for r in costs.to_dict(orient="records")
    ]


_COST_HEAD = ["arm", "model, quality, size", "ok / made", "per image", "total", "basis", "no cost"]


def _projection_rows(projection: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    volumes = list(dict.fromkeys(projection["images_per_day"]))
    head = ["model, quality, size", "per image", *[f"{v:g}/day" for v in volumes]]
    rows = []
    for label, group in projection.groupby("label", sort=True):
        by_volume = dict(zip(group["images_per_day"], group["monthly_usd"], strict=True))
        rows.append(
            [
                str(label),
                _usd(group["price_per_image"].iloc[0]),
                *[_usd(by_volume.get(v), cents=True) for v in volumes],
            ]
        )
    return head, rows


def _divergence_rows(divergence: pd.DataFrame) -> list[list[str]]:
    rows = []
    for r in divergence.to_dict(orient="records"):
        rows.append(
            [
                str(r["arm"]) if "arm" in r else "",
                str(r.get("repeat", "")),
                str(r["prompt"]),
                _fmt(r["jaccard_distance"], 2),
                _fmt(r["edit_distance"], 2),
                _fmt(r["length_ratio"], 2),
                _fmt(r["content_retention"], 2),
                f"+{r['n_added']} / -{r['n_dropped']}",
            ]
        )
    return rows


_DIVERGENCE_HEAD = [
    "arm",
    "repeat",
    "prompt",
    "Jaccard",
    "edit",
    "length ratio",
    "content kept",
    "words +/-",
]


def _variability_rows(variability: pd.DataFrame) -> list[list[str]]:
    return [
        [
            str(r["arm"]),
            str(r["prompt"]),
            str(r["n_revised"]),
            str(r["n_distinct"]),
            _fmt(r["mean_pairwise_jaccard"], 2),
            _fmt(r["mean_pairwise_edit"], 2),
            _fmt(r["mean_jaccard_to_prompt"], 2),
        ]
        for r in variability.to_dict(orient="records")
    ]


_VARIABILITY_HEAD = [
    "arm",
    "prompt",
    "revisions",
    "distinct",
    "Jaccard between revisions",
    "edit between revisions",
    "Jaccard to prompt",
]


def _frame_rows(frame: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    return [str(c) for c in frame.columns], [
        [_fmt(v) for v in row] for row in frame.itertuples(index=False, name=None)
    ]


def _methods(data: ReportData) -> str:
    s = data.settings
    baseline = ""
    if len(data.consistency):
        first = data.consistency.iloc[0]
        baseline = f" The 'unrelated images' baseline is {first['baseline']}: " + (
            "the mean distance between images made for different prompts in this run."
            if first["baseline"] == "cross-prompt"
            else "half the hash's bits, the expected distance of unrelated images (the run "
            "has one prompt)."
        )
    return (
        f"Distances are Hamming distances between perceptual hashes; similarity = 1 - mean "
        f"distance / baseline, clipped to 0..1.{baseline} Intervals: percentile bootstrap over "
        f"images, {s['n_boot']} replicates; verdicts: permutation test of image labels "
        f"({s['n_perm']} relabellings at most, exact when fewer exist), seed {s['seed']}. "
        f"Near-duplicate: at most {_fmt(s['near_duplicate'], 2)} of the bits differ. Monthly "
        f"cost: the run's own cost per image x images a day x {s['days']} days. "
        f"imgkit {s['imgkit']}."
    )
