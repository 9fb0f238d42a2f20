"""The report as a person sees it: the answer on the first screen, the run's details at the end.

Writes the lesson drill's report (dall-e-3 vs gpt-image-1, one prompt, five repeats, on the
simulator), opens it in Chromium at 1280x900 and keeps screenshots of the first screen and the
whole page in ``test-artifacts/report/``.
"""

from __future__ import annotations

from pathlib import Path

import imgkit
from imgkit.report import write_report

try:
    from browser_helpers import ARTIFACTS, require_browser
except ImportError:  # tests/ imported as a package
    from tests.browser_helpers import ARTIFACTS, require_browser

SHOTS = ARTIFACTS / "report"
WIDTH, HEIGHT = 1280, 900
LESSON_PROMPT = "A red fox sitting in a snowy forest at dawn, photorealistic"


def _box(page, selector: str) -> dict:
    box = page.locator(selector).first.bounding_box()
    assert box is not None, f"{selector} is not displayed"
    return box


def test_the_first_screen_holds_the_answer(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    run = imgkit.drill(
        [LESSON_PROMPT],
        ["dall-e-3", "gpt-image-1"],
        n=5,
        backend="sim",
        out=tmp_path / "runs",
        progress=False,
    )
    report = write_report(run.path, n_boot=200, n_perm=2000)
    html = report.read_text("utf-8")
    assert "<tr><td>estimate</td><td>$1.0320</td></tr>" in html  # money, as money
    assert f"imgkit drill --config {run.path / 'sweep.toml'}" in html  # one command repeats it
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=require_browser(), headless=True)
        try:
            page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
            page.goto(report.as_uri())
            page.screenshot(path=str(SHOTS / "first-screen.png"))
            page.screenshot(path=str(SHOTS / "whole-page.png"), full_page=True)

            title = page.locator("h1").first.inner_text()
            assert title.startswith("dall-e-3 vs gpt-image-1 on 1 prompt, 5 repeats each")
            banner = _box(page, ".banner")
            assert banner["y"] < _box(page, "h1")["y"]
            # The verdict starts on the first screen; a glance at each arm's images follows it.
            assert _box(page, "#verdicts")["y"] < HEIGHT
            assert _box(page, "#glance")["y"] > _box(page, "#verdicts")["y"]
            # The run's metadata closes the page, below everything a reader came for.
            run_section = _box(page, "#run")
            for earlier in ("#verdicts", "#glance", "#cost", "#consistency", "#images"):
                assert _box(page, earlier)["y"] < run_section["y"], earlier
            # No table on the page has an empty header row.
            empty_heads = page.evaluate(
                """() => [...document.querySelectorAll('thead tr')]
                    .filter(row => row.innerText.trim() === '').length"""
            )
            assert empty_heads == 0
            # Short cells of the rewrites table stay on one line beside the long diff.
            lines = page.evaluate(
                """() => [...document.querySelectorAll('table.rewrites tbody td:first-child')]
                    .map(cell => { const r = document.createRange(); r.selectNodeContents(cell);
                                   return r.getClientRects().length; })"""
            )
            assert lines and set(lines) == {1}, lines
        finally:
            browser.close()
