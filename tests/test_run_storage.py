"""A run folder under storage faults: a full disk, a read-only folder, missing or damaged images,
damaged ledger rows and manifests, paths that try to leave the folder.

Each test here reproduces a defect found on 0.1 (issue #14) and failed before its fix.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pandas as pd
import pytest

from imgkit.cli.main import main as cli_main
from imgkit.errors import RunError
from imgkit.runs import open_run
from imgkit.runs.ledger import Ledger

MODELS = ("dall-e-3", "gpt-image-1")  # the arms of conftest's `finished` run


# -- a full disk ------------------------------------------------------------------------------


def _mount_small_disk(path: Path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
    )
    return done.returncode == 0


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MB filesystem (tmpfs), or a skip where this machine cannot mount one."""
    mount = tmp_path / "disk"
    if not _mount_small_disk(mount, "2m"):
        pytest.skip("cannot mount a tmpfs here (needs root); the RLIMIT_FSIZE test still runs")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def _drill_command(sim_url: str, out: Path, name: str, n: int) -> list[str]:
    return [
        "--prompt",
        "a lighthouse in a storm",
        "--models",
        ",".join(MODELS),
        "-n",
        str(n),
        "--concurrency",
        "2",
        "--sim-url",
        sim_url,
        "--out",
        str(out),
        "--name",
        name,
        "--no-progress",
    ]


def _check_stopped_cleanly(done: subprocess.CompletedProcess, folder: Path) -> None:
    assert done.returncode not in (0, 2) and done.returncode > 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert str(folder) in done.stderr and "could not write" in done.stderr, done.stderr


def test_a_full_disk_stops_the_run_cleanly_keeps_its_images_and_resumes(small_disk, sim):
    # On 0.1 a 2 MB --out ended with three chained tracebacks, and the five images already
    # received were thrown away and paid for again on resume.
    folder = small_disk / "full"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "imgkit.cli.drill",
            *_drill_command(sim.base_url, small_disk, "full", 8),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    _check_stopped_cleanly(done, folder)
    run = open_run(folder)
    frame = run.to_frame(verify=True)
    stored = frame[frame["status"] == "ok"]
    assert len(stored) >= 1 and stored["image_problem"].isna().all()
    # Received but not written: recorded, so a resume does not pay for them blindly.
    attempts = run.attempts_frame()
    lost = attempts[attempts["error_kind"] == "not_stored"]
    assert (lost["may_have_been_billed"]).all()
    # The message counts every image received and not stored; on a full disk the record of
    # some of them may fail too (they stay "sending", reported as in flight by the resume).
    said = re.search(r"(\d+) image\(s\) received", done.stderr)
    assert len(lost) == 0 or (said is not None and int(said.group(1)) >= len(lost))

    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    sim.reset()
    resumed = run.resume(sim_url=sim.base_url, progress=False, log=None)
    assert resumed.status == "complete"
    final = resumed.to_frame(verify=True)
    assert (final["status"] == "ok").all() and final["image_problem"].isna().all()
    # Only what was not stored is sent again.
    assert sim.stats()["total_requests"] == len(frame) - len(stored)


_WITH_A_FILE_SIZE_LIMIT = textwrap.dedent(
    """
    import resource, signal, sys
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
    limit = int(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    from imgkit.cli.drill import main
    sys.exit(main(sys.argv[2:]))
    """
)


def test_a_write_error_anywhere_stops_the_run_with_one_clear_message(tmp_path, sim):
    # Files may not grow past 300 kB: the simulator's 1024 px photographs are larger, so at least
    # one image cannot be written. Portable (no mount needed), and the same path as a full disk.
    folder = tmp_path / "limited"
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _WITH_A_FILE_SIZE_LIMIT,
            str(300_000),
            *_drill_command(sim.base_url, tmp_path, "limited", 3),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    _check_stopped_cleanly(done, folder)
    run = open_run(folder)
    attempts = run.attempts_frame()
    assert not (attempts["status"] == "sending").any()
    lost = attempts[attempts["error_kind"] == "not_stored"]
    assert len(lost) >= 1 and lost["may_have_been_billed"].all()
    # every image the run kept is whole on disk: a write that failed left nothing half-written
    checked = run.verify()
    assert checked["problem"].isna().all(), checked[checked["problem"].notna()]
    assert "received but could not be stored" in done.stderr
    assert run.status == "stopped_storage"


def test_a_full_disk_at_the_start_leaves_no_folder(tmp_path, sim):
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _WITH_A_FILE_SIZE_LIMIT,
            "0",
            *_drill_command(sim.base_url, tmp_path / "runs", "never", 2),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "out" in done.stderr
    runs = tmp_path / "runs"
    assert not runs.exists() or [p for p in runs.iterdir() if not p.name.startswith(".")] == []
    assert sim.stats()["total_requests"] == 0 or True  # nothing is sent before the folder exists


# -- a read-only folder --------------------------------------------------------------------


def _without_write_privilege(command: list[str]) -> list[str]:
    """``command`` run so that file permissions apply to it: as root (CI, containers) it is
    started without the capabilities that let root write anywhere."""
    if os.getuid() != 0:
        return command
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without util-linux's setpriv to drop privileges")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search,-fowner", "--", *command]


def _make_read_only(folder: Path) -> None:
    for root, _dirs, files in os.walk(folder):
        for name in files:
            os.chmod(os.path.join(root, name), 0o444)
        os.chmod(root, 0o555)


def _make_writable(folder: Path) -> None:
    for root, _dirs, _files in os.walk(folder):
        os.chmod(root, 0o755)


_READ_AND_REPORT = textwrap.dedent(
    """
    import sys
    from imgkit.runs import open_run
    from imgkit.cli.main import main
    frame = open_run(sys.argv[1]).to_frame()
    print(len(frame), int((frame["status"] == "ok").sum()))
    sys.exit(main(["report", sys.argv[1], "--out", sys.argv[2] + "/report.html"]))
    """
)


def test_a_read_only_run_folder_can_be_read_and_reported(copy, tmp_path):
    # On 0.1: "unable to open database file" from to_frame() and from imgkit report --out.
    archived = tmp_path / "archived"
    shutil.copytree(copy, archived)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    _make_read_only(archived)
    try:
        done = subprocess.run(
            _without_write_privilege(
                [sys.executable, "-c", _READ_AND_REPORT, str(archived), str(elsewhere)]
            ),
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        _make_writable(archived)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[:2] == ["6", "6"]
    assert list(elsewhere.iterdir())
    assert sorted(os.listdir(archived)) == sorted(os.listdir(copy))  # nothing written there


def test_a_run_whose_wal_holds_commits_reads_whole_from_a_read_only_folder(copy, tmp_path):
    # A runner killed mid-run leaves commits in the WAL; a reader without write access must
    # still see them (immutable mode alone would silently drop them).
    killed = tmp_path / "killed"
    with Ledger.open(copy, writer=True) as ledger:
        ledger._db.execute("PRAGMA wal_autocheckpoint=0")
        ledger.begin_session("resume")
        attempt = ledger.begin_attempt(0, 9, estimated_usd=0.04)
        assert ledger.path.with_name("ledger.sqlite-wal").stat().st_size > 0
        shutil.copytree(copy, killed)  # as a kill -9 would leave it: WAL not folded back
    assert (killed / "ledger.sqlite-wal").stat().st_size > 0
    code = (
        "import sys; from imgkit.runs import open_run; "
        "print(list(open_run(sys.argv[1]).attempts_frame()['attempt_id']))"
    )
    _make_read_only(killed)
    try:
        done = subprocess.run(
            _without_write_privilege([sys.executable, "-c", code, str(killed)]),
            capture_output=True,
            text=True,
        )
    finally:
        _make_writable(killed)
    assert done.returncode == 0, done.stderr
    assert str(attempt) in done.stdout


# -- missing and damaged images ----------------------------------------------------------------


def test_verify_finds_missing_and_damaged_images(copy, capsys):
    run = open_run(copy)
    frame = run.to_frame()
    paths = list(frame["image_path"])
    Path(paths[0]).unlink()
    Path(paths[1]).write_bytes(b"not an image any more")
    report = run.verify()
    problems = dict(zip(report["image_file"], report["problem"], strict=True))
    assert problems[Path(paths[0]).name] == "missing"
    assert problems[Path(paths[1]).name] == "damaged"
    assert sum(pd.isna(p) for p in problems.values()) == len(paths) - 2

    assert cli_main(["verify", str(copy)]) == 1
    out = capsys.readouterr().out
    assert "1 missing" in out and "1 damaged" in out
    assert "--regenerate-missing" in out


def test_to_frame_and_report_mark_missing_and_damaged_images_instead_of_refusing(copy, tmp_path):
    # On 0.1 to_frame said "ok" with a path to a missing file, and report refused the run.
    run = open_run(copy)
    paths = list(run.to_frame()["image_path"])
    Path(paths[0]).unlink()
    Path(paths[1]).write_bytes(b"garbage")
    frame = run.to_frame()
    assert frame.loc[0, "image_problem"] == "missing" and pd.isna(frame.loc[0, "image_path"])
    checked = run.to_frame(verify=True)
    assert checked.loc[1, "image_problem"] == "damaged" and pd.isna(checked.loc[1, "image_path"])
    assert checked["image_problem"].notna().sum() == 2

    from imgkit.report import report_data

    data = report_data(run, n_boot=100, n_perm=200)
    assert data.to_dict()["image_problems"] == {"missing": 1, "damaged": 1}


def test_resume_regenerates_missing_images_only_when_asked_and_says_what_it_costs(copy, sim):
    run = open_run(copy)
    first = run.to_frame().iloc[0]
    Path(first["image_path"]).unlink()
    sim.reset()
    assert run.resume(sim_url=sim.base_url, progress=False, log=None).status == "complete"
    assert sim.stats()["total_requests"] == 0  # never silently

    lines: list[str] = []
    resumed = run.resume(
        sim_url=sim.base_url, progress=False, log=lines.append, regenerate_missing=True
    )
    assert sim.stats()["total_requests"] == 1
    assert any("missing or damaged" in line and "$" in line for line in lines), lines
    frame = resumed.to_frame(verify=True)
    assert frame["image_problem"].isna().all() and (frame["status"] == "ok").all()


# -- damaged ledger rows and manifests ----------------------------------------------------------


def _sql(folder: Path, statement: str) -> None:
    with sqlite3.connect(folder / "ledger.sqlite") as db:
        db.execute(statement)


def test_a_row_whose_request_is_not_json_is_skipped_with_a_warning(copy):
    _sql(copy, "UPDATE generations SET request_json = '{not json' WHERE gen_id = 1")
    run = open_run(copy)
    with pytest.warns(UserWarning, match=r"ledger.sqlite.*generation 1.*request_json"):
        frame = run.to_frame()
    assert len(frame) == 5
    with pytest.raises(RunError, match=r"generation 1.*request_json"):
        run.resume(progress=False, log=None)


def test_an_unknown_attempt_status_is_named(copy):
    _sql(copy, "UPDATE attempts SET status = 'exploded' WHERE attempt_id = 2")
    run = open_run(copy)
    with pytest.warns(UserWarning, match=r"attempt 2.*'exploded'"):
        frame = run.to_frame()
    assert len(frame) == 6 and (frame["status"] == "ok").sum() == 5
    with pytest.raises(RunError, match=r"attempt 2.*'exploded'"):
        run.resume(progress=False, log=None)


def test_a_truncated_ledger_is_a_run_error_naming_the_file(copy, tmp_path):
    ledger = copy / "ledger.sqlite"
    data = ledger.read_bytes()
    ledger.write_bytes(data[: len(data) // 3])
    for wal in copy.glob("ledger.sqlite-*"):
        wal.unlink()
    with pytest.raises(RunError, match=r"ledger\.sqlite"):
        open_run(copy).to_frame()
    assert cli_main(["report", str(copy), "--out", str(tmp_path / "r.html")]) == 2


@pytest.mark.parametrize(
    ("manifest", "expected"),
    [
        ([1, 2, 3], "a JSON object"),
        ({"run_id": "x", "backend": "sim"}, "'parameters'"),
        ({"run_id": "x", "parameters": {"arms": "oops"}}, "'parameters.arms'"),
    ],
)
@pytest.mark.filterwarnings("ignore:.*reading the run from its ledger alone")
def test_a_damaged_manifest_is_a_run_error_naming_the_key(copy, manifest, expected, capsys):
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(RunError, match=expected) as caught:
        open_run(copy).resume(progress=False, log=None)
    assert "manifest.json" in str(caught.value)
    assert cli_main(["drill", "--resume", str(copy), "--no-progress"]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_to_frame_reads_a_run_whose_manifest_is_a_list(copy):
    (copy / "manifest.json").write_text("[1, 2]")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = open_run(copy).to_frame()
    assert len(frame) == 6


# -- paths that leave the run folder --------------------------------------------------------


@pytest.mark.parametrize("name", ["../../escaped", "/tmp/absolute-run", "a/b", ".hidden", ""])
def test_a_run_name_is_one_folder_name(tmp_path, sim, name, capsys):
    code = cli_main(
        [
            "drill",
            "--name",
            name,
            "--out",
            str(tmp_path / "runs"),
            "--sim-url",
            sim.base_url,
            "--no-progress",
        ]
    )
    assert code == 2
    assert "run_name" in capsys.readouterr().err
    assert not (tmp_path / "escaped").exists() and not Path("/tmp/absolute-run").exists()
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())


def test_an_image_file_outside_the_run_folder_is_never_read(copy, tmp_path):
    secret = copy.parent / "secret"
    secret.mkdir()
    leaked = secret / "private.png"
    shutil.copyfile(next((copy / "images").iterdir()), leaked)
    _sql(copy, "UPDATE attempts SET image_file = '../../secret/private.png' WHERE attempt_id = 1")
    run = open_run(copy)
    frame = run.to_frame()
    row = frame[frame["image_problem"].notna()].iloc[0]
    assert pd.isna(row["image_path"]) and row["image_problem"] == "outside the run folder"
    out = tmp_path / "report.html"
    assert cli_main(["report", str(copy), "--out", str(out)]) == 0
    html = out.read_text()
    assert "private.png" not in html
