"""A class rates on several laptops, merges the answers and reads the ranking: the issue's
"done means", end to end on the simulator, through the commands a teacher types."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

import imgkit
from imgkit.cli.main import main
from imgkit.ratings.session import RatingSession
from imgkit.ratings.store import read_answers


def test_a_class_rates_on_three_laptops_merges_and_reads_the_report(tmp_path: Path, capsys):
    run = imgkit.drill(
        ["a red fox in the snow", "a lighthouse on a cliff at night"],
        ["dall-e-3", "gpt-image-1"],
        n=3,
        out=tmp_path / "teacher",
        progress=False,
        log=None,
    )
    teacher = Path(run.path)
    before = {
        p.relative_to(teacher): p.read_bytes()
        for p in [teacher / "ledger.sqlite", *sorted((teacher / "images").iterdir())]
    }
    laptops = []
    for k, rater in enumerate(("ann", "bob", "cy")):
        copy = tmp_path / f"laptop{k}" / teacher.name
        shutil.copytree(teacher, copy)
        session = RatingSession(copy, rater, seed=k)
        rng = random.Random(rater)
        for _ in range(30):
            question = session.current
            liked = "left" if question.pair.left_arm == "gpt-image-1" else "right"
            session.answer(
                question.question_id, liked if rng.random() < 0.75 else rng.choice(["tie", "skip"])
            )
        laptops.append(copy)
    assert main(["ratings", "merge", str(teacher), *map(str, laptops)]) == 0
    assert "added 90 answers" in capsys.readouterr().out
    assert main(["ratings", "merge", str(teacher), *map(str, laptops)]) == 0  # again: nothing
    assert "added 0 answers" in capsys.readouterr().out
    assert len(read_answers(teacher)) == 90
    # rating and merging changed neither the ledger nor any image
    assert {p: (teacher / p).read_bytes() for p in before} == before
    assert main(["ratings", str(teacher)]) == 0
    out = capsys.readouterr().out
    skipped = sum(a.choice == "skip" for a in read_answers(teacher))
    assert out.startswith(f"{90 - skipped} answers (and {skipped} skipped) from 3 raters")
    assert "gpt-image-1 was preferred to dall-e-3 for following the prompt" in out
    assert "agreement between raters (Krippendorff's alpha)" in out
    assert main(["report", str(teacher), "--n-boot", "100"]) == 0
    html = (teacher / "report.html").read_text("utf-8")
    assert f"{90 - skipped} blind answers (and {skipped} skipped) from 3 raters" in html


@pytest.mark.parametrize("sigint", ["default", "ignored"])
def test_imgkit_rate_serves_the_page_until_interrupted(tmp_path: Path, sigint: str) -> None:
    """Ctrl-C stops the page, also when the process inherited SIGINT ignored, as a command a
    shell starts in the background does (it served on for ever: a CI run started with '&')."""
    run = imgkit.drill(
        ["a red fox"], ["dall-e-3", "gpt-image-1"], n=2, out=tmp_path, progress=False, log=None
    )
    inherited = signal.SIG_IGN if sigint == "ignored" else signal.SIG_DFL
    process = subprocess.Popen(
        [sys.executable, "-m", "imgkit", "rate", str(run.path), "--rater", "ann"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        preexec_fn=lambda: signal.signal(signal.SIGINT, inherited),
    )
    try:
        line = process.stdout.readline()
        assert line.startswith(f"rating {run.path} as ann: open http://127.0.0.1:")
        url = line.split("open ", 1)[1].split()[0]
        with urllib.request.urlopen(url + "api/question", timeout=10) as response:
            question = json.loads(response.read())
        assert question["prompt"] == "a red fox" and question["step"] == 1
        page = urllib.request.urlopen(url, timeout=10).read().decode()
        assert "dall-e-3" not in page and "gpt-image-1" not in page
    finally:
        process.send_signal(signal.SIGINT)
        try:
            out, err = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()  # never leave the page serving after the test
            out, err = process.communicate()
    assert process.returncode == 0, err
    assert "0 answers kept in" in out


def test_bad_input_is_named_before_anything_is_written(tmp_path: Path, capsys) -> None:
    run = imgkit.drill(["a red fox"], ["dall-e-3"], n=2, out=tmp_path, progress=False, log=None)
    # one arm: nothing to compare
    assert main(["rate", str(run.path), "--rater", "ann"]) == 2
    assert "nothing to compare" in capsys.readouterr().err
    assert main(["rate", str(run.path), "--rater", "../x"]) == 2
    assert "rater" in capsys.readouterr().err
    assert main(["ratings", "merge", str(run.path)]) == 2
    assert "imgkit: error" in capsys.readouterr().err
    assert main(["judge", str(run.path), "--judge", "dall-e-3"]) == 2
    assert "gpt-5-mini" in capsys.readouterr().err  # the judges it could be
    assert not (Path(run.path) / "ratings").exists() and not (Path(run.path) / "judge").exists()
