"""Gates for CI: `imgkit check RUN` measures a run against thresholds, exits 1 when one fails,
says "inconclusive" when an interval straddles a threshold, and writes JUnit XML."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET

import pandas as pd
import pytest

import imgkit
from imgkit.analysis.gates import check_table, decide, wilson_interval
from imgkit.cli.main import main as cli_main
from imgkit.errors import ValidationError
from imgkit.experiment.checks import Checks, parse_threshold
from imgkit.report.checks import checks_junit, checks_text

SWEEP = """\
repeats = 4
[simulator]
seed = 3
[prompts]
template = "a {thing} on a table"
grid = { thing = ["red cube", "blue sphere"] }
[[arms]]
name = "steady"
model = "gpt-image-2"
quality = "low"
[[arms]]
name = "dalle"
model = "dall-e-3"
[[arms]]
name = "dalle composed"
model = "dall-e-3"
prefix = "The exact same composition every time:"
[checks]
min_similarity = { steady = 0.3 }
max_failure_rate = 0.5
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gate")
    (folder / "gate.toml").write_text(SWEEP, encoding="utf-8")
    config = str(folder / "gate.toml")
    quiet = ["--name", "r", "--no-progress"]
    assert cli_main(["drill", "--config", config, "--out", str(folder), *quiet]) == 0
    return imgkit.open_run(folder / "r")


# -- the pieces -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("measured", "low", "high", "threshold", "at_least", "expected"),
    [
        (0.9, 0.85, 0.95, 0.8, True, ("pass", None)),
        (0.7, 0.6, 0.75, 0.8, True, ("fail", None)),
        (0.82, 0.7, 0.9, 0.8, True, ("inconclusive", "pass")),
        (0.78, 0.7, 0.9, 0.8, True, ("inconclusive", "fail")),
        (0.01, 0.0, 0.05, 0.02, False, ("inconclusive", "pass")),
        (0.01, 0.0, 0.015, 0.02, False, ("pass", None)),
        (0.04, math.nan, math.nan, 0.05, False, ("pass", None)),  # an exact figure
        (math.nan, math.nan, math.nan, 0.5, True, ("fail", None)),  # nothing to measure
    ],
)
def test_a_figure_passes_fails_or_is_inconclusive_by_its_interval(
    measured, low, high, threshold, at_least, expected
):
    assert decide(measured, low, high, threshold, at_least) == expected


def test_the_wilson_interval():
    low, high = wilson_interval(0, 30, 0.95)
    assert low == 0.0 and 0.10 < high < 0.12  # 0 of 30: the rule of three's neighbourhood
    low, high = wilson_interval(5, 10, 0.95)
    assert low == pytest.approx(1 - high) and 0.23 < low < 0.24
    assert all(math.isnan(v) for v in wilson_interval(0, 0, 0.95))


def test_thresholds_from_the_command_line():
    assert parse_threshold("min_similarity", "dall-e-3=0.8") == ("dall-e-3", 0.8)
    # An arm name may hold '=' (the arm option form): the number is after the last one.
    assert parse_threshold("min_similarity", "gpt-image-2:quality=low=0.5") == (
        "gpt-image-2:quality=low",
        0.5,
    )
    assert parse_threshold("max_cost_per_image", "$0.05") == ("*", 0.05)
    with pytest.raises(ValidationError, match="--max-failure-rate"):
        parse_threshold("max_failure_rate", "x=lots")
    with pytest.raises(ValidationError, match="from 0 to 1"):
        parse_threshold("max_failure_rate", "1.5")


def test_check_table_on_a_frame_without_a_run():
    frame = pd.DataFrame(
        {
            "arm": ["a"] * 4 + ["b"] * 4,
            "prompt": ["p"] * 8,
            "status": ["ok", "ok", "ok", "failed"] * 2,
            "cost_usd": [0.04, 0.04, 0.04, None] * 2,
            "estimated_usd": [0.04] * 8,
            "revised_prompt": ["a p", "p here", "a p here", None] * 2,
        }
    )
    table = check_table(
        frame,
        Checks(max_cost_per_image=0.05, max_failure_rate={"a": 0.5}, max_rewrite={"b": 0.9}),
    )
    cost = table[table["check"] == "max_cost_per_image"]
    assert list(cost["arm"]) == ["a", "b"] and list(cost["measured"]) == pytest.approx([0.04] * 2)
    failures = table[table["check"] == "max_failure_rate"].iloc[0]
    assert (failures["arm"], failures["measured"], failures["n"]) == ("a", 0.25, 4)
    assert table.loc[table["check"] == "max_rewrite", "measured"].iloc[0] > 0


# -- on a run ---------------------------------------------------------------------------------


def test_the_sweeps_own_checks_gate_the_run(run, capsys):
    assert cli_main(["check", str(run.path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"imgkit check {run.run_id}: PASS") and "[simulated]" in out
    assert "min_similarity    steady  p0" in out and ">= 0.30" in out
    assert "max_failure_rate  *" in out and "<= 0.500" in out


def test_a_check_that_fails_exits_1_with_its_figure_interval_and_threshold(run, capsys):
    code = cli_main(["check", str(run.path), "--max-cost-per-image", "0.01"])
    assert code == 1
    out = capsys.readouterr().out
    assert "FAIL" in out
    dalle = next(
        line for line in out.splitlines() if line.strip().startswith("max_cost_per_image  dalle ")
    )
    assert "$0.0400" in dalle and "<= $0.0100" in dalle and dalle.rstrip().endswith("fail")


def test_inconclusive_checks_say_which_way_they_lean_and_a_flag_decides(run, capsys):
    # Four repeats: the failure rate's interval reaches well above 0.02 although none failed.
    args = ["check", str(run.path), "--max-failure-rate", "0.02"]
    assert cli_main(args) == 0
    out = capsys.readouterr().out
    assert "inconclusive (leans pass)" in out and "inconclusive counts as pass" in out
    assert cli_main([*args, "--inconclusive", "fail"]) == 1
    assert "inconclusive counts as fail" in capsys.readouterr().out


def test_rewrite_checks_measure_the_revised_prompt(run):
    result = imgkit.check_run(run, max_rewrite={"dalle": 0.05, "steady": 0.05})
    rows = result.table.set_index("arm")
    assert rows.loc["dalle", "outcome"] == "fail" and rows.loc["dalle", "measured"] > 0.3
    assert rows.loc["steady", "measured"] == 0.0 and rows.loc["steady", "outcome"] == "pass"
    assert "drawn as written" in rows.loc["steady", "note"]


def test_similarity_from_the_consistency_table(run):
    result = imgkit.check_run(run, min_similarity={"*": 0.0}, kind="dhash")
    table = result.table
    assert set(table["arm"]) == {"steady", "dalle", "dalle composed"}
    assert set(table["prompt_id"]) == {"p0", "p1"} and (table["n"] == 4).all()
    consistency = imgkit.consistency_table(run.to_frame(), ["dhash"])
    expected = consistency.set_index(["arm", "prompt"])["similarity"]
    for row in table.itertuples():
        assert row.measured == pytest.approx(expected[(row.arm, row.prompt)])


def test_an_arm_the_run_does_not_have_is_an_error(run, capsys):
    assert cli_main(["check", str(run.path), "--min-similarity", "nosuch=0.5"]) == 2
    err = capsys.readouterr().err
    assert "nosuch" in err and "'steady'" in err


def test_no_check_at_all_is_an_error(tmp_path, capsys):
    made = imgkit.drill("a cat", ["dall-e-3"], 1, out=tmp_path, progress=False, log=None)
    assert cli_main(["check", str(made.path)]) == 2
    assert "--min-similarity" in capsys.readouterr().err


def test_junit_xml_for_ci(run, tmp_path, capsys):
    junit = tmp_path / "checks.xml"
    thresholds = ["--max-cost-per-image", "dalle=0.01", "--max-failure-rate", "0.02"]
    thresholds += ["--min-similarity", "steady=0.2"]
    code = cli_main(["check", str(run.path), "--junit", str(junit), *thresholds])
    assert code == 1
    suite = ET.parse(junit).getroot().find("testsuite")
    cases = suite.findall("testcase")
    assert int(suite.get("tests")) == len(cases) == 4
    assert int(suite.get("failures")) == 1 and int(suite.get("skipped")) == 1
    failed = [c for c in cases if c.find("failure") is not None]
    assert failed[0].get("classname") == "imgkit.check.max_cost_per_image"
    assert "dalle <= 0.01" in failed[0].get("name")
    assert "measured $0.0400" in failed[0].find("failure").get("message")
    skipped = [c for c in cases if c.find("skipped") is not None]
    assert "leans pass" in skipped[0].find("skipped").get("message")


def test_junit_escapes_arm_names(run):
    result = imgkit.check_run(run, max_cost_per_image=1.0)
    result.table.loc[0, "arm"] = '<arm & "quotes">'
    text = checks_junit(result)
    assert ET.fromstring(text.split("\n", 1)[1]) is not None
    assert '<arm & "quotes">' not in text


def test_json_output(run, capsys):
    assert cli_main(["check", str(run.path), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["passed"] is True and payload["simulated"] is True
    assert {c["check"] for c in payload["checks"]} == {"min_similarity", "max_failure_rate"}


def test_text_and_result_objects(run):
    result = imgkit.check_run(run, imgkit.Checks(max_failure_rate=0.9))
    assert result.passed and result.counts() == {"pass": 1, "fail": 0, "inconclusive": 0}
    assert checks_text(result).splitlines()[0].endswith("[simulated]")


def test_checks_from_another_sweep_file(run, tmp_path, capsys):
    other = tmp_path / "strict.toml"
    other.write_text(
        'prompts = ["x"]\narms = ["dall-e-3"]\n[checks]\nmax_cost_per_image = 0.001\n',
        encoding="utf-8",
    )
    assert cli_main(["check", str(run.path), "--config", str(other)]) == 1
    assert "max_cost_per_image" in capsys.readouterr().out
