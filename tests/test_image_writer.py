"""The image writer: images that arrive together are stored as one group (one hand-over, one
fsync of their folder), each durable and journalled before its caller hears of it."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os

import pytest

from imgkit.runs.image_writer import ImageWriter
from imgkit.runs.storage import JOURNAL_LOG, read_journal


def _record(sha: str, name: str) -> dict:
    return {"image_sha256": sha, "image_file": name, "cost_usd": 0.04}


def test_images_arriving_together_share_one_group_and_are_journalled_first(tmp_path):
    images = [os.urandom(5000) + bytes([k]) for k in range(6)]
    seen_journals = []

    async def main():
        writer = ImageWriter(tmp_path)
        try:
            futures = [
                writer.keep(data, "png", attempt_id, _record)
                for attempt_id, data in enumerate(images, start=1)
            ]
            outcomes = await asyncio.gather(*futures)
            # When a caller hears of its image, its journal entry is there to adopt it.
            seen_journals.extend(read_journal(tmp_path, a) for a in range(1, 7))
            for attempt_id in range(1, 7):
                writer.discard_journal(attempt_id)
        finally:
            writer.close()
        return writer, outcomes

    writer, outcomes = asyncio.run(main())
    assert writer.groups == 1 and writer.images == 6
    for data, (sha, path, record) in zip(images, outcomes, strict=True):
        assert sha == hashlib.sha256(data).hexdigest()
        assert path == tmp_path / f"{sha}.png" and path.read_bytes() == data
        assert record == _record(sha, path.name)
    assert [j["image_sha256"] for j in seen_journals] == [o[0] for o in outcomes]
    # The group's journal entry goes once its last attempt is discarded (here: at close).
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(o[1].name for o in outcomes)


def test_an_image_already_stored_intact_is_kept_and_a_damaged_one_rewritten(tmp_path):
    data = b"\x89PNG" + os.urandom(3000)
    sha = hashlib.sha256(data).hexdigest()
    (tmp_path / f"{sha}.png").write_bytes(b"damaged")

    async def main():
        writer = ImageWriter(tmp_path)
        try:
            first = await writer.keep(data, "png")
            second = await writer.keep(data, "png")
        finally:
            writer.close()
        return first, second

    first, second = asyncio.run(main())
    assert first == second == (sha, tmp_path / f"{sha}.png", None)
    assert (tmp_path / f"{sha}.png").read_bytes() == data
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_a_failed_write_is_its_callers_error_and_the_others_are_stored(tmp_path):
    async def main():
        writer = ImageWriter(tmp_path)
        try:
            good = writer.keep(b"good image", "png", 1, _record)
            empty = writer.keep(b"", "png", 2, _record)
            return await asyncio.gather(good, empty, return_exceptions=True)
        finally:
            writer.close()

    good, empty = asyncio.run(main())
    assert good[2]["image_file"] == good[1].name and good[1].read_bytes() == b"good image"
    assert "empty image" in str(empty)
    # The group's journal entry holds the stored image's record, and only that one.
    (entry,) = tmp_path.glob(".received-*")
    assert json.loads(entry.read_text())["attempts"] == {"1": good[2]}
    assert read_journal(tmp_path, 1) == good[2] and read_journal(tmp_path, 2) is None


def test_a_folder_that_cannot_be_written_fails_the_keep_with_os_error(tmp_path):
    folder = tmp_path / "gone"

    async def main():
        writer = ImageWriter(folder)
        try:
            with pytest.raises(OSError):
                await writer.keep(b"an image", "png", 1, _record)
        finally:
            writer.close()

    asyncio.run(main())


def test_a_journal_entry_stays_until_every_attempt_of_its_group_is_committed(tmp_path):
    async def main():
        writer = ImageWriter(tmp_path)
        try:
            await asyncio.gather(
                *(writer.keep(bytes([k]) * 100, "png", k, _record) for k in (1, 2))
            )
            writer.discard_journal(1)
            await writer.keep(b"a later image", "png", 3, _record)  # the next group
            after_one = read_journal(tmp_path, 2)
            writer.discard_journal(2)
            writer.discard_journal(3)
        finally:
            writer.close()
        return after_one

    assert asyncio.run(main())["cost_usd"] == 0.04  # 2 was still adoptable after 1 committed
    assert not list(tmp_path.glob(".received-*"))


def test_the_journal_is_one_file_appended_to_never_a_new_file_for_each_group(tmp_path):
    """A file created and removed for every group made ext4 scan past the inodes it had just
    freed on each allocation: the journal is one file, one line a group, cut back in place."""
    inodes, sizes = set(), []
    journal = tmp_path / JOURNAL_LOG

    async def main():
        writer = ImageWriter(tmp_path)
        try:
            for attempt_id in range(1, 6):  # five groups, one image each
                await writer.keep(os.urandom(300), "png", attempt_id, _record)
                inodes.add(journal.stat().st_ino)
                sizes.append(journal.stat().st_size)
                assert read_journal(tmp_path, attempt_id)["cost_usd"] == 0.04
                if attempt_id != 3:  # 3 stays uncommitted for a while
                    writer.discard_journal(attempt_id)
            hidden = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("."))
            writer.discard_journal(3)
            await writer.keep(b"one more", "png", 6, _record)
            after_all = journal.stat().st_size
            writer.discard_journal(6)
        finally:
            writer.close()
        return hidden, after_all

    hidden, after_all = asyncio.run(main())
    assert len(inodes) == 1 and hidden == [JOURNAL_LOG]
    # Cut back to nothing while none waited (after 1 and 2), kept while 3 waited (4 and 5).
    assert sizes[1] == sizes[0] and sizes[3] > sizes[2] and sizes[4] > sizes[3]
    assert after_all == sizes[0]  # 3 committed: only the line of 6 is left
    assert not journal.exists()  # gone at close, every attempt committed


def test_a_journal_line_cut_short_by_a_kill_adopts_nothing_and_hides_nothing(tmp_path):
    data = b"an image paid for"
    sha = hashlib.sha256(data).hexdigest()
    (tmp_path / f"{sha}.png").write_bytes(data)
    whole = json.dumps({"attempts": {"7": _record(sha, f"{sha}.png")}})
    cut = json.dumps({"attempts": {"8": _record(sha, f"{sha}.png")}})[:-9]
    (tmp_path / JOURNAL_LOG).write_text(whole + "\n" + cut)
    assert read_journal(tmp_path, 7)["image_sha256"] == sha
    assert read_journal(tmp_path, 8) is None


def test_journal_entries_of_runs_written_by_earlier_versions_are_still_adopted(tmp_path):
    data = b"an image from an older run"
    sha = hashlib.sha256(data).hexdigest()
    (tmp_path / f"{sha}.png").write_bytes(data)
    group = {"attempts": {"4": _record(sha, f"{sha}.png"), "5": _record(sha, f"{sha}.png")}}
    (tmp_path / ".received-4-group.json").write_text(json.dumps(group))
    (tmp_path / ".received-9.json").write_text(json.dumps(_record(sha, f"{sha}.png")))
    assert [read_journal(tmp_path, a)["image_sha256"] for a in (4, 5, 9)] == [sha] * 3
    assert read_journal(tmp_path, 6) is None
