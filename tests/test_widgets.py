"""The notebook panels, driven from Python: set values, click, await the work, read what they show.

Every panel talks to imgkit's simulator through the same library functions the command line
uses; nothing is mocked. The last tests check the committed notebooks themselves: no stray
outputs, a ``parameters`` cell that runs offline, and the report notebook runnable by papermill.
"""

from __future__ import annotations

import html
import re
import time
from pathlib import Path

import matplotlib
import nbformat
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

from imgkit.analysis.consistency import compare_arms
from imgkit.errors import ValidationError
from imgkit.runs import open_run
from imgkit.widgets import (
    BackgroundTask,
    ChainPanel,
    CostPlanner,
    DrillPanel,
    EditPanel,
    Gallery,
    GalleryItem,
    faults_spec,
    sample_image,
)
from imgkit.widgets.cost_planner import PRESETS

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
PNG = b"\x89PNG\r\n\x1a\n"
TIMEOUT = 60


@pytest.fixture(autouse=True)
def _no_live_key(monkeypatch: pytest.MonkeyPatch) -> None:
    # The panels decide whether to offer Live from the environment; tests start without a key.
    for name in ("OPENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "LEONARDO_API_KEY"):
        monkeypatch.delenv(name, raising=False)


def _is_png(image) -> bool:
    """Whether an ipywidgets Image holds a PNG (its value is a memoryview)."""
    return bytes(image.value).startswith(PNG)


def _wait_for(condition, timeout: float = TIMEOUT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


# --------------------------------------------------------------------------------------------
# Drill panel


def test_drill_panel_opens_on_the_lessons_drill_offline() -> None:
    panel = DrillPanel()
    assert panel.arms.value == ("dall-e-3", "gpt-image-1")
    assert panel.n.value == 5
    assert "astronaut" in panel.prompt.value
    labels = dict((value, label) for label, value in panel.arms.options)
    assert labels["dall-e-3"] == "dall-e-3 (retired 2026-05-12: simulator only)"
    assert "simulator only" not in labels["gpt-image-2"]
    assert panel.backend.value == "Simulator" and panel.backend.disabled
    assert "OPENAI_API_KEY" in panel.backend_note.value
    # The estimate is the catalog's: 5 x $0.04 for dall-e-3 plus gpt-image-1's dearest choice.
    assert "dall-e-3: 5 x $0.0400 = $0.20" in panel.estimate.value
    assert "SIMULATED" in panel.estimate.value
    # Each price says how it was reached in words, not as the catalog's key.
    assert "(price per image)" in panel.estimate.value
    assert "dearest choice; prompt tokens extra" in panel.estimate.value
    assert "dearest_choice" not in panel.estimate.value
    assert not panel.run_button.disabled


def test_drill_panel_offers_only_what_every_chosen_model_accepts() -> None:
    panel = DrillPanel()
    # dall-e-3 and gpt-image-1 share one size and no quality.
    assert panel.size.options == ("(each model's default)", "1024x1024")
    assert panel.quality.options == ("(each model's default)",)
    panel.arms.value = ("dall-e-3",)
    assert set(panel.size.options) == {
        "(each model's default)",
        "1024x1024",
        "1792x1024",
        "1024x1792",
    }
    assert panel.quality.options == ("(each model's default)", "standard", "hd")
    assert panel.style.options == ("(each model's default)", "vivid", "natural")
    panel.quality.value = "hd"
    assert "dall-e-3: 5 x $0.0800 = $0.40" in panel.estimate.value
    # Style goes to the models that take one only.
    panel.arms.value = ("dall-e-3", "gpt-image-2")
    panel.style.value = "natural"
    arms = {arm.name: arm for arm in panel.selected_arms()}
    assert arms["dall-e-3"].params == {"style": "natural"}
    assert dict(arms["gpt-image-2"].params) == {}
    panel.arms.value = ()
    assert panel.run_button.disabled


def test_drill_panel_offers_live_only_with_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "not-a-real-key")
    panel = DrillPanel(arms=("dall-e-3", "gpt-image-2"))
    assert not panel.backend.disabled
    panel.backend.value = "Live"
    offered = {value for _label, value in panel.arms.options}
    assert "dall-e-3" not in offered and "gpt-image-2" in offered
    assert panel.arms.value == ("gpt-image-2",)
    assert "real money" in panel.estimate.value
    assert "Set a budget" in panel.estimate.value


def test_drill_panel_runs_in_the_background_and_shows_the_run(tmp_path: Path) -> None:
    prompt = 'A lone astronaut <img src=x onerror="alert(1)"> on a red cliff'
    panel = DrillPanel(out=tmp_path, n=3, prompt=prompt, n_boot=200, n_perm=500)
    panel.run_button.click()
    assert panel.running or panel.task.wait(0)
    assert panel.run_button.disabled or not panel.running
    assert panel.wait(TIMEOUT), "the drill did not finish"
    assert panel.task.error is None, panel.task.error_text
    run = open_run(panel.run.path)
    frame = run.to_frame()
    assert len(panel.gallery) == 6 == int((frame["status"] == "ok").sum())
    assert all(bar.value == 3 for bar, _label in panel.bars.values())
    assert "Done" in panel.status.value and "SIMULATED" in panel.status.value
    assert str(run.path) in panel.run_path.value
    # The verdict is compare_arms' own, computed from the run.
    expected = compare_arms(frame, "dall-e-3", "gpt-image-1", n_perm=500, n_boot=200)
    assert html.escape(expected.verdict) in panel.verdict.value
    assert panel.verdicts[0].verdict == expected.verdict
    # Every pair is stated as one corrected family (one pair here), on the fixed scale.
    assert panel.comparison.family_size == 1 and "Holm" in panel.verdict.value
    assert "fixed scale" in panel.verdict.value
    # The cost tab adds up the run's own costs.
    total = pd.to_numeric(frame["cost_usd"]).sum()
    assert f"Total: ${total:.4f}" in panel.cost_html.value
    assert "nothing was billed" in panel.cost_html.value
    assert panel.attempts_html.value.count("</tr>") >= 7  # header + one row per attempt
    assert _is_png(panel.consistency_plot)
    assert _is_png(panel.divergence_plot)
    # Text from the run is escaped wherever it is shown.
    item = next(i for i in panel.gallery.items if i.revised_prompt)
    panel.gallery.show(item)
    for shown in (panel.gallery.detail_text.value, panel.divergence_html.value):
        assert "<img src=x" not in shown and "&lt;img" in shown
    assert panel.gallery.detail.layout.display == "flex"
    assert not panel.run_button.disabled and panel.stop_button.disabled


def test_drill_panel_stop_ends_the_run_early(tmp_path: Path, sim_factory) -> None:
    slow = sim_factory(seed=0, latency=0.4)
    panel = DrillPanel(out=tmp_path, n=5, sim_url=slow.base_url, concurrency=1)
    panel.run_drill()
    assert _wait_for(lambda: len(panel.gallery) >= 1), "no image arrived while running"
    panel.stop_button.click()
    assert panel.wait(TIMEOUT)
    assert panel.task.error is None, panel.task.error_text
    assert panel.run.status == "stopped"
    assert 1 <= len(panel.gallery) < 10
    assert "stopped" in panel.status.value


def test_drill_panel_reports_an_impossible_run_without_starting(tmp_path: Path) -> None:
    panel = DrillPanel(out=tmp_path, arms=("dall-e-3",), budget=0.01)
    assert "Over budget" in panel.estimate.value
    assert panel.run_button.disabled
    assert panel.run_drill() is None
    assert "budget" in panel.status.value
    assert len(panel.gallery) == 0 and panel.progress_box.children == ()
    panel.budget.value = 5.0
    panel.prompt.value = ""
    assert panel.run_drill() is None
    assert "Cannot" in panel.status.value


def test_drill_panel_shows_a_reopened_run(tmp_path: Path) -> None:
    from imgkit.runner import drill

    run = drill(
        ["a red fox"], ["dall-e-3", "gpt-image-1"], n=2, out=tmp_path, progress=False, log=None
    )
    panel = DrillPanel()
    panel.show_run(run)
    assert len(panel.gallery) == 4
    assert "Verdict" in panel.verdict.value and "Too few images" in panel.verdict.value


# --------------------------------------------------------------------------------------------
# The drill panel never fails silently: what it refuses, it says, and it says it once


def test_drill_panel_disables_run_above_the_budget_and_says_why_to_the_cent() -> None:
    panel = DrillPanel(arms=("dall-e-3",), budget=0.001)
    # 5 x $0.04 against a budget of a tenth of a cent: both figures shown as they are.
    assert "$0.001" in panel.estimate.value and "$0.2000" in panel.estimate.value
    assert "$0.00 " not in panel.estimate.value
    assert panel.run_button.disabled
    assert "budget" in panel.run_button.tooltip and "$0.001" in panel.run_button.tooltip
    panel.budget.value = 1.0
    assert not panel.run_button.disabled and "Over budget" not in panel.estimate.value
    assert panel.run_button.tooltip == ""


@pytest.mark.parametrize(
    ("control", "value", "allowed"),
    [
        ("budget", -1.0, "a dollar amount >= 0"),
        ("n", 0, "a whole number from 1 to 50"),
        ("n", -3, "a whole number from 1 to 50"),
        ("n", 500, "a whole number from 1 to 50"),
    ],
)
def test_drill_panel_rejects_out_of_range_numbers_visibly(control, value, allowed) -> None:
    panel = DrillPanel()
    getattr(panel, control).value = value
    # The value stays what was typed (nothing silently becomes 0, 1 or 50) and is refused.
    assert getattr(panel, control).value == value
    assert allowed in html.unescape(panel.estimate.value)
    assert panel.run_button.disabled
    assert panel.run_drill() is None


def test_drill_panel_clears_a_stale_failure_when_the_inputs_change(tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    panel = DrillPanel(out=blocked, n=1)  # the run folder cannot be made under a file
    panel.run_drill()
    assert panel.wait(TIMEOUT)
    assert "did not complete" in panel.status.value
    panel.n.value = 2
    assert panel.status.value == ""


def test_panels_show_no_empty_pictures_before_anything_ran() -> None:
    # An Image widget with nothing in it is a broken-image icon in the browser: hidden instead.
    drill_panel = DrillPanel()
    for image in (drill_panel.consistency_plot, drill_panel.divergence_plot):
        assert image.layout.display == "none"
    edit_panel = EditPanel(image=sample_image((256, 256)))
    for image in (edit_panel.before, edit_panel.after, edit_panel.figure):
        assert image.layout.display == "none"
    chain_panel = ChainPanel(rates={})
    try:
        assert chain_panel.timeline.layout.display == "none"
    finally:
        chain_panel.close()


def test_drill_panel_results_read_cleanly(tmp_path: Path) -> None:
    arms = ("dall-e-3", "dall-e-3+as_is", "gpt-image-1")
    panel = DrillPanel(out=tmp_path, arms=arms, n=2, n_boot=100, n_perm=200)
    panel.run_drill()
    assert panel.wait(TIMEOUT) and panel.task.error is None, panel.task.error_text
    for image in (panel.consistency_plot, panel.divergence_plot):
        assert _is_png(image) and image.layout.display != "none"
    # The divergence tab measures and diffs against one reference, the prompt as written: the
    # AS-IS prefix is not shown as a change the model made.
    divergence = panel.divergence_html.value
    assert "your prompt" in divergence
    assert "I NEED to test" not in divergence
    # The attempt log: no "None", one line per cell, scrolling inside the panel.
    log = panel.attempts_html.value
    assert ">None<" not in log
    assert "overflow-x:auto" in log.replace(" ", "") and "nowrap" in log


def test_gallery_thumbnail_opens_the_detail_view(tmp_path: Path) -> None:
    image = tmp_path / "one.png"
    image.write_bytes(sample_image((300, 200)))
    gallery = Gallery()
    gallery.add(GalleryItem(image=image, arm="dall-e-3", repeat=0, prompt="a fox"))
    (row,) = gallery.arm_rows  # one row per arm
    (tile,) = row.tiles.children
    (thumb,) = [c for c in tile.children if "imgkit-thumb" in c._dom_classes]
    assert gallery.detail.layout.display == "none"
    thumb.click()
    assert gallery.detail.layout.display == "flex"
    assert "dall-e-3 #0" in gallery.detail_text.value


# --------------------------------------------------------------------------------------------
# Cost planner


def test_cost_planner_reproduces_the_lessons_figures() -> None:
    planner = CostPlanner(preset="Blog autopilot: 1 hero image a day", draw_plot=False)
    assert planner.table["monthly_usd"].map(str).tolist() == ["1.20"]
    planner.preset.value = "Social pipeline: 20 images a day"
    monthly = dict(zip(planner.table["label"], planner.table["monthly_usd"].map(str), strict=True))
    assert monthly == {
        "dall-e-3 standard 1024x1024": "24.00",
        "dall-e-3 hd 1024x1024": "48.00",
        "leonardo-phoenix auto 1024x1024": "4.80",
    }
    assert "$24.00" in planner.output_table.value and "$4.80" in planner.output_table.value
    assert set(PRESETS) < set(planner.preset.options)


def test_cost_planner_draws_costs_on_one_scale_and_refuses_negative_numbers() -> None:
    planner = CostPlanner()
    (ax,) = planner.figure.axes
    assert ax.get_xscale() == ax.get_yscale()
    planner.use_custom.value = True
    planner.custom_price.value = -0.5
    assert planner.custom_price.value == -0.5
    assert "a dollar amount >= 0" in html.unescape(planner.message.value)
    planner.custom_price.value = 0.02
    assert "not allowed" not in planner.message.value
    planner.images_per_day.value = -20
    assert "not allowed" in planner.message.value


def test_cost_planner_updates_live_and_takes_a_custom_price() -> None:
    planner = CostPlanner()
    assert _is_png(planner.plot)
    planner.images_per_day.value = 100
    assert planner.preset.value == "Custom"  # a hand-made change leaves the scenario
    assert planner.table["images_per_day"].tolist() == [100] * len(planner.table)
    planner.custom_label.value = "our <b>deal</b>"
    planner.custom_price.value = 0.025
    planner.use_custom.value = True
    row = planner.table[planner.table["label"] == "our <b>deal</b>"].iloc[0]
    assert str(row["monthly_usd"]) == "75.00"
    assert "our &lt;b&gt;deal&lt;/b&gt;" in planner.output_table.value
    planner.days.value = 7
    assert str(planner.table.iloc[-1]["monthly_usd"]) == "17.50"
    planner.models.value = ()
    planner.use_custom.value = False
    assert "Pick at least one" in planner.message.value


# --------------------------------------------------------------------------------------------
# Edit panel


def test_edit_panel_edits_inside_the_rectangle_only() -> None:
    panel = EditPanel()
    assert _is_png(panel.preview)
    assert "may repaint" in panel.message.value
    panel.edit_button.click()
    assert panel.wait(TIMEOUT)
    assert panel.task.error is None, panel.task.error_text
    fidelity = panel.result.mask_fidelity
    assert fidelity.outside_changed < 0.01 < fidelity.inside_changed
    assert "the mask was honoured" in panel.fidelity_html.value
    assert "SIMULATED" in panel.fidelity_html.value
    for image in (panel.before, panel.after, panel.figure):
        assert _is_png(image)


def test_edit_panel_refuses_a_missing_or_empty_mask() -> None:
    panel = EditPanel(image=sample_image((256, 256)))
    panel.mask_kind.value = "Uploaded mask"
    assert "No usable mask" in panel.message.value
    assert panel.edit_button.disabled
    assert panel.run_edit() is None
    panel.mask_kind.value = "Rectangle"
    assert not panel.edit_button.disabled
    panel.rect["left"].value, panel.rect["right"].value = 0.5, 0.5
    assert "No usable mask" in panel.message.value


def test_edit_panel_clears_a_failure_when_the_inputs_change() -> None:
    panel = EditPanel(image=sample_image((256, 256)), prompt="add some gore")  # refused
    panel.run_edit()
    assert panel.wait(TIMEOUT)
    assert "The edit failed" in panel.fidelity_html.value
    panel.rect["left"].value = 0.2
    assert panel.fidelity_html.value == ""


def test_chain_panel_refuses_a_bad_count_and_clears_it_when_fixed() -> None:
    panel = ChainPanel(rates={})
    try:
        panel.n_requests.value = 0
        assert panel.n_requests.value == 0 and panel.send_button.disabled
        assert "a whole number from 1 to 500" in panel.expected_html.value
        assert panel.send() is None and "Cannot send" in panel.status.value
        panel.n_requests.value = 3
        assert not panel.send_button.disabled and panel.status.value == ""
    finally:
        panel.close()


def test_edit_panel_takes_images_from_a_run(tmp_path: Path) -> None:
    from imgkit.runner import drill

    run = drill(["a red fox"], ["gpt-image-2"], n=2, out=tmp_path, progress=False, log=None)
    panel = EditPanel(run=run.path)
    assert len(panel.run_images.options) == 2
    panel.run_images.value = panel.run_images.options[0][1]
    assert panel.image_bytes == Path(panel.run_images.value).read_bytes()


# --------------------------------------------------------------------------------------------
# Chain panel


def test_faults_spec_leaves_out_zero_rates() -> None:
    rates = {"gemini": {"429": 0.3, "500": 0.0}, "leonardo": {"500": 0.1}, "openai": {}}
    assert faults_spec(rates) == "gemini:429=0.3;leonardo:500=0.1"
    assert faults_spec({}) == ""


def test_chain_panel_falls_back_under_faults() -> None:
    panel = ChainPanel(n_requests=6, rates={"gemini": {"429": 1.0}})
    try:
        assert "Expected cost" in panel.expected_html.value
        assert panel.expected["p_served_by"][0] == 0.0
        panel.send_button.click()
        assert panel.wait(TIMEOUT)
        assert panel.task.error is None, panel.task.error_text
        assert len(panel.requests) == 6
        gemini = panel.attempts[panel.attempts["provider"] == "gemini"]
        # A 429 goes straight to the next provider: one attempt per request, never a retry.
        assert len(gemini) == 6
        assert set(gemini["outcome"]) == {"rate_limited"}
        assert set(gemini["action"]) == {"next_provider"}
        assert panel.requests["served_by"].notna().all()
        assert not panel.requests["served_by"].str.startswith("gemini").any()
        assert "Served by" in panel.summary_html.value and "SIMULATED" in panel.summary_html.value
        assert _is_png(panel.timeline)
    finally:
        panel.close()


def test_chain_panel_shows_a_timeout_fault_in_seconds() -> None:
    # The simulator holds a "timeout" request for minutes; the panel's client gives up after
    # a couple of seconds, retries once, and moves on, so the lesson's branch shows promptly.
    panel = ChainPanel(n_requests=1, rates={"gemini": {"timeout": 1.0}})
    try:
        panel.send_button.click()
        assert panel.wait(TIMEOUT)
        assert panel.task.error is None, panel.task.error_text
        gemini = panel.attempts[panel.attempts["provider"] == "gemini"]
        assert list(gemini["outcome"]) == ["transient", "transient"]
        assert list(gemini["action"]) == ["retry_same_provider", "next_provider"]
        assert panel.requests["served_by"].notna().all()
    finally:
        panel.close()


def test_chain_panel_reorders_links() -> None:
    panel = ChainPanel(rates={})
    try:
        first = panel.order.options[0]
        panel.order.value = panel.order.options[-1]
        panel.up.click()
        panel.up.click()
        assert panel.order.options[0] != first
        panel.add_model.value = "dall-e-3"
        panel.add.click()
        assert panel.order.options[-1] == "dall-e-3"
        assert "dall-e-3" in panel.expected_html.value
        panel.order.value = "dall-e-3"
        panel.remove.click()
        assert "dall-e-3" not in panel.order.options
    finally:
        panel.close()


# --------------------------------------------------------------------------------------------
# Gallery and background work


def test_gallery_escapes_and_shrinks(tmp_path: Path) -> None:
    image = tmp_path / "big.png"
    image.write_bytes(sample_image((800, 600)))
    row = pd.Series(
        {
            "arm": "a<b>",
            "repeat": 2,
            "prompt": "x & y",
            "revised_prompt": "x & <y>",
            "image_path": str(image),
            "simulated": True,
            "cost_usd": 0.04,
            "cost_basis": "estimate",
        }
    )
    gallery = Gallery()
    gallery.add(GalleryItem.from_row(row))
    assert len(gallery) == 1 and "1 image" in gallery.status.value
    gallery.show(gallery.items[0])
    detail = gallery.detail_text.value
    assert "a&lt;b&gt; #2" in detail and "x &amp; &lt;y&gt;" in detail and "<y>" not in detail
    import io

    from PIL import Image

    with Image.open(io.BytesIO(gallery.detail_image.value)) as shown:
        assert max(shown.size) <= 512
    gallery.clear()
    assert len(gallery) == 0


def test_background_task_keeps_the_error() -> None:
    def fail(_stop):
        raise ValidationError("n", 0, "a number >= 1")

    task = BackgroundTask(fail).start()
    assert task.wait(5)
    assert isinstance(task.error, ValidationError)
    assert "ValidationError" in task.error_text


# --------------------------------------------------------------------------------------------
# The committed notebooks


def test_the_seven_notebooks_are_there() -> None:
    assert [p.name[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04", "05", "06", "07"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_clean_with_offline_parameters(path: Path) -> None:
    import sys

    sys.path.insert(0, str(ROOT / "tools"))
    try:
        from notebook_outputs import problems
    finally:
        sys.path.pop(0)
    nb = nbformat.read(path, as_version=4)
    assert problems(nb) == []
    parameters = next(c for c in nb.cells if c.cell_type == "code")
    assert 'backend = "sim"' in parameters.source
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")


@pytest.mark.parametrize("name", ["01_consistency_drill", "06_reopen_and_report"])
def test_notebook_runs_with_backend_live(tmp_path: Path, sim, monkeypatch, name: str) -> None:
    # "live" reaches the real services through OPENAI_BASE_URL and a key; here both point at
    # the simulator, so the live path (budget, retired models swapped for their replacements,
    # keys from the environment) runs end to end with nothing leaving the machine.
    import papermill

    monkeypatch.setenv("OPENAI_API_KEY", "-".join(["sk", "notebook", "test"]))
    monkeypatch.setenv("OPENAI_BASE_URL", sim.openai_base_url)
    executed = tmp_path / f"{name}.ipynb"
    # The session's simulator has served earlier tests too: count only what this one asks.
    before = dict(sim.stats()["requests"].get("openai", {}))
    papermill.execute_notebook(
        str(ROOT / "notebooks" / f"{name}.ipynb"),
        str(executed),
        parameters={"backend": "live", "repeats": 2},
        cwd=str(tmp_path),
        kernel_name="python3",
        progress_bar=False,
    )
    shown = "".join(
        o.get("text", "")
        for c in nbformat.read(executed, as_version=4).cells
        if c.cell_type == "code"
        for o in c.outputs
    )
    # The lesson's retired models were replaced by the live ones, and those were asked.
    assert "gpt-image-2" in shown
    after = sim.stats()["requests"]["openai"]
    served = {m: n - before.get(m, 0) for m, n in after.items() if n > before.get(m, 0)}
    assert "dall-e-3" not in served and "gpt-image-1" not in served
    assert served.get("gpt-image-2", 0) >= 2
    (run_folder,) = (tmp_path / "runs").iterdir()
    run = open_run(run_folder)
    assert run.manifest["backend"] == "live" and run.manifest["parameters"]["budget"] == 2.0
    assert set(run.to_frame()["model"]) == {"gpt-image-2", "gpt-image-2.5-sunburst"}


def test_report_notebook_runs_with_papermill(tmp_path: Path) -> None:
    import papermill

    from imgkit.runner import drill

    run = drill(
        ["a red fox"],
        ["dall-e-3", "gpt-image-1"],
        n=3,
        out=tmp_path / "runs",
        progress=False,
        log=None,
    )
    executed = tmp_path / "report.ipynb"
    papermill.execute_notebook(
        str(ROOT / "notebooks" / "06_reopen_and_report.ipynb"),
        str(executed),
        parameters={"run_path": str(run.path), "report_dir": str(tmp_path / "report")},
        cwd=str(tmp_path),
        kernel_name="python3",
        progress_bar=False,
    )
    assert (tmp_path / "report" / "report.html").is_file()
    text = (tmp_path / "report" / "report.md").read_text(encoding="utf-8")
    assert "SIMULATED" in text
    outputs = nbformat.read(executed, as_version=4)
    shown = "".join(
        o.get("text", "") for c in outputs.cells if c.cell_type == "code" for o in c.outputs
    )
    assert str(run.path) in shown


def test_drill_panel_verdict_corrects_every_pair_together(tmp_path: Path) -> None:
    # Three arms: three comparisons, each p adjusted over all three, and a ranking.
    rng = np.random.default_rng(3)
    rows = []
    for arm, flip in (("a", 0.02), ("b", 0.02), ("c", 0.3)):
        for r in range(8):
            value = sum(1 << b for b in range(64) if rng.random() < flip)
            rows.append({"arm": arm, "prompt": "p", "repeat": r, "status": "ok",
                         "phash": f"{value:016x}"})  # fmt: skip
    panel = DrillPanel(out=tmp_path, n_boot=100, n_perm=500)
    panel.results.kinds = ("phash",)  # the frame is hashes only
    verdict = panel.results._verdict_html(
        pd.DataFrame(rows), simulated=False, n_boot=100, n_perm=500
    )
    assert panel.comparison.family_size == 3 and len(panel.verdicts) == 3
    assert verdict.count("adjusted") == 3 and "(Holm, 3 comparisons)" in verdict
    # The ranking table, in words: whole ranks, each figure with its interval.
    assert "<th>rank interval</th>" in verdict and "rank_low" not in verdict
    assert "<td>1.5</td>" in verdict and "<td>1-2</td>" in verdict  # a and b tie
    assert "<td>3</td>" in verdict and "3.000" not in verdict
    assert re.search(r"<td>\d\.\d\d \[\d\.\d\d, \d\.\d\d\]</td>", verdict)
    assert "c was" not in verdict  # the least consistent arm wins nothing


def test_tables_head_their_columns_in_words_aligned_with_the_cells(tmp_path: Path) -> None:
    from imgkit.widgets._common import frame_html

    assert '<tr style="text-align: left;">' in frame_html(pd.DataFrame({"arm": ["a"], "n": [1]}))
    panel = DrillPanel(out=tmp_path, arms=("dall-e-3",), n=2)
    panel.run_drill()
    assert panel.wait(60) and panel.task.error is None, panel.task.error_text
    cost = panel.results.cost_html.value
    assert "<th>cost</th>" in cost and "cost_usd" not in cost
    consistency = panel.results.consistency_html.value
    assert "<th>EfficientNet-Lite0 (95% interval)</th>" in consistency
    assert "<th>phash</th>" in consistency
    assert "n_images" not in consistency and "ci_low" not in consistency
