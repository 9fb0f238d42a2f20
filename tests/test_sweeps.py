"""Sweep files: arms with their own parameters, prompt sources, errors that name the file, line
and key, the copy in each run folder, and the same through the command line."""

from __future__ import annotations

import json
import os
import sys
import tomllib
from pathlib import Path

import pytest

import imgkit
from imgkit.cli.main import main as cli_main
from imgkit.errors import SweepFileError, ValidationError
from imgkit.experiment.arms import AS_IS_PREFIX, Arm, PromptTransform
from imgkit.experiment.prompts import read_prompt_file
from imgkit.experiment.sweep import SWEEP_FILE_NAME, Sweep
from imgkit.experiment.toml_text import toml_dumps
from imgkit.runs.location import RUNS_ENV, default_runs_folder

#: The sweep of the issue's "done means": six arms (parameters of the same models, a prompt
#: prefix arm, a Responses arm) x a templated prompt set.
SIX_ARMS = """\
description = "six arms x a templated prompt set"
repeats = 3
backend = "sim"
kinds = ["efficientnet-lite0", "phash"]

[simulator]
seed = 1

[prompts]
template = "{subject}, {style}"
[prompts.grid]
subject = ["a red bicycle", "a lighthouse on a cliff"]
style = ["watercolour", "studio photograph"]

[[arms]]
model = "dall-e-3"

[[arms]]
model = "dall-e-3"
quality = "hd"
style = "natural"

[[arms]]
name = "dall-e-3 composed"
model = "dall-e-3"
prefix = "Exact same composition every time:"

[[arms]]
name = "gpt-low-wide"
model = "gpt-image-2"
quality = "low"
size = "1536x1024"

[[arms]]
model = "gpt-image-2"
quality = "medium"

[[arms]]
model = "gpt-image-2.6-sunburst"
endpoint = "responses"

[checks]
min_similarity = { "gpt-low-wide" = 0.2 }
max_failure_rate = 0.5
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# -- arms with their own parameters and prompt transforms ---------------------------------------


def test_an_arm_option_carries_its_own_parameters():
    arm = Arm.from_option("gpt-image-2:quality=low,size=1536x1024")
    assert (arm.model, dict(arm.params)) == ("gpt-image-2", {"quality": "low", "size": "1536x1024"})
    assert arm.name == "gpt-image-2:quality=low,size=1536x1024"
    request = arm.request("a cat")
    assert (request.quality, request.size) == ("low", "1536x1024")


def test_an_arm_option_types_its_values_and_takes_quoted_text():
    arm = Arm.from_option('dall-e-3+as_is:prefix="Same layout, always:",seed=7,name=ctl')
    assert arm.name == "ctl" and arm.params["seed"] == 7 and arm.prompt_variant == "as_is"
    # The transform first, then the AS-IS prefix in front of everything.
    assert arm.prompt_for("a cat") == f"{AS_IS_PREFIX} Same layout, always: a cat"


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("dall-e-3:qualty=hd", ["qualty", "quality"]),
        ("gpt-image-2:seed=seven", ["seed", "seven", "whole number"]),
        ('dall-e-3:prefix="unclosed', ["unclosed"]),
        ("dall-e-3:template=no placeholder", ["template", "{prompt}"]),
    ],
)
def test_a_bad_arm_option_names_what_is_wrong(text, names):
    with pytest.raises(ValidationError) as error:
        Arm.from_option(text)
    for name in names:
        assert name in str(error.value)


def test_prompt_transforms_prefix_suffix_and_template():
    assert PromptTransform(prefix="Same:").apply("a cat") == "Same: a cat"
    assert PromptTransform(suffix=", plain background").apply("a cat") == "a cat, plain background"
    assert PromptTransform(suffix="in oil").apply("a cat") == "a cat in oil"
    template = PromptTransform(template="{prompt} {{exactly}}")
    assert (
        template.apply("a {weird} cat") == "a {weird} cat {exactly}"
    )  # the prompt is not a format
    with pytest.raises(ValidationError, match="other"):
        PromptTransform(template="{prompt} {style}")


def test_an_arm_with_a_transform_survives_the_manifest():
    arm = Arm.from_option('dall-e-3:suffix=", same framing",quality=hd')
    assert Arm.from_dict(json.loads(json.dumps(arm.to_dict()))) == arm
    # Manifests written before transforms existed still read.
    old = {"name": "x", "model": "dall-e-3", "params": {}, "prompt_variant": "as_is"}
    assert Arm.from_dict(old).prompt_transform is None


# -- prompt sources ---------------------------------------------------------------------------


def test_prompts_from_text_csv_and_jsonl_files(tmp_path):
    text = write(tmp_path / "p.txt", "# comment\na cat\n\na dog\n")
    csv = write(tmp_path / "p.csv", 'prompt,topic\n"a red car, parked",cars\na boat,boats\n')
    jsonl = write(tmp_path / "p.jsonl", '{"prompt": "a kite", "tag": 1}\n\n"a moon"\n')
    assert [p.text for p in read_prompt_file(text)] == ["a cat", "a dog"]
    rows = read_prompt_file(csv)
    assert [p.text for p in rows] == ["a red car, parked", "a boat"]
    assert rows[0].variables == {"topic": "cars"} and rows[1].origin == "p.csv, line 3"
    assert [p.text for p in read_prompt_file(jsonl)] == ["a kite", "a moon"]


@pytest.mark.parametrize(
    ("name", "content", "line", "words"),
    [
        ("bad.csv", "text\na cat\n", 1, ["prompt"]),
        ("bad.csv", "prompt\na cat\n\n ,\n", 4, ["empty"]),
        ("bad.jsonl", '{"prompt": "a"}\n{"prompt": 3}\n', 2, ["prompt"]),
        ("bad.jsonl", '{"prompt": "a"}\nnot json\n', 2, ["JSON"]),
        ("empty.txt", "# nothing\n", None, ["no prompt"]),
    ],
)
def test_a_bad_prompt_file_names_the_file_and_line(tmp_path, name, content, line, words):
    path = write(tmp_path / name, content)
    with pytest.raises(SweepFileError) as error:
        read_prompt_file(path)
    assert error.value.file == str(path) and error.value.line == line
    for word in words:
        assert word in str(error.value)


# -- the sweep file ---------------------------------------------------------------------------


def test_a_sweep_file_reads_into_arms_and_expanded_prompts(tmp_path):
    sweep = Sweep.from_file(write(tmp_path / "s.toml", SIX_ARMS))
    assert [a.name for a in sweep.arms] == [
        "dall-e-3",
        "dall-e-3:quality=hd,style=natural",
        "dall-e-3 composed",
        "gpt-low-wide",
        "gpt-image-2:quality=medium",
        "gpt-image-2.6-sunburst@responses",
    ]
    assert sweep.prompt_texts == [
        "a red bicycle, watercolour",
        "a red bicycle, studio photograph",
        "a lighthouse on a cliff, watercolour",
        "a lighthouse on a cliff, studio photograph",
    ]
    assert sweep.prompts[0].variables == {"subject": "a red bicycle", "style": "watercolour"}
    assert sweep.repeats == 3 and sweep.kinds == ("efficientnet-lite0", "phash")
    assert sweep.sim_seed == 1
    assert sweep.arms[2].prompt_for("x") == "Exact same composition every time: x"
    assert dict(sweep.checks.min_similarity) == {"gpt-low-wide": 0.2}
    assert sweep.checks.kind == "efficientnet-lite0"  # the sweep's first kind


def test_arms_as_strings_and_prompts_from_several_sources(tmp_path):
    write(tmp_path / "more.csv", "prompt\na boat\n")
    sweep = Sweep.from_file(
        write(
            tmp_path / "s.toml",
            'arms = ["dall-e-3+as_is", "gpt-image-2:quality=low"]\n'
            '[[prompts]]\ntext = ["a cat"]\n[[prompts]]\nfile = "more.csv"\n',
        )
    )
    assert [a.name for a in sweep.arms] == ["dall-e-3+as_is", "gpt-image-2:quality=low"]
    assert sweep.prompt_texts == ["a cat", "a boat"]  # the file is relative to the sweep file


def test_yaml_sweeps_read_like_toml(tmp_path):
    pytest.importorskip("yaml")
    yaml_text = "repeats: 2\nprompts: [a cat]\narms:\n  - model: dall-e-3\n    quality: hd\n"
    sweep = Sweep.from_file(write(tmp_path / "s.yaml", yaml_text))
    assert sweep.repeats == 2 and sweep.arms[0].params["quality"] == "hd"
    with pytest.raises(SweepFileError) as error:
        Sweep.from_file(
            write(
                tmp_path / "bad.yaml",
                "prompts: [a cat]\narms:\n  - model: dall-e-3\n    quality: ultra\n",
            )
        )
    assert error.value.line == 4 and "arms[0].quality" in str(error.value)


BAD_SWEEPS = [
    # (what is wrong, the file's text, line, key, words in the message)
    (
        "a quality the model does not take",
        'prompts = ["a cat"]\n\n[[arms]]\nmodel = "dall-e-3"\n\n[[arms]]\nmodel = "gpt-image-2"\n'
        'quality = "ultra"\n',
        8,
        "arms[1].quality",
        ["'ultra'", "gpt-image-2", "'low'", "'medium'", "'high'"],
    ),
    (
        "an unknown model",
        'prompts = ["a cat"]\n[[arms]]\nmodel = "dall-e-4"\n',
        3,
        "arms[0].model",
        ["dall-e-4", "dall-e-3"],
    ),
    (
        "an unknown key in an arm",
        'prompts = ["a cat"]\n[[arms]]\nmodel = "dall-e-3"\nqualty = "hd"\n',
        4,
        "arms[0].qualty",
        ["qualty", "quality"],
    ),
    (
        "a drill-wide size one arm refuses",
        'prompts = ["a cat"]\n[defaults]\nsize = "1536x1024"\n[[arms]]\nmodel = "dall-e-3"\n',
        3,
        "defaults.size",
        ["1536x1024", "1792x1024"],
    ),
    (
        "a template variable without values",
        '[prompts]\ntemplate = "{subject} in {style}"\ngrid = { subject = ["a cat"] }\n'
        '[[arms]]\nmodel = "dall-e-3"\n',
        2,
        "prompts.template",
        ["style"],
    ),
    (
        "repeats that are not a number",
        'repeats = "five"\nprompts = ["a cat"]\n[[arms]]\nmodel = "dall-e-3"\n',
        1,
        "repeats",
        ["five", "whole number"],
    ),
    (
        "a check on an arm the sweep does not have",
        'prompts = ["a cat"]\n[[arms]]\nmodel = "dall-e-3"\n[checks]\n'
        "min_similarity = { nosuch = 0.8 }\n",
        5,
        "checks.min_similarity.nosuch",
        ["nosuch", "dall-e-3"],
    ),
    (
        "a threshold out of range",
        'prompts = ["a cat"]\n[[arms]]\nmodel = "dall-e-3"\n[checks]\nmax_failure_rate = 2\n',
        5,
        "checks.max_failure_rate",
        ["0 to 1"],
    ),
    (
        "two arms with one name",
        'prompts = ["a cat"]\n[[arms]]\nmodel = "dall-e-3"\n[[arms]]\nmodel = "dall-e-3"\n',
        4,
        "arms[1]",
        ["unique", "arms[0]"],
    ),
    (
        "a prompt too long for dall-e-3",
        f'prompts = ["{"x" * 4100}"]\n[[arms]]\nmodel = "dall-e-3"\n',
        1,
        "prompts",
        ["4,000"],
    ),
    (
        "a live sweep without a budget",
        'backend = "live"\nprompts = ["a cat"]\n[[arms]]\nmodel = "gpt-image-2"\n',
        None,  # not in the file: the key names what is missing
        "budget",
        ["live runs spend real money"],
    ),
    ("not TOML", 'prompts = ["a cat"]\nrepeats = = 3\n', 2, None, ["not valid TOML"]),
    (
        "batch that is not true or false",
        'batch = "yes"\nprompts = ["a cat"]\n[[arms]]\nmodel = "dall-e-3"\n',
        1,
        "batch",
        ["'yes'", "True", "False"],
    ),
]


@pytest.mark.parametrize(
    ("text", "line", "key", "words"),
    [case[1:] for case in BAD_SWEEPS],
    ids=[case[0] for case in BAD_SWEEPS],
)
def test_a_bad_sweep_names_the_file_line_key_value_and_what_is_allowed(
    tmp_path, text, line, key, words
):
    path = write(tmp_path / "sweep.toml", text)
    with pytest.raises(SweepFileError) as error:
        Sweep.from_file(path)
    message = str(error.value)
    assert error.value.file == str(path) and message.startswith(str(path))
    assert error.value.line == line, message
    assert error.value.key == key, message
    if line:
        assert f"line {line}" in message
    for word in words:
        assert word in message, message


def test_a_bad_sweep_is_refused_on_the_command_line_before_anything_exists(tmp_path, capsys):
    path = write(tmp_path / "sweep.toml", BAD_SWEEPS[0][1])
    out = tmp_path / "runs"
    assert cli_main(["drill", "--config", str(path), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"{path}, line 8 (arms[1].quality)" in err and "Traceback" not in err
    assert not out.exists()


# -- the copy in the run folder ---------------------------------------------------------------


NASTY = ['quote " backslash \\ tab \t', "newline\nand unicode é ✓ \u0007", "{braces} 'single'"]


def test_toml_writing_reads_back_the_same_data():
    data = {
        "text": NASTY[0],
        "numbers": [1, 2.5, -3, float("inf")],
        "flag": False,
        "table": {"key with space": NASTY[1], "nested": {"a": 1}},
        "items": [{"name": n, "value": k} for k, n in enumerate(NASTY)],
        "skipped": None,
    }
    read = tomllib.loads(toml_dumps(data, ["a header", ""]))
    assert read == {k: v for k, v in data.items() if k != "skipped"}


@pytest.fixture(scope="module")
def six_arm_run(tmp_path_factory):
    """The six-arm sweep run once from one command on the simulator."""
    folder = tmp_path_factory.mktemp("sweep")
    path = write(folder / "nightly.toml", SIX_ARMS)
    out = folder / "runs"
    code = cli_main(["drill", "--config", str(path), "--out", str(out), "--no-progress"])
    assert code == 0
    (run_path,) = out.iterdir()
    return imgkit.open_run(run_path)


def test_a_six_arm_sweep_runs_from_one_command(six_arm_run):
    frame = six_arm_run.to_frame()
    assert frame["arm"].nunique() == 6 and frame["prompt"].nunique() == 4
    assert len(frame) == 6 * 4 * 3 and (frame["status"] == "ok").all()
    wide = frame[frame["arm"] == "gpt-low-wide"]
    assert set(wide["quality"]) == {"low"} and set(wide["size"]) == {"1536x1024"}
    assert set(frame.loc[frame["arm"] == "gpt-image-2:quality=medium", "quality"]) == {"medium"}
    composed = frame[frame["arm"] == "dall-e-3 composed"]
    assert composed["sent_prompt"].str.startswith("Exact same composition every time: ").all()
    assert set(frame.loc[frame["arm"].str.endswith("@responses"), "endpoint"]) == {"responses"}
    assert six_arm_run.manifest["simulator"]["seed"] == 1


def test_the_six_arm_sweep_is_gated_and_compared_with_a_second_run(six_arm_run, tmp_path, capsys):
    # The issue's "done means": the sweep's own [checks] pass, a tighter gate fails (exit 1), and
    # `imgkit drift` compares the run with a second one made with another simulator seed.
    assert cli_main(["check", str(six_arm_run.path)]) == 0
    assert "PASS" in capsys.readouterr().out
    assert cli_main(["check", str(six_arm_run.path), "--max-cost-per-image", "0.05"]) == 1
    assert "max_cost_per_image  gpt-image-2.6-sunburst@responses" in capsys.readouterr().out
    out = tmp_path / "runs"
    copy = six_arm_run.path / SWEEP_FILE_NAME
    quiet = ["--out", str(out), "--name", "second", "--no-progress"]
    assert cli_main(["drill", "--config", str(copy), "--sim-seed", "2", *quiet]) == 0
    capsys.readouterr()
    assert cli_main(["drift", str(six_arm_run.path), str(out / "second"), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["unmatched"] == [] and payload["simulated"] is True
    compared = [c for c in payload["comparisons"] if not c["is_reference"]]
    assert len(compared) == 6 and all(c["p_value"] is not None for c in compared)


def test_the_run_folder_keeps_a_sweep_that_repeats_the_run_exactly(six_arm_run, tmp_path):
    copy = six_arm_run.path / SWEEP_FILE_NAME
    text = copy.read_text(encoding="utf-8")
    assert text.startswith(f"# The sweep of run {six_arm_run.run_id}")
    again = Sweep.from_file(copy)
    original = six_arm_run.options()
    assert [a.to_dict() for a in again.arms] == [a.to_dict() for a in original.arms]
    assert again.prompt_texts == original.prompts and again.repeats == original.n
    assert again.sim_seed == 1 and again.kinds == ("efficientnet-lite0", "phash")
    assert again.checks.min_similarity == {"gpt-low-wide": 0.2}
    assert "template" in tomllib.loads(text)["prompts"][0]  # the template, not 4 copies
    assert "out" not in tomllib.loads(text) and "name" not in tomllib.loads(text)

    out = tmp_path / "runs"
    code = cli_main(["drill", "--config", str(copy), "--out", str(out), "--no-progress"])
    assert code == 0
    (repeat,) = out.iterdir()
    first, second = six_arm_run.to_frame(), imgkit.open_run(repeat).to_frame()
    columns = ["arm", "prompt", "sent_prompt", "repeat", "size", "quality", "style", "endpoint"]
    assert first[columns].equals(second[columns])
    # Same seed, same simulator: the same images for every arm that alone sends its model its
    # prompts. (The simulator gives the n-th call for a model and prompt its n-th variation, so
    # arms sharing both may trade variations as concurrent requests arrive in another order.)
    for arm in ("dall-e-3 composed", "gpt-image-2.6-sunburst@responses"):
        assert list(first.loc[first["arm"] == arm, "image_sha256"]) == list(
            second.loc[second["arm"] == arm, "image_sha256"]
        ), arm


def test_a_plain_drill_keeps_a_sweep_too(tmp_path):
    run = imgkit.drill(
        ["a cat", "a dog"], ["dall-e-3+as_is"], 2, out=tmp_path, progress=False, log=None
    )
    sweep = Sweep.from_file(run.path / SWEEP_FILE_NAME)
    assert sweep.prompt_texts == ["a cat", "a dog"] and sweep.arms[0].prompt_variant == "as_is"


def test_the_copy_never_holds_a_secret(sim, tmp_path):
    url = sim.base_url.replace("http://", "http://user:s3cret-token@")
    run = imgkit.drill(
        "a cat", ["dall-e-3"], 1, out=tmp_path, sim_url=url, progress=False, log=None
    )
    text = (run.path / SWEEP_FILE_NAME).read_text(encoding="utf-8")
    assert "s3cret-token" not in text and sim.base_url in text


def test_prompt_files_are_written_out_in_the_copy(tmp_path):
    write(tmp_path / "p.jsonl", '{"prompt": "a kite"}\n{"prompt": "a moon"}\n')
    path = write(
        tmp_path / "s.toml",
        'repeats = 1\n[prompts]\nfile = "p.jsonl"\n[[arms]]\nmodel = "dall-e-3"\n',
    )
    run = imgkit.drill(Sweep.from_file(path), out=tmp_path / "runs", progress=False, log=None)
    (tmp_path / "p.jsonl").write_text('{"prompt": "changed since"}\n', encoding="utf-8")
    again = Sweep.from_file(run.path / SWEEP_FILE_NAME)
    assert again.prompt_texts == ["a kite", "a moon"]


def test_drill_takes_a_sweep_and_keywords_win_over_it(tmp_path):
    sweep = Sweep.from_file(
        write(tmp_path / "s.toml", 'prompts = ["a cat"]\narms = ["dall-e-3"]\n')
    )
    run = imgkit.drill(sweep.replace(repeats=2), out=tmp_path, run_name="mine", progress=False)
    assert run.path == (tmp_path / "mine").resolve() and len(run.to_frame()) == 2
    with pytest.raises(ValidationError, match=r"sweep\.replace"):
        imgkit.drill(sweep, n=3, out=tmp_path)


# -- the command line ---------------------------------------------------------------------------


def test_the_failing_example_of_the_issue_is_one_command(tmp_path, capsys):
    # Before: `--models dall-e-3,gpt-image-2 --quality low` failed (dall-e-3 has no "low") and
    # no option could give one arm its own quality. --arm does it in one command.
    out = tmp_path / "runs"
    code = cli_main(
        [
            "drill",
            "--models",
            "dall-e-3",
            "--arm",
            "gpt-image-2:quality=low,size=1536x1024",
            "-n",
            "2",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert code == 0, capsys.readouterr().err
    (run_path,) = out.iterdir()
    frame = imgkit.open_run(run_path).to_frame()
    gpt = frame[frame["model"] == "gpt-image-2"]
    assert set(gpt["quality"]) == {"low"} and set(gpt["size"]) == {"1536x1024"}
    assert set(frame.loc[frame["model"] == "dall-e-3", "quality"]) == {"standard"}


def test_a_drill_wide_quality_one_arm_refuses_points_at_arm(tmp_path, capsys):
    code = cli_main(
        ["drill", "--models", "dall-e-3,gpt-image-2", "--quality", "low", "--out", str(tmp_path)]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "--quality='low'" in err and "--arm 'dall-e-3:quality=VALUE'" in err


def test_command_line_options_replace_the_sweeps_settings(tmp_path):
    path = write(tmp_path / "s.toml", SIX_ARMS)
    out = tmp_path / "runs"
    code = cli_main(
        [
            "drill",
            "--config",
            str(path),
            "--arm",
            "dall-e-3:quality=hd",
            "--prompt",
            "a kite",
            "-n",
            "1",
            "--sim-seed",
            "4",
            "--out",
            str(out),
            "--name",
            "override",
            "--no-progress",
        ]
    )
    assert code == 0
    run = imgkit.open_run(out / "override")
    frame = run.to_frame()
    assert list(frame["arm"]) == ["dall-e-3:quality=hd"] and list(frame["prompt"]) == ["a kite"]
    assert run.manifest["simulator"]["seed"] == 4
    # The checks of the file stay with the run even when its arms were replaced.
    assert Sweep.from_file(run.path / SWEEP_FILE_NAME, check_catalog=False).checks is not None


# -- where runs go ------------------------------------------------------------------------------


def test_cli_and_notebook_runs_land_in_the_same_folder(tmp_path, monkeypatch):
    # Before: the CLI wrote to ./runs and a notebook (started in notebooks/) to notebooks/runs,
    # so notebook 6 did not see the command line's runs.
    project = tmp_path / "project"
    (project / "notebooks").mkdir(parents=True)
    (project / "pyproject.toml").write_text("[project]\nname = 'x'\n", encoding="utf-8")
    monkeypatch.delenv(RUNS_ENV, raising=False)
    monkeypatch.chdir(project)
    assert cli_main(["drill", "--models", "dall-e-3", "-n", "1", "--no-progress"]) == 0
    monkeypatch.chdir(project / "notebooks")
    from_notebook = imgkit.drill("a cat", ["dall-e-3"], 1, progress=False, log=None)
    assert from_notebook.path.parent == (project / "runs").resolve()
    assert len(list((project / "runs").iterdir())) == 2
    assert not (project / "notebooks" / "runs").exists()


def test_the_runs_folder_can_be_named_by_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(RUNS_ENV, str(tmp_path / "elsewhere"))
    assert default_runs_folder() == tmp_path / "elsewhere"
    monkeypatch.delenv(RUNS_ENV)
    monkeypatch.chdir(tmp_path)
    assert default_runs_folder() == tmp_path.resolve() / "runs"  # outside any project


def test_repo_notebooks_use_the_default_runs_folder():
    # The notebooks leave `out` to the default, so they write where the command line does.
    root = Path(__file__).resolve().parent.parent
    for notebook in sorted((root / "notebooks").glob("*.ipynb")):
        source = "".join(
            "".join(cell["source"]) for cell in json.loads(notebook.read_text())["cells"]
        )
        assert 'out = "runs"' not in source and 'out="runs"' not in source, notebook.name


@pytest.mark.skipif(sys.platform == "win32", reason="paths")
def test_the_default_is_the_project_root_from_any_subfolder(tmp_path, monkeypatch):
    (tmp_path / ".git").mkdir()
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    monkeypatch.delenv(RUNS_ENV, raising=False)
    assert default_runs_folder(deep) == tmp_path.resolve() / "runs"
    assert os.fspath(default_runs_folder(deep)).endswith("runs")


# -- the README and the example ---------------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent


def test_the_readme_sweep_and_its_error_message(tmp_path, monkeypatch):
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Sweeps, gates and drift") :]
    block = section.split("```toml\n", 1)[1].split("```", 1)[0]
    sweep = Sweep.from_file(write(tmp_path / "readme.toml", block))
    assert len(sweep.arms) == 6 and len(sweep.prompts) == 4
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "sweep.toml", block.replace('quality = "medium"', 'quality = "ultra"'))
    with pytest.raises(SweepFileError) as error:
        Sweep.from_file("sweep.toml")
    shown = " ".join(section.split("imgkit: error: ", 1)[1].split("```", 1)[0].split())
    assert shown == str(error.value)


def test_the_example_nightly_sweep_is_valid():
    sweep = Sweep.from_file(ROOT / "examples" / "nightly.toml")
    assert sweep.checks is not None and not sweep.checks.is_empty()


def test_a_sweep_file_sends_by_batch_and_its_copy_says_so(tmp_path, sim_factory):
    sim = sim_factory(batch_duration=0.2)
    path = write(
        tmp_path / "sweep.toml",
        'batch = true\nrepeats = 2\nprompts = ["a cat"]\n'
        '[simulator]\nbatch_duration = 0.2\n[[arms]]\nmodel = "dall-e-3"\n',
    )
    sweep = Sweep.from_file(path)
    assert sweep.batch is True and sweep.sim_batch_duration == 0.2
    run = imgkit.drill(sweep, out=tmp_path / "runs", sim_url=sim.base_url, progress=False)
    assert run.status == "complete" and run.manifest["batch"]["arms"]
    assert sum(sim.stats()["batches"]["created"].values()) == 1
    copy = tomllib.loads((run.path / SWEEP_FILE_NAME).read_text("utf-8"))
    assert copy["batch"] is True
    # A sweep without it writes no batch key at all, so older copies read back the same.
    assert "batch" not in Sweep.from_file(path).replace(batch=False).to_dict()


def test_batch_on_the_command_line_turns_it_on_over_a_sweep_file(tmp_path, sim_factory, capsys):
    sim = sim_factory(batch_duration=0.2)
    path = write(tmp_path / "sweep.toml", 'prompts = ["a cat"]\n[[arms]]\nmodel = "dall-e-3"\n')
    argv = ["drill", "--config", str(path), "-n", "2", "--batch", "--sim-url", sim.base_url]
    out = tmp_path / "runs"
    assert cli_main([*argv, "--out", str(out), "--no-progress", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["ok"] == 2
    assert sum(sim.stats()["batches"]["created"].values()) == 1
