"""``to_frame(verify=True)`` hashes an image again only when its file changed since it was last
found whole (imgkit.runs.verified), and still catches every changed image: bytes rewritten with
the old mtime put back (same size or not), a file replaced by another, a damaged record."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pandas as pd
import pytest

from imgkit.runs import open_run, verified
from imgkit.runs.verified import VERIFIED_FILE, VerifiedImages


@pytest.fixture
def copy(finished, tmp_path, monkeypatch) -> Path:
    # Files younger than RACY_NS when the record is written are hashed again (racily clean);
    # a short window and a pause keep the test quick and the images settled.
    monkeypatch.setattr(verified, "RACY_NS", 50_000_000)
    target = tmp_path / "copy"
    shutil.copytree(finished, target)
    time.sleep(0.1)
    return target


def _hashed(run_path: Path, monkeypatch) -> tuple[pd.DataFrame, int]:
    """The verified frame and how many images were read and digested to make it."""
    counts = []
    original = VerifiedImages.save

    def save(self):
        counts.append(self.hashed)
        original(self)

    monkeypatch.setattr(VerifiedImages, "save", save)
    frame = open_run(run_path).to_frame(verify=True)
    monkeypatch.setattr(VerifiedImages, "save", original)
    return frame, counts[0]


def _rewrite_keeping_mtime(path: Path, data: bytes) -> None:
    before = path.stat()
    path.write_bytes(data)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_mtime_ns == before.st_mtime_ns


def test_an_unchanged_image_is_not_hashed_again(copy, monkeypatch):
    first, hashed = _hashed(copy, monkeypatch)
    assert hashed == 6 and first["image_path"].notna().all()
    assert (copy / VERIFIED_FILE).is_file()
    again, hashed = _hashed(copy, monkeypatch)
    assert hashed == 0
    pd.testing.assert_frame_equal(first, again)


@pytest.mark.parametrize("same_size", [True, False])
def test_bytes_rewritten_with_the_old_mtime_are_caught(copy, monkeypatch, same_size):
    _hashed(copy, monkeypatch)
    time.sleep(0.1)
    path = Path(open_run(copy).to_frame()["image_path"][2])
    data = bytearray(path.read_bytes())
    if same_size:
        data[len(data) // 2] ^= 0xFF  # one byte flipped: same size, same mtime
    else:
        data += b"\0"
    _rewrite_keeping_mtime(path, bytes(data))
    frame, hashed = _hashed(copy, monkeypatch)
    assert hashed == 1
    assert frame.loc[2, "image_problem"] == "damaged" and pd.isna(frame.loc[2, "image_path"])
    assert frame["image_problem"].notna().sum() == 1
    # ...and stays caught on the next check (a damaged file is never recorded as whole).
    again, hashed = _hashed(copy, monkeypatch)
    assert hashed == 1 and again.loc[2, "image_problem"] == "damaged"


def test_an_image_replaced_by_another_file_is_caught(copy, monkeypatch):
    _hashed(copy, monkeypatch)
    time.sleep(0.1)
    paths = [Path(p) for p in open_run(copy).to_frame()["image_path"]]
    original = paths[0].read_bytes()
    # Another image of the run renamed into its place, with the old mtime: another inode.
    stat = paths[0].stat()
    spare = paths[0].with_suffix(".new")
    shutil.copyfile(paths[1], spare)
    os.utime(spare, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    os.replace(spare, paths[0])
    frame, hashed = _hashed(copy, monkeypatch)
    assert hashed == 1
    assert frame.loc[0, "image_problem"] == "damaged"
    # Put back byte for byte: whole once more, after one hash.
    paths[0].write_bytes(original)
    frame, hashed = _hashed(copy, monkeypatch)
    assert hashed == 1 and frame["image_path"].notna().all()


def test_a_damaged_or_foreign_record_is_not_trusted(copy, monkeypatch):
    first, _ = _hashed(copy, monkeypatch)
    record = copy / VERIFIED_FILE
    record.write_bytes(b'{"format": 1, "images": {"x": [1, 2]')  # cut short
    time.sleep(0.1)
    frame, hashed = _hashed(copy, monkeypatch)
    assert hashed == 6
    pd.testing.assert_frame_equal(first, frame)
    # A record naming another digest for an image (someone else's run, an edited record) only
    # makes that image hashed: its recorded digest must be the ledger's.
    time.sleep(0.1)
    text = record.read_text()
    path = Path(frame["image_path"][0])
    sha = frame["image_sha256"][0]
    record.write_text(text.replace(sha, "0" * 64))
    os.utime(record, ns=(time.time_ns(), time.time_ns()))
    time.sleep(0.1)
    frame, hashed = _hashed(copy, monkeypatch)
    assert hashed == 1 and frame["image_path"][0] == str(path)


def test_a_file_changed_just_before_the_record_was_written_is_hashed_again(copy, monkeypatch):
    # Racily clean (as git calls it): a write in the clock tick the record was made in could
    # leave the times as recorded, so such entries are not trusted.
    monkeypatch.setattr(verified, "RACY_NS", 10 * 1_000_000_000)
    _hashed(copy, monkeypatch)
    _, hashed = _hashed(copy, monkeypatch)
    assert hashed == 6


def test_a_read_only_run_folder_is_verified_all_the_same(copy, monkeypatch):
    if os.geteuid() == 0:
        # root writes anyway: make the record's folder a file, so it cannot be written
        (copy / "features").mkdir(exist_ok=True)
        shutil.rmtree(copy / "features")
        (copy / "features").write_bytes(b"in the way")
    else:
        os.chmod(copy, 0o555)
    try:
        frame, hashed = _hashed(copy, monkeypatch)
        assert hashed == 6 and frame["image_path"].notna().all()
        _, hashed = _hashed(copy, monkeypatch)
        assert hashed == 6
    finally:
        os.chmod(copy, 0o755)


def test_a_link_in_place_of_the_record_is_not_followed(copy, monkeypatch, tmp_path):
    outside = tmp_path / "outside.json"
    outside.write_text("{}")
    (copy / "features").mkdir(exist_ok=True)
    os.symlink(outside, copy / VERIFIED_FILE)
    frame, hashed = _hashed(copy, monkeypatch)
    assert hashed == 6 and frame["image_path"].notna().all()
    assert outside.read_text() == "{}"
    assert (copy / VERIFIED_FILE).is_symlink()
