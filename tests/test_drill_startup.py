"""What `imgkit drill` does before its first request leaves: no data stack, no plotting, and the
TLS set-up of its HTTP clients made once.

A drill of 64 images at 0.5 s each takes 4 s at best; every tenth of a second spent before the
first request is sent shows in the wall time (benchmarks/bench_runner.py, section 6, measures
it). Here the structure is checked, in a fresh interpreter running the command line:

- every connection the drill opens before its first answer is stored (the simulator's stats,
  the first requests) is opened with neither pandas nor matplotlib imported;
- the process makes one TLS context per HTTP library it uses (httpx for imgkit's own
  questions and downloads, httpx2 under the openai SDK), not one per client.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pytest

# Runs the command line in a fresh interpreter. An audit hook notes, at each socket connection,
# which of HEAVY (loaded for analysis, reports and tables, never to send) are imported; each
# ssl.SSLContext made is counted. Both are printed as JSON on the last line, after whatever the
# command printed.
_DRIVER = """
import contextlib, io, json, ssl, sys, time

HEAVY = ("pandas", "matplotlib")
connects = []
contexts = []


def on_event(event, args):
    if event == "socket.connect":
        connects.append((time.time(), [m for m in HEAVY if m in sys.modules]))


sys.addaudithook(on_event)
_new = ssl.SSLContext.__new__


def counting_new(cls, *args, **kwargs):
    contexts.append(cls.__module__)
    return _new(cls, *args, **kwargs)


ssl.SSLContext.__new__ = staticmethod(counting_new)

from imgkit.cli.main import main

with contextlib.redirect_stdout(io.StringIO()):
    status = main(sys.argv[1:])
print(json.dumps({"status": status, "connects": connects, "contexts": contexts}))
"""


@pytest.fixture(scope="module")
def drill_process(sim, tmp_path_factory):
    """A drill run by the command line against the session's simulator: (driver output, the
    epoch second its first answer was stored)."""
    out = tmp_path_factory.mktemp("drill-startup")
    argv = [
        *("drill", "--models", "dall-e-2", "--size", "256x256", "-n", "4"),
        *("--concurrency", "2", "--sim-url", sim.base_url, "--out", str(out)),
        *("--name", "run", "--no-progress"),
    ]
    done = subprocess.run(
        [sys.executable, "-c", _DRIVER, *argv],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    report = json.loads(done.stdout.splitlines()[-1])
    assert report["status"] == 0, done.stderr
    with sqlite3.connect(out / "run" / "ledger.sqlite") as db:
        (first_answer,) = db.execute(
            "SELECT min(ended_at) FROM attempts WHERE status = 'ok'"
        ).fetchone()
    return report, first_answer


def test_no_data_stack_or_plotting_before_the_first_request(drill_process):
    report, first_answer = drill_process
    before = [heavy for when, heavy in report["connects"] if when < first_answer]
    assert before, "no connection was seen before the first answer: the check saw nothing"
    assert all(heavy == [] for heavy in before), before


def test_one_tls_context_per_http_library(drill_process):
    report, _ = drill_process
    # httpx (the simulator's stats, image downloads) and httpx2 (the openai SDK): one each.
    assert len(report["contexts"]) <= 2, report["contexts"]


_WARMING = """
import threading
from imgkit.experiment.options import DrillOptions
from imgkit.providers import http_clients
from imgkit.runner.services import start_preparing

options = DrillOptions(prompts=["p"], arms=[], n=1, sim_url="http://127.0.0.1:9")
start_preparing(options, []).result(timeout=60)
for thread in threading.enumerate():
    if thread.name == "imgkit-tls":
        thread.join(timeout=60)
print(sorted(http_clients._contexts))
"""


def test_tls_contexts_are_made_while_the_sdks_import():
    # Made beside the import, in a fresh process, the contexts every provider's clients take
    # are there when the providers are made (before, they were made then, after the import).
    out = subprocess.run(
        [sys.executable, "-c", _WARMING], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "['httpx', 'httpx2']"
