"""How long each arm took to answer: per-request latency and, for streamed requests, the time
to the first partial image and to the final image.

DataFrame in (a run frame: ``arm``, ``status``, ``latency_s``, and ``first_partial_s`` /
``final_image_s`` where the run streamed), DataFrame out. Medians and 90th percentiles, because
request times are skewed (a few slow answers should not move the typical figure).
"""

from __future__ import annotations

import pandas as pd

from imgkit.errors import ValidationError

__all__ = ["LATENCY_COLUMNS", "latency_table"]

#: The columns of :func:`latency_table`, in order.
LATENCY_COLUMNS = (
    "arm",
    "n",
    "latency_median_s",
    "latency_p90_s",
    "streamed",
    "first_partial_median_s",
    "final_image_median_s",
)


def latency_table(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per arm (in the frame's order) over its ok generations.

    ``latency_*``: the whole request, sending to answer. ``streamed``: how many of the arm's
    images came from a streamed request; ``first_partial_median_s`` (None when no partial
    image came: a stream without partials, or a service that sends the image whole) and
    ``final_image_median_s`` are medians over those. Raises :class:`ValidationError` without an
    ``arm`` column.
    """
    if "arm" not in frame.columns:
        raise ValidationError("frame", f"columns {list(frame.columns)}", "a run frame with arm")
    rows = frame[frame["status"] == "ok"] if "status" in frame.columns else frame
    records = []
    for arm in dict.fromkeys(frame["arm"]):
        mine = rows[rows["arm"] == arm]
        latency = _seconds(mine, "latency_s")
        first = _seconds(mine, "first_partial_s")
        final = _seconds(mine, "final_image_s")
        records.append(
            {
                "arm": arm,
                "n": len(mine),
                "latency_median_s": _stat(latency, 0.5),
                "latency_p90_s": _stat(latency, 0.9),
                "streamed": int(final.notna().sum()),
                "first_partial_median_s": _stat(first, 0.5),
                "final_image_median_s": _stat(final, 0.5),
            }
        )
    return pd.DataFrame(records, columns=list(LATENCY_COLUMNS))


def _seconds(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame.columns:
        return pd.Series([], dtype=float)
    return pd.to_numeric(frame[column], errors="coerce")


def _stat(values: pd.Series, q: float) -> float | None:
    values = values.dropna()
    return None if values.empty else float(values.quantile(q))
