"""The rating page as a rater uses it: in Chromium, by keyboard and by mouse.

Runs a small drill on the simulator (two arms, a prompt with markup in it), serves the page of
:mod:`imgkit.ratings.page` on 127.0.0.1, answers by arrow keys, letter keys, clicks on an image
and on the buttons, and checks what reached the run folder. Screenshots go to
``test-artifacts/rating/``.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import imgkit
from imgkit.ratings.page import serve
from imgkit.ratings.session import RatingSession
from imgkit.ratings.store import RatingStore

try:
    from browser_helpers import ARTIFACTS, require_browser
except ImportError:  # tests/ imported as a package
    from tests.browser_helpers import ARTIFACTS, require_browser

SHOTS = ARTIFACTS / "rating"
PROMPT = 'A red fox <b>in</b> the "snow" & <script>alert(1)</script> at dawn'
ARMS = ("dall-e-3", "gpt-image-1")


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory) -> Path:
    run = imgkit.drill(
        [PROMPT, "a lighthouse on a cliff"],
        list(ARMS),
        n=3,
        backend="sim",
        out=tmp_path_factory.mktemp("runs"),
        progress=False,
        log=None,
    )
    return Path(run.path)


def _post(url: str, body: dict, token: str | None) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["X-Imgkit-Token"] = token
    request = urllib.request.Request(
        url + "api/answer", data=json.dumps(body).encode(), headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_rating_by_keyboard_and_mouse(run_folder: Path) -> None:
    from playwright.sync_api import sync_playwright

    session = RatingSession(run_folder, "ann", seed=7)
    server = serve(session)
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=require_browser(),
                headless=True,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                errors: list[str] = []
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.on("dialog", lambda d: errors.append("dialog: " + d.message))
                page.goto(server.url)
                page.wait_for_function(
                    "document.getElementById('left').complete && "
                    "document.getElementById('left').naturalWidth > 0"
                )
                page.screenshot(path=str(SHOTS / "first-question.png"))
                shown = page.locator("#prompt").inner_text()
                assert shown in (PROMPT, "a lighthouse on a cliff")
                # the page never names an arm, in its text or its markup
                content = page.content()
                for arm in ARMS:
                    assert arm not in content
                assert page.locator("#prompt b").count() == 0  # markup shown as text
                assert "(1 of 3)" in page.locator("#question").inner_text()
                assert page.locator("#simulated").is_visible()  # the run is the simulator's
                # the question, both images and the buttons fit on the first screen
                assert page.locator("#b-right").bounding_box()["y"] < 900 - 40

                done = []

                def step(action) -> None:
                    before = page.locator("#question").inner_text() + str(len(done))
                    question = session.current
                    action()
                    page.wait_for_function(
                        "(n) => document.getElementById('status').textContent"
                        ".startsWith(n + ' answers')",
                        arg=len(done) + 1,
                    )
                    done.append(question)
                    assert page.locator("#question").inner_text() + str(len(done)) != before

                step(lambda: page.keyboard.press("ArrowLeft"))
                step(lambda: page.keyboard.press("ArrowRight"))
                step(lambda: page.keyboard.press("t"))
                step(lambda: page.keyboard.press("s"))
                step(lambda: page.locator("#right").click())
                step(lambda: page.locator("#b-tie").click())
                step(lambda: page.locator("#b-left").click())
                page.screenshot(path=str(SHOTS / "after-seven-answers.png"))
                assert not errors, errors
            finally:
                browser.close()
        kept = RatingStore(run_folder, "ann").read()
        assert [a.choice for a in kept] == [
            "left",
            "right",
            "tie",
            "skip",
            "right",
            "tie",
            "left",
        ]
        # each answer is about the pair and question that were on screen, sides as shown
        for answer, question in zip(kept, done, strict=True):
            assert (answer.left, answer.right) == (question.pair.left, question.pair.right)
            assert answer.criterion == question.criterion
            assert {answer.left_arm, answer.right_arm} == set(ARMS)
        assert [a.criterion for a in kept[:3]] == ["prompt", "craft", "use"]
        assert len({a.pair_id for a in kept}) == 3

        # an answer from elsewhere (no token) or for a question already answered is refused
        question_id = session.current.question_id
        assert _post(server.url, {"question_id": question_id, "choice": "left"}, None)[0] == 403
        stale = done[-1].question_id
        status, body = _post(server.url, {"question_id": stale, "choice": "left"}, server.token)
        assert status == 400 and "already answered" in body["error"]
        assert len(RatingStore(run_folder, "ann").read()) == 7
        # images only by their hash, only this run's
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(server.url + "image/..%2Fmanifest.json", timeout=10)
    finally:
        server.shutdown()
        server.server_close()
