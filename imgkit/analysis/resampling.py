"""Resampling images, not pairs: bootstrap intervals and permutation relabellings.

Pairwise distances within a group are not independent (every image is in n - 1 pairs), so the
confidence intervals of :mod:`imgkit.analysis.consistency` resample images (a bootstrap over
images, Efron & Tibshirani 1993, ch. 6) and :func:`imgkit.analysis.comparison.compare_arms`
permutes the arm labels of images (a permutation test, Good 2005), never pairs. Everything here
works on square distance matrices and returns numpy arrays.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np

from imgkit.errors import ValidationError

__all__ = [
    "bootstrap_means",
    "check_resampling_arguments",
    "pair_values",
    "percentile_interval",
    "similarity_score",
    "stratum_labelings",
    "within_sums",
]

# Batch bootstrap replicates so the (batch, n, n) temporary stays near 16 MB.
_BOOT_BATCH_CELLS = 2_000_000


# --------------------------------------------------------------------------------------------
# Similarity and the bootstrap over images


def pair_values(matrix: np.ndarray) -> np.ndarray:
    """The distances above the diagonal of a square distance matrix, one per pair, as floats."""
    return matrix[np.triu_indices(matrix.shape[0], k=1)].astype(float)


def similarity_score(mean_distance: np.ndarray | float, baseline: float) -> np.ndarray | float:
    """``clip(1 - mean_distance / baseline, 0, 1)``; NaN when the baseline is 0 or not finite."""
    if not baseline or not np.isfinite(baseline):
        return np.full_like(np.asarray(mean_distance, dtype=float), np.nan)
    return np.clip(1.0 - np.asarray(mean_distance, dtype=float) / baseline, 0.0, 1.0)


def bootstrap_means(
    matrices: Sequence[np.ndarray], n_boot: int, rng: np.random.Generator
) -> np.ndarray:
    """Bootstrap the pooled mean pairwise distance by resampling images within each matrix.

    Each replicate draws n images with replacement from each group of n and averages the
    distances between draws of *different* original images (a pair of an image with its own
    copy is not a pair of generations, and would pull the mean toward 0). Replicates with no
    such pair are NaN.
    """
    sums = np.zeros(n_boot)
    counts = np.zeros(n_boot)
    for matrix in matrices:
        n = matrix.shape[0]
        if n < 2:
            continue
        batch = max(1, _BOOT_BATCH_CELLS // (n * n))
        for start in range(0, n_boot, batch):
            stop = min(n_boot, start + batch)
            draw = rng.integers(0, n, size=(stop - start, n))
            sub = matrix[draw[:, :, None], draw[:, None, :]]
            distinct = draw[:, :, None] != draw[:, None, :]
            sums[start:stop] += np.where(distinct, sub, 0).sum(axis=(1, 2)) / 2
            counts[start:stop] += distinct.sum(axis=(1, 2)) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def percentile_interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    """The central ``confidence`` percentile interval of the finite values (NaN, NaN if none)."""
    values = values[np.isfinite(values)]
    if values.size == 0:
        return math.nan, math.nan
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def check_resampling_arguments(n_boot: int, confidence: float, near_duplicate: float) -> None:
    """Raise :class:`ValidationError` for a bad replicate count, confidence or threshold."""
    if not isinstance(n_boot, int | np.integer) or n_boot < 1:
        raise ValidationError("n_boot", n_boot, "an integer >= 1")
    if not 0 < confidence < 1:
        raise ValidationError("confidence", confidence, "a number between 0 and 1, e.g. 0.95")
    if not 0 <= near_duplicate < 1:
        raise ValidationError("near_duplicate", near_duplicate, "a share of the bits in [0, 1)")


# --------------------------------------------------------------------------------------------
# Relabelling images between two arms


def within_sums(masks: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """For each row of ``masks``, the sum of the distances over pairs inside the mask.

    ``m^T D m / 2``: the diagonal of a distance matrix is zero, and each pair is counted twice.
    """
    weights = masks.astype(float)
    return np.einsum("pi,ij,pj->p", weights, matrix, weights) / 2


def stratum_labelings(
    sizes: Sequence[tuple[int, int]], n_perm: int, rng: np.random.Generator
) -> tuple[list[np.ndarray], bool]:
    """Masks (True = labelled arm A) for every stratum, one row per relabelling.

    Enumerates every relabelling when there are at most ``n_perm`` of them (an exact test),
    else draws ``n_perm`` random ones.
    """
    total = math.prod(math.comb(n_a + n_b, n_a) for n_a, n_b in sizes)
    if total <= n_perm:
        per_stratum = []
        for n_a, n_b in sizes:
            m = n_a + n_b
            combos = list(itertools.combinations(range(m), n_a))
            mask = np.zeros((len(combos), m), dtype=bool)
            for row, combo in enumerate(combos):
                mask[row, list(combo)] = True
            per_stratum.append(mask)
        grids = np.meshgrid(*[np.arange(len(m)) for m in per_stratum], indexing="ij")
        picks = [g.ravel() for g in grids]
        return [mask[pick] for mask, pick in zip(per_stratum, picks, strict=True)], True
    masks = []
    for n_a, n_b in sizes:
        keys = rng.random((n_perm, n_a + n_b))
        ranks = keys.argsort(axis=1).argsort(axis=1)
        masks.append(ranks < n_a)
    return masks, False
