"""The sample-size planner: plan_repeats and ``imgkit plan``."""

from __future__ import annotations

import json
import math
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from imgkit.analysis.planning import plan_repeats
from imgkit.cli.main import main
from imgkit.errors import ValidationError

try:
    from analysis_fixtures import hash_frame, random_hashes
except ImportError:  # tests/ imported as a package
    from tests.analysis_fixtures import hash_frame, random_hashes


def _pilot(flips: dict[str, float], n: int = 5, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    template = int(random_hashes(1, seed=seed + 50)[0], 16)
    groups = {}
    for arm, flip in flips.items():
        groups[(arm, "a fox")] = [
            f"{template ^ sum(1 << b for b in range(64) if rng.random() < flip):016x}"
            for _ in range(n)
        ]
    frame = hash_frame(groups)
    frame["model"] = frame["arm"].map({"steady": "dall-e-3", "wobbly": "gpt-image-1"})
    frame["size"] = "1024x1024"
    frame["quality"] = frame["arm"].map({"steady": "standard", "wobbly": "low"})
    return frame


def test_more_repeats_for_a_smaller_difference_and_the_cost_at_catalog_prices():
    pilot = _pilot({"steady": 0.05, "wobbly": 0.15})
    small = plan_repeats(pilot, kind="phash", difference=0.1, n_sims=100, seed=1)
    large = plan_repeats(pilot, kind="phash", difference=0.3, n_sims=100, seed=1)
    assert large.n_per_arm < small.n_per_arm
    assert small.predicted_power >= 0.8 and 0 < small.power_se < 0.05
    assert small.comparisons == 1 and small.basis == "pilot"
    # Power grows with repeats along the curve (within Monte Carlo noise).
    curve = small.curve.sort_values("n")
    assert curve["power"].iloc[-1] > curve["power"].iloc[0]
    # dall-e-3 standard 1024 and gpt-image-1 low 1024 at the catalog's prices.
    assert small.prices["steady"] == Decimal("0.04")
    assert small.cost_usd == sum(small.prices.values()) * small.n_per_arm
    assert f"About {small.n_per_arm} repeats per arm" in small.sentence
    # Five images per arm show too little of how the arms vary: the plan says so.
    assert small.pilot_images == 5 and small.small_pilot
    assert "lower bound" in small.sentence
    big = plan_repeats(
        _pilot({"steady": 0.05, "wobbly": 0.15}, n=20), kind="phash", difference=0.3, n_sims=50
    )
    assert not big.small_pilot and "lower bound" not in big.sentence


def test_more_comparisons_need_more_repeats():
    pilot = _pilot({"steady": 0.05, "wobbly": 0.15})
    one = plan_repeats(pilot, kind="phash", difference=0.2, n_sims=100, seed=2)
    fifteen = plan_repeats(pilot, kind="phash", difference=0.2, comparisons=15, n_sims=100, seed=2)
    assert fifteen.n_per_arm > one.n_per_arm
    assert "corrected over 15 comparisons" in fifteen.sentence


def test_the_difference_as_seen_simulates_each_arm_from_its_own_images():
    pilot = _pilot({"steady": 0.02, "wobbly": 0.3})
    plan = plan_repeats(pilot, kind="phash", difference=None, arms=["steady", "wobbly"], n_sims=100)
    assert plan.difference > 0.3 and plan.n_per_arm is not None and plan.n_per_arm <= 5
    with pytest.raises(ValidationError, match="arms"):
        plan_repeats(_pilot({"a": 0.1, "b": 0.1, "c": 0.1}), kind="phash", difference=None)


def test_assumed_similarity_without_a_pilot():
    plan = plan_repeats(None, similarity=0.8, difference=0.15, n_sims=100)
    assert plan.basis == "assumed similarity 0.8" and plan.n_per_arm is not None
    assert plan.cost_usd is None  # no arms, no prices
    with pytest.raises(ValidationError, match="similarity"):
        plan_repeats(None, difference=0.1)


def test_a_difference_the_pilot_cannot_show_is_said_so():
    pilot = _pilot({"only": 0.45})
    plan = plan_repeats(pilot, kind="phash", difference=0.9, n_sims=20)
    assert plan.n_per_arm is None and math.isnan(plan.predicted_power)
    assert "more than this pilot can show" in plan.sentence


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"difference": 0}, "difference"),
        ({"power": 1.5}, "power"),
        ({"alpha": 0}, "alpha"),
        ({"n_sims": 2}, "n_sims"),
        ({"comparisons": 0}, "comparisons"),
        ({"kind": "nope"}, "kind"),
        ({"arms": ["nobody"]}, "arms"),
    ],
)
def test_bad_arguments_name_the_parameter(kwargs, param):
    with pytest.raises(ValidationError, match=param):
        plan_repeats(_pilot({"steady": 0.1}), **{"kind": "phash", **kwargs})


def test_cli_plan_prints_the_plan_and_json(capsys, tmp_path):
    import imgkit

    run = imgkit.drill(
        ["a red fox in the snow"], ["gpt-image-2", "dall-e-3"], n=4, out=tmp_path, progress=False
    )
    capsys.readouterr()
    assert main(["plan", str(run.path), "--difference", "0.2", "--sims", "50"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("SIMULATED pilot") and "repeats per arm" in out and "$" in out
    assert main(["plan", str(run.path), "--difference", "0.2", "--sims", "50", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["difference"] == 0.2 and payload["simulated"] is True
    assert set(payload["prices"]) == {"dall-e-3", "gpt-image-2"}
    # Bad input: exit 2 with the parameter named, nothing sent.
    assert main(["plan", str(run.path), "--power", "2"]) == 2
    assert "power" in capsys.readouterr().err
    assert main(["plan"]) == 2
