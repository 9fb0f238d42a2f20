"""The command line starts without loading the toolkit: what `imgkit --help` and `imgkit models`
import, and that a parser built for one command still parses like the full one.

How long start-up takes is measured in benchmarks/bench_startup.py, not asserted here.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

from imgkit.cli import build_parser, main
from imgkit.cli.main import COMMAND_MODULES, _command_in

#: Packages a quick command must not import: the SDKs, the data stack, the simulator's server,
#: progress bars, and imgkit's own heavy parts.
HEAVY = (
    "openai",
    "google.genai",
    "httpx",
    "pydantic",
    "pandas",
    "numpy",
    "matplotlib",
    "PIL",
    "imagehash",
    "uvicorn",
    "starlette",
    "tqdm",
    "imgkit.simulator",
    "imgkit.runner",
    "imgkit.providers",
    "imgkit.report",
)

# Runs the command line in a fresh interpreter, then prints the modules it imported (as JSON on
# the last line, after whatever the command printed).
_DRIVER = """
import contextlib, io, json, sys
from imgkit.cli.main import main
with contextlib.redirect_stdout(io.StringIO()):
    try:
        main(sys.argv[1:])
    except SystemExit:
        pass
print(json.dumps(sorted(sys.modules)))
"""


def imported_by(*argv: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", _DRIVER, *argv],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return set(json.loads(done.stdout.splitlines()[-1]))


def heavy_in(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["models"],
        ["models", "--all", "--json"],
        ["drill", "--help"],
        ["chain", "--help"],
        ["edit", "--help"],
        ["check", "--help"],
        ["drift", "--help"],
        ["runs", "--help"],
    ],
    ids=" ".join,
)
def test_quick_commands_do_not_import_the_toolkit(argv):
    modules = imported_by(*argv)
    assert "imgkit.cli.main" in modules  # the driver did run the command line
    assert heavy_in(modules) == []


def test_the_driver_sees_heavy_imports_when_a_command_needs_them():
    # `costs project` makes a pandas table: proof that the check above can fail.
    modules = imported_by("costs", "project", "--model", "gpt-image-2", "--per-day", "10")
    assert "pandas" in heavy_in(modules)


def test_help_lists_every_command_with_its_summary(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for module_name in COMMAND_MODULES:
        for name, summary in importlib.import_module(module_name).COMMANDS.items():
            assert name in out and summary.split()[0] in out


def test_a_parser_built_for_one_command_parses_it_like_the_full_parser():
    argv = ["--prices", "p.toml", "drill", "--models", "dall-e-3", "-n", "2", "--no-progress"]
    full = vars(build_parser().parse_args(argv))
    only = vars(build_parser(["drill"]).parse_args(argv))
    assert only == full and full["n"] == 2


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        ([], None),
        (["--help"], None),
        (["models", "--all"], "models"),
        (["--prices", "models", "drill"], "drill"),  # a price file named "models"
        (["--prices=p.toml", "costs", "estimate"], "costs"),
        (["--pri", "p.toml", "report", "RUN"], "report"),  # argparse accepts the abbreviation
        (["--", "hash", "a.png"], "hash"),
    ],
)
def test_the_command_is_found_after_the_main_options(argv, command):
    assert _command_in(argv) == command


def test_a_command_the_scan_misses_still_runs(capsys, monkeypatch):
    # However the command is written, main() falls back to the full parser.
    # (imgkit.cli.main is also the name of the function, so the module is looked up by name)
    monkeypatch.setattr(importlib.import_module("imgkit.cli.main"), "_command_in", lambda a: None)
    assert main(["models", "--json"]) == 0
    assert "gpt-image-2" in capsys.readouterr().out


def test_an_unknown_command_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["nosuch"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'nosuch'" in capsys.readouterr().err
