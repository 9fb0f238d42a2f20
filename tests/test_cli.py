"""The `imgkit` console script: catalog and cost commands, --json, and clean errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from imgkit.cli import main


def run_cli(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_models_lists_live_models_and_all_adds_retired(capsys):
    code, out, _ = run_cli(capsys, "models")
    assert code == 0
    assert "gpt-image-2" in out and "dall-e-3" not in out
    code, out, _ = run_cli(capsys, "models", "--all")
    assert "dall-e-3" in out and "2026-05-12" in out and "retired" in out


def test_models_json(capsys):
    code, out, _ = run_cli(capsys, "models", "--all", "--json")
    data = json.loads(out)
    by_name = {m["model"]: m for m in data["models"]}
    assert by_name["gpt-image-1"]["status"] == "retired"
    assert by_name["gpt-image-1"]["shutdown_on"] == "2026-10-23"
    assert by_name["dall-e-3"]["rewrites_prompt"] == "generate"


def test_costs_estimate(capsys):
    code, out, _ = run_cli(capsys, "costs", "estimate", "--model", "dall-e-3", "--quality", "hd")
    assert code == 0 and "$0.0800" in out and "as of" in out
    code, out, _ = run_cli(
        capsys,
        "costs",
        "estimate",
        "--model",
        "gpt-image-1",
        "--quality",
        "low",
        "--images",
        "3",
        "--json",
    )
    data = json.loads(out)
    assert data["n"] == 3 and data["usd"] == pytest.approx(3 * 272 * 40 / 1e6)


def test_costs_project_reproduces_the_lesson(capsys):
    code, out, _ = run_cli(
        capsys,
        "costs",
        "project",
        "--model",
        "dall-e-3",
        "--model",
        "dall-e-3:hd",
        "--price",
        "leonardo=0.008",
        "--per-day",
        "1,20",
        "--json",
    )
    rows = json.loads(out)["rows"]
    got = {(r["label"], r["images_per_day"]): r["monthly_usd"] for r in rows}
    assert got[("dall-e-3 standard 1024x1024", 1)] == "1.20"
    assert got[("dall-e-3 standard 1024x1024", 20)] == "24.00"
    assert got[("dall-e-3 hd 1024x1024", 20)] == "48.00"
    assert got[("leonardo", 20)] == "4.80"


def test_costs_project_text_table_with_quality_for_all_models(capsys):
    code, out, _ = run_cli(
        capsys,
        "costs",
        "project",
        "--model",
        "gpt-image-1",
        "--quality",
        "high",
        "--per-day",
        "500",
        "--days",
        "31",
    )
    assert code == 0 and "gpt-image-1 high 1024x1024" in out and "per 31 days" in out


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("costs", "estimate", "--model", "dall-e-3", "--quality", "ultra"), "quality='ultra'"),
        (("costs", "estimate", "--model", "nope"), "model='nope'"),
        (("costs", "estimate", "--model", "dall-e-3", "--size", "10x10"), "size='10x10'"),
        (("costs", "project", "--price", "abc", "--per-day", "1"), "--price='abc'"),
        (("costs", "project", "--per-day", "1"), "--model"),
        (("--prices", "/no/such.toml", "models"), "does not exist"),
        (("costs", "project", "--price", "1e400", "--per-day", "1"), "--price='1e400'"),
        (("costs", "project", "--price", "inf", "--per-day", "1"), "--price='inf'"),
    ],
)
def test_bad_arguments_exit_2_with_the_message(capsys, args, needle):
    code, out, err = run_cli(capsys, *args)
    assert code == 2
    assert needle in err and "Traceback" not in err


@pytest.mark.parametrize("per_day", ["x", "inf", "nan", "1e400", ",", "1,,2", "-1", "1e12"])
def test_argparse_errors_exit_2(capsys, per_day):
    with pytest.raises(SystemExit) as info:
        main(["costs", "project", "--per-day", per_day, "--price", "1"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert f"--per-day={per_day!r}" in err and "Traceback" not in err


def test_per_day_takes_whole_and_fractional_volumes(capsys):
    code, out, _ = run_cli(
        capsys, "costs", "project", "--price", "0.04", "--per-day", "1e3,2.5", "--json"
    )
    rows = json.loads(out)["rows"]
    assert code == 0
    assert [(r["images_per_day"], r["monthly_usd"]) for r in rows] == [
        (1000, "1200.00"),
        (2.5, "3.00"),
    ]


def test_prices_option_overrides(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("IMGKIT_PRICES", raising=False)
    prices = tmp_path / "prices.toml"
    prices.write_text('[prices."leonardo-phoenix".table.auto]\n"*" = 0.005\n')
    code, out, _ = run_cli(
        capsys,
        "--prices",
        str(prices),
        "costs",
        "estimate",
        "--model",
        "leonardo-phoenix",
        "--json",
    )
    assert json.loads(out)["usd"] == pytest.approx(0.005)
    monkeypatch.delenv("IMGKIT_PRICES", raising=False)


def test_console_script_runs_as_a_module():
    done = subprocess.run(
        [sys.executable, "-m", "imgkit", "costs", "estimate", "--model", "dall-e-3", "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["usd"] == pytest.approx(0.04)


def test_prices_option_does_not_leak_into_later_calls(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("IMGKIT_PRICES", raising=False)
    assert run_cli(capsys, "--prices", "/no/such.toml", "models")[0] == 2
    code, out, _ = run_cli(capsys, "costs", "estimate", "--model", "dall-e-3", "--json")
    assert code == 0 and json.loads(out)["usd"] == pytest.approx(0.04)


def test_drill_report_prints_the_verdict_and_writes_the_report(tmp_path, capsys):
    code = main(["drill", "--out", str(tmp_path), "-n", "3", "--no-progress", "--report"])
    out = capsys.readouterr().out
    assert code == 0
    assert "What the simulated drill found:" in out
    assert "EfficientNet-Lite0 similarity" in out and "dall-e-3" in out and "gpt-image-1" in out
    # dall-e-3's rewrite is shown next to the original, in plain words.
    assert "and rewrote it as: " in out and "as:  " not in out
    (report,) = tmp_path.glob("*/report.html")
    assert f"report: {report}" in out
