"""Links in a run folder (issue 27, findings 3 and 4): every file imgkit writes or deletes in a
run folder stays in it. A link that leaves the folder is reported by ``imgkit verify`` and
refused by every writer (report, resume, regenerated images, ledger, manifest, features).

Each test reproduced its finding on 3fbd319 before the fix (where one reproduces a finding).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from imgkit.cli.main import main as cli_main
from imgkit.errors import RunError
from imgkit.runner import drill
from imgkit.runs import open_run


@pytest.fixture(scope="module")
def finished(tmp_path_factory, sim) -> Path:
    out = tmp_path_factory.mktemp("runs")
    run = drill(
        "a lighthouse", ["gpt-image-2"], 2, out=out, sim_url=sim.base_url, progress=False, log=None
    )
    return run.path


@pytest.fixture
def copy(finished, tmp_path) -> Path:
    target = tmp_path / "run"
    shutil.copytree(finished, target)
    return target


@pytest.fixture
def outside(tmp_path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    return folder


def test_report_does_not_write_through_a_link_to_a_file_outside(copy, outside, capsys):
    # Finding 3: on 3fbd319 the file outside was overwritten with the report.
    victim = outside / "precious.html"
    victim.write_text("keep me", encoding="utf-8")
    (copy / "report.html").unlink(missing_ok=True)
    (copy / "report.html").symlink_to(victim)
    assert cli_main(["report", str(copy)]) == 2
    err = capsys.readouterr().err
    assert "imgkit: error:" in err and "report.html" in err and "link" in err
    assert victim.read_text(encoding="utf-8") == "keep me"


def test_report_does_not_create_a_file_through_a_dangling_link(copy, outside, capsys):
    # Finding 3: on 3fbd319 a dangling RUN/gallery.html made outside/made.html.
    (copy / "gallery.html").unlink(missing_ok=True)
    (copy / "gallery.html").symlink_to(outside / "made.html")
    assert cli_main(["report", str(copy)]) == 2
    assert "gallery.html" in capsys.readouterr().err
    assert not (outside / "made.html").exists()


def test_verify_reports_links_that_leave_the_run_folder(copy, outside, capsys):
    from imgkit.runs.confined import escaping_links

    shutil.rmtree(copy / "images")
    (copy / "images").symlink_to(outside, target_is_directory=True)
    (copy / "notes.txt").symlink_to("/etc/hostname")
    (copy / "inside.txt").symlink_to("manifest.json")  # a link that stays inside is harmless
    found = {str(p): t for p, t in escaping_links(copy)}
    assert set(found) == {"images", "notes.txt"}
    assert cli_main(["verify", str(copy)]) == 1
    out = capsys.readouterr().out
    assert "images" in out and "notes.txt" in out and "leaves the run folder" in out
    assert "inside.txt" not in out


def test_regenerate_missing_refuses_an_images_folder_that_is_a_link(copy, outside, sim):
    # Finding 4: on 3fbd319 the regenerated images were written to outside/.
    shutil.rmtree(copy / "images")
    (copy / "images").symlink_to(outside, target_is_directory=True)
    sim.reset()
    with pytest.raises(RunError, match=r"images.*link"):
        open_run(copy).resume(
            sim_url=sim.base_url, progress=False, log=None, regenerate_missing=True
        )
    assert list(outside.iterdir()) == []
    assert sim.stats()["total_requests"] == 0


@pytest.mark.parametrize("name", ["manifest.json", "ledger.sqlite"])
def test_resume_refuses_a_run_whose_files_are_links_outside(copy, outside, sim, name):
    moved = outside / name
    shutil.move(copy / name, moved)
    (copy / name).symlink_to(moved)
    before = moved.read_bytes()
    sim.reset()
    with pytest.raises(RunError, match=rf"{name}.*link"):
        open_run(copy).resume(sim_url=sim.base_url, progress=False, log=None)
    assert moved.read_bytes() == before
    assert sim.stats()["total_requests"] == 0


def test_the_features_store_refuses_a_link(copy, outside):
    from imgkit.runs.feature_store import FeatureFile

    (copy / "features").mkdir(exist_ok=True)
    store = FeatureFile(copy, "test-measure-1", 4)
    target = outside / "features.bin"
    target.write_bytes(b"outside")
    store.path.unlink(missing_ok=True)
    store.path.symlink_to(target)
    with pytest.raises(OSError):
        store.append({"ab" * 32: b"1234"})
    assert target.read_bytes() == b"outside"


def test_confined_writes_refuse_every_link_on_the_way(tmp_path, outside):
    import imgkit.runs.confined as confined

    run = tmp_path / "r"
    (run / "sub").mkdir(parents=True)
    confined.write_atomic(run, "sub/a.txt", b"one")
    assert (run / "sub" / "a.txt").read_bytes() == b"one"
    (run / "link").symlink_to(outside, target_is_directory=True)
    with pytest.raises(RunError, match="link"):
        confined.write_atomic(run, "link/a.txt", b"two")
    (run / "sub" / "b.txt").symlink_to(outside / "b.txt")
    with pytest.raises(RunError, match="link"):
        confined.write_atomic(run, "sub/b.txt", b"two")
    with pytest.raises(RunError, match="outside"):
        confined.write_atomic(run, "../escape.txt", b"two")
    (outside / "c.txt").write_bytes(b"keep")
    with pytest.raises(RunError, match="link"):
        confined.unlink(run, "link/c.txt")
    # Removing a link removes the link, never what it points to.
    confined.unlink(run, "sub/b.txt")
    assert not (run / "sub" / "b.txt").is_symlink()
    assert os.listdir(outside) == ["c.txt"]
    confined.unlink(run, "sub/a.txt")
    assert not (run / "sub" / "a.txt").exists()
