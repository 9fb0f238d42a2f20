"""The ledger's record of batches: one transaction for a batch and its attempts, the fields a
resume needs, and ledgers written before batch mode read as they are and upgraded on writing."""

from __future__ import annotations

import sqlite3

import pytest

from imgkit.runs.ledger import Ledger, PlannedGeneration


def _plan(n: int = 3) -> list[PlannedGeneration]:
    return [
        PlannedGeneration(
            gen_id=i,
            arm="dall-e-3",
            model="dall-e-3",
            provider="openai",
            endpoint="generate",
            prompt_id="p0",
            prompt="a kite",
            sent_prompt="a kite",
            repeat=i,
            request={"model": "dall-e-3", "prompt": "a kite", "endpoint": "generate"},
            estimated_usd=0.02,
        )
        for i in range(n)
    ]


@pytest.fixture
def ledger(tmp_path):
    with Ledger.create(tmp_path) as ledger:
        ledger.add_plan(_plan())
        ledger.begin_session("start")
        yield ledger


def test_a_batch_and_its_attempts_are_committed_together(ledger):
    ids = ledger.begin_batch(
        "k1", provider="openai", endpoint="generate", model="dall-e-3", round_number=1,
        requests=[(0, 1, 0.02), (1, 1, 0.02)], estimated_usd=0.04,
    )  # fmt: skip
    [row] = ledger.batches(open_only=True)
    assert row["status"] == "preparing" and row["requests"] == 2 and row["batch_id"] is None
    assert [a["attempt_id"] for a in ledger.batch_attempts("k1")] == ids
    assert [a["batch_key"] for a in ledger.in_batches()] == ["k1", "k1"]
    assert ledger.in_flight() == []  # waiting in a batch is not lost in flight
    assert ledger.status_counts() == {"in_flight": 2, "pending": 1}
    # A request the plan does not know: neither the batch nor any attempt is recorded.
    with pytest.raises(sqlite3.IntegrityError):
        ledger.begin_batch(
            "k2", provider="openai", endpoint="generate", model="dall-e-3", round_number=1,
            requests=[(2, 1, 0.02), (99, 1, 0.02)], estimated_usd=0.04,
        )  # fmt: skip
    assert [r["batch_key"] for r in ledger.batches()] == ["k1"]
    assert len(ledger.attempts()) == 2


def test_a_batch_record_follows_the_protocol(ledger):
    ledger.begin_batch(
        "k1", provider="openai", endpoint="generate", model="dall-e-3", round_number=1,
        requests=[(0, 1, 0.02)], estimated_usd=0.02,
    )  # fmt: skip
    ledger.update_batch("k1", status="uploaded", input_file_id="file-1")
    ledger.update_batch("k1", status="creating")
    ledger.update_batch(
        "k1", status="submitted", batch_id="batch_1", vendor_status="validating",
        counts={"total": 1, "completed": 0, "failed": 0},
    )  # fmt: skip
    [row] = ledger.batches()
    assert (row["input_file_id"], row["batch_id"], row["counts"]["total"]) == (
        "file-1",
        "batch_1",
        1,
    )
    ledger.update_batch("k1", status="collected")
    assert ledger.batches(open_only=True) == []
    with pytest.raises(ValueError, match="unknown"):
        ledger.update_batch("k1", colour="red")


def test_a_ledger_older_than_batch_mode_reads_as_is_and_upgrades_when_written(tmp_path):
    with Ledger.create(tmp_path) as ledger:
        ledger.add_plan(_plan())
        ledger.begin_session("start")
        ledger.begin_attempt(0, 1, estimated_usd=0.02)
    # Back to the schema of imgkit 0.1: no batches table, no attempts.batch_key.
    with sqlite3.connect(tmp_path / Ledger.FILENAME) as db:
        db.execute("DROP INDEX attempts_by_batch")
        db.execute("DROP TABLE batches")
        db.execute("ALTER TABLE attempts DROP COLUMN batch_key")
    with Ledger.open(tmp_path) as reader:
        assert reader.batches() == [] and reader.batch_counts() == {}
        assert len(reader.in_flight()) == 1 and reader.in_batches() == []
    with Ledger.open(tmp_path, writer=True) as writer:
        writer.begin_session("resume")
        writer.begin_batch(
            "k1", provider="openai", endpoint="generate", model="dall-e-3", round_number=1,
            requests=[(1, 1, 0.02)], estimated_usd=0.02,
        )  # fmt: skip
        assert [r["batch_key"] for r in writer.batches()] == ["k1"]
        assert len(writer.in_flight()) == 1 and len(writer.in_batches()) == 1
