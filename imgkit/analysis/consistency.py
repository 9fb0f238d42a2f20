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
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from imgkit.analysis.hashing import (
    KINDS,
    bits_from_hex,
    cross_distances,
    distance_matrix,
    hash_images,
    unrelated_distance,
)
from imgkit.errors import ValidationError, check_argument

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

_REQUIRED = ("arm", "prompt")
# Batch bootstrap replicates so the (batch, n, n) temporary stays near 16 MB.
_BOOT_BATCH_CELLS = 2_000_000


# --------------------------------------------------------------------------------------------
# Preparing a run frame


def _check_kinds(kinds: Iterable[str] | str) -> tuple[str, ...]:
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
    frame lacks (or lacks for some rows). The original index is kept, so results can be joined back.
    Raises :class:`ValidationError` when ``arm`` or ``prompt`` is missing, or when a kind has
    neither a hash column nor image paths to compute it from.
    """
    if not isinstance(frame, pd.DataFrame):
        raise ValidationError("frame", type(frame).__name__, "a pandas DataFrame")
    kinds = _check_kinds(kinds)
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
    for kind in kinds:
        have = (
            rows[kind].notna() & (rows[kind].astype(str) != "")
            if kind in rows.columns
            else pd.Series(False, index=rows.index)
        )
        todo = ~have & has_path
        if todo.any():
            paths = rows.loc[todo, "image_path"].astype(str)
            unique = list(dict.fromkeys(paths))
            hashed = hash_images(unique, kinds=(kind,), hash_size=hash_size)
            lookup = dict(zip(unique, hashed[kind], strict=True))
            if kind not in rows.columns:
                rows[kind] = None
            rows[kind] = rows[kind].astype(object)
            rows.loc[todo, kind] = paths.map(lookup)
        elif kind not in rows.columns and len(rows):
            raise ValidationError(
                "frame", f"no {kind!r} column and no image_path", f"a {kind!r} column or image_path"
            )
    if len(rows) == 0:
        for kind in kinds:
            if kind not in rows.columns:
                rows[kind] = pd.Series(dtype=object)
        return rows
    keep = np.ones(len(rows), dtype=bool)
    for kind in kinds:
        keep &= (rows[kind].notna() & (rows[kind].astype(str) != "")).to_numpy()
    return rows[keep]


def _bits(hashes: pd.Series, kind: str) -> int:
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
    return _baseline(rows, kind)


def _baseline(rows: pd.DataFrame, kind: str) -> tuple[str, float]:
    if len(rows) == 0:
        return "random", math.nan
    if rows["prompt"].nunique() >= 2:
        mean, count = _cross_prompt_mean(rows, kind)
        if count:
            return "cross-prompt", float(mean)
    return "random", unrelated_distance(_bits(rows[kind], kind))


# --------------------------------------------------------------------------------------------
# Statistics on distance matrices


def _pair_values(matrix: np.ndarray) -> np.ndarray:
    return matrix[np.triu_indices(matrix.shape[0], k=1)].astype(float)


def _similarity(mean_distance: np.ndarray | float, baseline: float) -> np.ndarray | float:
    if not baseline or not np.isfinite(baseline):
        return np.full_like(np.asarray(mean_distance, dtype=float), np.nan)
    return np.clip(1.0 - np.asarray(mean_distance, dtype=float) / baseline, 0.0, 1.0)


def _bootstrap_means(
    matrices: Sequence[np.ndarray], n_boot: int, rng: np.random.Generator
) -> np.ndarray:
    """Bootstrap the pooled mean pairwise distance by resampling images within each matrix.

    Each replicate draws n images with replacement from each group of n and averages the
    distances between draws of *different* original images (a pair of an image with its own
    copy is not a pair of generations, and would pull the mean toward 0). Replicates with no
    such pair are NaN.
    """
    sums = np.zeros(n_boot)
    counts = np.zeros(n_boot)
    for matrix in matrices:
        n = matrix.shape[0]
        if n < 2:
            continue
        batch = max(1, _BOOT_BATCH_CELLS // (n * n))
        for start in range(0, n_boot, batch):
            stop = min(n_boot, start + batch)
            draw = rng.integers(0, n, size=(stop - start, n))
            sub = matrix[draw[:, :, None], draw[:, None, :]]
            distinct = draw[:, :, None] != draw[:, None, :]
            sums[start:stop] += np.where(distinct, sub, 0).sum(axis=(1, 2)) / 2
            counts[start:stop] += distinct.sum(axis=(1, 2)) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def _interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return math.nan, math.nan
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def _check_common(n_boot: int, confidence: float, near_duplicate: float) -> None:
    if not isinstance(n_boot, int | np.integer) or n_boot < 1:
        raise ValidationError("n_boot", n_boot, "an integer >= 1")
    if not 0 < confidence < 1:
        raise ValidationError("confidence", confidence, "a number between 0 and 1, e.g. 0.95")
    if not 0 <= near_duplicate < 1:
        raise ValidationError("near_duplicate", near_duplicate, "a share of the bits in [0, 1)")


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
    kinds = _check_kinds(kinds)
    _check_common(n_boot, confidence, near_duplicate)
    rows = usable_generations(frame, kinds, hash_size=hash_size)
    records: list[dict[str, Any]] = []
    for kind in kinds:
        if len(rows) == 0:
            break
        baseline_name, baseline = _baseline(rows, kind)
        bits = _bits(rows[kind], kind)
        threshold = math.floor(near_duplicate * bits)
        for (arm, prompt), group in rows.groupby(["arm", "prompt"], sort=True):
            matrix = distance_matrix(group[kind].tolist())
            pairs = _pair_values(matrix)
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
                boots = _bootstrap_means([matrix], n_boot, np.random.default_rng(seed))
                low, high = _interval(np.asarray(_similarity(boots, baseline)), confidence)
                record.update(
                    mean_distance=mean,
                    median_distance=float(np.median(pairs)),
                    similarity=float(_similarity(mean, baseline)),
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
    name, value = _baseline(rows, kind)
    simulated = "simulated" in rows.columns and bool(rows["simulated"].fillna(False).any())
    pairs.attrs.update(
        baseline=name,
        baseline_distance=value,
        bits=_bits(rows[kind], kind) if len(rows) else math.nan,
        simulated=simulated,
        kind=kind,
    )
    return pairs


# --------------------------------------------------------------------------------------------
# Comparing two arms


@dataclass(frozen=True)
class ArmComparison:
    """Result of :func:`compare_arms`. ``verdict`` is the plain-words summary."""

    arm_a: str
    arm_b: str
    prompt: str | None
    kind: str
    n_prompts: int
    n_a: int
    n_b: int
    similarity_a: float
    ci_a: tuple[float, float]
    similarity_b: float
    ci_b: tuple[float, float]
    mean_distance_a: float
    mean_distance_b: float
    statistic: float
    p_value: float
    n_permutations: int
    exact: bool
    baseline: str
    baseline_distance: float
    more_consistent: str | None
    verdict: str

    def to_dict(self) -> dict[str, Any]:
        """The result as plain data (for JSON)."""
        return asdict(self)


def _fmt_p(p: float) -> str:
    if not np.isfinite(p):
        return "p not computed"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _fmt_sim(value: float, interval: tuple[float, float]) -> str:
    if not np.isfinite(value):
        return "n/a"
    return f"{value:.2f} [{interval[0]:.2f}, {interval[1]:.2f}]"


def _within_sums(masks: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    # Sum of distances over pairs inside each mask: m^T D m / 2 (the diagonal is zero).
    weights = masks.astype(float)
    return np.einsum("pi,ij,pj->p", weights, matrix, weights) / 2


def _stratum_labelings(
    sizes: Sequence[tuple[int, int]], n_perm: int, rng: np.random.Generator
) -> tuple[list[np.ndarray], bool]:
    """Masks (True = labelled arm A) for every stratum, one row per relabelling.

    Enumerates every relabelling when there are at most ``n_perm`` of them (an exact test),
    else draws ``n_perm`` random ones.
    """
    total = math.prod(math.comb(n_a + n_b, n_a) for n_a, n_b in sizes)
    if total <= n_perm:
        per_stratum = []
        for n_a, n_b in sizes:
            m = n_a + n_b
            combos = list(itertools.combinations(range(m), n_a))
            mask = np.zeros((len(combos), m), dtype=bool)
            for row, combo in enumerate(combos):
                mask[row, list(combo)] = True
            per_stratum.append(mask)
        grids = np.meshgrid(*[np.arange(len(m)) for m in per_stratum], indexing="ij")
        picks = [g.ravel() for g in grids]
        return [mask[pick] for mask, pick in zip(per_stratum, picks, strict=True)], True
    masks = []
    for n_a, n_b in sizes:
        keys = rng.random((n_perm, n_a + n_b))
        ranks = keys.argsort(axis=1).argsort(axis=1)
        masks.append(ranks < n_a)
    return masks, False


def compare_arms(
    frame: pd.DataFrame,
    arm_a: str,
    arm_b: str,
    prompt: str | None = None,
    kind: str = "phash",
    n_perm: int = 10_000,
    seed: int = 0,
    *,
    n_boot: int = 2000,
    alpha: float = 0.05,
    min_images: int = 3,
    confidence: float = 0.95,
    hash_size: int = 8,
) -> ArmComparison:
    """Test whether one arm makes more alike images than another; return an :class:`ArmComparison`.

    The statistic is the difference of the pooled mean within-arm pairwise distances
    (``mean_distance_b - mean_distance_a``; positive means arm A is more consistent). Pairs are
    only formed within a prompt. Its two-sided p-value comes from a permutation test that
    shuffles the *arm labels of images* within each prompt (a stratified test): exact, over every
    relabelling, when there are at most ``n_perm`` of them, else Monte Carlo with ``n_perm``
    draws and ``p = (1 + hits) / (1 + n_perm)`` (Phipson & Smyth 2010). Similarities and their
    intervals are as in :func:`consistency_table`, with the run's baseline.

    ``prompt=None`` pools every prompt on which both arms have at least two images. The verdict
    names a winner only when each arm has at least ``min_images`` images and ``p < alpha``.
    Raises :class:`ValidationError` for unknown arms, prompt or kind, or identical arms.
    """
    check_argument("kind", kind, KINDS)
    _check_common(n_boot, confidence, 0.0)
    if not isinstance(n_perm, int | np.integer) or n_perm < 1:
        raise ValidationError("n_perm", n_perm, "an integer >= 1")
    if not 0 < alpha < 1:
        raise ValidationError("alpha", alpha, "a number between 0 and 1, e.g. 0.05")
    rows = usable_generations(frame, (kind,), hash_size=hash_size)
    arms = sorted(rows["arm"].unique())
    check_argument("arm_a", arm_a, arms)
    check_argument("arm_b", arm_b, arms)
    if arm_a == arm_b:
        raise ValidationError("arm_b", arm_b, f"an arm other than arm_a ({arm_a!r})")
    baseline_name, baseline = _baseline(rows, kind)
    pair_rows = rows[rows["arm"].isin([arm_a, arm_b])]
    if prompt is not None:
        check_argument("prompt", prompt, sorted(pair_rows["prompt"].unique()))
        pair_rows = pair_rows[pair_rows["prompt"] == prompt]

    matrices_a, matrices_b, strata, sizes = [], [], [], []
    for _, group in pair_rows.groupby("prompt", sort=True):
        hashes_a = group.loc[group["arm"] == arm_a, kind].tolist()
        hashes_b = group.loc[group["arm"] == arm_b, kind].tolist()
        if len(hashes_a) < 2 or len(hashes_b) < 2:
            continue  # no within-arm pair on one side: this prompt cannot inform the test
        matrices_a.append(distance_matrix(hashes_a).astype(float))
        matrices_b.append(distance_matrix(hashes_b).astype(float))
        strata.append(distance_matrix(hashes_a + hashes_b).astype(float))
        sizes.append((len(hashes_a), len(hashes_b)))

    n_a = sum(s[0] for s in sizes)
    n_b = sum(s[1] for s in sizes)
    pairs_a = sum(math.comb(s[0], 2) for s in sizes)
    pairs_b = sum(math.comb(s[1], 2) for s in sizes)
    rng = np.random.default_rng(seed)

    def pooled(matrices: list[np.ndarray], n_pairs: int) -> float:
        if not n_pairs:
            return math.nan
        return sum(_pair_values(m).sum() for m in matrices) / n_pairs

    mean_a, mean_b = pooled(matrices_a, pairs_a), pooled(matrices_b, pairs_b)
    sim_a, sim_b = float(_similarity(mean_a, baseline)), float(_similarity(mean_b, baseline))
    ci_a = _interval(
        np.asarray(_similarity(_bootstrap_means(matrices_a, n_boot, rng), baseline)), confidence
    )
    ci_b = _interval(
        np.asarray(_similarity(_bootstrap_means(matrices_b, n_boot, rng), baseline)), confidence
    )

    statistic, p_value, n_relabel, exact = math.nan, math.nan, 0, False
    smallest_p = math.nan
    if sizes:
        statistic = mean_b - mean_a
        # Permute which images carry which arm label, not the pairwise distances: the pairs of
        # one image share it, so treating n(n-1)/2 pairs as independent draws would overstate
        # the evidence. Relabelling whole images keeps that dependence in the null distribution.
        masks, exact = _stratum_labelings(sizes, n_perm, rng)
        sum_a = np.zeros(len(masks[0]))
        sum_b = np.zeros(len(masks[0]))
        for mask, matrix in zip(masks, strata, strict=True):
            sum_a += _within_sums(mask, matrix)
            sum_b += _within_sums(~mask, matrix)
        null = sum_b / pairs_b - sum_a / pairs_a
        # A small tolerance so relabellings equal to the observed one count as "as extreme"
        # despite summation order differences.
        hits = int(np.sum(np.abs(null) >= abs(statistic) - 1e-9))
        n_relabel = len(null)
        p_value = hits / n_relabel if exact else (1 + hits) / (1 + n_relabel)
        if exact:
            # Even the most extreme relabelling cannot do better than this p-value.
            smallest_p = float(np.sum(np.abs(null) >= np.abs(null).max() - 1e-9)) / n_relabel

    all_prompts = pair_rows["prompt"].nunique()
    where = (
        "on this prompt"
        if prompt is not None or all_prompts == 1
        else f"across {len(sizes)} prompt{'s' if len(sizes) != 1 else ''}"
    )
    counts_a = pair_rows[pair_rows["arm"] == arm_a].shape[0] if not sizes else n_a
    counts_b = pair_rows[pair_rows["arm"] == arm_b].shape[0] if not sizes else n_b
    n_text = f"n = {counts_a} each" if counts_a == counts_b else f"n = {counts_a} and {counts_b}"
    figures = (
        f"{kind} similarity {_fmt_sim(sim_a, ci_a)} vs {_fmt_sim(sim_b, ci_b)}, "
        f"{_fmt_p(p_value)}, {n_text}"
    )
    winner = None
    if not sizes or min(counts_a, counts_b) < min_images:
        verdict = (
            f"Too few images to tell whether {arm_a} or {arm_b} is more consistent {where}: "
            f"each arm needs at least {min_images} images, and two on a shared prompt "
            f"({n_text})."
        )
    elif p_value >= alpha:
        if smallest_p >= alpha:
            why = (
                f"With this few images no split could reach p < {alpha:g} (the smallest "
                f"possible p is {smallest_p:.3f}); more repeats are needed to tell them apart."
            )
        else:
            why = (
                "A difference this size could be chance; more repeats would be needed to tell "
                "them apart."
            )
        verdict = (
            f"No clear difference in consistency between {arm_a} and {arm_b} {where}: "
            f"{figures}. {why}"
        )
    else:
        winner, loser = (arm_a, arm_b) if statistic > 0 else (arm_b, arm_a)
        first, second = (sim_a, ci_a), (sim_b, ci_b)
        if winner == arm_b:
            first, second = second, first
        verdict = (
            f"{winner} was more consistent than {loser} {where}: {kind} similarity "
            f"{_fmt_sim(*first)} vs {_fmt_sim(*second)}, {_fmt_p(p_value)}, {n_text}"
        )
    return ArmComparison(
        arm_a=arm_a,
        arm_b=arm_b,
        prompt=prompt,
        kind=kind,
        n_prompts=len(sizes),
        n_a=counts_a,
        n_b=counts_b,
        similarity_a=sim_a,
        ci_a=ci_a,
        similarity_b=sim_b,
        ci_b=ci_b,
        mean_distance_a=float(mean_a),
        mean_distance_b=float(mean_b),
        statistic=float(statistic),
        p_value=float(p_value),
        n_permutations=n_relabel,
        exact=exact,
        baseline=baseline_name,
        baseline_distance=float(baseline),
        more_consistent=winner,
        verdict=verdict,
    )


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
