"""The planner's power in closed form gives the very numbers of the quadratic form it replaced.

``_quadratic_power_at`` below is ``imgkit.analysis.power.power_at`` as it was before issue 28
(an ``(S, P, W)`` array per simulated run and relabelling), kept here as the reference: the
closed form must agree with it on seeded inputs, bit for bit for hash bits (every term is an
integer) and in every power for learned-feature points (whose nulls differ by rounding only).
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from imgkit.analysis.power import (
    _relabelled_sums,
    assumed_templates,
    own_templates,
    power_at,
    shifted_templates,
)
from imgkit.analysis.resampling import _smallest, pair_count, stratum_labelings


def _group_sums(points):
    wide = points.astype(np.float64)
    total = wide.sum(axis=-2)
    lengths = np.einsum("...nw,...nw->...", wide, wide)
    return points.shape[-2] * lengths - np.einsum("...w,...w->...", total, total)


def _quadratic_null(stacked, mask, n):
    """The statistic under every relabelling, as the planner computed it before issue 28."""
    null = np.zeros((stacked.shape[0], mask.shape[0]))
    total = stacked.sum(axis=1, dtype=np.float64)[:, None, :]
    wide = stacked.astype(np.float64)
    lengths = np.einsum("snw,snw->sn", wide, wide)
    all_lengths = lengths.sum(axis=1)[:, None]
    weights = mask.astype(stacked.dtype)
    for start in range(0, weights.shape[0], 256):
        chunk = weights[start : start + 256]
        ones_a = np.matmul(chunk[None], stacked).astype(np.float64)
        ones_b = total - ones_a
        chosen = lengths @ chunk.T.astype(np.float64)
        sum_a = n * chosen - np.einsum("spw,spw->sp", ones_a, ones_a)
        sum_b = n * (all_lengths - chosen) - np.einsum("spw,spw->sp", ones_b, ones_b)
        null[:, start : start + 256] += sum_b - sum_a
    return null


def _ranked_labelings(sizes, n_perm, rng):
    """Random relabellings as they were drawn before issue 28 (every row ranked, two sorts)."""
    total = math.prod(math.comb(a + b, a) for a, b in sizes)
    if total <= n_perm:
        return stratum_labelings(sizes, n_perm, rng)  # the exact enumeration is unchanged
    masks = []
    for n_a, n_b in sizes:
        keys = rng.random((n_perm, n_a + n_b))
        masks.append(keys.argsort(axis=1).argsort(axis=1) < n_a)
    return masks, False


def _quadratic_power_at(templates, n, *, level, n_sims, n_perm, rng):
    strata_sizes = [(n, n)] * len(templates)
    masks, exact = _ranked_labelings(strata_sizes, n_perm, rng)
    pairs = pair_count(n) * len(templates)
    observed = np.zeros(n_sims)
    null = np.zeros((n_sims, masks[0].shape[0]))
    for t, mask in zip(templates, masks, strict=True):
        arm_a = t.simulate("a", n, n_sims, rng)
        arm_b = t.simulate("b", n, n_sims, rng)
        observed += _group_sums(arm_b) - _group_sums(arm_a)
        null += _quadratic_null(np.concatenate([arm_a, arm_b], axis=1), mask, n)
    observed = np.abs(observed / pairs)
    null = np.abs(null / pairs)
    hits = (null >= observed[:, None] - 1e-9 * np.maximum(1.0, observed[:, None])).sum(axis=1)
    draws = null.shape[1]
    p_values = hits / draws if exact else (1 + hits) / (1 + draws)
    power = float(np.mean(p_values < level))
    return power, math.sqrt(power * (1 - power) / n_sims)


def _bits(rng, n, flip, width=64):
    template = rng.integers(0, 2, size=width)
    flips = rng.random((n, width)) < flip
    return np.where(flips, 1 - template, template).astype(np.float32)


def _features(rng, n, spread, width=32):
    centre = rng.standard_normal(width)
    return centre + spread * rng.standard_normal((n, width))


def _templates(case: str, seed: int):
    rng = np.random.default_rng(seed)
    if case == "bits shifted":
        return [shifted_templates(_bits(rng, 6, 0.1), 4.0)[0] for _ in range(3)]
    if case == "bits own":
        return [own_templates(_bits(rng, 5, 0.05), _bits(rng, 5, 0.2))]
    if case == "features shifted":
        return [shifted_templates(_features(rng, 6, 0.5), 2.0, 40.0)[0] for _ in range(2)]
    if case == "features own":
        return [own_templates(_features(rng, 5, 0.3), _features(rng, 7, 0.6)) for _ in range(2)]
    if case == "features assumed":
        reference = SimpleNamespace(distance=30.0, sd=6.0, unit="squared distance", bits=None)
        return [assumed_templates(0.7, reference, 3.0, rng)[0]]
    reference = SimpleNamespace(distance=32.0, sd=4.0, unit="bits", bits=64)
    return [assumed_templates(0.8, reference, 5.0, rng)[0] for _ in range(2)]


CASES = (
    "bits shifted",
    "bits own",
    "bits assumed",
    "features shifted",
    "features own",
    "features assumed",
)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("n", [3, 4, 10, 40])
def test_the_closed_form_power_is_the_quadratic_forms(case, n):
    # n = 3 and 4 on one prompt enumerate every relabelling (20, 70: an exact test); the
    # others draw random ones; the same seed gives both the same simulated runs.
    templates = _templates(case, seed=n)
    settings = {"level": 0.05, "n_sims": 60, "n_perm": 300}
    new = power_at(templates, n, rng=np.random.default_rng(7), **settings)
    old = _quadratic_power_at(templates, n, rng=np.random.default_rng(7), **settings)
    assert new == old
    assert 0 <= new[0] <= 1


@pytest.mark.parametrize("case", CASES)
def test_the_null_distribution_is_the_quadratic_forms(case):
    # The statistic under each relabelling itself, not only the powers it leads to: the same
    # bits for hashes, the same numbers up to rounding for feature points.
    templates = _templates(case, seed=3)
    rng = np.random.default_rng(11)
    n = 12
    (mask,), _exact = stratum_labelings([(n, n)], 500, rng)
    t = templates[0]
    stacked = np.concatenate([t.simulate("a", n, 40, rng), t.simulate("b", n, 40, rng)], axis=1)
    new = _relabelled_sums(stacked, mask, n)
    old = _quadratic_null(stacked, mask, n)
    assert new.shape == old.shape == (40, 500)
    if case.startswith("bits"):
        assert np.array_equal(new, old)
    else:
        np.testing.assert_allclose(new, old, rtol=1e-10, atol=1e-9 * np.abs(old).max())
    # The relabelling that keeps every image in its arm gives the observed statistic.
    identity = np.zeros((1, 2 * n), dtype=bool)
    identity[0, :n] = True
    observed = _group_sums(stacked[:, n:]) - _group_sums(stacked[:, :n])
    np.testing.assert_allclose(
        _relabelled_sums(stacked, identity, n)[:, 0], observed, rtol=1e-12, atol=1e-9
    )


def test_relabellings_are_drawn_as_before_even_with_tied_keys():
    rng = np.random.default_rng(4)
    sizes = [(7, 7), (30, 30)]
    new, exact = stratum_labelings(sizes, 500, np.random.default_rng(9))
    old, _ = _ranked_labelings(sizes, 500, np.random.default_rng(9))
    assert not exact and all(np.array_equal(a, b) for a, b in zip(new, old, strict=True))
    # Keys tied at the boundary (a draw that almost never happens) fall back to the ranking.
    keys = rng.random((50, 10))
    keys[:, 3] = keys[:, 5] = np.partition(keys, 4, axis=1)[:, 4]
    masks = _smallest(keys, 5)
    assert np.array_equal(masks, keys.argsort(axis=1).argsort(axis=1) < 5)
    assert (masks.sum(axis=1) == 5).all()
