"""Whether one arm makes more alike images than another: :func:`compare_arms`.

The statistic is the difference of the pooled mean within-arm pairwise distances, its p-value
comes from relabelling images between the two arms within each prompt, and the similarities and
their intervals are those of :func:`imgkit.analysis.consistency.consistency_table` (see
:mod:`imgkit.analysis.resampling` for why images, not pairs, are resampled). The result carries
a verdict in plain words that says when there are too few images to tell.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from imgkit.analysis.generations import run_baseline, usable_generations
from imgkit.analysis.hashing import KINDS, distance_matrix
from imgkit.analysis.resampling import (
    bootstrap_means,
    check_resampling_arguments,
    pair_values,
    percentile_interval,
    similarity_score,
    stratum_labelings,
    within_sums,
)
from imgkit.errors import ValidationError, check_argument

__all__ = ["ArmComparison", "compare_arms"]


@dataclass(frozen=True)
class ArmComparison:
    """Result of :func:`compare_arms`. ``verdict`` is the plain-words summary."""

    arm_a: str
    arm_b: str
    prompt: str | None
    kind: str
    n_prompts: int
    n_a: int
    n_b: int
    similarity_a: float
    ci_a: tuple[float, float]
    similarity_b: float
    ci_b: tuple[float, float]
    mean_distance_a: float
    mean_distance_b: float
    statistic: float
    p_value: float
    n_permutations: int
    exact: bool
    baseline: str
    baseline_distance: float
    more_consistent: str | None
    verdict: str

    def to_dict(self) -> dict[str, Any]:
        """The result as plain data (for JSON)."""
        return asdict(self)


def _fmt_p(p: float) -> str:
    if not np.isfinite(p):
        return "p not computed"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _fmt_sim(value: float, interval: tuple[float, float]) -> str:
    if not np.isfinite(value):
        return "n/a"
    return f"{value:.2f} [{interval[0]:.2f}, {interval[1]:.2f}]"


def compare_arms(
    frame: pd.DataFrame,
    arm_a: str,
    arm_b: str,
    prompt: str | None = None,
    kind: str = "phash",
    n_perm: int = 10_000,
    seed: int = 0,
    *,
    n_boot: int = 2000,
    alpha: float = 0.05,
    min_images: int = 3,
    confidence: float = 0.95,
    hash_size: int = 8,
) -> ArmComparison:
    """Test whether one arm makes more alike images than another; return an :class:`ArmComparison`.

    The statistic is the difference of the pooled mean within-arm pairwise distances
    (``mean_distance_b - mean_distance_a``; positive means arm A is more consistent). Pairs are
    only formed within a prompt. Its two-sided p-value comes from a permutation test that
    shuffles the *arm labels of images* within each prompt (a stratified test): exact, over every
    relabelling, when there are at most ``n_perm`` of them, else Monte Carlo with ``n_perm``
    draws and ``p = (1 + hits) / (1 + n_perm)`` (Phipson & Smyth 2010). Similarities and their
    intervals are as in :func:`consistency_table`, with the run's baseline.

    ``prompt=None`` pools every prompt on which both arms have at least two images. The verdict
    names a winner only when each arm has at least ``min_images`` images and ``p < alpha``.
    Raises :class:`ValidationError` for unknown arms, prompt or kind, or identical arms.
    """
    check_argument("kind", kind, KINDS)
    check_resampling_arguments(n_boot, confidence, 0.0)
    if not isinstance(n_perm, int | np.integer) or n_perm < 1:
        raise ValidationError("n_perm", n_perm, "an integer >= 1")
    if not 0 < alpha < 1:
        raise ValidationError("alpha", alpha, "a number between 0 and 1, e.g. 0.05")
    rows = usable_generations(frame, (kind,), hash_size=hash_size)
    arms = sorted(rows["arm"].unique())
    check_argument("arm_a", arm_a, arms)
    check_argument("arm_b", arm_b, arms)
    if arm_a == arm_b:
        raise ValidationError("arm_b", arm_b, f"an arm other than arm_a ({arm_a!r})")
    baseline_name, baseline = run_baseline(rows, kind)
    pair_rows = rows[rows["arm"].isin([arm_a, arm_b])]
    if prompt is not None:
        check_argument("prompt", prompt, sorted(pair_rows["prompt"].unique()))
        pair_rows = pair_rows[pair_rows["prompt"] == prompt]

    matrices_a, matrices_b, strata, sizes = [], [], [], []
    for _, group in pair_rows.groupby("prompt", sort=True):
        hashes_a = group.loc[group["arm"] == arm_a, kind].tolist()
        hashes_b = group.loc[group["arm"] == arm_b, kind].tolist()
        if len(hashes_a) < 2 or len(hashes_b) < 2:
            continue  # no within-arm pair on one side: this prompt cannot inform the test
        matrices_a.append(distance_matrix(hashes_a).astype(float))
        matrices_b.append(distance_matrix(hashes_b).astype(float))
        strata.append(distance_matrix(hashes_a + hashes_b).astype(float))
        sizes.append((len(hashes_a), len(hashes_b)))

    n_a = sum(s[0] for s in sizes)
    n_b = sum(s[1] for s in sizes)
    pairs_a = sum(math.comb(s[0], 2) for s in sizes)
    pairs_b = sum(math.comb(s[1], 2) for s in sizes)
    rng = np.random.default_rng(seed)

    def pooled(matrices: list[np.ndarray], n_pairs: int) -> float:
        if not n_pairs:
            return math.nan
        return sum(pair_values(m).sum() for m in matrices) / n_pairs

    mean_a, mean_b = pooled(matrices_a, pairs_a), pooled(matrices_b, pairs_b)
    sim_a, sim_b = (
        float(similarity_score(mean_a, baseline)),
        float(similarity_score(mean_b, baseline)),
    )
    ci_a = percentile_interval(
        np.asarray(similarity_score(bootstrap_means(matrices_a, n_boot, rng), baseline)), confidence
    )
    ci_b = percentile_interval(
        np.asarray(similarity_score(bootstrap_means(matrices_b, n_boot, rng), baseline)), confidence
    )

    statistic, p_value, n_relabel, exact = math.nan, math.nan, 0, False
    smallest_p = math.nan
    if sizes:
        statistic = mean_b - mean_a
        # Permute which images carry which arm label, not the pairwise distances: the pairs of
        # one image share it, so treating n(n-1)/2 pairs as independent draws would overstate
        # the evidence. Relabelling whole images keeps that dependence in the null distribution.
        masks, exact = stratum_labelings(sizes, n_perm, rng)
        sum_a = np.zeros(len(masks[0]))
        sum_b = np.zeros(len(masks[0]))
        for mask, matrix in zip(masks, strata, strict=True):
            sum_a += within_sums(mask, matrix)
            sum_b += within_sums(~mask, matrix)
        null = sum_b / pairs_b - sum_a / pairs_a
        # A small tolerance so relabellings equal to the observed one count as "as extreme"
        # despite summation order differences.
        hits = int(np.sum(np.abs(null) >= abs(statistic) - 1e-9))
        n_relabel = len(null)
        p_value = hits / n_relabel if exact else (1 + hits) / (1 + n_relabel)
        if exact:
            # Even the most extreme relabelling cannot do better than this p-value.
            smallest_p = float(np.sum(np.abs(null) >= np.abs(null).max() - 1e-9)) / n_relabel

    all_prompts = pair_rows["prompt"].nunique()
    where = (
        "on this prompt"
        if prompt is not None or all_prompts == 1
        else f"across {len(sizes)} prompt{'s' if len(sizes) != 1 else ''}"
    )
    counts_a = pair_rows[pair_rows["arm"] == arm_a].shape[0] if not sizes else n_a
    counts_b = pair_rows[pair_rows["arm"] == arm_b].shape[0] if not sizes else n_b
    n_text = f"n = {counts_a} each" if counts_a == counts_b else f"n = {counts_a} and {counts_b}"
    figures = (
        f"{kind} similarity {_fmt_sim(sim_a, ci_a)} vs {_fmt_sim(sim_b, ci_b)}, "
        f"{_fmt_p(p_value)}, {n_text}"
    )
    winner = None
    if not sizes or min(counts_a, counts_b) < min_images:
        verdict = (
            f"Too few images to tell whether {arm_a} or {arm_b} is more consistent {where}: "
            f"each arm needs at least {min_images} images, and two on a shared prompt "
            f"({n_text})."
        )
    elif p_value >= alpha:
        if smallest_p >= alpha:
            why = (
                f"With this few images no split could reach p < {alpha:g} (the smallest "
                f"possible p is {smallest_p:.3f}); more repeats are needed to tell them apart."
            )
        else:
            why = (
                "A difference this size could be chance; more repeats would be needed to tell "
                "them apart."
            )
        verdict = (
            f"No clear difference in consistency between {arm_a} and {arm_b} {where}: "
            f"{figures}. {why}"
        )
    else:
        winner, loser = (arm_a, arm_b) if statistic > 0 else (arm_b, arm_a)
        first, second = (sim_a, ci_a), (sim_b, ci_b)
        if winner == arm_b:
            first, second = second, first
        verdict = (
            f"{winner} was more consistent than {loser} {where}: {kind} similarity "
            f"{_fmt_sim(*first)} vs {_fmt_sim(*second)}, {_fmt_p(p_value)}, {n_text}"
        )
    return ArmComparison(
        arm_a=arm_a,
        arm_b=arm_b,
        prompt=prompt,
        kind=kind,
        n_prompts=len(sizes),
        n_a=counts_a,
        n_b=counts_b,
        similarity_a=sim_a,
        ci_a=ci_a,
        similarity_b=sim_b,
        ci_b=ci_b,
        mean_distance_a=float(mean_a),
        mean_distance_b=float(mean_b),
        statistic=float(statistic),
        p_value=float(p_value),
        n_permutations=n_relabel,
        exact=exact,
        baseline=baseline_name,
        baseline_distance=float(baseline),
        more_consistent=winner,
        verdict=verdict,
    )
