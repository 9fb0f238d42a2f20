"""Progress as a person reads it: plain lines in a log file (CI), a word in a terminal while a
long computation runs, and nothing in a pipe (issue 26)."""

from __future__ import annotations

import io
import re

from imgkit.cli import main
from imgkit.runner import drill


class _Log(io.StringIO):
    """A file that is not a terminal (a CI log)."""

    def isatty(self) -> bool:
        return False


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_written_to_a_log_file_is_plain_lines(tmp_path, monkeypatch):
    log = _Log()
    monkeypatch.setattr("sys.stderr", log)
    drill(["a red fox"], ["dall-e-3", "gpt-image-1"], n=3, out=tmp_path, progress=True, log=None)
    text = log.getvalue()
    assert text, "progress is reported"
    assert "\r" not in text and "\x1b" not in text
    lines = text.splitlines()
    # The last word of each arm is its whole count.
    for arm in ("dall-e-3", "gpt-image-1"):
        mine = [line for line in lines if line.startswith(arm)]
        assert mine and re.search(r"\b3/3\b", mine[-1]), lines
        assert "ok=3" in mine[-1]


def test_plan_says_what_it_is_doing_in_a_terminal_and_nothing_in_a_pipe(
    tmp_path, monkeypatch, capsys
):
    run = drill(["a red fox"], ["dall-e-3", "gpt-image-1"], n=3, out=tmp_path, progress=False)
    capsys.readouterr()
    args = ["plan", str(run.path), "--kind", "phash", "--sims", "20", "--max-repeats", "10"]
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    assert main(args) == 0
    said = terminal.getvalue()
    assert "imgkit plan:" in said and "repeats" in said, said
    pipe = _Log()
    monkeypatch.setattr("sys.stderr", pipe)
    assert main([*args, "--json"]) == 0
    assert pipe.getvalue() == ""
