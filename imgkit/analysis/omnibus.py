"""The omnibus test of k arms: are all of them equally consistent? (:func:`relabel_k_arms`).

A stratified permutation test of "every arm's images are equally alike", whose statistic is the
spread of the arms' pooled mean within-arm distances, computed with the same image-point algebra
as the two-arm test (see :mod:`imgkit.analysis.resampling`, whose parts it shares). Most
relabellings are decided by a cheap screen on a few principal axes with a rigorous error bound;
only those the screen cannot settle are computed in full.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from imgkit.analysis.resampling import (
    SEQUENTIAL_HITS,
    PermutationResult,
    _float32_error,
    _grouped,
    _masked_sums,
    _stack,
    pair_count,
    pair_sum,
    permutation_p_value,
)

__all__ = ["SCREEN_RANK", "relabel_k_arms"]


#: Principal axes the k-arm test's screen multiplies by (see :func:`_screen_points`).
SCREEN_RANK = 8


def _screen_points(points: np.ndarray) -> tuple[np.ndarray, float, float]:
    """A cheap view of one group's stacked points ``(S, m, W)`` for screening relabellings:
    ``(view, rest, allowance)``. ``view`` ``(S, m, r + 1)`` float32 holds the centred points'
    coordinates on ``r`` = :data:`SCREEN_RANK` orthonormal axes (their leading principal axes)
    and, last, their full squared lengths; ``rest`` is the sum over strata of the largest
    squared singular value of what the axes leave. Centring and rotating leave every pair sum
    unchanged, and the part beyond the axes adds ``|m X_rest|^2``, between 0 and
    ``rest |m|^2``, to the squares a sum takes off: a sum from the view is an upper bound, at
    most that far above. ``allowance`` bounds, per image of an arm, the float32 product's
    rounding (as :func:`_float32_error`: ``c`` per length and ``c (2 + c)`` per squared
    coordinate sum) and float64's on top.

    From each stratum's m x m Gram matrix, not an SVD of its m x W points (W = 1280 for a
    network's features): the axes are the leading eigenvectors carried back to the points and
    made orthonormal (QR), so the split into axes and rest is exact whatever the eigenvectors'
    rounding, and ``rest`` is the largest eigenvalue of the rest's own Gram matrix, with an
    allowance of 1e-9 of the trace for its rounding (far above it, far below any width that
    matters)."""
    wide = points.astype(np.float64)
    centred = wide - wide.mean(axis=1, keepdims=True)
    gram = np.matmul(centred, centred.transpose(0, 2, 1))  # (S, m, m)
    rank = min(SCREEN_RANK, points.shape[1], points.shape[2])
    _values, vectors = np.linalg.eigh(gram)  # ascending
    leading = vectors[:, :, ::-1][:, :, :rank]
    axes, _r = np.linalg.qr(np.matmul(centred.transpose(0, 2, 1), leading))  # (S, W, r)
    top = np.matmul(centred, axes)  # (S, m, r)
    remainder = gram - np.matmul(top, top.transpose(0, 2, 1))
    trace = np.einsum("sii->s", gram)
    largest = np.linalg.eigvalsh(remainder)[:, -1]
    rest = float((np.maximum(largest, 0.0) + 1e-9 * trace).sum())
    lengths = np.einsum("smw,smw->sm", centred, centred)
    view = np.concatenate([top, lengths[:, :, None]], axis=2).astype(np.float32)
    m = points.shape[1]
    unit = (m + 1) * 2.0**-24
    c = unit / (1 - unit)
    sizes = np.abs(top).sum(axis=1)  # (S, r)
    # Per image of the arm (the caller multiplies by n_a): the lengths' sum, times n_a, and
    # the squares (bounded by their sizes with every image counted, over n_a >= 1).
    allowance = float(
        c * lengths.sum() + c * (2 + c) * (sizes**2).sum() + 1e-9 * (lengths.sum() + 1.0)
    )
    return np.ascontiguousarray(view), rest, allowance


def _screened_sums(
    labels: np.ndarray, shape: tuple[int, ...], view: np.ndarray, rest: float, allowance: float
) -> tuple[np.ndarray, np.ndarray]:
    """Bounds on every arm's pair sum under relabellings ``labels`` ``(S, P, m)`` (arm numbers)
    of one group of strata, from its :func:`_screen_points` ``(view, rest, allowance)``:
    ``(upper, width)``, ``(P, k)`` and ``(k,)``, with each sum in ``[upper - width, upper]``
    (0 and 0 for an arm of fewer than two images)."""
    k = len(shape)
    upper = np.zeros((labels.shape[1], k))
    width = np.zeros(k)
    for a in range(k):
        if shape[a] < 2:
            continue
        products = np.matmul((labels == a).astype(np.float32), view)
        coordinates = products[:, :, :-1].astype(np.float64)
        squares = np.einsum("spr,spr->p", coordinates, coordinates)
        lengths = products[:, :, -1].astype(np.float64).sum(axis=0)
        # The product's rounding either way; |m X_rest|^2 <= (largest squared singular value
        # of X_rest) |m|^2 below.
        rounding = shape[a] * allowance
        upper[:, a] = shape[a] * lengths - squares + rounding
        width[a] = shape[a] * rest + 2 * rounding
    return upper, width


def _spread_margin(sums: np.ndarray, pairs: np.ndarray, error: np.ndarray) -> np.ndarray:
    """How far the spread statistic of arm sums ``sums`` ``(R, k)`` can move when each arm's
    sum moves by at most ``error`` ``(k,)``: spread(s + d) - spread(s) = sum_a 2 (M_a - M) d_a
    + (sum_a d_a^2 / P_a - (sum_a d_a)^2 / sum P), the last part between 0 and
    sum_a d_a^2 / P_a."""
    means = np.where(pairs > 0, sums / np.maximum(pairs, 1), 0.0)
    grand = (sums.sum(axis=1) / pairs.sum())[:, None]
    return (2 * np.abs(means - grand) * error).sum(axis=1) + (error**2 / np.maximum(pairs, 1)).sum()


def relabel_k_arms(
    strata: Sequence[Sequence[np.ndarray]],
    n_perm: int,
    rng: np.random.Generator,
    *,
    sequential_hits: int = SEQUENTIAL_HITS,
) -> PermutationResult:
    """Test whether k arms' images are all equally alike: a stratified omnibus permutation test.

    ``strata``: per prompt, a list of k point matrices (one per arm, in the same arm order in
    every stratum; an arm with fewer than two images on a prompt is passed as an empty
    ``(0, width)`` matrix). The statistic is the spread of the arms' pooled mean distances,
    ``sum_a P_a (M_a - M)^2`` with ``P_a`` arm a's number of pairs and ``M`` their pair-weighted
    mean: a permutation analogue of the one-way ANOVA's between-groups sum of squares. Arm
    labels are shuffled within each prompt; Monte Carlo with early stopping (an exact
    enumeration of k-way relabellings is rarely small enough to be worth it).
    """
    k = len(strata[0])
    sizes = [tuple(arm.shape[0] for arm in stratum) for stratum in strata]
    pairs = pair_count(np.array(sizes, dtype=float)).sum(axis=0)  # per arm, over prompts
    groups = _grouped(sizes)
    raw = {
        shape: np.stack([np.vstack(list(strata[s])) for s in positions])
        for shape, positions in groups.items()
    }
    # int8 labels: a quarter of the bytes to gather and compare (k is far below 128)
    labels = {
        shape: np.repeat(np.arange(k, dtype=np.int8 if k < 128 else np.int64), shape)
        for shape in groups
    }

    def spread(sums: np.ndarray) -> np.ndarray:
        # sums: (R, k) pair sums per arm
        means = np.where(pairs > 0, sums / np.maximum(pairs, 1), 0.0)
        grand = (sums.sum(axis=1) / pairs.sum())[:, None]
        return ((means - grand) ** 2 * pairs).sum(axis=1)

    observed_sums = np.zeros((1, k))
    for stratum in strata:
        for a, arm in enumerate(stratum):
            if arm.shape[0] >= 2:
                observed_sums[0, a] += pair_sum(arm)
    observed = float(spread(observed_sums)[0])

    bar = observed - 1e-9 * max(1.0, abs(observed))  # as permutation_p_value counts
    # The points for computing relabellings in full, made when the screen first leaves one
    # undecided (often never): compacted strata (an SVD each) and, for feature points
    # (float64), a float32 copy for the masks' products, five times quicker, with a bound on
    # their error; the relabellings whose statistic lies that close to the observed one are
    # computed again in float64, so every count is float64's. Hash bits (float32 0/1) are
    # exact in float32 already (sums of at most 2^24 ones).
    stacked: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray]] = {}
    quick: dict[tuple[int, ...], tuple[np.ndarray, float]] = {}

    def prepare_full() -> None:
        if stacked:
            return
        for shape, positions in groups.items():
            stacked[shape] = _stack([np.vstack(list(strata[s])) for s in positions])
            points = stacked[shape][0]
            if points.dtype == np.float64:
                quick[shape] = (points.astype(np.float32), _float32_error(points))

    def arm_sums(shuffled: dict[tuple[int, ...], np.ndarray], exact: bool) -> np.ndarray:
        sums = 0.0
        for shape, (points, lengths) in stacked.items():
            fast, _ = quick.get(shape, (points, None)) if not exact else (points, None)
            per_arm = [
                _masked_sums(shuffled[shape] == a, fast, lengths, shape[a])
                if shape[a] >= 2
                else np.zeros(shuffled[shape].shape[1])
                for a in range(k)
            ]
            sums = sums + np.stack(per_arm, axis=1)
        return sums

    def counted(shuffled: dict[tuple[int, ...], np.ndarray]) -> np.ndarray:
        """The relabellings' statistics, each on the right side of ``bar`` as in float64."""
        prepare_full()
        sums = arm_sums(shuffled, exact=not quick)
        null = spread(sums)
        if quick:
            # Each arm's sum is off by at most `error` (see _spread_margin).
            error = np.zeros(k)
            for shape, (_fast, bound) in quick.items():
                error += np.where(np.array(shape) >= 2, bound, 0.0)
            margin = _spread_margin(sums, pairs, error) + 1e-12 * np.maximum(1.0, np.abs(null))
            unsure = np.flatnonzero(np.abs(null - bar) <= margin)
            if unsure.size:
                again = {shape: m[:, unsure] for shape, m in shuffled.items()}
                null[unsure] = spread(arm_sums(again, exact=True))
        return null

    # The screen (see _screen_points): each arm's sum from the top SCREEN_RANK principal axes,
    # within a bound of the rest; a relabelling whose statistic is then surely below (or
    # surely at or above) the observed one needs nothing more, the others are computed in
    # full. A Monte Carlo count needs only which side of the bar each relabelling is on, so
    # those decided by the screen carry their bound (on that side) instead of the value.
    screens = {shape: _screen_points(points) for shape, points in raw.items()}
    screening = [True]

    def screened(shuffled: dict[tuple[int, ...], np.ndarray], size: int) -> np.ndarray:
        upper = np.zeros((size, k))  # each arm's sum is in [upper - width, upper]
        width = np.zeros(k)
        for shape, screen in screens.items():
            group_upper, group_width = _screened_sums(shuffled[shape], shape, *screen)
            upper += group_upper
            width += group_width
        half = width / 2
        middle = upper - half
        centre = spread(middle)
        margin = _spread_margin(middle, pairs, half) + 1e-12 * np.maximum(1.0, np.abs(centre))
        low, high = centre - margin, centre + margin
        null = np.where(high < bar, high, low)
        unsure = np.flatnonzero((low < bar) & (high >= bar))
        if unsure.size:
            null[unsure] = counted({shape: m[:, unsure] for shape, m in shuffled.items()})
        if unsure.size > size // 2:
            screening[0] = False  # the observed statistic is among the null's: no help here
        return null

    def random_batches(size: int) -> np.ndarray:
        shuffled = {}
        for shape, points in raw.items():
            order = rng.random((points.shape[0], size, points.shape[1])).argsort(axis=2)
            shuffled[shape] = labels[shape][order]  # (S, P, m), small integers
        if screening[0]:
            return screened(shuffled, size)
        return counted(shuffled)

    return permutation_p_value(
        observed, random_batches, n_perm, False, sequential_hits=sequential_hits
    )
