"""Which arm people (or a judge) prefer: Bradley-Terry rankings and pairwise verdicts.

**Model.** Each arm ``i`` has a strength ``p_i``; the chance that ``i`` is preferred to ``j`` is
``p_i / (p_i + p_j)`` (Bradley & Terry 1952). Strengths are fitted by Hunter's (2004)
minorisation-maximisation iteration. **Ties count as half a win for each side**: the simplest
rule that keeps a tie's information (the two are close) and, unlike Davidson's (1970) model,
adds no tie parameter to estimate from a class's few dozen answers. Each pair of arms that was
compared also gets one virtual tie, a weak prior that keeps an arm that won every answer at a
finite strength (its interval then reaches far, as it should). Skips count for nobody.

**Scores.** An arm's score is its fitted chance of being preferred to another arm, averaged
over the other arms: with two arms it is the share of answers the model expects it to win. The
intervals are parametric percentile bootstraps (Efron & Tibshirani 1993, ch. 6): the same
comparisons' outcomes are redrawn from the fitted model (ties as often as they were seen), the
model refitted each time, scores and ranks read off. Redrawing the answers themselves instead
would give a point, not an interval, when every answer went one way (ten of ten).

**Verdicts.** Each pair of arms is also compared directly, per criterion: the share of answers
preferring one (ties half), its Wilson score interval (a bootstrap would give "100% [100, 100]"
for ten answers all one way), and an exact two-sided sign test over the
answers that were not ties; the p-values of every pair and criterion stated together are
corrected (Holm by default, :mod:`imgkit.analysis.multiplicity`), and a winner is named only
when the corrected p is below alpha, in the fixed style of the consistency verdicts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import combinations
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from imgkit.analysis.comparison import format_p
from imgkit.analysis.multiplicity import CORRECTIONS, adjust_p_values
from imgkit.analysis.resampling import percentile_interval
from imgkit.errors import ValidationError, check_argument
from imgkit.ratings.store import CRITERIA, CRITERION_TEXT

__all__ = [
    "MIN_ANSWERS",
    "PREFERENCE_COLUMNS",
    "RANKING_COLUMNS",
    "answers_needed",
    "bradley_terry",
    "point_scores",
    "preferences",
    "ranking",
    "sign_test",
    "wilson_interval",
]

#: Fewer answers than this about a pair (or a prompt) gets "too few answers", not a verdict.
MIN_ANSWERS = 10
#: Beyond this many more answers, the planner says the arms are too close to tell apart.
MAX_MORE = 1000

RANKING_COLUMNS = (
    "criterion",
    "prompt_id",
    "arm",
    "rank",
    "score",
    "score_low",
    "score_high",
    "rank_low",
    "rank_high",
    "answers",
    "wins",
    "ties",
    "losses",
)
PREFERENCE_COLUMNS = (
    "criterion",
    "arm_a",
    "arm_b",
    "answers",
    "wins_a",
    "wins_b",
    "ties",
    "share_a",
    "share_low",
    "share_high",
    "p_value",
    "p_adjusted",
    "preferred",
    "more_answers",
    "verdict",
)


def _fit(wins: np.ndarray, games: np.ndarray, iterations: int = 500) -> np.ndarray:
    """Strengths (geometric mean 1) for stacks of ``wins`` (B, k) and ``games`` (B, k, k).

    ``games`` is symmetric with the virtual ties already added; ``wins`` holds each arm's wins
    plus half its ties. Vectorised over the B bootstrap draws.
    """
    b, k = wins.shape
    p = np.ones((b, k))
    played = games.sum(axis=2) > 0
    for _ in range(iterations):
        denominator = (games / (p[:, :, None] + p[:, None, :])).sum(axis=2)
        new = np.where(played, wins / np.where(denominator > 0, denominator, 1.0), 1.0)
        new = np.maximum(new, 1e-12)
        new /= np.exp(np.log(new).mean(axis=1, keepdims=True))
        if np.max(np.abs(new - p)) < 1e-10:
            p = new
            break
        p = new
    return p


def _scores(p: np.ndarray) -> np.ndarray:
    """Each arm's chance of being preferred, averaged over the other arms: (B, k)."""
    k = p.shape[1]
    chance = p[:, :, None] / (p[:, :, None] + p[:, None, :])
    return (chance.sum(axis=2) - 0.5) / max(1, k - 1)


def _outcomes(frame: pd.DataFrame, arms: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Each answer as (index of the left arm, index of the right arm, outcome) with outcome 1
    left preferred, 0 right, 0.5 tie; skips and answers of an arm to itself left out."""
    index = {a: i for i, a in enumerate(arms)}
    usable = frame[(frame["choice"] != "skip") & (frame["left_arm"] != frame["right_arm"])]
    sides = zip(usable["left_arm"], usable["right_arm"], strict=True)
    pairs = np.array([[index[a], index[b]] for a, b in sides], dtype=int).reshape(-1, 2)
    outcome = usable["choice"].map({"left": 1.0, "right": 0.0, "tie": 0.5}).to_numpy(float)
    return pairs, outcome


def _tables(pairs: np.ndarray, outcomes: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(wins (B, k), games (B, k, k)) of the answers ``pairs`` (n, 2) with ``outcomes``
    (B, n): B sets of outcomes of the same comparisons."""
    b = outcomes.shape[0]
    wins = np.zeros((b, k))
    games = np.zeros((k, k))
    np.add.at(games, (pairs[:, 0], pairs[:, 1]), 1.0)
    games = games + games.T
    for i in range(k):
        # an arm's score: its outcomes where it was left, one minus them where it was right
        wins[:, i] = outcomes[:, pairs[:, 0] == i].sum(axis=1) + (
            1 - outcomes[:, pairs[:, 1] == i]
        ).sum(axis=1)
    compared = games > 0
    # one virtual tie per pair compared in the data (the prior of the module docstring)
    games = np.broadcast_to(games + compared, (b, k, k))
    wins += compared.sum(axis=1)[None] * 0.5
    return wins, games


def _redraw(
    pairs: np.ndarray, outcome: np.ndarray, p: np.ndarray, n_boot: int, rng: np.random.Generator
) -> np.ndarray:
    """``n_boot`` sets of outcomes of the same comparisons drawn from the fitted model: a tie
    as often as ties were seen, else a win with the chance that keeps the expected score at
    the model's ``p_i / (p_i + p_j)``."""
    chance = p[pairs[:, 0]] / (p[pairs[:, 0]] + p[pairs[:, 1]])
    tie = float(np.mean(outcome == 0.5))
    win = np.clip(chance - tie / 2, 0.0, 1.0 - tie)
    u = rng.random((n_boot, len(outcome)))
    return np.where(u < win, 1.0, np.where(u < win + tie, 0.5, 0.0))


def bradley_terry(
    frame: pd.DataFrame,
    arms: list[str] | None = None,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """One criterion's ranking of arms from its answers (a ratings frame's rows).

    Returns one row per arm, best first: ``arm``, ``rank`` (1 is best), ``score`` with
    ``score_low``/``score_high``, ``rank_low``/``rank_high``, and ``answers``, ``wins``,
    ``ties``, ``losses`` (skips not counted). An arm without answers is left out.
    """
    if arms is None:
        arms = sorted(set(frame["left_arm"]) | set(frame["right_arm"]))
    pairs, outcome = _outcomes(frame, arms)
    k, n = len(arms), len(outcome)
    columns = [c for c in RANKING_COLUMNS if c not in ("criterion", "prompt_id")]
    if n == 0 or k < 2:
        return pd.DataFrame(columns=columns)
    wins, games = _tables(pairs, outcome[None], k)
    p = _fit(wins, games)
    score = _scores(p)[0]
    rng = np.random.default_rng(seed)
    boot_wins, boot_games = _tables(pairs, _redraw(pairs, outcome, p[0], n_boot, rng), k)
    boot_scores = _scores(_fit(boot_wins, boot_games))
    # rank 1 = highest score; ties in a draw share the better rank
    boot_ranks = (boot_scores[:, None, :] > boot_scores[:, :, None]).sum(axis=2) + 1
    order = np.argsort(-score, kind="stable")
    rows = []
    for rank, i in enumerate(order, start=1):
        played = (pairs == i).any(axis=1)
        if not played.any():
            continue
        mine = np.where(pairs[played, 0] == i, outcome[played], 1 - outcome[played])
        low, high = percentile_interval(boot_scores[:, i], confidence)
        rank_low, rank_high = np.percentile(boot_ranks[:, i], [2.5, 97.5])
        rows.append(
            {
                "arm": arms[i],
                "rank": rank,
                "score": float(score[i]),
                "score_low": low,
                "score_high": high,
                "rank_low": math.floor(rank_low),
                "rank_high": math.ceil(rank_high),
                "answers": int(played.sum()),
                "wins": int((mine == 1).sum()),
                "ties": int((mine == 0.5).sum()),
                "losses": int((mine == 0).sum()),
            }
        )
    return pd.DataFrame(rows, columns=columns)


def point_scores(frame: pd.DataFrame, arms: list[str]) -> dict[str, float]:
    """Each arm's fitted score (no intervals), for choosing what to ask next; 0.5 for an arm
    without answers."""
    pairs, outcome = _outcomes(frame, arms)
    if not len(outcome):
        return dict.fromkeys(arms, 0.5)
    wins, games = _tables(pairs, outcome[None], len(arms))
    return {a: float(s) for a, s in zip(arms, _scores(_fit(wins, games))[0], strict=True)}


def ranking(
    frame: pd.DataFrame,
    *,
    per_prompt: bool = True,
    min_answers: int = MIN_ANSWERS,
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Every criterion's ranking over all prompts (``prompt_id`` None), and per prompt where
    that prompt has at least ``min_answers`` answers on the criterion."""
    arms = sorted(set(frame["left_arm"]) | set(frame["right_arm"])) if len(frame) else []
    parts = []
    for criterion in CRITERIA:
        rows = frame[frame["criterion"] == criterion]
        scopes: list[tuple[Any, pd.DataFrame]] = [(None, rows)]
        if per_prompt and rows["prompt_id"].nunique() > 1:
            for prompt_id, part in rows.groupby("prompt_id", sort=True):
                if (part["choice"] != "skip").sum() >= min_answers:
                    scopes.append((prompt_id, part))
        for prompt_id, part in scopes:
            table = bradley_terry(part, arms, n_boot=n_boot, seed=seed, confidence=confidence)
            if len(table):
                table.insert(0, "prompt_id", prompt_id)
                table.insert(0, "criterion", criterion)
                parts.append(table)
    if not parts:
        return pd.DataFrame(columns=list(RANKING_COLUMNS))
    return pd.concat(parts, ignore_index=True)[list(RANKING_COLUMNS)]


def wilson_interval(share: float, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson's (1927) score interval for a share of ``n`` answers. Unlike a percentile
    bootstrap it does not shrink to a point when every answer went one way (10 of 10 is
    [72%, 100%], not [100%, 100%]). A tie counts half, so ``share`` need not be k / n."""
    if n <= 0:
        return math.nan, math.nan
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    centre = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def sign_test(successes: int, trials: int) -> float:
    """Exact two-sided binomial test of ``successes`` in ``trials`` against one half: the
    chance of an outcome at most as likely as the one seen."""
    # in logs: 2 ** trials overflows a float beyond about a thousand trials
    log_all = math.lgamma(trials + 1) - trials * math.log(2)
    probabilities = [
        math.exp(log_all - math.lgamma(i + 1) - math.lgamma(trials - i + 1))
        for i in range(trials + 1)
    ]
    seen = probabilities[successes]
    return float(min(1.0, sum(q for q in probabilities if q <= seen * (1 + 1e-9))))


def answers_needed(share: float, answers: int, alpha: float = 0.05) -> int | None:
    """How many more answers would likely put a share's interval clear of 50% if the share
    stays what it is: ``z^2 p (1 - p) / (p - 1/2)^2 - answers`` (a normal approximation),
    0 when settled, None when the share is so close to 50% that more than
    :data:`MAX_MORE` would be needed."""
    gap = abs(share - 0.5)
    z = NormalDist().inv_cdf(1 - alpha / 2)
    if gap < 1e-9:
        return None
    need = math.ceil(z * z * share * (1 - share) / (gap * gap))
    more = max(0, need - answers)
    return None if more > MAX_MORE else more


@dataclass
class _Pair:
    criterion: str
    arm_a: str
    arm_b: str
    outcomes: np.ndarray = field(default_factory=lambda: np.zeros(0))


def preferences(
    frame: pd.DataFrame,
    *,
    alpha: float = 0.05,
    correction: str = "holm",
    min_answers: int = MIN_ANSWERS,
    confidence: float = 0.95,
    who: str = "people",
) -> pd.DataFrame:
    """Each pair of arms compared directly on each criterion, with its verdict sentence (see
    the module docstring); one row per (criterion, pair) that has answers.

    Raises :class:`ValidationError` for a bad alpha, correction or min_answers.
    """
    check_argument("correction", correction, CORRECTIONS)
    if not 0 < alpha < 1:
        raise ValidationError("alpha", alpha, "a number between 0 and 1, e.g. 0.05")
    if not isinstance(min_answers, int) or min_answers < 1:
        raise ValidationError("min_answers", min_answers, "an integer >= 1")
    usable = frame[(frame["choice"] != "skip") & (frame["left_arm"] != frame["right_arm"])]
    found: list[_Pair] = []
    arms = sorted(set(usable["left_arm"]) | set(usable["right_arm"]))
    for criterion in CRITERIA:
        rows = usable[usable["criterion"] == criterion]
        for a, b in combinations(arms, 2):
            left_a = rows[(rows["left_arm"] == a) & (rows["right_arm"] == b)]
            left_b = rows[(rows["left_arm"] == b) & (rows["right_arm"] == a)]
            outcome = np.concatenate(
                [
                    left_a["choice"].map({"left": 1.0, "right": 0.0, "tie": 0.5}).to_numpy(float),
                    left_b["choice"].map({"left": 0.0, "right": 1.0, "tie": 0.5}).to_numpy(float),
                ]
            )
            if outcome.size:
                found.append(_Pair(criterion, a, b, outcome))
    rows_out = []
    for pair in found:
        o = pair.outcomes
        wins_a, wins_b = int((o == 1).sum()), int((o == 0).sum())
        decided = wins_a + wins_b
        p = sign_test(wins_a, decided) if decided else math.nan
        if o.size < min_answers:
            p = math.nan  # not tested, so not counted in the family
        low, high = wilson_interval(float(o.mean()), int(o.size), confidence)
        rows_out.append(
            {
                "criterion": pair.criterion,
                "arm_a": pair.arm_a,
                "arm_b": pair.arm_b,
                "answers": int(o.size),
                "wins_a": wins_a,
                "wins_b": wins_b,
                "ties": int((o == 0.5).sum()),
                "share_a": float(o.mean()),
                "share_low": low,
                "share_high": high,
                "p_value": float(p),
            }
        )
    if not rows_out:
        return pd.DataFrame(columns=list(PREFERENCE_COLUMNS))
    table = pd.DataFrame(rows_out)
    table["p_adjusted"] = adjust_p_values(table["p_value"].to_numpy(), correction)
    family = int(np.isfinite(table["p_value"]).sum())
    preferred, more, verdicts = [], [], []
    for row in table.itertuples(index=False):
        winner, n_more, sentence = _verdict(
            row,
            alpha=alpha,
            correction=correction,
            family=family,
            min_answers=min_answers,
            who=who,
        )
        preferred.append(winner)
        more.append(n_more)
        verdicts.append(sentence)
    table["preferred"] = preferred
    table["more_answers"] = more
    table["verdict"] = verdicts
    return table[list(PREFERENCE_COLUMNS)]


def _pct(share: float, low: float, high: float) -> str:
    return f"{share:.0%} [{low * 100:.0f}, {high * 100:.0f}]"


def _verdict(
    row: Any, *, alpha: float, correction: str, family: int, min_answers: int, who: str
) -> tuple[str | None, int | None, str]:
    what = CRITERION_TEXT[row.criterion]
    verb = "prefer" if who == "people" else "prefers"
    n = row.answers
    counted = f"of {n} answer{'s' if n != 1 else ''}"
    if row.ties:
        counted += f" ({row.ties} tie{'s' if row.ties != 1 else ''}, each counted half)"
    if n < min_answers:
        return (
            None,
            max(0, min_answers - n),
            f"Too few answers to tell whether {who} {verb} {row.arm_a} or {row.arm_b} for "
            f"{what}: {n} answer{'s' if n != 1 else ''}, at least {min_answers} needed.",
        )
    p_text = format_p(row.p_value)
    if correction != "none" and family > 1 and np.isfinite(row.p_adjusted):
        name = {"holm": "Holm", "bh": "Benjamini-Hochberg"}[correction]
        p_text += f", adjusted {format_p(row.p_adjusted)[2:]} ({name}, {family} comparisons)"
    if row.p_adjusted < alpha:
        if row.share_a >= 0.5:
            winner, loser = row.arm_a, row.arm_b
            figures = _pct(row.share_a, row.share_low, row.share_high)
        else:
            winner, loser = row.arm_b, row.arm_a
            figures = _pct(1 - row.share_a, 1 - row.share_high, 1 - row.share_low)
        return (
            winner,
            0,
            f"{winner} was preferred to {loser} for {what}: {figures} {counted}, {p_text}",
        )
    more = answers_needed(row.share_a, n, alpha / max(1, family))
    if more is None:
        tell = (
            "They look too close to tell apart with a practical number of answers "
            f"(more than {MAX_MORE})."
        )
    elif more == 0:
        tell = "A share this size could be chance among this many comparisons."
    else:
        tell = f"About {more} more answers would likely tell, if the share stays where it is."
    return (
        None,
        more,
        f"No clear preference between {row.arm_a} and {row.arm_b} for {what}: {row.arm_a} "
        f"{_pct(row.share_a, row.share_low, row.share_high)} {counted}, {p_text}. {tell}",
    )
