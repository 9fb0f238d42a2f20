"""The numbers of the experiment report, computed from a run folder, a ``Run`` or a run frame.

:func:`report_data` reads a run (through :func:`imgkit.runs.folder.open_run`) and returns a
:class:`ReportData`: what was run (the manifest, secrets redacted), the verdicts (every pair of
arms, corrected for multiplicity, with an omnibus test and a ranking:
:func:`imgkit.analysis.sweep.compare_all`), how many repeats would settle each inconclusive
comparison (:func:`imgkit.analysis.planning.plan_repeats`), the consistency table on the fixed
similarity scale, the prompt-divergence
table with word diffs, what the run cost and what each arm would cost a month, the failures and
refusals, and the command that reproduces the run. The pieces are DataFrame-in, DataFrame-out
functions of their own (:func:`cost_by_arm`, :func:`cost_projection_frame`,
:func:`failure_summary`, :func:`reproduce_command`).

Everything is computed from the folder alone, offline, with fixed seeds and without the time of
writing, so the same folder gives the same numbers; an old run folder is re-analysed on today's
scale without sending anything. Time and memory grow linearly with the number of images: each
image is measured once (and its values kept in the run folder, so a second report decodes
nothing), and the statistics work on each image's point within arm x prompt groups.

Nothing here formats or draws: the text of the page is :mod:`imgkit.report.content`, its
pictures :mod:`imgkit.report.figures`, and the page itself :mod:`imgkit.report.render`; the
numbers alone are printed as JSON by ``imgkit report RUN --json`` (:meth:`ReportData.to_dict`)
or reused in a notebook.
"""

from __future__ import annotations

import math
import os
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from imgkit.analysis.blas import one_blas_thread
from imgkit.analysis.comparison import prepare_measure
from imgkit.analysis.consistency import (
    DEFAULT_KINDS,
    ArmComparison,
    consistency_table,
    usable_generations,
)
from imgkit.analysis.divergence import (
    divergence_table,
    divergence_vs_distance,
    html_diff,
    rewrite_variability,
)
from imgkit.analysis.generations import measure_reference
from imgkit.analysis.measures import DEFAULT_MEASURE, Measure, parse_measure, parse_measures
from imgkit.analysis.multiplicity import CORRECTIONS
from imgkit.analysis.reference import Reference
from imgkit.analysis.resampling import DEFAULT_N_BOOT, DEFAULT_N_PERM, percentile_interval
from imgkit.analysis.sweep import SweepComparison, compare_all
from imgkit.errors import ValidationError, check_argument
from imgkit.experiment.sweep import SWEEP_FILE_NAME
from imgkit.report.costs import (
    DEFAULT_PER_DAY,
    arm_label,
    batch_summary,
    cost_by_arm,
    cost_projection_frame,
)
from imgkit.report.quality import quality_summary
from imgkit.report.verdicts import planner_lines, reference_dict
from imgkit.runs.folder import Run, open_run

__all__ = [
    "DEFAULT_PER_DAY",
    "ReportData",
    "arm_label",
    "arm_similarities",
    "batch_summary",
    "cost_by_arm",
    "cost_projection_frame",
    "failure_summary",
    "json_ready",
    "report_data",
    "reproduce_command",
]


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
    # A run folder's images are checked against their hashes: a missing or damaged one is
    # left out of the analysis and counted, instead of stopping the whole report.
    if isinstance(run_or_path, Run):
        frame = run_or_path.to_frame(verify=True)
    else:
        frame = run_or_path.to_frame()
    return _Source(frame, merged, Path(path) if path else None, attempts)


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
    is one; otherwise ``imgkit drill --config`` on the ``sweep.toml`` the run folder keeps
    (which repeats the run exactly); otherwise writes the :func:`imgkit.drill` call from the
    drill's ``parameters`` as the runner records them (or from top-level keys of the same
    names).
    """
    lines = []
    recorded = [_command_text(manifest.get(k)) for k in ("command", "argv", "cli")]
    recorded = [text for text in recorded if text]
    parameters = manifest.get("parameters")
    parameters = parameters if isinstance(parameters, Mapping) else manifest
    if recorded:
        lines.append(recorded[0])
    elif path is not None and (path / SWEEP_FILE_NAME).is_file():
        lines.append(shlex.join(["imgkit", "drill", "--config", str(path / SWEEP_FILE_NAME)]))
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
    """Everything a report shows, computed once; rendered by
    :func:`imgkit.report.render.render_html` and :func:`~imgkit.report.render.render_markdown`,
    and printed by ``imgkit report --json`` (:meth:`to_dict`)."""

    title: str
    simulated: str  # "all", "some" or "none"
    manifest: dict[str, Any]
    path: Path | None
    frame: pd.DataFrame
    kind: str
    consistency: pd.DataFrame
    comparisons: list[ArmComparison]
    sweep: SweepComparison
    #: per comparison (same order as ``comparisons``): the planner's sentence, or None
    plans: list[str | None]
    reference: Reference | None
    divergence: pd.DataFrame
    variability: pd.DataFrame
    image_vs_prompt: pd.DataFrame
    costs: pd.DataFrame
    projection: pd.DataFrame
    status_counts: pd.DataFrame
    problems: pd.DataFrame
    attempt_counts: pd.DataFrame
    #: ok generations whose image could not be used, by reason ("missing", "damaged", ...)
    image_problems: dict[str, int]
    command: str
    settings: dict[str, Any] = field(default_factory=dict)
    #: batch mode: :func:`batch_summary` (empty for a run that sent no batches)
    batch: dict[str, Any] = field(default_factory=dict)
    #: the measure the verdicts use (:attr:`kind` is its name)
    measure: Measure = DEFAULT_MEASURE
    #: each arm's similarity on every measure, pooled over prompts: :func:`arm_similarities`
    similarities: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: people's and a judge's ratings (:func:`imgkit.report.quality.quality_summary`), or None
    quality: Any = None

    def to_dict(self) -> dict[str, Any]:
        """The report's numbers as plain JSON-ready data."""
        return {
            "title": self.title,
            "simulated": self.simulated,
            "path": str(self.path) if self.path else None,
            "manifest": json_ready(self.manifest),
            "settings": json_ready(self.settings),
            "verdicts": [json_ready(c.to_dict()) for c in self.comparisons],
            "comparison": json_ready(
                {k: v for k, v in self.sweep.to_dict().items() if k != "comparisons"}
            ),
            "plans": list(self.plans),
            "reference": json_ready(reference_dict(self.reference)),
            "consistency": _records(self.consistency),
            "similarities": _records(self.similarities),
            "divergence": _records(self.divergence.drop(columns=["diff_html"], errors="ignore")),
            "rewrite_variability": _records(self.variability),
            "costs": _records(self.costs),
            "projection": _records(self.projection),
            "status_counts": _records(self.status_counts),
            "problems": _records(self.problems),
            "attempts": _records(self.attempt_counts),
            "image_problems": dict(self.image_problems),
            "reproduce": self.command,
            "batch": json_ready(self.batch),
            "quality": self.quality.to_dict() if self.quality is not None else None,
        }


def json_ready(value: Any) -> Any:
    """``value`` with Decimals, numpy scalars and arrays, NaN/NA and paths made plain JSON."""
    if isinstance(value, Mapping):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [json_ready(v) for v in value]
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, np.generic):
        return json_ready(value.item())
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, Path):
        return str(value)
    if value is pd.NA or value is pd.NaT:
        return None
    return value


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [json_ready(row) for row in frame.to_dict(orient="records")]


@one_blas_thread()  # small products: see imgkit.analysis.blas
def arm_similarities(
    frame: pd.DataFrame,
    measures: Sequence[Measure],
    *,
    n_boot: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Each arm's similarity on each measure, pooled over the prompts where it has two images or
    more: one row per arm and measure (``arm``, ``kind``, ``title``, ``family``, ``detects``,
    ``similarity``, ``ci_low``, ``ci_high``, ``n_images``), in the order of ``measures``.

    The same pooled figures and bootstrap as the ranking's (and so as ``compare_all``'s), for
    every measure: the first screen shows the learned measure with the hashes beside it.
    """
    records = []
    for measure in measures:
        data = prepare_measure(frame, measure, n_boot=n_boot, seed=seed)
        for arm in dict.fromkeys(str(a) for a in frame["arm"].dropna()):
            used = [p for p in data.prompts if data.size(arm, p) >= 2]
            record = {
                "arm": arm,
                "kind": measure.name,
                "title": measure.title,
                "family": measure.family,
                "detects": measure.detects,
                "similarity": math.nan,
                "ci_low": math.nan,
                "ci_high": math.nan,
                "n_images": sum(data.size(arm, p) for p in used),
            }
            if used:
                mean, boots = data.pooled(arm, used)
                low, high = percentile_interval(data.similarity(boots), confidence)
                record.update(similarity=float(data.similarity(mean)), ci_low=low, ci_high=high)
            records.append(record)
    columns = ["arm", "kind", "title", "family", "detects", "similarity", "ci_low", "ci_high"]
    return pd.DataFrame.from_records(records, columns=[*columns, "n_images"])


def report_data(
    run_or_path: Any,
    *,
    manifest: Mapping[str, Any] | None = None,
    kind: Measure | str = DEFAULT_MEASURE,
    kinds: Sequence[Measure | str] = DEFAULT_KINDS,
    per_day: Sequence[float | int] = DEFAULT_PER_DAY,
    days: int = 30,
    n_boot: int = DEFAULT_N_BOOT,
    n_perm: int = DEFAULT_N_PERM,
    seed: int = 0,
    correction: str = "holm",
    alpha: float = 0.05,
    by_prompt: bool = False,
    plan: bool = True,
) -> ReportData:
    """Compute everything the report shows for a run folder, ``Run`` or run frame.

    ``kind`` is the measure the verdicts use (the learned measure by default: it sees what a
    person sees); ``kinds`` the measures in the consistency table and on the first screen
    beside it (by default the learned one and the hashes, which find near-duplicates).
    ``manifest`` adds to (or, for a bare frame, stands in for) the run's manifest. The verdicts
    are :func:`~imgkit.analysis.sweep.compare_all`'s: every pair of arms (pooled over the
    prompts when there are several, and on each prompt too with ``by_prompt``), their p-values
    corrected with ``correction`` ("holm", "bh" or "none") at ``alpha``. With ``plan`` each
    inconclusive comparison gets the planner's estimate of the repeats that would settle it.
    The images are measured once here (or read back from the run folder's kept features) and
    the values shared by every table. Raises :class:`ValidationError` for an unknown kind or
    correction, or a frame without ``arm`` and ``prompt``.
    """
    measure = parse_measure(kind)
    check_argument("correction", correction, CORRECTIONS)
    measures = parse_measures([measure, *parse_measures(kinds)])
    source = _load(run_or_path, manifest)
    redacted = _redact(source.manifest)
    frame = source.frame
    for column in ("arm", "prompt"):
        if column not in frame.columns:
            raise ValidationError("frame", f"columns {list(frame.columns)}", "arm and prompt")

    # Measure every usable image once and put the values back on the frame, so that the
    # consistency table, the verdicts and the divergence link do not each measure them again.
    hashed = usable_generations(frame, measures)
    frame = frame.copy()
    for m in measures:
        frame[m.name] = pd.Series([None] * len(frame), index=frame.index, dtype=object)
        frame.loc[hashed.index, m.name] = pd.Series(
            list(hashed[m.name]), index=hashed.index, dtype=object
        )

    table = consistency_table(frame, measures, n_boot=n_boot, seed=seed)
    sweep = compare_all(
        frame,
        measure,
        by_prompt=by_prompt,
        correction=correction,
        alpha=alpha,
        n_perm=n_perm,
        n_boot=n_boot,
        seed=seed,
    )
    plans = planner_lines(frame, sweep, seed=seed) if plan else [None] * len(sweep.comparisons)
    reference = measure_reference(hashed, measure) if len(hashed) else None

    divergence = divergence_table(frame)
    divergence["diff_html"] = [
        html_diff(p, r)
        for p, r in zip(divergence["prompt"], divergence["revised_prompt"], strict=True)
    ]
    image_vs_prompt = divergence_vs_distance(frame, measure)
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
        kind=measure.name,
        measure=measure,
        similarities=arm_similarities(frame, measures, n_boot=n_boot, seed=seed),
        consistency=table,
        comparisons=sweep.comparisons,
        sweep=sweep,
        plans=plans,
        reference=reference,
        divergence=divergence,
        variability=rewrite_variability(frame),
        image_vs_prompt=image_vs_prompt,
        costs=costs,
        projection=cost_projection_frame(costs, per_day, days),
        status_counts=status_counts,
        problems=problems,
        attempt_counts=attempt_counts,
        image_problems=_image_problems(frame),
        command=reproduce_command(redacted, source.path),
        settings={
            "kind": measure.name,
            "kinds": [m.name for m in measures],
            "n_boot": n_boot,
            "n_perm": n_perm,
            "seed": seed,
            "correction": correction,
            "alpha": alpha,
            "by_prompt": by_prompt,
            "confidence": table.attrs.get("confidence", 0.95),
            "near_duplicate": table.attrs.get("near_duplicate"),
            "days": days,
            "per_day": list(per_day),
            "imgkit": _version(),
        },
        batch=batch_summary(frame, source.manifest),
        quality=quality_summary(source.path, seed=seed, alpha=alpha, correction=correction),
    )


def _version() -> str:
    try:
        return metadata.version("imgkit")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "unknown"


def _image_problems(frame: pd.DataFrame) -> dict[str, int]:
    """How many ok generations have no usable image, by reason (see ``Run.to_frame``)."""
    if "image_problem" not in frame.columns:
        return {}
    ok = frame[frame["status"] == "ok"] if "status" in frame.columns else frame
    counts = ok["image_problem"].dropna().value_counts()
    return {str(reason): int(n) for reason, n in counts.items()}
