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
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from imgkit.report.consistency_text import (
    VERDICT_HEAD,
    methods_text,
    ranking_table,
    scale_note,
    similarities_note,
    similarities_table,
    verdict_lines,
    verdict_rows,
)
from imgkit.report.data import ReportData, arm_label, json_ready
from imgkit.report.quality import quality_content
from imgkit.report.sampling import evenly_spaced
from imgkit.report.table_rows import (
    CONSISTENCY_HEAD,
    COST_HEAD,
    DIVERGENCE_HEAD,
    VARIABILITY_HEAD,
    Table,
    consistency_rows,
    cost_rows,
    divergence_rows,
    fmt,
    frame_rows,
    projection_rows,
    seconds,
    usd,
    variability_rows,
)

__all__ = ["ReportContent", "Table", "report_content"]


@dataclass(frozen=True)
class ReportContent:
    """The report's text, section by section; ``None`` where the report shows a sentence instead.

    ``banner`` is "SIMULATED", "PARTLY SIMULATED" or "LIVE" and ``simulated`` the matching
    "all", "some" or "none" of :attr:`ReportData.simulated`. ``diffs`` holds one HTML word diff
    per row of ``divergence`` (already escaped: see the module docstring).
    """

    title: str
    title_suffix: str
    headline: str
    subtitle: str
    cost_line: str
    simulated: str
    banner: str
    banner_explanation: str
    run: Table
    manifest_json: str | None
    prompts: list[str]
    prompt_numbers: dict[str, str]
    verdicts: list[tuple[str, str]]
    verdict_summary: list[str]
    verdict_table: Table | None
    ranking: Table | None
    similarities: Table | None
    similarities_note: str
    scale_note: str
    consistency: Table
    methods: str
    variability: Table | None
    divergence: Table | None
    divergence_note: str
    diffs: list[str]
    costs: Table
    n_unknown_cost: int
    days: int
    projection: Table | None
    status_counts: Table
    problems: Table | None
    problems_note: str
    attempts: Table | None
    image_problems: str | None
    latency: Table | None
    latency_note: str
    command: str
    #: the Quality section (:func:`imgkit.report.quality.quality_content`), None without ratings
    quality: Any = None


def report_content(data: ReportData) -> ReportContent:
    """Return everything the report says about ``data``, formatted as text."""
    word, explanation = _banner_text(data.simulated)
    revised = len(data.divergence) > 0
    divergence, divergence_note = _bounded_rows(data.divergence, "revised prompts")
    problems, problems_note = _bounded_rows(data.problems, "generations without an image")
    numbers = _prompt_numbers(data)
    latency, latency_note = _latency(data)
    return ReportContent(
        title=data.title,
        title_suffix={"all": " (simulated)", "some": " (partly simulated)"}.get(data.simulated, ""),
        headline=_headline(data),
        subtitle=_subtitle(data),
        cost_line=_cost_line(data),
        simulated=data.simulated,
        banner=word,
        banner_explanation=explanation,
        run=Table(["", ""], [list(row) for row in _run_summary(data)]),
        manifest_json=_manifest_json(data.manifest) if data.manifest else None,
        prompts=list(numbers),
        prompt_numbers=numbers,
        verdicts=verdict_lines(data, numbers),
        verdict_summary=data.sweep.summary() if data.comparisons else [],
        verdict_table=(
            Table(VERDICT_HEAD, verdict_rows(data, numbers)) if data.comparisons else None
        ),
        ranking=ranking_table(data, numbers),
        similarities=similarities_table(data),
        similarities_note=similarities_note(data),
        scale_note=scale_note(data),
        consistency=Table(CONSISTENCY_HEAD, consistency_rows(data.consistency, numbers)),
        methods=methods_text(data),
        variability=(
            Table(VARIABILITY_HEAD, variability_rows(data.variability, numbers))
            if revised
            else None
        ),
        divergence=(
            Table(DIVERGENCE_HEAD, divergence_rows(divergence, numbers)) if revised else None
        ),
        divergence_note=divergence_note,
        diffs=[str(d) for d in divergence["diff_html"]] if revised else [],
        costs=Table(COST_HEAD, cost_rows(data.costs)),
        n_unknown_cost=int(data.costs["n_unknown_cost"].sum()) if len(data.costs) else 0,
        days=int(data.settings["days"]),
        projection=Table(*projection_rows(data.projection)) if len(data.projection) else None,
        status_counts=Table(*frame_rows(data.status_counts)),
        problems=Table(*frame_rows(problems)) if len(problems) else None,
        problems_note=problems_note,
        attempts=Table(*frame_rows(data.attempt_counts)) if len(data.attempt_counts) else None,
        image_problems=_image_problem_text(data),
        latency=latency,
        latency_note=latency_note,
        command=data.command,
        quality=quality_content(data.quality, _prompt_id_numbers(data, numbers)),
    )


def _prompt_id_numbers(data: ReportData, numbers: Mapping[str, str]) -> dict[str, str]:
    """{prompt id: the prompt's number}: ratings name prompts by id."""
    if "prompt_id" not in data.frame.columns:
        return {}
    pairs = zip(data.frame["prompt_id"], data.frame["prompt"], strict=True)
    return {str(i): numbers[str(p)] for i, p in pairs if str(p) in numbers}


def _prompt_numbers(data: ReportData) -> dict[str, str]:
    """Each prompt and the short name the tables use for it ("#1", "#2", ...), in run order:
    the prompts are listed once, at the top, instead of on every row."""
    prompts = dict.fromkeys(str(p) for p in data.frame["prompt"].dropna())
    return {prompt: f"#{k}" for k, prompt in enumerate(prompts, 1)}


def _headline(data: ReportData) -> str:
    """What was compared, in words: "dall-e-3 vs gpt-image-1 on 1 prompt, 5 repeats each"."""
    frame = data.frame
    arms = [str(a) for a in dict.fromkeys(frame["arm"].dropna())]
    if not arms:
        return data.title
    if len(arms) <= 3:
        who = " vs ".join(arms)
    else:
        who = f"{len(arms)} arms ({', '.join(arms[:2])} and {len(arms) - 2} more)"
    prompts = frame["prompt"].nunique()
    text = f"{who} on {prompts} prompt{'s' if prompts != 1 else ''}"
    repeats = frame.groupby(["arm", "prompt"], sort=False).size()
    if len(repeats) and repeats.min() == repeats.max():
        count = int(repeats.iloc[0])
        text += f", {count} repeat{'s' if count != 1 else ''} each"
    elif len(repeats):
        text += f", {int(repeats.min())} to {int(repeats.max())} repeats"
    return text


def _cost_line(data: ReportData) -> str:
    """The cost in one sentence, for the top of the report."""
    costs = data.costs
    if not len(costs):
        return ""
    known = pd.to_numeric(costs["total_usd"], errors="coerce")
    images = int(costs["n_ok"].sum())
    each = ", ".join(
        f"{r['arm']} {usd(r['per_image_usd'])} each" for r in costs.to_dict(orient="records")
    )
    text = f"Cost: {usd(float(known.sum()))} for {images} image(s) ({each})."
    if data.batch:
        text += (
            f" {len(data.batch['arms'])} arm(s) went through the vendors' Batch APIs: "
            f"{usd(data.batch['batch_usd'])} there, {usd(data.batch['synchronous_usd'])} "
            "synchronously" + (_not_collected(data.batch, data.path) or ".")
        )
    if data.simulated == "all":
        text += " Simulated: what the services would charge; nothing was billed."
    unknown = int(costs["n_unknown_cost"].sum())
    if unknown:
        text += f" {unknown} image(s) have no known cost and are not in the total."
    return text


def _subtitle(data: ReportData) -> str:
    """The run in one line: its id, when, where the images came from, its status."""
    manifest = data.manifest
    parts = [f"run {data.title}"]
    created = str(manifest.get("created_at") or "")
    if created:
        parts.append(created[:16].replace("T", " ") + " UTC")
    parts.append(_banner_text(data.simulated)[0].lower())
    if manifest.get("status"):
        parts.append(str(manifest["status"]))
    return " · ".join(parts)


def _latency(data: ReportData) -> tuple[Table | None, str]:
    """Time to answer per arm, and for streamed arms to the first partial and final image."""
    from imgkit.analysis.latency import latency_table

    table = latency_table(data.frame) if "latency_s" in data.frame.columns else None
    if table is None or table["latency_median_s"].isna().all():
        return None, ""
    batched = set(data.batch.get("arms") or ())
    rows = [
        [
            str(r["arm"]),
            str(r["n"]),
            seconds(r["latency_median_s"]) or ("by batch" if r["arm"] in batched else ""),
            seconds(r["latency_p90_s"]),
            str(r["streamed"]) if r["streamed"] else "no",
            seconds(r["first_partial_median_s"]),
            seconds(r["final_image_median_s"]),
        ]
        for r in table.to_dict(orient="records")
    ]
    head = [
        "arm",
        "images",
        "median",
        "90th percentile",
        "streamed",
        "first partial image (median)",
        "final image (median)",
    ]
    note = "Seconds from sending a request to its answer; for streamed requests also to the first "
    note += "partial image and to the final image."
    if batched:
        note += ' Arms sent through a Batch API have no time per request ("by batch"): their '
        note += "results came back together, within the batch's completion window."
    if data.simulated == "all":
        note += " Simulated: these are the simulator's own delays, not the services'."
    return Table(head, rows), note


#: Tables with a row per generation show at most this many rows (spread evenly over the arm x
#: prompt groups), so that a sweep of thousands of images keeps a page of a readable size; the
#: JSON (``imgkit report --json``) has them all.
MAX_ROWS = 200


def _bounded_rows(frame: pd.DataFrame, what: str) -> tuple[pd.DataFrame, str]:
    """At most :data:`MAX_ROWS` rows, the same share of each arm x prompt group, and a note."""
    if len(frame) <= MAX_ROWS:
        return frame, ""
    keys = [c for c in ("arm", "prompt") if c in frame.columns]
    if keys:
        groups = list(frame.groupby(keys, sort=False))
        each = max(1, MAX_ROWS // len(groups))
        chosen = pd.concat([group.iloc[evenly_spaced(len(group), each)] for _, group in groups])
        chosen = chosen.iloc[:MAX_ROWS]
    else:
        chosen = frame.iloc[evenly_spaced(len(frame), MAX_ROWS)]
    note = (
        f"Showing {len(chosen)} of {len(frame)} {what}, spread evenly over the arms and "
        "prompts; `imgkit report RUN --json` lists them all."
    )
    return frame[frame.index.isin(chosen.index)], note


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
        ("estimate", _get(manifest, "estimate", "total_usd")),
        ("git commit", _get(manifest, "git", "commit")),
    ]
    rows += [
        (name, usd(value) if name == "estimate" else fmt(value))
        for name, value in facts
        if value not in (None, "", [])
    ]
    for arm, group in frame.groupby("arm", sort=True):
        rows.append((f"arm {arm}", arm_label(group)))
    versions = manifest.get("versions")
    if isinstance(versions, Mapping):
        rows.append(("versions", ", ".join(f"{k} {v}" for k, v in versions.items() if v)))
    rows.append(("generations", str(len(frame))))
    rows += _batch_rows(data.batch, data.path)
    if data.path is not None:
        rows.append(("folder", str(data.path)))
    return rows


def _not_collected(batch: Mapping[str, Any], path: Any) -> str:
    """The requests still in batches at the vendor (run and billed there, not yet here)."""
    if not batch.get("waiting"):
        return ""
    return (
        f"; {batch['waiting']} request(s) still in batches at the vendor, not yet collected "
        f"(`imgkit drill --resume {path}` collects them)."
    )


def _batch_rows(batch: Mapping[str, Any], path: Any) -> list[tuple[str, str]]:
    """A batch drill's two facts: its price against the synchronous one, and the arms that ran
    synchronously (with why)."""
    if not batch:
        return []
    rows = [
        (
            "batch mode",
            f"{len(batch['arms'])} arm(s) through the vendors' Batch APIs cost "
            f"{usd(batch['batch_usd'])}; the same images synchronously: "
            f"{usd(batch['synchronous_usd'])}" + _not_collected(batch, path).rstrip("."),
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
