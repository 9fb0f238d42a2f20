"""Resuming runs: after kill -9 (a real one, of a runner in another process), after a stop, and
what a resume must never do: send a completed generation twice."""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from imgkit.cli.drill import main as drill_main
from imgkit.errors import BudgetExceededError, RunError
from imgkit.runner import RetryPolicy, drill, resume
from imgkit.runs import open_run
from imgkit.runs.ledger import Ledger

MODELS = ("dall-e-3", "gpt-image-1")
REPEATS = 8


def _ok_in_ledger(folder: Path) -> int:
    """Generations with an ok attempt, read the way any other process would."""
    ledger = folder / "ledger.sqlite"
    if not ledger.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{ledger}?mode=ro", uri=True, timeout=5) as db:
            return db.execute("SELECT count(*) FROM attempts WHERE status = 'ok'").fetchone()[0]
    except sqlite3.Error:
        return 0  # the runner is still creating the ledger


def _requests(stats: dict) -> Counter:
    return Counter(stats["requests"].get("openai", {}))


def _check_images(frame) -> None:
    """Every ok generation's image is on disk, whole, and named by its own hash."""
    for row in frame[frame["status"] == "ok"].itertuples():
        data = Path(row.image_path).read_bytes()
        assert hashlib.sha256(data).hexdigest() == row.image_sha256
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            assert image.size == (row.width, row.height)


def _start_runner(
    sim_url: str, out: Path, name: str, stderr=subprocess.DEVNULL
) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "imgkit.cli.drill",
        "--prompt",
        "a lighthouse in a storm",
        "--models",
        ",".join(MODELS),
        "-n",
        str(REPEATS),
        "--concurrency",
        "4",
        "--sim-url",
        sim_url,
        "--out",
        str(out),
        "--name",
        name,
        "--no-progress",
    ]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr, text=True)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kill_9_mid_run_then_resume_never_sends_a_completed_generation_twice(
    tmp_path, sim_factory, seed
):
    rng = random.Random(seed)
    # Each request takes 0.4 s, so the last ones are still in flight when the kill lands even
    # on a busy machine (the run cannot finish between the poll below and the signal).
    sim = sim_factory(latency=0.4)
    folder = tmp_path / "killed"
    planned = len(MODELS) * REPEATS

    # A random moment: after 1..planned-3 images are in, plus a random fraction of a request.
    wanted = rng.randint(1, planned - 3)
    runner = _start_runner(sim.base_url, tmp_path, "killed")
    try:
        deadline = time.monotonic() + 20
        while _ok_in_ledger(folder) < wanted:
            assert runner.poll() is None, "the runner ended before it could be killed"
            assert time.monotonic() < deadline, "the runner made no progress"
            time.sleep(0.01)
        time.sleep(rng.uniform(0, 0.2))
        os.kill(runner.pid, signal.SIGKILL)
        assert runner.wait(timeout=10) == -signal.SIGKILL
    finally:
        if runner.poll() is None:
            runner.kill()
    time.sleep(0.3)  # let the simulator count any request already on the wire
    at_crash = _requests(sim.stats())

    run = open_run(folder)
    assert run.status == "crashed"
    before = run.to_frame()
    assert set(before["status"]) <= {"ok", "in_flight", "pending"}
    _check_images(before)
    in_flight_at_crash = before[before["status"] == "in_flight"]
    not_done = Counter(before.loc[before["status"] != "ok", "model"])
    assert sum(not_done.values()) == planned - (before["status"] == "ok").sum()
    last_attempt_at_crash = int(run.attempts_frame()["attempt_id"].max())

    lines: list[str] = []
    resumed = resume(folder, sim_url=sim.base_url, progress=False, log=lines.append)
    after_resume = _requests(sim.stats())

    # Attempts in flight whose image had reached the disk (journaled, not yet committed) are
    # adopted by the resume, not bought again: those generations were complete at the crash.
    attempts = resumed.attempts_frame()
    adopted = attempts[
        (attempts["status"] == "ok") & (attempts["attempt_id"] <= last_attempt_at_crash)
    ].merge(in_flight_at_crash[["arm", "repeat"]], on=["arm", "repeat"])
    not_done -= Counter(adopted["model"])
    in_flight = in_flight_at_crash.merge(
        adopted[["arm", "repeat"]], on=["arm", "repeat"], how="left", indicator=True
    )
    in_flight = in_flight[in_flight["_merge"] == "left_only"]

    # The proof: during the resume the simulator received exactly one request per generation
    # that was not complete at the crash, and none for those that were.
    assert after_resume - at_crash == not_done
    frame = resumed.to_frame()
    assert (frame["status"] == "ok").all() and resumed.status == "complete"
    _check_images(frame)
    ok_attempts = attempts[attempts["status"] == "ok"]
    assert ok_attempts.groupby(["arm", "repeat"]).size().eq(1).all()
    # Each image made before the crash is the very one still reported.
    kept = before[before["status"] == "ok"].set_index(["arm", "repeat"])["image_sha256"]
    now = frame.set_index(["arm", "repeat"])["image_sha256"]
    assert (now.loc[kept.index] == kept).all()

    # Attempts in flight at the crash are reported as possibly billed, with their estimate.
    billed = resumed.may_have_been_billed()
    assert len(billed) == len(in_flight), (
        billed[["attempt_id", "arm", "repeat", "status", "try"]].to_string(),
        in_flight_at_crash[["arm", "repeat", "status"]].to_string(),
        adopted[["attempt_id", "arm", "repeat"]].to_string(),
        attempts[["attempt_id", "arm", "repeat", "status", "try"]].to_string(),
    )
    assert (billed["estimated_usd"] > 0).all()
    if len(in_flight):
        assert any("may have been billed" in line for line in lines)
    sessions = resumed.manifest["sessions"]
    assert [s["kind"] for s in sessions] == ["start", "resume"]
    assert len(sessions[1]["may_have_been_billed"]) == len(in_flight)


def test_stop_leaves_a_resumable_run(tmp_path, sim_factory):
    sim = sim_factory()
    stop = threading.Event()
    stop.set()  # asked to stop before the first request: nothing is sent
    run = drill(
        "a red cube",
        ["dall-e-3"],
        3,
        out=tmp_path,
        sim_url=sim.base_url,
        progress=False,
        log=None,
        stop=stop,
    )
    assert run.status == "stopped"
    assert set(run.to_frame()["status"]) == {"pending"}
    assert sim.stats()["total_requests"] == 0

    finished = run.resume(sim_url=sim.base_url, progress=False, log=None)
    assert set(finished.to_frame()["status"]) == {"ok"} and finished.status == "complete"
    assert sim.stats()["total_requests"] == 3
    # Resuming a complete run sends nothing.
    finished.resume(progress=False, log=None)
    assert sim.stats()["total_requests"] == 3


def test_a_stop_mid_run_keeps_what_is_in_flight(tmp_path, sim_factory):
    # The Stop button's path: set from another thread once two images are in. Nothing new is
    # sent, the requests already out are finished and kept, and a resume does the rest.
    sim = sim_factory(latency=0.3)
    stop = threading.Event()
    folder = tmp_path / "stopped"

    def stop_after_two_images() -> None:
        while _ok_in_ledger(folder) < 2:
            time.sleep(0.01)
        stop.set()

    threading.Thread(target=stop_after_two_images, daemon=True).start()
    run = drill(
        "a red cube",
        ["dall-e-3"],
        12,
        concurrency=2,
        out=tmp_path,
        run_name="stopped",
        sim_url=sim.base_url,
        progress=False,
        log=None,
        stop=stop,
    )
    frame = run.to_frame()
    ok = int((frame["status"] == "ok").sum())
    assert run.status == "stopped" and 2 <= ok < 12
    # Every request the simulator answered has its image: nothing paid for was dropped.
    assert sim.stats()["total_requests"] == ok and run.may_have_been_billed().empty
    finished = run.resume(sim_url=sim.base_url, progress=False, log=None)
    assert finished.status == "complete" and sim.stats()["total_requests"] == 12


def test_resume_sends_transient_failures_again_but_not_refusals(tmp_path, sim_factory):
    sim = sim_factory(block=["forbidden fruit"])
    fast = RetryPolicy(transient_delay_s=0)
    common = {"out": tmp_path, "sim_url": sim.base_url, "progress": False, "log": None}
    refused = drill("forbidden fruit", ["dall-e-3"], 2, run_name="refused", **common)
    sim.configure(faults="openai/dall-e-3:500=1.0")
    failed = drill("a red cube", ["dall-e-3"], 2, retry=fast, run_name="failed", **common)
    assert set(failed.to_frame()["status"]) == {"failed"}
    assert set(refused.to_frame()["status"]) == {"refused"}
    sim.configure(faults="")
    sim.reset()

    assert set(resume(failed.path, progress=False, log=None).to_frame()["status"]) == {"ok"}
    assert sim.stats()["total_requests"] == 2
    assert set(resume(refused.path, progress=False, log=None).to_frame()["status"]) == {"refused"}
    assert sim.stats()["total_requests"] == 2


def test_resume_refuses_what_the_budget_cannot_cover(tmp_path, sim_factory):
    sim = sim_factory()
    stop = threading.Event()
    stop.set()
    run = drill(
        "a red cube",
        ["dall-e-3"],
        5,
        out=tmp_path,
        sim_url=sim.base_url,
        stop=stop,
        log=None,
        progress=False,
    )
    with pytest.raises(BudgetExceededError):
        run.resume(budget=0.1, progress=False, log=None)
    assert sim.stats()["total_requests"] == 0


def test_a_run_in_use_cannot_be_resumed(tmp_path, sim):
    run = drill(
        "a cube", ["dall-e-3"], 1, out=tmp_path, sim_url=sim.base_url, log=None, progress=False
    )
    with Ledger.open(run.path, writer=True):
        assert run.is_active()
        with pytest.raises(RunError, match="in use"):
            run.resume(progress=False, log=None)
    assert not run.is_active()


def test_open_run_rejects_what_is_not_a_run(tmp_path):
    with pytest.raises(RunError):
        open_run(tmp_path / "missing")
    with pytest.raises(RunError, match="manifest"):
        open_run(tmp_path)


class _StderrLines:
    """Collect a child's stderr lines in the background, to wait for one without blocking."""

    def __init__(self, stream) -> None:
        self.lines: list[str] = []
        threading.Thread(target=lambda: self.lines.extend(stream), daemon=True).start()

    def wait_for(self, text: str, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            assert time.monotonic() < deadline, f"{text!r} never came: {self.lines}"
            time.sleep(0.01)


def _interrupt_after_three_images(sim, tmp_path: Path, presses: int):
    folder = tmp_path / "interrupted"
    runner = _start_runner(sim.base_url, tmp_path, "interrupted", stderr=subprocess.PIPE)
    stderr = _StderrLines(runner.stderr)
    try:
        deadline = time.monotonic() + 20
        while _ok_in_ledger(folder) < 3:
            assert runner.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        for press in range(presses):
            runner.send_signal(signal.SIGINT)
            if press == 0:
                stderr.wait_for("Press Ctrl-C again")
        assert runner.wait(timeout=15) == 130
    finally:
        if runner.poll() is None:
            runner.kill()
    return open_run(folder), stderr


def _resume_and_check(run, sim, capsys) -> dict:
    """Resume from the command line: exactly the unfinished generations are sent."""
    frame = run.to_frame()
    time.sleep(0.3)
    at_stop = _requests(sim.stats())
    not_done = Counter(frame.loc[frame["status"] != "ok", "model"])
    args = ["--resume", str(run.path), "--sim-url", sim.base_url, "--no-progress", "--json"]
    assert drill_main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["status"] == "complete" and report["ok"] == len(frame)
    assert _requests(sim.stats()) - at_stop == not_done
    _check_images(open_run(run.path).to_frame())
    return report


def test_ctrl_c_keeps_the_images_in_flight_and_leaves_a_resumable_run(
    tmp_path, sim_factory, capsys
):
    # 0.4 s per request: 13 generations are still to come when Ctrl-C lands, however busy the
    # machine, and up to four are in flight.
    sim = sim_factory(latency=0.4)
    run, _stderr = _interrupt_after_three_images(sim, tmp_path, presses=1)
    assert run.status == "interrupted" and not run.is_active()
    frame = run.to_frame()
    ok = int((frame["status"] == "ok").sum())
    assert 3 <= ok < len(frame)
    # Nothing paid for was lost: every request the service answered has its image stored,
    # so nothing "may have been billed" and nothing will be paid for twice.
    assert sum(_requests(sim.stats()).values()) == ok
    assert run.may_have_been_billed().empty
    assert not (run.attempts_frame()["status"] == "sending").any()
    _check_images(frame)
    report = _resume_and_check(run, sim, capsys)
    assert report["may_have_been_billed"] == []


def test_a_second_ctrl_c_abandons_the_requests_in_flight(tmp_path, sim_factory, capsys):
    sim = sim_factory(latency=0.4)
    run, _stderr = _interrupt_after_three_images(sim, tmp_path, presses=2)
    assert run.status == "interrupted" and not run.is_active()
    # The abandoned requests were marked at once, not left "sending" for a resume to find.
    attempts = run.attempts_frame()
    assert not (attempts["status"] == "sending").any()
    cut_off = run.may_have_been_billed()
    assert len(cut_off) >= 1
    report = _resume_and_check(run, sim, capsys)
    assert len(report["may_have_been_billed"]) == len(cut_off)
    assert all(entry["estimated_usd"] > 0 for entry in report["may_have_been_billed"])
