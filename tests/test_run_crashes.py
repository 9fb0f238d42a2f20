"""A run folder under crashes and signals: a start killed at any instant leaves nothing or a run
that resumes to the end; SIGTERM stops like Ctrl-C; two runners can never share a folder; an
image that reached the disk is adopted by a resume, never bought again.

Each test here reproduces a defect found on 0.1 (issue #14) and failed before its fix.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest

from imgkit.errors import RunError
from imgkit.runner import drill, resume
from imgkit.runs import open_run
from imgkit.runs.ledger import Ledger

MODELS = ("dall-e-3", "gpt-image-1")


def _runner_command(sim_url: str, out: Path, name: str, *, n: int, concurrency: int = 4) -> list:
    return [
        sys.executable,
        "-m",
        "imgkit.cli.drill",
        "--prompt",
        "a lighthouse in a storm",
        "--models",
        ",".join(MODELS),
        "-n",
        str(n),
        "--concurrency",
        str(concurrency),
        "--sim-url",
        sim_url,
        "--out",
        str(out),
        "--name",
        name,
        "--no-progress",
    ]


def _ok_in_ledger(folder: Path) -> int:
    ledger = folder / "ledger.sqlite"
    if not ledger.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{ledger}?mode=ro", uri=True, timeout=5) as db:
            return db.execute("SELECT count(*) FROM attempts WHERE status = 'ok'").fetchone()[0]
    except sqlite3.Error:
        return 0


def _wait_for_ok(runner: subprocess.Popen, folder: Path, wanted: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while _ok_in_ledger(folder) < wanted:
        assert runner.poll() is None, "the runner ended before the test could act"
        assert time.monotonic() < deadline, "the runner made no progress"
        time.sleep(0.01)


def _requests(sim) -> int:
    return sim.stats()["total_requests"]


def _visible_entries(out: Path) -> list[Path]:
    return [p for p in out.iterdir() if not p.name.startswith(".")] if out.exists() else []


# -- a start killed in its first instants ---------------------------------------------------


def test_a_start_that_dies_while_writing_its_plan_leaves_no_run_folder(tmp_path, sim, monkeypatch):
    # In-process stand-in for a kill between "ledger created" and "plan committed": on 0.1 it
    # left a folder whose ledger had a schema and no plan, which --resume called complete.
    def die(self, generations):
        raise SystemExit("killed while writing the plan")

    monkeypatch.setattr(Ledger, "add_plan", die)
    with pytest.raises(SystemExit):
        drill(
            "a red cube",
            ["dall-e-3"],
            3,
            out=tmp_path,
            run_name="half",
            sim_url=sim.base_url,
            progress=False,
            log=None,
        )
    assert _visible_entries(tmp_path) == []
    monkeypatch.undo()
    # The name is free again, and the leftovers of the dead start are cleared by the next one.
    run = drill(
        "a red cube",
        ["dall-e-3"],
        3,
        out=tmp_path,
        run_name="half",
        sim_url=sim.base_url,
        progress=False,
        log=None,
    )
    assert run.status == "complete" and len(run.to_frame()) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["half"]


@pytest.mark.parametrize("trial", range(6))
def test_kill_9_in_the_first_instants_leaves_nothing_or_a_resumable_run(
    tmp_path, sim_factory, trial
):
    # On 0.1 a kill in the first tens of milliseconds after the folder appeared left a schema
    # without a plan ("complete (nothing sent)"), half a schema (OperationalError), or a taken
    # name that resume refused. benchmarks/bench_kill.py runs many more instants.
    rng = random.Random(trial)
    sim = sim_factory(latency=0.2)
    out = tmp_path / "runs"
    runner = subprocess.Popen(
        _runner_command(sim.base_url, out, "early", n=3),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not (out.exists() and any(out.iterdir())):
            assert runner.poll() is None and time.monotonic() < deadline
            time.sleep(0.0005)
        time.sleep(rng.uniform(0, 0.1))
        runner.kill()
        runner.wait(timeout=10)
    finally:
        if runner.poll() is None:
            runner.kill()
    time.sleep(0.3)
    folder = out / "early"
    if not folder.exists():
        assert _visible_entries(out) == []
        return
    before = _requests(sim)
    run = resume(folder, sim_url=sim.base_url, progress=False, log=None)
    frame = run.to_frame()
    assert run.status == "complete" and len(frame) == 3 * len(MODELS)
    assert (frame["status"] == "ok").all()
    # Nothing the first runner completed was sent again.
    assert _requests(sim) - before <= len(frame)


# -- signals -------------------------------------------------------------------------------


def test_sigterm_stops_like_ctrl_c_and_keeps_what_is_in_flight(tmp_path, sim_factory):
    sim = sim_factory(latency=0.4)
    folder = tmp_path / "termed"
    runner = subprocess.Popen(
        _runner_command(sim.base_url, tmp_path, "termed", n=8),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for_ok(runner, folder, 3)
        runner.send_signal(signal.SIGTERM)
        code = runner.wait(timeout=20)
        stderr = runner.stderr.read()
    finally:
        if runner.poll() is None:
            runner.kill()
    # The run is wrapped up first, then the process ends by the signal it was sent, as it would
    # have without imgkit (what systemd and Docker expect of a stopped service).
    assert code == -signal.SIGTERM, stderr
    assert "SIGTERM" in stderr
    run = open_run(folder)
    assert run.status == "interrupted" and not run.is_active()
    attempts = run.attempts_frame()
    assert not (attempts["status"] == "sending").any()
    # What was in flight was finished and kept: every request the simulator answered has its
    # image, so nothing may have been billed without one.
    ok = int((run.to_frame()["status"] == "ok").sum())
    assert _requests(sim) == ok and run.may_have_been_billed().empty
    with Ledger.open(folder) as ledger:
        assert [s["status"] for s in ledger.sessions()] == ["interrupted"]


def test_a_killed_session_does_not_stay_running_in_the_ledger(tmp_path, sim_factory):
    sim = sim_factory(latency=0.3)
    folder = tmp_path / "killed"
    runner = subprocess.Popen(
        _runner_command(sim.base_url, tmp_path, "killed", n=6),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_ok(runner, folder, 2)
        runner.kill()
        runner.wait(timeout=10)
    finally:
        if runner.poll() is None:
            runner.kill()
    resumed = resume(folder, sim_url=sim.base_url, progress=False, log=None)
    assert resumed.status == "complete"
    with Ledger.open(folder) as ledger:
        statuses = [s["status"] for s in ledger.sessions()]
    assert statuses == ["crashed", "complete"]


# -- exclusion -------------------------------------------------------------------------------


def test_two_runners_never_share_a_folder_even_when_the_lock_file_is_deleted(tmp_path, sim_factory):
    # On 0.1 the lock was a file's existence plus flock on it: deleting run.lock let a second
    # resume run beside the first, and 16 generations were made twice.
    sim = sim_factory(latency=0.3)
    folder = tmp_path / "shared"
    runner = subprocess.Popen(
        _runner_command(sim.base_url, tmp_path, "shared", n=8, concurrency=2),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_ok(runner, folder, 1)
        for leftover in folder.glob("*.lock"):
            leftover.unlink()
        assert open_run(folder).is_active()
        with pytest.raises(RunError, match="in use"):
            resume(folder, sim_url=sim.base_url, progress=False, log=None)
        assert runner.wait(timeout=60) == 0
    finally:
        if runner.poll() is None:
            runner.kill()
    assert _requests(sim) == 8 * len(MODELS)
    assert not open_run(folder).is_active()


# -- an image on disk but not yet in the ledger ---------------------------------------------

_DIE_BEFORE_THIRD_COMMIT = textwrap.dedent(
    """
    import os, signal, sys
    from imgkit.runs.ledger import Ledger
    from imgkit.cli.drill import main

    calls = {"ok": 0}
    real = Ledger.finish_ok

    def finish_ok(self, *args, **kwargs):
        calls["ok"] += 1
        if calls["ok"] == 3:  # the third image is on disk; its row is not committed yet
            os.kill(os.getpid(), signal.SIGKILL)
        return real(self, *args, **kwargs)

    Ledger.finish_ok = finish_ok
    sys.exit(main(sys.argv[1:]))
    """
)


def test_resume_adopts_an_image_that_reached_the_disk_instead_of_buying_it_again(
    tmp_path, sim_factory
):
    sim = sim_factory()
    folder = tmp_path / "orphan"
    command = _runner_command(sim.base_url, tmp_path, "orphan", n=3, concurrency=1)
    runner = subprocess.run(
        [sys.executable, "-c", _DIE_BEFORE_THIRD_COMMIT, *command[3:]],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert runner.returncode == -signal.SIGKILL, runner.stderr
    at_crash = _requests(sim)
    before = open_run(folder).to_frame()
    assert (before["status"] == "ok").sum() == 2  # the third image is not in the ledger
    run = resume(folder, sim_url=sim.base_url, progress=False, log=None)
    frame = run.to_frame()
    assert run.status == "complete" and (frame["status"] == "ok").all()
    # The third image was adopted from the disk, not bought again: the resume sent only the
    # generations after it (the fourth was on the wire at the kill and is sent again).
    assert _requests(sim) - at_crash == 3 * len(MODELS) - 3
    attempts = run.attempts_frame()
    third = frame.sort_values("started_at").iloc[2]
    tries = attempts[(attempts["arm"] == third["arm"]) & (attempts["repeat"] == third["repeat"])]
    assert list(tries["status"]) == ["ok"]
    assert Path(third["image_path"]).is_file()
    if third["model"] == "dall-e-3":
        assert third["revised_prompt"]  # what the service said came back with the image
    images = sorted(p.name for p in (folder / "images").iterdir() if not p.name.startswith("."))
    assert len(images) == len(set(frame["image_sha256"]))


def test_resume_clears_temporary_files_left_in_the_images_folder(tmp_path, sim):
    stop_now = __import__("threading").Event()
    stop_now.set()
    run = drill(
        "a red cube",
        ["dall-e-3"],
        2,
        out=tmp_path,
        sim_url=sim.base_url,
        progress=False,
        log=None,
        stop=stop_now,
    )
    stray = run.images_dir / ".0123abcd.png.x1y2.tmp"
    stray.write_bytes(b"half an image")
    run.resume(sim_url=sim.base_url, progress=False, log=None)
    assert not stray.exists()
    assert not list(run.images_dir.glob("*.tmp"))


def test_a_manifest_sessions_list_matches_the_ledger_after_a_crash(tmp_path, sim_factory):
    sim = sim_factory(latency=0.3)
    folder = tmp_path / "sessions"
    runner = subprocess.Popen(
        _runner_command(sim.base_url, tmp_path, "sessions", n=4),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_ok(runner, folder, 1)
        runner.kill()
        runner.wait(timeout=10)
    finally:
        if runner.poll() is None:
            runner.kill()
    resume(folder, sim_url=sim.base_url, progress=False, log=None)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert [s["status"] for s in manifest["sessions"]] == ["crashed", "complete"]
    assert Counter(s["kind"] for s in manifest["sessions"]) == {"start": 1, "resume": 1}
    assert os.path.isdir(folder / "images")
