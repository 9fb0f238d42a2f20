"""How alike a model's images are when it is sent the same prompt again and again.

DataFrame in, DataFrame (or a result object) out; nothing here draws. The input is a run frame
with one row per generation and at least ``arm`` and ``prompt``, plus either hash columns as
:func:`imgkit.analysis.hashing.hash_images` writes them (``phash``, ...) or ``image_path`` (then the
images are hashed here). When a ``status`` column is present only rows with status ``"ok"``
count, and a row counts only if it has an image (a hash or a path).

Distances are Hamming distances between perceptual hashes. A group's *similarity* rescales its
mean pairwise distance so that 1 means identical images and 0 means "as far apart as unrelated
images": ``similarity = clip(1 - mean_distance / baseline_distance, 0, 1)``. The baseline is
measured on the run itself when it holds several prompts (the mean distance between images made
for *different* prompts, over all arms, so every arm is judged by the same yardstick and
similarities of two arms compare like their mean distances); with a single prompt it falls back
to the random-bit expectation of ``bits / 2`` (:func:`imgkit.analysis.hashing.unrelated_distance`).

Pairwise distances within a group are not independent (every image is in n - 1 pairs), so the
confidence intervals resample images (a bootstrap over images, Efron & Tibshirani 1993, ch. 6)
and the arm comparison permutes image labels (a permutation test, Good 2005), never pairs.

This module holds the tables and distance views; the parts they share have modules of their own,
whose public names are importable from here too:

- :mod:`imgkit.analysis.generations`: which rows count, their hashes, the baseline distance;
- :mod:`imgkit.analysis.resampling`: the bootstrap over images and the relabellings;
- :mod:`imgkit.analysis.comparison`: :func:`compare_arms`, one arm against another.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from imgkit.analysis.comparison import ArmComparison, compare_arms
from imgkit.analysis.generations import (
    baseline_distance,
    check_kinds,
    hash_bit_count,
    run_baseline,
    usable_generations,
)
from imgkit.analysis.hashing import KINDS, distance_matrix
from imgkit.analysis.resampling import (
    bootstrap_means,
    check_resampling_arguments,
    pair_values,
    percentile_interval,
    similarity_score,
)
from imgkit.errors import ValidationError, check_argument

# ArmComparison, compare_arms, baseline_distance and usable_generations live in their own
# modules and are re-exported here, where they have always been imported from.
__all__ = [
    "DEFAULT_NEAR_DUPLICATE",
    "IMAGE_SUFFIXES",
    "ArmComparison",
    "baseline_distance",
    "compare_arms",
    "consistency_for_paths",
    "consistency_table",
    "pairwise_distances",
    "usable_generations",
    "within_arm_distances",
]

#: Default near-duplicate threshold, as a share of the hash's bits: distance <= 10% of the bits
#: (6 of 64 for phash). Resizing, mild JPEG recompression, a 1-degree rotation or a small
#: brightness change of one photo stay under it (see tests/test_hashing.py), while different
#: photos land far above it.
DEFAULT_NEAR_DUPLICATE = 0.10

#: File suffixes :func:`consistency_for_paths` treats as images when it walks a folder.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff")


# --------------------------------------------------------------------------------------------
# The consistency table


def consistency_table(
    frame: pd.DataFrame,
    kinds: Iterable[str] | str = KINDS,
    near_duplicate: float = DEFAULT_NEAR_DUPLICATE,
    n_boot: int = 2000,
    seed: int = 0,
    *,
    confidence: float = 0.95,
    hash_size: int = 8,
) -> pd.DataFrame:
    """Score how consistent each arm is on each prompt; one row per arm, prompt and hash kind.

    Columns: ``arm``, ``prompt``, ``kind``, ``n_images``, ``n_pairs``, ``mean_distance``,
    ``median_distance`` (Hamming bits), ``similarity`` (0..1, see the module docstring),
    ``ci_low`` / ``ci_high`` (percentile bootstrap interval of the similarity at
    ``confidence``, resampling images, ``n_boot`` replicates, seeded by ``seed``; the baseline
    is held fixed), ``near_duplicate_share`` (share of pairs at most ``near_duplicate_bits``
    apart, i.e. ``floor(near_duplicate * bits)``), ``baseline`` ("cross-prompt" or "random"),
    ``baseline_distance``, ``bits``, and ``simulated`` when the input has that column (true if
    any image of the group came from the simulator). Groups with one image have NaN statistics.

    Raises :class:`ValidationError` for unknown kinds, a frame without arm/prompt, or
    out-of-range parameters.
    """
    kinds = check_kinds(kinds)
    check_resampling_arguments(n_boot, confidence, near_duplicate)
    rows = usable_generations(frame, kinds, hash_size=hash_size)
    records: list[dict[str, Any]] = []
    for kind in kinds:
        if len(rows) == 0:
            break
        baseline_name, baseline = run_baseline(rows, kind)
        bits = hash_bit_count(rows[kind], kind)
        threshold = math.floor(near_duplicate * bits)
        for (arm, prompt), group in rows.groupby(["arm", "prompt"], sort=True):
            matrix = distance_matrix(group[kind].tolist())
            pairs = pair_values(matrix)
            record: dict[str, Any] = {
                "arm": arm,
                "prompt": prompt,
                "kind": kind,
                "n_images": len(group),
                "n_pairs": pairs.size,
            }
            if pairs.size:
                mean = float(pairs.mean())
                # Same seed for every group: a group's interval does not depend on which other
                # groups happen to be in the table.
                boots = bootstrap_means([matrix], n_boot, np.random.default_rng(seed))
                low, high = percentile_interval(
                    np.asarray(similarity_score(boots, baseline)), confidence
                )
                record.update(
                    mean_distance=mean,
                    median_distance=float(np.median(pairs)),
                    similarity=float(similarity_score(mean, baseline)),
                    ci_low=low,
                    ci_high=high,
                    near_duplicate_share=float(np.mean(pairs <= threshold)),
                )
            else:
                record.update(
                    mean_distance=math.nan,
                    median_distance=math.nan,
                    similarity=math.nan,
                    ci_low=math.nan,
                    ci_high=math.nan,
                    near_duplicate_share=math.nan,
                )
            record.update(
                near_duplicate_bits=threshold,
                baseline=baseline_name,
                baseline_distance=baseline,
                bits=bits,
            )
            if "simulated" in group.columns:
                record["simulated"] = bool(group["simulated"].fillna(False).astype(bool).any())
            records.append(record)
    columns = [
        "arm",
        "prompt",
        "kind",
        "n_images",
        "n_pairs",
        "mean_distance",
        "median_distance",
        "similarity",
        "ci_low",
        "ci_high",
        "near_duplicate_share",
        "near_duplicate_bits",
        "baseline",
        "baseline_distance",
        "bits",
    ]
    if "simulated" in rows.columns:
        columns.append("simulated")
    table = pd.DataFrame.from_records(records, columns=columns)
    table.attrs.update(
        n_boot=n_boot, seed=seed, confidence=confidence, near_duplicate=near_duplicate
    )
    return table


# --------------------------------------------------------------------------------------------
# Distances for plots


def pairwise_distances(
    frame: pd.DataFrame,
    arm: str,
    prompt: str | None = None,
    kind: str = "phash",
    *,
    hash_size: int = 8,
) -> pd.DataFrame:
    """Return the labelled square matrix of distances between one arm's images.

    With ``prompt`` only that prompt's images; without it, all of the arm's images ordered by
    prompt then repeat. Labels are ``"r<repeat>"`` (or the row index when there is no
    ``repeat`` column), prefixed with the prompt's position ``"p<k> "`` when several prompts
    are shown. ``frame.attrs`` holds ``simulated`` (bool) and ``prompts`` (list).
    Raises :class:`ValidationError` for an unknown arm, prompt or kind.
    """
    check_argument("kind", kind, KINDS)
    rows = usable_generations(frame, (kind,), hash_size=hash_size)
    check_argument("arm", arm, sorted(rows["arm"].unique()))
    rows = rows[rows["arm"] == arm]
    if prompt is not None:
        check_argument("prompt", prompt, sorted(rows["prompt"].unique()))
        rows = rows[rows["prompt"] == prompt]
    order = ["prompt", "repeat"] if "repeat" in rows.columns else ["prompt"]
    rows = rows.sort_values(order, kind="stable")
    prompts = list(dict.fromkeys(rows["prompt"]))
    number = {p: k for k, p in enumerate(prompts, start=1)}
    labels = []
    for index, row in rows.iterrows():
        label = f"r{row['repeat']}" if "repeat" in rows.columns else str(index)
        labels.append(f"p{number[row['prompt']]} {label}" if len(prompts) > 1 else label)
    matrix = pd.DataFrame(distance_matrix(rows[kind].tolist()), index=labels, columns=labels)
    simulated = "simulated" in rows.columns and bool(rows["simulated"].fillna(False).any())
    matrix.attrs.update(simulated=simulated, prompts=prompts, arm=arm, kind=kind)
    return matrix


def within_arm_distances(
    frame: pd.DataFrame, kind: str = "phash", *, hash_size: int = 8
) -> pd.DataFrame:
    """Return every within-arm, within-prompt pair as a long frame.

    Columns ``arm``, ``prompt``, ``index_a``, ``index_b`` (row labels of the input frame) and
    ``distance``. ``frame.attrs`` holds the run's ``baseline`` name and ``baseline_distance``
    (see :func:`baseline_distance`), ``bits`` and ``simulated``.
    """
    check_argument("kind", kind, KINDS)
    rows = usable_generations(frame, (kind,), hash_size=hash_size)
    parts = []
    for (arm, prompt), group in rows.groupby(["arm", "prompt"], sort=True):
        if len(group) < 2:
            continue
        matrix = distance_matrix(group[kind].tolist())
        i, j = np.triu_indices(len(group), k=1)
        parts.append(
            pd.DataFrame(
                {
                    "arm": arm,
                    "prompt": prompt,
                    "index_a": group.index.to_numpy()[i],
                    "index_b": group.index.to_numpy()[j],
                    "distance": matrix[i, j].astype(int),
                }
            )
        )
    columns = ["arm", "prompt", "index_a", "index_b", "distance"]
    pairs = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
    name, value = run_baseline(rows, kind)
    simulated = "simulated" in rows.columns and bool(rows["simulated"].fillna(False).any())
    pairs.attrs.update(
        baseline=name,
        baseline_distance=value,
        bits=hash_bit_count(rows[kind], kind) if len(rows) else math.nan,
        simulated=simulated,
        kind=kind,
    )
    return pairs


# --------------------------------------------------------------------------------------------
# Any folder of images


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def consistency_for_paths(
    paths: Iterable[str | os.PathLike] | str | os.PathLike,
    kinds: Iterable[str] | str = KINDS,
    near_duplicate: float = DEFAULT_NEAR_DUPLICATE,
    n_boot: int = 2000,
    seed: int = 0,
    *,
    hash_size: int = 8,
) -> pd.DataFrame:
    """Score any images for consistency; return :func:`consistency_table`'s frame.

    Each argument is an image file or a folder. A folder's own images form one arm named by the
    folder path as given; each immediate subfolder holding images forms a further arm named
    ``<folder>/<subfolder>`` (so ``runs/x`` with ``dalle3/`` and ``gpt/`` inside gives two
    arms). Image files given directly form the arm ``"files"``. Only files with a suffix in
    :data:`IMAGE_SUFFIXES` are taken from folders. All images count as one prompt (``""``), so
    the baseline is the random one (bits / 2). Raises :class:`ValidationError` when a path does
    not exist or no image is found.
    """
    paths = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
    records = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            arms = [(os.fspath(given), _images_in(path))]
            for sub in sorted(p for p in path.iterdir() if p.is_dir()):
                arms.append((f"{os.fspath(given).rstrip('/')}/{sub.name}", _images_in(sub)))
            for arm, files in arms:
                records += [{"arm": arm, "prompt": "", "image_path": str(f)} for f in files]
        elif path.is_file():
            records.append({"arm": "files", "prompt": "", "image_path": str(path)})
        else:
            raise ValidationError(
                "paths", os.fspath(given), "existing image files or folders", detail="not found"
            )
    if not records:
        raise ValidationError(
            "paths",
            [os.fspath(p) for p in paths],
            f"files or folders holding images ({', '.join(IMAGE_SUFFIXES)})",
            detail="no image found",
        )
    frame = pd.DataFrame.from_records(records)
    return consistency_table(
        frame, kinds, near_duplicate=near_duplicate, n_boot=n_boot, seed=seed, hash_size=hash_size
    )
