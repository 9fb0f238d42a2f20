"""A command line that explains itself: a version, help on every option, one name per meaning,
one way to write a list, one error prefix."""

from __future__ import annotations

import argparse
import json
import re

import pytest

import imgkit
from imgkit.cli import build_parser, main

#: Old spellings kept working (with a note) but left out of the help.
HIDDEN_ALIASES = {("costs estimate", "--n"), ("edit", "--n")}


def _commands(parser: argparse.ArgumentParser, path: str = ""):
    """(name, parser) of every command and subcommand, depth first."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                full = f"{path} {name}".strip()
                yield full, sub
                yield from _commands(sub, full)


COMMANDS = dict(_commands(build_parser()))


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"imgkit {imgkit.__version__}"


def test_the_walk_finds_every_command():
    assert {"models", "costs", "costs estimate", "costs project", "drill", "sim", "chain"} <= set(
        COMMANDS
    )
    assert {"edit", "hash", "consistency", "report", "verify"} <= set(COMMANDS)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_option_says_what_it_is_for(command):
    parser = COMMANDS[command]
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
            continue
        names = action.option_strings or [action.dest]
        if action.help == argparse.SUPPRESS:
            assert {(command, n) for n in names} <= HIDDEN_ALIASES, names
            continue
        assert action.help and action.help.strip(), f"imgkit {command} {names[0]} has no help"


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_help_is_plain_text(command):
    text = COMMANDS[command].format_help()
    # reST from a docstring reads as noise in a terminal.
    assert "``" not in text and ":func:" not in text and ":class:" not in text
    assert not re.search(r"::\s*$", text, re.M), text


def test_repeats_and_images_per_request_have_different_names(capsys):
    drill_help = COMMANDS["drill"].format_help()
    assert re.search(r"-n N, --repeats N\s+repeats", drill_help)
    for command in ("costs estimate", "edit"):
        text = COMMANDS[command].format_help()
        assert "--images" in text and "images per request" in text
        assert not re.search(r"(^|\s)--n\b", text), f"imgkit {command} still shows --n"
    estimate = ["costs", "estimate", "--model", "gpt-image-1", "--quality", "low"]
    code = main([*estimate, "--images", "3", "--json"])
    assert code == 0 and json.loads(capsys.readouterr().out)["n"] == 3
    # The old spelling still works, and says what to write instead.
    code = main([*estimate, "--n", "3"])
    out, err = capsys.readouterr()
    assert code == 0 and "x3" in out
    assert "--n is deprecated" in err and "--images" in err


@pytest.mark.parametrize(
    "words",
    [["1,20,500"], ["1", "20", "500"], ["1,", "20,", "500"], ["1,20", "500"]],
    ids=lambda w: " ".join(w),
)
def test_per_day_takes_commas_or_spaces_in_costs_project(capsys, words):
    code = main(["costs", "project", "--price", "0.04", "--per-day", *words, "--json"])
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert code == 0 and [r["images_per_day"] for r in rows] == [1, 20, 500]


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("runs")
    return imgkit.drill(["a fox"], ["dall-e-3"], n=2, out=folder, progress=False, log=None)


@pytest.mark.parametrize("words", [["1,20,500"], ["1", "20", "500"]], ids=" ".join)
def test_per_day_takes_commas_or_spaces_in_report(capsys, small_run, tmp_path, words):
    out = tmp_path / "report.html"
    argv = ["report", str(small_run.path), "--out", str(out), "--json", "--n-boot", "50"]
    code = main([*argv, "--per-day", *words])
    data = json.loads(capsys.readouterr().out)
    assert code == 0
    assert sorted({row["images_per_day"] for row in data["projection"]}) == [1, 20, 500]


@pytest.mark.parametrize(
    "argv",
    [
        ["drill", "-n", "0"],
        ["drill", "--backend", "moon"],
        ["costs", "estimate", "--model", "nope"],
        ["costs", "project", "--per-day", "x", "--price", "1"],
        ["models", "--bogus"],
        ["hash", "missing.png"],
        ["report", "no-such-run-folder"],
        ["verify", "no-such-run-folder"],
        ["chain", "--prompt", "a fox", "--timeout", "-1"],
        ["edit", "--image", "missing.png", "--prompt", "x", "--model", "gpt-image-2"],
        ["sim", "--port", "99999"],
    ],
    ids=" ".join,
)
def test_every_error_says_imgkit_error(capsys, argv):
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2
    lines = [line for line in err.splitlines() if "error" in line]
    assert lines and all(line.startswith("imgkit: error: ") for line in lines), err
    assert "Traceback" not in err
