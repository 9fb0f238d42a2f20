"""The cost planner's table and the drift page as a person reads them (issue 26): column heads
in words and one line a row; every prompt's images across runs, and legends one can read.
"""

from __future__ import annotations

import re

import matplotlib
import pytest

matplotlib.use("Agg")

import imgkit
from imgkit.report.drift_page import drift_page
from imgkit.report.drift_plots import drift_over_time
from imgkit.widgets import CostPlanner


def _cells(html: str, tag: str) -> list[str]:
    found = re.findall(rf"<{tag}[^>]*>(.*?)</{tag}>", html, re.S)
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in found]


def test_the_planner_table_heads_its_columns_in_words_and_keeps_rows_on_one_line():
    planner = CostPlanner(draw_plot=False)
    html = planner.output_table.value
    heads = _cells(html, "th")
    assert heads and not [h for h in heads if "_" in h], heads
    assert "per image" in heads and "a month" in heads
    # The price sources (long sentences) are footnotes under the table, not a column that
    # wraps every row over six lines; each row points at its source by number.
    cells = _cells(html.split("</table>")[0], "td")
    assert max(len(c) for c in cells) <= 40, cells
    assert "as republished by gateway price pages" in html.split("</table>")[1]
    assert "white-space: normal" not in html


SWEEP = """\
repeats = 2
[prompts]
text = ["a red cube on a table", "a lighthouse at night"]
[[arms]]
model = "dall-e-3"
"""


@pytest.fixture(scope="module")
def drift(tmp_path_factory):
    folder = tmp_path_factory.mktemp("drift")
    (folder / "s.toml").write_text(SWEEP, encoding="utf-8")
    sweep = imgkit.Sweep.from_file(folder / "s.toml")
    quiet = {"out": folder / "runs", "progress": False, "log": None}
    first = imgkit.drill(sweep, run_name="first", **quiet)
    second = imgkit.drill(sweep.replace(sim_seed=1), run_name="second", **quiet)
    return imgkit.drift([first, second])


def test_the_drift_page_shows_every_prompts_images(drift):
    page = drift_page(drift)
    captions = [figure.caption for figure in page.images]
    assert len(captions) == 2, captions
    assert any("a red cube" in c for c in captions) and any("lighthouse" in c for c in captions)


def test_the_drift_plots_legend_and_labels_are_readable(drift):
    from matplotlib.figure import Figure

    ax = Figure(figsize=(8, 4)).add_subplot()
    drift_over_time(drift.table, "similarity", ax=ax)
    legend = ax.get_legend()
    assert min(t.get_fontsize() for t in legend.get_texts()) >= 10
    assert legend.get_title().get_fontsize() >= 10
    assert min(t.get_fontsize() for t in ax.get_xticklabels()) >= 9
