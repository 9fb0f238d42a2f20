"""Resampling images, not pairs, computed in time linear in the images, for any measure.

Pairwise distances within a group are not independent (every image is in n - 1 pairs), so the
confidence intervals resample images (a bootstrap over images, Efron & Tibshirani 1993, ch. 6)
and the tests permute the arm labels of images within each prompt (a stratified permutation
test, Good 2005), never pairs.

None of it builds a distance matrix. Every measure gives each image a point whose squared
Euclidean distance to another's is the measure's distance (:meth:`imgkit.analysis.measures.
Measure.points`: a hash's 0/1 bits, whose squared distance is the Hamming distance; a network's
unit features over sqrt 2, whose squared distance is the cosine distance). For points ``x_i``
with squared lengths ``q_i``, the sum of the distances over every pair of a set weighted by
``w`` (how often a bootstrap replicate draws each image, or a relabelling's 0/1 mask) is::

    sum_{i<j} w_i w_j |x_i - x_j|^2  =  (sum w) (w . q)  -  |w X|^2

(for bits this is ``sum_b c_b (n - c_b)`` with ``c_b`` the images whose bit ``b`` is set). Many
replicates or relabellings at once are one matrix product, ``(replicates x images) @ (images x
width)``: work and memory grow with images x width per replicate, not with images squared. The
width is kept small first without changing any distance: bits that every image of a set shares
are dropped, and feature vectors (1280 numbers for n images) are rotated into the at most n - 1
dimensions their differences span (:func:`compact`). Bits stay 0/1, so every sum over them is an
exact integer in floating point and the results do not depend on summation order.

Monte Carlo permutation p-values stop early once they are settled (the sequential rule of
Besag & Clifford 1991: stop at the ``h``-th relabelling at least as extreme as the observed one,
p = h / L); otherwise ``p = (1 + hits) / (1 + draws)`` (Phipson & Smyth 2010). Both are valid
p-values: under the null hypothesis P(p <= alpha) <= alpha.
"""

from __future__ import annotations

import collections
import hashlib
import itertools
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from imgkit.analysis.inversion import critical_value, sequential_length
from imgkit.errors import ValidationError

__all__ = [
    "DEFAULT_N_BOOT",
    "DEFAULT_N_PERM",
    "PermutationResult",
    "bit_matrix",
    "bootstrap_pair_sums",
    "check_resampling_arguments",
    "compact",
    "pair_count",
    "pair_sum",
    "percentile_interval",
    "permutation_p_value",
    "relabel_two_arms",
    "similarity_score",
    "stratum_labelings",
]

#: Bootstrap replicates and permutation relabellings the verdicts use wherever they are shown
#: (report, drill panel, command line): with the same seed, one run gives the same intervals
#: and p-values everywhere (a Monte Carlo p depends on how many relabellings are drawn).
DEFAULT_N_BOOT = 2000
DEFAULT_N_PERM = 10_000

#: Relabellings (or replicates) handled per matrix product; bounds the temporaries.
BATCH = 1000
#: Stop a Monte Carlo test after this many relabellings at least as extreme as the observed one
#: (Besag & Clifford 1991): the p-value is then known to about +-15% of itself, and surely
#: far above any threshold a correction could set.
SEQUENTIAL_HITS = 50


# --------------------------------------------------------------------------------------------
# Bits and pair sums


def bit_matrix(hex_hashes: Sequence[str], bits: int) -> np.ndarray:
    """The hashes as an ``(n, bits)`` float32 array of 0s and 1s (most significant bit first).

    ``bits`` is the hash's length in bits (hex strings round up to whole digits: a 42-bit
    colorhash has 11). Raises :class:`ValidationError` for non-hex strings or mixed lengths.
    """
    hashes = list(hex_hashes)
    if not hashes:
        return np.zeros((0, bits), dtype=np.float32)
    width = len(hashes[0])
    if any(len(h) != width for h in hashes):
        raise ValidationError("hashes", sorted({len(h) for h in hashes}), "one hex length")
    pad = width % 2
    try:
        raw = bytes.fromhex("".join(("0" * pad) + h for h in hashes))
    except (ValueError, TypeError):
        raise ValidationError("hashes", hashes[:3], "hex strings (0-9, a-f)") from None
    as_bytes = np.frombuffer(raw, dtype=np.uint8).reshape(len(hashes), (width + pad) // 2)
    unpacked = np.unpackbits(as_bytes, axis=1)
    return unpacked[:, unpacked.shape[1] - bits :].astype(np.float32)


def pair_count(n: int | np.ndarray) -> float | np.ndarray:
    """``n (n - 1) / 2``, the number of unordered pairs of ``n`` images."""
    return n * (n - 1) / 2


def _squared_lengths(points: np.ndarray) -> np.ndarray:
    points = points.astype(np.float64, copy=False)
    return np.einsum("...i,...i->...", points, points)


def compact(points: np.ndarray) -> np.ndarray:
    """The same images as points of fewer columns, every pairwise distance unchanged.

    0/1 bit matrices (float32) lose the columns every image shares; feature points (float64)
    are centred and rotated onto the principal axes of their differences, of which there are at
    most ``n - 1`` (a thin SVD), so a set of n images costs n columns, not the network's 1280.
    """
    if points.shape[0] == 0:
        return points
    if points.dtype == np.float32:
        kept = points[:, points.min(axis=0) != points.max(axis=0)]
        return kept if kept.shape[1] else points[:, :1] * 0
    if points.shape[1] <= points.shape[0]:
        return points
    centred = points - points.mean(axis=0)
    u, singular, _vt = np.linalg.svd(centred, full_matrices=False)
    return u * singular


def pair_sum(points: np.ndarray) -> float:
    """The sum of the distances over every pair of rows (squared Euclidean distances, which
    for a 0/1 bit matrix are Hamming distances)."""
    n = points.shape[0]
    if n < 2:
        return 0.0
    total = points.sum(axis=0, dtype=np.float64)
    return float(n * _squared_lengths(points).sum() - np.dot(total, total))


def bootstrap_pair_sums(
    points: np.ndarray, n_boot: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``(sums, counts)`` of ``n_boot`` bootstrap replicates of one group of images.

    Each replicate draws n images with replacement and sums the distances over pairs of draws
    of *different* original images (``sums``), of which there are ``counts`` (a pair of an
    image with its own copy is not a pair of generations, and would pull the mean toward 0;
    its distance is 0, so only the count needs correcting). The replicate's mean distance is
    ``sums / counts`` (undefined when counts is 0).
    """
    n = points.shape[0]
    if n < 2:
        return np.zeros(n_boot), np.zeros(n_boot)
    # A report asks for the same group's replicates several times (its consistency table, the
    # first screen's similarities, the verdicts' ranking and intervals), each time from a
    # generator seeded by the group's names: the same points and the same generator state give
    # the same replicates, so they are kept (and the generator left where drawing would).
    key = (
        points.dtype.str,
        points.shape,
        hashlib.blake2b(np.ascontiguousarray(points).tobytes(), digest_size=16).digest(),
        int(n_boot),
        type(rng.bit_generator).__name__,
        repr(rng.bit_generator.state),
    )
    with _BOOTSTRAPS_LOCK:  # analyses may run in threads (a notebook's widgets)
        kept = _BOOTSTRAPS.get(key)
        if kept is not None:
            _BOOTSTRAPS.move_to_end(key)
    if kept is not None:
        sums, counts, after = kept
        rng.bit_generator.state = after
        return sums.copy(), counts.copy()
    sums, counts = _bootstrap_pair_sums(points, n_boot, rng)
    with _BOOTSTRAPS_LOCK:
        _BOOTSTRAPS[key] = (sums.copy(), counts.copy(), rng.bit_generator.state)
        while len(_BOOTSTRAPS) > _BOOTSTRAPS_KEPT:
            _BOOTSTRAPS.popitem(last=False)
    return sums, counts


#: Bootstrap replicates kept (least recently used dropped first): 2,000 replicates are 32 kB.
_BOOTSTRAPS_KEPT = 2048
_BOOTSTRAPS: collections.OrderedDict[tuple, tuple[np.ndarray, np.ndarray, dict]] = (
    collections.OrderedDict()
)
_BOOTSTRAPS_LOCK = threading.Lock()


def _bootstrap_pair_sums(
    points: np.ndarray, n_boot: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    n = points.shape[0]
    sums = np.zeros(n_boot)
    counts = np.zeros(n_boot)
    points = compact(points)
    lengths = _squared_lengths(points)
    for start in range(0, n_boot, BATCH):
        stop = min(n_boot, start + BATCH)
        rows = stop - start
        draws = rng.integers(0, n, size=(rows, n))
        weights = np.bincount(
            (draws + np.arange(rows)[:, None] * n).ravel(), minlength=rows * n
        ).reshape(rows, n)
        totals = (weights.astype(points.dtype) @ points).astype(np.float64)
        sums[start:stop] = n * (weights @ lengths) - np.einsum("rb,rb->r", totals, totals)
        counts[start:stop] = (n * n - (weights.astype(np.float64) ** 2).sum(axis=1)) / 2
    return sums, counts


def similarity_score(mean_distance: np.ndarray | float, reference: float) -> np.ndarray | float:
    """``clip(1 - mean_distance / reference, 0, 1)``; NaN when the reference is 0 or not finite."""
    if not reference or not np.isfinite(reference):
        return np.full_like(np.asarray(mean_distance, dtype=float), np.nan)
    return np.clip(1.0 - np.asarray(mean_distance, dtype=float) / reference, 0.0, 1.0)


def percentile_interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    """The central ``confidence`` percentile interval of the finite values (NaN, NaN if none)."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return math.nan, math.nan
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def check_resampling_arguments(n_boot: int, confidence: float, near_duplicate: float) -> None:
    """Raise :class:`ValidationError` for a bad replicate count, confidence or threshold."""
    if not isinstance(n_boot, int | np.integer) or isinstance(n_boot, bool) or n_boot < 1:
        raise ValidationError("n_boot", n_boot, "an integer >= 1")
    if not 0 < confidence < 1:
        raise ValidationError("confidence", confidence, "a number between 0 and 1, e.g. 0.95")
    if not 0 <= near_duplicate < 1:
        raise ValidationError(
            "near_duplicate", near_duplicate, "a share of the reference distance in [0, 1)"
        )


# --------------------------------------------------------------------------------------------
# Permutation p-values


@dataclass(frozen=True)
class PermutationResult:
    """A permutation test's outcome.

    ``p_value``; ``n_permutations`` relabellings looked at; ``exact`` when every relabelling
    was enumerated; ``stopped_early`` when a Monte Carlo test stopped at the sequential rule;
    ``smallest_p`` the smallest p-value the data could give (exact tests only, else NaN).
    ``critical`` (two-arm tests asked for one, else NaN): the largest ``|statistic|`` the test
    would not reject at the level asked for, so ``statistic +- critical`` is the interval of
    shifts the test accepts (see :func:`relabel_two_arms`).
    """

    statistic: float
    p_value: float
    n_permutations: int
    exact: bool
    stopped_early: bool
    smallest_p: float
    critical: float = math.nan


def permutation_p_value(
    observed: float,
    null_batches: Callable[[int], np.ndarray],
    n_total: int,
    exact: bool,
    *,
    sequential_hits: int = SEQUENTIAL_HITS,
    seen: list[np.ndarray] | None = None,
) -> PermutationResult:
    """The p-value of ``observed`` against a null distribution drawn in batches.

    ``null_batches(size)`` returns the next ``size`` null statistics (non-negative: larger is
    more extreme). With ``exact`` the ``n_total`` values are every relabelling (the observed
    one among them) and ``p = hits / n_total``; otherwise they are random relabellings, read
    until ``sequential_hits`` are at least as extreme (then ``p = hits / L``, Besag & Clifford
    1991) or ``n_total`` are drawn (then ``p = (1 + hits) / (1 + n_total)``). ``seen``, when
    given, receives the null values drawn, in order (for :func:`critical_value`): those the
    p-value was read from, then the rest of the batch the sequential rule stopped in.
    """
    # Relabellings equal to the observed one count as "as extreme" despite rounding.
    bar = observed - 1e-9 * max(1.0, abs(observed))
    hits = 0
    count = 0
    largest = -math.inf
    count_at_largest = 0
    while count < n_total:
        size = min(BATCH, n_total - count)
        null = null_batches(size)
        extreme = null >= bar
        if not exact and hits + int(extreme.sum()) >= sequential_hits:
            position = int(np.flatnonzero(np.cumsum(extreme) + hits >= sequential_hits)[0])
            length = count + position + 1
            if seen is not None:
                seen.append(null)  # the whole batch, in order: the interval reads past L
            return PermutationResult(
                observed, sequential_hits / length, length, False, True, math.nan
            )
        hits += int(extreme.sum())
        count += size
        if seen is not None:
            seen.append(null)
        if exact and null.size:
            top = float(null.max())
            near = null >= top - 1e-9 * max(1.0, abs(top))
            if top > largest + 1e-9 * max(1.0, abs(top)):
                largest, count_at_largest = top, int(near.sum())
            elif top >= largest - 1e-9 * max(1.0, abs(top)):
                count_at_largest += int(near.sum())
    if exact:
        return PermutationResult(
            observed, hits / n_total, n_total, True, False, count_at_largest / n_total
        )
    return PermutationResult(observed, (1 + hits) / (1 + n_total), n_total, False, False, math.nan)


# --------------------------------------------------------------------------------------------
# Relabelling images between arms, within each prompt


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
        masks.append(_smallest(keys, n_a))
    return masks, False


def _smallest(keys: np.ndarray, count: int) -> np.ndarray:
    """Per row, True at the ``count`` smallest keys (random numbers in [0, 1)): the images a
    random relabelling puts in arm A. The same masks as ranking every row (two sorts) with one
    partition: a key is among the smallest when it is at most the row's count-th smallest,
    unless that key is tied, in which case the row is ranked as before.

    The partition runs on the keys' first 32 bits (``floor(key 2^32)`` as uint32: an order-
    keeping map, so it can only merge keys, never swap them), twice as quick as on the float64
    keys; a row where merged keys straddle the count-th place has too many keys at or below it
    (a chance of about 1e-7 a row) and is ranked from the full keys, so every mask is the one
    the float64 keys give."""
    if count <= 0:
        return np.zeros(keys.shape, dtype=bool)
    coarse = (keys * 2.0**32).astype(np.uint32)
    kth = np.partition(coarse, count - 1, axis=1)[:, count - 1 : count]
    masks = coarse <= kth
    tied = np.flatnonzero(np.count_nonzero(masks, axis=1) != count)
    if tied.size:
        masks[tied] = keys[tied].argsort(axis=1).argsort(axis=1) < count
    return masks


def _stack(strata: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The strata's points stacked ``(S, m, W)`` after :func:`compact`, and their squared
    lengths ``(S, m)``.

    Each stratum is compacted on its own (relabelling never mixes strata); strata are padded
    with zero columns, which add nothing to any distance, to a common width.
    """
    kept = [compact(points) for points in strata]
    width = max(1, max(k.shape[1] for k in kept))
    stacked = np.zeros((len(kept), kept[0].shape[0], width), dtype=kept[0].dtype)
    for s, points in enumerate(kept):
        stacked[s, :, : points.shape[1]] = points
    return stacked, _squared_lengths(stacked)


def _masked_sums(
    masks: np.ndarray, points: np.ndarray, lengths: np.ndarray, size: int
) -> np.ndarray:
    """Pair sums of the images each mask picks: ``(S, P, m)`` masks of ``size`` images each,
    ``(S, m, W)`` points with ``(S, m)`` squared lengths -> ``(P,)`` summed over strata."""
    totals = np.matmul(masks.astype(points.dtype), points).astype(np.float64)  # (S, P, W)
    chosen = np.matmul(masks.astype(np.float64), lengths[:, :, None])[:, :, 0]  # (S, P)
    return (size * chosen - np.einsum("spw,spw->sp", totals, totals)).sum(axis=0)


def _float32_error(points: np.ndarray) -> np.ndarray:
    """Per stratum of ``points`` ``(S, m, W)``, a bound on the error of a group's pair sum
    ``n sum L - |m X|^2`` when ``m X`` is a float32 product: each of its coordinates is a sum
    of at most m points' coordinates, each rounded once to float32, so it is off by at most
    ``c A_w`` with ``c = (m + 1) u / (1 - (m + 1) u)`` (u = 2^-24, any order of summation) and
    ``A_w`` the sum of the coordinates' sizes; its square's sum then by at most
    ``c (2 + c) sum_w A_w^2``. Summed over the strata, with float64's own roundings on top."""
    m = points.shape[1]
    unit = (m + 1) * 2.0**-24
    c = unit / (1 - unit)
    sizes = np.abs(points).sum(axis=1)  # (S, W)
    squares = np.einsum("sw,sw->s", sizes, sizes)
    lengths = np.einsum("smw,smw->s", points, points)
    return float((c * (2 + c) * squares + 1e-12 * (m * lengths + squares)).sum())


def _grouped(sizes: Sequence[tuple[int, ...]]) -> dict[tuple[int, ...], list[int]]:
    """Strata positions by their arm sizes: strata of one shape are relabelled together."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for position, size in enumerate(sizes):
        groups.setdefault(tuple(size), []).append(position)
    return groups


def _random_subsets(shape: tuple[int, int, int], chosen: int, rng: np.random.Generator):
    """Float masks of ``shape`` (strata, relabellings, images) with ``chosen`` ones per row:
    the ``chosen`` smallest of random keys (see :func:`_smallest`)."""
    keys = rng.random(shape)
    flat = keys.reshape(-1, shape[2])
    return _smallest(flat, chosen).reshape(shape).astype(np.float64)


def _two_arm_parts(
    stacked: np.ndarray, lengths: np.ndarray, n_a: int, n_b: int
) -> tuple[float, np.ndarray, np.ndarray]:
    """The parts of the two arms' pair sums under a relabelling ``m`` (``(S, m)`` 0/1, n_a
    ones per stratum) of strata ``stacked`` ``(S, m, W)`` with squared lengths ``(S, m)``:
    ``(b0, slope_a, slope_b)`` with, summed over the strata and ``Q = sum_s |m_s X_s|^2``,

        sum_A = slope_a . m - Q        sum_B = b0 + slope_b . m - Q

    (``sum_B = n_b (sum L - m . L) - |T - m X|^2`` with T the images' sum; the squares of
    ``m X`` are the only part that is not linear in m). Integers for hash bits."""
    wide = stacked.astype(np.float64)
    total = wide.sum(axis=1)  # (S, W)
    b0 = float((n_b * lengths.sum(axis=1) - np.einsum("sw,sw->s", total, total)).sum())
    cross = np.matmul(wide, total[:, :, None])[:, :, 0]  # (S, m): x_i . T
    return b0, n_a * lengths, 2 * cross - n_b * lengths


def relabel_two_arms(
    strata: Sequence[tuple[np.ndarray, np.ndarray]],
    n_perm: int,
    rng: np.random.Generator,
    *,
    sequential_hits: int = SEQUENTIAL_HITS,
    confidence: float | None = None,
) -> PermutationResult:
    """Test whether two arms' images are equally alike: a stratified permutation test.

    ``strata``: per prompt, the points of arm A's and arm B's images (each with at least two;
    see the module docstring). The statistic is ``mean_distance_b - mean_distance_a`` with each
    mean pooled over the strata (pair sums over pair counts); the test is two-sided. Exact when
    there are at most ``n_perm`` relabellings, else Monte Carlo with early stopping (see the
    module docstring). Strata of the same sizes are relabelled together in one batched matrix
    product.

    With ``confidence``, the result's ``critical`` inverts the test: under a shift model (the
    statistic's spread about a true difference is the null's spread about 0) the differences
    the test accepts at level ``1 - confidence`` are ``statistic +- critical``, read from the
    relabellings the p-value was read from (a test the sequential rule stopped reads on to
    where that rule would decide a larger shift: :func:`critical_value`). That interval
    leaves out 0 exactly when ``p < 1 - confidence`` (exact, Monte Carlo or stopped), where
    a bootstrap interval, rough with a handful of images an arm, could reach 0 beside a p of
    0.008.
    """
    sizes = [(a.shape[0], b.shape[0]) for a, b in strata]
    pairs_a = sum(pair_count(n_a) for n_a, _ in sizes)
    pairs_b = sum(pair_count(n_b) for _, n_b in sizes)
    observed = (
        sum(pair_sum(b) for _, b in strata) / pairs_b
        - sum(pair_sum(a) for a, _ in strata) / pairs_a
    )
    groups = _grouped(sizes)
    # The statistic is linear in the relabelling but for Q = sum |m X|^2 (see _two_arm_parts),
    # whose weight 1/pairs_a - 1/pairs_b is 0 when both arms have as many pairs: then one
    # product of the masks with a slope per image gives every relabelling's statistic, on the
    # images as they are. Otherwise Q needs the images' sums per relabelling, on compacted points.
    linear = pairs_a == pairs_b
    # (Q is moved by a translation of the points, so every part of one group comes from
    # the same points: compacted ones move them.)
    parts = {}
    for shape, positions in groups.items():
        if linear:
            points = np.stack([np.vstack(strata[s]) for s in positions])
            lengths = _squared_lengths(points)
        else:
            points, lengths = _stack([np.vstack(strata[s]) for s in positions])
        parts[shape] = (*_two_arm_parts(points, lengths, *shape), points)

    def statistic(masks: dict[tuple[int, ...], np.ndarray]) -> np.ndarray:
        sum_a = 0.0
        sum_b = 0.0
        difference = 0.0
        for shape, mask in masks.items():
            b0, slope_a, slope_b, points = parts[shape]
            weights = mask.astype(np.float64, copy=False)  # (S, P, m)
            if linear:
                slope = (slope_b - slope_a)[:, :, None]
                difference = difference + b0 + np.matmul(weights, slope)[:, :, 0].sum(axis=0)
                continue
            ones = np.matmul(mask.astype(points.dtype), points).astype(np.float64)  # (S, P, W)
            squares = np.einsum("spw,spw->sp", ones, ones).sum(axis=0)
            sum_a = sum_a + np.matmul(weights, slope_a[:, :, None])[:, :, 0].sum(axis=0) - squares
            sum_b = (
                sum_b + b0 + np.matmul(weights, slope_b[:, :, None])[:, :, 0].sum(axis=0) - squares
            )
        if linear:
            return np.abs(difference / pairs_a)
        return np.abs(sum_b / pairs_b - sum_a / pairs_a)

    total_relabellings = math.prod(math.comb(n_a + n_b, n_a) for n_a, n_b in sizes)
    null_values: list[np.ndarray] | None = [] if confidence is not None else None
    if total_relabellings <= n_perm:
        every, _ = stratum_labelings(sizes, n_perm, rng)
        by_shape = {
            shape: np.stack([every[s] for s in positions]).astype(np.float32)
            for shape, positions in groups.items()
        }
        position = [0]

        def exact_batches(size: int) -> np.ndarray:
            start = position[0]
            position[0] += size
            return statistic({k: m[:, start : start + size] for k, m in by_shape.items()})

        result = permutation_p_value(
            abs(observed), exact_batches, total_relabellings, True, seen=null_values
        )
    else:

        def random_batches(size: int) -> np.ndarray:
            masks = {
                shape: _random_subsets((len(groups[shape]), size, sum(shape)), shape[0], rng)
                for shape in groups
            }
            return statistic(masks)

        result = permutation_p_value(
            abs(observed),
            random_batches,
            n_perm,
            False,
            sequential_hits=sequential_hits,
            seen=null_values,
        )
    critical = math.nan
    if null_values is not None:
        # From the very relabellings the p-value was read from, so the interval agrees with it.
        # 1 - 0.95 is 0.050000000000000044 in floating point, which p = 0.05 is below.
        level = round(1.0 - confidence, 12) or 1.0 - confidence
        seen = np.concatenate(null_values)
        hits = None
        if result.stopped_early:
            # The sequential rule decides every |t| from the first min(M, n_perm) relabellings
            # (M the longest run whose p = h / M is not below the level); a test stopped before
            # them reads on, so an accepted shift beyond the observed one is known too.
            longest = sequential_length(sequential_hits, level)
            needed = min(n_perm, longest)
            while seen.size < needed:
                seen = np.concatenate([seen, random_batches(min(BATCH, needed - seen.size))])
            hits = sequential_hits if longest < n_perm else None
        critical = critical_value(seen, level, result.exact, sequential_hits=hits)
    return PermutationResult(
        observed,
        result.p_value,
        result.n_permutations,
        result.exact,
        result.stopped_early,
        result.smallest_p,
        critical,
    )
