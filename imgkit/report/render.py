"""The experiment report: one self-contained HTML file and a Markdown summary for a run.

:func:`write_report` reads a run folder (through :func:`imgkit.runs.folder.open_run`), a ``Run``
object, or a bare run frame, and writes

* ``report.html``: a single file with every plot and thumbnail embedded as a ``data:`` URI, its
  style inline, no script and no external request, so it can be mailed or archived as is;
* ``report.md``: the same numbers as text, for a pull request or a chat.

Both say, in a banner at the very top, whether the images came from the simulator. The report
holds what was run (from the manifest), the verdict per prompt (:func:`imgkit.consistency.
compare_arms`), the consistency table, the prompt-divergence table with word diffs, what the run
cost and what each arm would cost a month, the failures and refusals, and the command that
reproduces the run.

Everything is computed from the folder alone, offline, with fixed seeds and without the time of
writing, so writing the report twice gives the same files (and the same numbers). The numbers
live in :class:`ReportData` (:func:`report_data`), apart from the two renderers, so they can be
tested, printed as JSON (``imgkit report RUN --json``) or reused in a notebook.

Every piece of text that comes from the run (prompts, revised prompts, error messages, manifest
values) is escaped with :func:`html.escape` in HTML and neutralised in Markdown.
"""

from __future__ import annotations

import base64
import html
import io
import itertools
import json
import math
import os
import shlex
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from PIL import Image

from imgkit.analysis.consistency import (
    ArmComparison,
    compare_arms,
    consistency_table,
    usable_generations,
)
from imgkit.analysis.divergence import (
    divergence_table,
    divergence_vs_distance,
    html_diff,
    rewrite_variability,
)
from imgkit.analysis.hashing import KINDS
from imgkit.catalog.costs import projection_table
from imgkit.errors import ValidationError, check_argument
from imgkit.report import plots
from imgkit.runs.folder import open_run

__all__ = [
    "DEFAULT_PER_DAY",
    "FORMATS",
    "ReportData",
    "cost_by_arm",
    "cost_projection_frame",
    "failure_summary",
    "render_html",
    "render_markdown",
    "report_data",
    "reproduce_command",
    "write_report",
]

#: What :func:`write_report` can write.
FORMATS = ("html", "md")
#: Images a day the monthly projection is shown at (the lesson's 1 and 20, and two larger).
DEFAULT_PER_DAY = (1, 20, 50, 500)

# Manifest keys whose values are never written into a report, whatever they hold: a run
# manifest should not carry credentials, but a report is made to be passed around. Matched on
# the end of the key, so "api_key" is hidden and "output_tokens" is not.
_SECRET_ENDINGS = (
    "key",
    "_token",
    "secret",
    "password",
    "authorization",
    "credential",
    "credentials",
)
# Thumbnails in the HTML gallery: small enough that a 100-image run stays a few MB.
_THUMB_SIDE = 160
_PLOT_DPI = 80


# --------------------------------------------------------------------------------------------
# Loading a run


@dataclass
class _Source:
    frame: pd.DataFrame
    manifest: dict[str, Any]
    path: Path | None
    attempts: pd.DataFrame | None


def _load(run_or_path: Any, manifest: Mapping[str, Any] | None) -> _Source:
    """Accept a run folder, a ``Run`` (anything with ``to_frame()`` and ``manifest``) or a frame."""
    if isinstance(run_or_path, pd.DataFrame):
        return _Source(run_or_path.copy(), dict(manifest or {}), None, None)
    if isinstance(run_or_path, str | os.PathLike):
        run_or_path = open_run(run_or_path)
    if not hasattr(run_or_path, "to_frame"):
        raise ValidationError(
            "run_or_path", type(run_or_path).__name__, "a run folder, a Run, or a run DataFrame"
        )
    attempts = None
    if hasattr(run_or_path, "attempts_frame"):
        attempts = run_or_path.attempts_frame()
    path = getattr(run_or_path, "path", None)
    merged = {**dict(getattr(run_or_path, "manifest", None) or {}), **dict(manifest or {})}
    return _Source(run_or_path.to_frame(), merged, Path(path) if path else None, attempts)


def _redact(value: Any, key: str = "") -> Any:
    if key.lower().endswith(_SECRET_ENDINGS) or key.lower() == "token":
        return "(redacted)"
    if isinstance(value, Mapping):
        return {str(k): _redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact(v) for v in value]
    return value


def _is_simulated(frame: pd.DataFrame, manifest: Mapping[str, Any]) -> str:
    """ "all", "some" or "none": where the images came from, from the frame and the manifest."""
    flags = []
    if "simulated" in frame.columns:
        flags = frame["simulated"].fillna(False).astype(bool).tolist()
    if not flags:
        backend = str(manifest.get("backend", "")).lower()
        flags = [bool(manifest.get("simulated")) or backend == "sim"]
    if all(flags):
        return "all"
    return "some" if any(flags) else "none"


# --------------------------------------------------------------------------------------------
# Costs and failures (DataFrame in, DataFrame out)


def _money(value: Any) -> Decimal | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return Decimal(str(value))


def _arm_label(rows: pd.DataFrame) -> str:
    """ "model quality size" of an arm, from the first row that says."""
    parts = []
    for column in ("model", "quality", "size"):
        if column in rows.columns:
            values = [v for v in rows[column].tolist() if isinstance(v, str) and v]
            if values:
                parts.append(values[0])
    return " ".join(parts) or str(rows["arm"].iloc[0])


def cost_by_arm(frame: pd.DataFrame) -> pd.DataFrame:
    """Return what each arm of a run cost; one row per arm.

    Columns: ``arm``, ``label`` ("model quality size"), ``n_generations``, ``n_ok``,
    ``n_costed`` (generations with a known cost), ``n_unknown_cost`` (images whose cost the
    service did not report and the catalog could not estimate: shown, never counted as $0),
    ``total_usd`` and ``per_image_usd`` (Decimal; None when nothing was costed) and ``basis``
    (the distinct ``cost_basis`` values). Raises :class:`ValidationError` without ``arm``.
    """
    if not isinstance(frame, pd.DataFrame) or "arm" not in frame.columns:
        raise ValidationError("frame", "no arm column", "a run frame with an arm column")
    records = []
    for arm, rows in frame.groupby("arm", sort=True):
        costs = [_money(v) for v in rows["cost_usd"]] if "cost_usd" in rows.columns else []
        known = [c for c in costs if c is not None]
        ok = rows["status"] == "ok" if "status" in rows.columns else pd.Series(True, rows.index)
        unknown = sum(
            1
            for c, is_ok in zip(costs or [None] * len(rows), ok, strict=True)
            if is_ok and c is None
        )
        total = sum(known, Decimal(0)) if known else None
        basis = []
        if "cost_basis" in rows.columns:
            basis = sorted({str(b) for b in rows["cost_basis"].dropna()})
        records.append(
            {
                "arm": arm,
                "label": _arm_label(rows),
                "n_generations": len(rows),
                "n_ok": int(ok.sum()),
                "n_costed": len(known),
                "n_unknown_cost": unknown,
                "total_usd": total,
                "per_image_usd": (total / len(known)) if known else None,
                "basis": ", ".join(basis) or "unknown",
            }
        )
    columns = [
        "arm",
        "label",
        "n_generations",
        "n_ok",
        "n_costed",
        "n_unknown_cost",
        "total_usd",
        "per_image_usd",
        "basis",
    ]
    return pd.DataFrame.from_records(records, columns=columns)


def cost_projection_frame(
    costs: pd.DataFrame, per_day: Sequence[float | int] = DEFAULT_PER_DAY, days: int = 30
) -> pd.DataFrame:
    """Project each arm's observed cost per image to a month at ``per_day`` images a day.

    Takes :func:`cost_by_arm`'s frame; arms sharing a label ("model quality size") are drawn
    once. Uses :func:`imgkit.catalog.costs.projection_table` with the run's own per-image cost, so
    the projection depends on the run folder only, not on today's price table. Arms without a known
    cost are left out (there is nothing honest to project). Columns as projection_table's, plus
    ``arms`` (the arms behind each line) and ``basis`` (the run's cost basis).
    """
    if not isinstance(costs, pd.DataFrame) or "per_image_usd" not in costs.columns:
        raise ValidationError("costs", type(costs).__name__, "the frame cost_by_arm returns")
    known = costs[costs["per_image_usd"].notna()]
    parts = []
    for label, rows in known.groupby("label", sort=True):
        table = projection_table([(label, rows["per_image_usd"].iloc[0])], per_day, days)
        table["arms"] = ", ".join(map(str, rows["arm"]))
        table["basis"] = rows["basis"].iloc[0]
        parts.append(table)
    if not parts:
        columns = ["label", "price_per_image", "images_per_day", "days", "monthly_usd", "basis"]
        return pd.DataFrame(columns=[*columns, "source", "arms"])
    return pd.concat(parts, ignore_index=True)


def failure_summary(
    frame: pd.DataFrame, attempts: pd.DataFrame | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Return ``(status_counts, problems, attempt_counts)`` for a run.

    ``status_counts``: one row per arm, a column per status (ok, failed, refused, in_flight...).
    ``problems``: the generations that did not end "ok", with arm, prompt, repeat, status,
    error_kind and error_message when present. ``attempt_counts``: from the attempt log, how many
    attempts (retries included) ended each way, as "status" or "status: error_kind"; empty
    when there is no log.
    """
    if "status" not in frame.columns:
        counts = frame.groupby("arm").size().rename("ok").reset_index()
        problems = frame.iloc[0:0]
    else:
        counts = frame.groupby(["arm", "status"]).size().unstack(fill_value=0).reset_index()
        counts.columns.name = None
        problems = frame[frame["status"] != "ok"]
    keep = [
        c
        for c in ("arm", "prompt", "repeat", "status", "error_kind", "error_message")
        if c in problems.columns
    ]
    problems = problems[keep].reset_index(drop=True)
    attempt_counts = pd.DataFrame(columns=["outcome", "attempts"])
    if attempts is not None and len(attempts):
        # "failed: rate_limited" says more than either column alone; attempts still being sent
        # have a status and no error kind.
        status = attempts["status"].astype(str) if "status" in attempts else "recorded"
        kind = attempts.get("error_kind", pd.Series(None, index=attempts.index))
        outcome = status + kind.map(lambda k: f": {k}" if isinstance(k, str) and k else "")
        attempt_counts = (
            outcome.value_counts().rename_axis("outcome").reset_index(name="attempts")
        ).sort_values(["attempts", "outcome"], ascending=[False, True], ignore_index=True)
    return counts, problems, attempt_counts


# --------------------------------------------------------------------------------------------
# Reproducing


def _command_text(command: Any) -> str | None:
    if isinstance(command, str) and command.strip():
        return command.strip()
    if isinstance(command, list | tuple) and command:
        return shlex.join(str(part) for part in command)
    return None


# The drill parameters that decide what is generated; where the run was written (out, run_name)
# and a simulator URL that will not exist tomorrow are left out of the command.
_DRILL_ARGUMENTS = (
    "prompts",
    "n",
    "size",
    "quality",
    "style",
    "params",
    "backend",
    "budget",
    "concurrency",
    "sim_seed",
    "sim_latency",
    "sim_faults",
)


def reproduce_command(manifest: Mapping[str, Any], path: Path | None = None) -> str:
    """Return the command that re-runs the experiment, and the one that rebuilds this report.

    Uses the manifest's own record of the command (``command``, ``argv`` or ``cli``) when there
    is one; otherwise writes the :func:`imgkit.drill` call from the drill's ``parameters`` as
    the runner records them (or from top-level keys of the same names).
    """
    lines = []
    recorded = [_command_text(manifest.get(k)) for k in ("command", "argv", "cli")]
    recorded = [text for text in recorded if text]
    parameters = manifest.get("parameters")
    parameters = parameters if isinstance(parameters, Mapping) else manifest
    if recorded:
        lines.append(recorded[0])
    else:
        arguments = [
            f"    {name}={parameters[name]!r},"
            for name in _DRILL_ARGUMENTS
            if parameters.get(name) not in (None, {}, [])
        ]
        arms = parameters.get("arms")
        if arms and all(isinstance(a, Mapping) for a in arms):
            arguments.insert(1, f"    arms=[Arm.from_dict(a) for a in {list(arms)!r}],")
        elif parameters.get("models"):
            arguments.insert(1, f"    models={parameters['models']!r},")
        if arguments:
            lines += [
                "python - <<'EOF'",
                "import imgkit",
                "from imgkit.experiment.arms import Arm",
                "",
                "imgkit.drill(",
                *arguments,
                ")",
                "EOF",
            ]
    if path is not None:
        lines.append(shlex.join(["imgkit", "report", str(path)]))
    return "\n".join(lines) or "(the manifest does not record how the run was made)"


# --------------------------------------------------------------------------------------------
# The numbers


@dataclass
class ReportData:
    """Everything a report shows, computed once; rendered by :func:`render_html` and
    :func:`render_markdown`, and printed by ``imgkit report --json`` (:meth:`to_dict`)."""

    title: str
    simulated: str  # "all", "some" or "none"
    manifest: dict[str, Any]
    path: Path | None
    frame: pd.DataFrame
    kind: str
    consistency: pd.DataFrame
    comparisons: list[ArmComparison]
    divergence: pd.DataFrame
    variability: pd.DataFrame
    image_vs_prompt: pd.DataFrame
    costs: pd.DataFrame
    projection: pd.DataFrame
    status_counts: pd.DataFrame
    problems: pd.DataFrame
    attempt_counts: pd.DataFrame
    command: str
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The report's numbers as plain JSON-ready data."""
        return {
            "title": self.title,
            "simulated": self.simulated,
            "path": str(self.path) if self.path else None,
            "manifest": _plain(self.manifest),
            "settings": _plain(self.settings),
            "verdicts": [_plain(c.to_dict()) for c in self.comparisons],
            "consistency": _records(self.consistency),
            "divergence": _records(self.divergence.drop(columns=["diff_html"], errors="ignore")),
            "rewrite_variability": _records(self.variability),
            "costs": _records(self.costs),
            "projection": _records(self.projection),
            "status_counts": _records(self.status_counts),
            "problems": _records(self.problems),
            "attempts": _records(self.attempt_counts),
            "reproduce": self.command,
        }


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, np.generic):
        return _plain(value.item())
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, Path):
        return str(value)
    if value is pd.NA or value is pd.NaT:
        return None
    return value


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [_plain(row) for row in frame.to_dict(orient="records")]


def report_data(
    run_or_path: Any,
    *,
    manifest: Mapping[str, Any] | None = None,
    kind: str = "phash",
    kinds: Sequence[str] = ("phash", "dhash", "whash"),
    per_day: Sequence[float | int] = DEFAULT_PER_DAY,
    days: int = 30,
    n_boot: int = 2000,
    n_perm: int = 10_000,
    seed: int = 0,
) -> ReportData:
    """Compute everything the report shows for a run folder, ``Run`` or run frame.

    ``kind`` is the hash the verdicts use; ``kinds`` the hashes in the consistency table.
    ``manifest`` adds to (or, for a bare frame, stands in for) the run's manifest. The images
    are hashed once here and the hashes shared by every table. Raises
    :class:`ValidationError` for an unknown kind or a frame without ``arm`` and ``prompt``.
    """
    check_argument("kind", kind, KINDS)
    kinds = tuple(dict.fromkeys([kind, *kinds]))
    for k in kinds:
        check_argument("kinds", k, KINDS)
    source = _load(run_or_path, manifest)
    redacted = _redact(source.manifest)
    frame = source.frame
    for column in ("arm", "prompt"):
        if column not in frame.columns:
            raise ValidationError("frame", f"columns {list(frame.columns)}", "arm and prompt")

    # Hash every usable image once and put the hashes back on the frame, so that the
    # consistency table, the verdicts and the divergence link do not each hash them again.
    hashed = usable_generations(frame, kinds)
    frame = frame.copy()
    for k in kinds:
        frame[k] = None
        frame[k] = frame[k].astype(object)
        frame.loc[hashed.index, k] = hashed[k]

    table = consistency_table(frame, kinds, n_boot=n_boot, seed=seed)
    comparisons = []
    arms_by_prompt = hashed.groupby("prompt", sort=False)["arm"].unique()
    prompts = list(dict.fromkeys(hashed["prompt"]))
    for prompt in prompts:
        for arm_a, arm_b in itertools.combinations(sorted(arms_by_prompt[prompt]), 2):
            comparisons.append(
                compare_arms(frame, arm_a, arm_b, prompt, kind, n_perm, seed, n_boot=n_boot)
            )

    divergence = divergence_table(frame)
    divergence["diff_html"] = [
        html_diff(p, r)
        for p, r in zip(divergence["prompt"], divergence["revised_prompt"], strict=True)
    ]
    image_vs_prompt = divergence_vs_distance(frame, kind)
    costs = cost_by_arm(frame)
    status_counts, problems, attempt_counts = failure_summary(frame, source.attempts)
    title = str(
        source.manifest.get("run_id")
        or (
            frame["run_id"].dropna().iloc[0]
            if "run_id" in frame and frame["run_id"].notna().any()
            else ""
        )
        or (source.path.name if source.path else "run")
    )
    return ReportData(
        title=title,
        simulated=_is_simulated(frame, source.manifest),
        manifest=redacted,
        path=source.path,
        frame=frame,
        kind=kind,
        consistency=table,
        comparisons=comparisons,
        divergence=divergence,
        variability=rewrite_variability(frame),
        image_vs_prompt=image_vs_prompt,
        costs=costs,
        projection=cost_projection_frame(costs, per_day, days),
        status_counts=status_counts,
        problems=problems,
        attempt_counts=attempt_counts,
        command=reproduce_command(redacted, source.path),
        settings={
            "kind": kind,
            "kinds": list(kinds),
            "n_boot": n_boot,
            "n_perm": n_perm,
            "seed": seed,
            "confidence": table.attrs.get("confidence", 0.95),
            "near_duplicate": table.attrs.get("near_duplicate"),
            "days": days,
            "per_day": list(per_day),
            "imgkit": _version(),
        },
    )


def _version() -> str:
    try:
        return metadata.version("imgkit")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "unknown"


# --------------------------------------------------------------------------------------------
# Formatting shared by both renderers


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
        rows.append((f"arm {arm}", _arm_label(group)))
    versions = manifest.get("versions")
    if isinstance(versions, Mapping):
        rows.append(("versions", ", ".join(f"{k} {v}" for k, v in versions.items() if v)))
    rows.append(("generations", str(len(frame))))
    if data.path is not None:
        rows.append(("folder", str(data.path)))
    return rows


def _manifest_json(manifest: Mapping[str, Any]) -> str:
    return json.dumps(_plain(manifest), indent=2, sort_keys=True, default=str)


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


# --------------------------------------------------------------------------------------------
# Plots and thumbnails, as data URIs


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


def _plots(data: ReportData) -> list[tuple[str, str]]:
    """(caption, data URI) for every figure that has something to show."""
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
            shown.append((caption, uri))
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
# HTML

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1200px;padding:0 1.5em 3em;
color:#1d1d1f}
h1{margin-top:.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.8em}
table{border-collapse:collapse;margin:.6em 0;font-size:13px}
th,td{border:1px solid #ddd;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f3f3f3}
.banner{font-size:20px;font-weight:700;padding:14px 18px;margin:12px 0;border-radius:6px}
.banner small{display:block;font-size:14px;font-weight:400;margin-top:4px}
.banner-all,.banner-some{background:#b00020;color:#fff;border:4px solid #6d0014}
.banner-none{background:#e7f4e8;color:#14451a;border:2px solid #2e7d32}
.verdict{margin:.3em 0}
del.imgkit-del{background:#fbd3d3;color:#7a0000}
ins.imgkit-ins{background:#d3f5d6;color:#0b4f14;text-decoration:none}
figure{display:inline-block;margin:.5em 1em .5em 0}
figcaption{font-size:12px;color:#555}
.gallery{display:flex;flex-wrap:wrap;gap:8px}
.thumb{width:170px;font-size:11px}
.thumb img{width:160px;height:auto;border:1px solid #ccc}
pre{background:#f6f6f6;padding:.8em;overflow-x:auto;white-space:pre-wrap}
"""


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _html_table(head: Sequence[str], rows: Iterable[Sequence[str]], raw_last: bool = False) -> str:
    """A table of escaped cells; with ``raw_last`` the last cell is already-safe HTML."""
    out = ["<table><thead><tr>", *[f"<th>{_e(h)}</th>" for h in head], "</tr></thead><tbody>"]
    for row in rows:
        cells = [f"<td>{_e(c)}</td>" for c in (row[:-1] if raw_last else row)]
        if raw_last:
            cells.append(f"<td>{row[-1]}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _gallery(frame: pd.DataFrame) -> str:
    rows = frame[frame["status"] == "ok"] if "status" in frame.columns else frame
    if "image_path" not in rows.columns:
        return "<p>No image paths recorded.</p>"
    order = [c for c in ("arm", "prompt", "repeat") if c in rows.columns]
    parts = []
    for (arm, prompt), group in rows.sort_values(order, kind="stable").groupby(
        ["arm", "prompt"], sort=True
    ):
        cells = []
        for record in group.to_dict(orient="records"):
            uri = _thumbnail_uri(record.get("image_path"))
            if uri is None:
                continue
            revised = record.get("revised_prompt")
            caption = f"repeat {record.get('repeat', '')}"
            if isinstance(revised, str) and revised.strip():
                caption += f": {revised}"
            cells.append(
                f'<div class="thumb"><img src="{uri}" alt="{_e(caption)}">'
                f"<div>{_e(caption)}</div></div>"
            )
        if cells:
            parts.append(
                f'<h3>{_e(arm)} — {_e(prompt)}</h3><div class="gallery">{"".join(cells)}</div>'
            )
    return "".join(parts) or "<p>No readable images.</p>"


def _title_suffix(simulated: str) -> str:
    return {"all": " (simulated)", "some": " (partly simulated)"}.get(simulated, "")


def render_html(data: ReportData) -> str:
    """Return the report as one self-contained HTML document (no script, no external URL)."""
    word, explanation = _banner_text(data.simulated)
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>imgkit report: {_e(data.title)}{_title_suffix(data.simulated)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f'<div class="banner banner-{data.simulated}" id="source-banner">{_e(word)}'
        f"<small>{_e(explanation)}</small></div>",
        f"<h1>Experiment report: {_e(data.title)}</h1>",
    ]

    out.append('<section id="run"><h2>What was run</h2>')
    out.append(_html_table(["", ""], _run_summary(data)))
    if data.manifest:
        out.append("<details><summary>Full manifest</summary>")
        out.append(f"<pre>{_e(_manifest_json(data.manifest))}</pre></details>")
    prompts = list(dict.fromkeys(data.frame["prompt"].dropna()))
    out.append("<h3>Prompts</h3><ol>")
    out += [f"<li>{_e(p)}</li>" for p in prompts]
    out.append("</ol></section>")

    out.append('<section id="verdicts"><h2>Verdict per prompt</h2>')
    if data.comparisons:
        for comparison in data.comparisons:
            out.append(
                f'<p class="verdict"><b>{_e(comparison.prompt)}</b>: {_e(comparison.verdict)}</p>'
            )
    else:
        out.append("<p>Only one arm made images for each prompt: there is nothing to compare.</p>")
    out.append("</section>")

    out.append('<section id="consistency"><h2>Consistency</h2>')
    out.append(_html_table(_CONSISTENCY_HEAD, _consistency_rows(data.consistency)))
    out.append(f"<p>{_e(_methods(data))}</p>")
    figures = _plots(data)
    for caption, uri in figures:
        out.append(
            f'<figure><img src="{uri}" alt="{_e(caption)}"><figcaption>{_e(caption)}'
            "</figcaption></figure>"
        )
    out.append("</section>")

    out.append('<section id="divergence"><h2>How the prompts were rewritten</h2>')
    if len(data.divergence):
        out.append(_html_table(_VARIABILITY_HEAD, _variability_rows(data.variability)))
        rows = [
            [*row, diff]
            for row, diff in zip(
                _divergence_rows(data.divergence), data.divergence["diff_html"], strict=True
            )
        ]
        out.append(_html_table([*_DIVERGENCE_HEAD, "prompt → revised prompt"], rows, raw_last=True))
    else:
        out.append("<p>No generation returned a revised prompt.</p>")
    out.append("</section>")

    out.append('<section id="cost"><h2>Cost</h2>')
    out.append(_html_table(_COST_HEAD, _cost_rows(data.costs)))
    unknown = int(data.costs["n_unknown_cost"].sum()) if len(data.costs) else 0
    if unknown:
        out.append(
            f"<p><b>{unknown} image(s) have no known cost</b>: the service reported no usage and "
            "no estimate was possible. They are not counted as $0.</p>"
        )
    if len(data.projection):
        head, rows = _projection_rows(data.projection)
        out.append(f"<h3>Per month ({data.settings['days']} days) at these volumes</h3>")
        out.append(_html_table(head, rows))
    out.append("</section>")

    out.append('<section id="failures"><h2>Failures and refusals</h2>')
    out.append(_html_table(*_frame_rows(data.status_counts)))
    if len(data.problems):
        out.append(_html_table(*_frame_rows(data.problems)))
    else:
        out.append("<p>Every generation succeeded.</p>")
    if len(data.attempt_counts):
        out.append("<h3>Attempts (retries and fallbacks included)</h3>")
        out.append(_html_table(*_frame_rows(data.attempt_counts)))
    out.append("</section>")

    out.append('<section id="images"><h2>Images</h2>')
    out.append(_gallery(data.frame))
    out.append("</section>")

    out.append('<section id="reproduce"><h2>Reproduce</h2>')
    out.append(f"<pre>{_e(data.command)}</pre></section>")
    out.append(f"<footer><p>{_e(word)}: {_e(explanation)}</p></footer></body></html>")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------------
# Markdown


def _md(text: Any) -> str:
    # Escape what a Markdown renderer would turn into markup or HTML, and keep table cells on
    # one line: a hostile prompt must stay text in a pull request too.
    text = html.escape(" ".join(str(text).split()), quote=False)
    for char in "\\`*_[]|#":
        text = text.replace(char, "\\" + char)
    return text


def _md_table(head: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(_md(h) for h in head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def render_markdown(data: ReportData) -> str:
    """Return the report's numbers as Markdown (tables and verdicts; no images)."""
    word, explanation = _banner_text(data.simulated)
    out = [
        f"> **{word}**: {_md(explanation)}",
        "",
        f"# Experiment report: {_md(data.title)}",
        "",
        "## What was run",
        "",
    ]
    out += [_md_table(["", ""], _run_summary(data)), ""]
    out += ["Prompts:", ""] + [
        f"{k}. {_md(p)}" for k, p in enumerate(dict.fromkeys(data.frame["prompt"].dropna()), 1)
    ]
    out += ["", "## Verdict per prompt", ""]
    if data.comparisons:
        out += [f"- **{_md(c.prompt)}**: {_md(c.verdict)}" for c in data.comparisons]
    else:
        out.append("Only one arm made images for each prompt: there is nothing to compare.")
    out += [
        "",
        "## Consistency",
        "",
        _md_table(_CONSISTENCY_HEAD, _consistency_rows(data.consistency)),
        "",
        _md(_methods(data)),
        "",
        "## How the prompts were rewritten",
        "",
    ]
    if len(data.divergence):
        out += [_md_table(_VARIABILITY_HEAD, _variability_rows(data.variability)), ""]
        out += [_md_table(_DIVERGENCE_HEAD, _divergence_rows(data.divergence))]
    else:
        out.append("No generation returned a revised prompt.")
    out += ["", "## Cost", "", _md_table(_COST_HEAD, _cost_rows(data.costs)), ""]
    if len(data.projection):
        out += [f"Per month ({data.settings['days']} days):", ""]
        out += [_md_table(*_projection_rows(data.projection)), ""]
    out += ["## Failures and refusals", "", _md_table(*_frame_rows(data.status_counts)), ""]
    if len(data.problems):
        out += [_md_table(*_frame_rows(data.problems)), ""]
    if len(data.attempt_counts):
        out += ["Attempts:", "", _md_table(*_frame_rows(data.attempt_counts)), ""]
    out += ["## Reproduce", "", *_md_fence(data.command)]
    if data.manifest:
        out += ["## Manifest", "", *_md_fence(_manifest_json(data.manifest), "json")]
    return "\n".join(out)


def _md_fence(text: str, language: str = "") -> list[str]:
    # Inside a fence a renderer shows text as it is; only a fence of its own could end it early.
    return [f"```{language}", text.replace("```", "'''"), "```", ""]


# --------------------------------------------------------------------------------------------
# Writing


def _targets(out: Any, path: Path | None, formats: Sequence[str]) -> dict[str, Path]:
    if out is None:
        if path is None:
            raise ValidationError("out", None, "a file or folder (a bare frame has no run folder)")
        folder, stem = path, "report"
    else:
        out = Path(out)
        if out.is_dir() or (not out.suffix and not out.exists()):
            folder, stem = out, "report"
        else:
            folder, stem = out.parent, out.stem
    folder.mkdir(parents=True, exist_ok=True)
    return {fmt: folder / f"{stem}.{fmt}" for fmt in formats}


def write_report(
    run_or_path: Any,
    out: str | os.PathLike | None = None,
    *,
    formats: Sequence[str] = FORMATS,
    data: ReportData | None = None,
    **options: Any,
) -> Path:
    """Write the report of a run; return the path of the first format written (HTML by default).

    ``run_or_path``: a run folder, a ``Run`` from :func:`imgkit.drill` / ``open_run``, or a run
    frame (then ``out`` is required). ``out``: a file (``x.html`` writes ``x.html`` and
    ``x.md``) or a folder (``report.html`` and ``report.md`` inside); by default the run folder.
    ``formats``: any of "html" and "md". ``data``: numbers already computed by
    :func:`report_data` (to avoid computing them twice); other keyword ``options`` go to
    :func:`report_data` (``manifest``, ``kind``, ``per_day``, ``n_boot``, ``seed``...).
    Raises :class:`ValidationError` for an unknown format or a frame without ``out``.
    """
    formats = (formats,) if isinstance(formats, str) else tuple(formats)
    if not formats:
        raise ValidationError("formats", formats, FORMATS, detail="at least one is needed")
    for fmt in formats:
        check_argument("formats", fmt, FORMATS)
    data = data if data is not None else report_data(run_or_path, **options)
    targets = _targets(out, data.path, formats)
    renderers = {"html": render_html, "md": render_markdown}
    for fmt, target in targets.items():
        target.write_text(renderers[fmt](data), encoding="utf-8")
    return targets[formats[0]]
