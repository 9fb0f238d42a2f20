"""How far a model's ``revised_prompt`` drifts from the prompt it was asked.

Some models (DALL-E 3, and the Responses API's image tool) rewrite the prompt before drawing and
return the rewrite as ``revised_prompt``. This module measures the rewrite at word level:

* **Jaccard distance** of the two word sets: ``1 - |A & B| / |A | B|`` (0 same words, 1 none
  shared; two empty prompts are at distance 0).
* **Normalized edit distance**: word-level Levenshtein distance (insertions, deletions and
  substitutions of whole words, Levenshtein 1966) divided by the longer prompt's word count.
* **Length ratio**: revised words / original words.
* **Words added and dropped**: distinct words only in the revision / only in the original, in
  order of first appearance.
* **Content retention**: the share of the original's distinct content words (words not in
  :data:`STOP_WORDS`) still present in the revision.

Words are lower-cased runs of letters and digits, apostrophes inside a word kept ("don't");
other punctuation and hyphens split words. DataFrame in, DataFrame out; nothing here draws.
"""

from __future__ import annotations

import difflib
import html
import itertools
import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from imgkit.analysis.consistency import usable_generations
from imgkit.analysis.generations import in_run_order, measure_reference, square_distances
from imgkit.analysis.measures import DEFAULT_MEASURE, Measure, parse_measure
from imgkit.errors import ValidationError

__all__ = [
    "STOP_WORDS",
    "divergence_summary",
    "divergence_table",
    "divergence_vs_distance",
    "edit_distance",
    "html_diff",
    "jaccard_distance",
    "prompt_divergence",
    "rewrite_variability",
    "tokenize",
]

#: Words too common to say anything about content; dropped before counting retention.
# fmt: off
STOP_WORDS = frozenset((
    "a", "an", "the", "and", "or", "but", "nor", "so", "yet", "of", "in", "on", "at", "to", "for",
    "from", "by", "with", "without", "into", "onto", "over", "under", "about", "as", "is", "are",
    "was", "were", "be", "been", "being", "it", "its", "this", "that", "these", "those", "there",
    "here", "their", "his", "her", "my", "your", "our", "which", "who", "whom", "whose", "what",
    "while", "where", "when", "very", "just", "some", "any", "each", "every", "all", "no", "not",
    "than", "then", "too", "also", "up", "down", "out", "off",
))
# fmt: on

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
# Columns carried from the run frame into the per-generation tables when present.
_ID_COLUMNS = (
    "run_id",
    "arm",
    "model",
    "provider",
    "prompt_id",
    "prompt",
    "repeat",
    "image_path",
    "simulated",
)


def _text(value: Any, param: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if not isinstance(value, str):
        raise ValidationError(param, type(value).__name__, "a string or None")
    return value


def tokenize(text: str | None) -> list[str]:
    """Return the lower-cased words of ``text`` (see the module docstring); None gives []."""
    return _WORD.findall(_text(text, "text").lower())


def jaccard_distance(words_a: Sequence[str], words_b: Sequence[str]) -> float:
    """Return ``1 - |A & B| / |A | B|`` over the two word *sets*; 0.0 when both are empty."""
    set_a, set_b = set(words_a), set(words_b)
    union = set_a | set_b
    if not union:
        return 0.0
    return 1.0 - len(set_a & set_b) / len(union)


def edit_distance(words_a: Sequence[str], words_b: Sequence[str]) -> int:
    """Return the Levenshtein distance between two word sequences.

    The smallest number of whole-word insertions, deletions and substitutions turning one into
    the other, by the usual dynamic programme (Wagner & Fischer 1974) keeping two rows.
    """
    if len(words_a) < len(words_b):
        words_a, words_b = words_b, words_a  # the shorter sequence sizes the rows
    previous = list(range(len(words_b) + 1))
    for i, word_a in enumerate(words_a, start=1):
        current = [i]
        for j, word_b in enumerate(words_b, start=1):
            current.append(
                min(
                    previous[j] + 1,  # delete word_a
                    current[j - 1] + 1,  # insert word_b
                    previous[j - 1] + (word_a != word_b),  # keep or substitute
                )
            )
        previous = current
    return previous[-1]


def _unique(words: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(words))


def prompt_divergence(original: str | None, revised: str | None) -> dict[str, Any]:
    """Return every divergence measure for one prompt and its revision, as a dict.

    Keys: ``original_words``, ``revised_words`` (counts), ``jaccard_distance``,
    ``edit_distance`` (normalized, 0..1), ``edit_operations`` (raw Levenshtein count),
    ``length_ratio`` (NaN when the original has no words), ``words_added``, ``words_dropped``
    (lists), ``n_added``, ``n_dropped``, ``content_retention`` (NaN when the original has no
    content words). Raises :class:`ValidationError` if either argument is not a string or None.
    """
    a = tokenize(_text(original, "original"))
    b = tokenize(_text(revised, "revised"))
    set_a, set_b = set(a), set(b)
    added = [w for w in _unique(b) if w not in set_a]
    dropped = [w for w in _unique(a) if w not in set_b]
    content = [w for w in _unique(a) if w not in STOP_WORDS]
    operations = edit_distance(a, b)
    longest = max(len(a), len(b))
    return {
        "original_words": len(a),
        "revised_words": len(b),
        "jaccard_distance": jaccard_distance(a, b),
        "edit_distance": operations / longest if longest else 0.0,
        "edit_operations": operations,
        "length_ratio": len(b) / len(a) if a else math.nan,
        "words_added": added,
        "words_dropped": dropped,
        "n_added": len(added),
        "n_dropped": len(dropped),
        "content_retention": (
            sum(w in set_b for w in content) / len(content) if content else math.nan
        ),
    }


_METRIC_COLUMNS = (
    "original_words",
    "revised_words",
    "jaccard_distance",
    "edit_distance",
    "edit_operations",
    "length_ratio",
    "words_added",
    "words_dropped",
    "n_added",
    "n_dropped",
    "content_retention",
)


def _check_frame(frame: Any) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise ValidationError("frame", type(frame).__name__, "a pandas DataFrame")
    if "prompt" not in frame.columns:
        raise ValidationError("frame", f"columns {list(frame.columns)}", "a prompt column")


def _revised_rows(frame: pd.DataFrame) -> pd.DataFrame:
    rows = frame
    if "status" in rows.columns:
        rows = rows[rows["status"] == "ok"]
    if "revised_prompt" not in rows.columns:
        return rows.iloc[0:0]
    revised = rows["revised_prompt"]
    has_text = revised.map(lambda v: isinstance(v, str) and v.strip() != "")
    return rows[has_text.astype(bool)]


def divergence_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Return one row per generation that has a ``revised_prompt``.

    Only rows with status ``"ok"`` count when there is a status column. Columns: the
    identifying columns of the run frame that are present (run_id, arm, model, provider,
    prompt_id, prompt, repeat, image_path, simulated), ``revised_prompt``, then the measures of
    :func:`prompt_divergence`. The input's index is kept. A frame without revised prompts gives
    an empty table with the same columns. Raises :class:`ValidationError` without ``prompt``.
    """
    _check_frame(frame)
    rows = _revised_rows(frame)
    ids = [c for c in _ID_COLUMNS if c in frame.columns]
    if "revised_prompt" in rows.columns:
        base = rows[[*ids, "revised_prompt"]]
    else:
        base = pd.DataFrame(columns=[*ids, "revised_prompt"], index=rows.index)
    records = [
        prompt_divergence(original, revised)
        for original, revised in zip(base["prompt"], base["revised_prompt"], strict=True)
    ]
    metrics = pd.DataFrame.from_records(records, index=base.index, columns=list(_METRIC_COLUMNS))
    return pd.concat([base, metrics], axis=1)


def rewrite_variability(frame: pd.DataFrame) -> pd.DataFrame:
    """Return, per arm and prompt, how differently the model rewrote the same prompt each time.

    Arms sorted, and each arm's prompts in the order they first appear in ``frame``.

    Columns: ``arm``, ``prompt``, ``n_revised``, ``n_distinct`` (different revised texts),
    ``mean_pairwise_jaccard`` and ``mean_pairwise_edit`` (mean over all pairs of revisions of
    the Jaccard distance and the normalized edit distance between them; NaN with fewer than two
    revisions), and ``mean_jaccard_to_prompt`` (mean drift from the prompt asked).
    """
    _check_frame(frame)
    if "arm" not in frame.columns:
        raise ValidationError("frame", f"columns {list(frame.columns)}", "an arm column")
    rows = in_run_order(_revised_rows(frame))
    records = []
    for (arm, prompt), group in rows.groupby(["arm", "prompt"], sort=False):
        texts = group["revised_prompt"].tolist()
        words = [tokenize(t) for t in texts]
        pairs = list(itertools.combinations(range(len(words)), 2))
        # A rewriting model often returns the same few revisions: each distinct pair of texts
        # is compared once (the same numbers, in the same order, as comparing every pair).
        compared: dict[tuple[str, str], tuple[float, float]] = {}
        jaccards = []
        edits = []
        for i, j in pairs:
            key = (texts[i], texts[j])
            if key not in compared:
                longest = max(len(words[i]), len(words[j]))
                compared[key] = (
                    jaccard_distance(words[i], words[j]),
                    edit_distance(words[i], words[j]) / longest if longest else 0.0,
                )
            jaccard, edit = compared[key]
            jaccards.append(jaccard)
            edits.append(edit)
        asked = tokenize(prompt)
        records.append(
            {
                "arm": arm,
                "prompt": prompt,
                "n_revised": len(texts),
                "n_distinct": len(set(texts)),
                "mean_pairwise_jaccard": float(np.mean(jaccards)) if pairs else math.nan,
                "mean_pairwise_edit": float(np.mean(edits)) if pairs else math.nan,
                "mean_jaccard_to_prompt": float(
                    np.mean([jaccard_distance(asked, w) for w in words])
                ),
            }
        )
    columns = [
        "arm",
        "prompt",
        "n_revised",
        "n_distinct",
        "mean_pairwise_jaccard",
        "mean_pairwise_edit",
        "mean_jaccard_to_prompt",
    ]
    return pd.DataFrame.from_records(records, columns=columns)


def divergence_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Return per-arm means of a :func:`divergence_table`: what the divergence plot draws.

    Columns: ``arm``, ``n``, ``jaccard_distance``, ``edit_distance``, ``content_dropped``
    (1 - mean content retention), ``length_ratio``; each is the mean over the arm's rows
    (NaN values skipped).
    """
    needed = ["arm", "jaccard_distance", "edit_distance", "content_retention", "length_ratio"]
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise ValidationError("table", f"missing columns {missing}", "a divergence_table frame")
    records = []
    for arm, group in table.groupby("arm", sort=True):
        records.append(
            {
                "arm": arm,
                "n": len(group),
                "jaccard_distance": group["jaccard_distance"].astype(float).mean(),
                "edit_distance": group["edit_distance"].astype(float).mean(),
                "content_dropped": 1.0 - group["content_retention"].astype(float).mean(),
                "length_ratio": group["length_ratio"].astype(float).mean(),
            }
        )
    columns = ["arm", "n", "jaccard_distance", "edit_distance", "content_dropped", "length_ratio"]
    return pd.DataFrame.from_records(records, columns=columns)


def _match_key(token: str) -> str:
    # Tokens match when they are the same word, whatever the case or trailing punctuation.
    return "".join(tokenize(token)) or token


def html_diff(original: str | None, revised: str | None) -> str:
    """Return an HTML fragment showing how ``revised`` differs from ``original``, word by word.

    Removed words are wrapped in ``<del class="imgkit-del">``, added words in
    ``<ins class="imgkit-ins">``, the whole in ``<span class="imgkit-diff">``. Words are compared
    ignoring case and punctuation (via :func:`difflib.SequenceMatcher`); unchanged words are shown
    as the revision writes them. Every piece of text is escaped with :func:`html.escape`
    (quotes included), so the result is safe to embed whatever the prompts contain.
    Raises :class:`ValidationError` if an argument is not a string or None.
    """
    old = _text(original, "original").split()
    new = _text(revised, "revised").split()
    matcher = difflib.SequenceMatcher(
        None, [_match_key(t) for t in old], [_match_key(t) for t in new], autojunk=False
    )
    parts = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op in ("delete", "replace"):
            parts.append(f'<del class="imgkit-del">{html.escape(" ".join(old[i1:i2]))}</del>')
        if op in ("insert", "replace"):
            parts.append(f'<ins class="imgkit-ins">{html.escape(" ".join(new[j1:j2]))}</ins>')
        if op == "equal":
            parts.append(html.escape(" ".join(new[j1:j2])))
    return f'<span class="imgkit-diff">{" ".join(parts)}</span>'


def divergence_vs_distance(
    frame: pd.DataFrame, kind: Measure | str = DEFAULT_MEASURE, *, hash_size: int = 8
) -> pd.DataFrame:
    """Return, per generation, how far its prompt was rewritten against how far its image strays.

    The image distance of a generation is its **mean distance (on the measure ``kind``, the
    learned one by default) to the other images of the same arm and prompt** (not to a medoid:
    with the 3-10 repeats of a drill a medoid is itself one of the images and would sit at
    distance 0). ``image_distance_norm`` divides it by the measure's reference distance, so 1
    is as far apart as unrelated photographs. Only generations with a revised prompt and an
    image in a group of at least two images appear. Columns: the identifying columns present,
    ``kind``, ``jaccard_distance``, ``edit_distance``, ``content_retention``,
    ``image_distance``, ``image_distance_norm``. Raises :class:`ValidationError` for an unknown
    kind.
    """
    measure = parse_measure(kind, hash_size=hash_size)
    _check_frame(frame)
    table = divergence_table(frame)
    rows = usable_generations(frame, (measure,))
    image_distance = pd.Series(np.nan, index=rows.index, dtype=float)
    scale = measure_reference(rows, measure).distance if len(rows) else math.nan
    for _, group in rows.groupby(["arm", "prompt"], sort=False):
        if len(group) < 2:
            continue
        matrix = square_distances(measure.points(group[measure.name].tolist()))
        image_distance[group.index] = matrix.sum(axis=1) / (len(group) - 1)
    ids = [c for c in _ID_COLUMNS if c in table.columns]
    joined = table[[*ids, "jaccard_distance", "edit_distance", "content_retention"]].join(
        image_distance.rename("image_distance"), how="inner"
    )
    joined = joined[joined["image_distance"].notna()].copy()
    joined["image_distance_norm"] = joined["image_distance"] / scale
    joined.insert(len(ids), "kind", measure.name)
    joined.attrs.update(kind=measure.name, title=measure.title, unit=measure.unit, scale=scale)
    return joined
