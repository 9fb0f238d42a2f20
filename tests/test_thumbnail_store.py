"""The report's gallery thumbnails are made once and kept in the run folder under the image's
SHA-256 (imgkit.runs.thumbnail_store): a later report decodes no image for them, and a damaged,
torn or foreign file is never trusted (those thumbnails are made again, the file heals)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from imgkit.report import figures
from imgkit.report.figures import gallery
from imgkit.runs import open_run
from imgkit.runs.display import thumbnail_uri
from imgkit.runs.thumbnail_store import ThumbnailFile

SIDE = 160  # the report's gallery thumbnails


def _shown(run_path: Path, monkeypatch) -> tuple[list[str], int]:
    """The gallery's thumbnail URIs in its order, and how many images were decoded for them;
    checks they are the images' own thumbnails."""
    decoded = []
    original = figures.thumbnail_jpeg

    def counting(source, side):
        decoded.append(1)
        return original(source, side)

    monkeypatch.setattr(figures, "thumbnail_jpeg", counting)
    frame = open_run(run_path).to_frame(verify=True)
    shown = gallery(frame, per_group=8)
    monkeypatch.setattr(figures, "thumbnail_jpeg", original)
    uris = {(g.arm, t.caption.split(":")[0]): t.uri for g in shown.groups for t in g.thumbnails}
    assert len(uris) == len(frame) == 6
    for row in frame.itertuples():
        assert uris[(row.arm, f"repeat {row.repeat}")] == thumbnail_uri(row.image_path, SIDE)
    return [t.uri for g in shown.groups for t in g.thumbnails], len(decoded)


def test_thumbnails_are_made_once_and_read_back(copy, monkeypatch):
    first, decoded = _shown(copy, monkeypatch)
    assert decoded == 6
    store = ThumbnailFile(copy, SIDE)
    assert store.path.is_file() and len(store.read()) == 6
    again, decoded = _shown(copy, monkeypatch)
    assert decoded == 0 and again == first


def test_a_damaged_record_is_made_again_and_the_file_heals(copy, monkeypatch):
    first, _ = _shown(copy, monkeypatch)
    store = ThumbnailFile(copy, SIDE)
    data = bytearray(store.path.read_bytes())
    data[len(data) // 2] ^= 0x55  # inside some record in the middle
    store.path.write_bytes(bytes(data))
    kept = store.read()
    assert 0 < len(kept) < 6  # the records before the damage
    shown, decoded = _shown(copy, monkeypatch)
    assert decoded == 6 - len(kept) and shown == first
    again, decoded = _shown(copy, monkeypatch)
    assert decoded == 0 and again == first


def test_a_torn_tail_and_a_foreign_file_are_not_trusted(copy, monkeypatch):
    first, _ = _shown(copy, monkeypatch)
    store = ThumbnailFile(copy, SIDE)
    with open(store.path, "r+b") as handle:
        handle.truncate(store.path.stat().st_size - 7)  # a write cut short by a kill
    assert len(store.read()) == 5
    shown, decoded = _shown(copy, monkeypatch)
    assert decoded == 1 and shown == first
    # Another format (or a file of other bytes) in its place: read as empty, replaced.
    store.path.write_bytes(b"IMGKTHMB\x02\x00" + os.urandom(500))
    assert store.read() == {}
    shown, decoded = _shown(copy, monkeypatch)
    assert decoded == 6 and shown == first
    assert len(store.read()) == 6


def test_a_length_that_runs_past_the_end_stops_the_reading(copy, monkeypatch):
    first, _ = _shown(copy, monkeypatch)
    store = ThumbnailFile(copy, SIDE)
    data = bytearray(store.path.read_bytes())
    data[16 + 32 : 16 + 36] = (2**31).to_bytes(4, "little")  # the first record's length
    store.path.write_bytes(bytes(data))
    assert store.read() == {}
    shown, decoded = _shown(copy, monkeypatch)
    assert decoded == 6 and shown == first


def test_a_run_folder_that_cannot_be_written_shows_its_thumbnails_all_the_same(copy, monkeypatch):
    (copy / "features").mkdir(exist_ok=True)
    shutil.rmtree(copy / "features")
    (copy / "features").write_bytes(b"in the way")  # so even root cannot keep them
    shown, decoded = _shown(copy, monkeypatch)
    assert decoded == 6


def test_a_link_in_place_of_the_file_is_not_followed(copy, monkeypatch, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.write_bytes(b"")
    store = ThumbnailFile(copy, SIDE)
    store.folder.mkdir(exist_ok=True)
    os.symlink(outside, store.path)
    shown, decoded = _shown(copy, monkeypatch)
    assert decoded == 6
    assert outside.read_bytes() == b""
