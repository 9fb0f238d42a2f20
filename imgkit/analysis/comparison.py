"""Whether one arm makes more alike images than another: :func:`compare_arms`.

The statistic is the difference of the pooled mean within-arm pairwise distances, its p-value
comes from relabelling images between the two arms within each prompt, and the similarities
are on the fixed scale of :mod:`imgkit.analysis.reference` (see :mod:`imgkit.analysis.resampling`
for why images, not pairs, are resampled, and how it is done in linear time). Every comparison
carries its effect: the difference in similarity with a bootstrap confidence interval. The
result carries a verdict in plain words that says when there are too few images to tell.

One comparison is one test. When several are stated together (several arms, prompts), use
:func:`imgkit.analysis.sweep.compare_all`, which corrects their p-values for multiplicity; the
pieces both share (:class:`PreparedMeasure`, :func:`pair_test`, :func:`verdict_sentence`) are
here. Any measure works the same way (a network's learned features or a hash:
:mod:`imgkit.analysis.measures`); the verdict names the one it was measured with.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from imgkit.analysis.generations import (
    group_points,
    measure_reference,
    simulated_rows,
    usable_generations,
)
from imgkit.analysis.measures import DEFAULT_MEASURE, Measure, parse_measure
from imgkit.analysis.reference import Reference
from imgkit.analysis.resampling import (
    DEFAULT_N_BOOT,
    DEFAULT_N_PERM,
    bootstrap_pair_sums,
    check_resampling_arguments,
    pair_count,
    pair_sum,
    percentile_interval,
    relabel_two_arms,
)
from imgkit.errors import ValidationError, check_argument

__all__ = [
    "ArmComparison",
    "PreparedMeasure",
    "compare_arms",
    "format_p",
    "pair_test",
    "prepare_measure",
    "verdict_sentence",
]


@dataclass(frozen=True)
class ArmComparison:
    """Result of :func:`compare_arms` (or one row of :func:`~imgkit.analysis.sweep.compare_all`).

    ``similarity_a``/``ci_a`` and ``similarity_b``/``ci_b``: each arm's similarity on the fixed
    scale with its bootstrap interval. ``difference`` = ``similarity_a - similarity_b`` (before
    clipping: ``(mean_distance_b - mean_distance_a) / reference_distance``), positive when arm A
    is more consistent, with its interval ``difference_ci``: the differences the permutation
    test accepts (the test inverted), so it leaves out 0 exactly when ``p_value`` is below
    ``1 - confidence`` (Monte Carlo and stopped tests too). ``p_value`` is the permutation
    test's, ``p_adjusted`` the same after ``correction`` over ``family_size`` comparisons (equal
    to ``p_value`` for a lone comparison). ``more_consistent`` names the winner only when
    ``p_adjusted < alpha``; ``verdict`` is the plain-words summary. ``kind`` is the measure's
    name (a network's or a hash kind's), ``measure`` the name the sentences use.
    """

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
    difference: float
    difference_ci: tuple[float, float]
    statistic: float
    p_value: float
    p_adjusted: float
    correction: str
    family_size: int
    alpha: float
    n_permutations: int
    exact: bool
    smallest_p: float
    reference: str
    reference_distance: float
    more_consistent: str | None
    verdict: str
    measure: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The result as plain data (for JSON)."""
        return asdict(self)

    @property
    def conclusive(self) -> bool:
        """True when a winner was named."""
        return self.more_consistent is not None


def format_p(p: float) -> str:
    """``"p = 0.012"``, ``"p < 0.001"`` or ``"p not computed"``."""
    if not np.isfinite(p):
        return "p not computed"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _fmt_sim(value: float, interval: tuple[float, float]) -> str:
    if not np.isfinite(value):
        return "n/a"
    return f"{value:.2f} [{interval[0]:.2f}, {interval[1]:.2f}]"


# --------------------------------------------------------------------------------------------
# A run's values on one measure, prepared once


def _crc(*parts: Any) -> int:
    return zlib.crc32("\0".join(str(p) for p in parts).encode("utf-8"))


def group_rng(seed: int, *key: Any) -> np.random.Generator:
    """A generator for one group or comparison, from ``seed`` and its names: a group's
    resampling never depends on which other groups are in the run."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, _crc(*key)])


@dataclass
class PreparedMeasure:
    """A run's usable images on one measure as points per (arm, prompt), with the scale.

    ``groups`` hold each arm and prompt's points (:meth:`~imgkit.analysis.measures.Measure.
    points`); ``bits`` is a hash's bit count (0 for learned features); ``boot`` caches each
    group's bootstrap pair sums and counts (see :meth:`bootstrap`).
    """

    measure: Measure
    bits: int
    reference: Reference
    groups: dict[tuple[str, str], np.ndarray]
    prompts: list[str]
    arms: list[str]
    simulated: bool
    n_boot: int
    seed: int
    boot: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]

    @property
    def kind(self) -> str:
        """The measure's name."""
        return self.measure.name

    def size(self, arm: str, prompt: str) -> int:
        """How many usable images ``arm`` has on ``prompt``."""
        group = self.groups.get((arm, prompt))
        return 0 if group is None else group.shape[0]

    def bootstrap(self, arm: str, prompt: str) -> tuple[np.ndarray, np.ndarray]:
        """The group's ``n_boot`` bootstrap pair sums and counts, computed once and kept."""
        key = (arm, prompt)
        if key not in self.boot:
            rng = group_rng(self.seed, "boot", arm, prompt)
            self.boot[key] = bootstrap_pair_sums(self.groups[key], self.n_boot, rng)
        return self.boot[key]

    def pooled(self, arm: str, prompts: list[str]) -> tuple[float, np.ndarray]:
        """Arm's mean distance pooled over ``prompts`` and its bootstrap replicates."""
        total = sum(pair_sum(self.groups[(arm, p)]) for p in prompts)
        count = sum(pair_count(self.size(arm, p)) for p in prompts)
        sums = np.zeros(self.n_boot)
        counts = np.zeros(self.n_boot)
        for p in prompts:
            s, c = self.bootstrap(arm, p)
            sums += s
            counts += c
        with np.errstate(invalid="ignore", divide="ignore"):
            replicates = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
        return (total / count if count else math.nan), replicates

    def similarity(self, mean: float | np.ndarray) -> Any:
        """Similarity on the fixed scale (clipped to 0..1)."""
        return np.clip(1.0 - np.asarray(mean, dtype=float) / self.reference.distance, 0.0, 1.0)


def prepare_measure(
    frame: pd.DataFrame,
    kind: Any = DEFAULT_MEASURE,
    *,
    hash_size: int = 8,
    n_boot: int = 2000,
    seed: int = 0,
) -> PreparedMeasure:
    """Read the usable generations of ``frame`` once, as points per arm and prompt."""
    measure = parse_measure(kind, hash_size=hash_size)
    rows = usable_generations(frame, (measure,))
    groups = group_points(rows, measure)
    reference = measure_reference(rows, measure)
    return PreparedMeasure(
        measure=measure,
        bits=reference.bits,
        reference=reference,
        groups={(str(a), str(p)): m for (a, p), m in groups.items()},
        prompts=[str(p) for p in dict.fromkeys(rows["prompt"])] if len(rows) else [],
        arms=sorted({str(a) for a in rows["arm"]}) if len(rows) else [],
        simulated=simulated_rows(rows),
        n_boot=n_boot,
        seed=seed,
        boot={},
    )


# --------------------------------------------------------------------------------------------
# One pair of arms


def pair_test(
    data: PreparedMeasure,
    arm_a: str,
    arm_b: str,
    prompt: str | None,
    *,
    n_perm: int,
    confidence: float,
) -> dict[str, Any]:
    """The numbers of one comparison (no verdict): similarities, effect, permutation test.

    ``prompt=None`` pools every prompt on which both arms have at least two images.
    """
    prompts = [prompt] if prompt is not None else data.prompts
    shared = [p for p in prompts if data.size(arm_a, p) >= 2 and data.size(arm_b, p) >= 2]
    n_a = (
        sum(data.size(arm_a, p) for p in shared)
        if shared
        else sum(data.size(arm_a, p) for p in prompts)
    )
    n_b = (
        sum(data.size(arm_b, p) for p in shared)
        if shared
        else sum(data.size(arm_b, p) for p in prompts)
    )
    result: dict[str, Any] = {
        "n_prompts": len(shared),
        "n_a": n_a,
        "n_b": n_b,
        "similarity_a": math.nan,
        "ci_a": (math.nan, math.nan),
        "similarity_b": math.nan,
        "ci_b": (math.nan, math.nan),
        "mean_distance_a": math.nan,
        "mean_distance_b": math.nan,
        "difference": math.nan,
        "difference_ci": (math.nan, math.nan),
        "statistic": math.nan,
        "p_value": math.nan,
        "n_permutations": 0,
        "exact": False,
        "smallest_p": math.nan,
    }
    if not shared:
        return result
    reference = data.reference.distance
    mean_a, boots_a = data.pooled(arm_a, shared)
    mean_b, boots_b = data.pooled(arm_b, shared)
    rng = group_rng(data.seed, "perm", arm_a, arm_b, "" if prompt is None else prompt)
    strata = [(data.groups[(arm_a, p)], data.groups[(arm_b, p)]) for p in shared]
    test = relabel_two_arms(strata, n_perm, rng, confidence=confidence)
    result.update(
        similarity_a=float(data.similarity(mean_a)),
        ci_a=percentile_interval(data.similarity(boots_a), confidence),
        similarity_b=float(data.similarity(mean_b)),
        ci_b=percentile_interval(data.similarity(boots_b), confidence),
        mean_distance_a=float(mean_a),
        mean_distance_b=float(mean_b),
        difference=float((mean_b - mean_a) / reference),
        # The permutation test inverted, not a bootstrap: the interval then leaves out 0
        # exactly when the test rejects, where a bootstrap over a handful of images could reach
        # 0 beside p = 0.008 (see relabel_two_arms).
        difference_ci=(
            float((test.statistic - test.critical) / reference),
            float((test.statistic + test.critical) / reference),
        ),
        statistic=float(test.statistic),
        p_value=float(test.p_value),
        n_permutations=test.n_permutations,
        exact=test.exact,
        smallest_p=float(test.smallest_p),
    )
    return result


def _difference_text(numbers: dict[str, Any], sign: int, level_note: str) -> str:
    """``"difference +0.09 [+0.01, +0.16]"`` with the winner's sign, then ``level_note``; in
    words when the test accepts every difference (too few relabellings for any p below the
    level), never ``[-inf, +inf]``."""
    difference = numbers["difference"]
    if not np.isfinite(difference):
        return "difference n/a"
    low, high = sorted(sign * v for v in numbers["difference_ci"])
    if not (np.isfinite(low) and np.isfinite(high)):
        return (
            f"difference {sign * difference:+.2f} (no interval: with "
            f"{numbers['n_permutations']} relabellings no p-value could be small enough)"
        )
    # The tie allowance puts a 0 end a hair below 0: printed "-0.00" without the rounding.
    low, high = (round(v, 2) + 0.0 for v in (low, high))
    return f"difference {sign * difference:+.2f} [{low:+.2f}, {high:+.2f}]{level_note}"


def verdict_sentence(
    numbers: dict[str, Any],
    *,
    arm_a: str,
    arm_b: str,
    kind: Measure | str,
    where: str,
    alpha: float,
    min_images: int,
    p_adjusted: float,
    correction: str,
    family_size: int,
    confidence: float = 0.95,
) -> tuple[str | None, str]:
    """``(winner or None, sentence)`` for one comparison whose p-value has been adjusted.

    ``kind`` is the measure (its title names the figures: "EfficientNet-Lite0 similarity",
    "phash similarity"). The difference's interval is at ``confidence``, named in the
    sentence when it is not ``1 - alpha`` (it then need not agree with the verdict).
    """
    level_note = (
        "" if round(1 - confidence, 12) == round(alpha, 12) else f" ({confidence:.0%} interval)"
    )
    title = kind.title if isinstance(kind, Measure) else str(kind)
    n_a, n_b = numbers["n_a"], numbers["n_b"]
    n_text = f"n = {n_a} each" if n_a == n_b else f"n = {n_a} and {n_b}"
    p = numbers["p_value"]
    p_text = format_p(p)
    if correction != "none" and family_size > 1 and np.isfinite(p_adjusted):
        name = {"holm": "Holm", "bh": "Benjamini-Hochberg"}[correction]
        p_text += f", adjusted {format_p(p_adjusted)[2:]} ({name}, {family_size} comparisons)"
    effect = _difference_text(numbers, 1, level_note)
    if numbers["n_prompts"] == 0 or min(n_a, n_b) < min_images:
        return None, (
            f"Too few images to tell whether {arm_a} or {arm_b} is more consistent {where}: "
            f"each arm needs at least {min_images} images, and two on a shared prompt "
            f"({n_text})."
        )
    sim_a = (numbers["similarity_a"], numbers["ci_a"])
    sim_b = (numbers["similarity_b"], numbers["ci_b"])
    if p_adjusted < alpha:
        if numbers["statistic"] > 0:
            winner, loser, first, second, sign = arm_a, arm_b, sim_a, sim_b, 1
        else:
            winner, loser, first, second, sign = arm_b, arm_a, sim_b, sim_a, -1
        return winner, (
            f"{winner} was more consistent than {loser} {where}: {title} similarity "
            f"{_fmt_sim(*first)} vs {_fmt_sim(*second)}, "
            f"{_difference_text(numbers, sign, level_note)}, {p_text}, {n_text}"
        )
    figures = f"{title} similarity {_fmt_sim(*sim_a)} vs {_fmt_sim(*sim_b)}, {effect}, {p_text}, "
    figures += n_text
    smallest = numbers["smallest_p"]
    if np.isfinite(smallest) and smallest >= 1.0:
        why = (
            "Every relabelling of these images gives the same difference: the arms' images are "
            "all alike in the same way, and more repeats like them would not tell them apart."
        )
    elif np.isfinite(smallest) and smallest >= alpha:
        why = (
            f"With this few images no split could reach p < {alpha:g} (the smallest possible "
            f"p is {smallest:.3f}); more repeats are needed to tell them apart."
        )
    elif p < alpha:
        why = (
            f"On its own p would be below {alpha:g}, but among {family_size} comparisons a "
            "difference this size could be chance; more repeats would tell."
        )
    else:
        why = "A difference this size could be chance; more repeats would be needed to tell."
    return None, f"No clear difference in consistency between {arm_a} and {arm_b} {where}: " + (
        f"{figures}. {why}"
    )


def check_comparison_arguments(n_perm: int, alpha: float, n_boot: int, confidence: float) -> None:
    """Raise :class:`ValidationError` for a bad permutation count, alpha, n_boot or confidence."""
    check_resampling_arguments(n_boot, confidence, 0.0)
    if not isinstance(n_perm, int | np.integer) or isinstance(n_perm, bool) or n_perm < 1:
        raise ValidationError("n_perm", n_perm, "an integer >= 1")
    if not 0 < alpha < 1:
        raise ValidationError("alpha", alpha, "a number between 0 and 1, e.g. 0.05")


def where_text(prompt: str | None, n_prompts: int, all_prompts: int) -> str:
    """ "on this prompt" or "across 3 prompts"."""
    if prompt is not None or all_prompts <= 1:
        return "on this prompt"
    return f"across {n_prompts} prompt{'s' if n_prompts != 1 else ''}"


def compare_arms(
    frame: pd.DataFrame,
    arm_a: str,
    arm_b: str,
    prompt: str | None = None,
    kind: Measure | str = DEFAULT_MEASURE,
    n_perm: int = DEFAULT_N_PERM,
    seed: int = 0,
    *,
    n_boot: int = DEFAULT_N_BOOT,
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
    relabelling, when there are at most ``n_perm`` of them, else Monte Carlo with up to
    ``n_perm`` draws, stopping early once the p-value is settled (Besag & Clifford 1991), with
    ``p = (1 + hits) / (1 + draws)`` otherwise (Phipson & Smyth 2010). Similarities and their
    percentile bootstrap intervals (resampling images within each arm and prompt) are on the
    fixed scale (:mod:`imgkit.analysis.reference`), and so is the effect, ``difference``, with
    its interval.

    This is one test on its own: its p-value is not corrected. To state several comparisons
    together (every pair of several arms, several prompts) use
    :func:`imgkit.analysis.sweep.compare_all`, which corrects them.

    ``kind`` is the measure: a network's learned features (``"efficientnet-lite0"``, the
    default, which sees what a person sees) or a hash kind (``"phash"``: near-duplicates), by
    name or as a :class:`~imgkit.analysis.measures.Measure`.

    ``prompt=None`` pools every prompt on which both arms have at least two images. The verdict
    names a winner only when each arm has at least ``min_images`` images and ``p < alpha``.
    Raises :class:`ValidationError` for unknown arms, prompt or kind, or identical arms.
    """
    measure = parse_measure(kind, hash_size=hash_size)
    check_comparison_arguments(n_perm, alpha, n_boot, confidence)
    data = prepare_measure(frame, measure, n_boot=n_boot, seed=seed)
    check_argument("arm_a", arm_a, data.arms)
    check_argument("arm_b", arm_b, data.arms)
    if arm_a == arm_b:
        raise ValidationError("arm_b", arm_b, f"an arm other than arm_a ({arm_a!r})")
    if prompt is not None:
        offered = sorted({p for (a, p) in data.groups if a in (arm_a, arm_b)})
        check_argument("prompt", prompt, offered)
    numbers = pair_test(data, arm_a, arm_b, prompt, n_perm=n_perm, confidence=confidence)
    prompts_of_pair = {p for (a, p) in data.groups if a in (arm_a, arm_b)}
    where = where_text(prompt, numbers["n_prompts"], len(prompts_of_pair))
    winner, verdict = verdict_sentence(
        numbers,
        arm_a=arm_a,
        arm_b=arm_b,
        kind=measure,
        where=where,
        alpha=alpha,
        min_images=min_images,
        p_adjusted=numbers["p_value"],
        correction="none",
        family_size=1,
        confidence=confidence,
    )
    return ArmComparison(
        arm_a=arm_a,
        arm_b=arm_b,
        prompt=prompt,
        kind=measure.name,
        measure=measure.title,
        p_adjusted=numbers["p_value"],
        correction="none",
        family_size=1 if np.isfinite(numbers["p_value"]) else 0,
        alpha=alpha,
        reference=data.reference.name,
        reference_distance=data.reference.distance,
        more_consistent=winner,
        verdict=verdict,
        **numbers,
    )
