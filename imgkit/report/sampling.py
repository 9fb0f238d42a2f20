"""Bounded, deterministic samples of a run's rows, so a report's size does not grow with the run.

A report of a sweep of thousands of images embeds a few thumbnails per arm and prompt and shows
a few rows of each per-generation table; which ones is decided here, the same way every time
(spread evenly over the repeats, never at random), so the same run folder gives the same page.
"""

from __future__ import annotations

import numpy as np

__all__ = ["evenly_spaced"]


def evenly_spaced(n: int, most: int) -> np.ndarray:
    """Positions of at most ``most`` of ``n`` items, spread evenly (first and last included)."""
    if n <= most:
        return np.arange(n)
    if most <= 1:
        return np.zeros(min(1, most), dtype=int)
    return np.unique(np.linspace(0, n - 1, most).round().astype(int))
