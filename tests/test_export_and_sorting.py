"""A run's frame out as CSV or Parquet (from Python, the drill panel and the report), the
gallery filtered by arm and prompt, and the report's tables sorted by a click (issue 26).
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import sys

import pandas as pd
import pytest

from imgkit.errors import ExportError
from imgkit.report.render import write_report
from imgkit.runner import drill
from imgkit.runs.export import export_frame

HOSTILE = 'a fox <script>alert(1)</script> <img src=x onerror="alert(2)">'


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    return drill(
        ["a red cube", HOSTILE], ["dall-e-3", "gpt-image-1"], n=2, out=out, progress=False, log=None
    )


@pytest.mark.parametrize("format", ["csv", "parquet"])
def test_a_runs_frame_exports_and_reads_back(run, tmp_path, format):
    path = export_frame(run, tmp_path, format=format)
    assert path.name == f"generations.{format}"
    back = pd.read_csv(path) if format == "csv" else pd.read_parquet(path)
    frame = run.to_frame()
    assert list(back.columns) == list(frame.columns)
    assert len(back) == len(frame) == 8
    assert sorted(back["prompt"].unique()) == sorted(frame["prompt"].unique())


def test_parquet_without_pyarrow_says_which_extra(run, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow fails
    with pytest.raises(ExportError, match=r"imgkit\[export\]"):
        export_frame(run, tmp_path, format="parquet")
    assert not list(tmp_path.iterdir())


def test_an_export_that_cannot_be_written_says_where_and_leaves_nothing(run, tmp_path):
    with pytest.raises(ExportError, match=r"cannot write .*nowhere"):
        export_frame(run, tmp_path / "nowhere" / "x.csv")
    assert not list(tmp_path.iterdir())


def test_the_report_links_the_runs_table_as_csv_and_parquet(run):
    page = write_report(run.path, n_boot=100, n_perm=200).read_text("utf-8")
    for name in ("generations.csv", "generations.parquet"):
        assert (run.path / name).is_file()
        assert f'href="{name}"' in page
    assert len(pd.read_csv(run.path / "generations.csv")) == 8


def _scripts(page: str) -> list[str]:
    return re.findall(r"<script>(.*?)</script>", page, re.S)


def test_the_report_carries_one_fixed_script_allowed_by_its_hash(run):
    from imgkit.report.page_script import PAGE_SCRIPT

    for name in ("report.html", "gallery.html"):
        write_report(run.path, n_boot=100, n_perm=200)
        page = (run.path / name).read_text("utf-8")
        (script,) = _scripts(page)
        assert script == str(PAGE_SCRIPT)
        (policy,) = re.findall(r'http-equiv="Content-Security-Policy" content="([^"]*)"', page)
        policy = html.unescape(policy)
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"script-src 'sha256-{digest}'" in policy and "default-src 'none'" in policy
        assert "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
        # The hostile prompt is text: no second script, no event handler.
        assert "<script>alert" not in page and 'onerror="alert' not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_the_report_sorts_its_tables_and_filters_its_gallery_in_a_browser(run):
    try:
        from browser_helpers import require_browser
    except ImportError:  # tests/ imported as a package
        from tests.browser_helpers import require_browser
    from playwright.sync_api import sync_playwright

    executable = require_browser()
    write_report(run.path, n_boot=100, n_perm=200)
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=executable,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"],
        )
        page = browser.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto((run.path / "report.html").as_uri())
        table = page.locator("#verdicts table").first
        first_column = "t => [...t.tBodies[0].rows].map(r => r.cells[0].innerText)"
        before = table.evaluate(first_column)
        table.locator("th").first.click()
        ascending = table.evaluate(first_column)
        table.locator("th").first.press("Enter")
        descending = table.evaluate(first_column)
        assert ascending == sorted(before) and descending == sorted(before, reverse=True)
        assert table.locator("th").first.get_attribute("aria-sort") == "descending"
        # The gallery's filter: by arm, then by prompt too.
        assert page.is_visible("#gallery-filter")
        shown = "gs => gs.filter(g => !g.hidden).map(g => g.dataset.arm + ' ' + g.dataset.prompt)"
        page.select_option("#filter-arm", "gpt-image-1")
        assert page.eval_on_selector_all(".gallery-group", shown) == [
            "gpt-image-1 #1",
            "gpt-image-1 #2",
        ]
        page.select_option("#filter-prompt", "#2")
        assert page.eval_on_selector_all(".gallery-group", shown) == ["gpt-image-1 #2"]
        browser.close()
    assert errors == []  # the policy let the script run, and it ran without an error


def test_the_drill_panel_saves_the_runs_table(run, monkeypatch):
    from imgkit.widgets import DrillPanel

    for name in ("OPENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "LEONARDO_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    panel = DrillPanel(out=run.path.parent, n_boot=100, n_perm=200)
    assert panel.export_box.layout.display == "none"
    panel.show_run(run)
    assert panel.export_box.layout.display == "flex"
    for button, name in ((panel.export_csv, "csv"), (panel.export_parquet, "parquet")):
        button.click()
        said = html.unescape(panel.export_status.value)
        assert f"Saved {run.path / ('generations.' + name)}" in re.sub(r"</?code>", "", said)
    assert (run.path / "generations.csv").is_file() and (run.path / "generations.parquet").is_file()


def test_the_panel_gallery_filters_by_arm_and_prompt(run, monkeypatch):
    from imgkit.widgets import DrillPanel

    for name in ("OPENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "LEONARDO_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    panel = DrillPanel(out=run.path.parent, n_boot=100, n_perm=200)
    panel.show_run(run)
    gallery = panel.gallery
    assert gallery.filters.layout.display == "flex"
    assert [v for _label, v in gallery.arm_filter.options] == ["", "dall-e-3", "gpt-image-1"]

    def visible():
        return sorted(
            (row.arm, item.prompt)
            for row in gallery.arm_rows
            if row.layout.display != "none"
            for item, tile in zip(row.items, row.tiles.children, strict=True)
            if tile.layout.display != "none"
        )

    assert len(visible()) == 8
    gallery.arm_filter.value = "dall-e-3"
    assert {arm for arm, _ in visible()} == {"dall-e-3"} and len(visible()) == 4
    gallery.prompt_filter.value = HOSTILE
    assert visible() == [("dall-e-3", HOSTILE)] * 2
    gallery.arm_filter.value = ""
    assert len(visible()) == 4 and {p for _, p in visible()} == {HOSTILE}
