"""Quality as people and a judge see it: blind pairwise ratings kept in a run folder.

* :mod:`~imgkit.ratings.store`: answers appended crash-safe to ``RUN/ratings/<rater>.jsonl``,
  merged across copies of a run by answer id;
* :mod:`~imgkit.ratings.schedule` and :mod:`~imgkit.ratings.session`: which pair to ask next,
  one rater's sitting (shared by the web page and the notebook panel);
* :mod:`~imgkit.ratings.page`: ``imgkit rate``, the page on 127.0.0.1;
* :mod:`~imgkit.ratings.ranking` and :mod:`~imgkit.ratings.agreement`: Bradley-Terry rankings
  with bootstrap intervals, pairwise verdicts, Krippendorff's alpha;
* :mod:`~imgkit.ratings.summary`: the frames and :func:`rating_summary`;
* :mod:`~imgkit.ratings.judge`: a vision model asked the same questions.
"""

from __future__ import annotations

from imgkit.ratings.store import CRITERIA, Answer, RatingStore, merge_ratings, read_answers

__all__ = [
    "CRITERIA",
    "Answer",
    "RatingStore",
    "merge_ratings",
    "rating_summary",
    "ratings_frame",
    "read_answers",
]


def __getattr__(name: str):
    # pandas loads when a frame is asked for, not when a page imports the store
    if name in ("rating_summary", "ratings_frame"):
        from imgkit.ratings import summary

        return getattr(summary, name)
    raise AttributeError(name)
