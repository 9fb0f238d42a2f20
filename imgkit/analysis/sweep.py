"""Every arm against every other, stated as one family: :func:`compare_all`.

A sweep of k arms asks three questions, answered in this order (the usual omnibus-then-follow-up
design of an analysis of variance):

1. *Do the arms differ in consistency at all?* An omnibus permutation test of "all arms equally
   consistent": the statistic is the spread of the arms' mean within-arm distances (a
   permutation analogue of the one-way ANOVA's between-groups sum of squares), its null
   distribution comes from shuffling the arm labels of images within each prompt.
2. *Which pairs differ?* Every pair of arms is tested as :func:`~imgkit.analysis.comparison.
   compare_arms` does, and the p-values of every comparison stated together are corrected for
   multiplicity (Holm 1979 by default, Benjamini & Hochberg 1995 on request; see
   :mod:`imgkit.analysis.multiplicity`). A winner is named only when its adjusted p-value is
   below alpha, so with identical arms the chance of naming any winner stays at or below alpha.
3. *How do they rank?* Arms sorted by similarity, each with an interval of its rank read from
   the verdicts of step 2 in the same scope: from 1 + the arms named more consistent than it
   to the number of arms less those it was named more consistent than (Klein, Wright &
   Wieczorek 2020, "A joint confidence region for an overall ranking of populations", J. R.
   Stat. Soc. C 69:589-606). With Holm's correction every interval holds at once with
   probability at least 1 - alpha, and a ranking never says less than the verdicts beside it
   (a bootstrap of ranks could give "1-2" to both arms of a comparison that named a winner).
   One exception: an arm is ranked on every prompt where it has images, a comparison only on
   the prompts both arms share, so pooled over prompts another arm lacks the interval is
   widened to hold the arm's observed rank. An interval "1-3" says the data cannot tell the
   arm's place among the first three.

With several prompts the comparisons pool the prompts (each test stratified by prompt); with
``by_prompt=True`` every prompt is compared on its own as well, and those comparisons join the
same corrected family.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from imgkit.analysis.blas import one_blas_thread
from imgkit.analysis.comparison import (
    ArmComparison,
    PreparedMeasure,
    check_comparison_arguments,
    format_p,
    group_rng,
    pair_test,
    prepare_measure,
    verdict_sentence,
    where_text,
)
from imgkit.analysis.measures import DEFAULT_MEASURE, Measure, parse_measure
from imgkit.analysis.multiplicity import CORRECTION_NAMES, CORRECTIONS, adjust_p_values
from imgkit.analysis.omnibus import relabel_k_arms
from imgkit.analysis.resampling import (
    DEFAULT_N_BOOT,
    DEFAULT_N_PERM,
    percentile_interval,
)
from imgkit.errors import ValidationError, check_argument

__all__ = ["ALL_PROMPTS", "SweepComparison", "compare_all"]

#: The ``scope`` of comparisons that pool every prompt.
ALL_PROMPTS = "all prompts"


@dataclass
class SweepComparison:
    """Result of :func:`compare_all`.

    ``comparisons``: one :class:`~imgkit.analysis.comparison.ArmComparison` per pair of arms
    and scope, with raw and adjusted p-values and its verdict. ``omnibus``: one row per scope
    (``scope``, ``prompt``, ``n_arms``, ``statistic``, ``p_value``, ``p_adjusted``,
    ``n_permutations``, ``differ``). ``ranking``: one row per scope and arm (``rank`` 1 = most
    consistent, ``rank_low`` / ``rank_high`` the interval its verdicts allow, ``similarity`` with
    ``ci_low`` / ``ci_high``, ``n_images``). ``pairs``: the comparisons as a table.
    ``correction``, ``alpha`` and ``family_size`` say how the p-values were corrected.
    """

    kind: str
    correction: str
    alpha: float
    family_size: int
    reference: str
    reference_distance: float
    comparisons: list[ArmComparison]
    omnibus: pd.DataFrame
    ranking: pd.DataFrame
    simulated: bool
    settings: dict[str, Any] = field(default_factory=dict)
    #: The measure's title, as sentences name it ("EfficientNet-Lite0", "phash").
    measure: str = ""

    @property
    def pairs(self) -> pd.DataFrame:
        """The comparisons as a table, one row each (``scope`` is the prompt or "all prompts")."""
        records = []
        for c in self.comparisons:
            record = c.to_dict()
            record["scope"] = ALL_PROMPTS if c.prompt is None else c.prompt
            record["ci_a_low"], record["ci_a_high"] = c.ci_a
            record["ci_b_low"], record["ci_b_high"] = c.ci_b
            record["difference_low"], record["difference_high"] = c.difference_ci
            for key in ("ci_a", "ci_b", "difference_ci"):
                record.pop(key)
            records.append(record)
        return pd.DataFrame.from_records(records)

    @property
    def verdicts(self) -> list[str]:
        """Every comparison's sentence, in order."""
        return [c.verdict for c in self.comparisons]

    def summary(self) -> list[str]:
        """A few sentences: the omnibus result per scope and the winners named."""
        lines = []
        for row in self.omnibus.to_dict(orient="records"):
            where = "across all prompts" if row["scope"] == ALL_PROMPTS else "on this prompt"
            if len(self.omnibus) > 1 and row["scope"] != ALL_PROMPTS:
                where = f"on {row['scope']!r}"
            p_text = format_p(row["p_adjusted"])
            if row["n_arms"] < 2:
                lines.append(f"Fewer than two arms with two images or more {where}: no test.")
            elif not np.isfinite(row["p_value"]):
                lines.append(f"Too few images to compare the {row['n_arms']} arms {where}.")
            elif row["differ"]:
                lines.append(
                    f"The {row['n_arms']} arms differ in consistency {where} "
                    f"(omnibus permutation test, {p_text})."
                )
            else:
                lines.append(
                    f"No evidence that the {row['n_arms']} arms differ in consistency {where} "
                    f"(omnibus permutation test, {p_text})."
                )
        winners = [c for c in self.comparisons if c.more_consistent]
        lines.append(
            f"{len(winners)} of {self.family_size} comparisons named a winner "
            f"({CORRECTION_NAMES[self.correction]}, alpha {self.alpha:g})."
        )
        return lines

    def to_dict(self) -> dict[str, Any]:
        """The result as plain data (for JSON)."""
        return {
            "kind": self.kind,
            "measure": self.measure,
            "correction": self.correction,
            "alpha": self.alpha,
            "family_size": self.family_size,
            "reference": self.reference,
            "reference_distance": self.reference_distance,
            "simulated": self.simulated,
            "summary": self.summary(),
            "comparisons": [c.to_dict() for c in self.comparisons],
            "omnibus": self.omnibus.to_dict(orient="records"),
            "ranking": self.ranking.to_dict(orient="records"),
            "settings": dict(self.settings),
        }


def _ranking(
    data: PreparedMeasure, scope: str, prompts: list[str], arms: list[str], confidence: float
) -> list[dict[str, Any]]:
    entries = []
    for arm in arms:
        used = [p for p in prompts if data.size(arm, p) >= 2]
        if not used:
            continue
        mean, boots = data.pooled(arm, used)
        entries.append((arm, mean, boots, sum(data.size(arm, p) for p in used)))
    if not entries:
        return []
    means = np.array([e[1] for e in entries])
    # Rank 1 = smallest mean distance = most consistent; ties share the average rank.
    observed_rank = pd.Series(means).rank(method="average").to_numpy()
    records = []
    for k, (arm, mean, boots, n_images) in enumerate(entries):
        ci = percentile_interval(data.similarity(boots), confidence)
        records.append(
            {
                "scope": scope,
                "arm": arm,
                "rank": float(observed_rank[k]),
                # Read from the scope's verdicts once they are made: _ranks_from_verdicts.
                "rank_low": 1,
                "rank_high": len(entries),
                "similarity": float(data.similarity(mean)),
                "ci_low": ci[0],
                "ci_high": ci[1],
                "mean_distance": float(mean),
                "n_images": int(n_images),
                "n_prompts": len([p for p in prompts if data.size(arm, p) >= 2]),
            }
        )
    records.sort(key=lambda r: (r["rank"], r["arm"]))
    return records


def _ranks_from_verdicts(
    scoped: list[tuple[str | None, list[dict[str, Any]]]], comparisons: list[ArmComparison]
) -> None:
    """Set each ranked arm's ``rank_low``/``rank_high`` from the named winners of its scope:
    1 + the arms named more consistent than it, to the arms ranked less those it beat, widened
    where needed to hold its observed rank. ``scoped``: per scope, its prompt (None when
    pooled) and its ranking rows (scopes are told apart by prompt: one may be named "all
    prompts")."""
    for prompt, ranked in scoped:
        arms = {r["arm"] for r in ranked}
        stated = [
            c for c in comparisons if c.prompt == prompt and c.arm_a in arms and c.arm_b in arms
        ]
        for record in ranked:
            arm = record["arm"]
            beaten_by = sum(
                1
                for c in stated
                if arm in (c.arm_a, c.arm_b) and c.more_consistent not in (None, arm)
            )
            beats = sum(1 for c in stated if c.more_consistent == arm)
            # An arm is ranked on every prompt where it has two images, a comparison only on
            # the prompts both arms share: pooled over prompts another arm lacks, an arm can
            # rank above one named more consistent than it. The interval is then widened to
            # hold the observed rank, never leaving it outside.
            record["rank_low"] = min(1 + beaten_by, math.floor(record["rank"]))
            record["rank_high"] = max(len(ranked) - beats, math.ceil(record["rank"]))


def _omnibus(
    data: PreparedMeasure, scope: str, prompts: list[str], arms: list[str], n_perm: int
) -> dict[str, Any]:
    strata = []
    example = next(iter(data.groups.values()))
    empty = np.zeros((0, example.shape[1]), dtype=example.dtype)
    for p in prompts:
        present = [a for a in arms if data.size(a, p) >= 2]
        if len(present) < 2:
            continue
        strata.append([data.groups[(a, p)] if a in present else empty for a in arms])
    counted = {a for s in strata for a, m in zip(arms, s, strict=True) if m.shape[0]}
    record = {
        "scope": scope,
        "prompt": None if scope == ALL_PROMPTS else scope,
        "n_arms": len(counted),
        "n_prompts": len(strata),
        "statistic": math.nan,
        "p_value": math.nan,
        "n_permutations": 0,
    }
    if len(counted) >= 2:
        rng = group_rng(data.seed, "omnibus", scope, *arms)
        test = relabel_k_arms(strata, n_perm, rng)
        record.update(
            statistic=test.statistic, p_value=test.p_value, n_permutations=test.n_permutations
        )
    return record


@one_blas_thread()  # small products: see imgkit.analysis.blas
def compare_all(
    frame: pd.DataFrame,
    kind: Measure | str = DEFAULT_MEASURE,
    *,
    arms: list[str] | None = None,
    by_prompt: bool = False,
    correction: str = "holm",
    alpha: float = 0.05,
    n_perm: int = DEFAULT_N_PERM,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = 0,
    min_images: int = 3,
    confidence: float = 0.95,
    hash_size: int = 8,
) -> SweepComparison:
    """Compare every arm with every other, correcting for the number of comparisons.

    The family is every pairwise comparison returned: with one prompt, each pair of arms on it;
    with several, each pair pooled across the prompts (a test stratified by prompt), plus each
    pair on each prompt when ``by_prompt`` is true. Their p-values are adjusted with
    ``correction`` ("holm": family-wise error rate; "bh": false discovery rate; "none") and a
    winner is named only when the adjusted p-value is below ``alpha`` and both arms have at
    least ``min_images`` images. Comparisons without enough images state no p-value and are not
    counted in the family. Omnibus tests (one per scope) are corrected among themselves the
    same way. ``arms`` restricts the comparison to some arms (default: all, sorted).

    Each comparison's p-value, interval and effect are what :func:`~imgkit.analysis.
    comparison.compare_arms` gives for the same pair with the same seed; only the adjusted
    p-value and the verdict depend on the family. See the module docstring for the methods.
    ``kind`` is the measure (a network's learned features by default, or a hash kind), by
    name or as a :class:`~imgkit.analysis.measures.Measure`.
    Raises :class:`ValidationError` for an unknown kind, arm or correction, or bad parameters.
    """
    measure = parse_measure(kind, hash_size=hash_size)
    check_argument("correction", correction, CORRECTIONS)
    check_comparison_arguments(n_perm, alpha, n_boot, confidence)
    data = prepare_measure(frame, measure, n_boot=n_boot, seed=seed)
    chosen = data.arms if arms is None else list(dict.fromkeys(str(a) for a in arms))
    for arm in chosen:
        check_argument("arms", arm, data.arms)
    if arms is not None and len(chosen) < 2:
        raise ValidationError("arms", arms, "at least two arms of the run")

    scopes: list[tuple[str, str | None, list[str]]] = []
    if len(data.prompts) == 1:
        scopes.append((data.prompts[0], data.prompts[0], data.prompts))
    elif data.prompts:
        scopes.append((ALL_PROMPTS, None, data.prompts))
        if by_prompt:
            scopes += [(p, p, [p]) for p in data.prompts]

    raw: list[tuple[str, str, str | None, dict[str, Any]]] = []
    omnibus_records = []
    ranking_scopes: list[tuple[str | None, list[dict[str, Any]]]] = []
    for scope, prompt, prompts in scopes:
        present = [a for a in chosen if any(data.size(a, p) for p in prompts)]
        for arm_a, arm_b in itertools.combinations(present, 2):
            numbers = pair_test(data, arm_a, arm_b, prompt, n_perm=n_perm, confidence=confidence)
            if min(numbers["n_a"], numbers["n_b"]) < min_images:
                numbers["p_value"] = math.nan  # no verdict is stated: not part of the family
            raw.append((arm_a, arm_b, prompt, numbers))
        omnibus_records.append(_omnibus(data, scope, prompts, present, n_perm))
        ranking_scopes.append((prompt, _ranking(data, scope, prompts, present, confidence)))

    adjusted = adjust_p_values([n["p_value"] for *_, n in raw], correction)
    family_size = int(np.isfinite(adjusted).sum())
    comparisons = []
    for (arm_a, arm_b, prompt, numbers), p_adjusted in zip(raw, adjusted, strict=True):
        where = where_text(prompt, numbers["n_prompts"], len(data.prompts))
        winner, verdict = verdict_sentence(
            numbers,
            arm_a=arm_a,
            arm_b=arm_b,
            kind=measure,
            where=where,
            alpha=alpha,
            min_images=min_images,
            p_adjusted=float(p_adjusted),
            correction=correction,
            family_size=family_size,
            confidence=confidence,
        )
        comparisons.append(
            ArmComparison(
                arm_a=arm_a,
                arm_b=arm_b,
                prompt=prompt,
                kind=measure.name,
                measure=measure.title,
                p_adjusted=float(p_adjusted),
                correction=correction,
                family_size=family_size,
                alpha=alpha,
                reference=data.reference.name,
                reference_distance=data.reference.distance,
                more_consistent=winner,
                verdict=verdict,
                **numbers,
            )
        )
    omnibus = pd.DataFrame.from_records(
        omnibus_records,
        columns=[
            "scope",
            "prompt",
            "n_arms",
            "n_prompts",
            "statistic",
            "p_value",
            "n_permutations",
        ],
    )
    omnibus["p_adjusted"] = adjust_p_values(omnibus["p_value"].to_numpy(dtype=float), correction)
    omnibus["differ"] = omnibus["p_adjusted"] < alpha
    _ranks_from_verdicts(ranking_scopes, comparisons)
    ranking_records = [record for _, records in ranking_scopes for record in records]
    ranking = pd.DataFrame.from_records(
        ranking_records,
        columns=[
            "scope",
            "arm",
            "rank",
            "rank_low",
            "rank_high",
            "similarity",
            "ci_low",
            "ci_high",
            "mean_distance",
            "n_images",
            "n_prompts",
        ],
    )
    return SweepComparison(
        kind=measure.name,
        measure=measure.title,
        correction=correction,
        alpha=alpha,
        family_size=family_size,
        reference=data.reference.name,
        reference_distance=data.reference.distance,
        comparisons=comparisons,
        omnibus=omnibus,
        ranking=ranking,
        simulated=data.simulated,
        settings={
            "n_perm": n_perm,
            "n_boot": n_boot,
            "seed": seed,
            "confidence": confidence,
            "min_images": min_images,
            "by_prompt": by_prompt,
            "hash_size": hash_size,
        },
    )
