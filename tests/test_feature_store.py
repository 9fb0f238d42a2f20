"""Each image's features kept in its run folder: measured once, read back, never trusted blindly.

A run's images are measured on the first analysis and their values kept under
``RUN/features/``; the second analysis reads them without decoding anything; a torn, damaged,
foreign or linked file is measured again, never believed; a read-only folder is measured in
memory.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest

import imgkit
from imgkit.analysis.consistency import consistency_table
from imgkit.analysis.image_features import measure_images
from imgkit.analysis.measures import DEFAULT_MEASURE, parse_measure
from imgkit.runs.feature_store import FEATURES_DIR, FeatureFile, feature_file_name

PHASH = parse_measure("phash")


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory) -> Path:
    run = imgkit.drill(
        ["a red bicycle", "a lighthouse"],
        ["gpt-image-1", "dall-e-3"],
        n=3,
        backend="sim",
        out=tmp_path_factory.mktemp("runs"),
        progress=False,
    )
    return Path(run.path)


def _fresh_copy(run_folder: Path, tmp_path: Path) -> Path:
    import shutil

    copy = tmp_path / run_folder.name
    shutil.copytree(run_folder, copy, ignore=shutil.ignore_patterns(FEATURES_DIR))
    return copy


def _images(run: Path) -> tuple[list[str], list[str]]:
    frame = imgkit.open_run(run).to_frame()
    ok = frame[frame["status"] == "ok"]
    return ok["image_path"].tolist(), ok["image_sha256"].tolist()


def test_the_first_analysis_keeps_every_value_and_the_second_decodes_nothing(run_folder, tmp_path):
    run = _fresh_copy(run_folder, tmp_path)
    frame = imgkit.open_run(run).to_frame()
    first = consistency_table(frame, ["efficientnet-lite0", "phash", "dhash"], n_boot=200)
    kept = sorted(p.name for p in (run / FEATURES_DIR).iterdir())
    assert kept == ["dhash-8.v1.feat", "efficientnet-lite0.v1.feat", "phash-8.v1.feat"]
    # Replace every image with bytes no decoder reads: a second analysis that decoded anything
    # would fail.
    for path in frame["image_path"].dropna():
        Path(path).write_bytes(b"not an image any more")
    second = consistency_table(frame, ["efficientnet-lite0", "phash", "dhash"], n_boot=200)
    assert first.equals(second)


def test_kept_values_equal_freshly_measured_ones(run_folder, tmp_path):
    run = _fresh_copy(run_folder, tmp_path)
    paths, digests = _images(run)
    measured = measure_images([DEFAULT_MEASURE, PHASH], paths, digests)
    read_back = measure_images([DEFAULT_MEASURE, PHASH], paths, digests)
    assert read_back[PHASH] == measured[PHASH]
    np.testing.assert_array_equal(
        np.stack(read_back[DEFAULT_MEASURE]), np.stack(measured[DEFAULT_MEASURE])
    )
    # Images outside any run folder are measured in memory and give the same values.
    loose = tmp_path / "loose"
    loose.mkdir()
    copies = []
    for k, path in enumerate(paths):
        copy = loose / f"{k}{Path(path).suffix}"
        copy.write_bytes(Path(path).read_bytes())
        copies.append(str(copy))
    elsewhere = measure_images([DEFAULT_MEASURE, PHASH], copies)
    assert elsewhere[PHASH] == measured[PHASH]
    np.testing.assert_allclose(
        np.stack(elsewhere[DEFAULT_MEASURE]), np.stack(measured[DEFAULT_MEASURE]), atol=0
    )
    assert not (loose / FEATURES_DIR).exists()


def _store(run: Path) -> FeatureFile:
    return FeatureFile(run, DEFAULT_MEASURE.feature_key, DEFAULT_MEASURE.network.dim * 4)


def test_a_record_torn_by_a_kill_is_ignored_then_cut_off(run_folder, tmp_path):
    run = _fresh_copy(run_folder, tmp_path)
    paths, digests = _images(run)
    measure_images([DEFAULT_MEASURE], paths, digests)
    store = _store(run)
    whole = store.path.stat().st_size
    assert len(store.read()) == len(set(digests))
    with store.path.open("ab") as handle:  # half a record, as a kill mid-append leaves it
        handle.write(bytes.fromhex(digests[0]) + b"\x01" * 100)
    assert len(store.read()) == len(set(digests))
    store.append({"ab" * 32: np.ones(1280, "<f4").tobytes()})
    assert (store.path.stat().st_size - whole) == store.record
    assert "ab" * 32 in store.read()


def test_a_damaged_record_is_measured_again_not_trusted(run_folder, tmp_path):
    run = _fresh_copy(run_folder, tmp_path)
    paths, digests = _images(run)
    truth = measure_images([DEFAULT_MEASURE], paths, digests)[DEFAULT_MEASURE]
    store = _store(run)
    data = bytearray(store.path.read_bytes())
    data[64 + 32 + 8] ^= 0xFF  # one byte of the first record's vector
    store.path.write_bytes(bytes(data))
    assert len(store.read()) == len(set(digests)) - 1
    again = measure_images([DEFAULT_MEASURE], paths, digests)[DEFAULT_MEASURE]
    np.testing.assert_array_equal(np.stack(again), np.stack(truth))
    assert len(store.read()) == len(set(digests))


def test_a_file_of_another_measure_or_format_is_replaced(run_folder, tmp_path):
    run = _fresh_copy(run_folder, tmp_path)
    paths, digests = _images(run)
    (run / FEATURES_DIR).mkdir()
    store = _store(run)
    store.path.write_bytes(b"IMGKFEAT" + b"\x09" * 200)  # another format version
    assert store.read() == {}
    measure_images([DEFAULT_MEASURE], paths, digests)
    assert len(store.read()) == len(set(digests))


def test_the_file_name_says_the_measure_and_its_version():
    assert feature_file_name("efficientnet-lite0/1") == "efficientnet-lite0.v1.feat"
    assert feature_file_name(PHASH.feature_key) == "phash-8.v1.feat"
    with pytest.raises(ValueError, match="SHA-256"):
        FeatureFile("/nonexistent", "k/1", 4)._records({"nothex": b"1234"})


def test_links_in_the_run_folder_are_not_written_through(run_folder, tmp_path):
    run = _fresh_copy(run_folder, tmp_path)
    paths, digests = _images(run)
    outside = tmp_path / "outside"
    outside.mkdir()
    (run / FEATURES_DIR).symlink_to(outside)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        values = measure_images([PHASH], paths, digests)[PHASH]
    assert all(values) and list(outside.iterdir()) == []
    assert any("could not keep" in str(w.message) for w in caught)

    run2 = _fresh_copy(run_folder, tmp_path / "b")
    (run2 / FEATURES_DIR).mkdir()
    target = outside / "victim"
    target.write_bytes(b"keep me")
    os.symlink(target, run2 / FEATURES_DIR / feature_file_name(PHASH.feature_key))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        measure_images([PHASH], *_images(run2))
    assert target.read_bytes() == b"keep me"


def test_a_read_only_run_is_measured_in_memory_with_one_warning(run_folder, tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root writes through read-only permissions; see the link test instead")
    run = _fresh_copy(run_folder, tmp_path)
    paths, digests = _images(run)
    os.chmod(run, 0o555)
    try:
        with pytest.warns(UserWarning, match="could not keep"):
            values = measure_images([PHASH], paths, digests)[PHASH]
        assert all(values)
    finally:
        os.chmod(run, 0o755)


def test_an_old_run_folder_re_analyses_on_the_learned_measure(run_folder, tmp_path):
    # A folder written before features were kept has no features/ folder: the report measures
    # it from its images alone, and keeps what it measured.
    run = _fresh_copy(run_folder, tmp_path)
    ledger = (run / "ledger.sqlite").read_bytes() if (run / "ledger.sqlite").exists() else None
    path = imgkit.write_report(run, n_boot=200, n_perm=500)
    page = path.read_text("utf-8")
    assert "EfficientNet-Lite0 similarity" in page
    assert (run / FEATURES_DIR / "efficientnet-lite0.v1.feat").is_file()
    if ledger is not None:
        assert (run / "ledger.sqlite").read_bytes() == ledger


def test_to_frame_adds_each_images_similarity_to_its_group(run_folder):
    frame = imgkit.open_run(run_folder).to_frame(measures=["learned", "phash"])
    ok = frame[frame["status"] == "ok"]
    assert ok["efficientnet-lite0"].map(lambda v: v.shape == (1280,)).all()
    assert ok["phash"].str.len().eq(16).all()
    for column in ("efficientnet-lite0_similarity", "phash_similarity"):
        assert ok[column].between(0, 1).all()
    # The mean of a group's per-image similarities is the group's own similarity (a pair sum
    # counted from both ends).
    table = consistency_table(frame, ["efficientnet-lite0"], n_boot=10)
    for record in table.itertuples():
        mine = ok[(ok["arm"] == record.arm) & (ok["prompt"] == record.prompt)]
        assert mine["efficientnet-lite0_similarity"].mean() == pytest.approx(record.similarity)


def test_a_folder_of_a_runs_images_reads_the_kept_values_too(run_folder, tmp_path, capsys):
    # `imgkit consistency RUN/images` gives paths without their SHA-256: the images are read
    # and digested (no decoding) and their kept values found. Before, every image was decoded
    # and measured again, and its records appended again, on every call.
    from imgkit.cli.main import main

    run = _fresh_copy(run_folder, tmp_path)
    assert main(["consistency", str(run / "images"), "--kinds", "phash"]) == 0
    first = capsys.readouterr().out
    kept = run / FEATURES_DIR / "phash-8.v1.feat"
    size = kept.stat().st_size
    assert main(["consistency", str(run / "images"), "--kinds", "phash"]) == 0
    assert capsys.readouterr().out == first
    assert kept.stat().st_size == size  # nothing measured again
    # A kept value is used without decoding: bytes no decoder reads, whose value is kept.
    odd = run / "images" / "odd.png"
    odd.write_bytes(b"not an image, but its hash is kept")
    import hashlib

    digest = hashlib.sha256(odd.read_bytes()).hexdigest()
    FeatureFile(run, PHASH.feature_key, 16).append({digest: b"0123456789abcdef"})
    assert measure_images([PHASH], [odd])[PHASH] == ["0123456789abcdef"]


def test_a_first_analysis_measures_a_chunk_at_a_time_with_the_same_values(
    run_folder, tmp_path, monkeypatch
):
    # A chunk of images at a time bounds what a first analysis holds; the chunk is a multiple
    # of the network's batch, so the values are those of every image at once, and each
    # chunk's values are in the run folder before the next chunk is read.
    from imgkit.analysis import image_features

    whole_run = _fresh_copy(run_folder, tmp_path / "whole")
    paths, digests = _images(whole_run)
    whole = measure_images([DEFAULT_MEASURE, PHASH], paths, digests)
    chunked_run = _fresh_copy(run_folder, tmp_path / "chunked")
    paths, digests = _images(chunked_run)
    monkeypatch.setattr(image_features, "_MEASURE_CHUNK", 2)
    appended = []
    original = FeatureFile.append

    def counting(self, features):
        appended.append(len(features))
        original(self, features)

    monkeypatch.setattr(FeatureFile, "append", counting)
    chunked = measure_images([DEFAULT_MEASURE, PHASH], paths, digests)
    assert chunked[PHASH] == whole[PHASH]
    assert len(appended) == 2 * -(-len(paths) // 2) and max(appended) == 2
    # Chunks of 2 split the network's batches of 16: its values agree to float32 rounding.
    np.testing.assert_allclose(
        np.stack(chunked[DEFAULT_MEASURE]), np.stack(whole[DEFAULT_MEASURE]), atol=1e-6
    )
