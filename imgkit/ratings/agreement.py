"""How far raters agree: Krippendorff's alpha for nominal answers, overall and per rater.

A unit is one question about one pair of images (the criterion and the two images, whichever
side each was shown on); its value is the image preferred, or "tie". Skips are no value.

Alpha is ``1 - D_o / D_e``: the disagreement observed within units over the disagreement
expected by chance from how often each value is used (Krippendorff 2011, "Computing
Krippendorff's Alpha-Reliability", Annenberg School for Communication, the coincidence-matrix
form). Only units with two or more values count (a unit one rater saw says nothing of
agreement). 1 is perfect agreement, 0 what chance gives, below 0 systematic disagreement.

A rater's agreement with the rest is the alpha of two coders, the rater and the most common
answer of the others on each unit the rater shares with them, beside the plain share of units
where the rater gave that most common answer.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Mapping, Sequence

import pandas as pd

__all__ = ["krippendorff_alpha", "rater_agreement", "units"]


def krippendorff_alpha(data: Mapping[Hashable, Sequence[Hashable | None]]) -> float:
    """Nominal Krippendorff's alpha of ``{unit: [value of each coder, None when missing]}``.

    NaN when no unit has two values or every value is the same (no variation to agree on).
    """
    coincidence: Counter[tuple[Hashable, Hashable]] = Counter()
    for values in data.values():
        present = [v for v in values if v is not None]
        m = len(present)
        if m < 2:
            continue
        for i, a in enumerate(present):
            for j, b in enumerate(present):
                if i != j:
                    coincidence[(a, b)] += 1.0 / (m - 1)
    n_c: Counter[Hashable] = Counter()
    for (a, _b), weight in coincidence.items():
        n_c[a] += weight
    n = sum(n_c.values())
    if n <= 1:
        return math.nan
    observed = sum(w for (a, b), w in coincidence.items() if a != b)
    expected = (n * n - sum(v * v for v in n_c.values())) / (n - 1)
    if expected == 0:
        return math.nan
    return float(1.0 - observed / expected)


def units(frame: pd.DataFrame) -> dict[tuple[str, str, str, str], dict[str, str]]:
    """``{(criterion, image, image, prompt id): {rater: value}}`` from a ratings frame (skips
    and judges left out); a rater who answered a unit twice counts with the last answer."""
    found: dict[tuple[str, str, str, str], dict[str, str]] = {}
    people = frame[(frame["source"] == "person") & (frame["choice"] != "skip")]
    for row in people.itertuples(index=False):
        first, second = sorted((row.left, row.right))
        value = {"left": row.left, "right": row.right}.get(row.choice, "tie")
        found.setdefault((row.criterion, first, second, row.prompt_id), {})[row.rater] = value
    return found


def _mode(values: Sequence[str]) -> str:
    counts = Counter(values).most_common()
    best = counts[0][1]
    return sorted(v for v, c in counts if c == best)[0]


def rater_agreement(frame: pd.DataFrame) -> tuple[float, pd.DataFrame]:
    """``(alpha over every rater, per-rater table)``.

    The table has one row per rater: ``rater``, ``answers`` (not skipped), ``shared`` (units
    also answered by someone else), ``agrees`` (share of those where the rater gave the others'
    most common answer) and ``alpha_vs_rest``. Criteria are pooled; a row per criterion would
    need more shared units than a class usually gives.
    """
    found = units(frame)
    raters = sorted({r for unit in found.values() for r in unit})
    overall = krippendorff_alpha({k: [v.get(r) for r in raters] for k, v in found.items()})
    rows = []
    for rater in raters:
        pairs: dict[tuple, list[str | None]] = {}
        same = 0
        for key, unit in found.items():
            if rater not in unit or len(unit) < 2:
                continue
            rest = _mode([v for r, v in unit.items() if r != rater])
            pairs[key] = [unit[rater], rest]
            same += unit[rater] == rest
        answered = sum(rater in unit for unit in found.values())
        rows.append(
            {
                "rater": rater,
                "answers": answered,
                "shared": len(pairs),
                "agrees": same / len(pairs) if pairs else math.nan,
                "alpha_vs_rest": krippendorff_alpha(pairs) if pairs else math.nan,
            }
        )
    columns = ["rater", "answers", "shared", "agrees", "alpha_vs_rest"]
    return overall, pd.DataFrame(rows, columns=columns)
