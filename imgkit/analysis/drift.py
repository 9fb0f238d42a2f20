"""Drift: the same arm and prompt measured in runs made at different times.

A team that wired a model into its product wants to know when the model changes under it: a
vendor update that makes its images less alike from one request to the next, or its rewrites
heavier. Two runs of the same sweep made a month apart answer that, provided like is compared
with like. So generations are matched by the *identity* of what was asked, never by an arm's
name:

- the arm: model, the model's snapshot as the run's catalog recorded it, endpoint, every request
  parameter as sent (size, quality, style, seed, ...), and the prompt transform (AS-IS prefix,
  prefix, suffix, template);
- the prompt: its text.

Two arms named alike but asking for different things are different arms, and two arms named
differently but asking the same are one. Runs that share nothing are told so in plain words,
with the nearest arm and what differs (:func:`explain_unmatched`).

For each arm, each later run is compared with the reference run (the first; or each with the
one before, ``reference="previous"``) over the prompts both have:

- consistency: :func:`imgkit.analysis.consistency.compare_arms` with the two runs as its two
  arms, so its similarity intervals, its permutation test and its rule for calling a difference
  (enough images, ``p < alpha``) are the toolkit's own, and improvements there reach drift with
  no change here; ``consistency_changed`` is that call;
- rewriting: the mean normalised word edit distance from prompt to ``revised_prompt``
  (:func:`imgkit.analysis.divergence.divergence_table`) in each run, and the change with a
  bootstrap interval (:func:`imgkit.analysis.means.difference_interval`); ``rewrite_changed``
  when that interval excludes 0.

The p-values are per comparison, not adjusted for the number of arms compared.

DataFrame in, DataFrame out: :func:`drift_frame` reads runs into one frame with the identity
columns, :func:`drift_table` measures it; :func:`drift` does both and returns a
:class:`DriftResult`. The plots are in :mod:`imgkit.report.drift_plots`.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from imgkit.analysis.consistency import compare_arms, usable_generations
from imgkit.analysis.divergence import divergence_table
from imgkit.analysis.means import difference_interval, mean_interval
from imgkit.analysis.measures import DEFAULT_MEASURE, Measure, parse_measure
from imgkit.errors import ValidationError, check_argument

__all__ = [
    "DRIFT_COLUMNS",
    "DriftResult",
    "arm_identity",
    "drift",
    "drift_frame",
    "drift_table",
    "explain_unmatched",
]

#: The columns of :func:`drift_table`.
DRIFT_COLUMNS = (
    "arm",
    "arm_key",
    "prompt",
    "run_id",
    "created_at",
    "reference_run",
    "is_reference",
    "n_prompts",
    "n_images",
    "similarity",
    "ci_low",
    "ci_high",
    "similarity_change",
    "p_value",
    "consistency_changed",
    "rewrite_n",
    "rewrite",
    "rewrite_low",
    "rewrite_high",
    "rewrite_change",
    "rewrite_change_low",
    "rewrite_change_high",
    "rewrite_changed",
    "verdict",
)

# Request fields that are not the arm's parameters: what is asked, and of whom.
_NOT_PARAMS = ("model", "prompt", "endpoint", "n")
_REFERENCES = ("first", "previous")


# --------------------------------------------------------------------------------------------
# Reading runs


def arm_identity(
    model: str,
    endpoint: str,
    request: Mapping[str, Any],
    arm: Mapping[str, Any] | None = None,
    snapshot: str | None = None,
) -> dict[str, Any]:
    """What makes two arms the same arm: model, snapshot, endpoint, the request's parameters
    as sent (None ones left out), and the prompt variant and transform of the arm (its
    manifest entry, ``arm``)."""
    params = {k: v for k, v in sorted(request.items()) if k not in _NOT_PARAMS and v is not None}
    arm = arm or {}
    return {
        "model": model,
        "snapshot": snapshot,
        "endpoint": endpoint,
        "params": params,
        "variant": arm.get("prompt_variant"),
        "transform": arm.get("prompt_transform") or None,
    }


def _key(identity: Mapping[str, Any]) -> str:
    # The snapshot is left out of the key and compared on its own (see _split_by_snapshot):
    # a run that did not record it still matches, and a changed one is named, not hidden.
    without = {k: v for k, v in identity.items() if k != "snapshot"}
    return json.dumps(without, sort_keys=True, default=str)


def drift_frame(runs: Iterable[Any]) -> pd.DataFrame:
    """The run frames of ``runs`` (folders or ``Run`` objects) in one frame, oldest run first.

    ``Run.to_frame()``'s columns plus ``created_at`` (the run's start, UTC), ``arm_key`` (a
    JSON text of :func:`arm_identity` without the snapshot), ``snapshot`` and ``identity``
    (the dict). ``run_id`` is the run's id, or, for runs given that share one, their folder's
    name (:func:`imgkit.runs.folder.distinct_names`). :class:`ValidationError` for fewer than
    two runs or one given twice.
    """
    from imgkit.runs.folder import Run, distinct_names, open_run
    from imgkit.runs.ledger import Ledger

    opened = [open_run(r) if isinstance(r, str | os.PathLike) else r for r in runs]
    for run in opened:
        if not isinstance(run, Run):
            raise ValidationError("runs", type(run).__name__, "run folders or Run objects")
    if len(opened) < 2:
        raise ValidationError("runs", [str(r.path) for r in opened], "at least two runs")
    seen: set[str] = set()
    frames = []
    labels = distinct_names(opened)
    for run, label in zip(opened, labels, strict=True):
        if str(run.path) in seen:
            raise ValidationError("runs", str(run.path), "each run once")
        seen.add(str(run.path))
        manifest = run.manifest
        arms = {
            a.get("name"): a
            for a in (manifest.get("parameters") or {}).get("arms", [])
            if isinstance(a, Mapping)
        }
        snapshots = (manifest.get("catalog") or {}).get("snapshots") or {}
        with Ledger.open(run.path) as ledger:
            requests: dict[str, tuple[str, str, Mapping[str, Any]]] = {}
            for gen in ledger.plan(strict=False):
                requests.setdefault(gen.arm, (gen.model, gen.endpoint, gen.request))
        identities = {
            name: arm_identity(model, endpoint, request, arms.get(name), snapshots.get(model))
            for name, (model, endpoint, request) in requests.items()
        }
        frame = run.to_frame()
        frame["run_id"] = label
        frame["created_at"] = pd.Timestamp(manifest.get("created_at"))
        frame["identity"] = frame["arm"].map(identities)
        frame["arm_key"] = frame["identity"].map(_key)
        frame["snapshot"] = frame["identity"].map(lambda i: i["snapshot"])
        frames.append(frame)
    joined = pd.concat(frames, ignore_index=True)
    order = joined.groupby("run_id", sort=False)["created_at"].first().sort_values(kind="stable")
    joined["run_id"] = pd.Categorical(joined["run_id"], categories=list(order.index), ordered=True)
    joined = joined.sort_values("run_id", kind="stable").reset_index(drop=True)
    joined["run_id"] = joined["run_id"].astype(str)
    joined.attrs["paths"] = dict(zip(labels, (str(run.path) for run in opened), strict=True))
    return joined


# --------------------------------------------------------------------------------------------
# Matching


def _runs_in_order(frame: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(frame["run_id"]))


def _split_by_snapshot(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Give arms whose recorded snapshot changed between runs a key per snapshot (they are not
    the same arm any more), and say so."""
    notes = []
    frame = frame.copy()
    for key, group in frame.groupby("arm_key", sort=False):
        known = [s for s in dict.fromkeys(group["snapshot"]) if isinstance(s, str)]
        if len(known) > 1:
            model = group["model"].iloc[0]
            notes.append(
                f"{model}: the snapshot changed ({' -> '.join(known)}), so its runs are not "
                "compared as one arm"
            )
            has = group["snapshot"].map(lambda s: isinstance(s, str))
            frame.loc[group.index[has], "arm_key"] = key + "|" + group.loc[has, "snapshot"]
    return frame, notes


def _describe_difference(a: Mapping[str, Any], b: Mapping[str, Any]) -> str:
    parts = []
    for field in ("endpoint", "variant", "transform", "snapshot"):
        if field == "snapshot" and (a.get(field) is None or b.get(field) is None):
            continue  # not recorded by the older run: unknown, not different
        if a.get(field) != b.get(field):
            parts.append(f"{field} ({a.get(field)!r} vs {b.get(field)!r})")
    params_a, params_b = a.get("params", {}), b.get("params", {})
    for name in sorted(set(params_a) | set(params_b)):
        if params_a.get(name) != params_b.get(name):
            parts.append(f"{name} ({params_a.get(name)!r} vs {params_b.get(name)!r})")
    return ", ".join(parts) or "nothing recorded"


def explain_unmatched(frame: pd.DataFrame) -> list[str]:
    """Plain sentences for what a :func:`drift_frame` cannot compare: runs that share no arm at
    all, each arm found in one run only (with the nearest arm of another run, same model, and
    what differs), and shared arms without a prompt in common."""
    frame, notes = _split_by_snapshot(frame)
    runs = _runs_in_order(frame)
    by_key = frame.groupby("arm_key", sort=False)["run_id"].agg(lambda r: list(dict.fromkeys(r)))
    shared = {k for k, r in by_key.items() if len(r) > 1}
    arms = frame.drop_duplicates(["run_id", "arm_key"])
    sentences = []
    if not shared:
        sentences.append(
            f"Runs {', '.join(runs)} share no arm: arms are matched by model, snapshot, "
            "endpoint, request parameters and prompt transform, and none is the same in two "
            "of them."
        )
    for key, present in by_key.items():
        if key in shared:
            rows = frame[(frame["arm_key"] == key) & (frame["status"] == "ok")]
            prompt_sets = [set(rows.loc[rows["run_id"] == r, "prompt"]) for r in present]
            if not set.intersection(*prompt_sets):
                name = rows["arm"].iloc[-1] if len(rows) else key
                sentences.append(f"{name}: no prompt with images in common between its runs.")
            continue
        row = arms[arms["arm_key"] == key].iloc[0]
        near = arms[(arms["model"] == row["model"]) & (arms["run_id"] != row["run_id"])]
        if near.empty:
            sentences.append(
                f"{row['arm']} is only in {row['run_id']}, and no other run has a "
                f"{row['model']} arm."
            )
        else:
            other = near.iloc[0]
            sentences.append(
                f"{row['arm']} is only in {row['run_id']}; the nearest arm is {other['arm']} in "
                f"{other['run_id']}, and they differ in "
                f"{_describe_difference(row['identity'], other['identity'])}."
            )
    return notes + sentences


# --------------------------------------------------------------------------------------------
# Measuring


def _fmt(value: float, low: float, high: float) -> str:
    if not math.isfinite(value):
        return "n/a"
    if math.isfinite(low) and math.isfinite(high):
        return f"{value:.2f} [{low:.2f}, {high:.2f}]"
    return f"{value:.2f}"


def _p_text(p: float) -> str:
    if not math.isfinite(p):
        return "p not computed"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def drift_table(
    frame: pd.DataFrame,
    kind: Measure | str = DEFAULT_MEASURE,
    *,
    reference: str = "first",
    by_prompt: bool = False,
    alpha: float = 0.05,
    n_boot: int = 2000,
    n_perm: int = 10_000,
    seed: int = 0,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Measure each arm shared by the runs of a :func:`drift_frame`; see :data:`DRIFT_COLUMNS`.

    One row per arm and run (per arm, prompt and run with ``by_prompt=True``): its similarity
    on the measure ``kind`` (learned by default) with interval, its mean rewrite with interval,
    and for every run but the reference the change from the reference with a p-value
    (consistency) or an interval (rewrite), whether each counts as changed, and a verdict in
    plain words. The reference is
    the arm's first run (``reference="first"``) or the run before (``"previous"``). The
    comparisons run over the prompts both runs have images for. ``frame.attrs`` holds
    ``unmatched`` (the sentences of :func:`explain_unmatched`), ``kind`` and ``runs``.
    """
    kind = parse_measure(kind)
    check_argument("reference", reference, _REFERENCES)
    for column in ("run_id", "arm_key", "arm", "prompt", "status"):
        if column not in frame.columns:
            raise ValidationError("frame", f"columns {list(frame.columns)}", "a drift_frame")
    unmatched = explain_unmatched(frame)
    frame, _notes = _split_by_snapshot(frame)
    runs = _runs_in_order(frame)
    hashed = usable_generations(frame, (kind,))
    rewrites = divergence_table(frame)
    rewrites["arm_key"] = frame.loc[rewrites.index, "arm_key"]
    records: list[dict[str, Any]] = []
    for key, group in frame.groupby("arm_key", sort=False):
        present = [r for r in runs if r in set(group["run_id"])]
        if len(present) < 2:
            continue
        name = str(group.loc[group["run_id"] == present[-1], "arm"].iloc[0])
        mine = hashed[hashed["arm_key"] == key]
        prompts = [None] if not by_prompt else sorted(set(mine["prompt"]))
        for prompt in prompts:
            records += _arm_records(
                name,
                str(key),
                prompt,
                present,
                group,
                mine,
                rewrites[rewrites["arm_key"] == key],
                kind=kind,
                reference=reference,
                alpha=alpha,
                n_boot=n_boot,
                n_perm=n_perm,
                seed=seed,
                confidence=confidence,
            )
    table = pd.DataFrame.from_records(records, columns=list(DRIFT_COLUMNS))
    simulated = "simulated" in frame.columns and bool(
        frame["simulated"].fillna(False).astype(bool).any()
    )
    table.attrs.update(
        unmatched=unmatched, kind=kind.name, runs=runs, reference=reference, simulated=simulated
    )
    return table


def _arm_records(
    name: str,
    key: str,
    prompt: str | None,
    present: Sequence[str],
    group: pd.DataFrame,
    hashed: pd.DataFrame,
    rewrites: pd.DataFrame,
    **options: Any,
) -> list[dict[str, Any]]:
    created = group.groupby("run_id")["created_at"].first()
    if prompt is not None:
        hashed = hashed[hashed["prompt"] == prompt]
        rewrites = rewrites[rewrites["prompt"] == prompt]
    labelled = hashed.assign(arm=hashed["run_id"])
    records = []
    first = present[0]
    for position, run in enumerate(present):
        base = first if options["reference"] == "first" else present[max(position - 1, 0)]
        record = dict.fromkeys(DRIFT_COLUMNS)
        record.update(
            arm=name,
            arm_key=key,
            prompt=prompt,
            run_id=run,
            created_at=created.get(run),
            reference_run=base,
            is_reference=run == base,
        )
        records.append(record)
        if run == base:
            continue
        _measure_pair(record, labelled, rewrites, base, run, **options)
    # The reference's own figures: from its first comparison, over the same prompts.
    for record in records:
        if record["is_reference"]:
            later = next(
                (
                    r
                    for r in records
                    if r["reference_run"] == record["run_id"]
                    and not r["is_reference"]
                    and r.get("_ref_similarity") is not None
                ),
                None,
            )
            if later is not None:
                for column in ("similarity", "ci_low", "ci_high", "n_images", "n_prompts"):
                    record[column] = later.get(f"_ref_{column}")
                for column in ("rewrite_n", "rewrite", "rewrite_low", "rewrite_high"):
                    record[column] = later.get(f"_ref_{column}")
    for record in records:
        for column in list(record):
            if column.startswith("_ref_"):
                del record[column]
    return records


def _measure_pair(
    record: dict[str, Any],
    labelled: pd.DataFrame,
    rewrites: pd.DataFrame,
    base: str,
    run: str,
    *,
    kind: Measure,
    reference: str,
    alpha: float,
    n_boot: int,
    n_perm: int,
    seed: int,
    confidence: float,
) -> None:
    """Fill ``record`` (the later run) with both runs' figures and the change between them;
    the reference's figures go into ``_ref_*`` keys for its own row."""
    pair = labelled[labelled["arm"].isin([base, run])]
    counts = pair.groupby(["prompt", "arm"]).size().unstack(fill_value=0)
    usable = [p for p in counts.index if all(counts.loc[p].get(r, 0) >= 2 for r in (base, run))]
    if usable and base in set(pair["arm"]) and run in set(pair["arm"]):
        comparison = compare_arms(
            pair[pair["prompt"].isin(usable)],
            base,
            run,
            kind=kind,
            n_perm=n_perm,
            seed=seed,
            n_boot=n_boot,
            alpha=alpha,
            confidence=confidence,
        )
        changed = comparison.more_consistent is not None
        record.update(
            n_prompts=comparison.n_prompts,
            n_images=comparison.n_b,
            similarity=comparison.similarity_b,
            ci_low=comparison.ci_b[0],
            ci_high=comparison.ci_b[1],
            similarity_change=comparison.similarity_b - comparison.similarity_a,
            p_value=comparison.p_value,
            consistency_changed=changed,
            _ref_n_prompts=comparison.n_prompts,
            _ref_n_images=comparison.n_a,
            _ref_similarity=comparison.similarity_a,
            _ref_ci_low=comparison.ci_a[0],
            _ref_ci_high=comparison.ci_a[1],
        )
        before = _fmt(comparison.similarity_a, *comparison.ci_a)
        after = _fmt(comparison.similarity_b, *comparison.ci_b)
        figures = f"{kind.title} similarity {before} in {base}, {after} in {run}"
        if changed:
            direction = "rose" if comparison.statistic < 0 else "fell"
            consistency = (
                f"consistency {direction}: {figures}, {_p_text(comparison.p_value)} (changed)"
            )
        elif min(comparison.n_a, comparison.n_b) < 3:
            consistency = f"too few images to tell whether consistency changed ({figures})"
        else:
            consistency = (
                f"no clear change in consistency: {figures}, {_p_text(comparison.p_value)}"
            )
    else:
        record.update(n_prompts=0, n_images=0, consistency_changed=False)
        consistency = (
            f"no prompt with two images in both {base} and {run}: consistency not compared"
        )

    values_base = rewrites.loc[rewrites["run_id"] == base, "edit_distance"].astype(float)
    values_run = rewrites.loc[rewrites["run_id"] == run, "edit_distance"].astype(float)
    options = {"n_boot": n_boot, "seed": seed, "confidence": confidence}
    for prefix, values in (("_ref_", values_base), ("", values_run)):
        low, high = mean_interval(values.to_numpy(), **options)
        record[f"{prefix}rewrite_n"] = len(values)
        record[f"{prefix}rewrite"] = float(values.mean()) if len(values) else math.nan
        record[f"{prefix}rewrite_low"], record[f"{prefix}rewrite_high"] = low, high
    if len(values_base) and len(values_run):
        change, low, high = difference_interval(
            values_base.to_numpy(), values_run.to_numpy(), **options
        )
        changed_rewrite = bool(low > 0 or high < 0)
        record.update(
            rewrite_change=change,
            rewrite_change_low=low,
            rewrite_change_high=high,
            rewrite_changed=changed_rewrite,
        )
        rewrite = (
            f"rewrite {'changed' if changed_rewrite else 'unchanged'}: "
            f"{values_base.mean():.2f} -> {values_run.mean():.2f} "
            f"(change {change:+.2f} [{low:+.2f}, {high:+.2f}])"
        )
    elif len(values_base) or len(values_run):
        record["rewrite_changed"] = True
        rewrite = (
            f"revised prompts only in {base if len(values_base) else run}: the rewriting "
            "appeared or disappeared"
        )
    else:
        record["rewrite_changed"] = False
        rewrite = "no revised prompt in either run"
    record["verdict"] = f"{consistency}; {rewrite}."


# --------------------------------------------------------------------------------------------
# The whole comparison


@dataclass(frozen=True)
class DriftResult:
    """What :func:`drift` found: the :func:`drift_table`, the frame it measured, and the
    sentences about what could not be compared."""

    table: pd.DataFrame
    frame: pd.DataFrame
    unmatched: list[str]

    @property
    def runs(self) -> list[str]:
        """The runs compared, oldest first."""
        return list(self.table.attrs.get("runs") or _runs_in_order(self.frame))

    @property
    def changed(self) -> pd.DataFrame:
        """The rows where consistency or rewriting changed from the reference."""
        flags = self.table["consistency_changed"].fillna(False).astype(bool) | self.table[
            "rewrite_changed"
        ].fillna(False).astype(bool)
        return self.table[flags & ~self.table["is_reference"].astype(bool)]

    def summary(self) -> list[str]:
        """The comparison in plain sentences, one per arm and later run, then the unmatched."""
        lines = []
        for row in self.table.itertuples():
            if row.is_reference:
                continue
            where = f" on {row.prompt!r}" if isinstance(row.prompt, str) else ""
            lines.append(f"{row.arm}{where}, {row.reference_run} -> {row.run_id}: {row.verdict}")
        return lines + list(self.unmatched)

    def to_dict(self) -> dict[str, Any]:
        """The result as plain data (JSON output)."""
        table = self.table.drop(columns=["arm_key"]).astype(object)
        records = table.where(table.notna(), None).to_dict(orient="records")
        return {
            "runs": self.runs,
            "kind": self.table.attrs.get("kind"),
            "reference": self.table.attrs.get("reference"),
            "simulated": bool(self.frame["simulated"].fillna(False).astype(bool).any()),
            "changed": len(self.changed),
            "comparisons": records,
            "unmatched": self.unmatched,
        }


def drift(
    runs: Iterable[Any],
    kind: Measure | str = DEFAULT_MEASURE,
    *,
    reference: str = "first",
    by_prompt: bool = False,
    alpha: float = 0.05,
    n_boot: int = 2000,
    n_perm: int = 10_000,
    seed: int = 0,
) -> DriftResult:
    """Compare the same arms and prompts across ``runs`` (folders or ``Run`` objects, any
    order: they are sorted by start time); return a :class:`DriftResult`.

    See the module docstring for how arms are matched and what is measured, and
    :func:`drift_table` for the arguments. Raises :class:`ValidationError` for fewer than two
    runs, an unknown kind or reference.
    """
    frame = drift_frame(runs)
    table = drift_table(
        frame,
        kind,
        reference=reference,
        by_prompt=by_prompt,
        alpha=alpha,
        n_boot=n_boot,
        n_perm=n_perm,
        seed=seed,
    )
    return DriftResult(table=table, frame=frame, unmatched=list(table.attrs["unmatched"]))
