"""What the report says about consistency: the verdicts, rankings and similarities as text.

Part of :mod:`imgkit.report.content` (see there): each function turns the numbers of a
:class:`~imgkit.report.data.ReportData` into sentences or a :class:`Table`, nothing drawn and
nothing escaped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from imgkit.report.data import ReportData
from imgkit.report.table_rows import Table, fmt

__all__ = [
    "VERDICT_HEAD",
    "methods_text",
    "ranking_table",
    "scale_note",
    "similarities_note",
    "similarities_table",
    "verdict_lines",
    "verdict_rows",
]


def _scope(prompt: Any, numbers: Mapping[str, str]) -> str:
    if prompt is None:
        return "all prompts"
    return f"prompt {numbers[str(prompt)]}" if str(prompt) in numbers else str(prompt)


def verdict_lines(data: ReportData, numbers: Mapping[str, str]) -> list[tuple[str, str]]:
    """(scope, sentence) per comparison, the planner's line after an inconclusive one."""
    lines = []
    for comparison, plan in zip(data.comparisons, data.plans, strict=True):
        text = str(comparison.verdict)
        if plan:
            text += " " + plan
        lines.append((_scope(comparison.prompt, numbers), text))
    return lines


def _interval(low: float, high: float, signed: bool = False) -> str:
    spec = "+.2f" if signed else ".2f"
    if not (np.isfinite(low) and np.isfinite(high)):
        return "n/a"
    return f"[{low:{spec}}, {high:{spec}}]"


def _p_text(p: float) -> str:
    if not np.isfinite(p):
        return "n/a"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def verdict_rows(data: ReportData, numbers: Mapping[str, str]) -> list[list[str]]:
    rows = []
    for c in data.comparisons:
        # One sign convention with the verdict sentences: a winner is named first (A), so the
        # difference A - B is the positive one the headline states; without one, the run's order.
        flip = c.more_consistent is not None and c.more_consistent == c.arm_b
        arm_a, arm_b = (c.arm_b, c.arm_a) if flip else (c.arm_a, c.arm_b)
        sim_a, ci_a, sim_b, ci_b = (
            (c.similarity_b, c.ci_b, c.similarity_a, c.ci_a)
            if flip
            else (c.similarity_a, c.ci_a, c.similarity_b, c.ci_b)
        )
        sign = -1 if flip else 1
        low, high = sorted((sign * c.difference_ci[0], sign * c.difference_ci[1]))
        n_a, n_b = (c.n_b, c.n_a) if flip else (c.n_a, c.n_b)
        if c.more_consistent is not None:
            word = f"{c.more_consistent} more consistent"
        elif np.isfinite(c.p_value):
            word = "no clear difference"
        else:
            word = "too few images"
        rows.append(
            [
                _scope(c.prompt, numbers),
                f"{arm_a} vs {arm_b}",
                f"{fmt(sim_a, 2)} {_interval(*ci_a)}",
                f"{fmt(sim_b, 2)} {_interval(*ci_b)}",
                (
                    f"{sign * c.difference:+.2f} {_interval(low, high, signed=True)}"
                    if np.isfinite(c.difference)
                    else "n/a"
                ),
                _p_text(c.p_value),
                _p_text(c.p_adjusted),
                f"{n_a} / {n_b}",
                word,
            ]
        )
    return rows


VERDICT_HEAD = [
    "scope",
    "arms (A vs B)",
    "similarity A",
    "similarity B",
    "difference A - B (95% interval)",
    "p",
    "adjusted p",
    "images",
    "verdict",
]


def ranking_table(data: ReportData, numbers: Mapping[str, str]) -> Table | None:
    ranking = data.sweep.ranking
    if ranking["arm"].nunique() < 2:
        return None
    rows = []
    for r in ranking.to_dict(orient="records"):
        low, high = r["rank_low"], r["rank_high"]
        interval = (
            "n/a"
            if not (np.isfinite(low) and np.isfinite(high))
            else (f"{int(low)}" if low == high else f"{int(low)}-{int(high)}")
        )
        rank = f"{r['rank']:g}"
        rows.append(
            [
                _scope_text(r["scope"], numbers),
                rank,
                str(r["arm"]),
                f"{fmt(r['similarity'], 2)} {_interval(r['ci_low'], r['ci_high'])}",
                interval,
                str(r["n_images"]),
            ]
        )
    similarity = f"{data.measure.title} similarity (95% interval)"
    head = ["scope", "rank", "arm", similarity, "rank interval", "images"]
    return Table(head, rows)


def similarities_table(data: ReportData) -> Table | None:
    """Each arm's similarity on every measure, the learned one first: how consistent each arm
    is, with what the hashes say beside it."""
    table = data.similarities
    if not len(table):
        return None
    measures = list(dict.fromkeys(table["kind"]))
    titles = dict(zip(table["kind"], table["title"], strict=False))
    head = ["arm", *[_measure_heading(k, titles[k], k == data.kind) for k in measures], "images"]
    rows = []
    for arm, mine in table.groupby("arm", sort=False):
        by_kind = mine.set_index("kind")
        cells = [str(arm)]
        for kind in measures:
            r = by_kind.loc[kind]
            cells.append(f"{fmt(r['similarity'], 2)} {_interval(r['ci_low'], r['ci_high'])}")
        cells.append(str(int(by_kind.loc[data.kind, "n_images"])))
        rows.append(cells)
    return Table(head, rows)


def _measure_heading(kind: str, title: str, lead: bool) -> str:
    return f"{title} similarity (95% interval)" if lead else f"{title}"


def similarities_note(data: ReportData) -> str:
    table = data.similarities
    if not len(table):
        return ""
    lead = data.measure
    hashes = [str(k) for k in dict.fromkeys(table.loc[table["family"] == "hash", "kind"])]
    text = (
        f"{lead.title} similarity compares what the images show ({lead.detects}): it is what "
        "the verdicts use."
    )
    if hashes:
        text += (
            f" {', '.join(hashes)} are perceptual hashes: they find near-duplicates (the same "
            "picture resized, recompressed or lightly edited), and two different pictures of "
            "one subject score near 0 on them, as real models' repeats do."
        )
    return text


def scale_note(data: ReportData) -> str:
    """What a similarity of 0 and of 1 mean here, and where the 0 comes from."""
    from imgkit.analysis.reference import UNRELIABLE_KINDS, calibration

    reference = data.reference
    if reference is None:
        return "No image could be measured, so there is no similarity to show."
    if not reference.calibrated:
        return (
            f"Similarity: 1 = identical hashes, 0 = as far apart as independent random bits "
            f"({reference.distance:g} of {reference.bits} bits): this hash size is not "
            "calibrated on photographs."
        )
    images = len(calibration()["images"])
    low, high = reference.distance_ci
    if reference.unit == "bits":
        measured = (
            f"{data.kind}: {reference.distance:.1f} of {reference.bits} bits on average, 95% "
            f"interval {low:.1f}-{high:.1f}"
        )
        same = "identical hashes"
    else:
        network = data.measure.network
        measured = (
            f"{network.title}, {network.weights}, {network.licence}: cosine distance "
            f"{reference.distance:.3f} on average, 95% interval {low:.3f}-{high:.3f}"
        )
        same = "identical features"
    text = (
        f"Similarity is on a fixed scale, the same in every run: 1 = {same}, 0 = as far apart "
        f"as unrelated natural photographs ({measured}; calibration '{reference.name}', "
        f"{images} openly licensed photographs from scikit-image, made by "
        "tools/calibrate_reference.py). Each measure has its own calibration. 'Cross-prompt "
        "similarity' is the second, run-relative figure: against this run's own distance "
        "between images of different prompts."
    )
    unreliable = [k for k in data.settings.get("kinds", []) if k in UNRELIABLE_KINDS]
    for kind in unreliable:
        text += f" Read {kind} with care: {UNRELIABLE_KINDS[kind]}."
    return text


def _scope_text(scope: Any, numbers: Mapping[str, str]) -> str:
    """A ranking's scope: "all prompts" or a prompt, named by its number."""
    return f"prompt {numbers[str(scope)]}" if str(scope) in numbers else str(scope)


def methods_text(data: ReportData) -> str:
    s = data.settings
    correction = {
        "holm": "Holm's step-down procedure (Holm 1979), which keeps the chance of naming any "
        "false winner at or below alpha",
        "bh": "the Benjamini-Hochberg procedure (Benjamini & Hochberg 1995), which keeps the "
        "expected share of false winners among those named at or below alpha",
        "none": "no correction (each comparison on its own)",
    }[s["correction"]]
    family = data.sweep.family_size
    pooled = ", pooled over the prompts" if data.frame["prompt"].nunique() > 1 else ""
    scope = "every pair of arms" + (pooled + " and on each prompt" if s["by_prompt"] else pooled)
    if data.measure.learned:
        distances = (
            f"The verdicts' distances are cosine distances (1 - cosine similarity) between the "
            f"pooled features of {data.measure.network.title} on a 224 px centre crop of each "
            "image; the hashes' are Hamming distances between perceptual hashes"
        )
    else:
        distances = f"The verdicts' distances are Hamming distances between {data.kind} hashes"
    return (
        f"{distances}; similarity = 1 - mean "
        "distance / reference distance, clipped to 0..1, where the reference is the mean "
        "distance between unrelated natural photographs, calibrated once per measure "
        "(so a similarity means the same in every run). Intervals: percentile bootstrap over "
        f"images within each arm and prompt (Efron & Tibshirani 1993), {s['n_boot']} replicates. "
        f"Comparisons ({scope}): the difference in mean within-arm distance, tested by "
        "permuting the arm labels of images within each prompt (Good 2005): exact when there are "
        f"at most {s['n_perm']} relabellings, else Monte Carlo with up to {s['n_perm']}, stopped "
        "early once the p-value is settled (Besag & Clifford 1991); the effect is the "
        "difference in similarity, with the interval of differences that test accepts (the "
        "test inverted under a shift model), which leaves out 0 exactly when the unadjusted "
        f"p is below {1 - s['confidence']:.2g} (a bootstrap interval over a handful of images "
        "can disagree with the "
        "test). The p-values of all "
        f"{family} comparisons stated are adjusted with {correction}; a winner is named only "
        f"when the adjusted p is below {s['alpha']:g}. Omnibus: a permutation test that all arms "
        "are equally consistent (the spread of their mean distances, labels shuffled within "
        "prompts). Ranks: an arm's rank interval runs from 1 + the arms named more consistent "
        "than it to the number of arms less those it was named more consistent than (Klein, "
        "Wright & Wieczorek 2020), so it never says less than the verdicts (widened to hold "
        "the observed rank where arms pooled over prompts do not share them all). "
        "Repeats that would "
        "settle an inconclusive comparison: "
        "power by simulation from this run's images (the test above run on simulated images, "
        "Collings & Hamilton 1988; imgkit plan), priced at the catalog's prices. Near-duplicate: "
        f"a pair at most {fmt(s['near_duplicate'], 2)} x the reference distance apart. Seed "
        f"{s['seed']}. Monthly cost: the run's own cost per image x images a day x {s['days']} "
        f"days. imgkit {s['imgkit']}."
    )
