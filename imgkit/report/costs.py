"""What a run cost, for the report: per arm, a month ahead, and against synchronous prices.

:func:`cost_by_arm` sums a run frame's costs per arm (an unknown cost counted, never taken as
zero), :func:`cost_projection_frame` projects each arm's cost per image to a month at several
volumes, and :func:`batch_summary` says what a batch drill's images would have cost through the
synchronous endpoints. DataFrame in, numbers out; :mod:`imgkit.report.data` gathers them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import pandas as pd

from imgkit.catalog.costs import projection_table
from imgkit.errors import ValidationError

__all__ = [
    "DEFAULT_PER_DAY",
    "arm_label",
    "batch_summary",
    "cost_by_arm",
    "cost_projection_frame",
]

#: Images a day the monthly projection is shown at (the lesson's 1 and 20, and two larger).
DEFAULT_PER_DAY = (1, 20, 50, 500)


def _money(value: Any) -> Decimal | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return Decimal(str(value))


def arm_label(rows: pd.DataFrame) -> str:
    """ "model quality size" of an arm, from the first row that says."""
    parts = []
    for column in ("model", "quality", "size"):
        if column in rows.columns:
            values = [v for v in rows[column].tolist() if isinstance(v, str) and v]
            if values:
                parts.append(values[0])
    return " ".join(parts) or str(rows["arm"].iloc[0])


def cost_by_arm(frame: pd.DataFrame) -> pd.DataFrame:
    """Return what each arm of a run cost; one row per arm.

    Columns: ``arm``, ``label`` ("model quality size"), ``n_generations``, ``n_ok``,
    ``n_costed`` (generations with a known cost), ``n_unknown_cost`` (images whose cost the
    service did not report and the catalog could not estimate: shown, never counted as $0),
    ``total_usd`` and ``per_image_usd`` (Decimal; None when nothing was costed) and ``basis``
    (the distinct ``cost_basis`` values). Raises :class:`ValidationError` without ``arm``.
    """
    if not isinstance(frame, pd.DataFrame) or "arm" not in frame.columns:
        raise ValidationError("frame", "no arm column", "a run frame with an arm column")
    records = []
    for arm, rows in frame.groupby("arm", sort=True):
        costs = [_money(v) for v in rows["cost_usd"]] if "cost_usd" in rows.columns else []
        known = [c for c in costs if c is not None]
        ok = rows["status"] == "ok" if "status" in rows.columns else pd.Series(True, rows.index)
        unknown = sum(
            1
            for c, is_ok in zip(costs or [None] * len(rows), ok, strict=True)
            if is_ok and c is None
        )
        total = sum(known, Decimal(0)) if known else None
        basis = []
        if "cost_basis" in rows.columns:
            basis = sorted({str(b) for b in rows["cost_basis"].dropna()})
        records.append(
            {
                "arm": arm,
                "label": arm_label(rows),
                "n_generations": len(rows),
                "n_ok": int(ok.sum()),
                "n_costed": len(known),
                "n_unknown_cost": unknown,
                "total_usd": total,
                "per_image_usd": (total / len(known)) if known else None,
                "basis": ", ".join(basis) or "unknown",
            }
        )
    columns = [
        "arm",
        "label",
        "n_generations",
        "n_ok",
        "n_costed",
        "n_unknown_cost",
        "total_usd",
        "per_image_usd",
        "basis",
    ]
    return pd.DataFrame.from_records(records, columns=columns)


def cost_projection_frame(
    costs: pd.DataFrame, per_day: Sequence[float | int] = DEFAULT_PER_DAY, days: int = 30
) -> pd.DataFrame:
    """Project each arm's observed cost per image to a month at ``per_day`` images a day.

    Takes :func:`cost_by_arm`'s frame; arms sharing a label ("model quality size") are drawn
    once. Uses :func:`imgkit.catalog.costs.projection_table` with the run's own per-image cost, so
    the projection depends on the run folder only, not on today's price table. Arms without a known
    cost are left out (there is nothing honest to project). Columns as projection_table's, plus
    ``arms`` (the arms behind each line) and ``basis`` (the run's cost basis).
    """
    if not isinstance(costs, pd.DataFrame) or "per_image_usd" not in costs.columns:
        raise ValidationError("costs", type(costs).__name__, "the frame cost_by_arm returns")
    known = costs[costs["per_image_usd"].notna()]
    parts = []
    for label, rows in known.groupby("label", sort=True):
        table = projection_table([(label, rows["per_image_usd"].iloc[0])], per_day, days)
        table["arms"] = ", ".join(map(str, rows["arm"]))
        table["basis"] = rows["basis"].iloc[0]
        parts.append(table)
    if not parts:
        columns = ["label", "price_per_image", "images_per_day", "days", "monthly_usd", "basis"]
        return pd.DataFrame(columns=[*columns, "source", "arms"])
    return pd.concat(parts, ignore_index=True)


def batch_summary(frame: pd.DataFrame, manifest: Mapping[str, Any]) -> dict[str, Any]:
    """What a batch drill's images cost, and what the same images would have cost
    synchronously (each batch arm's cost divided by its batch price ratio, from the manifest's
    ``batch`` section); empty for a run that sent no batches.

    Keys: ``arms`` (the batch arms), ``batch_usd`` (their cost), ``synchronous_usd`` (the same
    images synchronously), ``saved_usd``, ``synchronous_arms`` ({arm: why it ran
    synchronously}), ``waiting`` (requests of batch arms sent and not yet collected: in flight
    in a batch the vendor may still be running, and billing)."""
    section = manifest.get("batch") if isinstance(manifest, Mapping) else None
    if not isinstance(section, Mapping) or not section.get("arms"):
        return {}
    arms = dict(section["arms"])
    batch_usd = synchronous_usd = Decimal(0)
    if "cost_usd" in frame.columns and "arm" in frame.columns:
        for arm, cost in zip(frame["arm"], frame["cost_usd"], strict=True):
            money = _money(cost)
            entry = arms.get(arm)
            if money is None or not isinstance(entry, Mapping):
                continue
            ratio = entry.get("price_ratio") or 1
            batch_usd += money
            synchronous_usd += money / Decimal(str(ratio))
    waiting = 0
    if "status" in frame.columns and "arm" in frame.columns:
        waiting = int(((frame["status"] == "in_flight") & frame["arm"].isin(list(arms))).sum())
    return {
        "arms": sorted(arms),
        "waiting": waiting,
        "batch_usd": float(batch_usd),
        "synchronous_usd": float(synchronous_usd),
        "saved_usd": float(synchronous_usd - batch_usd),
        "synchronous_arms": dict(section.get("synchronous") or {}),
    }
