"""Ratings: the store survives kill -9, the analysis recovers known orders and agreement."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from imgkit.errors import RunError, ValidationError
from imgkit.ratings.agreement import krippendorff_alpha, rater_agreement
from imgkit.ratings.ranking import answers_needed, bradley_terry, preferences, sign_test
from imgkit.ratings.store import Answer, RatingStore, merge_ratings, read_answers
from imgkit.ratings.summary import ratings_frame

SHA = "ab" * 32


def _answer(rater: str = "ann", choice: str = "left", **extra) -> Answer:
    fields = dict(
        rater=rater,
        criterion="prompt",
        choice=choice,
        prompt_id="p0",
        left="aa" * 32,
        right="bb" * 32,
        left_arm="x",
        right_arm="y",
    )
    fields.update(extra)
    return Answer(**fields)


# ------------------------------------------------------------------------------------ store


def test_store_keeps_answers_and_skips_a_torn_last_line(tmp_path: Path) -> None:
    store = RatingStore(tmp_path, "ann")
    store.append([_answer(), _answer(choice="tie")])
    with open(store.path, "ab") as handle:  # what a kill mid-write leaves
        handle.write(b'{"rater": "ann", "criterion": "pro')
    assert [a.choice for a in store.read()] == ["left", "tie"]
    store.append(_answer(choice="right"))  # the torn tail is cut before the new line
    assert [a.choice for a in store.read()] == ["left", "tie", "right"]
    assert store.path.read_bytes().count(b"\n") == 3


def test_store_refuses_bad_names_and_symlinked_folders(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="rater"):
        RatingStore(tmp_path, "../evil")
    with pytest.raises(ValidationError, match="choice"):
        _answer(choice="maybe")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "ratings").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(RunError, match="symbolic link"):
        RatingStore(tmp_path, "ann").append(_answer())
    assert not list((tmp_path / "elsewhere").iterdir())


_WRITER = textwrap.dedent(
    """
    import sys
    from imgkit.ratings.store import Answer, RatingStore
    store = RatingStore(sys.argv[1], "ann")
    i = 0
    while True:
        store.append(Answer(rater="ann", criterion="prompt", choice="left", prompt_id="p0",
                            left="aa" * 32, right="bb" * 32, left_arm="x", right_arm="y",
                            pair_id=str(i), extra={"pad": "z" * 3000}))
        print(i, flush=True)  # said only once the answer is fsynced
        i += 1
    """
)


@pytest.mark.parametrize("delay", [0.05, 0.13, 0.31])
def test_kill_9_during_writes_loses_at_most_the_answer_being_given(
    tmp_path: Path, delay: float
) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    first = process.stdout.readline()  # the writer is under way
    assert first.strip() == "0"
    time.sleep(delay)
    os.kill(process.pid, signal.SIGKILL)
    said = [first, *process.stdout.read().split("\n")]
    process.wait()
    confirmed = max(int(x) for x in said if x.strip())
    kept = RatingStore(tmp_path, "ann").read()
    ids = [int(a.pair_id) for a in kept]
    # every answer confirmed is kept, in order; at most one more (given, not yet confirmed)
    assert ids == list(range(len(ids)))
    assert confirmed + 1 <= len(ids) <= confirmed + 2
    # and the next sitting appends whole lines after whatever the kill left
    RatingStore(tmp_path, "ann").append(_answer(pair_id="after"))
    assert RatingStore(tmp_path, "ann").read()[-1].pair_id == "after"


def test_merge_adds_what_is_missing_once(tmp_path: Path) -> None:
    main, laptop = tmp_path / "main", tmp_path / "laptop"
    for folder in (main, laptop):
        (folder / "images").mkdir(parents=True)
        for sha in ("aa" * 32, "bb" * 32):
            (folder / "images" / f"{sha}.png").write_bytes(b"x")
    shared = _answer("ann")
    RatingStore(main, "ann").append(shared)
    RatingStore(laptop, "ann").append([shared, _answer("ann", "right")])
    RatingStore(laptop, "bob").append(_answer("bob", "tie"))
    assert merge_ratings(main, [laptop]) == {"ann": 1, "bob": 1}
    assert merge_ratings(main, [laptop / "ratings"]) == {}
    assert sorted(a.choice for a in read_answers(main)) == ["left", "right", "tie"]
    other = tmp_path / "other"
    other.mkdir()
    RatingStore(other, "cy").append(_answer("cy", left="cc" * 32))
    with pytest.raises(RunError, match="another run"):
        merge_ratings(main, [other])


# ------------------------------------------------------------------------------- analysis


def _synthetic(strengths: dict[str, float], n: int, seed: int, tie: float = 0.1) -> pd.DataFrame:
    """Answers drawn from a Bradley-Terry model with known strengths (and some ties)."""
    rng = np.random.default_rng(seed)
    arms = list(strengths)
    answers = []
    for _ in range(n):
        a, b = rng.choice(arms, size=2, replace=False)
        if rng.random() < tie:
            choice = "tie"
        else:
            p_a = strengths[a] / (strengths[a] + strengths[b])
            choice = "left" if rng.random() < p_a else "right"
        answers.append(_answer(choice=choice, left_arm=str(a), right_arm=str(b)))
    return ratings_frame(answers=answers)


def test_bradley_terry_recovers_a_known_order() -> None:
    truth = {"weak": 0.5, "middling": 1.0, "good": 2.0, "best": 4.0}
    frame = _synthetic(truth, 600, seed=3)
    table = bradley_terry(frame, n_boot=300)
    assert list(table["arm"]) == ["best", "good", "middling", "weak"]
    assert list(table["rank"]) == [1, 2, 3, 4]
    # the fitted score of "best" against the average of the others, from the true strengths
    expected = np.mean([4.0 / (4.0 + s) for s in (0.5, 1.0, 2.0)])
    best = table.iloc[0]
    assert best["score_low"] < expected < best["score_high"]
    assert best["score_high"] - best["score_low"] < 0.15
    assert (table["score_low"] <= table["score"]).all() and (
        table["score"] <= table["score_high"]
    ).all()


def test_bradley_terry_stays_finite_when_an_arm_wins_everything() -> None:
    frame = _synthetic({"always": 1e9, "never": 1e-9}, 12, seed=1, tie=0.0)
    table = bradley_terry(frame, n_boot=200)
    assert list(table["arm"]) == ["always", "never"]
    assert np.isfinite(table["score"]).all() and table.iloc[0]["score"] < 1
    # twelve of twelve is strong but not certain: an interval, not a point
    assert table.iloc[0]["score_low"] < table.iloc[0]["score"] <= table.iloc[0]["score_high"]


def test_preference_verdicts_name_a_winner_only_when_clear() -> None:
    clear = preferences(_synthetic({"x": 3.0, "y": 1.0}, 60, seed=2))
    assert clear.iloc[0]["preferred"] == "x"
    sentence = clear.iloc[0]["verdict"]
    assert sentence.startswith("x was preferred to y for following the prompt: ")
    assert "of 60 answers" in sentence
    close = preferences(_synthetic({"x": 1.0, "y": 1.0}, 40, seed=5))
    assert close.iloc[0]["preferred"] is None
    assert close.iloc[0]["verdict"].startswith("No clear preference between x and y")
    few = preferences(_synthetic({"x": 3.0, "y": 1.0}, 4, seed=2))
    assert few.iloc[0]["verdict"].startswith("Too few answers")


def test_sign_test_and_answers_needed_by_hand() -> None:
    assert sign_test(5, 5) == pytest.approx(2 / 32)
    assert sign_test(2, 4) == pytest.approx(1.0)
    assert sign_test(0, 2000) < 1e-300 or sign_test(0, 2000) == 0.0  # no overflow
    # share 0.7: 1.96^2 * 0.21 / 0.04 = 20.2 -> 21 answers in all
    assert answers_needed(0.7, 10) == 11
    assert answers_needed(0.7, 30) == 0
    assert answers_needed(0.5, 10) is None


def test_krippendorff_alpha_matches_hand_computed_examples() -> None:
    # Two coders, ten binary units (Krippendorff 2011's first example): the coincidences are
    # o00 = 10, o01 = o10 = 4, o11 = 2; n0 = 14, n1 = 6, n = 20;
    # alpha = 1 - (n - 1) * o01 / (n0 * n1) = 1 - 19 * 4 / 84 = 0.0952
    a = [0, 1, 0, 0, 0, 0, 0, 0, 1, 0]
    b = [1, 1, 1, 0, 0, 1, 0, 0, 0, 0]
    units = {i: [x, y] for i, (x, y) in enumerate(zip(a, b, strict=True))}
    assert krippendorff_alpha(units) == pytest.approx(1 - 19 * 4 / 84)
    # Four coders, twelve units with gaps, nominal (the same paper's second example): 0.743
    n = None
    coders = [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, n, n, n],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, n, 3],
        [n, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, n],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, n],
    ]
    units = {u: [c[u] for c in coders] for u in range(12)}
    assert krippendorff_alpha(units) == pytest.approx(0.743, abs=5e-4)
    assert krippendorff_alpha({0: [1, 1], 1: [1, 1]}) != krippendorff_alpha({0: [1, 2]})
    assert math.isnan(krippendorff_alpha({0: [1, None]}))


def test_rater_agreement_per_rater() -> None:
    answers = []
    for i in range(8):
        pair = {"left": f"{i:02x}" * 32, "right": f"{i + 100:02x}" * 32}
        for rater in ("ann", "bob"):
            answers.append(_answer(rater, "left", **pair))
        answers.append(_answer("cy", "right" if i % 2 else "left", **pair))
    overall, table = rater_agreement(ratings_frame(answers=answers))
    by_rater = table.set_index("rater")
    assert by_rater.loc["ann", "agrees"] == 1.0 and by_rater.loc["cy", "agrees"] == 0.5
    assert by_rater.loc["ann", "shared"] == 8
    assert -1 <= overall < 1


def test_ratings_frame_round_trips_through_json(tmp_path: Path) -> None:
    RatingStore(tmp_path, "ann").append(_answer(extra={"note": "<b>x</b>"}))
    frame = ratings_frame(tmp_path)
    assert list(frame["winner"]) == ["x"]
    line = (tmp_path / "ratings" / "ann.jsonl").read_text().strip()
    assert json.loads(line)["extra"] == {"note": "<b>x</b>"}
