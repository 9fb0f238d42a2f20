"""Which generations of a run count, their values on a measure, and the run's own baseline.

A run frame has one row per generation and at least ``arm`` and ``prompt``, plus either a column
per measure (hash hex strings as :func:`imgkit.analysis.hashing.hash_images` writes them, under
the kind's name; unit feature vectors under the network's name) or ``image_path``.
:func:`usable_generations` keeps the rows that count (status ``"ok"`` when there is a status
column, and an image) and measures what is missing (:mod:`imgkit.analysis.image_features`: kept
in the run folder, so an image is measured once); :func:`group_points` turns each arm x prompt
group's values into points (:meth:`~imgkit.analysis.measures.Measure.points`), which is all the
statistics need (:mod:`imgkit.analysis.resampling`); :func:`baseline_distance` measures the
run's own cross-prompt distance, the mean distance between images made for different prompts.
That is the second, run-relative figure of a consistency table; the similarity scale itself is
fixed (:mod:`imgkit.analysis.reference`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from imgkit.analysis.measures import Measure, parse_measure, parse_measures
from imgkit.analysis.reference import Reference, reference_for
from imgkit.analysis.resampling import pair_count, pair_sum
from imgkit.errors import ValidationError

__all__ = [
    "baseline_distance",
    "cross_prompt_distance",
    "group_distances",
    "group_points",
    "in_run_order",
    "measure_reference",
    "run_baseline",
    "simulated_rows",
    "square_distances",
    "usable_generations",
    "with_similarities",
]

_REQUIRED = ("arm", "prompt")


def _has_value(value: Any) -> bool:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    return not (isinstance(value, str) and value == "")


def _present(column: pd.Series) -> pd.Series:
    """Which cells hold a value (a hex string or a vector; not None, NaN or "")."""
    return column.map(_has_value).astype(bool)


def usable_generations(
    frame: pd.DataFrame,
    kinds: Iterable[Any] | str | Measure = ("phash",),
    *,
    hash_size: int = 8,
) -> pd.DataFrame:
    """Return the rows that count, with a column for every measure in ``kinds``.

    Keeps rows whose ``status`` is ``"ok"`` (when there is a status column) and that have an
    image; measures ``image_path`` for any measure the frame lacks (or lacks for some rows),
    all measures of one image from one read of it, kept in the image's run folder when it has
    one (``image_sha256``, when the frame has it, finds kept values without reading the image).
    The original index is kept, so results can be joined back. Raises
    :class:`ValidationError` when ``arm`` or ``prompt`` is missing, or when a measure has
    neither a column nor image paths to compute it from.
    """
    if not isinstance(frame, pd.DataFrame):
        raise ValidationError("frame", type(frame).__name__, "a pandas DataFrame")
    measures = parse_measures(kinds, hash_size=hash_size)
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
    lacking: dict[Measure, pd.Series] = {}
    for measure in measures:
        column = measure.name
        have = (
            _present(rows[column]) if column in rows.columns else pd.Series(False, index=rows.index)
        )
        todo = ~have & has_path
        if todo.any():
            lacking[measure] = todo
        elif column not in rows.columns and len(rows):
            raise ValidationError(
                "frame",
                f"no {column!r} column and no image_path",
                f"a {column!r} column or image_path",
            )
    if lacking:
        from imgkit.analysis.image_features import measure_images

        any_lacking = np.logical_or.reduce([todo.to_numpy() for todo in lacking.values()])
        wanted = rows.loc[any_lacking]
        unique = list(dict.fromkeys(wanted["image_path"].astype(str)))
        digests = None
        if "image_sha256" in wanted.columns:
            by_path = dict(
                zip(wanted["image_path"].astype(str), wanted["image_sha256"], strict=True)
            )
            digests = [by_path[p] if isinstance(by_path[p], str) else None for p in unique]
        values = measure_images(tuple(lacking), unique, digests)
        for measure, todo in lacking.items():
            lookup = dict(zip(unique, values[measure], strict=True))
            column = measure.name
            if column not in rows.columns:
                rows[column] = None
            rows[column] = rows[column].astype(object)
            chosen = rows.index[todo.to_numpy()]
            rows.loc[chosen, column] = pd.Series(
                [lookup[p] for p in rows.loc[chosen, "image_path"].astype(str)],
                index=chosen,
                dtype=object,
            )
    if len(rows) == 0:
        for measure in measures:
            if measure.name not in rows.columns:
                rows[measure.name] = pd.Series(dtype=object)
        return rows
    keep = np.ones(len(rows), dtype=bool)
    for measure in measures:
        keep &= _present(rows[measure.name]).to_numpy()
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


def measure_reference(rows: pd.DataFrame, measure: Measure) -> Reference:
    """The fixed scale of ``measure`` for rows passed through :func:`usable_generations` (a
    hash's scale depends on the bits its hashes have)."""
    if measure.learned or len(rows) == 0:
        return reference_for(measure)
    return reference_for(measure, measure.bits_of(rows[measure.name].astype(str)))


def group_points(
    rows: pd.DataFrame, measure: Measure, by: tuple[str, ...] = ("arm", "prompt")
) -> dict[tuple, np.ndarray]:
    """``{group key: points}`` of rows passed through :func:`usable_generations`.

    All values are turned into points once; groups are keyed by the values of ``by`` (sorted).
    """
    if len(rows) == 0:
        return {}
    points = measure.points(rows[measure.name].tolist())
    groups = {}
    # Positions, not index labels: a frame put together by hand may repeat its labels.
    for key, positions in rows.groupby(list(by), sort=True).indices.items():
        key = key if isinstance(key, tuple) else (key,)
        groups[key] = points[positions]
    return groups


def group_distances(points: np.ndarray) -> np.ndarray:
    """The distances of every pair of a group's points (``i < j``, row-major), in the measure's
    unit: whole numbers of bits for hashes, cosine distances for features."""
    n = points.shape[0]
    if n < 2:
        return np.zeros(0)
    wide = points.astype(np.float64)
    lengths = np.einsum("ij,ij->i", wide, wide)
    if n <= _DISTANCE_BLOCK:
        squared = lengths[:, None] + lengths[None, :] - 2.0 * (wide @ wide.T)
        i, j = np.triu_indices(n, k=1)
        distances = np.maximum(squared[i, j], 0.0)
    else:
        # Rows a block at a time: the whole n x n matrix, its index arrays and temporaries
        # took about 0.8 GB at 5,000 images (`imgkit consistency RUN/images`), where the
        # pairs themselves are 100 MB. (A block's product may round a distance's last bit
        # differently from the whole matrix's.)
        distances = np.empty(n * (n - 1) // 2)
        at = 0
        for start in range(0, n, _DISTANCE_BLOCK):
            stop = min(n, start + _DISTANCE_BLOCK)
            block = lengths[start:stop, None] + lengths[None, :] - 2.0 * (wide[start:stop] @ wide.T)
            for row in range(start, stop):
                later = block[row - start, row + 1 :]
                distances[at : at + later.size] = later
                at += later.size
        np.maximum(distances, 0.0, out=distances)
    return np.rint(distances) if points.dtype == np.float32 else distances


#: Groups of more images than this have their pair distances computed a block of rows at a time.
_DISTANCE_BLOCK = 2048


def square_distances(points: np.ndarray) -> np.ndarray:
    """The symmetric ``(n, n)`` matrix of the points' distances (:func:`group_distances`)."""
    n = points.shape[0]
    square = np.zeros((n, n))
    if n >= 2:
        square[np.triu_indices(n, k=1)] = group_distances(points)
        square = square + square.T
    return square


def cross_prompt_distance(rows: pd.DataFrame, measure: Measure) -> tuple[float, int]:
    """``(mean, pairs)``: the mean distance between images of different prompts, all arms pooled.

    Taken from pair sums, so it costs time linear in the images: the distance summed over every
    pair of images, less the pairs within one prompt. NaN and 0 pairs with one prompt.
    """
    if len(rows) == 0 or rows["prompt"].nunique() < 2:
        return math.nan, 0
    groups = group_points(rows, measure, by=("prompt",))
    every = pair_sum(np.vstack(list(groups.values())))
    within = sum(pair_sum(g) for g in groups.values())
    sizes = [g.shape[0] for g in groups.values()]
    count = int(pair_count(sum(sizes)) - sum(pair_count(size) for size in sizes))
    return ((every - within) / count if count else math.nan), count


def baseline_distance(
    frame: pd.DataFrame, kind: Any = "phash", *, hash_size: int = 8
) -> tuple[str, float]:
    """Return ``(name, distance)``: the run's own "unrelated images" distance.

    ``("cross-prompt", d)`` with d the mean distance between images made for different prompts
    (all arms pooled) when the run holds at least two prompts with images; otherwise
    ``("random", r)``: the expectation for unrelated random values (half the bits of a hash;
    a cosine distance of 1 for feature vectors of random direction). The similarity scale does
    not use it (see :mod:`imgkit.analysis.reference`); it is the run-relative second figure.
    """
    measure = parse_measure(kind, hash_size=hash_size)
    rows = usable_generations(frame, (measure,))
    return run_baseline(rows, measure)


def run_baseline(rows: pd.DataFrame, measure: Measure) -> tuple[str, float]:
    """:func:`baseline_distance` of rows already passed through :func:`usable_generations`."""
    if len(rows) == 0:
        return "random", math.nan
    if rows["prompt"].nunique() >= 2:
        mean, count = cross_prompt_distance(rows, measure)
        if count:
            return "cross-prompt", float(mean)
    if measure.learned:
        return "random", 1.0
    return "random", measure.bits_of(rows[measure.name].astype(str)) / 2


def simulated_rows(rows: pd.DataFrame) -> bool:
    """Whether any of the rows came from the simulator (a ``simulated`` column says so)."""
    return "simulated" in rows.columns and bool(rows["simulated"].fillna(False).astype(bool).any())


def with_similarities(frame: pd.DataFrame, kinds: Any) -> pd.DataFrame:
    """``frame`` with, per measure in ``kinds``, its values and ``<measure>_similarity``: each
    image's mean similarity to the other images of its arm and prompt on the fixed scale (NaN
    for an image alone in its group, or a generation without an image)."""
    measures = parse_measures(kinds)
    rows = usable_generations(frame, measures)
    out = frame.copy()
    for measure in measures:
        values = pd.Series([None] * len(out), index=out.index, dtype=object)
        values.loc[rows.index] = pd.Series(list(rows[measure.name]), index=rows.index)
        out[measure.name] = values
        similarity = pd.Series(math.nan, index=out.index, dtype=float)
        reference = measure_reference(rows, measure) if len(rows) else None
        for _key, group in rows.groupby(["arm", "prompt"], sort=False):
            if len(group) < 2 or reference is None:
                continue
            square = square_distances(measure.points(group[measure.name].tolist()))
            means = square.sum(axis=1) / (len(group) - 1)
            similarity.loc[group.index] = [reference.similarity(float(m)) for m in means]
        out[f"{measure.name}_similarity"] = similarity
    return out
