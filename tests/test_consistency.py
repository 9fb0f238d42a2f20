"""imgkit.analysis.consistency: hand-computed statistics, exact permutation p-values, a small
run."""

from __future__ import annotations

import importlib
import itertools
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from imgkit.analysis.consistency import (
    ArmComparison,
    baseline_distance,
    compare_arms,
    consistency_for_paths,
    consistency_table,
    pairwise_distances,
    usable_generations,
    within_arm_distances,
)
from imgkit.analysis.hashing import hamming, hash_images
from imgkit.analysis.reference import reference_distance
from imgkit.errors import ValidationError

try:
    from analysis_fixtures import hash_frame, hex_with_bits, make_run, photo, random_hashes
except ImportError:  # tests/ imported as a package
    from tests.analysis_fixtures import hash_frame, hex_with_bits, make_run, photo, random_hashes

ZERO = hex_with_bits([])
LOW4 = hex_with_bits(list(range(4)))  # 4 bits from ZERO
LOW8 = hex_with_bits(list(range(8)))  # 8 bits from ZERO, 4 from LOW4
#: The fixed scale's "unrelated photographs" distance for 64-bit phash.
REF = reference_distance("phash", 8).distance


def _row(table: pd.DataFrame, **where) -> pd.Series:
    mask = np.ones(len(table), dtype=bool)
    for key, value in where.items():
        mask &= table[key] == value
    (index,) = np.flatnonzero(mask)
    return table.iloc[index]


# ---------------------------------------------------------------------------------------------
# consistency_table on hand-computed cases


def test_three_hashes_with_known_distances():
    frame = hash_frame({("m", "a fox"): [ZERO, LOW4, LOW8]})
    row = consistency_table(frame, kinds="phash", n_boot=500).iloc[0]
    # distances 4, 8, 4
    assert row["n_images"] == 3
    assert row["n_pairs"] == 3
    assert row["mean_distance"] == pytest.approx(16 / 3)
    assert row["median_distance"] == 4
    # The fixed scale: the calibrated distance between unrelated photographs, not the run's.
    assert row["reference"] == "natural-photographs-v1"
    assert row["reference_distance"] == pytest.approx(REF)
    assert 30 < REF < 33
    assert row["similarity"] == pytest.approx(1 - (16 / 3) / REF)
    # One prompt: no run-relative figure.
    assert math.isnan(row["cross_prompt_distance"]) and math.isnan(row["cross_prompt_similarity"])
    # default threshold: floor(0.2 * reference) = 6 bits, so the two 4-bit pairs count
    assert row["near_duplicate_distance"] == 6 and row["unit"] == "bits"
    assert row["near_duplicate_share"] == pytest.approx(2 / 3)
    # The bootstrap only ever averages real pairs (4 or 8 bits), never an image with its own
    # copy, so the interval stays within the similarities of those distances.
    assert 1 - 8 / REF <= row["ci_low"] <= row["similarity"] <= row["ci_high"] <= 1 - 4 / REF


def test_near_duplicate_threshold_is_a_parameter():
    frame = hash_frame({("m", "p"): [ZERO, LOW4, LOW8]})
    # A share of the reference distance: floor(0.1 * 31.4) = 3 bits.
    row = consistency_table(frame, kinds="phash", near_duplicate=0.1, n_boot=10).iloc[0]
    assert row["near_duplicate_distance"] == 3
    assert row["near_duplicate_share"] == 0


def test_two_images_give_a_degenerate_interval():
    frame = hash_frame({("m", "p"): [ZERO, LOW8]})
    row = consistency_table(frame, kinds="phash", n_boot=300).iloc[0]
    assert row["similarity"] == pytest.approx(1 - 8 / REF)
    assert row["ci_low"] == pytest.approx(1 - 8 / REF)
    assert row["ci_high"] == pytest.approx(1 - 8 / REF)


def test_single_image_groups_have_no_statistics():
    frame = hash_frame({("m", "p"): [ZERO]})
    row = consistency_table(frame, kinds="phash", n_boot=10).iloc[0]
    assert row["n_images"] == 1 and row["n_pairs"] == 0
    assert math.isnan(row["similarity"]) and math.isnan(row["ci_low"])


def test_cross_prompt_figure_is_measured_on_the_run_and_the_scale_is_not():
    far = hex_with_bits(list(range(40)))
    frame = hash_frame({("m", "p1"): [ZERO, LOW4], ("m", "p2"): [far, far]})
    table = consistency_table(frame, kinds="phash", n_boot=50)
    # cross-prompt pairs: ZERO-far 40 (x2), LOW4-far 36 (x2) -> mean 38
    assert (table["cross_prompt_distance"] == 38).all()
    assert _row(table, prompt="p1")["cross_prompt_similarity"] == pytest.approx(1 - 4 / 38)
    assert _row(table, prompt="p2")["cross_prompt_similarity"] == 1.0
    assert baseline_distance(frame, "phash") == ("cross-prompt", 38)
    # The similarity itself is on the fixed scale.
    assert _row(table, prompt="p1")["similarity"] == pytest.approx(1 - 4 / REF)


def test_a_similarity_does_not_change_with_what_else_is_in_the_run():
    # The example: the same images scored 0.51 alone and 0.43 next to a second prompt,
    # because the yardstick was the run's own cross-prompt distance.
    # p1: five hashes a few bits apart; p2 (a related prompt): the same, 16 bits further off.
    near = [hex_with_bits([i, i + 20, 40 + i]) for i in range(5)]
    other = [hex_with_bits([i, i + 20, 40 + i, *range(44, 60)]) for i in range(5)]
    alone = hash_frame({("m", "p1"): near})
    joined = hash_frame({("m", "p1"): near, ("m", "p2"): other})
    first = _row(consistency_table(alone, kinds="phash", n_boot=50), prompt="p1")
    second = _row(consistency_table(joined, kinds="phash", n_boot=50), prompt="p1")
    assert 0.5 < first["similarity"] == second["similarity"] < 1
    assert (first["ci_low"], first["ci_high"]) == (second["ci_low"], second["ci_high"])


def test_similarity_is_clipped_at_zero():
    # Images of one prompt further apart than unrelated photographs are.
    a, b = hex_with_bits(list(range(0, 60))), hex_with_bits([])
    frame = hash_frame({("m", "p1"): [a, b], ("m", "p2"): [b]})
    row = _row(consistency_table(frame, kinds="phash", n_boot=20), prompt="p1")
    assert row["mean_distance"] == 60
    assert row["similarity"] == 0.0


def test_bootstrap_is_seeded():
    frame = hash_frame({("m", "p"): random_hashes(6, seed=1)})
    first = consistency_table(frame, kinds="phash", n_boot=400, seed=3)
    again = consistency_table(frame, kinds="phash", n_boot=400, seed=3)
    other = consistency_table(frame, kinds="phash", n_boot=400, seed=4)
    pd.testing.assert_frame_equal(first, again)
    assert not first[["ci_low", "ci_high"]].equals(other[["ci_low", "ci_high"]])


def test_only_ok_rows_with_an_image_count():
    frame = hash_frame({("m", "p"): [ZERO, LOW4, LOW8]})
    extra = pd.DataFrame(
        [
            {"arm": "m", "prompt": "p", "status": "failed", "phash": None},
            {"arm": "m", "prompt": "p", "status": "refused", "phash": None},
            {"arm": "m", "prompt": "p", "status": "in_flight", "phash": LOW8},
            {"arm": "m", "prompt": "p", "status": "ok", "phash": None},
        ]
    )
    row = consistency_table(pd.concat([frame, extra]), kinds="phash", n_boot=10).iloc[0]
    assert row["n_images"] == 3


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"kinds": "nope"}, "kinds"),
        ({"n_boot": 0}, "n_boot"),
        ({"near_duplicate": 1.5}, "near_duplicate"),
    ],
)
def test_bad_arguments(kwargs, param):
    frame = hash_frame({("m", "p"): [ZERO, LOW4]})
    with pytest.raises(ValidationError) as info:
        consistency_table(frame, **kwargs)
    assert info.value.param == param


def test_frame_needs_arm_prompt_and_hashes_or_paths():
    with pytest.raises(ValidationError, match="arm"):
        consistency_table(pd.DataFrame({"prompt": ["p"], "phash": [ZERO]}), kinds="phash")
    with pytest.raises(ValidationError, match="image_path"):
        consistency_table(pd.DataFrame({"arm": ["m"], "prompt": ["p"]}), kinds="phash")


# ---------------------------------------------------------------------------------------------
# compare_arms: exact permutation tests


def _brute_force_p(groups: list[tuple[list[str], list[str]]]) -> float:
    """Two-sided permutation p-value by listing every relabelling (independent of imgkit)."""

    def mean_within(sets):
        distances = [hamming(a, b) for s in sets for a, b in itertools.combinations(s, 2)]
        return sum(distances) / len(distances)

    observed = mean_within([g[1] for g in groups]) - mean_within([g[0] for g in groups])
    per_group = []
    for a, b in groups:
        pooled = a + b
        splits = []
        for chosen in itertools.combinations(range(len(pooled)), len(a)):
            left = [pooled[i] for i in chosen]
            right = [pooled[i] for i in range(len(pooled)) if i not in chosen]
            splits.append((left, right))
        per_group.append(splits)
    hits = total = 0
    for combo in itertools.product(*per_group):
        value = mean_within([s[1] for s in combo]) - mean_within([s[0] for s in combo])
        hits += abs(value) >= abs(observed) - 1e-9
        total += 1
    return hits / total


SPREAD = [hex_with_bits(list(range(16 * k, 16 * k + 16))) for k in range(4)]  # 32 bits apart


def test_exact_p_value_three_against_three():
    # A: three identical images; B: three images 32 bits apart from each other, 16 from A's.
    # Of the 20 ways to split six images 3/3 only the true split and its mirror are as extreme,
    # so p = 2/20 exactly: with three images each, 0.1 is the smallest p this test can give.
    frame = hash_frame({("A", "p"): [ZERO] * 3, ("B", "p"): SPREAD[:3]})
    result = compare_arms(frame, "A", "B", kind="phash")
    assert isinstance(result, ArmComparison)
    assert result.exact and result.n_permutations == 20
    assert result.p_value == pytest.approx(2 / 20)
    assert result.statistic == pytest.approx(32.0)
    assert result.more_consistent is None
    assert result.verdict.startswith("No clear difference in consistency between A and B")
    assert "p = 0.100, n = 3 each" in result.verdict
    assert "the smallest possible p is 0.100" in result.verdict


def test_exact_p_value_matches_brute_force_on_random_hashes():
    a, b = random_hashes(3, seed=11), random_hashes(4, seed=12)
    frame = hash_frame({("A", "p"): a, ("B", "p"): b})
    result = compare_arms(frame, "A", "B", kind="phash")
    assert result.exact and result.n_permutations == math.comb(7, 3)
    assert result.p_value == pytest.approx(_brute_force_p([(a, b)]))


def test_stratified_exact_p_value_across_prompts():
    a1, b1 = random_hashes(3, seed=21), random_hashes(3, seed=22)
    a2, b2 = [ZERO, LOW4, LOW8], random_hashes(3, seed=23)
    frame = hash_frame({("A", "p1"): a1, ("B", "p1"): b1, ("A", "p2"): a2, ("B", "p2"): b2})
    result = compare_arms(frame, "A", "B", kind="phash")
    assert result.n_prompts == 2
    assert result.n_permutations == 20 * 20
    assert result.p_value == pytest.approx(_brute_force_p([(a1, b1), (a2, b2)]))
    assert "across 2 prompts" in result.verdict


def test_clear_winner_verdict():
    frame = hash_frame({("steady", "p"): [ZERO] * 5, ("wobbly", "p"): [*SPREAD, LOW8]})
    result = compare_arms(frame, "wobbly", "steady", kind="phash")
    # 252 splits; only the true one and its mirror are as extreme
    assert result.p_value == pytest.approx(2 / 252)
    assert result.more_consistent == "steady"
    assert result.verdict.startswith(
        "steady was more consistent than wobbly on this prompt: phash similarity 1.00 [1.00, 1.00]"
        " vs "
    )
    assert result.verdict.endswith("p = 0.008, n = 5 each")


def test_monte_carlo_when_there_are_too_many_relabellings():
    frame = hash_frame({("A", "p"): [ZERO] * 5, ("B", "p"): [*SPREAD, LOW8]})
    result = compare_arms(frame, "A", "B", kind="phash", n_perm=200, seed=1)
    assert not result.exact and result.n_permutations == 200
    assert 1 / 201 <= result.p_value < 0.05
    again = compare_arms(frame, "A", "B", kind="phash", n_perm=200, seed=1)
    assert again == result


def test_too_few_images_says_so():
    frame = hash_frame({("A", "p"): [ZERO, ZERO], ("B", "p"): SPREAD})
    result = compare_arms(frame, "A", "B", kind="phash")
    assert result.more_consistent is None
    assert result.verdict.startswith("Too few images to tell whether A or B is more consistent")
    assert "n = 2 and 4" in result.verdict


def test_no_shared_prompt_says_so():
    frame = hash_frame({("A", "p1"): [ZERO] * 3, ("B", "p2"): SPREAD[:3]})
    result = compare_arms(frame, "A", "B", kind="phash")
    assert result.n_prompts == 0 and math.isnan(result.p_value)
    assert result.verdict.startswith("Too few images")


def test_compare_arms_validates():
    frame = hash_frame({("A", "p"): [ZERO] * 3, ("B", "p"): SPREAD[:3]})
    for kwargs, param in [
        ({"arm_a": "C", "arm_b": "B"}, "arm_a"),
        ({"arm_a": "A", "arm_b": "A"}, "arm_b"),
        ({"arm_a": "A", "arm_b": "B", "prompt": "other"}, "prompt"),
        ({"arm_a": "A", "arm_b": "B", "kind": "md5"}, "kind"),
        ({"arm_a": "A", "arm_b": "B", "n_perm": 0}, "n_perm"),
    ]:
        with pytest.raises(ValidationError) as info:
            compare_arms(frame, **{"kind": "phash", **kwargs})
        assert info.value.param == param


def test_to_dict_is_plain_data():
    frame = hash_frame({("A", "p"): [ZERO] * 3, ("B", "p"): SPREAD[:3]})
    data = compare_arms(frame, "A", "B", prompt="p", kind="phash").to_dict()
    assert data["arm_a"] == "A" and data["prompt"] == "p" and "verdict" in data


# ---------------------------------------------------------------------------------------------
# A small run of real image files


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("run"), simulated=True)


def test_run_frame_is_hashed_from_image_paths(run):
    table = consistency_table(run, kinds=("phash", "dhash"), n_boot=200)
    assert len(table) == 2 * 2 * 2  # arms x prompts x kinds
    assert (table["n_images"] == 4).all()  # the failed rows are left out
    assert (table["reference"] == "natural-photographs-v1").all()
    assert table["cross_prompt_distance"].notna().all()
    assert table["simulated"].all()
    for kind in ("phash", "dhash"):
        steady = table[(table["arm"] == "steady") & (table["kind"] == kind)]
        wobbly = table[(table["arm"] == "wobbly") & (table["kind"] == kind)]
        assert (steady["similarity"] > 0.8).all()
        assert (steady["similarity"].to_numpy() > wobbly["ci_high"].to_numpy()).all()


def test_usable_generations_keeps_the_index(run):
    rows = usable_generations(run, ("phash",))
    assert len(rows) == 16
    assert set(rows.index) <= set(run.index)
    assert rows["phash"].str.len().eq(16).all()


def test_each_image_is_hashed_once_for_every_kind(run, monkeypatch):
    # A report asks for three kinds: each image is decoded once and every kind computed from
    # it, not decoded again for each kind. Seen through the one call to hash_images.
    module = importlib.import_module("imgkit.analysis.image_features")
    calls = []

    def recording_hash_images(images, kinds, **kwargs):
        calls.append((list(images), tuple(kinds)))
        return hash_images(images, kinds, **kwargs)

    monkeypatch.setattr(module, "hash_images", recording_hash_images)
    kinds = ("phash", "dhash", "colorhash")
    rows = usable_generations(run, kinds)
    assert len(calls) == 1
    images, hashed_kinds = calls[0]
    assert hashed_kinds == kinds
    # Each image read once, as bytes (its SHA-256 is taken from the same bytes).
    files = sorted(Path(p).read_bytes() for p in rows["image_path"])
    assert sorted(images) == files
    expected = hash_images(rows["image_path"].tolist(), kinds, workers=1)
    assert rows[list(kinds)].to_numpy().tolist() == expected[list(kinds)].to_numpy().tolist()


def test_only_the_missing_hashes_are_computed(run, monkeypatch):
    module = importlib.import_module("imgkit.analysis.image_features")
    complete = usable_generations(run, ("phash", "dhash"))
    partial = run.copy()
    partial["phash"] = complete["phash"]  # every usable row has its phash; dhash is missing
    partial.loc[complete.index[:3], "dhash"] = complete["dhash"].iloc[:3]
    calls = []

    def recording_hash_images(images, kinds, **kwargs):
        calls.append((list(images), tuple(kinds)))
        return hash_images(images, kinds, **kwargs)

    monkeypatch.setattr(module, "hash_images", recording_hash_images)
    rows = usable_generations(partial, ("phash", "dhash"))
    assert [(len(paths), kinds) for paths, kinds in calls] == [(len(complete) - 3, ("dhash",))]
    pd.testing.assert_frame_equal(rows[["phash", "dhash"]], complete[["phash", "dhash"]])


def test_compare_arms_on_the_run(run):
    result = compare_arms(run, "steady", "wobbly", prompt="a cat on a sofa", n_perm=5000)
    # 4 vs 4 images: 70 relabellings, the two extreme ones give p = 2/70
    assert result.exact and result.p_value == pytest.approx(2 / 70)
    assert result.more_consistent == "steady"
    pooled = compare_arms(run, "steady", "wobbly")
    assert pooled.n_prompts == 2 and pooled.p_value < 0.01
    assert "across 2 prompts" in pooled.verdict


def test_pairwise_and_within_arm_distances(run):
    matrix = pairwise_distances(run, "steady", "a cup of coffee", kind="phash")
    assert matrix.shape == (4, 4)
    assert matrix.index.tolist() == ["r0", "r1", "r2", "r3"]
    assert matrix.attrs["simulated"] is True
    both = pairwise_distances(run, "wobbly", kind="phash")
    assert both.shape == (8, 8) and both.index[0] == "p1 r0"
    pairs = within_arm_distances(run, "phash")
    assert len(pairs) == 2 * 2 * 6
    assert pairs.attrs["baseline"] == "natural-photographs-v1"
    assert pairs.attrs["baseline_distance"] == pytest.approx(REF)
    assert pairs.attrs["cross_prompt_distance"] > 0
    with pytest.raises(ValidationError):
        pairwise_distances(run, "nobody")


# ---------------------------------------------------------------------------------------------
# consistency_for_paths


def test_folders_and_subfolders_become_arms(tmp_path):
    base = photo("chelsea").resize((64, 64))
    (tmp_path / "run" / "a").mkdir(parents=True)
    (tmp_path / "run" / "b").mkdir()
    for i in range(3):
        base.rotate(i).save(tmp_path / "run" / "a" / f"{i}.png")
        photo(["coffee", "rocket", "astronaut"][i]).resize((64, 64)).save(
            tmp_path / "run" / "b" / f"{i}.jpg"
        )
    (tmp_path / "run" / "notes.txt").write_text("not an image")
    table = consistency_for_paths(tmp_path / "run", kinds="phash", n_boot=100)
    run = str(tmp_path / "run")
    assert table["arm"].tolist() == [f"{run}/a", f"{run}/b"]
    assert table["cross_prompt_distance"].isna().all()  # one prompt: no run-relative figure
    assert table["similarity"].iloc[0] > table["similarity"].iloc[1]

    files = consistency_for_paths(
        [tmp_path / "run" / "a" / "0.png", tmp_path / "run" / "a" / "1.png"], kinds="phash"
    )
    assert files["arm"].tolist() == ["files"] and files["n_images"].iloc[0] == 2


def test_paths_that_do_not_exist_or_hold_no_image(tmp_path):
    with pytest.raises(ValidationError, match="not found"):
        consistency_for_paths(tmp_path / "missing")
    with pytest.raises(ValidationError, match="no image"):
        consistency_for_paths(tmp_path)


def test_names_split_out_are_still_importable_from_consistency():
    from imgkit.analysis import comparison, consistency, generations

    for name in consistency.__all__:
        assert getattr(consistency, name) is not None, name
    assert consistency.compare_arms is comparison.compare_arms
    assert consistency.ArmComparison is comparison.ArmComparison
    assert consistency.usable_generations is generations.usable_generations
    assert consistency.baseline_distance is generations.baseline_distance


def test_pair_distances_of_a_large_group_are_computed_a_block_at_a_time(monkeypatch):
    # Blocks of rows (for `imgkit consistency` of thousands of images) give every pair, in
    # the same order: equal for bits, equal up to rounding for features.
    from imgkit.analysis import generations

    rng = np.random.default_rng(3)
    bits = (rng.random((31, 64)) < 0.5).astype(np.float32)
    features = rng.standard_normal((31, 1280)) / 40
    whole = [generations.group_distances(p) for p in (bits, features)]
    monkeypatch.setattr(generations, "_DISTANCE_BLOCK", 7)
    blocks = [generations.group_distances(p) for p in (bits, features)]
    assert whole[0].shape == blocks[0].shape == (31 * 30 // 2,)
    assert (whole[0] == blocks[0]).all()
    np.testing.assert_allclose(blocks[1], whole[1], rtol=1e-12, atol=1e-12)
