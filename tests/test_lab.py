"""``make lab`` wherever it is run: as root, in a container, without a display.

JupyterLab stops with "Running as root is not recommended" for root, the normal user of
containers and CI images; tools/lab.py passes what it needs and prints the URL to open. The
last test starts JupyterLab for real (on 127.0.0.1) and opens that URL.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
try:
    import lab
finally:
    sys.path.pop(0)


def _command(**overrides):
    given = {
        "uid": 1000,
        "environ": {"DISPLAY": ":0"},
        "ip": "127.0.0.1",
        "port": 8888,
        "token": "t",
        "container": False,
    }
    return lab.lab_command("jupyter", "notebooks", **{**given, **overrides})


def test_root_gets_allow_root_and_others_do_not():
    assert "--allow-root" in _command(uid=0)
    assert "--allow-root" not in _command(uid=1000)


def test_no_browser_without_a_display_or_in_a_container():
    assert "--no-browser" not in _command()
    assert "--no-browser" in _command(environ={})
    assert "--no-browser" in _command(container=True)


def test_the_port_and_token_are_fixed_so_the_printed_url_is_right():
    command = _command(port=9001, token="abc")
    assert "--ServerApp.port=9001" in command and "--ServerApp.port_retries=0" in command
    assert "--IdentityProvider.token=abc" in command
    assert lab.url_to_open("0.0.0.0", 9001, "abc") == "http://127.0.0.1:9001/lab?token=abc"


def test_container_detection(tmp_path):
    assert lab.in_container({"container": "podman"}, tmp_path)
    assert not lab.in_container({}, tmp_path)
    (tmp_path / ".dockerenv").touch()
    assert lab.in_container({}, tmp_path)


def test_make_lab_runs_the_script():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^lab: .*\n\t\$\(PY\) tools/lab\.py notebooks$", makefile, re.M)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX users")
def test_lab_starts_and_answers_at_the_printed_url(tmp_path):
    # As whoever runs the tests (root in the CI image and in containers): the plain
    # `jupyter lab notebooks/` stopped there at once.
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    env.pop("JUPYTER_TOKEN", None)
    script = [sys.executable, str(ROOT / "tools" / "lab.py")]
    server = subprocess.Popen(
        [*script, "--ip", "127.0.0.1", "--port", str(_free_port()), str(ROOT / "notebooks")],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        first = server.stdout.readline()
        match = re.search(r"open (http://127\.0\.0\.1:\d+/lab\?token=\w+)", first)
        assert match, first
        url = match.group(1)
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, server.stdout.read()[-3000:]
            try:
                with urllib.request.urlopen(url.replace("/lab?", "/api/status?"), timeout=5) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline, "JupyterLab did not answer in time"
                time.sleep(0.5)
        with urllib.request.urlopen(url, timeout=10) as page:
            assert page.status == 200 and b"JupyterLab" in page.read()
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
