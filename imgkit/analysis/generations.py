"""Which generations of a run count, their hashes, and the distance that counts as unrelated.

A run frame has one row per generation and at least ``arm`` and ``prompt``, plus either hash
columns as :func:`imgkit.analysis.hashing.hash_images` writes them (``phash``, ...) or
``image_path``. :func:`usable_generations` keeps the rows that count (status ``"ok"`` when there
is a status column, and an image) and hashes what is missing; :func:`baseline_distance` measures
the yardstick that :mod:`imgkit.analysis.consistency` scales similarities by: the mean distance
between images made for different prompts, or the random-bit expectation ``bits / 2`` when the
run has a single prompt.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable

import numpy as np
import pandas as pd

from imgkit.analysis.hashing import (
    KINDS,
    bits_from_hex,
    cross_distances,
    hash_images,
    unrelated_distance,
)
from imgkit.errors import ValidationError, check_argument

__all__ = [
    "baseline_distance",
    "check_kinds",
    "hash_bit_count",
    "run_baseline",
    "usable_generations",
]

_REQUIRED = ("arm", "prompt")


def check_kinds(kinds: Iterable[str] | str) -> tuple[str, ...]:
    """Return ``kinds`` as a tuple of known hash kinds without repeats; a lone string is one kind.

    Raises :class:`ValidationError` for an empty or unknown kind.
    """
    kinds = (kinds,) if isinstance(kinds, str) else tuple(kinds)
    if not kinds:
        raise ValidationError("kinds", kinds, KINDS, detail="at least one kind is needed")
    for kind in kinds:
        check_argument("kinds", kind, KINDS)
    return tuple(dict.fromkeys(kinds))


def usable_generations(
    frame: pd.DataFrame, kinds: Iterable[str] | str = ("phash",), *, hash_size: int = 8
) -> pd.DataFrame:
    """Return the rows that count, with a hex column for every kind in ``kinds``.

    Keeps rows whose ``status`` is ``"ok"`` (when there is a status column) and that have an
    image; hashes ``image_path`` with :func:`imgkit.analysis.hashing.hash_images` for any kind the
    frame lacks (or lacks for some rows), in one call, so each image is decoded once whatever the
    number of kinds. The original index is kept, so results can be joined back.
    Raises :class:`ValidationError` when ``arm`` or ``prompt`` is missing, or when a kind has
    neither a hash column nor image paths to compute it from.
    """
    if not isinstance(frame, pd.DataFrame):
        raise ValidationError("frame", type(frame).__name__, "a pandas DataFrame")
    kinds = check_kinds(kinds)
    missing = [c for c in _REQUIRED if c not in frame.columns]
    if missing:
        raise ValidationError("frame", f"columns {list(frame.columns)}", "columns arm and prompt")
    rows = frame
    if "status" in rows.columns:
        rows = rows[rows["status"] == "ok"]
    rows = rows.copy()

    has_path = (
        rows["image_path"].notna() & (rows["image_path"].astype(str) != "")
        if "image_path" in rows.columns
        else pd.Series(False, index=rows.index)
    )
    # Find every kind each row lacks first, so that each image is decoded once and all the
    # kinds it lacks are computed from that one decode.
    lacking: dict[str, pd.Series] = {}
    for kind in kinds:
        have = (
            rows[kind].notna() & (rows[kind].astype(str) != "")
            if kind in rows.columns
            else pd.Series(False, index=rows.index)
        )
        todo = ~have & has_path
        if todo.any():
            lacking[kind] = todo
        elif kind not in rows.columns and len(rows):
            raise ValidationError(
                "frame", f"no {kind!r} column and no image_path", f"a {kind!r} column or image_path"
            )
    if lacking:
        any_lacking = np.logical_or.reduce([todo.to_numpy() for todo in lacking.values()])
        unique = list(dict.fromkeys(rows.loc[any_lacking, "image_path"].astype(str)))
        hashed = hash_images(unique, kinds=tuple(lacking), hash_size=hash_size)
        for kind, todo in lacking.items():
            lookup = dict(zip(unique, hashed[kind], strict=True))
            if kind not in rows.columns:
                rows[kind] = None
            rows[kind] = rows[kind].astype(object)
            rows.loc[todo, kind] = rows.loc[todo, "image_path"].astype(str).map(lookup)
    if len(rows) == 0:
        for kind in kinds:
            if kind not in rows.columns:
                rows[kind] = pd.Series(dtype=object)
        return rows
    keep = np.ones(len(rows), dtype=bool)
    for kind in kinds:
        keep &= (rows[kind].notna() & (rows[kind].astype(str) != "")).to_numpy()
    return rows[keep]


def hash_bit_count(hashes: pd.Series, kind: str) -> int:
    """Return the number of bits in the ``kind`` hashes of a run (one size per run)."""
    lengths = hashes.astype(str).str.len().unique()
    if len(lengths) != 1:
        raise ValidationError(kind, f"hex lengths {sorted(lengths)}", "one hash size per run")
    return bits_from_hex(kind, int(lengths[0]))


def _cross_prompt_mean(rows: pd.DataFrame, kind: str) -> tuple[float, int]:
    # Sum over prompt pairs of the cross-distance blocks; the full n x n matrix is never needed.
    groups = [g[kind].tolist() for _, g in rows.groupby("prompt", sort=True)]
    total, count = 0, 0
    for i, j in itertools.combinations(range(len(groups)), 2):
        block = cross_distances(groups[i], groups[j])
        total += int(block.sum(dtype=np.int64))
        count += block.size
    return (total / count if count else math.nan), count


def baseline_distance(
    frame: pd.DataFrame, kind: str = "phash", *, hash_size: int = 8
) -> tuple[str, float]:
    """Return ``(name, distance)``: the distance that counts as "unrelated" for this run.

    ``("cross-prompt", d)`` with d the mean Hamming distance between images made for different
    prompts (all arms pooled) when the run holds at least two prompts with images; otherwise
    ``("random", bits / 2)``, the expectation for independent random bits.
    """
    check_argument("kind", kind, KINDS)
    rows = usable_generations(frame, (kind,), hash_size=hash_size)
    return run_baseline(rows, kind)


def run_baseline(rows: pd.DataFrame, kind: str) -> tuple[str, float]:
    """:func:`baseline_distance` of rows already passed through :func:`usable_generations`."""
    if len(rows) == 0:
        return "random", math.nan
    if rows["prompt"].nunique() >= 2:
        mean, count = _cross_prompt_mean(rows, kind)
        if count:
            return "cross-prompt", float(mean)
    return "random", unrelated_distance(hash_bit_count(rows[kind], kind))
