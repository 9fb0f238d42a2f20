"""Batch mode under crashes, stops and cancellations: a batch is paid for once created, so a
resume must re-attach to it (never create it twice) and collect what it made (never lose it).
Everything is counted at the simulator, through the real SDKs."""

from __future__ import annotations

import hashlib
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from imgkit.errors import RunError
from imgkit.runner import cancel_batches, drill, resume
from imgkit.runs import open_run
from imgkit.runs.ledger import Ledger

MODELS = ("dall-e-3", "gpt-image-1", "gemini-2.5-flash-image")


def _batch_rows(folder: Path) -> list[dict]:
    ledger = folder / "ledger.sqlite"
    if not ledger.exists():
        return []
    try:
        with sqlite3.connect(f"file:{ledger}?mode=ro", uri=True, timeout=5) as db:
            db.row_factory = sqlite3.Row
            return [dict(r) for r in db.execute("SELECT * FROM batches")]
    except sqlite3.Error:
        return []


def _wait_for(predicate, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _stats(sim) -> dict:
    return sim.stats()["batches"]


def _all_made(run, planned: int) -> None:
    frame = run.to_frame(verify=True)
    assert len(frame) == planned and (frame["status"] == "ok").all(), frame["status"].tolist()
    assert frame["image_problem"].isna().all()
    for row in frame.itertuples():
        assert hashlib.sha256(Path(row.image_path).read_bytes()).hexdigest() == row.image_sha256


def _start_in_thread(sim, tmp_path: Path, name: str, n: int = 2):
    stop = threading.Event()
    box: dict = {}

    def target() -> None:
        box["run"] = drill(
            ["a lighthouse in a storm"],
            list(MODELS),
            n,
            out=tmp_path,
            run_name=name,
            sim_url=sim.base_url,
            progress=False,
            log=None,
            batch=True,
            stop=stop,
        )

    thread = threading.Thread(target=target)
    thread.start()
    return thread, stop, box


def test_a_kill_between_create_and_record_never_makes_a_second_batch(
    tmp_path, sim_factory, monkeypatch
):
    # Before the fix there was no record of "creating": a runner killed after the vendor
    # created the batch and before its id reached the ledger left a resume to create it again.
    sim = sim_factory(batch_duration=0.3)
    real = Ledger.update_batch

    def killed_after_create(self, key, **fields):
        if fields.get("status") == "submitted":
            raise SystemExit("killed after the vendor created the batch")
        return real(self, key, **fields)

    monkeypatch.setattr(Ledger, "update_batch", killed_after_create)
    with pytest.raises((SystemExit, RunError)):
        drill(
            "a red cube", ["dall-e-3"], 3, out=tmp_path, run_name="cut", sim_url=sim.base_url,
            progress=False, log=None, batch=True,
        )  # fmt: skip
    monkeypatch.undo()
    folder = tmp_path / "cut"
    assert [row["status"] for row in _batch_rows(folder)] == ["creating"]
    assert sum(_stats(sim)["created"].values()) == 1
    run = resume(folder, sim_url=sim.base_url, progress=False, log=None)
    _all_made(run, 3)
    assert sum(_stats(sim)["created"].values()) == 1 and not _stats(sim)["created_twice"]
    assert sum(_stats(sim)["lines"].values()) == 3


def test_resume_re_attaches_to_batches_in_flight_and_collects_them(tmp_path, sim_factory):
    sim = sim_factory(batch_duration=2.0)
    thread, stop, box = _start_in_thread(sim, tmp_path, "detached")
    folder = tmp_path / "detached"
    _wait_for(lambda: len([r for r in _batch_rows(folder) if r["batch_id"]]) == 3)
    stop.set()
    thread.join(timeout=60)
    stopped = box["run"]
    assert stopped.status == "stopped"
    assert stopped.summary()["in_flight"] == 6  # waiting in the batches, not lost
    assert stopped.may_have_been_billed().empty  # a batch request is not a lost request
    run = resume(folder, sim_url=sim.base_url, progress=False, log=None)
    _all_made(run, 6)
    assert sum(_stats(sim)["created"].values()) == 3 and not _stats(sim)["created_twice"]
    assert sum(_stats(sim)["lines"].values()) == 6


def test_imgkit_batch_cancel_cancels_at_the_vendor_and_keeps_what_was_made(tmp_path, sim_factory):
    sim = sim_factory(batch_duration=4.0)
    thread, stop, box = _start_in_thread(sim, tmp_path, "cancel", n=3)
    folder = tmp_path / "cancel"
    _wait_for(lambda: len([r for r in _batch_rows(folder) if r["batch_id"]]) == 3)
    stop.set()
    thread.join(timeout=60)
    run = cancel_batches(folder, sim_url=sim.base_url, progress=False, log=None)
    assert run.manifest["sessions"][-1]["kind"] == "cancel"
    assert all(r["cancel_requested_at"] and r["status"] == "collected" for r in _batch_rows(folder))
    assert set(_stats(sim)["status"]) == {"openai:cancelled", "gemini:cancelled"}
    frame = run.to_frame()
    made = frame[frame["status"] == "ok"]
    assert set(frame.loc[frame["status"] != "ok", "error_kind"]) <= {"batch_cancelled"}
    # What the vendor ran before the cancellation is kept (and billed); the rest never ran.
    assert len(made) == sum(_stats(sim)["lines"].values())
    assert run.summary()["spent_usd"] == pytest.approx(made["cost_usd"].sum())
    resumed = resume(folder, sim_url=sim.base_url, progress=False, log=None)
    _all_made(resumed, 9)
    assert sum(_stats(sim)["lines"].values()) == 9


def test_a_resume_on_a_new_embedded_simulator_sends_lost_batches_again(tmp_path):
    # The embedded simulator goes with the runner: its batches are unknown to the next one.
    stop = threading.Event()
    box: dict = {}

    def target() -> None:
        box["run"] = drill(
            "a red cube", ["gpt-image-1"], 2, out=tmp_path, run_name="embedded",
            progress=False, log=None, batch=True, stop=stop, sim_batch_duration=30.0,
        )  # fmt: skip

    thread = threading.Thread(target=target)
    thread.start()
    _wait_for(lambda: any(r["batch_id"] for r in _batch_rows(tmp_path / "embedded")))
    stop.set()
    thread.join(timeout=60)
    lines: list[str] = []
    run = resume(tmp_path / "embedded", progress=False, log=lines.append)
    assert any("no longer knows batch" in line for line in lines)
    _all_made(run, 2)
    lost = [r for r in _batch_rows(tmp_path / "embedded") if r["status"] == "lost"]
    assert len(lost) == 1


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_second_ctrl_c_cancels_the_batches_at_the_vendor(tmp_path, sim_factory):
    sim = sim_factory(batch_duration=6.0)
    runner = subprocess.Popen(
        [sys.executable, "-m", "imgkit.cli.drill", "--prompt", "a fox", "--models",
         "dall-e-3,gpt-image-1", "-n", "3", "--batch", "--sim-url", sim.base_url, "--out",
         str(tmp_path), "--name", "sigint", "--no-progress"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    folder = tmp_path / "sigint"
    try:
        _wait_for(lambda: len([r for r in _batch_rows(folder) if r["batch_id"]]) == 2)
        runner.send_signal(signal.SIGINT)
        time.sleep(0.3)
        runner.send_signal(signal.SIGINT)
        runner.wait(timeout=60)
    finally:
        if runner.poll() is None:
            runner.kill()
    stderr = runner.stderr.read().decode()
    assert "cancelling 2 batch(es)" in stderr, stderr
    assert _stats(sim)["status"] == {"openai:cancelled": 2}
    run = open_run(folder)
    assert run.status == "cancelled"
    assert all(r["status"] == "collected" for r in _batch_rows(folder))
    frame = run.to_frame()
    assert set(frame["status"]) <= {"ok", "failed"}
    assert len(frame[frame["status"] == "ok"]) == sum(_stats(sim)["lines"].values())


def _kill_command(sim_url: str, out: Path) -> list[str]:
    return [
        sys.executable, "-m", "imgkit.cli.drill", "--prompt", "a lighthouse in a storm",
        "--models", ",".join(MODELS), "-n", "2", "--batch", "--sim-url", sim_url,
        "--out", str(out), "--name", "victim", "--no-progress",
    ]  # fmt: skip


@pytest.mark.parametrize("trial", range(5))
def test_kill_9_anywhere_in_a_batch_run_then_resume_loses_nothing_and_pays_once(
    tmp_path, sim_factory, trial
):
    # The smaller version of benchmarks/bench_batch_kill.py: a kill while the batches are
    # sent, while they run, or while their results are recorded.
    sim = sim_factory(batch_duration=1.0)
    rng = random.Random(trial)
    child = subprocess.Popen(
        _kill_command(sim.base_url, tmp_path),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    folder = tmp_path / "victim"
    try:
        _wait_for(lambda: folder.exists() or child.poll() is not None)
        time.sleep(rng.uniform(0.0, 3.0))
        child.kill()
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
    run = resume(folder, sim_url=sim.base_url, progress=False, log=None)
    _all_made(run, 6)
    assert not _stats(sim)["created_twice"]
    assert sum(_stats(sim)["lines"].values()) == 6  # no request ran twice
