"""Correcting p-values for the number of comparisons stated together.

A report that compares six arms states fifteen pairwise verdicts; if each were tested at
alpha = 0.05, a sweep of identical arms would still name a "more consistent" winner far more
often than one time in twenty (with 4 identical arms at n = 5, 17% of runs did). So the p-values
of every comparison stated together are adjusted, and a winner is named only when the adjusted
p-value is below alpha:

* ``"holm"`` (the default): Holm's step-down procedure (Holm 1979, "A simple sequentially
  rejective multiple test procedure", Scand. J. Statist. 6:65-70). It controls the family-wise
  error rate, the chance of naming *any* winner when none exists, at alpha, under any
  dependence between the tests, and is uniformly more powerful than Bonferroni.
* ``"bh"``: Benjamini & Hochberg's step-up procedure (1995, "Controlling the false discovery
  rate", J. R. Statist. Soc. B 57:289-300). It controls the expected share of false winners
  among the winners named (for independent or positively dependent tests), and so names more
  winners in a large sweep; ask for it when a few false leads are acceptable.
* ``"none"``: no correction (each comparison on its own), for a single planned comparison.

Adjusted p-values are the smallest family-wise (or false discovery) level at which each
hypothesis would be rejected (Wright 1992, "Adjusted p-values for simultaneous inference",
Biometrics 48:1005-1013), so "adjusted p < alpha" is the decision rule for any alpha.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from imgkit.errors import check_argument

__all__ = ["CORRECTIONS", "CORRECTION_NAMES", "adjust_p_values"]

#: The corrections :func:`adjust_p_values` knows.
CORRECTIONS = ("holm", "bh", "none")

#: How each correction is named in sentences and reports.
CORRECTION_NAMES = {
    "holm": "Holm's family-wise correction",
    "bh": "Benjamini-Hochberg false discovery rate correction",
    "none": "no correction",
}


def adjust_p_values(p_values: Sequence[float] | np.ndarray, method: str = "holm") -> np.ndarray:
    """Return the adjusted p-values, in the input's order; NaN stays NaN and is not counted.

    The family is every finite p-value given. Raises :class:`ValidationError` for an unknown
    method (see :data:`CORRECTIONS`).
    """
    check_argument("correction", method, CORRECTIONS)
    values = np.asarray(p_values, dtype=float)
    adjusted = np.full(values.shape, np.nan)
    finite = np.flatnonzero(np.isfinite(values))
    m = finite.size
    if m == 0:
        return adjusted
    p = values[finite]
    if method == "none":
        adjusted[finite] = p
        return adjusted
    order = np.argsort(p, kind="stable")
    ranked = p[order]
    steps = np.arange(1, m + 1)
    if method == "holm":
        stepped = np.maximum.accumulate((m - steps + 1) * ranked)
    else:
        stepped = np.minimum.accumulate((m / steps * ranked)[::-1])[::-1]
    result = np.empty(m)
    result[order] = np.minimum(stepped, 1.0)
    adjusted[finite] = result
    return adjusted
