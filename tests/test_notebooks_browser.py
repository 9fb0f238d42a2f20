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

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "01_consistency_drill.ipynb"
ARTIFACTS = Path(os.environ.get("IMGKIT_ARTIFACTS") or ROOT / "test-artifacts")
#: Seconds allowed for Voila to start, run the notebook, and for the drill in the browser.
STARTUP_S, RUN_S = 120, 120
ENABLE_HINT = (
    "install Debian's chromium package (apt-get install chromium) or point IMGKIT_CHROMIUM at a "
    "Chromium executable; set IMGKIT_REQUIRE_BROWSER=1 to make a missing browser a failure"
)


def _chromium() -> str | None:
    given = os.environ.get("IMGKIT_CHROMIUM")
    if given:
        return given if Path(given).is_file() else None
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _require_browser() -> str:
    path = _chromium()
    if path is not None:
        return path
    message = f"no Chromium found: {ENABLE_HINT}"
    if os.environ.get("IMGKIT_REQUIRE_BROWSER") == "1":
        pytest.fail(message)
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def voila_url(tmp_path: Path) -> Iterator[str]:
    """Serve a copy of the drill notebook (so its run folders land in tmp_path) with Voila."""
    _require_browser()
    notebook = tmp_path / NOTEBOOK.name
    shutil.copy(NOTEBOOK, notebook)
    port = _free_port()
    log = (tmp_path / "voila.log").open("w")
    env = {**os.environ, "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    env.pop("OPENAI_API_KEY", None)  # the app must run offline, on the simulator
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "voila",
            notebook.name,
            "--no-browser",
            f"--port={port}",
            "--Voila.ip=127.0.0.1",
            "--show_tracebacks=True",
        ],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + STARTUP_S
        while True:
            if server.poll() is not None:
                pytest.fail(f"voila exited: {(tmp_path / 'voila.log').read_text()[-3000:]}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("voila did not start in time")
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(tmp_path / "voila.log", ARTIFACTS / "notebook-drill-voila.log")


def test_drill_notebook_runs_in_a_browser(voila_url: str) -> None:
    from playwright.sync_api import sync_playwright

    from imgkit.analysis.consistency import compare_arms
    from imgkit.runs import open_run
    from imgkit.widgets import DrillPanel

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    screenshot = ARTIFACTS / "notebook-drill.png"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=_require_browser(), headless=True)
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
            gallery_images = panel.locator(".imgkit-gallery img")
            # Two arms x five repeats: the lesson's drill as the notebook's parameters set it.
            expected_images = 2 * 5
            page.wait_for_function(
                "n => document.querySelectorAll('.imgkit-drill-panel .imgkit-gallery img')"
                ".length >= n",
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
