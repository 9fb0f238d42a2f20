"""The report's two-arm permutation test (relabel_two_arms) in closed form gives the results of
the quadratic form it replaced.

``_quadratic_relabel_two_arms`` is ``imgkit.analysis.resampling.relabel_two_arms`` as it was
before issue 28, kept here as the reference; on seeded inputs (hash bits and feature points,
arms of equal and unequal sizes, exact and random relabellings) both give the same result.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from imgkit.analysis import resampling
from imgkit.analysis.resampling import (
    _screen_points,
    _screened_sums,
    _smallest,
    _spread_margin,
    _stack,
    bootstrap_pair_sums,
    pair_count,
    pair_sum,
    permutation_p_value,
    relabel_k_arms,
    relabel_two_arms,
    stratum_labelings,
)


def _masked_sums(masks, points, lengths, size):
    totals = np.matmul(masks.astype(points.dtype), points).astype(np.float64)
    chosen = np.matmul(masks.astype(np.float64), lengths[:, :, None])[:, :, 0]
    return (size * chosen - np.einsum("spw,spw->sp", totals, totals)).sum(axis=0)


def _random_subsets(shape, chosen, rng):
    keys = rng.random(shape)
    picks = np.argpartition(keys, chosen - 1, axis=2)[:, :, :chosen]
    masks = np.zeros(shape, dtype=np.float32)
    np.put_along_axis(masks, picks, 1.0, axis=2)
    return masks


def _quadratic_relabel_two_arms(strata, n_perm, rng, *, sequential_hits=50):
    sizes = [(a.shape[0], b.shape[0]) for a, b in strata]
    pairs_a = sum(pair_count(n_a) for n_a, _ in sizes)
    pairs_b = sum(pair_count(n_b) for _, n_b in sizes)
    observed = (
        sum(pair_sum(b) for _, b in strata) / pairs_b
        - sum(pair_sum(a) for a, _ in strata) / pairs_a
    )
    groups = {}
    for position, size in enumerate(sizes):
        groups.setdefault(tuple(size), []).append(position)
    stacked = {
        shape: _stack([np.vstack(strata[s]) for s in positions])
        for shape, positions in groups.items()
    }

    def statistic(masks):
        sum_a = 0.0
        sum_b = 0.0
        for shape, mask in masks.items():
            n_a, n_b = shape
            points, lengths = stacked[shape]
            sum_a = sum_a + _masked_sums(mask, points, lengths, n_a)
            sum_b = sum_b + _masked_sums(1 - mask, points, lengths, n_b)
        return np.abs(sum_b / pairs_b - sum_a / pairs_a)

    total = math.prod(math.comb(n_a + n_b, n_a) for n_a, n_b in sizes)
    if total <= n_perm:
        every, _ = stratum_labelings(sizes, n_perm, rng)
        by_shape = {
            shape: np.stack([every[s] for s in positions]).astype(np.float32)
            for shape, positions in groups.items()
        }
        position = [0]

        def exact_batches(size):
            start = position[0]
            position[0] += size
            return statistic({k: m[:, start : start + size] for k, m in by_shape.items()})

        return permutation_p_value(abs(observed), exact_batches, total, True)

    def random_batches(size):
        masks = {
            shape: _random_subsets((len(groups[shape]), size, sum(shape)), shape[0], rng)
            for shape in groups
        }
        return statistic(masks)

    return permutation_p_value(
        abs(observed), random_batches, n_perm, False, sequential_hits=sequential_hits
    )


def _bits(rng, n, flip, template):
    flips = rng.random((n, template.size)) < flip
    return np.where(flips, 1 - template, template).astype(np.float32)


def _unit_features(rng, n, spread, centre):
    points = centre + spread * rng.standard_normal((n, centre.size))
    return points / np.linalg.norm(points, axis=1, keepdims=True)


def _strata(kind, sizes, seed, gap):
    rng = np.random.default_rng(seed)
    strata = []
    for n_a, n_b in sizes:
        if kind == "bits":
            template = rng.integers(0, 2, size=64)
            strata.append((_bits(rng, n_a, 0.1, template), _bits(rng, n_b, 0.1 + gap, template)))
        else:
            centre = rng.standard_normal(1280)
            strata.append(
                (
                    _unit_features(rng, n_a, 0.02, centre),
                    _unit_features(rng, n_b, 0.02 + gap / 10, centre),
                )
            )
    return strata


@pytest.mark.parametrize("kind", ["bits", "features"])
@pytest.mark.parametrize(
    "sizes",
    [
        [(3, 3)],  # 20 relabellings: exact
        [(4, 3), (3, 3)],  # unequal pairs, exact (35 x 20)
        [(20, 20)] * 6,  # the report's usual shape: random relabellings
        [(20, 20), (20, 18), (19, 20)],  # a few failed images: unequal, random
    ],
)
@pytest.mark.parametrize("gap", [0.0, 0.05, 0.3])
def test_the_closed_form_test_is_the_quadratic_forms(kind, sizes, gap):
    strata = _strata(kind, sizes, seed=len(sizes) * 10 + int(gap * 100), gap=gap)
    new = relabel_two_arms(strata, 2000, np.random.default_rng(5))
    old = _quadratic_relabel_two_arms(strata, 2000, np.random.default_rng(5))
    assert (new.p_value, new.n_permutations, new.exact, new.stopped_early) == (
        old.p_value,
        old.n_permutations,
        old.exact,
        old.stopped_early,
    )
    # (the reference returns the statistic as permutation_p_value has it: its size)
    assert math.isclose(abs(new.statistic), old.statistic, rel_tol=1e-12, abs_tol=1e-15)
    if new.exact:
        assert new.smallest_p == old.smallest_p


def _quadratic_relabel_k_arms(strata, n_perm, rng, *, sequential_hits=50):
    """``relabel_k_arms`` as it was before issue 28 (every product in the points' dtype)."""
    k = len(strata[0])
    sizes = [tuple(arm.shape[0] for arm in stratum) for stratum in strata]
    pairs = pair_count(np.array(sizes, dtype=float)).sum(axis=0)
    groups = {}
    for position, size in enumerate(sizes):
        groups.setdefault(tuple(size), []).append(position)
    stacked = {
        shape: _stack([np.vstack(list(strata[s])) for s in positions])
        for shape, positions in groups.items()
    }
    labels = {shape: np.repeat(np.arange(k), shape) for shape in groups}

    def spread(sums):
        means = np.where(pairs > 0, sums / np.maximum(pairs, 1), 0.0)
        grand = (sums.sum(axis=1) / pairs.sum())[:, None]
        return ((means - grand) ** 2 * pairs).sum(axis=1)

    observed_sums = np.zeros((1, k))
    for stratum in strata:
        for a, arm in enumerate(stratum):
            if arm.shape[0] >= 2:
                observed_sums[0, a] += pair_sum(arm)
    observed = float(spread(observed_sums)[0])

    def random_batches(size):
        sums = np.zeros((size, k))
        for shape, (points, lengths) in stacked.items():
            order = rng.random((points.shape[0], size, points.shape[1])).argsort(axis=2)
            shuffled = labels[shape][order]
            for a in range(k):
                if shape[a] < 2:
                    continue
                sums[:, a] += _masked_sums(shuffled == a, points, lengths, shape[a])
        return spread(sums)

    return permutation_p_value(
        observed, random_batches, n_perm, False, sequential_hits=sequential_hits
    )


def _k_strata(kind, sizes, seed, gap):
    rng = np.random.default_rng(seed)
    strata = []
    for arm_sizes in sizes:
        if kind == "bits":
            template = rng.integers(0, 2, size=64)
            arms = [_bits(rng, n, 0.1 + gap * a, template) for a, n in enumerate(arm_sizes)]
        else:
            centre = rng.standard_normal(1280)
            arms = [
                _unit_features(rng, n, 0.02 + gap * a / 10, centre) for a, n in enumerate(arm_sizes)
            ]
        strata.append(arms)
    return strata


@pytest.mark.parametrize("kind", ["bits", "features"])
@pytest.mark.parametrize(
    "sizes", [[(5, 5, 5)] * 4, [(20, 20, 20, 20, 20)] * 3, [(6, 5, 0), (6, 6, 6)]]
)
@pytest.mark.parametrize("gap", [0.0, 0.002, 0.05])
@pytest.mark.parametrize("seed", [1, 2])
def test_the_k_arm_test_counts_as_the_float64_one(kind, sizes, gap, seed):
    # Feature products in float32 with a bound on their error, float64 again near the
    # observed statistic: the same p-values as every product in float64.
    strata = _k_strata(kind, sizes, seed=seed, gap=gap)
    for stratum in strata:  # an arm with no images on a prompt is an empty (0, W) matrix
        for a, arm in enumerate(stratum):
            if arm.shape[0] == 0:
                stratum[a] = np.zeros((0, stratum[0].shape[1]), dtype=stratum[0].dtype)
    new = relabel_k_arms(strata, 3000, np.random.default_rng(seed))
    old = _quadratic_relabel_k_arms(strata, 3000, np.random.default_rng(seed))
    assert (new.p_value, new.n_permutations, new.stopped_early) == (
        old.p_value,
        old.n_permutations,
        old.stopped_early,
    )
    assert new.statistic == old.statistic


def test_relabellings_tied_with_the_observed_one_count_as_before():
    # Two arms made of the same two images: many relabellings give exactly the observed
    # statistic (the ones near it are computed again in float64); they count as before.
    rng = np.random.default_rng(8)
    strata = []
    for _ in range(3):
        centre = rng.standard_normal(1280)
        same = _unit_features(rng, 2, 0.05, centre)
        strata.append([same, same.copy(), _unit_features(rng, 2, 0.2, centre)])
    new = relabel_k_arms(strata, 3000, np.random.default_rng(3))
    old = _quadratic_relabel_k_arms(strata, 3000, np.random.default_rng(3))
    assert (new.p_value, new.n_permutations) == (old.p_value, old.n_permutations)


@pytest.mark.parametrize("compacted", [False, True])
@pytest.mark.parametrize("kind", ["bits", "features"])
@pytest.mark.parametrize("sizes", [(20, 20, 20, 20, 20), (6, 5, 0), (3, 9, 2)])
def test_the_k_arm_screen_bounds_every_arm_sum(kind, sizes, compacted):
    # The screen decides most relabellings from 8 principal axes: each arm's exact float64
    # sum must lie in its [upper - width, upper], and the spread within its margin of it.
    strata = _k_strata(kind, [sizes] * 6, seed=4, gap=0.01)
    for stratum in strata:
        for a, arm in enumerate(stratum):
            if arm.shape[0] == 0:
                stratum[a] = np.zeros((0, stratum[0].shape[1]), dtype=stratum[0].dtype)
    # The test screens the strata as given (1280 features, 64 bits); compacted ones too.
    points, lengths = _stack([np.vstack(list(s)) for s in strata])
    raw = np.stack([np.vstack(list(s)) for s in strata])
    rng = np.random.default_rng(5)
    order = rng.random((points.shape[0], 300, points.shape[1])).argsort(axis=2)
    labels = np.repeat(np.arange(len(sizes)), sizes)[order]
    upper, width = _screened_sums(labels, sizes, *_screen_points(points if compacted else raw))
    exact = np.stack(
        [
            _masked_sums(labels == a, points.astype(np.float64), lengths, n)
            if n >= 2
            else np.zeros(labels.shape[1])
            for a, n in enumerate(sizes)
        ],
        axis=1,
    )
    assert (exact <= upper).all() and (exact >= upper - width).all()
    assert (width[np.array(sizes) >= 2] > 0).all()
    pairs = pair_count(np.array([sizes] * 6, dtype=float)).sum(axis=0)

    def spread(sums):
        means = np.where(pairs > 0, sums / np.maximum(pairs, 1), 0.0)
        grand = (sums.sum(axis=1) / pairs.sum())[:, None]
        return ((means - grand) ** 2 * pairs).sum(axis=1)

    middle = upper - width / 2
    margin = _spread_margin(middle, pairs, width / 2)
    assert (np.abs(spread(exact) - spread(middle)) <= margin + 1e-12).all()


def test_masks_from_the_keys_first_32_bits_are_the_ranked_masks():
    # The partition runs on floor(key 2^32): rows where keys merged there straddle the
    # boundary are ranked from the full keys, so every mask is the ranking's.
    rng = np.random.default_rng(11)
    keys = rng.random((4000, 12))
    # Rows whose 5th and 6th smallest keys share their first 32 bits (and a few others).
    for row in range(0, 4000, 7):
        order = np.argsort(keys[row])
        keys[row, order[5]] = keys[row, order[4]] + 2.0**-45
    keys[3, :] = keys[3, 0]  # every key equal: the ranking's order decides
    ranked = keys.argsort(axis=1).argsort(axis=1) < 5
    assert (_smallest(keys, 5) == ranked).all()
    assert (_smallest(keys, 0) == 0).all()


def test_bootstrap_replicates_kept_are_the_replicates_drawn(monkeypatch):
    # The second request of the same group with a generator in the same state is answered
    # from the kept replicates: the same numbers, and the generator left where drawing leaves it.
    monkeypatch.setattr(resampling, "_BOOTSTRAPS", type(resampling._BOOTSTRAPS)())
    rng = np.random.default_rng(2)
    points = _unit_features(rng, 9, 0.05, rng.standard_normal(1280)) / np.sqrt(2)
    first_rng, second_rng = np.random.default_rng([1, 2]), np.random.default_rng([1, 2])
    first = bootstrap_pair_sums(points, 500, first_rng)
    assert len(resampling._BOOTSTRAPS) == 1
    second = bootstrap_pair_sums(points, 500, second_rng)
    assert len(resampling._BOOTSTRAPS) == 1
    assert all((a == b).all() for a, b in zip(first, second, strict=True))
    assert first_rng.random() == second_rng.random()
    fresh = resampling._bootstrap_pair_sums(points, 500, np.random.default_rng([1, 2]))
    assert all((a == b).all() for a, b in zip(first, fresh, strict=True))
    # Other points, another count or another generator state: drawn afresh.
    bootstrap_pair_sums(points[1:], 500, np.random.default_rng([1, 2]))
    bootstrap_pair_sums(points, 400, np.random.default_rng([1, 2]))
    bootstrap_pair_sums(points, 500, np.random.default_rng([1, 3]))
    assert len(resampling._BOOTSTRAPS) == 4
    # What a caller does with the arrays it gets does not change the kept ones.
    second[0][:] = -1
    again = bootstrap_pair_sums(points, 500, np.random.default_rng([1, 2]))
    assert (again[0] == first[0]).all()
