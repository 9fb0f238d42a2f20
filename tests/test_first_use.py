"""What a first-time user meets when they follow the README on the simulator.

Each test here is a defect found by running the README's commands by hand on a fresh clone:
the CI recipe's baseline kept as a copy of a run folder, a run folder handed to
``imgkit consistency``, a report whose prompts came out in alphabetical order under run-order
numbers, a broken pipe, and error messages that did not name what the user typed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import imgkit
from imgkit.cli.main import main as cli_main
from imgkit.report.checks import checks_junit, checks_text

# Two prompts whose run order is not their alphabetical order ("a red ..." before "a lighthouse
# ..."), and two arms whose images differ: the run order must survive into every table.
SWEEP = """\
repeats = 3
[prompts]
text = ["a red bicycle leaning on a white wall", "a lighthouse on a rocky cliff"]
[[arms]]
name = "gpt low"
model = "gpt-image-2"
quality = "low"
[[arms]]
model = "dall-e-3"
[checks]
min_similarity = { "gpt low" = 0.3 }
"""
RED, LIGHTHOUSE = "a red bicycle leaning on a white wall", "a lighthouse on a rocky cliff"


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = cli_main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def nightly(tmp_path_factory) -> dict[str, Path]:
    """The README's CI recipe: a run named "nightly" kept as ``baseline/known-good``, and the
    next night's run, named "nightly" again, in a fresh ``runs/``."""
    root = tmp_path_factory.mktemp("first-use")
    (root / "sweep.toml").write_text(SWEEP, encoding="utf-8")
    sweep = imgkit.Sweep.from_file(root / "sweep.toml")
    quiet = {"progress": False, "log": None, "run_name": "nightly"}
    first = imgkit.drill(sweep, out=root / "old-runs", **quiet)
    baseline = root / "baseline" / "known-good"
    shutil.copytree(first.path, baseline)
    tonight = imgkit.drill(sweep.replace(sim_seed=1), out=root / "runs", **quiet)
    return {"first": first.path, "baseline": baseline, "tonight": tonight.path, "root": root}


# --------------------------------------------------------------------------------------------
# imgkit drift baseline/known-good runs/nightly


def test_a_baseline_copied_from_a_run_is_told_apart_from_tonights_run(nightly):
    result = imgkit.drift([nightly["baseline"], nightly["tonight"]])
    # Both folders' manifests say run_id "nightly": they are still two runs, each named by
    # its folder, and every arm is compared.
    assert result.runs == ["known-good", "nightly"]
    assert result.unmatched == []
    assert sorted(set(result.table["arm"])) == ["dall-e-3", "gpt low"]
    later = result.table[~result.table["is_reference"]]
    assert len(later) == 2 and later["reference_run"].eq("known-good").all()


def test_the_ci_drift_step_compares_the_baseline_with_tonight(nightly, capsys):
    code, out, err = run_cli(
        capsys, "drift", nightly["baseline"], nightly["tonight"], "--html", "--fail-on-change"
    )
    assert code in (0, 1), err
    assert out.startswith("imgkit drift: 2 runs, oldest first: known-good, nightly")
    assert "share no arm" not in out
    page = (nightly["tonight"] / "drift.html").read_text(encoding="utf-8")
    assert "Change since known-good (nightly)" in page


def test_runs_lists_a_copied_run_under_its_folder_name(nightly, capsys):
    code, out, _ = run_cli(capsys, "runs", nightly["baseline"].parent)
    assert code == 0
    row = out.splitlines()[2]
    # The name to pass to other commands is the folder's; the id it was made under follows.
    assert row.split()[0] == "known-good" and "(run nightly)" in row


# --------------------------------------------------------------------------------------------
# imgkit consistency RUN_DIR


def test_consistency_of_a_run_folder_is_per_arm_and_prompt(nightly, capsys):
    code, out, err = run_cli(
        capsys, "consistency", nightly["tonight"], "--json", "--kinds", "phash", "--n-boot", "50"
    )
    assert code == 0, err
    rows = json.loads(out)["consistency"]
    # Not one pile of every image in images/: each arm on each prompt, as the report has it.
    assert [(r["arm"], r["prompt"]) for r in rows] == [
        ("dall-e-3", RED),
        ("dall-e-3", LIGHTHOUSE),
        ("gpt low", RED),
        ("gpt low", LIGHTHOUSE),
    ]
    assert all(r["n_images"] == 3 and r["simulated"] for r in rows)
    table = imgkit.consistency_table(imgkit.open_run(nightly["tonight"]).to_frame(), "phash")
    expected = {(r.arm, r.prompt): r.similarity for r in table.itertuples()}
    assert {(r["arm"], r["prompt"]): r["similarity"] for r in rows} == pytest.approx(expected)


def test_consistency_of_a_run_folder_as_text_names_prompts_and_says_simulated(nightly, capsys):
    code, out, _ = run_cli(
        capsys, "consistency", nightly["tonight"], "--kinds", "phash", "--n-boot", "20"
    )
    assert code == 0
    assert "prompt" in out.splitlines()[0] and "a red bicycle" in out
    assert "simulated" in out.lower()


# --------------------------------------------------------------------------------------------
# The report keeps the run's order of prompts


def test_the_reports_tables_and_images_follow_the_prompt_numbers(nightly):
    from imgkit.analysis.consistency import pairwise_distances
    from imgkit.report.content import report_content
    from imgkit.report.data import report_data
    from imgkit.report.figures import gallery

    data = report_data(nightly["tonight"], n_boot=50, plan=False)
    content = report_content(data)
    assert content.prompt_numbers == {RED: "#1", LIGHTHOUSE: "#2"}
    consistency_prompts = [row[1] for row in content.consistency.rows]
    assert consistency_prompts[:2] == ["#1", "#2"], consistency_prompts
    variability_prompts = [row[1] for row in content.variability.rows]
    assert variability_prompts == ["#1", "#2"], variability_prompts
    assert [(g.arm, g.prompt) for g in gallery(data.frame).groups] == [
        ("dall-e-3", RED),
        ("dall-e-3", LIGHTHOUSE),
        ("gpt low", RED),
        ("gpt low", LIGHTHOUSE),
    ]
    # The heatmap's "p1" is prompt #1 of the report.
    matrix = pairwise_distances(data.frame, "gpt low", kind="phash")
    assert matrix.attrs["prompts"] == [RED, LIGHTHOUSE]
    assert list(matrix.index[:1]) == ["p1 r0"]


# --------------------------------------------------------------------------------------------
# imgkit check: the JUnit text and which prompt p0 is


def test_check_text_says_which_prompt_each_id_is_and_junit_has_no_stray_dash(nightly):
    result = imgkit.check_run(
        nightly["tonight"], max_cost_per_image=0.05, min_similarity={"gpt low": 0.3}, n_boot=50
    )
    text = checks_text(result)
    assert f"p0: {RED}" in text and f"p1: {LIGHTHOUSE}" in text
    junit = ET.fromstring(checks_junit(result))
    outputs = [case.find("system-out").text for case in junit.iter("testcase")]
    cost = next(o for o in outputs if o.startswith("measured $"))
    # A figure without an interval reads "measured $0.0059, threshold ..."; no lone "-".
    assert " -," not in cost and cost.split(",")[0].count("$") == 1


# --------------------------------------------------------------------------------------------
# Messages that name what the user typed


def test_images_beyond_a_models_limit_names_the_option_and_the_only_value(capsys):
    code, _, err = run_cli(capsys, "costs", "estimate", "--model", "dall-e-3", "--images", "2")
    assert code == 2
    assert err.startswith("imgkit: error: --images=2 is not allowed for model 'dall-e-3'")
    assert "allowed only 1" in err and "1 to 1" not in err


def test_an_auto_estimate_names_what_was_auto_and_mentions_prompt_tokens_once(capsys):
    code, out, _ = run_cli(
        capsys, "costs", "estimate", "--model", "gpt-image-2", "--size", "1024x1024"
    )
    assert code == 0
    note = next(line for line in out.splitlines() if line.startswith("note:"))
    assert "quality 'auto' priced at its dearest choice" in note and "and size" not in note
    assert note.count("prompt") == 1, note
    assert "dearest_choice" not in out  # the basis in words, not as an identifier


def test_plan_errors_start_like_every_other_command(nightly, capsys):
    code, _, err = run_cli(capsys, "plan", nightly["tonight"], "--difference", "2")
    assert code == 2 and err.startswith("imgkit: error: difference=2.0")
    code, _, err = run_cli(capsys, "plan")
    assert code == 2 and err.startswith("imgkit: error: ")


def test_a_closed_pipe_ends_quietly():
    # `imgkit models --all --json | head -1`: the reader goes away before imgkit writes.
    process = subprocess.Popen(
        [sys.executable, "-m", "imgkit", "models", "--all", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    process.stdout.close()
    err = process.stderr.read().decode()
    process.stderr.close()
    assert process.wait(timeout=60) != 0
    assert "Traceback" not in err and "BrokenPipeError" not in err


def test_the_reports_reproduce_section_names_the_run_folders_sweep(nightly):
    from imgkit.report.data import report_data

    command = report_data(nightly["tonight"], n_boot=20, plan=False).command
    sweep = nightly["tonight"] / "sweep.toml"
    # The README's promise, `imgkit drill --config runs/<id>/sweep.toml` repeats the run, is
    # what the report tells a reader, instead of a Python snippet of the manifest's records.
    assert command.splitlines() == [
        f"imgkit drill --config {sweep}",
        f"imgkit report {nightly['tonight']}",
    ]


def test_the_drift_page_says_no_change_in_words_as_the_command_line_does(nightly):
    from imgkit.report.drift_page import drift_page

    page = drift_page(imgkit.drift([nightly["baseline"], nightly["tonight"]]), images=False)
    head = page.table_head
    later = [
        dict(zip(head, row, strict=True)) for row in page.table_rows if "(reference)" not in row[1]
    ]
    reference = [
        dict(zip(head, row, strict=True)) for row in page.table_rows if "(reference)" in row[1]
    ]
    # A later run's "consistency" cell says "changed" or "no", never nothing; the reference
    # run is what the others are measured against, so its cells stay empty.
    assert {row["consistency"] for row in later} <= {"changed", "no"}
    assert {row["consistency"] for row in reference} == {""}
    # No revised prompt in either run (gpt-image-2's Images API): no verdict on rewriting.
    gpt = next(row for row in later if row["arm"] == "gpt low")
    assert gpt["rewriting"] == "-"


def test_the_gallery_page_lists_the_prompts_its_headings_number(nightly):
    from imgkit.report import write_report

    write_report(nightly["tonight"], n_boot=20, plan=False)
    page = (nightly["tonight"] / "gallery.html").read_text(encoding="utf-8")
    # "gpt low — prompt #2" only means something with the prompts listed, in their order.
    assert page.index(RED) < page.index(LIGHTHOUSE) < page.index("— prompt #1")
