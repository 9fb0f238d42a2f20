"""What the report says about its verdicts beyond the comparisons themselves.

:func:`planner_lines` adds, to each inconclusive comparison, how many repeats per arm would
likely settle it and what they would cost (:func:`imgkit.analysis.planning.plan_repeats`);
:func:`reference_dict` gives the fixed similarity scale as plain data. Numbers only: the
sentences of the verdict table are :mod:`imgkit.report.content`'s.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from imgkit.analysis.planning import plan_repeats
from imgkit.analysis.reference import Reference
from imgkit.analysis.sweep import SweepComparison

__all__ = ["MAX_PLANS", "PLAN_MIN_DIFFERENCE", "planner_lines", "reference_dict"]

#: At most this many inconclusive comparisons get a "repeats that would settle it" line (each
#: is a simulation); the others point to ``imgkit plan``.
MAX_PLANS = 12
#: The smallest similarity difference a planner line plans for: a smaller one seen in the data
#: is planned at this size.
PLAN_MIN_DIFFERENCE = 0.05


def planner_lines(
    frame: pd.DataFrame, sweep: SweepComparison, *, seed: int = 0, catalog: Any = None
) -> list[str | None]:
    """The planner's sentence for each inconclusive comparison (None for the others).

    Each inconclusive comparison is planned for the difference seen in it, simulating each of
    its two arms from its own images (its prompt's, or every prompt's when it pools them); a
    difference smaller than :data:`PLAN_MIN_DIFFERENCE` is planned at that size instead. The
    power is for the same correction over the same family, the cost at the catalog's prices
    for the two arms. At most :data:`MAX_PLANS`
    comparisons are simulated; the others get the ``imgkit plan`` command to run.
    """
    plans: list[str | None] = []
    made: dict[tuple, str] = {}
    for comparison in sweep.comparisons:
        if comparison.conclusive or not np.isfinite(comparison.p_value):
            plans.append(None)
            continue
        seen = round(abs(comparison.difference), 2)
        # The difference as seen, simulated from each arm's own images; a smaller one than
        # PLAN_MIN_DIFFERENCE is planned at that size from the shift model instead.
        difference = None if seen >= PLAN_MIN_DIFFERENCE else PLAN_MIN_DIFFERENCE
        shown = seen if difference is None else PLAN_MIN_DIFFERENCE
        key = (comparison.arm_a, comparison.arm_b, comparison.prompt, difference)
        if key not in made and len(made) >= MAX_PLANS:
            plans.append(
                f"`imgkit plan RUN --arms {comparison.arm_a},{comparison.arm_b} --difference "
                f"{shown:g}` says how many repeats would settle this."
            )
            continue
        if key not in made:
            pilot = frame
            if comparison.prompt is not None:
                pilot = frame[frame["prompt"] == comparison.prompt]
            plan = plan_repeats(
                pilot,
                difference=difference,
                alpha=sweep.alpha,
                comparisons=max(1, sweep.family_size),
                kind=sweep.kind,
                arms=[comparison.arm_a, comparison.arm_b],
                n_sims=100,
                max_repeats=100,
                seed=seed,
                catalog=catalog,
            )
            if plan.n_per_arm is None:
                made[key] = plan.sentence
            else:
                size = "the size seen here" if difference is None else f"{seen:.2f} was seen"
                cost = f", at {_usd_text(plan.cost_usd)}" if plan.cost_usd is not None else ""
                prompts = f" on each of {plan.n_prompts} prompts" if plan.n_prompts > 1 else ""
                caveat = (
                    f" With only {plan.pilot_images} images per arm to go on, take it as a "
                    "lower bound."
                    if plan.small_pilot
                    else ""
                )
                made[key] = (
                    f"About {plan.n_per_arm} repeats per arm{prompts} would likely settle this "
                    f"({plan.predicted_power:.0%} power to detect a difference of "
                    f"{shown:.2f}, {size}){cost}.{caveat}"
                )
        plans.append(made[key])
    return plans


def _usd_text(value: Decimal | None) -> str:
    if value is None:
        return "an unknown cost"
    return f"${value:,.2f}"


def reference_dict(reference: Reference | None) -> dict[str, Any] | None:
    """The reference as plain data (None stays None)."""
    if reference is None:
        return None
    return {
        "name": reference.name,
        "kind": reference.kind,
        "bits": reference.bits,
        "calibrated": reference.calibrated,
        "distance": reference.distance,
        "distance_ci": list(reference.distance_ci),
        "sd": reference.sd,
    }
