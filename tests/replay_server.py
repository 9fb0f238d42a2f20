"""A loopback HTTP server that answers with exchanges given to it: recorded ones (the replay
suite, ``tests/data/replay``) and hostile ones (an image that is not an image, JSON cut short,
an answer that trickles one byte a second).

Each :class:`Answer` is queued for a method and a path; a request takes the first answer queued
for its route (``*`` in a path matches any run of characters), and every request is kept in
:attr:`ReplayServer.requests` so a test counts what the SDKs really sent. A request nothing was
queued for gets a 599 and a JSON body that says so: a test then fails on a request it did not
expect, rather than hanging.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Answer", "ReplayServer", "Seen"]


@dataclass
class Answer:
    """One HTTP answer: status, headers and body; ``trickle_s`` > 0 sends the body one byte
    every ``trickle_s`` seconds after the headers (a stalled service). ``repeat``: served for
    every matching request rather than once."""

    status: int = 200
    body: bytes | str | dict[str, Any] | list[Any] = b""
    headers: dict[str, str] = field(default_factory=dict)
    trickle_s: float = 0.0
    repeat: bool = False

    def payload(self) -> bytes:
        if isinstance(self.body, dict | list):
            return json.dumps(self.body).encode()
        return self.body.encode() if isinstance(self.body, str) else self.body


@dataclass
class Seen:
    """A request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")


def _pattern(path: str) -> re.Pattern[str]:
    parts = [re.escape(p) for p in path.split("*")]
    return re.compile("^" + "[^?]*".join(parts) + r"(\?.*)?$")


class ReplayServer:
    """``with ReplayServer() as server: server.add("POST", "/v1/images/generations", answer)``."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], deque[Answer]]] = []
        self._lock = threading.Lock()
        self.requests: list[Seen] = []
        self._stopping = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                seen = Seen(self.command, self.path, dict(self.headers.items()), body)
                answer = server._take(seen)
                payload = answer.payload()
                self.send_response(answer.status)
                headers = {"content-type": "application/json", **answer.headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                if answer.trickle_s <= 0:
                    self.wfile.write(payload)
                    return
                for byte in payload:
                    if server._stopping.wait(answer.trickle_s):
                        return
                    try:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                    except OSError:  # the client gave up: what a deadline is for
                        return

            do_GET = do_POST = do_DELETE = do_PUT = _serve

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def add(self, method: str, path: str, *answers: Answer) -> ReplayServer:
        """Queue ``answers`` for requests ``method path``."""
        with self._lock:
            for route in self._routes:
                if route[0] == method.upper() and route[1].pattern == _pattern(path).pattern:
                    route[2].extend(answers)
                    return self
            self._routes.append((method.upper(), _pattern(path), deque(answers)))
        return self

    def _take(self, seen: Seen) -> Answer:
        with self._lock:
            self.requests.append(seen)
            for method, pattern, queue in self._routes:
                if method == seen.method and pattern.match(seen.path) and queue:
                    return queue[0] if queue[0].repeat else queue.popleft()
        if seen.method == "GET" and seen.path.split("?")[0] == "/_sim/stats":
            # What imgkit asks of a --sim-url before a run: a stand-in for the simulator, so
            # it says it is one (nothing here is live), and that it replays.
            return Answer(200, {"simulated": True, "replay": True, "seed": None, "latency": 0})
        message = f"replay server: nothing queued for {seen.method} {seen.path}"
        return Answer(599, {"error": {"message": message, "code": "unexpected_request"}})

    def count(self, method: str | None = None, path_part: str = "") -> int:
        """Requests received (``method``, with ``path_part`` in the path)."""
        return sum(
            1
            for r in self.requests
            if (method is None or r.method == method) and path_part in r.path
        )

    def start(self) -> ReplayServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> ReplayServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_until(predicate: Any, timeout_s: float = 10.0) -> bool:
    """Poll ``predicate`` until true or ``timeout_s`` passes."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())
