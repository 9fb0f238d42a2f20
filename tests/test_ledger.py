"""The attempt ledger and the content-addressed image store, including a real kill -9."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading

import pytest

from imgkit.errors import RunError
from imgkit.runs.ledger import Ledger, PlannedGeneration
from imgkit.runs.ledger_writer import LedgerWriter
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


# -- grouped commits (LedgerWriter) ------------------------------------------------------------


def _reader(tmp_path) -> sqlite3.Connection:
    """A second connection, as another process would read the ledger (committed rows only)."""
    return sqlite3.connect(f"file:{tmp_path / Ledger.FILENAME}?mode=ro", uri=True)


def _committed_attempts(tmp_path) -> list[tuple]:
    with contextlib.closing(_reader(tmp_path)) as db:
        return db.execute("SELECT gen_id, status FROM attempts ORDER BY attempt_id").fetchall()


def test_a_group_is_one_transaction_and_each_write_a_savepoint(ledger, tmp_path):
    """Ledger.group on its own: one commit for all; a write that raises is undone alone."""
    before = ledger.commits
    with ledger.group():
        first = ledger.begin_attempt(0, 1, estimated_usd=0.04)
        with pytest.raises(sqlite3.IntegrityError):  # no generation 99 in the plan
            ledger.begin_attempt(99, 1, estimated_usd=0.04)
        ledger.finish_error(first, "failed", error_kind="x", error_message="y")
        assert _committed_attempts(tmp_path) == []  # nothing visible before the COMMIT
        with pytest.raises(RunError, match="do not nest"), ledger.group():
            pass
    assert ledger.commits == before + 1
    assert _committed_attempts(tmp_path) == [(0, "failed")]
    with pytest.raises(ValueError), ledger.group():
        ledger.begin_attempt(1, 1, estimated_usd=0.04)
        raise ValueError("leaving a group by an exception rolls it all back")
    assert ledger.commits == before + 1 and len(_committed_attempts(tmp_path)) == 1
    ledger.begin_attempt(1, 1, estimated_usd=0.04)  # on its own again: its own transaction
    assert ledger.commits == before + 2


def test_writes_submitted_together_share_one_commit_and_get_their_own_results(ledger, tmp_path):
    async def main():
        writer = LedgerWriter(ledger)
        try:
            before = ledger.commits
            ids = await asyncio.gather(
                *(writer.write(ledger.begin_attempt, g, 1, estimated_usd=0.04) for g in range(3))
            )
            assert ledger.commits == before + 1 and writer.groups == 1 and writer.writes == 3
            assert len(set(ids)) == 3
            assert [row[0] for row in _committed_attempts(tmp_path)] == [0, 1, 2]
            # One write fails on its own, one is refused before touching the database: their
            # callers get their own exceptions, the others their results, in one commit.
            outcomes = await asyncio.gather(
                writer.write(
                    ledger.finish_error, ids[0], "refused", error_kind="a", error_message="b"
                ),
                writer.write(ledger.begin_attempt, 99, 1, estimated_usd=0.04),
                writer.write(ledger.finish_error, ids[1], "ok", error_kind="a", error_message="b"),
                writer.write(ledger.in_flight),
                return_exceptions=True,
            )
            assert ledger.commits == before + 2 and writer.writes == 5
            assert outcomes[0] is None
            assert isinstance(outcomes[1], sqlite3.IntegrityError)
            assert isinstance(outcomes[2], RunError) and "not refused/failed" in str(outcomes[2])
            # A read inside the group sees the group's own earlier writes.
            assert [a["attempt_id"] for a in outcomes[3]] == ids[1:]
        finally:
            writer.close()

    asyncio.run(main())
    assert _committed_attempts(tmp_path) == [(0, "refused"), (1, "sending"), (2, "sending")]


def test_writes_queued_during_a_commit_form_the_next_group(ledger):
    async def main():
        writer = LedgerWriter(ledger)
        running, release = threading.Event(), threading.Event()

        def hold():  # a write that keeps the first group from committing
            running.set()
            release.wait(10)

        try:
            before = ledger.commits
            held = writer.submit(hold)
            while not running.is_set():
                await asyncio.sleep(0.001)
            later = []
            for gen_id in range(3):  # three separate turns of the loop
                later.append(writer.submit(ledger.begin_attempt, gen_id, 1, estimated_usd=None))
                await asyncio.sleep(0)
            release.set()
            await held
            await asyncio.gather(*later)
            assert ledger.commits == before + 2 and writer.groups == 2 and writer.writes == 4
        finally:
            release.set()
            writer.close()

    asyncio.run(main())


@pytest.mark.skipif(not hasattr(signal, "SIGXFSZ"), reason="needs RLIMIT_FSIZE")
def test_a_failed_group_reaches_every_caller_and_records_none_of_it(ledger, tmp_path):
    """The disk refuses the group's WAL frames (a file size limit, as a full disk would):
    every caller of the group gets the error, nothing of it is recorded, and the writer and the
    ledger carry on once the disk has room again."""
    wal = tmp_path / (Ledger.FILENAME + "-wal")
    committed = ledger.begin_attempt(0, 1, estimated_usd=0.04)

    async def main():
        writer = LedgerWriter(ledger)
        limit = resource.getrlimit(resource.RLIMIT_FSIZE)
        previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG, not a killed process
        try:
            resource.setrlimit(resource.RLIMIT_FSIZE, (wal.stat().st_size, limit[1]))
            outcomes = await asyncio.gather(
                writer.write(ledger.begin_attempt, 1, 1, estimated_usd=0.04),
                writer.write(ledger.begin_attempt, 2, 1, estimated_usd=0.04),
                writer.write(
                    ledger.finish_error, committed, "failed", error_kind="a", error_message="b"
                ),
                return_exceptions=True,
            )
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, limit)
            signal.signal(signal.SIGXFSZ, previous)
        try:
            assert all(isinstance(o, RunError) for o in outcomes), outcomes
            assert all(isinstance(o.__cause__, sqlite3.Error) for o in outcomes)
            assert len({id(o) for o in outcomes}) == 3  # each caller its own exception
            assert writer.groups == 0
            # Room again: the writer is still serving, the ledger still consistent.
            await writer.write(ledger.begin_attempt, 1, 1, estimated_usd=0.04)
        finally:
            writer.close()

    asyncio.run(main())
    assert _committed_attempts(tmp_path) == [(0, "sending"), (1, "sending")]


def test_kill_9_mid_group_keeps_all_of_a_committed_group_and_none_of_the_open_one(tmp_path):
    script = textwrap.dedent(
        f"""
        import asyncio, sys, time
        sys.path.insert(0, {os.getcwd()!r})
        from imgkit.runs.ledger import Ledger, PlannedGeneration
        from imgkit.runs.ledger_writer import LedgerWriter
        ledger = Ledger.create({str(tmp_path)!r})
        ledger.add_plan([PlannedGeneration(i, "a", "dall-e-3", "openai", "generate", "p0",
                         "x", "x", i, {{"model": "dall-e-3"}}, 0.04) for i in range(6)])
        ledger.begin_session("start")

        def hold():
            print("holding", flush=True)
            time.sleep(60)

        async def main():
            writer = LedgerWriter(ledger)
            await asyncio.gather(*(writer.write(ledger.begin_attempt, i, 1, estimated_usd=0.04)
                                   for i in range(3)))
            print("committed", writer.groups, flush=True)
            await asyncio.gather(*(writer.write(ledger.begin_attempt, i, 1, estimated_usd=0.04)
                                   for i in range(3, 6)), writer.write(hold))

        asyncio.run(main())
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().split() == ["committed", "1"]
        assert child.stdout.readline().strip() == "holding"  # three writes done, no COMMIT yet
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
    with Ledger.open(tmp_path, writer=True) as ledger:
        assert [a["gen_id"] for a in ledger.attempts()] == [0, 1, 2]


def test_flush_waits_for_every_write_submitted_before_it(ledger, tmp_path):
    async def main():
        writer = LedgerWriter(ledger)
        try:
            pending = writer.submit(ledger.begin_attempt, 0, 1, estimated_usd=None)
            before = ledger.commits
            await writer.flush()
            assert pending.done() and _committed_attempts(tmp_path) == [(0, "sending")]
            assert ledger.commits == before + 1
            await writer.flush()  # nothing to wait for: no transaction of its own
            assert ledger.commits == before + 1 and writer.writes == 1
        finally:
            writer.close()

    asyncio.run(main())
