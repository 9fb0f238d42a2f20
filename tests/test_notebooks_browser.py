"""The drill notebook as a newcomer meets it: served by Voila, used in a real browser.

Voila serves ``notebooks/01_consistency_drill.ipynb`` as an app on 127.0.0.1; Playwright drives
the system's Chromium (Debian's ``chromium`` package: nothing is downloaded) to click Run in the
drill panel, waits until the gallery holds every image, and checks that the verdict shown is the
one :func:`imgkit.analysis.consistency.compare_arms` gives for the run folder the panel names. A
screenshot and the verdict are kept in ``test-artifacts/`` (or ``$IMGKIT_ARTIFACTS``).

Without Chromium the test is skipped, saying how to enable it; with ``IMGKIT_REQUIRE_BROWSER=1``
(as ``.ci/run`` sets) a missing browser is a failure instead.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

try:
    from browser_helpers import ARTIFACTS, ROOT, STARTUP_S, require_browser, voila
except ImportError:  # tests/ imported as a package
    from tests.browser_helpers import ARTIFACTS, ROOT, STARTUP_S, require_browser, voila

NOTEBOOK = ROOT / "notebooks" / "01_consistency_drill.ipynb"
#: Seconds allowed for the drill in the browser.
RUN_S = 120


@pytest.fixture
def voila_url(tmp_path: Path) -> Iterator[str]:
    """Serve a copy of the drill notebook (so its run folders land in tmp_path) with Voila."""
    require_browser()
    notebook = tmp_path / NOTEBOOK.name
    shutil.copy(NOTEBOOK, notebook)
    with voila(notebook, "notebook-drill-voila.log") as url:
        yield url


def test_drill_notebook_runs_in_a_browser(voila_url: str) -> None:
    from playwright.sync_api import sync_playwright

    from imgkit.analysis.consistency import compare_arms
    from imgkit.runs import open_run
    from imgkit.widgets import DrillPanel

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    screenshot = ARTIFACTS / "notebook-drill.png"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=require_browser(), headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 2400})
            page.goto(voila_url, timeout=STARTUP_S * 1000)
            panel = page.locator(".imgkit-drill-panel")
            # Voila shows the page once every cell has run, the scripted drill included.
            panel.wait_for(state="visible", timeout=STARTUP_S * 1000)
            run_button = panel.locator("button.imgkit-run")
            assert run_button.inner_text().strip() == "Run"
            run_button.click()
            panel.locator(".imgkit-progress").first.wait_for(state="attached", timeout=RUN_S * 1000)
            gallery_images = panel.locator(".imgkit-gallery .imgkit-thumb")
            # Two arms x five repeats: the lesson's drill as the notebook's parameters set it.
            expected_images = 2 * 5
            page.wait_for_function(
                "n => document.querySelectorAll("
                "'.imgkit-drill-panel .imgkit-gallery .imgkit-thumb').length >= n",
                arg=expected_images,
                timeout=RUN_S * 1000,
            )
            verdict = panel.locator(".imgkit-verdict")
            verdict.locator("li").first.wait_for(state="visible", timeout=RUN_S * 1000)
            run_path = panel.locator(".imgkit-run-path code").first.inner_text()
            verdict_text = verdict.inner_text()
            status_text = panel.locator(".imgkit-status").inner_text()
            # Voila scrolls inside its own container, so shoot the panel, not the page.
            verdict.scroll_into_view_if_needed()
            panel.screenshot(path=str(screenshot))
            count = gallery_images.count()
        finally:
            browser.close()

    (ARTIFACTS / "notebook-drill.txt").write_text(
        f"run folder: {run_path}\nimages in gallery: {count}\nstatus: {status_text}\n"
        f"{verdict_text}\n",
        encoding="utf-8",
    )
    assert count == expected_images
    assert "SIMULATED" in status_text and "SIMULATED" in verdict_text
    # The verdict on the page is the library's verdict for the run folder the panel names.
    frame = open_run(run_path).to_frame()
    defaults = DrillPanel()
    expected = compare_arms(
        frame, "dall-e-3", "gpt-image-1", n_perm=defaults.n_perm, n_boot=defaults.n_boot
    )
    assert " ".join(expected.verdict.split()) in " ".join(verdict_text.split())
    assert screenshot.stat().st_size > 10_000
