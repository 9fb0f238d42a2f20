"""The attempt ledger and the content-addressed image store, including a real kill -9."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from imgkit.errors import RunError
from imgkit.runs.ledger import Ledger, PlannedGeneration
from imgkit.runs.storage import store_image, write_atomic


def _plan(count: int = 3) -> list[PlannedGeneration]:
    return [
        PlannedGeneration(
            gen_id=i,
            arm="dall-e-3",
            model="dall-e-3",
            provider="openai",
            endpoint="generate",
            prompt_id="p0",
            prompt="a red cube",
            sent_prompt="a red cube",
            repeat=i,
            request={"model": "dall-e-3", "prompt": "a red cube", "size": "1024x1024"},
            estimated_usd=0.04,
        )
        for i in range(count)
    ]


@pytest.fixture
def ledger(tmp_path):
    with Ledger.create(tmp_path) as created:
        created.add_plan(_plan())
        created.begin_session("start")
        yield created


def test_sqlite_is_in_wal_mode_with_full_sync(ledger):
    assert ledger._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert ledger._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_plan_round_trips(ledger):
    plan = ledger.plan()
    assert [g.repeat for g in plan] == [0, 1, 2]
    assert plan[0].request["size"] == "1024x1024"
    assert ledger.status_counts() == {"pending": 3}


def test_attempt_lifecycle_and_spend(ledger):
    first = ledger.begin_attempt(0, 1, estimated_usd=0.04)
    assert [a["attempt_id"] for a in ledger.in_flight()] == [first]
    ledger.finish_ok(
        first,
        image_sha256="ab" * 32,
        image_file="x.png",
        image_format="png",
        width=1024,
        height=1024,
        revised_prompt="a red cube, rewritten",
        cost_usd=0.04,
        cost_basis="estimate",
        latency_s=0.1,
        request_id="req_1",
        simulated=True,
    )
    refused = ledger.begin_attempt(1, 1, estimated_usd=0.04)
    ledger.finish_error(refused, "refused", error_kind="content_policy", error_message="no")
    cut = ledger.begin_attempt(2, 1, estimated_usd=0.04)
    assert ledger.status_counts() == {"ok": 1, "refused": 1, "in_flight": 1}
    ledger.mark_interrupted([cut], "killed")
    rows = {a["attempt_id"]: a for a in ledger.attempts()}
    assert rows[cut]["status"] == "interrupted" and rows[cut]["may_have_been_billed"] == 1
    # The ok image and the attempt that may have been billed both count; the refusal does not.
    assert ledger.spent_usd() == pytest.approx(0.08)
    # A finished attempt cannot be finished again (the update only touches 'sending' rows).
    ledger.finish_error(first, "failed", error_kind="x", error_message="late")
    assert ledger.attempts()[0]["status"] == "ok"
    with pytest.raises(RunError):
        ledger.finish_error(first, "ok", error_kind="x", error_message="not an error status")


def test_one_writer_at_a_time_but_readers_welcome(ledger, tmp_path):
    with pytest.raises(RunError, match="in use"):
        Ledger.open(tmp_path, writer=True)
    with Ledger.open(tmp_path) as reader:
        assert len(reader.plan()) == 3
    with pytest.raises(RunError, match="already exists"):
        Ledger.create(tmp_path)


def test_lock_is_released_on_close(tmp_path):
    Ledger.create(tmp_path).close()
    Ledger.open(tmp_path, writer=True).close()


def test_not_a_ledger(tmp_path):
    with pytest.raises(RunError, match="not a run folder"):
        Ledger.open(tmp_path)
    (tmp_path / Ledger.FILENAME).write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(RunError, match="not a readable ledger"):
        Ledger.open(tmp_path)


def test_sessions(ledger):
    ledger.end_session("complete", {"sent": 0})
    (session,) = ledger.sessions()
    assert session["kind"] == "start" and session["status"] == "complete"
    assert session["note"] == {"sent": 0} and session["pid"] == os.getpid()


def test_store_image_is_content_addressed_idempotent_and_self_repairing(tmp_path):
    data = b"\x89PNG fake image bytes"
    digest = hashlib.sha256(data).hexdigest()
    sha, path = store_image(tmp_path, data, "png")
    assert sha == digest and path.name == f"{digest}.png" and path.read_bytes() == data
    assert store_image(tmp_path, data, "png") == (sha, path)
    path.write_bytes(b"damaged")
    store_image(tmp_path, data, "png")
    assert path.read_bytes() == data
    assert store_image(tmp_path, b"jpeg bytes", "jpeg")[1].suffix == ".jpg"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left
    with pytest.raises(RunError):
        store_image(tmp_path, b"", "png")


def test_write_atomic_replaces_whole_file(tmp_path):
    target = tmp_path / "manifest.json"
    write_atomic(target, b"old")
    write_atomic(target, b"new")
    assert target.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]


def test_committed_rows_survive_kill_9(tmp_path):
    """Begin an attempt in another process, kill -9 it, and find the attempt in flight."""
    script = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {os.getcwd()!r})
        from imgkit.runs.ledger import Ledger, PlannedGeneration
        ledger = Ledger.create({str(tmp_path)!r})
        ledger.add_plan([PlannedGeneration(0, "a", "dall-e-3", "openai", "generate", "p0",
                         "x", "x", 0, {{"model": "dall-e-3"}}, 0.04)])
        ledger.begin_session("start")
        ledger.begin_attempt(0, 1, estimated_usd=0.04)
        print("sent", flush=True)
        time.sleep(60)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "sent"
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL
    # The kernel released the dead runner's lock; the committed attempt is there.
    with Ledger.open(tmp_path, writer=True) as ledger:
        (attempt,) = ledger.in_flight()
        assert attempt["estimated_usd"] == 0.04
        assert ledger.sessions()[0]["status"] == "running"
