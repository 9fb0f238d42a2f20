"""What a person sees on the way through the drill, the planner and a CI log (issue 26).

Informational lines go where a reader expects them (standard output from Python, standard
error from the command line, whose standard output is for results); a refusal comes before
anything is printed about a run that will not happen; progress written to a file is lines of
text, not a terminal's escape codes; a long computation says what it is doing when a person
is watching it in a terminal.
"""

from __future__ import annotations

import json

import pytest

from imgkit.cli import main
from imgkit.errors import RunError
from imgkit.runner import drill


@pytest.mark.parametrize("notebook", [True, False])
def test_the_drill_from_python_says_its_estimate_on_stdout_in_a_notebook_only(
    tmp_path, capsys, monkeypatch, notebook
):
    # JupyterLab shows standard error as an error block: there the estimate goes to standard
    # output; a script keeps its standard output for its own results. (Run in a real kernel
    # by test_notebook_reading.test_notebook_output_reads_as_written.)
    monkeypatch.setattr("imgkit.runner.progress.in_notebook", lambda: notebook)
    drill(["a red fox"], ["dall-e-3"], n=1, out=tmp_path, progress=False)
    out, err = capsys.readouterr()
    said, quiet = (out, err) if notebook else (err, out)
    assert "estimated $" in said
    assert quiet == ""


def test_the_drill_command_keeps_standard_output_for_its_summary(tmp_path, capsys):
    code = main(
        [
            "drill",
            "--models",
            "dall-e-3",
            "-n",
            "1",
            "--out",
            str(tmp_path),
            "--no-progress",
            "--json",
            "--prompt",
            "a red fox",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    json.loads(out)  # nothing but the JSON summary
    assert "estimated $" in err


def test_a_run_name_already_taken_is_refused_before_the_estimate(tmp_path, capsys):
    drill(["a red fox"], ["dall-e-3"], n=1, out=tmp_path, run_name="taken", progress=False)
    capsys.readouterr()
    with pytest.raises(RunError, match="taken"):
        drill(["a red fox"], ["dall-e-3"], n=1, out=tmp_path, run_name="taken", progress=False)
    out, err = capsys.readouterr()
    assert "estimated" not in out + err
    code = main(
        [
            "drill",
            "--models",
            "dall-e-3",
            "-n",
            "1",
            "--out",
            str(tmp_path),
            "--name",
            "taken",
            "--no-progress",
            "--prompt",
            "a red fox",
        ]
    )
    out, err = capsys.readouterr()
    assert code != 0 and "taken" in err and "already exists" in err
    assert "estimated" not in out + err
