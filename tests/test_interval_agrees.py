"""The difference's interval and the permutation test tell one story (issue 24).

The first screen of a simulated drill read "difference +0.09 [-0.01, +0.17], p = 0.008": a
bootstrap interval that reached 0 beside a permutation test that found the gap real. The
interval is now the permutation test inverted (the differences the test would not reject), so
it leaves out 0 exactly when p is below 1 - confidence.
"""

from __future__ import annotations

import numpy as np
import pytest

try:
    from analysis_fixtures import hash_frame, hex_with_bits
except ImportError:  # tests/ imported as a package
    from tests.analysis_fixtures import hash_frame, hex_with_bits

from imgkit.analysis.consistency import compare_arms


def _near_zero(rng: np.random.Generator, low: int, high: int) -> str:
    flips = rng.choice(64, int(rng.integers(low, high)), replace=False)
    return hex_with_bits(sorted(int(f) for f in flips))


def _cases(seed: int, count: int, n_a: int, n_b: int):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        a = [_near_zero(rng, 2, 14) for _ in range(n_a)]
        b = [_near_zero(rng, 6, 22) for _ in range(n_b)]
        yield hash_frame({("A", "p"): a, ("B", "p"): b})


def _excludes_zero(interval: tuple[float, float]) -> bool:
    low, high = interval
    return low > 0 or high < 0


@pytest.mark.parametrize(("n_a", "n_b"), [(5, 5), (4, 6)])
def test_exact_interval_leaves_out_zero_exactly_when_p_is_below_the_level(n_a, n_b):
    disagreements = []
    for frame in _cases(1, 60, n_a, n_b):
        result = compare_arms(frame, "A", "B", kind="phash")
        assert result.exact
        low, high = result.difference_ci
        assert low <= result.difference <= high
        if _excludes_zero(result.difference_ci) != (result.p_value < 0.05):
            disagreements.append((result.p_value, result.difference_ci))
    assert disagreements == []


def test_random_relabellings_agree_too():
    disagreements = []
    stopped_early = 0
    for frame in _cases(2, 40, 8, 8):  # 12,870 relabellings: more than n_perm, so Monte Carlo
        result = compare_arms(frame, "A", "B", kind="phash", n_perm=2000)
        assert not result.exact
        stopped_early += result.n_permutations < 2000
        if _excludes_zero(result.difference_ci) != (result.p_value < 0.05):
            disagreements.append((result.p_value, result.difference_ci))
    # The interval is read from the very relabellings the p-value was (those the sequential
    # rule stopped at included), so Monte Carlo tests agree too.
    assert disagreements == []
    assert 0 < stopped_early < 40  # both ways of ending a Monte Carlo test were met


def test_a_clear_gap_has_an_interval_away_from_zero_and_the_sentence_says_it():
    from imgkit.analysis.consistency import compare_arms as compare

    zero = hex_with_bits([])
    spread = [hex_with_bits(list(range(16 * k, 16 * k + 16))) for k in range(4)]
    frame = hash_frame({("steady", "p"): [zero] * 5, ("wobbly", "p"): [*spread, zero]})
    result = compare(frame, "steady", "wobbly", kind="phash")
    assert result.more_consistent == "steady"
    low, high = result.difference_ci
    assert 0 < low <= result.difference <= high
    assert f"[{low:+.2f}, {high:+.2f}]" in result.verdict


def _scope_ranks(result) -> dict[str, tuple[int, int]]:
    return {r.arm: (r.rank_low, r.rank_high) for r in result.ranking.itertuples()}


def test_rank_intervals_follow_the_named_winners():
    # The drill's report named gpt-image-1 the more consistent (p = 0.008) and, in the ranking
    # beside it, gave both arms the rank interval 1-2 (a bootstrap of ranks). An arm's rank
    # interval now runs from 1 + the arms named more consistent than it to the number of
    # arms less the ones it was named more consistent than.
    from imgkit.analysis.sweep import compare_all

    mismatched = []
    for frame in _cases(3, 40, 5, 5):
        result = compare_all(frame, kind="phash")
        (comparison,) = result.comparisons
        ranks = _scope_ranks(result)
        winner = comparison.more_consistent
        if winner is None:
            expected = {"A": (1, 2), "B": (1, 2)}
        else:
            loser = "B" if winner == "A" else "A"
            expected = {winner: (1, 1), loser: (2, 2)}
        if ranks != expected:
            mismatched.append((comparison.p_value, ranks, expected))
    assert mismatched == []


def test_three_arms_rank_intervals_from_the_family():
    from imgkit.analysis.sweep import compare_all

    zero = hex_with_bits([])
    near = [hex_with_bits([k]) for k in range(5)]
    spread = [hex_with_bits(list(range(12 * k, 12 * k + 12))) for k in range(5)]
    frame = hash_frame({("steady", "p"): [zero] * 5, ("close", "p"): near, ("wobbly", "p"): spread})
    result = compare_all(frame, kind="phash")
    winners = {(c.arm_a, c.arm_b): c.more_consistent for c in result.comparisons}
    ranks = _scope_ranks(result)
    for arm, (low, high) in ranks.items():
        beaten_by = sum(
            1 for pair, w in winners.items() if arm in pair and w is not None and w != arm
        )
        beats = sum(1 for w in winners.values() if w == arm)
        assert (low, high) == (1 + beaten_by, 3 - beats), (arm, ranks, winners)
    assert ranks["wobbly"][0] >= 2
