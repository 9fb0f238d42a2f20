"""imgkit.analysis.latency: per-arm medians by hand, streamed arms through the simulator."""

from __future__ import annotations

import pandas as pd
import pytest

from imgkit.analysis.latency import LATENCY_COLUMNS, latency_table
from imgkit.errors import ValidationError
from imgkit.experiment.arms import Arm
from imgkit.runner import drill


def test_medians_and_percentiles_by_hand():
    frame = pd.DataFrame(
        {
            "arm": ["a", "a", "a", "b", "b", "a"],
            "status": ["ok", "ok", "ok", "ok", "ok", "failed"],
            "latency_s": [1.0, 2.0, 9.0, 0.5, 0.7, 100.0],
            "first_partial_s": [None, None, None, 0.2, 0.4, None],
            "final_image_s": [None, None, None, 0.5, 0.7, None],
        }
    )
    table = latency_table(frame).set_index("arm")
    assert list(latency_table(frame).columns) == list(LATENCY_COLUMNS)
    assert table.loc["a", "n"] == 3 and table.loc["a", "latency_median_s"] == 2.0
    assert table.loc["a", "latency_p90_s"] == pytest.approx(7.6)  # the failed 100 s is left out
    assert table.loc["a", "streamed"] == 0 and pd.isna(table.loc["a", "final_image_median_s"])
    assert table.loc["b", "streamed"] == 2
    assert table.loc["b", "first_partial_median_s"] == pytest.approx(0.3)
    assert table.loc["b", "final_image_median_s"] == pytest.approx(0.6)


def test_a_frame_without_arms_is_refused():
    with pytest.raises(ValidationError, match="arm"):
        latency_table(pd.DataFrame({"x": [1]}))


def test_a_streamed_arm_reports_its_partial_and_final_times(tmp_path, sim_factory):
    sim = sim_factory(latency=0.2)
    arms = [
        Arm("streamed", "gpt-image-2", params={"stream": True, "partial_images": 2}),
        Arm("whole", "gpt-image-2"),
    ]
    run = drill(
        "a red cube", arms=arms, n=3, out=tmp_path, sim_url=sim.base_url, progress=False, log=None
    )
    table = latency_table(run.to_frame()).set_index("arm")
    assert table.loc["streamed", "streamed"] == 3 and table.loc["whole", "streamed"] == 0
    first = table.loc["streamed", "first_partial_median_s"]
    final = table.loc["streamed", "final_image_median_s"]
    assert 0 < first < final
    assert table.loc["whole", "latency_median_s"] > 0


def test_the_drill_panel_shows_time_to_first_and_final_image(tmp_path, sim_factory):
    from imgkit.widgets.drill_results import DrillResults

    sim = sim_factory(latency=0.1)
    arms = [Arm("streamed", "gpt-image-2", params={"stream": True, "partial_images": 1})]
    run = drill(
        "a red cube", arms=arms, n=2, out=tmp_path, sim_url=sim.base_url, progress=False, log=None
    )
    results = DrillResults()
    results.show(run, run.to_frame(), n_boot=50, n_perm=50)
    html = results.cost_html.value
    assert "Time to answer" in html and "first partial image" in html
    first = latency_table(run.to_frame()).loc[0, "first_partial_median_s"]
    assert f"{first:.2f} s" in html
