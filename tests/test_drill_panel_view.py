"""The drill panel as a new user meets it (issue 26): a budget that allows the run it shows,
the chosen arms plain to see, live models first with a word that several can be picked, the
gallery one row per arm, tables with a grid, and "no" where the report says "no".
"""

from __future__ import annotations

import io
import math
import re

import pandas as pd
import pytest
from PIL import Image

from imgkit.widgets import DrillPanel, Gallery, GalleryItem
from imgkit.widgets._common import frame_html


@pytest.fixture(autouse=True)
def _no_live_key(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "LEONARDO_API_KEY"):
        monkeypatch.delenv(name, raising=False)


def _estimate(panel: DrillPanel) -> float:
    return float(re.search(r"Estimated cost: \$([\d.,]+)", panel.estimate.value).group(1))


def test_the_budget_starts_at_the_estimate_rounded_up_and_keeps_what_is_typed(tmp_path):
    panel = DrillPanel(out=tmp_path)  # the lesson's two arms, five repeats: about $1.03
    estimate = _estimate(panel)
    assert estimate > 1
    assert panel.budget.value == math.ceil(estimate)
    assert not panel.run_button.disabled
    panel.n.value = 20  # the suggestion follows the estimate until a budget is typed
    assert panel.budget.value == math.ceil(_estimate(panel))
    panel.budget.value = 1.5
    panel.n.value = 2
    assert panel.budget.value == 1.5
    # A budget given to the panel is kept as given.
    assert DrillPanel(out=tmp_path, budget=0.5).budget.value == 0.5


def test_the_chosen_arms_are_plain_to_see_and_live_models_come_first(tmp_path):
    panel = DrillPanel(out=tmp_path)
    labels = [label for label, _value in panel.arms.options]
    retired = [i for i, label in enumerate(labels) if "retired" in label]
    live = [i for i, label in enumerate(labels) if "retired" not in label]
    assert retired and live and max(live) < min(retired), labels
    # Several can be picked, and the page says how.
    assert "several" in panel.arms_hint.value and "Ctrl" in panel.arms_hint.value
    # The choice is said in words beside the list, and the chosen options are painted.
    assert "dall-e-3" in panel.arms_chosen.value and "gpt-image-1" in panel.arms_chosen.value
    panel.arms.value = ("gpt-image-2",)
    assert "gpt-image-2" in panel.arms_chosen.value and "dall-e-3" not in panel.arms_chosen.value
    assert "imgkit-arms" in panel.arms._dom_classes
    assert re.search(r"\.imgkit-arms select option:checked\s*\{[^}]*background", panel.css.value)


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(out, format="PNG")
    return out.getvalue()


def test_the_gallery_shows_one_row_per_arm_in_repeat_order():
    gallery = Gallery()
    gallery.set_arms(["a", "b"])
    png = _png()
    for arm, repeat in (("b", 1), ("a", 2), ("b", 0), ("a", 0), ("a", 1)):
        gallery.add(GalleryItem(png, arm, repeat))
    assert [row.arm for row in gallery.arm_rows] == ["a", "b"]
    for row in gallery.arm_rows:
        assert [item.repeat for item in row.items] == sorted(item.repeat for item in row.items)
        assert {item.arm for item in row.items} == {row.arm}
        assert row.arm in row.heading.value
    assert [len(row.items) for row in gallery.arm_rows] == [3, 2]
    # An arm nobody announced gets a row of its own at the end.
    gallery.add(GalleryItem(png, "c", 0))
    assert [row.arm for row in gallery.arm_rows] == ["a", "b", "c"]


def test_panel_tables_have_a_grid_and_headers_over_their_cells():
    html = frame_html(pd.DataFrame({"arm": ["a"], "images": [3]}))
    assert re.search(r"border-collapse:\s*collapse", html)
    assert re.search(r"\.imgkit-table th, \.imgkit-table td\s*\{[^}]*border:", html)
    assert re.search(r"\.imgkit-table th\s*\{[^}]*text-align:\s*left", html)


def test_the_latency_table_says_no_for_arms_that_did_not_stream():
    from imgkit.widgets.drill_results import _latency_html

    frame = pd.DataFrame(
        {
            "arm": ["a", "a"],
            "status": ["ok", "ok"],
            "latency_s": [1.0, 2.0],
            "first_partial_s": [None, None],
            "final_image_s": [None, None],
        }
    )
    html = _latency_html(frame, simulated=True, batched=set())
    row = re.search(r"<tbody>.*?</tbody>", html, re.DOTALL).group(0)
    assert "<td>no</td>" in row and "<td>0</td>" not in row
