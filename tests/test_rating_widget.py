"""The notebook's rating panel and the drill panel's ranking, through the same session code."""

from __future__ import annotations

from pathlib import Path

import pytest

import imgkit
from imgkit.ratings.store import RatingStore
from imgkit.widgets import RatingPanel, quality_html
from imgkit.widgets.drill_results import DrillResults

PROMPT = "a <i>small</i> boat & a storm"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return imgkit.drill(
        [PROMPT],
        ["dall-e-3", "gpt-image-1"],
        n=3,
        out=tmp_path_factory.mktemp("runs"),
        progress=False,
        log=None,
    )


def test_rating_panel_buttons_keep_answers_blind(run) -> None:
    panel = RatingPanel(run, "dee", seed=3)
    assert "SIMULATED" in panel.banner.value.upper()
    assert "&lt;i&gt;small&lt;/i&gt;" in panel.prompt.value  # the prompt as written, escaped
    for arm in ("dall-e-3", "gpt-image-1"):
        assert arm not in panel.prompt.value + panel.question.value + panel.status.value
    assert panel.left.value[:4] == b"\x89PNG" and panel.right.value != panel.left.value
    shown = []
    for choice in ("left", "right", "tie", "skip", "left", "left"):
        shown.append(panel.session.current)
        panel.buttons[choice].click()
    kept = RatingStore(Path(run.path), "dee").read()
    assert [a.choice for a in kept] == ["left", "right", "tie", "skip", "left", "left"]
    assert [(a.left, a.right) for a in kept] == [(q.pair.left, q.pair.right) for q in shown]
    assert "6 answers from you" in panel.status.value


def test_drill_panel_shows_the_ranking_once_there_are_ratings(run, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(run.path, copy, ignore=shutil.ignore_patterns("ratings"))
    assert "No blind ratings yet" in quality_html(copy)
    panel = RatingPanel(copy, "eve", seed=1)
    for _ in range(30):
        question = panel.session.current
        panel.answer("left" if question.pair.left_arm == "gpt-image-1" else "right")
    html = quality_html(copy)
    assert "Blind ratings: 30 answers from 1 rater<" in html
    assert "gpt-image-1 was preferred to dall-e-3 for following the prompt" in html
    results = DrillResults()
    reopened = imgkit.open_run(copy)
    results.show(reopened, reopened.to_frame(), n_boot=50, n_perm=100)
    assert "Blind ratings: 30 answers" in results.quality.value
