"""A run's ratings read back as frames, rankings, verdicts and agreement: :func:`rating_summary`.

:func:`ratings_frame` is the ``run.to_frame()`` of the ratings: one row per answer, people's
and a judge's, with the prompt each pair was about. :func:`rating_summary` puts the numbers of
:mod:`imgkit.ratings.ranking` and :mod:`imgkit.ratings.agreement` together for the people's
answers, the judge's, and how far the judge agrees with the people.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import pandas as pd

from imgkit.errors import ValidationError
from imgkit.ratings.agreement import krippendorff_alpha, rater_agreement
from imgkit.ratings.ranking import MIN_ANSWERS, answers_needed, preferences, ranking
from imgkit.ratings.store import CRITERIA, Answer, read_answers

__all__ = [
    "FRAME_COLUMNS",
    "RatingSummary",
    "judge_agreement",
    "rating_summary",
    "ratings_frame",
    "settle_estimate",
    "settle_text",
]

FRAME_COLUMNS = (
    "answer_id",
    "rater",
    "source",
    "judge",
    "simulated",
    "criterion",
    "choice",
    "winner",
    "prompt_id",
    "prompt",
    "left",
    "right",
    "left_arm",
    "right_arm",
    "pair_id",
    "seconds",
    "answered_at",
)


def _prompts(run_folder: Path) -> dict[str, str]:
    """``{prompt id: prompt as written}`` from the run's ledger (empty when unreadable)."""
    try:
        from imgkit.runs.folder import open_run

        frame = open_run(run_folder).to_frame()
    except Exception:  # a copy holding only its ratings folder still merges and ranks
        return {}
    return {str(i): str(p) for i, p in zip(frame["prompt_id"], frame["prompt"], strict=True)}


def ratings_frame(
    run_folder: Any = None,
    *,
    answers: list[Answer] | None = None,
    source: str | None = None,
) -> pd.DataFrame:
    """One row per answer kept in ``run_folder`` (a folder or a ``Run``; or per answer of
    ``answers``), oldest first,
    with the columns of :data:`FRAME_COLUMNS`; ``source`` "person" or "judge" keeps those."""
    if run_folder is not None:
        run_folder = Path(getattr(run_folder, "path", run_folder))  # a Run or its folder
    if answers is None:
        if run_folder is None:
            raise TypeError("ratings_frame needs a run folder or answers")
        answers = read_answers(run_folder, source=source)
    elif source is not None:
        answers = [a for a in answers if a.source == source]
    prompts = _prompts(Path(run_folder)) if run_folder is not None else {}
    rows = [
        {
            "answer_id": a.answer_id,
            "rater": a.rater,
            "source": a.source,
            "judge": a.extra.get("judge"),
            "simulated": bool(a.extra.get("simulated", False)),
            "criterion": a.criterion,
            "choice": a.choice,
            "winner": a.winner,
            "prompt_id": a.prompt_id,
            "prompt": prompts.get(a.prompt_id),
            "left": a.left,
            "right": a.right,
            "left_arm": a.left_arm,
            "right_arm": a.right_arm,
            "pair_id": a.pair_id,
            "seconds": a.seconds,
            "answered_at": pd.Timestamp(a.answered_at, unit="s", tz="UTC"),
        }
        for a in answers
    ]
    return pd.DataFrame(rows, columns=list(FRAME_COLUMNS))


def settle_estimate(table: pd.DataFrame, rank: pd.DataFrame, min_answers: int = MIN_ANSWERS):
    """How many more answers would likely settle the ranking: for each criterion, the arms
    next to each other in its ranking (over all prompts) need their direct share's interval
    clear of 50% (or :data:`MIN_ANSWERS` answers before that can be judged); the criteria are
    asked of the same pairs, so the answer is the largest criterion's sum. None when some pair
    looks too close to settle with a practical number of answers."""
    if not len(rank):
        return min_answers
    worst = 0
    for criterion in CRITERIA:
        order = rank[(rank["criterion"] == criterion) & rank["prompt_id"].isna()]
        arms = list(order.sort_values("rank")["arm"])
        total = 0
        for a, b in pairwise(arms):
            row = table[
                (table["criterion"] == criterion)
                & (
                    ((table["arm_a"] == a) & (table["arm_b"] == b))
                    | ((table["arm_a"] == b) & (table["arm_b"] == a))
                )
            ]
            if not len(row):
                total += min_answers
                continue
            row = row.iloc[0]
            if row["preferred"] is not None and not pd.isna(row["preferred"]):
                continue
            if row["answers"] < min_answers:
                total += min_answers - int(row["answers"])
                continue
            more = answers_needed(float(row["share_a"]), int(row["answers"]))
            if more is None:
                return None
            total += max(more, 1)
        worst = max(worst, total)
    return worst


def settle_text(more: int | None) -> str:
    """The sentence a panel shows for :func:`settle_estimate`."""
    if more is None:
        return "Some arms look too close to rank apart with a practical number of answers."
    if more == 0:
        return "The ranking is settled on every question; more answers still sharpen it."
    return f"About {more} more answer{'s' if more != 1 else ''} would likely settle the ranking."


def judge_agreement(frame: pd.DataFrame) -> pd.DataFrame:
    """How often the judge prefers what the people prefer, per criterion and overall.

    A unit is a question about a pair of images that both the judge and at least one person
    answered; the people's value is their most common answer (the image, or a tie), the
    judge's its answer over both orders (a tie when the two orders disagree). Rows:
    ``criterion`` ("all" for every criterion pooled), ``units``, ``agrees`` (share equal) and
    ``alpha`` (Krippendorff's, judge and people as two coders).
    """

    def unit_values(rows: pd.DataFrame) -> dict[tuple, list[str]]:
        found: dict[tuple, list[str]] = {}
        for row in rows[rows["choice"] != "skip"].itertuples(index=False):
            first, second = sorted((row.left, row.right))
            value = {"left": row.left, "right": row.right}.get(row.choice, "tie")
            found.setdefault((row.criterion, first, second), []).append(value)
        return found

    def mode(values: list[str]) -> str:
        counts = Counter(values).most_common()
        best = counts[0][1]
        tied = sorted(v for v, c in counts if c == best)
        return tied[0] if len(tied) == 1 else "tie"

    people = unit_values(frame[frame["source"] == "person"])
    judge = unit_values(frame[frame["source"] == "judge"])
    shared = {k: [mode(judge[k]), mode(people[k])] for k in judge if k in people}
    rows = []
    for criterion in (*CRITERIA, "all"):
        units = {k: v for k, v in shared.items() if criterion in ("all", k[0])}
        rows.append(
            {
                "criterion": criterion,
                "units": len(units),
                "agrees": (
                    sum(a == b for a, b in units.values()) / len(units) if units else math.nan
                ),
                "alpha": krippendorff_alpha(units) if units else math.nan,
            }
        )
    return pd.DataFrame(rows, columns=["criterion", "units", "agrees", "alpha"])


@dataclass
class RatingSummary:
    """What a run's ratings say (:func:`rating_summary`).

    ``frame``: every answer (:func:`ratings_frame`). ``ranking``/``preferences``: the people's
    Bradley-Terry rankings and pairwise verdicts; ``judge_ranking``/``judge_preferences`` the
    judge's; ``alpha`` and ``raters`` the people's agreement (:func:`rater_agreement`);
    ``judge_agreement`` how far the judge agrees with them; ``more_answers`` how many more
    people's answers would likely settle the ranking (None: too close to settle).
    """

    frame: pd.DataFrame
    ranking: pd.DataFrame
    preferences: pd.DataFrame
    alpha: float
    raters: pd.DataFrame
    judge_ranking: pd.DataFrame
    judge_preferences: pd.DataFrame
    judge_agreement: pd.DataFrame
    more_answers: int | None
    judges: list[str] = field(default_factory=list)
    #: the judge whose answers ``judge_*`` hold (None: no judge)
    judge: str | None = None
    judge_simulated: bool = False
    #: the judge's per-image checks (:func:`imgkit.ratings.judge.judge_checks`), when read
    checks: pd.DataFrame | None = None

    @property
    def people_answers(self) -> int:
        return int(((self.frame["source"] == "person") & (self.frame["choice"] != "skip")).sum())

    @property
    def people_skipped(self) -> int:
        return int(((self.frame["source"] == "person") & (self.frame["choice"] == "skip")).sum())

    @property
    def judge_answers(self) -> int:
        """The answers of :attr:`judge` (not skipped)."""
        rows = self.frame[(self.frame["source"] == "judge") & (self.frame["choice"] != "skip")]
        return int((rows["judge"] == self.judge).sum())

    @property
    def verdicts(self) -> list[str]:
        return list(self.preferences["verdict"])

    def to_dict(self) -> dict[str, Any]:
        def records(table: pd.DataFrame) -> list[dict[str, Any]]:
            # pandas' own JSON: NaN as null, numpy numbers as numbers, times in ISO 8601
            return json.loads(table.to_json(orient="records", date_format="iso"))

        return {
            "people_answers": self.people_answers,
            "people_skipped": self.people_skipped,
            "judge_answers": self.judge_answers,
            "raters": records(self.raters),
            "alpha": None if math.isnan(self.alpha) else float(self.alpha),
            "ranking": records(self.ranking),
            "preferences": records(self.preferences),
            "more_answers": self.more_answers,
            "judges": list(self.judges),
            "judge": self.judge,
            "judge_simulated": self.judge_simulated,
            "judge_ranking": records(self.judge_ranking),
            "judge_preferences": records(self.judge_preferences),
            "judge_agreement": records(self.judge_agreement),
        }


def rating_summary(
    run_folder: str | os.PathLike[str] | None = None,
    *,
    frame: pd.DataFrame | None = None,
    alpha: float = 0.05,
    correction: str = "holm",
    min_answers: int = MIN_ANSWERS,
    n_boot: int = 1000,
    seed: int = 0,
    judge: str | None = None,
) -> RatingSummary:
    """Everything the ratings of ``run_folder`` (or a :func:`ratings_frame`) say.

    ``judge``: which judge model's answers to rank and hold against the people's when several
    judged the run (None: the one with the most answers; :attr:`RatingSummary.judges` lists
    them all). Raises :class:`ValidationError` for a judge that did not judge this run.
    """
    if frame is None:
        frame = ratings_frame(run_folder)
    people = frame[frame["source"] == "person"]
    judged = frame[frame["source"] == "judge"]
    judges = sorted({str(j) for j in judged["judge"].dropna()})
    if judge is None and judges:
        judge = judged["judge"].value_counts().sort_index().idxmax()
    if judge is not None:
        if judge not in judges:
            raise ValidationError("judge", judge, judges or ["(no judge has judged this run)"])
        judged = judged[judged["judge"] == judge]
        frame_for_agreement = pd.concat([people, judged])
    else:
        frame_for_agreement = frame
    options = {"n_boot": n_boot, "seed": seed}
    rank = ranking(people, min_answers=min_answers, **options)
    table = preferences(people, alpha=alpha, correction=correction, min_answers=min_answers)
    overall, raters = rater_agreement(people)
    return RatingSummary(
        frame=frame,
        ranking=rank,
        preferences=table,
        alpha=overall,
        raters=raters,
        judge_ranking=ranking(judged, per_prompt=False, **options),
        judge_preferences=preferences(
            judged,
            alpha=alpha,
            correction=correction,
            min_answers=min_answers,
            who="the judge",
        ),
        judge_agreement=judge_agreement(frame_for_agreement),
        more_answers=settle_estimate(table, rank, min_answers),
        judges=judges,
        judge=judge,
        judge_simulated=bool(judged["simulated"].any()) if len(judged) else False,
    )
