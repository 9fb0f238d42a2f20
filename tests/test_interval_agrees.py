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
    for frame in _cases(2, 25, 8, 8):  # 12,870 relabellings: more than n_perm, so Monte Carlo
        result = compare_arms(frame, "A", "B", kind="phash", n_perm=2000)
        assert not result.exact
        if _excludes_zero(result.difference_ci) != (result.p_value < 0.05):
            disagreements.append((result.p_value, result.difference_ci))
    # Monte Carlo: the p-value and the interval are read from random relabellings, so a case
    # right at the level may fall either side; anything more is a mismatch of methods.
    assert len(disagreements) <= 1, disagreements


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
