"""A permutation test inverted: the largest statistic it would not reject (:func:`critical_value`).

The two-arm test's interval of differences (:func:`imgkit.analysis.resampling.relabel_two_arms`)
is the observed statistic plus or minus this value, read from the very relabellings the test's
p-value was read from, so that the interval leaves out 0 exactly when p is below the level:
for exact tests, Monte Carlo tests run to the end, and those the sequential rule stopped.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["critical_value", "sequential_length"]


def sequential_length(hits: int, level: float) -> int:
    """The most relabellings after which the sequential rule's ``p = hits / L`` is not yet
    below ``level`` (1000 for 50 hits at 0.05), in the p-value's own floating point."""
    length = math.floor(hits / level)
    while hits / (length + 1) >= level:
        length += 1
    while length > hits and hits / length < level:
        length -= 1
    return length


def critical_value(
    null: np.ndarray, level: float, exact: bool, *, sequential_hits: int | None = None
) -> float:
    """The largest ``|statistic|`` a permutation test with null values ``null`` (``|T|`` of
    each relabelling, in the order drawn) does not reject at ``level``: the test rejects ``t``
    exactly when ``t > critical_value`` (``inf`` when no ``t`` could be rejected).

    Exact (``p = K / N``, K the relabellings at least as extreme) or Monte Carlo run to the end
    (``p = (1 + K) / (1 + N)``): p < level when K is at most the largest count whose p is below
    the level (computed as the p-value is). A Monte Carlo test whose sequential rule
    (``sequential_hits`` = h, ``p = h / L``) decides: p < level when the h-th value at least
    as extreme comes after the first :func:`sequential_length` ones, i.e. when t is above the
    h-th largest of them.
    """
    null = np.asarray(null, dtype=np.float64)
    if sequential_hits is not None:
        first = null[: sequential_length(sequential_hits, level)]
        value = float(np.sort(first)[::-1][sequential_hits - 1])
        return value + 1e-9 * max(1.0, abs(value))
    values = np.sort(null)[::-1]
    n = values.size
    if n == 0:
        return math.nan

    def p_of(count: int) -> float:
        return count / n if exact else (1 + count) / (1 + n)

    allowed = min(n, math.ceil(level * (n + 1)))
    while allowed >= 0 and not p_of(allowed) < level:
        allowed -= 1
    if allowed >= n:
        return 0.0
    if allowed < 0:  # no statistic could reach p < level
        return math.inf
    value = float(values[allowed])
    # The same rounding allowance as permutation_p_value's ties.
    return value + 1e-9 * max(1.0, abs(value))
