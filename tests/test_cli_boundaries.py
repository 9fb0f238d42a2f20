"""Path and URL options checked where they enter (issue 27, findings 7, 8 and 9): each one
bad, a single ``imgkit: error:`` line naming the option, the value and what is allowed, exit 2,
nothing created and nothing sent. Each test reproduced its finding on 3fbd319.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from imgkit.cli.main import main as cli_main
from imgkit.errors import RunError, ValidationError
from imgkit.experiment.arms import Arm
from imgkit.runner import drill
from imgkit.runs import open_run


def _imgkit(*args, env=None, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "imgkit", *args],
        capture_output=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def _one_error(done: subprocess.CompletedProcess) -> str:
    err = done.stderr.decode("utf-8", "replace")
    assert done.returncode == 2, err[-2000:]
    assert "Traceback" not in err, err[-2000:]
    assert err.count("imgkit: error:") == 1, err
    return err


def test_out_that_is_not_utf8_is_an_error_naming_it(tmp_path):
    # Finding 7: UnicodeEncodeError traceback from runner/start.py on 3fbd319.
    out = os.fsencode(tmp_path) + b"/runs-\xff"
    done = _imgkit("drill", "--out", out, "-n", "1", "--models", "gpt-image-2", "--no-progress")
    err = _one_error(done)
    assert "--out" in err and "UTF-8" in err
    assert os.listdir(tmp_path) == []


def test_other_text_options_that_are_not_utf8_are_errors_too(tmp_path):
    done = _imgkit("drill", "--prompt", b"a fox \xff", "--out", str(tmp_path), "--no-progress")
    assert "--prompt" in _one_error(done)
    done = _imgkit("report", os.fsencode(tmp_path) + b"/\xfe")
    _one_error(done)


@pytest.mark.parametrize("url", ["notaurl", "ftp://127.0.0.1:21", "http://", "http://127.0.0.1:x"])
def test_sim_url_must_be_http_on_a_loopback_address(tmp_path, capsys, url):
    # Finding 8: on 3fbd319 a run of failed attempts "may have been billed ($2.0640)".
    code = cli_main(["drill", "--sim-url", url, "--out", str(tmp_path), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "imgkit: error:" in err and "--sim-url" in err, err
    assert "http" in err
    assert os.listdir(tmp_path) == []


def test_a_remote_sim_url_needs_the_users_word(tmp_path, capsys):
    # A name under .invalid (RFC 2606) never resolves: the refusal is tested with no address
    # outside this machine named, and nothing could be sent if the check ever let it through.
    code = cli_main(
        ["drill", "--sim-url", "http://remote-sim.invalid:8000", "--out", str(tmp_path)]
    )
    err = capsys.readouterr().err
    assert code == 2 and "--allow-remote-sim" in err and "loopback" in err, err
    with pytest.raises(ValidationError, match="loopback"):
        drill(
            "a fox",
            ["gpt-image-2"],
            1,
            out=tmp_path,
            sim_url="http://remote-sim.invalid:8000",
            progress=False,
            log=None,
        )
    assert os.listdir(tmp_path) == []


def test_a_sweep_files_simulator_url_is_checked_as_well(tmp_path, capsys):
    sweep = tmp_path / "sweep.toml"
    sweep.write_text(
        'prompts = ["a"]\n[[arms]]\nmodel = "gpt-image-2"\n[simulator]\nurl = "ftp://x"\n'
    )
    code = cli_main(["drill", "--config", str(sweep), "--out", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 2 and "url" in err and "http" in err, err
    assert not (tmp_path / "runs").exists()


def test_sim_faults_for_an_unknown_target_are_refused():
    # Finding 9: on 3fbd319 the simulator started with a rule that could never match.
    done = _imgkit("sim", "--faults", "nosuchvendor:429=x1", timeout=60)
    err = _one_error(done)
    assert "nosuchvendor" in err and "gemini" in err
    with pytest.raises(ValidationError, match="nosuchvendor"):
        drill(
            "a fox",
            ["gpt-image-2"],
            1,
            sim_faults="nosuchvendor:429=x1",
            progress=False,
            log=None,
            out="/nonexistent-never-created",
        )


def test_known_fault_targets_still_work():
    from imgkit.simulator.faults import parse_faults

    for spec in (
        "gemini:429=x1",
        "openai/dall-e-3:policy=0.3",
        "*:500=0.1",
        "gpt-image-1=500",
        "rate:429=0.1",
    ):
        assert parse_faults(spec)


def test_regenerate_missing_without_resume_is_refused(tmp_path, capsys):
    # Finding 9: on 3fbd319 it was ignored and a new run started.
    code = cli_main(["drill", "--regenerate-missing", "--out", str(tmp_path), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "--regenerate-missing" in err and "--resume" in err, err
    assert os.listdir(tmp_path) == []


@pytest.fixture(scope="module")
def finished(tmp_path_factory, sim) -> Path:
    out = tmp_path_factory.mktemp("runs")
    return drill(
        "a fox", ["gpt-image-2"], 1, out=out, sim_url=sim.base_url, progress=False, log=None
    ).path


def test_a_deleted_ledger_is_not_called_a_run_that_sent_nothing(finished, tmp_path, capsys):
    # Finding 9: "nothing was sent in this run" on 3fbd319, for a run that sent and paid.
    copy = tmp_path / "run"
    shutil.copytree(finished, copy)
    (copy / "ledger.sqlite").unlink()
    with pytest.raises(RunError) as caught:
        open_run(copy)
    message = str(caught.value)
    assert "nothing was sent" not in message
    assert "ledger.sqlite" in message and "missing" in message
    assert cli_main(["verify", str(copy)]) == 2
    assert "nothing was sent" not in capsys.readouterr().err


def test_a_read_only_ledger_is_called_read_only(finished, tmp_path):
    # Finding 9: "not a readable ledger" on 3fbd319.
    mount = tmp_path / "mnt"
    mount.mkdir()
    if subprocess.run(
        ["mount", "-t", "tmpfs", "tmpfs", str(mount)], capture_output=True
    ).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        shutil.copytree(finished, mount / "run")
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        with pytest.raises(RunError) as caught:
            open_run(mount / "run").resume(progress=False, log=None)
        message = str(caught.value)
        assert "not a readable ledger" not in message
        assert "read-only" in message and "ledger.sqlite" in message
        assert len(open_run(mount / "run").to_frame()) == 1  # reading still works
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def test_concurrency_has_an_upper_bound(tmp_path, capsys):
    # Finding 9: --concurrency 1000000 was accepted on 3fbd319.
    code = cli_main(["drill", "--concurrency", "1000000", "--out", str(tmp_path), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "concurrency" in err and "1000000" in err and "at most" in err, err
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("model", ["gemini-2.5-flash-image", "gemini-3-pro-image"])
def test_as_is_is_refused_on_gemini_arms(model, tmp_path, capsys):
    # Finding 9: accepted on 3fbd319, where it means nothing (Gemini does not rewrite prompts).
    with pytest.raises(ValidationError, match=r"as_is"):
        drill("a fox", [Arm.parse(f"{model}+as_is")], 1, out=tmp_path, progress=False, log=None)
    code = cli_main(["drill", "--models", f"{model}+as_is", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "as_is" in err and model in err, err
    assert os.listdir(tmp_path) == []
