"""Intervals for means of independent values, and for the difference of two such means.

The rewrite measures (:mod:`imgkit.analysis.divergence`) are one value per generation, and each
generation is its own request: independent draws, unlike the pairwise image distances of
:mod:`imgkit.analysis.resampling`, whose pairs share images. Their intervals are plain
percentile bootstraps over the values (Efron & Tibshirani 1993, ch. 13), with the same
percentile rule as every other interval of the toolkit
(:func:`imgkit.analysis.resampling.percentile_interval`).
"""

from __future__ import annotations

import math

import numpy as np

from imgkit.analysis.resampling import percentile_interval

__all__ = ["difference_interval", "mean_interval"]


def _boot_means(values: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    draws = rng.integers(0, values.size, size=(n_boot, values.size))
    return values[draws].mean(axis=1)


def mean_interval(
    values: np.ndarray, n_boot: int = 2000, seed: int = 0, confidence: float = 0.95
) -> tuple[float, float]:
    """The percentile bootstrap interval of the mean of ``values`` (NaN, NaN when empty)."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return math.nan, math.nan
    return percentile_interval(_boot_means(values, n_boot, np.random.default_rng(seed)), confidence)


def difference_interval(
    before: np.ndarray,
    after: np.ndarray,
    n_boot: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[float, float, float]:
    """(mean(after) - mean(before), low, high): the difference and its percentile bootstrap
    interval, each sample resampled on its own. NaNs when either sample is empty."""
    before = np.asarray(before, dtype=float)
    after = np.asarray(after, dtype=float)
    before, after = before[np.isfinite(before)], after[np.isfinite(after)]
    if before.size == 0 or after.size == 0:
        return math.nan, math.nan, math.nan
    rng = np.random.default_rng(seed)
    boots = _boot_means(after, n_boot, rng) - _boot_means(before, n_boot, rng)
    low, high = percentile_interval(boots, confidence)
    return float(after.mean() - before.mean()), low, high
