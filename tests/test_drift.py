"""Drift across runs: arms matched by what they ask, consistency and rewriting compared with
intervals and a test of "changed", plain words for what cannot be compared, plots and the page."""

from __future__ import annotations

import json
import random

import matplotlib
import pandas as pd
import pytest

matplotlib.use("Agg")
from matplotlib import pyplot as plt

import imgkit
from imgkit.analysis.drift import arm_identity, drift_frame, drift_table
from imgkit.cli.main import main as cli_main
from imgkit.errors import ValidationError
from imgkit.report.drift_page import render_drift_html
from imgkit.report.drift_plots import drift_images, drift_over_time

SWEEP = """\
repeats = 3
[prompts]
text = ["a red cube on a table", "a lighthouse <b>at night</b>"]
[[arms]]
name = "gpt"
model = "gpt-image-2"
quality = "low"
[[arms]]
model = "dall-e-3"
"""


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same sweep twice (simulator seeds 0 and 1), then a run sharing only one arm under
    another name, and a run sharing nothing."""
    folder = tmp_path_factory.mktemp("drift")
    (folder / "s.toml").write_text(SWEEP, encoding="utf-8")
    sweep = imgkit.Sweep.from_file(folder / "s.toml")
    quiet = {"out": folder / "runs", "progress": False, "log": None}
    first = imgkit.drill(sweep, run_name="first", **quiet)
    second = imgkit.drill(sweep.replace(sim_seed=1), run_name="second", **quiet)
    renamed = imgkit.drill(
        ["a red cube on a table"],
        arms=[imgkit.Arm.from_option("gpt-image-2:quality=low,name=renamed")],
        n=3,
        run_name="renamed",
        **quiet,
    )
    apart = imgkit.drill(
        ["a red cube on a table"],
        arms=[imgkit.Arm.from_option("gpt-image-2:quality=high,name=gpt")],
        n=2,
        run_name="apart",
        **quiet,
    )
    return {"first": first, "second": second, "renamed": renamed, "apart": apart}


def test_two_runs_of_a_sweep_are_compared_arm_by_arm(runs):
    result = imgkit.drift([runs["second"], runs["first"]])  # any order: sorted by start time
    assert result.runs == ["first", "second"] and result.unmatched == []
    table = result.table
    assert list(table["arm"]) == ["gpt", "gpt", "dall-e-3", "dall-e-3"]
    assert list(table["is_reference"]) == [True, False, True, False]
    later = table[~table["is_reference"]]
    assert later["p_value"].between(0, 1).all() and later["reference_run"].eq("first").all()
    assert later["consistency_changed"].isin([True, False]).all()
    assert (table["n_images"] == 6).all() and (table["n_prompts"] == 2).all()
    dalle = later[later["arm"] == "dall-e-3"].iloc[0]
    assert (
        dalle["rewrite"] > 0 and dalle["rewrite_low"] <= dalle["rewrite"] <= dalle["rewrite_high"]
    )
    assert dalle["rewrite_change_low"] <= dalle["rewrite_change"] <= dalle["rewrite_change_high"]
    assert "in first" in dalle["verdict"] and "in second" in dalle["verdict"]
    assert math_isnan(later[later["arm"] == "gpt"].iloc[0]["rewrite"])  # no revised prompts


def math_isnan(value) -> bool:
    return value != value


def test_consistency_comes_from_compare_arms(runs):
    result = imgkit.drift([runs["first"], runs["second"]])
    frame = result.frame[result.frame["arm"] == "gpt"].assign(arm=lambda f: f["run_id"])
    expected = imgkit.compare_arms(frame, "first", "second")
    row = result.table[(result.table["arm"] == "gpt") & ~result.table["is_reference"]].iloc[0]
    reference = result.table[(result.table["arm"] == "gpt") & result.table["is_reference"]].iloc[0]
    assert row["p_value"] == pytest.approx(expected.p_value)
    assert row["similarity"] == pytest.approx(expected.similarity_b)
    assert reference["similarity"] == pytest.approx(expected.similarity_a)
    assert row["consistency_changed"] == (expected.more_consistent is not None)


def test_arms_are_matched_by_what_they_ask_not_by_name(runs):
    result = imgkit.drift([runs["first"], runs["renamed"], runs["apart"]])
    gpt = result.table[result.table["arm"] == "renamed"]
    # "gpt" in the first run and "renamed" ask the same: one arm, named as the latest run has it.
    assert list(gpt["run_id"]) == ["first", "renamed"]
    # "gpt" in the apart run asks for high quality: another arm, and said so.
    assert any(
        line.startswith("gpt is only in apart") and "quality ('high' vs 'low')" in line
        for line in result.unmatched
    ), result.unmatched
    assert any(line.startswith("dall-e-3 is only in first") for line in result.unmatched)


def test_runs_that_share_nothing_say_so_plainly(runs):
    result = imgkit.drift([runs["second"], runs["apart"]])
    assert result.table.empty
    assert result.unmatched[0].startswith("Runs second, apart share no arm")
    assert any("nearest arm is" in line for line in result.unmatched)
    assert result.summary() == result.unmatched


def test_arm_identity_leaves_out_unset_values_and_keeps_the_transform():
    request = {
        "model": "m",
        "prompt": "p",
        "endpoint": "generate",
        "n": 1,
        "size": "1",
        "seed": None,
    }
    identity = arm_identity("m", "generate", request, {"prompt_transform": {"prefix": "x"}}, "s")
    assert identity == {
        "model": "m",
        "snapshot": "s",
        "endpoint": "generate",
        "params": {"size": "1"},
        "variant": None,
        "transform": {"prefix": "x"},
    }


def _synthetic(first_hashes, second_hashes, revised=(None, None)):
    """A drift frame of one arm and one prompt in two runs, from given hashes."""
    identity = arm_identity("gpt-image-2", "generate", {"quality": "low"})
    rows = []
    for run, hashes, start, text in (
        ("a", first_hashes, "2026-01-01", revised[0]),
        ("b", second_hashes, "2026-02-01", revised[1]),
    ):
        for k, value in enumerate(hashes):
            rows.append(
                {
                    "run_id": run,
                    "created_at": pd.Timestamp(start, tz="UTC"),
                    "arm": "arm",
                    "model": "gpt-image-2",
                    "prompt": "a cat",
                    "repeat": k,
                    "status": "ok",
                    "phash": value,
                    "revised_prompt": text(k) if text else None,
                    "identity": identity,
                    "arm_key": json.dumps(identity, sort_keys=True),
                    "snapshot": None,
                    "simulated": True,
                }
            )
    return pd.DataFrame(rows)


def test_a_real_change_is_found_and_a_stable_arm_is_not():
    rng = random.Random(4)
    steady = ["ffff0000ffff0000"] * 6
    scattered = [f"{rng.getrandbits(64):016x}" for _ in range(6)]
    changed = drift_table(_synthetic(steady, scattered), "phash")
    row = changed[~changed["is_reference"]].iloc[0]
    assert row["consistency_changed"] is True and row["p_value"] < 0.05
    assert row["similarity_change"] < -0.5 and "consistency fell" in row["verdict"]
    same = drift_table(_synthetic(steady, steady), "phash")
    assert same[~same["is_reference"]].iloc[0]["consistency_changed"] is False


def test_a_change_in_rewriting_is_found():
    hashes = ["ffff0000ffff0000"] * 5
    short = lambda k: "a cat"  # noqa: E731
    long = lambda k: f"a fluffy cat number {k} in golden light on a velvet sofa"  # noqa: E731
    table = drift_table(_synthetic(hashes, hashes, (short, long)), "phash")
    row = table[~table["is_reference"]].iloc[0]
    assert row["rewrite_changed"] is True and row["rewrite_change_low"] > 0
    assert "rewrite changed" in row["verdict"]


def test_a_changed_snapshot_is_not_the_same_arm():
    frame = _synthetic(["ffff0000ffff0000"] * 3, ["ffff0000ffff0000"] * 3)
    frame["snapshot"] = ["gpt-image-2-2026-04-21"] * 3 + ["gpt-image-2-2026-12-01"] * 3
    table = drift_table(frame, "phash")
    assert table.empty
    assert "snapshot changed (gpt-image-2-2026-04-21 -> gpt-image-2-2026-12-01)" in " ".join(
        table.attrs["unmatched"]
    )


def test_bad_arguments():
    with pytest.raises(ValidationError, match="at least two runs"):
        drift_frame([])
    frame = _synthetic(["ffff0000ffff0000"] * 3, ["ffff0000ffff0000"] * 3)
    with pytest.raises(ValidationError, match="reference"):
        drift_table(frame, reference="last")


def test_previous_compares_each_run_with_the_one_before(runs):
    result = imgkit.drift([runs["first"], runs["second"], runs["renamed"]], reference="previous")
    gpt = result.table[result.table["arm"] == "renamed"]
    assert list(gpt["reference_run"]) == ["first", "first", "second"]


def test_by_prompt_gives_a_row_per_prompt(runs):
    result = imgkit.drift([runs["first"], runs["second"]], by_prompt=True)
    assert set(result.table["prompt"]) == {"a red cube on a table", "a lighthouse <b>at night</b>"}
    assert len(result.table) == 2 * 2 * 2


# -- plots and the page -------------------------------------------------------------------------


def test_the_plot_over_time_draws_every_arm_in_every_run(runs):
    result = imgkit.drift([runs["first"], runs["second"]])
    ax = drift_over_time(result.table)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["dall-e-3", "gpt"]
    arms = [line for line in ax.lines if not line.get_label().startswith("_")]
    assert len(arms) == 2 and len(ax.get_xticklabels()) == 2
    assert ax.get_xticklabels()[0].get_text().startswith("first")
    assert ax.get_title().endswith("(simulated)")
    ax = drift_over_time(result.table, "rewrite")
    assert "rewriting" in ax.get_title()


def test_images_side_by_side(runs):
    result = imgkit.drift([runs["first"], runs["second"], runs["renamed"]])
    ax = drift_images(result.frame, "gpt", per_run=2)
    assert len(ax.images) == 3 * 2  # a row per run: matched by identity, not name
    assert ax.get_title().endswith("(simulated)")
    with pytest.raises(ValidationError):
        drift_images(result.frame, "nosuch")


def test_the_drift_page_names_the_predecessor_and_escapes_everything(runs):
    result = imgkit.drift([runs["first"], runs["second"]], by_prompt=True)
    html = render_drift_html(result)
    assert "<h1>Change since first (second)</h1>" in html
    assert "SIMULATED" in html and "data:image/png;base64," in html
    assert "<b>at night</b>" not in html and "&lt;b&gt;at night&lt;/b&gt;" in html
    assert "<script" not in html


def test_the_command_line(runs, tmp_path, capsys):
    first, second = str(runs["first"].path), str(runs["second"].path)
    plot = tmp_path / "drift.png"
    assert cli_main(["drift", first, second, "--html", "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("imgkit drift: 2 runs, oldest first: first, second [simulated]")
    assert "gpt, first -> second:" in out
    assert (runs["second"].path / "drift.html").is_file() and plot.stat().st_size > 0
    assert cli_main(["drift", first, second, "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["runs"] == ["first", "second"] and len(payload["comparisons"]) == 4
    assert cli_main(["drift", first]) == 2
    assert "at least two runs" in capsys.readouterr().err


def test_fail_on_change_for_ci(runs, capsys):
    args = ["drift", str(runs["first"].path), str(runs["apart"].path), "--fail-on-change"]
    assert cli_main(args) == 0  # nothing shared, so nothing changed
    assert "share no arm" in capsys.readouterr().out


def test_a_runs_report_can_name_its_predecessor(runs, capsys):
    first, second = runs["first"].path, runs["second"].path
    code = cli_main(["report", str(second), "--previous", str(first), "--formats", "md"])
    assert code == 0
    out = capsys.readouterr().out
    assert "since first: gpt, first -> second:" in out
    page = (second / "drift.html").read_text(encoding="utf-8")
    assert "Change since first" in page
