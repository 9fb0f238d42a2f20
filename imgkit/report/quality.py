"""The report's Quality section: what people's blind ratings and a judge say, as text.

:func:`quality_summary` reads a run folder's ratings (:mod:`imgkit.ratings`) when it has any;
:func:`quality_content` turns them into the sentences and tables the templates show: the
people's verdicts and Bradley-Terry ranking with intervals, how far raters agree, how many
more answers would settle it, and beside it the judge's ranking and how often the judge agrees
with the people (so nobody has to take the judge on trust). Text only, nothing escaped here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from imgkit.report.table_rows import Table

__all__ = ["QualityContent", "quality_content", "quality_summary"]

RANKING_HEAD = ["question", "rank", "arm", "score [95% CI]", "rank range", "answers (W-T-L)"]
RATERS_HEAD = ["rater", "questions answered", "shared with others", "agrees with the rest", "alpha"]
AGREEMENT_HEAD = ["question", "pairs both rated", "judge agrees", "alpha"]
CHECKS_HEAD = ["arm", "images checked", "named objects and attributes shown", "missing most often"]
QUESTION = {"prompt": "follows the prompt", "craft": "better made", "use": "would use"}


def quality_summary(
    path: Path | None, *, seed: int = 0, alpha: float = 0.05, correction: str = "holm"
) -> Any:
    """The :class:`~imgkit.ratings.summary.RatingSummary` of the run folder's ratings, or None
    when it has none (or there is no folder)."""
    if path is None or not (Path(path) / "ratings").is_dir():
        return None
    from imgkit.ratings.summary import rating_summary

    summary = rating_summary(path, seed=seed, alpha=alpha, correction=correction, n_boot=1000)
    if summary.frame.empty:
        return None
    from imgkit.ratings.judge import judge_checks

    summary.checks = judge_checks(path)
    return summary


@dataclass(frozen=True)
class QualityContent:
    """The Quality section's text (:func:`quality_content`)."""

    people_line: str
    verdicts: list[str]
    ranking: Table | None
    settle: str
    agreement: str
    raters: Table | None
    judge_line: str | None
    judge_verdicts: list[str]
    judge_ranking: Table | None
    judge_agreement_line: str | None
    judge_agreement: Table | None
    checks: Table | None = None


def _num(value: Any, spec: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return format(value, spec)


def _ranking_table(table: pd.DataFrame, numbers: Mapping[str, str]) -> Table | None:
    rows = []
    for row in table.itertuples(index=False):
        question = QUESTION[row.criterion]
        if row.prompt_id is not None and not pd.isna(row.prompt_id):
            question += f" (prompt {numbers.get(str(row.prompt_id), row.prompt_id)})"
        rows.append(
            [
                question,
                str(row.rank),
                row.arm,
                f"{row.score:.2f} [{row.score_low:.2f}, {row.score_high:.2f}]",
                str(row.rank_low)
                if row.rank_low == row.rank_high
                else f"{row.rank_low}-{row.rank_high}",
                f"{row.answers} ({row.wins}-{row.ties}-{row.losses})",
            ]
        )
    return Table(RANKING_HEAD, rows) if rows else None


def _checks_table(checks: Any) -> Table | None:
    """Per arm: how many images the judge checked, the share of the prompt's named objects and
    attributes it saw in them, and the ones it missed most."""
    if checks is None or not len(checks):
        return None
    rows = []
    for arm, part in checks.groupby("arm", sort=True):
        missed = part[~part["shown"]]["item"].value_counts().head(3)
        rows.append(
            [
                str(arm),
                str(part["image_sha256"].nunique()),
                f"{part['shown'].mean():.0%} of {len(part)}",
                ", ".join(f"{item} ({n})" for item, n in missed.items()) or "none",
            ]
        )
    return Table(CHECKS_HEAD, rows)


def quality_content(summary: Any, prompt_numbers: Mapping[str, str] | None = None):
    """The Quality section of ``summary`` (None stays None). ``prompt_numbers`` maps a prompt
    id to the number the report gives it."""
    if summary is None:
        return None
    from imgkit.ratings.summary import settle_text

    numbers = dict(prompt_numbers or {})
    n_raters = len(summary.raters)
    people_line = (
        f"{summary.people_answers} blind answers"
        + (f" (and {summary.people_skipped} skipped)" if summary.people_skipped else "")
        + f" from {n_raters} "
        f"rater{'s' if n_raters != 1 else ''}: two images of one prompt side by side, the "
        "arms hidden and the sides drawn at random. A score is the chance of being preferred "
        "to another arm (Bradley-Terry, ties counted half), with a bootstrap 95% interval."
        if summary.people_answers
        else "No person has rated this run's images yet (imgkit rate RUN --rater NAME)."
    )
    if len(summary.raters) and summary.raters["shared"].sum():
        agreement = (
            f"Agreement between raters (Krippendorff's alpha, 1 = full, 0 = chance): "
            f"{_num(summary.alpha, '.2f')}."
        )
    elif summary.people_answers:
        agreement = "No two raters answered the same question yet, so agreement is unknown."
    else:
        agreement = ""
    raters = (
        Table(
            RATERS_HEAD,
            [
                [
                    r.rater,
                    str(r.answers),
                    str(r.shared),
                    _num(r.agrees, ".0%"),
                    _num(r.alpha_vs_rest, ".2f"),
                ]
                for r in summary.raters.itertuples(index=False)
            ],
        )
        if len(summary.raters) > 1
        else None
    )
    judge_line = judge_agreement_line = None
    judge_agreement = None
    if summary.judge_answers:
        label = (
            " (simulated: the imgkit simulator played the judge)" if summary.judge_simulated else ""
        )
        others = ", ".join(j for j in summary.judges if j != summary.judge)
        judge_line = (
            f"A judge model, {summary.judge}{label}, answered the same questions "
            f"{summary.judge_answers} times (each pair in both orders, to cancel position bias)."
            + (
                f" Other judges of this run: {others} (imgkit ratings RUN --judge MODEL)."
                if others
                else ""
            )
        )
        units = summary.judge_agreement
        pooled = units[units["criterion"] == "all"].iloc[0]
        if pooled["units"]:
            judge_agreement_line = (
                f"The judge agrees with the people on {_num(pooled['agrees'], '.0%')} of the "
                f"{int(pooled['units'])} questions both answered (alpha "
                f"{_num(pooled['alpha'], '.2f')})."
            )
            judge_agreement = Table(
                AGREEMENT_HEAD,
                [
                    [
                        QUESTION.get(r.criterion, "all questions"),
                        str(r.units),
                        _num(r.agrees, ".0%"),
                        _num(r.alpha, ".2f"),
                    ]
                    for r in units.itertuples(index=False)
                    if r.units
                ],
            )
        else:
            judge_agreement_line = (
                "The judge and the people have not answered the same pair yet: their agreement "
                "is unknown."
            )
    return QualityContent(
        checks=_checks_table(getattr(summary, "checks", None)),
        people_line=people_line,
        verdicts=list(summary.preferences["verdict"]),
        ranking=_ranking_table(summary.ranking, numbers),
        settle=settle_text(summary.more_answers) if summary.people_answers else "",
        agreement=agreement,
        raters=raters,
        judge_line=judge_line,
        judge_verdicts=list(summary.judge_preferences["verdict"]),
        judge_ranking=_ranking_table(summary.judge_ranking, numbers),
        judge_agreement_line=judge_agreement_line,
        judge_agreement=judge_agreement,
    )
