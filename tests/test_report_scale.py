"""Reports at scale: work and page size grow with the images, not with their square.

Not timed (benchmarks/bench_report.py times 100 to 5,000 images): these tests count what the
report computes and embeds. Pairwise distances are only formed within an arm x prompt group,
and the page embeds a bounded, deterministic sample of thumbnails, linking every image from a
gallery page of its own.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import imgkit.analysis.hashing as hashing
from imgkit.report.data import report_data
from imgkit.report.figures import gallery
from imgkit.report.render import write_report

try:
    from analysis_fixtures import hash_frame, random_hashes
except ImportError:  # tests/ imported as a package
    from tests.analysis_fixtures import hash_frame, random_hashes


@pytest.fixture
def counted_pairs(monkeypatch):
    """Count the Hamming distances imgkit computes (every distance goes through _distances)."""
    counts = {"pairs": 0, "largest": 0}
    original = hashing._distances

    def counting(a, b):
        counts["pairs"] += a.shape[0] * b.shape[0]
        counts["largest"] = max(counts["largest"], a.shape[0] * b.shape[0])
        return original(a, b)

    monkeypatch.setattr(hashing, "_distances", counting)
    return counts


def _many_groups(arms: int, prompts: int, repeats: int) -> pd.DataFrame:
    groups = {}
    for a in range(arms):
        for p in range(prompts):
            groups[(f"arm{a}", f"prompt {p}")] = random_hashes(repeats, seed=100 * a + p)
    frame = hash_frame(groups)
    for kind in ("dhash", "whash"):
        frame[kind] = frame["phash"]
    return frame


def test_report_forms_pairs_only_within_arm_and_prompt(counted_pairs):
    arms, prompts, repeats = 3, 12, 6
    frame = _many_groups(arms, prompts, repeats)
    report_data(frame, kind="phash", kinds=("phash", "dhash", "whash"), n_boot=50, n_perm=200)
    within = arms * prompts * repeats * repeats  # every group's full matrix, once
    total = arms * prompts * repeats
    # A few passes over each group's own pairs at most; never the run's pairs (total ** 2).
    assert counted_pairs["pairs"] <= 4 * within, counted_pairs
    assert counted_pairs["largest"] <= repeats * repeats < total * total // 100


def _image_run(folder, arms=2, prompts=2, repeats=20) -> pd.DataFrame:
    rows = []
    rng = np.random.default_rng(0)
    for a in range(arms):
        for p in range(prompts):
            for r in range(repeats):
                path = folder / f"a{a}_p{p}_r{r}.png"
                pixels = rng.integers(0, 255, size=(24, 24, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(path)
                rows.append(
                    {
                        "arm": f"arm{a}",
                        "prompt": f"prompt {p}",
                        "repeat": r,
                        "status": "ok",
                        "image_path": str(path),
                    }
                )
    return pd.DataFrame(rows)


def test_html_embeds_a_bounded_sample_and_links_every_image(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    frame = _image_run(images)
    out = write_report(frame, tmp_path / "report.html", n_boot=50, n_perm=200)
    page = out.read_text("utf-8")
    images_section = page.split('<section id="images">')[1]
    thumbnails = images_section.count('src="data:image/jpeg;base64,')
    assert thumbnails == 4 * 8  # 4 arm x prompt groups, at most 8 each
    assert "Showing 32 of 80 images" in page and 'href="gallery.html"' in page
    # Spread evenly over the repeats, the same every time.
    assert re.findall(r'alt="(repeat \d+)"', images_section)[:8] == [
        f"repeat {r}" for r in (0, 3, 5, 8, 11, 14, 16, 19)
    ]
    full = (tmp_path / "gallery.html").read_text("utf-8")
    assert full.count("<img ") == 80 and "data:image" not in full
    assert 'src="images/a0_p0_r0.png"' in full
    # Heatmaps are bounded too: at most 24 images each.
    assert "(24 of 40 images: the first prompt" not in page  # 20 per prompt: one prompt's all
    assert "(20 of 40 images: the first prompt)" in page


def test_thumbnail_budget_holds_with_many_groups(tmp_path):
    frame = _image_run(tmp_path, arms=3, prompts=4, repeats=3)
    shown = gallery(frame, per_group=8, total=10)
    assert len(shown.groups) == 10 and shown.shown == 10 and shown.available == 36
    assert all(len(g.thumbnails) == 1 for g in shown.groups)
    assert "Showing 10 of 36 images" in shown.note
