"""imgkit.analysis.divergence: hand-computed measures, escaping, tables over a run."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from imgkit.analysis.divergence import (
    STOP_WORDS,
    divergence_summary,
    divergence_table,
    divergence_vs_distance,
    edit_distance,
    html_diff,
    jaccard_distance,
    prompt_divergence,
    rewrite_variability,
    tokenize,
)
from imgkit.analysis.reference import reference_distance
from imgkit.errors import ValidationError

try:
    from analysis_fixtures import hash_frame, hex_with_bits, make_run
except ImportError:  # tests/ imported as a package
    from tests.analysis_fixtures import hash_frame, hex_with_bits, make_run


def test_tokenize():
    assert tokenize("A RED fox, don't-stop!  3D") == ["a", "red", "fox", "don't", "stop", "3d"]
    assert tokenize(None) == []
    assert tokenize("") == []


def test_jaccard_by_hand():
    assert jaccard_distance(
        ["a", "red", "fox"], ["a", "red", "fox", "in", "snow"]
    ) == pytest.approx(1 - 3 / 5)
    assert jaccard_distance(["x"], ["y"]) == 1.0
    assert jaccard_distance([], []) == 0.0
    # sets: repeats do not count twice
    assert jaccard_distance(["a", "a", "b"], ["a", "b"]) == 0.0


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("", "", 0),
        ("a b c", "", 3),
        ("", "a b", 2),
        ("a red fox", "a red fox", 0),
        ("a red fox", "a blue fox", 1),  # substitution
        ("a red fox", "a fox", 1),  # deletion
        ("a fox", "a quick brown fox", 2),  # insertions
        ("kitten sitting on mat", "sitting kitten on a mat", 3),
        ("one two three", "three two one", 2),
    ],
)
def test_edit_distance_by_hand(a, b, expected):
    assert edit_distance(a.split(), b.split()) == expected
    assert edit_distance(b.split(), a.split()) == expected


def test_prompt_divergence_by_hand():
    result = prompt_divergence(
        "A red fox in the snow",
        "A photorealistic red fox standing in deep snow at dawn",
    )
    # original: a red fox in the snow (6 words); revised: 10 words
    assert result["original_words"] == 6
    assert result["revised_words"] == 10
    # sets: {a, red, fox, in, the, snow} vs {a, photorealistic, red, fox, standing, in, deep,
    # snow, at, dawn}: 5 shared, 11 in the union
    assert result["jaccard_distance"] == pytest.approx(1 - 5 / 11)
    assert result["words_added"] == ["photorealistic", "standing", "deep", "at", "dawn"]
    assert result["words_dropped"] == ["the"]
    assert (result["n_added"], result["n_dropped"]) == (5, 1)
    assert result["length_ratio"] == pytest.approx(10 / 6)
    # a [photorealistic] red fox [standing] in [the->deep] snow [at] [dawn]: 5 operations
    assert result["edit_operations"] == 5
    assert result["edit_distance"] == pytest.approx(5 / 10)
    # content words of the original: red, fox, snow ("a", "in", "the" are stop words); all kept
    assert result["content_retention"] == 1.0


def test_content_retention_counts_distinct_content_words():
    result = prompt_divergence("red red fox and the moon", "a fox")
    # content: red, fox, moon -> only fox survives
    assert result["content_retention"] == pytest.approx(1 / 3)
    assert {"and", "the", "a"} <= STOP_WORDS


def test_empty_inputs():
    result = prompt_divergence("", "something new")
    assert math.isnan(result["length_ratio"])
    assert math.isnan(result["content_retention"])
    assert result["edit_distance"] == 1.0
    assert prompt_divergence("", "")["edit_distance"] == 0.0
    with pytest.raises(ValidationError):
        prompt_divergence(3, "x")


# ---------------------------------------------------------------------------------------------
# html_diff


def test_html_diff_marks_changes():
    out = html_diff("a red fox", "a blue fox jumps")
    assert out == (
        '<span class="imgkit-diff">a <del class="imgkit-del">red</del> '
        '<ins class="imgkit-ins">blue</ins> fox <ins class="imgkit-ins">jumps</ins></span>'
    )


def test_html_diff_ignores_case_and_punctuation_when_matching():
    assert "<del" not in html_diff("A red fox.", "a red fox")


def test_html_diff_escapes_everything():
    hostile = "<script>alert(1)</script> \"quoted\" 'single' & <img src=x onerror=alert(2)>"
    out = html_diff(hostile, "safe " + hostile + " <b>bold</b>")
    assert "<script>" not in out
    assert "<img" not in out
    assert "<b>" not in out
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out
    assert "&quot;quoted&quot;" in out
    assert "&#x27;single&#x27;" in out
    assert "&amp;" in out
    # the only tags are the ones html_diff writes itself
    import re

    tags = set(re.findall(r"</?([a-z]+)", out))
    assert tags <= {"span", "ins", "del"}
    removed_only = html_diff(hostile, None)
    assert "<script>" not in removed_only and removed_only.count("<del") == 1


# ---------------------------------------------------------------------------------------------
# Tables over a run frame


def _frame():
    return pd.DataFrame(
        [
            {
                "arm": "d3",
                "prompt": "a red fox",
                "repeat": 0,
                "status": "ok",
                "revised_prompt": "a red fox in the snow",
            },
            {
                "arm": "d3",
                "prompt": "a red fox",
                "repeat": 1,
                "status": "ok",
                "revised_prompt": "a red fox in the snow",
            },
            {
                "arm": "d3",
                "prompt": "a red fox",
                "repeat": 2,
                "status": "ok",
                "revised_prompt": "a small fox",
            },
            {
                "arm": "d3",
                "prompt": "a red fox",
                "repeat": 3,
                "status": "failed",
                "revised_prompt": "ignored",
            },
            {
                "arm": "gi",
                "prompt": "a red fox",
                "repeat": 0,
                "status": "ok",
                "revised_prompt": None,
            },
            {"arm": "gi", "prompt": "a red fox", "repeat": 1, "status": "ok", "revised_prompt": ""},
        ]
    )


def test_divergence_table_one_row_per_revised_generation():
    table = divergence_table(_frame())
    assert table.index.tolist() == [0, 1, 2]
    assert table["arm"].tolist() == ["d3"] * 3
    assert table.loc[0, "words_added"] == ["in", "the", "snow"]
    assert table.loc[2, "words_dropped"] == ["red"]
    assert table.loc[2, "jaccard_distance"] == pytest.approx(1 - 2 / 4)


def test_divergence_table_without_revised_prompts_is_empty():
    table = divergence_table(_frame().drop(columns="revised_prompt"))
    assert len(table) == 0
    assert "jaccard_distance" in table.columns
    with pytest.raises(ValidationError):
        divergence_table(pd.DataFrame({"arm": ["x"]}))


def test_rewrite_variability_by_hand():
    table = rewrite_variability(_frame())
    row = table.iloc[0]
    assert (row["arm"], row["n_revised"], row["n_distinct"]) == ("d3", 3, 2)
    # pairs: (same, same) 0; (r0, r2) and (r1, r2): {a,red,fox,in,the,snow} vs {a,small,fox}
    # -> 2 shared of 7 -> 5/7 each
    assert row["mean_pairwise_jaccard"] == pytest.approx((0 + 5 / 7 + 5 / 7) / 3)
    # edit: 0, and "a red fox in the snow" -> "a small fox": 1 substitution + 3 deletions = 4/6
    assert row["mean_pairwise_edit"] == pytest.approx((0 + 4 / 6 + 4 / 6) / 3)
    assert row["mean_jaccard_to_prompt"] == pytest.approx((0.5 + 0.5 + 0.5) / 3)
    assert table["arm"].tolist() == ["d3"]  # gi has no revised prompt


def test_divergence_summary_per_arm():
    summary = divergence_summary(divergence_table(_frame()))
    row = summary.iloc[0]
    assert row["n"] == 3
    assert row["jaccard_distance"] == pytest.approx((0.5 + 0.5 + 0.5) / 3)
    assert row["content_dropped"] == pytest.approx(1 - (1 + 1 + 0.5) / 3)


def test_divergence_vs_distance_by_hand():
    z, four, eight = hex_with_bits([]), hex_with_bits(range(4)), hex_with_bits(range(8))
    frame = hash_frame({("d3", "a red fox"): [z, four, eight]})
    frame["revised_prompt"] = ["a red fox", "a red fox in snow", None]
    table = divergence_vs_distance(frame, "phash")
    # distances: z-four 4, z-eight 8, four-eight 4; mean to the others: 6, 4, 6
    assert table["image_distance"].tolist() == [6.0, 4.0]  # row 2 has no revised prompt
    # As a share of the distance between unrelated photographs (1 = as far apart as those).
    reference = reference_distance("phash", 8).distance
    assert table["image_distance_norm"].tolist() == pytest.approx([6 / reference, 4 / reference])
    assert table["edit_distance"].tolist() == [0.0, pytest.approx(2 / 5)]
    assert (table["kind"] == "phash").all()


def test_divergence_vs_distance_on_a_run(tmp_path):
    run = make_run(tmp_path, repeats=3)
    table = divergence_vs_distance(run, "dhash")
    assert len(table) == 12
    steady = table[table["arm"] == "steady"]
    wobbly = table[table["arm"] == "wobbly"]
    assert steady["image_distance"].max() < wobbly["image_distance"].min()
    assert steady["edit_distance"].max() < wobbly["edit_distance"].min()
