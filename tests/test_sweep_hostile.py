"""Sweep files from strangers (issue 27, findings 1, 2 and 5): a sweep shared in a pull request
and run by CI must not take the machine down, end in a traceback, or read files beside it.

Each test reproduced its finding on 3fbd319 before the fix.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from imgkit.errors import SweepFileError
from imgkit.experiment.sweep import Sweep

pytest.importorskip("yaml")

BILLION_LAUGHS = textwrap.dedent(
    """\
    a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
    b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
    c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
    d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
    e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
    f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
    g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
    h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
    i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
    arms: [{model: gpt-image-2}]
    prompts: *i
    """
)


def _limited(seconds: int, megabytes: int):
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (megabytes << 20, megabytes << 20))
        resource.setrlimit(resource.RLIMIT_CPU, (seconds, seconds))

    return limit


def _drill_config(path: Path, *extra: str, timeout: int = 60) -> subprocess.CompletedProcess:
    """``imgkit drill --config path`` in a child held to 2 GB of memory and a minute of CPU."""
    return subprocess.run(
        [sys.executable, "-m", "imgkit", "drill", "--config", str(path), "--no-progress", *extra],
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=_limited(timeout, 2048),
        cwd=path.parent,
        env={**os.environ, "IMGKIT_RUNS": str(path.parent / "runs")},
    )


def test_billion_laughs_is_refused_quickly_naming_the_limit(tmp_path):
    # Finding 1: on 3fbd319 this grew past the child's 2 GB and died with a MemoryError traceback.
    path = tmp_path / "laughs.yaml"
    path.write_text(BILLION_LAUGHS, encoding="utf-8")
    done = _drill_config(path)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert done.stderr.count("imgkit: error:") == 1
    assert "laughs.yaml" in done.stderr and "alias" in done.stderr
    assert not (tmp_path / "runs").exists()


def test_an_anchor_that_refers_to_itself_is_an_error_not_a_recursion(tmp_path):
    # Finding 2: RecursionError from sweep_file.walk on 3fbd319.
    path = tmp_path / "self.yaml"
    path.write_text(
        "arms: &x [{model: gpt-image-2, self: *x}]\nprompts: [a fox]\n", encoding="utf-8"
    )
    with pytest.raises(SweepFileError, match=r"self\.yaml.*alias"):
        Sweep.from_file(path)


def test_deep_nesting_is_an_error_in_either_format(tmp_path):
    deep = "[" * 50_000 + "]" * 50_000
    toml = tmp_path / "deep.toml"
    toml.write_text(f'prompts = ["a"]\narms = {deep}\n', encoding="utf-8")
    with pytest.raises(SweepFileError, match=r"deep\.toml.*nest"):
        Sweep.from_file(toml)
    yaml_file = tmp_path / "deep.yaml"
    yaml_file.write_text(f"prompts: [a]\narms: {deep}\n", encoding="utf-8")
    with pytest.raises(SweepFileError, match=r"deep\.yaml.*nest"):
        Sweep.from_file(yaml_file)


def test_a_sweep_file_too_large_is_refused_naming_the_limit(tmp_path):
    path = tmp_path / "big.toml"
    lines = "\n".join(f"# {'x' * 100}" for _ in range(20_000))
    path.write_text(f'prompts = ["a"]\n[[arms]]\nmodel = "gpt-image-2"\n{lines}\n')
    with pytest.raises(SweepFileError, match=r"big\.toml.*limit.*bytes"):
        Sweep.from_file(path)


def test_too_many_elements_are_refused_naming_the_limit(tmp_path):
    path = tmp_path / "many.yaml"
    path.write_text("arms: [{model: gpt-image-2}]\nprompts: [" + ",".join(["1"] * 150_000) + "]\n")
    with pytest.raises(SweepFileError, match=r"many\.yaml.*limit.*elements"):
        Sweep.from_file(path)


def test_a_prompt_file_too_large_or_not_a_file_is_refused(tmp_path):
    big = tmp_path / "prompts.txt"
    with big.open("w") as handle:
        for k in range(400_000):
            handle.write(f"prompt number {k} {'y' * 40}\n")
    sweep = tmp_path / "sweep.toml"
    sweep.write_text('[prompts]\nfile = "prompts.txt"\n[[arms]]\nmodel = "gpt-image-2"\n')
    with pytest.raises(SweepFileError, match=r"prompts\.txt.*limit"):
        Sweep.from_file(sweep)
    fifo = tmp_path / "fifo.txt"
    os.mkfifo(fifo)
    sweep.write_text('[prompts]\nfile = "fifo.txt"\n[[arms]]\nmodel = "gpt-image-2"\n')
    with pytest.raises(SweepFileError, match=r"fifo\.txt.*regular file"):
        Sweep.from_file(sweep)


# -- finding 5: paths in a sweep file stay beside it ---------------------------------------------


@pytest.fixture
def secret(tmp_path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text("root:$6$hash-of-a-password\n", encoding="utf-8")
    return path


def test_a_prompt_file_outside_the_sweep_folder_is_refused(tmp_path, secret):
    folder = tmp_path / "shared"
    folder.mkdir()
    sweep = folder / "sweep.toml"
    for name in (str(secret), "../secret.txt"):
        sweep.write_text(
            f'[prompts]\nfile = "{name}"\n[[arms]]\nmodel = "gpt-image-2"\n', encoding="utf-8"
        )
        with pytest.raises(SweepFileError, match=r"outside.*--allow-path") as caught:
            Sweep.from_file(sweep)
        assert "hash-of-a-password" not in str(caught.value)
    # A link beside the sweep that points outside is outside too.
    (folder / "innocent.txt").symlink_to(secret)
    sweep.write_text('[prompts]\nfile = "innocent.txt"\n[[arms]]\nmodel = "gpt-image-2"\n')
    with pytest.raises(SweepFileError, match=r"outside"):
        Sweep.from_file(sweep)
    # The user may allow a folder on the command line (Python: allow_paths).
    allowed = Sweep.from_file(sweep, allow_paths=[tmp_path])
    assert allowed.prompt_texts == ["root:$6$hash-of-a-password"]


def test_a_prompt_file_beside_the_sweep_is_read(tmp_path):
    folder = tmp_path / "shared"
    (folder / "lists").mkdir(parents=True)
    (folder / "lists" / "p.txt").write_text("a fox\na hen\n")
    sweep = folder / "sweep.toml"
    sweep.write_text('[prompts]\nfile = "lists/p.txt"\n[[arms]]\nmodel = "gpt-image-2"\n')
    assert Sweep.from_file(sweep).prompt_texts == ["a fox", "a hen"]


def test_the_command_line_refuses_then_allows_a_path_and_nothing_is_sent(tmp_path, secret, sim):
    folder = tmp_path / "shared"
    folder.mkdir()
    sweep = folder / "sweep.toml"
    sweep.write_text(
        f'[prompts]\nfile = "{secret}"\n[[arms]]\nmodel = "gpt-image-2"\n', encoding="utf-8"
    )
    sim.reset()
    done = _drill_config(sweep, "--sim-url", sim.base_url)
    assert done.returncode == 2 and "imgkit: error:" in done.stderr, done.stderr
    assert "--allow-path" in done.stderr and "Traceback" not in done.stderr
    assert sim.stats()["total_requests"] == 0
    done = _drill_config(sweep, "--sim-url", sim.base_url, "-n", "1", "--allow-path", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert sim.stats()["total_requests"] == 1


def test_out_in_a_sweep_file_stays_beside_it(tmp_path):
    folder = tmp_path / "shared"
    folder.mkdir()
    sweep = folder / "sweep.toml"
    sweep.write_text('out = "../elsewhere"\nprompts = ["a"]\n[[arms]]\nmodel = "gpt-image-2"\n')
    with pytest.raises(SweepFileError, match=r"\(out\).*outside"):
        Sweep.from_file(sweep)
    assert Sweep.from_file(sweep, allow_paths=[tmp_path]).out == str(tmp_path / "elsewhere")
    sweep.write_text('out = "runs"\nprompts = ["a"]\n[[arms]]\nmodel = "gpt-image-2"\n')
    assert Sweep.from_file(sweep).out == str(folder / "runs")


# -- found by the fuzz test (tests/test_fuzz_inputs.py) ------------------------------------------


def test_fuzz_findings_are_errors_before_a_folder_is_made(tmp_path, capsys):
    from imgkit.cli.main import main as cli_main

    # timeout_s = "notaurl" was a ValueError traceback from the providers, after the run
    # folder was made; a NUL in a path a ValueError traceback from pathlib.
    for line in ('timeout_s = "notaurl"', "timeout_s = -1", 'out = "a\\u0000b"'):
        sweep = tmp_path / "sweep.toml"
        sweep.write_text(f'{line}\nprompts = ["a"]\n[[arms]]\nmodel = "gpt-image-2"\n')
        code = cli_main(["drill", "--config", str(sweep), "--out", str(tmp_path / "runs")])
        err = capsys.readouterr().err
        assert code == 2 and "imgkit: error:" in err, (line, err)
        assert not (tmp_path / "runs").exists()
