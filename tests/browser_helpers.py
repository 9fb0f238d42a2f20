"""What the browser tests share: finding Chromium, serving a notebook with Voila, artifacts.

Voila serves a notebook as an app on 127.0.0.1; Playwright drives the system's Chromium
(Debian's ``chromium`` package: nothing is downloaded). Screenshots and logs go to
``test-artifacts/`` (or ``$IMGKIT_ARTIFACTS``), which git ignores.

Without Chromium a browser test is skipped, saying how to enable it; with
``IMGKIT_REQUIRE_BROWSER=1`` (as ``.ci/run`` sets) a missing browser is a failure instead.
Not a conftest: the browser tests import what they need from here.
"""

from __future__ import annotations

import contextlib
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
ARTIFACTS = Path(os.environ.get("IMGKIT_ARTIFACTS") or ROOT / "test-artifacts")
#: Seconds allowed for Voila to start and run the notebook.
STARTUP_S = 180
ENABLE_HINT = (
    "install Debian's chromium package (apt-get install chromium) or point IMGKIT_CHROMIUM at a "
    "Chromium executable; set IMGKIT_REQUIRE_BROWSER=1 to make a missing browser a failure"
)


def chromium() -> str | None:
    given = os.environ.get("IMGKIT_CHROMIUM")
    if given:
        return given if Path(given).is_file() else None
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def require_browser() -> str:
    path = chromium()
    if path is not None:
        return path
    message = f"no Chromium found: {ENABLE_HINT}"
    if os.environ.get("IMGKIT_REQUIRE_BROWSER") == "1":
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def voila(notebook: Path, log_name: str) -> Iterator[str]:
    """Serve ``notebook`` (run in its own folder) with Voila; yield its URL.

    The notebook runs offline, on the simulator: any OpenAI key is taken out of its
    environment. Voila's log is copied to the artifacts as ``log_name``.
    """
    require_browser()
    folder = notebook.parent
    port = free_port()
    log_path = folder / f"{notebook.stem}-voila.log"
    env = {**os.environ, "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    env.pop("OPENAI_API_KEY", None)
    with log_path.open("w") as log:
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
            cwd=folder,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + STARTUP_S
            while True:
                if server.poll() is not None:
                    pytest.fail(f"voila exited: {log_path.read_text()[-3000:]}")
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=2).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        pytest.fail("voila did not start in time")
                    time.sleep(0.2)
            yield f"http://127.0.0.1:{port}/"
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            shutil.copy(log_path, ARTIFACTS / log_name)
