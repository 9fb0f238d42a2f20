"""Measuring a run against its checks (:class:`~imgkit.experiment.checks.Checks`): the gate a
CI job runs after a drill (``imgkit check RUN``).

DataFrame in, DataFrame out: :func:`check_table` takes a run frame (``Run.to_frame()``) and,
for the cost, optionally its attempts (``Run.attempts_frame()``, so that attempts billed without
an image count), and returns one row per check with the figure measured, its interval, the
threshold and the outcome. :func:`check_run` does the same for a run folder and says whether the
gate holds.

Each figure comes from the toolkit's own measures, so a better statistic there is a better gate
here with no change: the similarity is :func:`imgkit.analysis.consistency.consistency_table`'s
(one check per prompt, with its bootstrap interval), the rewrite is the normalised word edit
distance of :func:`imgkit.analysis.divergence.divergence_table` (its mean over the arm's
generations, with a bootstrap interval over generations, which are independent draws), the cost
per image is what the ledger says was spent over the images made (no interval: the money is
known), and the failure rate is a share of generations with its Wilson score interval (Wilson
1927; it stays inside [0, 1] and is sensible at 0 failures, where the normal approximation
collapses to a point).

Outcomes: *pass* when the whole interval is on the right side of the threshold, *fail* when it
is wholly on the wrong side, *inconclusive* when it straddles the threshold; ``leans`` then says
which side the figure itself is on. A figure that cannot be measured (no image made) fails.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from imgkit.analysis.consistency import consistency_table
from imgkit.analysis.divergence import divergence_table
from imgkit.analysis.means import mean_interval
from imgkit.errors import ValidationError, check_argument
from imgkit.experiment.checks import ALL_ARMS, Checks

__all__ = [
    "CHECK_COLUMNS",
    "MIN_IMAGES",
    "CheckResult",
    "check_names",
    "check_run",
    "check_table",
    "decide",
    "run_checks",
    "wilson_interval",
]

#: The columns of :func:`check_table`.
CHECK_COLUMNS = (
    "check",
    "arm",
    "prompt_id",
    "prompt",
    "n",
    "measured",
    "ci_low",
    "ci_high",
    "threshold",
    "outcome",
    "leans",
    "note",
)

#: Fewer images than this give a similarity no interval can be trusted for (one or three pairs).
MIN_IMAGES = 3

#: Statuses that count as a failure: no image, for whatever reason, once sent.
_FAILED = ("failed", "refused", "in_flight")


def wilson_interval(failures: int, total: int, confidence: float) -> tuple[float, float]:
    """The Wilson score interval of a proportion ``failures / total`` (NaN, NaN when total is 0)."""
    if total <= 0:
        return math.nan, math.nan
    from statistics import NormalDist

    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    share = failures / total
    denominator = 1 + z * z / total
    centre = (share + z * z / (2 * total)) / denominator
    half = z * math.sqrt(share * (1 - share) / total + z * z / (4 * total * total)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def decide(
    measured: float, low: float, high: float, threshold: float, at_least: bool
) -> tuple[str, str | None]:
    """(outcome, leans) of a figure against a threshold it must be at least (``at_least``) or
    at most. ``leans`` is set for an inconclusive outcome only."""
    if measured is None or not math.isfinite(measured):
        return "fail", None
    holds = measured >= threshold if at_least else measured <= threshold
    if not (math.isfinite(low) and math.isfinite(high)):
        return ("pass" if holds else "fail"), None
    clear = low >= threshold if at_least else high <= threshold
    broken = high < threshold if at_least else low > threshold
    if clear:
        return "pass", None
    if broken:
        return "fail", None
    return "inconclusive", "pass" if holds else "fail"


def _arms_for(name: str, thresholds: dict[str, float], arms: list[str]) -> list[tuple[str, float]]:
    """(arm, threshold) pairs: ``*`` expands to every arm; a named arm wins over ``*``."""
    pairs: dict[str, float] = {}
    if ALL_ARMS in thresholds:
        pairs.update(dict.fromkeys(arms, thresholds[ALL_ARMS]))
    for arm, value in thresholds.items():
        if arm != ALL_ARMS:
            check_argument(f"{name}: arm", arm, arms)
            pairs[arm] = value
    return list(pairs.items())


def _row(check: str, arm: str, threshold: float, **values: Any) -> dict[str, Any]:
    row = dict.fromkeys(CHECK_COLUMNS)
    row.update(check=check, arm=arm, threshold=threshold, ci_low=math.nan, ci_high=math.nan)
    row.update(values)
    at_least = check.startswith("min_")
    row["outcome"], row["leans"] = decide(
        row["measured"], row["ci_low"], row["ci_high"], threshold, at_least
    )
    return row


def check_table(
    frame: pd.DataFrame,
    checks: Checks,
    *,
    attempts: pd.DataFrame | None = None,
    n_boot: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per check of ``checks`` on the run frame ``frame``; see :data:`CHECK_COLUMNS`.

    A similarity check gives one row per prompt of the arm; the others one row per arm (the
    failure rate with arm ``*``: one row for the whole run). ``measured`` is the figure,
    ``ci_low``/``ci_high`` its interval at ``checks.confidence`` (NaN where the figure is exact),
    ``outcome`` "pass", "fail" or "inconclusive", ``leans`` the side an inconclusive figure is
    on. ``attempts`` (``Run.attempts_frame()``) lets the cost count attempts billed without an
    image. Raises :class:`ValidationError` for an arm the run does not have.
    """
    if not isinstance(checks, Checks):
        raise ValidationError("checks", type(checks).__name__, "a Checks object")
    for column in ("arm", "prompt", "status"):
        if column not in frame.columns:
            raise ValidationError("frame", f"columns {list(frame.columns)}", "a run frame")
    arms = list(dict.fromkeys(frame["arm"]))
    prompt_ids = {}
    if "prompt_id" in frame.columns:
        prompt_ids = dict(zip(frame["prompt"], frame["prompt_id"], strict=False))
    rows: list[dict[str, Any]] = []
    rows += _similarity_rows(frame, checks, arms, prompt_ids, n_boot, seed)
    rows += _rewrite_rows(frame, checks, arms, n_boot, seed)
    rows += _cost_rows(frame, checks, arms, attempts)
    rows += _failure_rows(frame, checks, arms)
    table = pd.DataFrame.from_records(rows, columns=list(CHECK_COLUMNS))
    table.attrs.update(
        kind=checks.kind, confidence=checks.confidence, inconclusive=checks.inconclusive
    )
    return table


def _similarity_rows(
    frame: pd.DataFrame,
    checks: Checks,
    arms: list[str],
    prompt_ids: dict[str, str],
    n_boot: int,
    seed: int,
) -> list[dict[str, Any]]:
    pairs = _arms_for("min_similarity", dict(checks.min_similarity), arms)
    if not pairs:
        return []
    wanted = frame[frame["arm"].isin([arm for arm, _ in pairs])]
    table = consistency_table(
        wanted, [checks.kind], n_boot=n_boot, seed=seed, confidence=checks.confidence
    )
    rows = []
    for arm, threshold in pairs:
        mine = table[table["arm"] == arm]
        if mine.empty:
            rows.append(
                _row(
                    "min_similarity",
                    arm,
                    threshold,
                    measured=math.nan,
                    n=0,
                    note="no image to measure",
                )
            )
            continue
        mine = mine.assign(order=mine["prompt"].map(lambda p: _prompt_order(prompt_ids, p)))
        for record in mine.sort_values("order", kind="stable").itertuples():
            row = _row(
                "min_similarity",
                arm,
                threshold,
                prompt=record.prompt,
                prompt_id=prompt_ids.get(record.prompt),
                n=int(record.n_images),
                measured=float(record.similarity),
                ci_low=float(record.ci_low),
                ci_high=float(record.ci_high),
                note=checks.kind,
            )
            if record.n_images < MIN_IMAGES and math.isfinite(row["measured"]):
                # Two images make one pair, and a bootstrap of one pair is a point: no interval
                # to trust, so the figure alone cannot pass or fail the gate.
                holds = row["measured"] >= threshold
                row.update(
                    ci_low=math.nan,
                    ci_high=math.nan,
                    outcome="inconclusive",
                    leans="pass" if holds else "fail",
                    note=f"{checks.kind}; {record.n_images} image(s): at least {MIN_IMAGES} "
                    "are needed for an interval",
                )
            rows.append(row)
    return rows


def _prompt_order(prompt_ids: dict[str, str], prompt: str) -> tuple[int, str]:
    # p0, p1, ... p10 in the order the run planned them, not as text sorts them.
    prompt_id = prompt_ids.get(prompt, "")
    return (int(prompt_id[1:]) if prompt_id[1:].isdigit() else 1 << 30, prompt)


def _rewrite_rows(
    frame: pd.DataFrame, checks: Checks, arms: list[str], n_boot: int, seed: int
) -> list[dict[str, Any]]:
    pairs = _arms_for("max_rewrite", dict(checks.max_rewrite), arms)
    if not pairs:
        return []
    rewrites = divergence_table(frame[frame["arm"].isin([arm for arm, _ in pairs])])
    rows = []
    for arm, threshold in pairs:
        made = int(((frame["arm"] == arm) & (frame["status"] == "ok")).sum())
        values = rewrites.loc[rewrites["arm"] == arm, "edit_distance"].astype(float).to_numpy()
        if made == 0:
            rows.append(
                _row("max_rewrite", arm, threshold, measured=math.nan, n=0, note="no image made")
            )
        elif values.size == 0:
            rows.append(
                _row(
                    "max_rewrite",
                    arm,
                    threshold,
                    measured=0.0,
                    n=made,
                    note="no revised prompt returned: drawn as written",
                )
            )
        else:
            low, high = mean_interval(values, n_boot, seed, checks.confidence)
            rows.append(
                _row(
                    "max_rewrite",
                    arm,
                    threshold,
                    measured=float(values.mean()),
                    ci_low=low,
                    ci_high=high,
                    n=int(values.size),
                    note="word edit distance, prompt to revised prompt",
                )
            )
    return rows


def _spent_by_arm(frame: pd.DataFrame, attempts: pd.DataFrame | None) -> pd.Series:
    """USD per arm, as the ledger counts it: an ok attempt's cost (its estimate when the service
    did not say), plus the estimate of each attempt that may have been billed without an image."""
    if attempts is not None and not attempts.empty:
        ok = attempts["status"] == "ok"
        cost = attempts["cost_usd"].astype(float).fillna(attempts["estimated_usd"].astype(float))
        billed = attempts["may_have_been_billed"].astype(bool) & ~ok
        spent = cost.where(ok, 0.0).fillna(0.0) + attempts["estimated_usd"].astype(float).where(
            billed, 0.0
        ).fillna(0.0)
        return spent.groupby(attempts["arm"]).sum()
    ok = frame["status"] == "ok"
    cost = frame["cost_usd"].astype(float).fillna(frame["estimated_usd"].astype(float))
    return cost.where(ok, 0.0).fillna(0.0).groupby(frame["arm"]).sum()


def _cost_rows(
    frame: pd.DataFrame, checks: Checks, arms: list[str], attempts: pd.DataFrame | None
) -> list[dict[str, Any]]:
    pairs = _arms_for("max_cost_per_image", dict(checks.max_cost_per_image), arms)
    if not pairs:
        return []
    spent = _spent_by_arm(frame, attempts)
    simulated = "simulated" in frame.columns and bool(
        frame["simulated"].fillna(False).astype(bool).any()
    )
    rows = []
    for arm, threshold in pairs:
        made = int(((frame["arm"] == arm) & (frame["status"] == "ok")).sum())
        total = float(spent.get(arm, 0.0))
        note = "USD spent / images made" + (" (simulated)" if simulated else "")
        rows.append(
            _row(
                "max_cost_per_image",
                arm,
                threshold,
                measured=total / made if made else math.nan,
                n=made,
                note=note if made else "no image made",
            )
        )
    return rows


def _failure_rows(frame: pd.DataFrame, checks: Checks, arms: list[str]) -> list[dict[str, Any]]:
    thresholds = dict(checks.max_failure_rate)
    rows = []
    scopes: list[tuple[str, float, pd.DataFrame]] = []
    if ALL_ARMS in thresholds:
        scopes.append((ALL_ARMS, thresholds[ALL_ARMS], frame))
    for arm, threshold in thresholds.items():
        if arm != ALL_ARMS:
            check_argument("max_failure_rate: arm", arm, arms)
            scopes.append((arm, threshold, frame[frame["arm"] == arm]))
    for arm, threshold, rows_of in scopes:
        sent = rows_of[rows_of["status"] != "pending"]
        failures = int(sent["status"].isin(_FAILED).sum())
        low, high = wilson_interval(failures, len(sent), checks.confidence)
        rows.append(
            _row(
                "max_failure_rate",
                arm,
                threshold,
                measured=failures / len(sent) if len(sent) else math.nan,
                ci_low=low,
                ci_high=high,
                n=len(sent),
                note=f"{failures} of {len(sent)} failed, refused or unanswered"
                if len(sent)
                else "nothing sent",
            )
        )
    return rows


@dataclass(frozen=True)
class CheckResult:
    """The checks of one run: the table of :func:`check_table`, and whether the gate holds."""

    run_id: str | None
    path: str | None
    table: pd.DataFrame
    inconclusive: str
    simulated: bool

    @property
    def failed(self) -> pd.DataFrame:
        """The rows that make the gate fail (inconclusive ones too when they count as fails)."""
        outcomes = ["fail", "inconclusive"] if self.inconclusive == "fail" else ["fail"]
        return self.table[self.table["outcome"].isin(outcomes)]

    @property
    def passed(self) -> bool:
        """Whether every check holds (an inconclusive one counts as ``inconclusive`` says)."""
        return self.failed.empty

    def counts(self) -> dict[str, int]:
        """How many checks passed, failed and were inconclusive."""
        return {
            o: int((self.table["outcome"] == o).sum()) for o in ("pass", "fail", "inconclusive")
        }

    def to_dict(self) -> dict[str, Any]:
        """The result as plain data (JSON output)."""
        records = self.table.astype(object).where(self.table.notna(), None)
        return {
            "run_id": self.run_id,
            "path": self.path,
            "passed": self.passed,
            "simulated": self.simulated,
            "inconclusive_counts_as": self.inconclusive,
            "counts": self.counts(),
            "checks": records.to_dict(orient="records"),
        }


def check_run(
    run_or_path: Any,
    checks: Checks | None = None,
    *,
    n_boot: int = 2000,
    seed: int = 0,
    **thresholds: Any,
) -> CheckResult:
    """Measure a run (a folder, a ``Run``) against ``checks``; return a :class:`CheckResult`.

    Without ``checks``, the thresholds given as keywords (``min_similarity={"dall-e-3": 0.8}``,
    ``max_failure_rate=0.02``, ``inconclusive="fail"``, ...; see
    :class:`~imgkit.experiment.checks.Checks`), else the ``[checks]`` of the run's own
    ``sweep.toml``. Raises :class:`ValidationError` when there is nothing to check or an arm
    is not in the run.
    """
    from imgkit.runs.folder import Run, open_run

    run = open_run(run_or_path) if isinstance(run_or_path, str | os.PathLike) else run_or_path
    if not isinstance(run, Run):
        raise ValidationError("run", type(run_or_path).__name__, "a run folder or a Run")
    if checks is None:
        checks = Checks(**thresholds) if thresholds else run_checks(run)
    elif thresholds:
        raise ValidationError("thresholds", sorted(thresholds), "none when checks are given")
    if checks is None or checks.is_empty():
        raise ValidationError(
            "checks",
            None,
            "at least one threshold (--min-similarity, --max-rewrite, --max-cost-per-image, "
            "--max-failure-rate), or a [checks] table in the run's sweep.toml",
        )
    frame = run.to_frame()
    table = check_table(frame, checks, attempts=run.attempts_frame(), n_boot=n_boot, seed=seed)
    return CheckResult(
        run_id=run.run_id,
        path=str(run.path),
        table=table,
        inconclusive=checks.inconclusive,
        simulated=bool(run.manifest.get("simulated")),
    )


def run_checks(run: Any) -> Checks | None:
    """The ``[checks]`` of a run folder's ``sweep.toml``, or None when it has none."""
    from imgkit.experiment.sweep import SWEEP_FILE_NAME, Sweep

    path = run.path / SWEEP_FILE_NAME
    if not path.is_file():
        return None
    # Only the checks are wanted: a live run's models may have been retired since.
    return Sweep.from_file(path, check_catalog=False).checks


def check_names(table: pd.DataFrame) -> Iterable[str]:
    """A one-line name per row: ``min_similarity dall-e-3 p0 >= 0.8``."""
    for row in table.itertuples():
        sign = ">=" if row.check.startswith("min_") else "<="
        where = f" {row.prompt_id or row.prompt}" if isinstance(row.prompt, str) else ""
        yield f"{row.check} {row.arm}{where} {sign} {row.threshold:g}"
