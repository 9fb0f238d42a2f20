"""Which generations of a run count, their hashes, and the distance that counts as unrelated.

A run frame has one row per generation and at least ``arm`` and ``prompt``, plus either hash
columns as :func:`imgkit.analysis.hashing.hash_images` writes them (``phash``, ...) or
``image_path``. :func:`usable_generations` keeps the rows that count (status ``"ok"`` when there
is a status column, and an image) and hashes what is missing; :func:`group_bits` turns each
arm x prompt group's hashes into a 0/1 bit matrix, which is all the statistics need
(:mod:`imgkit.analysis.resampling`); :func:`baseline_distance` measures the run's own
cross-prompt distance, the mean distance between images made for different prompts. That is
the second, run-relative figure of a consistency table; the similarity scale itself is fixed
(:mod:`imgkit.analysis.reference`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd

from imgkit.analysis.hashing import KINDS, bits_from_hex, hash_images, unrelated_distance
from imgkit.analysis.resampling import bit_matrix, pair_count
from imgkit.errors import ValidationError, check_argument

__all__ = [
    "baseline_distance",
    "check_kinds",
    "cross_prompt_distance",
    "group_bits",
    "hash_bit_count",
    "in_run_order",
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


def in_run_order(rows: pd.DataFrame, then: Iterable[str] = ()) -> pd.DataFrame:
    """``rows`` sorted by arm, then by prompt in the order the prompts first appear, then by
    the columns ``then`` that are present (``("repeat",)``); the index is kept.

    A run frame lists its generations in plan order, so its prompts first appear in the run's
    order: tables grouped this way list prompt #1 before prompt #2, as the report numbers them,
    where sorting by the prompt's text would not.
    """
    rank = {prompt: k for k, prompt in enumerate(dict.fromkeys(rows["prompt"]))}
    extra = [c for c in then if c in rows.columns]
    ranked = rows.assign(_prompt_rank=rows["prompt"].map(rank))
    ordered = ranked.sort_values(["arm", "_prompt_rank", *extra], kind="stable")
    return ordered.drop(columns="_prompt_rank")


def hash_bit_count(hashes: pd.Series, kind: str) -> int:
    """Return the number of bits in the ``kind`` hashes of a run (one size per run)."""
    lengths = hashes.astype(str).str.len().unique()
    if len(lengths) != 1:
        raise ValidationError(kind, f"hex lengths {sorted(lengths)}", "one hash size per run")
    return bits_from_hex(kind, int(lengths[0]))


def group_bits(
    rows: pd.DataFrame, kind: str, by: tuple[str, ...] = ("arm", "prompt")
) -> tuple[int, dict[tuple, np.ndarray]]:
    """``(bits, {group key: bit matrix})`` of rows passed through :func:`usable_generations`.

    Each run of hashes is converted once; groups are keyed by the values of ``by`` (sorted).
    """
    if len(rows) == 0:
        return 0, {}
    bits = hash_bit_count(rows[kind], kind)
    matrix = bit_matrix(rows[kind].astype(str).tolist(), bits)
    groups = {}
    # Positions, not index labels: a frame put together by hand may repeat its labels.
    for key, positions in rows.groupby(list(by), sort=True).indices.items():
        key = key if isinstance(key, tuple) else (key,)
        groups[key] = matrix[positions]
    return bits, groups


def cross_prompt_distance(rows: pd.DataFrame, kind: str) -> tuple[float, int]:
    """``(mean, pairs)``: the mean distance between images of different prompts, all arms pooled.

    Counted from bit sums, so it takes time linear in the images: the distance summed over
    every pair of images, less the pairs within one prompt. NaN and 0 pairs with one prompt.
    """
    if len(rows) == 0 or rows["prompt"].nunique() < 2:
        return math.nan, 0
    _bits, groups = group_bits(rows, kind, by=("prompt",))
    ones = [g.sum(axis=0, dtype=np.float64) for g in groups.values()]
    sizes = [g.shape[0] for g in groups.values()]
    total_ones = np.sum(ones, axis=0)
    n = sum(sizes)
    every = float(np.dot(total_ones, n - total_ones))
    within = sum(float(np.dot(o, size - o)) for o, size in zip(ones, sizes, strict=True))
    count = int(pair_count(n) - sum(pair_count(size) for size in sizes))
    return ((every - within) / count if count else math.nan), count


def baseline_distance(
    frame: pd.DataFrame, kind: str = "phash", *, hash_size: int = 8
) -> tuple[str, float]:
    """Return ``(name, distance)``: the run's own "unrelated images" distance.

    ``("cross-prompt", d)`` with d the mean Hamming distance between images made for different
    prompts (all arms pooled) when the run holds at least two prompts with images; otherwise
    ``("random", bits / 2)``, the expectation for independent random bits. The similarity
    scale does not use it (see :mod:`imgkit.analysis.reference`); it is the run-relative
    second figure.
    """
    check_argument("kind", kind, KINDS)
    rows = usable_generations(frame, (kind,), hash_size=hash_size)
    return run_baseline(rows, kind)


def run_baseline(rows: pd.DataFrame, kind: str) -> tuple[str, float]:
    """:func:`baseline_distance` of rows already passed through :func:`usable_generations`."""
    if len(rows) == 0:
        return "random", math.nan
    if rows["prompt"].nunique() >= 2:
        mean, count = cross_prompt_distance(rows, kind)
        if count:
            return "cross-prompt", float(mean)
    return "random", unrelated_distance(hash_bit_count(rows[kind], kind))
