"""Many comparisons stated together: the bit-count engine, Holm/BH, compare_all.

The engine works from hash bits instead of distance matrices; these tests hold it to the
matrix definitions on small cases, then check the family-wise guarantees with known truth.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from imgkit.analysis.comparison import compare_arms
from imgkit.analysis.hashing import distance_matrix
from imgkit.analysis.multiplicity import adjust_p_values
from imgkit.analysis.omnibus import relabel_k_arms
from imgkit.analysis.resampling import (
    bit_matrix,
    bootstrap_pair_sums,
    pair_sum,
    relabel_two_arms,
)
from imgkit.analysis.sweep import ALL_PROMPTS, compare_all
from imgkit.errors import ValidationError

try:
    from analysis_fixtures import hash_frame, random_hashes
except ImportError:  # tests/ imported as a package
    from tests.analysis_fixtures import hash_frame, random_hashes


def _noisy_copies(template: str, n: int, flip: float, rng: np.random.Generator) -> list[str]:
    """``n`` hashes that are ``template`` with each of its 64 bits flipped with prob ``flip``."""
    value = int(template, 16)
    out = []
    for _ in range(n):
        mask = sum(1 << b for b in range(64) if rng.random() < flip)
        out.append(f"{value ^ mask:016x}")
    return out


# --------------------------------------------------------------------------------------------
# The engine against the matrix definitions


def test_bits_and_pair_sums_match_the_distance_matrix():
    hashes = random_hashes(9, seed=3)
    bits = bit_matrix(hashes, 64)
    assert bits.shape == (9, 64)
    matrix = distance_matrix(hashes)
    assert pair_sum(bits) == matrix[np.triu_indices(9, 1)].sum()
    # 42-bit colorhash hex has 11 digits: the leading pad bits are dropped.
    assert bit_matrix(["3ffffffffff"], 42).sum() == 42


def test_bootstrap_sums_are_pairs_of_distinct_original_images():
    hashes = random_hashes(6, seed=4)
    matrix = distance_matrix(hashes).astype(float)
    sums, counts = bootstrap_pair_sums(bit_matrix(hashes, 64), 50, np.random.default_rng(7))
    draws = np.random.default_rng(7).integers(0, 6, size=(50, 6))
    for row, draw in enumerate(draws):
        pairs = [(i, j) for i, j in itertools.combinations(draw, 2) if i != j]
        assert counts[row] == len(pairs)
        assert sums[row] == pytest.approx(sum(matrix[i, j] for i, j in pairs))


def _brute_force_p(a: list[str], b: list[str]) -> float:
    # Every split of the pooled images into |a| and |b|, statistic from the distance matrix.
    pooled = a + b
    matrix = distance_matrix(pooled).astype(float)

    def mean(group):
        pairs = list(itertools.combinations(group, 2))
        return sum(matrix[i, j] for i, j in pairs) / len(pairs)

    everyone = range(len(pooled))
    observed = abs(mean(range(len(a), len(pooled))) - mean(range(len(a))))
    stats = []
    for chosen in itertools.combinations(everyone, len(a)):
        rest = [i for i in everyone if i not in chosen]
        stats.append(abs(mean(rest) - mean(chosen)))
    return float(np.mean(np.array(stats) >= observed - 1e-9))


def test_two_arm_exact_test_matches_brute_force():
    rng = np.random.default_rng(0)
    template = random_hashes(1, seed=5)[0]
    a = _noisy_copies(template, 5, 0.05, rng)
    b = _noisy_copies(template, 4, 0.25, rng)
    result = relabel_two_arms([(bit_matrix(a, 64), bit_matrix(b, 64))], 10_000, rng)
    assert result.exact and result.n_permutations == math.comb(9, 5)
    assert result.p_value == pytest.approx(_brute_force_p(a, b))
    assert result.statistic > 0  # arm A is the more consistent one


def test_monte_carlo_test_stops_once_the_p_value_is_settled():
    rng = np.random.default_rng(1)
    hashes = random_hashes(40, seed=6)
    strata = [(bit_matrix(hashes[:20], 64), bit_matrix(hashes[20:], 64))]
    result = relabel_two_arms(strata, 10_000, rng)
    # Identical arms: p is large, so 50 relabellings as extreme come quickly.
    assert not result.exact and result.stopped_early and result.n_permutations < 1000
    assert result.p_value == pytest.approx(50 / result.n_permutations)


def test_omnibus_test_sees_one_odd_arm_among_equals():
    rng = np.random.default_rng(2)
    template = random_hashes(1, seed=8)[0]
    same = [bit_matrix(_noisy_copies(template, 8, 0.1, rng), 64) for _ in range(3)]
    assert relabel_k_arms([same], 2000, rng).p_value > 0.01
    odd = [*same[:2], bit_matrix(_noisy_copies(template, 8, 0.35, rng), 64)]
    assert relabel_k_arms([odd], 2000, rng).p_value < 0.001


# --------------------------------------------------------------------------------------------
# Corrections


def test_holm_and_benjamini_hochberg_adjusted_p_values():
    p = [0.01, 0.04, 0.03, 0.005, math.nan]
    holm = adjust_p_values(p, "holm")
    np.testing.assert_allclose(holm[:4], [0.03, 0.06, 0.06, 0.02])
    assert math.isnan(holm[4])
    np.testing.assert_allclose(adjust_p_values(p, "bh")[:4], [0.02, 0.04, 0.04, 0.02])
    np.testing.assert_allclose(adjust_p_values(p, "none")[:4], p[:4])
    assert adjust_p_values([0.9, 0.8], "holm").max() <= 1
    with pytest.raises(ValidationError, match="correction"):
        adjust_p_values(p, "bonferroni")


# --------------------------------------------------------------------------------------------
# compare_all


def _sweep_frame(levels: dict[str, float], n: int, seed: int, prompts=("p1",)) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    groups = {}
    for k, prompt in enumerate(prompts):
        template = random_hashes(1, seed=100 + k)[0]
        for arm, flip in levels.items():
            groups[(arm, prompt)] = _noisy_copies(template, n, flip, rng)
    return hash_frame(groups)


def test_compare_all_states_every_pair_with_raw_and_adjusted_p():
    frame = _sweep_frame({"a": 0.02, "b": 0.02, "c": 0.3, "d": 0.3}, n=8, seed=1)
    result = compare_all(frame, kind="phash", n_perm=2000, n_boot=300)
    assert len(result.comparisons) == 6 and result.family_size == 6
    for c in result.comparisons:
        assert c.p_adjusted >= c.p_value and c.correction == "holm"
        assert (c.more_consistent is not None) == (c.p_adjusted < 0.05)
        low, high = c.difference_ci
        assert low <= c.difference <= high
    winners = {(c.arm_a, c.arm_b): c.more_consistent for c in result.comparisons}
    assert winners[("a", "c")] == "a" and winners[("b", "d")] == "b"
    assert winners[("a", "b")] is None and winners[("c", "d")] is None
    # The omnibus test and the ranking: two clear tiers.
    assert result.omnibus["differ"].all()
    ranking = result.ranking.set_index("arm")
    assert set(ranking.loc[["a", "b"], "rank_high"]) <= {1, 2}
    assert set(ranking.loc[["c", "d"], "rank_low"]) <= {3, 4}
    assert (ranking["rank_low"] <= ranking["rank"]).all()
    assert (ranking["rank"] <= ranking["rank_high"]).all()
    pairs = result.pairs
    assert list(pairs["scope"].unique()) == ["p1"]
    assert {"p_value", "p_adjusted", "difference_low", "difference_high"} <= set(pairs.columns)


def test_benjamini_hochberg_names_at_least_the_winners_holm_names():
    frame = _sweep_frame({"a": 0.05, "b": 0.12, "c": 0.2, "d": 0.28}, n=7, seed=3)
    holm = compare_all(frame, kind="phash", n_perm=2000, n_boot=100)
    bh = compare_all(frame, kind="phash", correction="bh", n_perm=2000, n_boot=100)
    named = {(c.arm_a, c.arm_b) for c in holm.comparisons if c.more_consistent}
    named_bh = {(c.arm_a, c.arm_b) for c in bh.comparisons if c.more_consistent}
    assert named <= named_bh
    assert [c.p_value for c in holm.comparisons] == [c.p_value for c in bh.comparisons]
    assert "Benjamini-Hochberg" in bh.summary()[-1]


def test_several_prompts_pool_by_default_and_join_the_family_by_prompt():
    frame = _sweep_frame({"a": 0.02, "b": 0.3}, n=5, seed=4, prompts=("p1", "p2"))
    pooled = compare_all(frame, kind="phash", n_perm=2000, n_boot=100)
    assert [c.prompt for c in pooled.comparisons] == [None]
    assert "across 2 prompts" in pooled.comparisons[0].verdict
    detailed = compare_all(frame, kind="phash", by_prompt=True, n_perm=2000, n_boot=100)
    assert [c.prompt for c in detailed.comparisons] == [None, "p1", "p2"]
    assert detailed.family_size == 3
    assert list(detailed.omnibus["scope"]) == [ALL_PROMPTS, "p1", "p2"]
    # Each raw p is compare_arms' own.
    for c in detailed.comparisons:
        alone = compare_arms(frame, "a", "b", c.prompt, "phash", n_perm=2000, n_boot=100)
        assert alone.p_value == c.p_value and alone.ci_a == c.ci_a


def test_compare_all_checks_its_arguments():
    frame = _sweep_frame({"a": 0.1, "b": 0.1, "c": 0.1}, n=4, seed=5)
    with pytest.raises(ValidationError, match="correction"):
        compare_all(frame, kind="phash", correction="sidak")
    with pytest.raises(ValidationError, match="arms"):
        compare_all(frame, kind="phash", arms=["a", "zzz"])
    with pytest.raises(ValidationError, match="arms"):
        compare_all(frame, kind="phash", arms=["a"])
    two = compare_all(frame, kind="phash", arms=["a", "c"], n_perm=500, n_boot=50)
    assert [(c.arm_a, c.arm_b) for c in two.comparisons] == [("a", "c")]


def test_identical_arms_rarely_name_a_winner_once_corrected():
    # Known truth: every arm draws from one distribution. Uncorrected, some pair of four arms
    # looks "more consistent" in many runs; corrected, in at most alpha of them (give or take
    # the sampling error of 60 runs).
    any_raw = any_corrected = 0
    runs = 60
    for seed in range(runs):
        frame = _sweep_frame({arm: 0.15 for arm in "abcd"}, n=5, seed=1000 + seed)
        result = compare_all(frame, kind="phash", n_perm=1000, n_boot=20)
        any_raw += any(c.p_value < 0.05 for c in result.comparisons)
        any_corrected += any(c.more_consistent for c in result.comparisons)
    assert any_corrected <= 0.05 * runs + 2
    assert any_raw > any_corrected
