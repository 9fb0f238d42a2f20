"""Which pair of images to show next: :func:`next_pair`.

A question is informative when its answer can still move the ranking. So the next pair is, in
this order of preference: of a prompt and two arms compared least so far (pairs never compared
first), of two arms whose current scores are closest (an answer between a clear winner and a
clear loser changes little), and of the images of those arms this rater has seen least (so a
rater is not shown the same two images again while others are left). Remaining ties are broken
at random, and the sides are drawn at random too, so neither an arm nor a position can be
learnt from where an image appears. Nothing here tells a rater what others answered: the
counts steer the choice and are never shown.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import pandas as pd

from imgkit.ratings.ranking import point_scores

__all__ = ["Pair", "next_pair", "rateable_images"]


@dataclass(frozen=True)
class Pair:
    """Two images of one prompt, as placed for one rater (the arms are for the store only)."""

    pair_id: str
    prompt_id: str
    prompt: str
    left: str
    right: str
    left_arm: str
    right_arm: str
    left_path: Path
    right_path: Path


def rateable_images(run_frame: pd.DataFrame) -> pd.DataFrame:
    """The run's images that can be shown: made, with a readable file, one row per image
    (``prompt_id``, ``prompt``, ``arm``, ``image_sha256``, ``image_path``)."""
    columns = ["prompt_id", "prompt", "arm", "image_sha256", "image_path"]
    if not len(run_frame):
        return pd.DataFrame(columns=columns)
    ok = run_frame[(run_frame["status"] == "ok") & run_frame["image_path"].notna()]
    if "image_problem" in ok.columns:
        ok = ok[ok["image_problem"].isna()]
    ok = ok[[Path(str(p)).is_file() for p in ok["image_path"]]]
    return ok.drop_duplicates("image_sha256")[columns].reset_index(drop=True)


def next_pair(
    images: pd.DataFrame,
    answers: pd.DataFrame,
    rater: str,
    rng: random.Random,
) -> Pair | None:
    """The most informative pair to show ``rater`` next (see the module docstring), or None
    when no prompt has images of two arms. ``answers`` is a ratings frame (people's)."""
    arms = sorted(images["arm"].unique()) if len(images) else []
    candidates = []
    for prompt_id, part in images.groupby("prompt_id", sort=True):
        for a, b in combinations(sorted(part["arm"].unique()), 2):
            candidates.append((prompt_id, a, b))
    if not candidates:
        return None
    shown = answers.drop_duplicates("pair_id") if len(answers) else answers
    counts: Counter[tuple] = Counter()
    for row in shown.itertuples(index=False):
        counts[(row.prompt_id, *sorted((row.left_arm, row.right_arm)))] += 1
    scores = point_scores(answers, arms) if len(answers) else dict.fromkeys(arms, 0.5)

    def informative(candidate: tuple) -> tuple:
        prompt_id, a, b = candidate
        return (counts[candidate], round(abs(scores[a] - scores[b]), 2), rng.random())

    prompt_id, a, b = min(candidates, key=informative)
    mine = answers[answers["rater"] == rater] if len(answers) else answers
    seen: Counter[str] = Counter()
    for row in mine.drop_duplicates("pair_id").itertuples(index=False) if len(mine) else []:
        seen[row.left] += 1
        seen[row.right] += 1

    def least_seen(arm: str) -> pd.Series:
        rows = images[(images["prompt_id"] == prompt_id) & (images["arm"] == arm)]
        fewest = min(seen[s] for s in rows["image_sha256"])
        choices = rows[[seen[s] == fewest for s in rows["image_sha256"]]]
        return choices.iloc[rng.randrange(len(choices))]

    first, second = least_seen(a), least_seen(b)
    if rng.random() < 0.5:
        first, second = second, first
    return Pair(
        pair_id=uuid.uuid4().hex,
        prompt_id=str(prompt_id),
        prompt=str(first["prompt"]),
        left=str(first["image_sha256"]),
        right=str(second["image_sha256"]),
        left_arm=str(first["arm"]),
        right_arm=str(second["arm"]),
        left_path=Path(str(first["image_path"])),
        right_path=Path(str(second["image_path"])),
    )
