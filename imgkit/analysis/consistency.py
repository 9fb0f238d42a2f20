"""How alike a model's images are when it is sent the same prompt again and again.

DataFrame in, DataFrame (or a result object) out; nothing here draws. The input is a run frame
with one row per generation and at least ``arm`` and ``prompt``, plus either a column per
measure (hash hex strings as :func:`imgkit.analysis.hashing.hash_images` writes them; feature
vectors) or ``image_path`` (then the images are measured here, once, and the values kept in
their run folder). When a ``status`` column is present only rows with status ``"ok"`` count,
and a row counts only if it has an image.

Distances come from a *measure* (:mod:`imgkit.analysis.measures`): by default the cosine
distance between an ImageNet network's learned features, which sees what a person sees (the
same subject, pose and look), and beside it the Hamming distances between perceptual hashes,
which find near-duplicates. A group's *similarity* rescales its mean pairwise distance on a
fixed scale: ``similarity = clip(1 - mean_distance / reference, 0, 1)``, where the reference is
the mean distance between unrelated natural photographs, calibrated once per measure
(:mod:`imgkit.analysis.reference`). So 1 means identical images, 0 means "as far apart as
unrelated photographs", and a number means the same in every run. When the run holds several
prompts, the run's own cross-prompt distance (the mean distance between images made for
different prompts) is shown beside it as a second, run-relative figure.

Pairwise distances within a group are not independent (every image is in n - 1 pairs), so the
confidence intervals resample images (a bootstrap over images, Efron & Tibshirani 1993, ch. 6)
and the arm comparisons permute image labels (a permutation test, Good 2005), never pairs.
Everything is computed from each image's point in time linear in the images
(:mod:`imgkit.analysis.resampling`); only the median and the near-duplicate share of a group
take its pairs.

This module holds the tables and distance views; the parts they share have modules of their own,
whose public names are importable from here too:

- :mod:`imgkit.analysis.generations`: which rows count, and their values as points;
- :mod:`imgkit.analysis.measures`: the measures;
- :mod:`imgkit.analysis.reference`: the fixed scale;
- :mod:`imgkit.analysis.resampling`: the bootstrap over images and the relabellings;
- :mod:`imgkit.analysis.comparison`: :func:`compare_arms`, one arm against another;
- :mod:`imgkit.analysis.sweep`: :func:`compare_all`, every arm against every other, corrected
  for multiple comparisons, with an omnibus test and a ranking.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from imgkit.analysis.blas import one_blas_thread
from imgkit.analysis.comparison import ArmComparison, compare_arms, group_rng
from imgkit.analysis.generations import (
    baseline_distance,
    cross_prompt_distance,
    group_distances,
    group_points,
    in_run_order,
    measure_reference,
    simulated_rows,
    square_distances,
    usable_generations,
)
from imgkit.analysis.measures import DEFAULT_MEASURE, DEFAULT_MEASURES, Measure, parse_measures
from imgkit.analysis.reference import DEFAULT_NEAR_DUPLICATE, Reference
from imgkit.analysis.resampling import (
    bootstrap_pair_sums,
    check_resampling_arguments,
    pair_count,
    pair_sum,
    percentile_interval,
    similarity_score,
)
from imgkit.analysis.sweep import SweepComparison, compare_all
from imgkit.errors import ValidationError, check_argument

# ArmComparison, compare_arms, compare_all, baseline_distance and usable_generations live in
# their own modules and are re-exported here, where analysis code imports them from.
__all__ = [
    "DEFAULT_KINDS",
    "DEFAULT_NEAR_DUPLICATE",
    "IMAGE_SUFFIXES",
    "ArmComparison",
    "SweepComparison",
    "baseline_distance",
    "compare_all",
    "compare_arms",
    "consistency_for_paths",
    "consistency_table",
    "distance_histogram",
    "group_distances",
    "pairwise_distances",
    "usable_generations",
    "within_arm_distances",
]

#: The measures tables and reports use unless told otherwise, by name: the learned measure
#: first (what a person sees), then the hashes that find near-duplicates.
DEFAULT_KINDS: tuple[str, ...] = tuple(m.name for m in DEFAULT_MEASURES)

#: File suffixes :func:`consistency_for_paths` treats as images when it walks a folder.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff")

_COLUMNS = [
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
    "near_duplicate_distance",
    "unit",
    "reference",
    "reference_distance",
    "cross_prompt_distance",
    "cross_prompt_similarity",
    "bits",
    "detects",
]


# --------------------------------------------------------------------------------------------
# The consistency table


def near_duplicate_distance(measure: Measure, reference: Reference, near_duplicate: float) -> float:
    """The largest distance that counts as a near duplicate: ``near_duplicate x reference``,
    rounded down to whole bits for a hash."""
    limit = near_duplicate * reference.distance
    return float(math.floor(limit + 1e-9)) if not measure.learned else limit


@one_blas_thread()  # small products: see imgkit.analysis.blas
def consistency_table(
    frame: pd.DataFrame,
    kinds: Iterable[Any] | str = DEFAULT_KINDS,
    near_duplicate: float = DEFAULT_NEAR_DUPLICATE,
    n_boot: int = 2000,
    seed: int = 0,
    *,
    confidence: float = 0.95,
    hash_size: int = 8,
) -> pd.DataFrame:
    """Score how consistent each arm is on each prompt; one row per arm, prompt and measure.

    ``kinds`` are measures (:mod:`imgkit.analysis.measures`): by default the learned measure of
    the embedded network first, which sees what a person sees, then the hashes, which find
    near-duplicates. Rows go by measure, then arm (sorted), then prompt in the order the prompts
    first appear in ``frame`` (a run's own order).

    Columns: ``arm``, ``prompt``, ``kind`` (the measure's name), ``n_images``, ``n_pairs``,
    ``mean_distance``, ``median_distance`` (in ``unit``: bits, or cosine distance),
    ``similarity`` (0..1 on the fixed scale, see the module docstring), ``ci_low`` /
    ``ci_high`` (percentile bootstrap interval of the similarity at ``confidence``, resampling
    images, ``n_boot`` replicates, seeded by ``seed``), ``near_duplicate_share`` (share of pairs
    at most ``near_duplicate_distance`` apart: ``near_duplicate x reference_distance``, whole
    bits for hashes), ``reference`` (the calibration's name) and ``reference_distance`` (its
    "unrelated photographs" distance), ``cross_prompt_distance`` and ``cross_prompt_similarity``
    (the run-relative figure: against the run's own mean distance between images of different
    prompts; NaN with one prompt), ``bits`` (of a hash; 0 for features), ``detects`` (what the
    measure sees, in words), and ``simulated`` when the input has that column (true if any image
    of the group came from the simulator). Groups with one image have NaN statistics.

    Raises :class:`ValidationError` for unknown measures, a frame without arm/prompt, or
    out-of-range parameters.
    """
    measures = parse_measures(kinds, hash_size=hash_size)
    check_resampling_arguments(n_boot, confidence, near_duplicate)
    rows = in_run_order(usable_generations(frame, measures))
    records: list[dict[str, Any]] = []
    for measure in measures:
        if len(rows) == 0:
            break
        groups = group_points(rows, measure)
        reference = measure_reference(rows, measure)
        cross, _ = cross_prompt_distance(rows, measure)
        threshold = near_duplicate_distance(measure, reference, near_duplicate)
        for (arm, prompt), members in rows.groupby(["arm", "prompt"], sort=False):
            points = groups[(arm, prompt)]
            n = points.shape[0]
            record: dict[str, Any] = {
                "arm": arm,
                "prompt": prompt,
                "kind": measure.name,
                "n_images": n,
                "n_pairs": int(pair_count(n)),
            }
            if n >= 2:
                mean = pair_sum(points) / pair_count(n)
                distances = group_distances(points)
                # Seeded by the group's names: its interval does not depend on which other groups
                # are in the table, and matches compare_arms' for the same group.
                rng = group_rng(seed, "boot", str(arm), str(prompt))
                sums, pairs = bootstrap_pair_sums(points, n_boot, rng)
                with np.errstate(invalid="ignore", divide="ignore"):
                    boots = np.where(pairs > 0, sums / np.maximum(pairs, 1), np.nan)
                low, high = percentile_interval(
                    np.asarray(similarity_score(boots, reference.distance)), confidence
                )
                record.update(
                    mean_distance=mean,
                    median_distance=float(np.median(distances)),
                    similarity=reference.similarity(mean),
                    ci_low=low,
                    ci_high=high,
                    near_duplicate_share=float(np.mean(distances <= threshold + 1e-12)),
                    cross_prompt_similarity=float(similarity_score(mean, cross)),
                )
            else:
                record.update(
                    mean_distance=math.nan,
                    median_distance=math.nan,
                    similarity=math.nan,
                    ci_low=math.nan,
                    ci_high=math.nan,
                    near_duplicate_share=math.nan,
                    cross_prompt_similarity=math.nan,
                )
            record.update(
                near_duplicate_distance=threshold,
                unit=measure.unit,
                reference=reference.name,
                reference_distance=reference.distance,
                cross_prompt_distance=cross,
                bits=reference.bits,
                detects=measure.detects,
            )
            if "simulated" in rows.columns:
                record["simulated"] = simulated_rows(members)
            records.append(record)
    columns = [*_COLUMNS, *(["simulated"] if "simulated" in rows.columns else [])]
    table = pd.DataFrame.from_records(records, columns=columns)
    table.attrs.update(
        n_boot=n_boot, seed=seed, confidence=confidence, near_duplicate=near_duplicate
    )
    return table


def _prepared(frame: pd.DataFrame, kind: Any, hash_size: int) -> tuple[Measure, pd.DataFrame]:
    (measure,) = parse_measures(kind, hash_size=hash_size, param="kind")
    return measure, usable_generations(frame, (measure,))


def distance_histogram(
    frame: pd.DataFrame, kind: Any = DEFAULT_MEASURE, *, hash_size: int = 8
) -> pd.DataFrame:
    """Return, per arm, how many within-prompt pairs lie at each distance; one row per arm and
    distance bin.

    Columns ``arm``, ``distance`` (a hash's whole bits 0..bits; for features the centre of a
    bin of the reference's ``histogram_bin``), ``pairs`` and ``share`` (of the arm's pairs).
    Pairs are only formed within an arm x prompt group. ``frame.attrs`` holds the fixed
    ``reference`` (a :class:`~imgkit.analysis.reference.Reference`: its ``histogram`` is the
    unrelated photographs' distances, in the same bins), ``bits``, ``bin``, ``unit``, ``kind``
    (the measure's name), ``title`` and ``simulated``.
    """
    measure, rows = _prepared(frame, kind, hash_size)
    records = []
    reference = measure_reference(rows, measure) if len(rows) else None
    if reference is not None:
        width = reference.histogram_bin
        bins = len(reference.histogram) if measure.learned else reference.bits + 1
        per_arm: dict[str, np.ndarray] = {}
        for (arm, _prompt), points in group_points(rows, measure).items():
            index = np.floor(group_distances(points) / width + 1e-9).astype(int)
            counts = np.bincount(np.clip(index, 0, bins - 1), minlength=bins)
            per_arm[arm] = per_arm.get(arm, 0) + counts
        for arm, counts in per_arm.items():
            total = counts.sum()
            for position, pairs in enumerate(counts):
                records.append(
                    {
                        "arm": arm,
                        "distance": position * width + (width / 2 if measure.learned else 0),
                        "pairs": int(pairs),
                        "share": float(pairs / total) if total else math.nan,
                    }
                )
    histogram = pd.DataFrame.from_records(records, columns=["arm", "distance", "pairs", "share"])
    histogram.attrs.update(
        reference=reference,
        bits=reference.bits if reference else 0,
        bin=reference.histogram_bin if reference else 1.0,
        unit=measure.unit,
        simulated=simulated_rows(rows),
        kind=measure.name,
        title=measure.title,
    )
    return histogram


# --------------------------------------------------------------------------------------------
# Distances for plots


def pairwise_distances(
    frame: pd.DataFrame,
    arm: str,
    prompt: str | None = None,
    kind: Any = DEFAULT_MEASURE,
    *,
    hash_size: int = 8,
) -> pd.DataFrame:
    """Return the labelled square matrix of distances between one arm's images.

    With ``prompt`` only that prompt's images; without it, all of the arm's images ordered by
    prompt (in the run's order, :func:`~imgkit.analysis.generations.in_run_order`) then
    repeat. Labels are ``"r<repeat>"`` (or the row index when there is no
    ``repeat`` column), prefixed with the prompt's position ``"p<k> "`` when several prompts
    are shown. ``frame.attrs`` holds ``simulated`` (bool), ``prompts`` (list), ``kind``,
    ``title``, ``unit`` and ``reference_distance`` (where similarity is 0).
    Raises :class:`ValidationError` for an unknown arm, prompt or kind.
    """
    measure, rows = _prepared(frame, kind, hash_size)
    check_argument("arm", arm, sorted(rows["arm"].unique()))
    reference = measure_reference(rows, measure)
    rows = rows[rows["arm"] == arm]
    if prompt is not None:
        check_argument("prompt", prompt, sorted(rows["prompt"].unique()))
        rows = rows[rows["prompt"] == prompt]
    rows = in_run_order(rows, then=("repeat",))
    prompts = list(dict.fromkeys(rows["prompt"]))
    number = {p: k for k, p in enumerate(prompts, start=1)}
    labels = []
    for index, row in rows.iterrows():
        label = f"r{row['repeat']}" if "repeat" in rows.columns else str(index)
        labels.append(f"p{number[row['prompt']]} {label}" if len(prompts) > 1 else label)
    square = square_distances(measure.points(rows[measure.name].tolist()))
    if not measure.learned:
        square = square.astype(int)
    matrix = pd.DataFrame(square, index=labels, columns=labels)
    matrix.attrs.update(
        simulated=simulated_rows(rows),
        prompts=prompts,
        arm=arm,
        kind=measure.name,
        title=measure.title,
        unit=measure.unit,
        reference_distance=reference.distance,
    )
    return matrix


def within_arm_distances(
    frame: pd.DataFrame, kind: Any = DEFAULT_MEASURE, *, hash_size: int = 8
) -> pd.DataFrame:
    """Return every within-arm, within-prompt pair as a long frame.

    Columns ``arm``, ``prompt``, ``index_a``, ``index_b`` (row labels of the input frame) and
    ``distance`` (in the measure's unit). ``frame.attrs`` holds ``baseline`` (the fixed
    reference's name) and ``baseline_distance`` (its "unrelated photographs" distance, see
    :mod:`imgkit.analysis.reference`), the run's ``cross_prompt_distance``, ``bits``, ``unit``,
    ``kind``, ``title`` and ``simulated``. Builds every pair: for large groups prefer
    :func:`distance_histogram`.
    """
    measure, rows = _prepared(frame, kind, hash_size)
    parts = []
    for (arm, prompt), group in rows.groupby(["arm", "prompt"], sort=True):
        if len(group) < 2:
            continue
        distances = group_distances(measure.points(group[measure.name].tolist()))
        i, j = np.triu_indices(len(group), k=1)
        parts.append(
            pd.DataFrame(
                {
                    "arm": arm,
                    "prompt": prompt,
                    "index_a": group.index.to_numpy()[i],
                    "index_b": group.index.to_numpy()[j],
                    "distance": distances if measure.learned else distances.astype(int),
                }
            )
        )
    columns = ["arm", "prompt", "index_a", "index_b", "distance"]
    pairs = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
    reference = measure_reference(rows, measure) if len(rows) else None
    pairs.attrs.update(
        baseline=reference.name if reference else "reference",
        baseline_distance=reference.distance if reference else math.nan,
        cross_prompt_distance=cross_prompt_distance(rows, measure)[0],
        bits=(reference.bits or math.nan) if reference else math.nan,
        unit=measure.unit,
        simulated=simulated_rows(rows),
        kind=measure.name,
        title=measure.title,
    )
    return pairs


# --------------------------------------------------------------------------------------------
# Any folder of images


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _run_folder_records(path: Path, prefix: str) -> list[dict[str, Any]]:
    """The generations of a run folder that have an image: arm (after ``prefix``), prompt,
    image path and whether the simulator made it, in plan order."""
    from imgkit.runs.folder import open_run

    frame = open_run(path).to_frame()
    rows = frame[(frame["status"] == "ok") & frame["image_path"].notna()]
    return [
        {
            "arm": f"{prefix}{row.arm}",
            "prompt": row.prompt,
            "image_path": row.image_path,
            "simulated": bool(row.simulated),
        }
        for row in rows.itertuples()
    ]


def consistency_for_paths(
    paths: Iterable[str | os.PathLike] | str | os.PathLike,
    kinds: Iterable[Any] | str = DEFAULT_KINDS,
    near_duplicate: float = DEFAULT_NEAR_DUPLICATE,
    n_boot: int = 2000,
    seed: int = 0,
    *,
    hash_size: int = 8,
) -> pd.DataFrame:
    """Score any images for consistency; return :func:`consistency_table`'s frame.

    Each argument is an image file or a folder. A run folder written by ``imgkit drill`` (it
    holds a manifest) is scored as its report scores it: each arm on each prompt, from its
    ledger, with its ``simulated`` flags (its images sit side by side in ``images/``, so as a
    plain folder they would be one pile of every arm and prompt); when several paths are given
    its arms are named ``<folder>: <arm>``. Any other folder's own images form one arm named by
    the folder path as given; each immediate subfolder holding images forms a further arm
    named ``<folder>/<subfolder>`` (so a folder with ``dalle3/`` and ``gpt/`` inside gives two
    arms). Image files given directly form the arm ``"files"``. Only files with a suffix in
    :data:`IMAGE_SUFFIXES` are taken from folders, and all their images count as one prompt
    (``""``), so there is no cross-prompt figure; similarities are on the fixed scale. Raises
    :class:`ValidationError` when a path does not exist or no image is found.
    """
    from imgkit.runs.manifest import MANIFEST_NAME

    paths = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
    records = []
    for given in paths:
        path = Path(given)
        if path.is_dir() and (path / MANIFEST_NAME).is_file():
            prefix = f"{os.fspath(given).rstrip('/')}: " if len(paths) > 1 else ""
            records += _run_folder_records(path, prefix)
        elif path.is_dir():
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
