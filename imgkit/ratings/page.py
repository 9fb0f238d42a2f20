"""``imgkit rate RUN --rater NAME``: the rating panel as a small web page on 127.0.0.1.

For people without Jupyter. Standard library only (:mod:`http.server`): the page is one HTML
document whose script asks for the question on screen and sends each answer; the images are
served by their hash from the run folder (only the run's own images, never a path given by the
browser). Every text the page shows arrives as JSON and is put in with ``textContent``, and the
page's own HTML escapes the rater's name, so a prompt cannot inject markup. Each answer must
carry the sitting's token (a random string in the page), so another site open in the same
browser cannot post answers to it.

Keys: left arrow or ``1`` = left, right arrow or ``2`` = right, ``t``, ``=`` or down arrow = tie,
``s`` or space = skip. Buttons do the same by mouse.
"""

from __future__ import annotations

import html
import json
import mimetypes
import secrets
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from imgkit.errors import ImgkitError
from imgkit.ratings.session import RatingSession

__all__ = ["RatingServer", "page_html", "serve"]

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>imgkit: blind rating</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1.5rem auto; max-width: 1100px; color: #222; }
header { display: flex; justify-content: space-between; align-items: baseline; }
#prompt { font-size: 1.15rem; background: #f4f4f4; padding: .7rem 1rem; border-radius: 6px; }
#question { font-size: 1.3rem; font-weight: 600; margin: 1rem 0 .5rem; }
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: 1rem; }
.pair figure { margin: 0; text-align: center; }
.pair img { width: 100%; max-height: 52vh; object-fit: contain; background: #eee;
  border: 3px solid transparent; border-radius: 6px; cursor: pointer; }
.pair img:hover { border-color: #4a7bd0; }
.buttons { display: flex; gap: .6rem; justify-content: center; margin: 1rem 0; }
button { font-size: 1.05rem; padding: .55rem 1.2rem; border-radius: 6px; border: 1px solid #888;
  background: #fff; cursor: pointer; }
button:hover, button:focus { background: #e8f0fe; }
kbd { border: 1px solid #aaa; border-radius: 3px; padding: 0 .3rem; font-size: .85rem; }
#status, #settle { color: #555; }
#error { color: #a00; }
#simulated { background: #fff3c4; padding: .3rem .8rem; border-radius: 4px; }
</style></head><body>
<header><h1>Blind rating</h1><span>rater: <b>__RATER__</b></span></header>
<p>Two images made for the same prompt by two different models; which is which is hidden and
the sides are drawn at random. Answer by clicking, or by keyboard.</p>
<p id="simulated" hidden>SIMULATED: these images come from imgkit's simulator, not a real model.</p>
<div id="prompt" aria-label="prompt"></div>
<div id="question"></div>
<div class="pair">
<figure><img id="left" alt="left image">
<figcaption>left <kbd>&larr;</kbd> <kbd>1</kbd></figcaption></figure>
<figure><img id="right" alt="right image">
<figcaption>right <kbd>&rarr;</kbd> <kbd>2</kbd></figcaption></figure>
</div>
<div class="buttons">
<button id="b-left" data-choice="left">Left</button>
<button id="b-tie" data-choice="tie">Tie <kbd>t</kbd></button>
<button id="b-skip" data-choice="skip">Skip <kbd>s</kbd></button>
<button id="b-right" data-choice="right">Right</button>
</div>
<p id="status"></p><p id="settle"></p><p id="error" role="alert"></p>
<script>
const token = __TOKEN__;
let current = null, busy = false;
function show(q) {
  current = q;
  document.getElementById("prompt").textContent = q.prompt;
  document.getElementById("question").textContent =
    q.question + " (" + q.step + " of " + q.steps + ")";
  for (const side of ["left", "right"]) {
    const img = document.getElementById(side);
    const src = "/image/" + encodeURIComponent(q[side]);
    if (img.getAttribute("src") !== src) img.setAttribute("src", src);
  }
  document.getElementById("status").textContent =
    q.mine + " answers from you so far (" + q.given + " in this sitting).";
  document.getElementById("settle").textContent = q.settle_text;
  document.getElementById("simulated").hidden = !q.simulated;
}
async function load() {
  const r = await fetch("/api/question");
  show(await r.json());
}
async function answer(choice) {
  if (!current || busy) return;
  busy = true;
  try {
    const r = await fetch("/api/answer", {method: "POST",
      headers: {"Content-Type": "application/json", "X-Imgkit-Token": token},
      body: JSON.stringify({question_id: current.question_id, choice: choice})});
    const body = await r.json();
    if (!r.ok) { document.getElementById("error").textContent = body.error; await load(); }
    else { document.getElementById("error").textContent = ""; show(body); }
  } catch (e) {
    document.getElementById("error").textContent = "The rating server is not answering: " + e;
  } finally { busy = false; }
}
document.getElementById("left").addEventListener("click", () => answer("left"));
document.getElementById("right").addEventListener("click", () => answer("right"));
for (const b of document.querySelectorAll("button[data-choice]"))
  b.addEventListener("click", () => answer(b.dataset.choice));
const keys = {ArrowLeft: "left", "1": "left", ArrowRight: "right", "2": "right",
  t: "tie", T: "tie", "=": "tie", ArrowDown: "tie", s: "skip", S: "skip", " ": "skip"};
document.addEventListener("keydown", (e) => {
  if (e.ctrlKey || e.metaKey || e.altKey || !(e.key in keys)) return;
  e.preventDefault();
  answer(keys[e.key]);
});
load();
</script></body></html>
"""


def page_html(rater: str, token: str) -> str:
    """The rating page for ``rater`` (escaped) carrying the sitting's ``token``."""
    return _PAGE.replace("__RATER__", html.escape(rater, quote=True)).replace(
        "__TOKEN__", json.dumps(token).replace("<", "\\u003c")
    )


class _Handler(BaseHTTPRequestHandler):
    server: RatingServer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the terminal shows the page's address, not every image request

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, value: Any) -> None:
        self._send(status, json.dumps(value).encode("utf-8"), "application/json")

    def do_GET(self) -> None:
        session = self.server.session
        path = self.path.split("?", 1)[0]
        if path == "/":
            page = page_html(session.rater, self.server.token).encode("utf-8")
            self._send(HTTPStatus.OK, page, "text/html; charset=utf-8")
        elif path == "/api/question":
            with self.server.lock:
                self._json(HTTPStatus.OK, session.status())
        elif path.startswith("/image/"):
            image = session.image_path(path[len("/image/") :])
            if image is None:
                self._json(HTTPStatus.NOT_FOUND, {"error": "no such image in this run"})
                return
            kind = mimetypes.guess_type(image.name)[0] or "application/octet-stream"
            self._send(HTTPStatus.OK, image.read_bytes(), kind)
        else:
            self._json(HTTPStatus.NOT_FOUND, {"error": f"no page {path}"})

    def do_POST(self) -> None:
        if self.path != "/api/answer":
            self._json(HTTPStatus.NOT_FOUND, {"error": f"no page {self.path}"})
            return
        if not secrets.compare_digest(self.headers.get("X-Imgkit-Token", ""), self.server.token):
            self._json(HTTPStatus.FORBIDDEN, {"error": "this answer does not come from the page"})
            return
        try:
            length = min(int(self.headers.get("Content-Length", "0")), 10_000)
            body = json.loads(self.rfile.read(length) or b"{}")
            with self.server.lock:
                status = self.server.session.answer(
                    str(body.get("question_id")), str(body.get("choice"))
                )
        except (ValueError, AttributeError) as exc:
            self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
            return
        except ImgkitError as exc:
            self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": str(exc)})
            return
        self._json(HTTPStatus.OK, status)


class RatingServer(ThreadingHTTPServer):
    """The rating page of one :class:`RatingSession`, on ``host:port`` (port 0: any free)."""

    daemon_threads = True

    def __init__(self, session: RatingSession, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__((host, port), _Handler)
        self.session = session
        self.token = secrets.token_urlsafe(24)
        self.lock = threading.Lock()  # one answer at a time: the session is not thread-safe

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"


def serve(session: RatingSession, *, host: str = "127.0.0.1", port: int = 0) -> RatingServer:
    """Start the page in a background thread; return the server (``.url``, ``.shutdown()``)."""
    server = RatingServer(session, host, port)
    threading.Thread(target=server.serve_forever, name="imgkit-rate", daemon=True).start()
    return server
