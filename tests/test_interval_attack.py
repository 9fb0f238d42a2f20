"""Cases where the permutation interval or the rank intervals said something the verdict did not.

Each was found by attacking the claim "the difference's interval leaves out 0 exactly when the
unadjusted p is below 1 - confidence" (and "a ranking never says less than the verdicts beside
it") with the inputs a user meets: p landing on the level, a Monte Carlo test stopped by the
sequential rule near the level, few relabellings, arms ranked over prompts they do not share.
"""

from __future__ import annotations

import math

import numpy as np

try:
    from analysis_fixtures import hash_frame, hex_with_bits
except ImportError:  # tests/ imported as a package
    from tests.analysis_fixtures import hash_frame, hex_with_bits

from imgkit.analysis.consistency import compare_arms
from imgkit.analysis.sweep import compare_all


def _excludes_zero(interval: tuple[float, float]) -> bool:
    low, high = interval
    return low > 0 or high < 0


def test_a_p_of_exactly_the_level_leaves_zero_in_the_interval():
    # 3 images against 7: 120 relabellings, of which 6 are as extreme as the observed one, so
    # p = 6/120 = 0.05: not below alpha = 0.05, and no winner is named. The interval left out 0
    # (+0.01 to +0.55) because 1 - 0.95 is 0.050000000000000044 in floating point.
    a = ["8029800009000000", "6068000020012000", "0840140000000002"]
    b = [
        "80c8440820800103",
        "c50050a084085a00",
        "1002098080000010",
        "424400e1202e6628",
        "80720081a8610029",
        "2000000100000c00",
        "408145793000002a",
    ]
    result = compare_arms(hash_frame({("A", "p"): a, ("B", "p"): b}), "A", "B", kind="phash")
    assert result.exact and result.p_value == 0.05
    assert result.more_consistent is None
    assert not _excludes_zero(result.difference_ci)


def test_nineteen_random_relabellings_at_p_equal_to_the_level_agree_too():
    # Monte Carlo: p = (1 + 0) / (1 + 19) = 0.05 exactly, the smallest p 19 draws can give.
    rng = np.random.default_rng(3)

    def near(low: int, high: int) -> str:
        flips = rng.choice(64, int(rng.integers(low, high)), replace=False)
        return hex_with_bits(sorted(int(f) for f in flips))

    a = [near(2, 14) for _ in range(5)]
    b = [near(6, 22) for _ in range(5)]
    frame = hash_frame({("A", "p"): a, ("B", "p"): b})
    result = compare_arms(frame, "A", "B", kind="phash", n_perm=19)
    assert not result.exact and result.p_value == 0.05
    assert not _excludes_zero(result.difference_ci)


def test_a_test_stopped_by_the_sequential_rule_just_below_the_level_agrees():
    # 8 images an arm, 12,870 relabellings: Monte Carlo. The sequential rule stopped at the
    # 50th relabelling as extreme as the observed one, the 1,015th drawn: p = 50/1015 = 0.049,
    # and A was named more consistent. The interval was read from those 1,015 values as if
    # p were (1 + K) / (1 + 1015) = 0.050, and reached 0.
    a = [
        "0200008000080000",
        "008500300800000a",
        "0080081000004000",
        "3800009210040401",
        "2000280400409180",
        "0028800020080100",
        "4488250012442001",
        "000000080487c060",
    ]
    b = [
        "0000620303b00916",
        "a818002010004100",
        "800262a002010804",
        "0025a080c6040297",
        "0148400002010068",
        "0000a40004009810",
        "104a004030011160",
        "c081492000160192",
    ]
    result = compare_arms(hash_frame({("A", "p"): a, ("B", "p"): b}), "A", "B", kind="phash")
    assert not result.exact and result.n_permutations == 1015
    assert result.p_value < 0.05 and result.more_consistent == "A"
    assert _excludes_zero(result.difference_ci)


def _null_frame(seed: int, n: int) -> object:
    rng = np.random.default_rng(seed)

    def near() -> str:
        flips = rng.choice(64, int(rng.integers(4, 18)), replace=False)
        return hex_with_bits(sorted(int(f) for f in flips))

    return hash_frame(
        {("A", "p"): [near() for _ in range(n)], ("B", "p"): [near() for _ in range(n)]}
    )


def test_an_early_stop_far_from_the_level_still_gives_a_finite_interval_at_99_percent():
    # Two like arms: the sequential rule stops after a hundred-odd relabellings (p near 0.5),
    # too few to place a 1% tail, and the 99% interval was [-inf, +inf] (or the largest of
    # them). The interval needs the relabellings the rule would read for a shift that far out.
    for seed in range(4):
        result = compare_arms(_null_frame(seed, 8), "A", "B", kind="phash", confidence=0.99)
        assert result.p_value > 0.2
        assert all(math.isfinite(v) for v in result.difference_ci), result.difference_ci
        assert "inf" not in result.verdict
        low95, high95 = compare_arms(_null_frame(seed, 8), "A", "B", kind="phash").difference_ci
        low, high = result.difference_ci
        assert low <= low95 and high95 <= high  # 99% holds the 95% interval


def _five_against_five(seed: int):
    """Arm A's five hashes 2-13 bits from zero, arm B's 6-21: a gap p alone may not settle."""
    rng = np.random.default_rng(seed)

    def near(low: int, high: int) -> str:
        flips = rng.choice(64, int(rng.integers(low, high)), replace=False)
        return hex_with_bits(sorted(int(f) for f in flips))

    return hash_frame(
        {("A", "p"): [near(2, 14) for _ in range(5)], ("B", "p"): [near(6, 22) for _ in range(5)]}
    )


def test_too_few_relabellings_for_any_interval_says_so_in_words():
    # With 10 relabellings no p can be below 0.05 (the smallest is 1/11): every difference is
    # accepted. The sentence read "difference +0.25 [-inf, +inf]".
    frame = _five_against_five(3)
    result = compare_arms(frame, "A", "B", kind="phash", n_perm=10)
    assert "inf" not in result.verdict
    assert "no interval" in result.verdict and "10 relabellings" in result.verdict


def test_the_observed_rank_lies_within_its_interval_when_arms_do_not_share_every_prompt():
    # B beat A on the one prompt they share (p1); A alone has 40 identical images on p2, so
    # pooled over its prompts A ranks first. The pooled scope gave A rank 1 with interval 2-2
    # and B rank 2 with interval 1-1.
    zero = hex_with_bits([])
    near = [hex_with_bits([k]) for k in range(5)]
    spread = [hex_with_bits(list(range(12 * k, 12 * k + 12))) for k in range(5)]
    frame = hash_frame({("A", "p1"): spread, ("B", "p1"): near, ("A", "p2"): [zero] * 40})
    result = compare_all(frame, kind="phash", by_prompt=True)
    assert any(c.more_consistent == "B" for c in result.comparisons)
    for row in result.ranking.itertuples():
        assert row.rank_low <= row.rank <= row.rank_high, result.ranking
    per_prompt = result.ranking[result.ranking["scope"] == "p1"].set_index("arm")
    assert (per_prompt.loc["B", "rank_low"], per_prompt.loc["B", "rank_high"]) == (1, 1)
    assert (per_prompt.loc["A", "rank_low"], per_prompt.loc["A", "rank_high"]) == (2, 2)


def test_a_prompt_named_like_the_pooled_scope_keeps_its_own_rank_intervals():
    # Scopes were told apart by their names: a prompt called "all prompts" merged its ranking
    # with the pooled one's, and three arms got rank intervals 1-5.
    zero = hex_with_bits([])
    near = [hex_with_bits([k]) for k in range(5)]
    spread = [hex_with_bits(list(range(12 * k, 12 * k + 12))) for k in range(5)]
    frame = hash_frame(
        {
            ("A", "all prompts"): spread,
            ("B", "all prompts"): near,
            ("A", "q"): near,
            ("B", "q"): spread,
            ("C", "q"): [zero] * 5,
        }
    )
    result = compare_all(frame, kind="phash", by_prompt=True, correction="none")
    assert (result.ranking["rank_high"] <= 3).all(), result.ranking
    named = result.ranking[result.ranking["scope"] == "all prompts"]
    # The pooled scope: C beat A and B on q (the one prompt C is on); the prompt "all
    # prompts": B beat A.
    winners = {(c.prompt, c.arm_a, c.arm_b): c.more_consistent for c in result.comparisons}
    assert winners[("all prompts", "A", "B")] == "B"
    assert winners[(None, "A", "C")] == winners[(None, "B", "C")] == "C"
    rows = sorted(zip(named["arm"], named["rank_low"], named["rank_high"], strict=True))
    assert rows == [("A", 2, 2), ("A", 2, 3), ("B", 1, 1), ("B", 2, 3), ("C", 1, 1)]


def test_identical_images_are_not_blamed_on_too_few_images():
    # Ten identical images: every relabelling gives the same difference (smallest p 1.000).
    # The sentence said "With this few images no split could reach p < 0.05 ... more repeats
    # are needed", which more repeats of the same image never change, and printed the
    # interval as "[-0.00, +0.00]".
    zero = hex_with_bits([])
    result = compare_arms(
        hash_frame({("A", "p"): [zero] * 5, ("B", "p"): [zero] * 5}), "A", "B", kind="phash"
    )
    assert result.p_value == 1.0 and result.more_consistent is None
    assert "this few images" not in result.verdict
    assert "every relabelling" in result.verdict.lower()
    assert "-0.00" not in result.verdict


def test_a_confidence_a_hair_below_one_is_not_rounded_to_one():
    # Rounding 1 - confidence to 12 digits (so that 1 - 0.95 is 0.05) must not make a
    # confidence of 1 - 1e-13 a level of 0 (a division by zero under the sequential rule).
    result = compare_arms(_null_frame(0, 8), "A", "B", kind="phash", confidence=1 - 1e-13)
    assert result.difference_ci[0] <= result.difference <= result.difference_ci[1]


def test_an_interval_at_another_level_than_alpha_says_its_level():
    # confidence 0.9 beside alpha 0.05: a 90% interval [+0.01, +0.49] left out 0 beside "No
    # clear difference ... p = 0.095" with nothing to say it was not the test's 95%.
    frame = _five_against_five(3)
    result = compare_arms(frame, "A", "B", kind="phash", confidence=0.9)
    assert result.more_consistent is None and _excludes_zero(result.difference_ci)
    assert "(90% interval)" in result.verdict
    assert "% interval)" not in compare_arms(frame, "A", "B", kind="phash").verdict
