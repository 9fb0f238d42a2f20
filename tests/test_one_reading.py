"""One run reads the same wherever it is shown (issue 26): the report's headline and table give
a difference with one sign, the report and the drill panel give the same p-values, and the
per-arm heatmaps share one colour scale.
"""

from __future__ import annotations

import re

import matplotlib
import pytest

matplotlib.use("Agg")

from imgkit.experiment.arms import Arm
from imgkit.report.data import report_data
from imgkit.runner import drill

SEEDED = "gemini-2.5-flash-image:seed=7"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    # A seeded Gemini arm draws near-identical repeats, so it (arm B: the second in the run's
    # order) is named the more consistent whatever the simulator's photographs: the verdict
    # must then state its difference with the sign the table gives. (dall-e-3 against
    # gpt-image-1 differ too little on a drill's six repeats to name a winner reliably.)
    out = tmp_path_factory.mktemp("runs")
    arms = [Arm.parse("dall-e-3"), Arm.from_option(SEEDED)]
    return drill(None, None, n=6, arms=arms, out=out, progress=False, log=None)


def _signed(text: str) -> list[str]:
    return re.findall(r"[+-]\d\.\d\d", text)


def test_the_headline_and_the_table_give_the_difference_one_sign(run):
    from imgkit.report.consistency_text import VERDICT_HEAD, verdict_rows

    data = report_data(run, plan=False)
    (comparison,) = data.comparisons
    assert comparison.more_consistent == SEEDED
    (row,) = verdict_rows(data, {})
    headline = comparison.verdict
    said = re.search(r"difference ([+-]\d\.\d\d)", headline).group(1)
    column = VERDICT_HEAD.index("difference A - B (95% interval)")
    assert _signed(row[column])[0] == said, (headline, row)
    # A and B are the arms as the row names them: A - B is the difference it states.
    arm_a, arm_b = row[VERDICT_HEAD.index("arms (A vs B)")].split(" vs ")
    sim_a = float(row[VERDICT_HEAD.index("similarity A")].split()[0])
    sim_b = float(row[VERDICT_HEAD.index("similarity B")].split()[0])
    assert arm_a == SEEDED and arm_b == "dall-e-3"
    assert float(said) == pytest.approx(sim_a - sim_b, abs=0.011)


def test_the_report_and_the_panel_give_the_same_p_values(run):
    from imgkit.widgets import DrillPanel

    data = report_data(run, plan=False)
    panel = DrillPanel(out=run.path.parent)
    panel.show_run(run)
    report = data.sweep
    shown = panel.comparison
    assert list(shown.omnibus["p_value"]) == list(report.omnibus["p_value"])
    assert [c.p_value for c in shown.comparisons] == [c.p_value for c in report.comparisons]
    assert [c.difference_ci for c in shown.comparisons] == [
        c.difference_ci for c in report.comparisons
    ]


def test_the_heatmaps_of_every_arm_share_one_colour_scale(run):
    # Each arm's heatmap is drawn from 0 to the measure's fixed top (unrelated photographs),
    # whatever the arm's own largest distance: a steady arm looks cool beside a varied one.
    from matplotlib.figure import Figure

    from imgkit.report import plots

    frame = run.to_frame(measures=("phash",))
    limits, largest = {}, {}
    for arm in ("dall-e-3", SEEDED):
        ax = Figure().add_subplot()
        plots.distance_heatmap(frame, arm, kind="phash", ax=ax)
        (image,) = ax.get_images()
        limits[arm] = image.get_clim()
        largest[arm] = image.get_array().max()
    assert limits["dall-e-3"] == limits[SEEDED]
    assert largest["dall-e-3"] != largest[SEEDED]
    # From 0 to the measure's fixed top (unrelated photographs), whatever either arm's own
    # largest distance (a pair beyond it shows at the top colour).
    from imgkit.analysis.reference import reference_distance

    assert limits["dall-e-3"] == (0, pytest.approx(reference_distance("phash").distance))
