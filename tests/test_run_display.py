"""How a run shows itself: its repr, its notebook card, and a run frame with thumbnails."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pandas as pd
import pytest

import imgkit
from imgkit.runs.display import FrameWithThumbnails

ARMS = ["dall-e-3", "gpt-image-1"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("runs")
    # A prompt with markup in it: whatever the run holds is shown as text, never as HTML.
    prompt = 'a <b>fox</b> & "friends"'
    return imgkit.drill([prompt], ARMS, n=2, out=folder, progress=False, log=None)


def test_repr_says_what_the_run_is(run):
    text = repr(run)
    assert text.startswith(f"Run({str(run.path)!r}, status='complete'")
    assert f"arms={ARMS!r}" in text and "images=4/4" in text
    spent = pd.to_numeric(run.to_frame()["cost_usd"]).sum()
    assert f"spent=${spent:.4f}" in text and text.endswith("simulated)")


def test_repr_of_an_unreadable_folder_does_not_raise(tmp_path):
    from imgkit.runs.folder import Run

    folder = tmp_path / "not-a-run"
    folder.mkdir()
    with pytest.warns(UserWarning):
        text = repr(Run(folder))
    assert "unreadable" in text


def test_notebook_card_summarises_the_run_escaped(run):
    card = run._repr_html_()
    assert card.startswith('<div class="imgkit-run-card"')
    assert "SIMULATED" in card and "complete" in card and "2 / 2" in card
    for arm in ARMS:
        assert f"<td style='white-space:nowrap;text-align:left'>{arm}</td>" in card
    # A thumbnail per arm, as data URIs (nothing fetched from outside).
    assert len(re.findall(r'<img src="data:image/jpeg;base64,', card)) == len(ARMS)
    assert html.escape(str(run.path)) in card


def test_card_escapes_what_it_shows(tmp_path):
    hostile = tmp_path / '<img src=x onerror="alert(1)">'
    hostile.mkdir()
    run = imgkit.drill(["a fox"], ["dall-e-3"], n=1, out=hostile, progress=False, log=None)
    card = run._repr_html_()
    assert "<img src=x" not in card and "&lt;img src=x" in card
    assert 'onerror="' not in card


def test_to_frame_with_thumbnails_shows_the_pictures(run):
    frame = run.to_frame(thumbnails=True)
    assert isinstance(frame, FrameWithThumbnails) and isinstance(frame, pd.DataFrame)
    assert list(frame.columns[:3]) == ["run_id", "arm", "thumbnail"]
    assert frame["thumbnail"].str.startswith("data:image/jpeg;base64,").all()
    shown = frame._repr_html_()
    assert shown.count('<img src="data:image/jpeg;base64,') == len(frame)
    # Other cells are escaped text: the prompt's markup does not become markup.
    assert "<b>fox</b>" not in shown and "&lt;b&gt;fox&lt;/b&gt;" in shown
    # Slices keep the pictures; without the flag the frame is as before.
    assert isinstance(frame.head(1), FrameWithThumbnails)
    assert "thumbnail" not in run.to_frame().columns
    assert type(run.to_frame()) is pd.DataFrame


def test_to_frame_thumbnail_is_empty_without_an_image(run, tmp_path):
    frame = run.to_frame()
    frame.loc[0, "image_path"] = str(Path(tmp_path) / "gone.png")
    from imgkit.runs.display import with_thumbnails

    shown = with_thumbnails(frame)
    assert pd.isna(shown.loc[0, "thumbnail"])
    assert shown._repr_html_().count("<img ") == len(frame) - 1
