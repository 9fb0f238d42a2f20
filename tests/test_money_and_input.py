"""Money and bad input: what cannot have been billed is not counted as spent, a huge plan is
refused before it takes memory, prices are checked key by key, and every bad argument is a
clear error (exit 2) before anything is sent.

Each test here reproduces a defect found on 0.1 (issue #14) and failed before its fix.
"""

from __future__ import annotations

import json
import socket
import subprocess
import tracemalloc
from pathlib import Path

import httpx
import pytest

from imgkit.catalog.models import default_catalog
from imgkit.catalog.validation import validate_request
from imgkit.cli.main import main as cli_main
from imgkit.errors import CatalogError, ValidationError
from imgkit.runner import RetryPolicy, drill


def _closed_port() -> str:
    """A loopback URL where nothing listens (connections are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# -- money -------------------------------------------------------------------------------------


def test_a_refused_connection_is_not_counted_as_spent(tmp_path):
    # On 0.1 six requests that never connected counted $1.50 as "may have been billed",
    # enough to trip a budget.
    run = drill(
        "a red cube",
        ["dall-e-3"],
        6,
        out=tmp_path,
        sim_url=_closed_port(),
        budget=0.3,
        retry=RetryPolicy(transient_delay_s=0),
        progress=False,
        log=None,
    )
    frame = run.to_frame()
    assert set(frame["status"]) == {"failed"}
    assert set(frame["error_kind"]) == {"connect_failed"}
    assert run.summary()["spent_usd"] == 0
    assert run.may_have_been_billed().empty
    assert run.status == "complete"  # the budget never stopped it: nothing was spent


def test_a_huge_repeat_count_is_refused_at_once(tmp_path, capsys):
    # On 0.1, -n 1000000000 --budget 1 used 2.4 GB in 60 s with no output.
    code = cli_main(["drill", "-n", "1000000000", "--budget", "1", "--out", str(tmp_path)])
    assert code == 2
    err = capsys.readouterr().err
    assert ("50,000" in err and "'n'" in err) or "n=" in err
    assert not any(tmp_path.iterdir())


def test_the_budget_refuses_a_large_run_before_its_plan_is_built(tmp_path):
    # 2 arms x 20,000 repeats is under the cap but far over $1: refused from the counts.
    tracemalloc.start()
    try:
        with pytest.raises(Exception, match="exceeds the budget"):
            drill(
                "a red cube",
                ["dall-e-3", "gpt-image-1"],
                20_000,
                out=tmp_path,
                budget=1,
                progress=False,
                log=None,
            )
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20_000_000  # the 40,000-generation plan alone takes well over 50 MB
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("budget", ["inf", "nan", "1e400", "-1"])
def test_an_infinite_or_impossible_budget_is_refused(tmp_path, budget, capsys):
    with pytest.raises(SystemExit) as exited:  # argparse's own exit for a bad value
        cli_main(["drill", f"--budget={budget}", "--out", str(tmp_path)])
    assert exited.value.code == 2
    assert "--budget" in capsys.readouterr().err
    with pytest.raises(ValidationError, match="budget"):
        drill("a red cube", ["dall-e-3"], 1, out=tmp_path, budget=float(budget), log=None)
    assert not any(tmp_path.iterdir())


def _price_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "prices.toml"
    path.write_text(body)
    return path


def test_a_price_file_refuses_absurd_prices_as_costs_project_does(tmp_path):
    path = _price_file(tmp_path, '[prices."dall-e-3".table.standard]\n"1024x1024" = 1e308\n')
    with pytest.raises(CatalogError, match="1e12"):
        default_catalog().with_prices(path)


def test_a_misspelt_price_field_is_an_error_naming_it(tmp_path):
    path = _price_file(tmp_path, '[prices."gpt-image-2"]\nimage_output_per_millon = 24.0\n')
    with pytest.raises(CatalogError, match="image_output_per_millon") as caught:
        default_catalog().with_prices(path)
    assert "image_output_per_million" in str(caught.value)  # what is allowed


def test_a_price_for_a_size_the_model_does_not_have_is_an_error(tmp_path):
    path = _price_file(tmp_path, '[prices."dall-e-3".table.standard]\n"7x7" = 0.01\n')
    with pytest.raises(CatalogError, match="7x7") as caught:
        default_catalog().with_prices(path)
    assert "1024x1024" in str(caught.value)


def test_chain_checks_its_output_path_before_paying(tmp_path, capsys):
    code = cli_main(["chain", "--prompt", "a red cube", "--out", "/proc/x.png"])
    assert code == 2
    err = capsys.readouterr().err
    assert "--out" in err and "/proc/x.png" in err


def test_chain_keeps_an_image_it_could_not_write_where_asked(tmp_path, capsys):
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        code = cli_main(["chain", "--prompt", "a red cube", "--out", str(disk / "x.png")])
        captured = capsys.readouterr()
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)
    assert code != 0
    kept = [line for line in captured.err.splitlines() if "kept at" in line]
    assert kept, captured.err
    saved = Path(kept[0].split("kept at", 1)[1].strip().split()[0])
    assert saved.is_file() and saved.stat().st_size > 0
    saved.unlink()


# -- bad input ---------------------------------------------------------------------------------


def _drill_exit(tmp_path, *args: str) -> int:
    return cli_main(["drill", "--out", str(tmp_path / "runs"), "--no-progress", *args])


def test_an_empty_models_list_is_refused(tmp_path, capsys, sim):
    # On 0.1 --models "" silently ran the default drill.
    assert _drill_exit(tmp_path, "--models", "", "--sim-url", sim.base_url) == 2
    assert "--models" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_a_binary_prompt_file_is_refused(tmp_path, capsys):
    binary = tmp_path / "prompts.bin"
    binary.write_bytes(bytes(range(256)) * 4)
    assert _drill_exit(tmp_path, "--prompt-file", str(binary)) == 2
    err = capsys.readouterr().err
    assert "--prompt-file" in err and "UTF-8" in err and "Traceback" not in err


def test_a_price_file_that_is_a_folder_is_refused(tmp_path, capsys):
    assert cli_main(["--prices", str(tmp_path), "models"]) == 2
    err = capsys.readouterr().err
    assert "price file" in err and str(tmp_path) in err


def test_a_negative_chain_timeout_is_refused(capsys):
    assert cli_main(["chain", "--prompt", "a red cube", "--timeout", "-1"]) == 2
    assert "--timeout" in capsys.readouterr().err


@pytest.mark.parametrize("bad", ["a red\x00cube", "a red\x07cube", "line\x1bone"])
def test_control_characters_in_a_prompt_are_refused_before_sending(bad, tmp_path, sim, capsys):
    with pytest.raises(ValidationError, match="prompt"):
        validate_request("dall-e-3", bad)
    sim.reset()
    assert _drill_exit(tmp_path, "--prompt", bad, "--sim-url", sim.base_url) == 2
    assert sim.stats()["total_requests"] == 0
    # Newlines and tabs are ordinary prompt text.
    assert validate_request("dall-e-3", "two lines\nand\ta tab").prompt


def test_simulator_faults_with_a_running_simulator_say_they_do_not_apply(tmp_path, sim, capsys):
    code = _drill_exit(tmp_path, "--sim-url", sim.base_url, "--sim-faults", "openai:500=x1")
    assert code == 2
    assert "--sim-faults" in capsys.readouterr().err


def test_a_rate_limit_for_a_model_not_in_the_run_is_refused(tmp_path, sim, capsys):
    code = _drill_exit(
        tmp_path, "--models", "dall-e-3", "--rate-limit", "gpt-image-2=5", "--sim-url", sim.base_url
    )
    assert code == 2
    assert "--rate-limit" in capsys.readouterr().err


def test_json_with_report_writes_the_report_and_says_where(tmp_path, sim, capsys):
    code = _drill_exit(
        tmp_path, "--models", "dall-e-3", "-n", "2", "--sim-url", sim.base_url, "--json", "--report"
    )
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert Path(printed["report"]).is_file()


def test_the_simulator_control_routes_need_a_key(sim):
    # On 0.1 anyone who could reach the port could reset its counters or inject faults.
    assert httpx.post(sim.base_url + "/_sim/reset").status_code == 401
    assert httpx.post(sim.base_url + "/_sim/configure", json={"faults": ""}).status_code == 401
    # Issue 27: any key was enough; now only the simulator's own secret is.
    assert (
        httpx.post(
            sim.base_url + "/_sim/reset", headers={"Authorization": "Bearer sim"}
        ).status_code
        == 401
    )
    key = {"Authorization": f"Bearer {sim.control_secret}"}
    assert httpx.post(sim.base_url + "/_sim/reset", headers=key).status_code == 200
    configured = httpx.post(sim.base_url + "/_sim/configure", json={"faults": ""}, headers=key)
    assert configured.status_code == 200
