"""One rater's sitting: the questions in order, each answer kept as it is given.

:class:`RatingSession` is what the rating page (:mod:`imgkit.ratings.page`) and the notebook
panel (:mod:`imgkit.widgets.rating`) both drive, so the two ask the same questions in the same
way. A pair is asked the rubric's questions one at a time (:data:`QUESTIONS`), then the next
pair is chosen (:func:`imgkit.ratings.schedule.next_pair`). Each answer goes to the store before
the next question is shown, so a kill loses at most the question on screen.

What a rater is shown: the two images (by their hash, which names no arm), the prompt as
written (the original, never a rewrite), the question, and how many more answers would likely
settle the ranking. Never the arms, never others' answers, never the ranking itself.
"""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imgkit.errors import RunError, ValidationError
from imgkit.ratings.schedule import Pair, next_pair, rateable_images
from imgkit.ratings.store import CHOICES, CRITERIA, Answer, RatingStore, check_rater
from imgkit.ratings.summary import settle_text

__all__ = ["QUESTIONS", "Question", "RatingSession"]

#: The rubric's questions as a rater reads them.
QUESTIONS = {
    "prompt": "Which image follows the prompt as written?",
    "craft": "Which image is better made? (artefacts, anatomy, lettering)",
    "use": "Which one would you use?",
}


@dataclass(frozen=True)
class Question:
    """The question on screen: ``criterion`` about ``pair``, ``step`` of ``steps``."""

    question_id: str
    pair: Pair
    criterion: str
    step: int
    steps: int
    shown_at: float

    def public(self) -> dict[str, Any]:
        """What the rater's screen may show (no arm, nothing of others' answers)."""
        return {
            "question_id": self.question_id,
            "prompt": self.pair.prompt,
            "criterion": self.criterion,
            "question": QUESTIONS[self.criterion],
            "left": self.pair.left,
            "right": self.pair.right,
            "step": self.step,
            "steps": self.steps,
        }


class RatingSession:
    """``rater`` rating the images of ``run_folder``.

    ``seed``: the schedule's randomness (None: fresh each sitting). ``criteria``: which of the
    rubric's questions to ask, in order. Raises :class:`RunError` for a folder that is not a
    run, :class:`ValidationError` for a bad rater name or criterion.
    """

    def __init__(
        self,
        run_folder: str | os.PathLike[str],
        rater: str,
        *,
        seed: int | None = None,
        criteria: tuple[str, ...] = CRITERIA,
    ) -> None:
        from imgkit.runs.folder import open_run

        self.run_folder = Path(run_folder)
        self.rater = check_rater(rater)
        for criterion in criteria:
            if criterion not in CRITERIA:
                raise ValidationError("criteria", criterion, CRITERIA)
        if not criteria:
            raise ValidationError("criteria", criteria, CRITERIA, detail="at least one")
        self.criteria = tuple(criteria)
        frame = open_run(self.run_folder).to_frame()
        self.simulated = bool(frame["simulated"].fillna(False).astype(bool).any())
        self.images = rateable_images(frame)
        if self.images.empty or self.images.groupby("prompt_id")["arm"].nunique().max() < 2:
            raise RunError(
                f"{self.run_folder} has no prompt with images from two arms: nothing to compare"
            )
        self._paths = {
            str(s): Path(str(p))
            for s, p in zip(self.images["image_sha256"], self.images["image_path"], strict=True)
        }
        self.store = RatingStore(self.run_folder, self.rater)
        self.rng = random.Random(seed)
        self.given = 0
        self._more: int | None = None
        self._current: Question | None = None
        self._advance(None)

    # ------------------------------------------------------------------------------- state

    def _people(self):
        from imgkit.ratings.store import read_answers
        from imgkit.ratings.summary import ratings_frame

        # the answers alone: the prompts' texts (the ledger) are not needed to schedule
        return ratings_frame(answers=read_answers(self.run_folder, source="person"))

    def _advance(self, previous: Question | None) -> None:
        if previous is not None and previous.step < previous.steps:
            pair, step = previous.pair, previous.step + 1
        else:
            pair = next_pair(self.images, self._people(), self.rater, self.rng)
            step = 1
            if pair is None:  # pragma: no cover - the constructor checked there is one
                self._current = None
                return
        self._current = Question(
            question_id=f"{pair.pair_id}-{step}",
            pair=pair,
            criterion=self.criteria[step - 1],
            step=step,
            steps=len(self.criteria),
            shown_at=time.time(),
        )

    @property
    def current(self) -> Question:
        """The question on screen."""
        if self._current is None:  # pragma: no cover - the constructor checked there is one
            raise RunError(f"{self.run_folder} has no pair of images left to compare")
        return self._current

    def more_answers(self) -> int | None:
        """How many more answers (of everyone's) would likely settle the ranking; None when
        some arms look too close to settle with a practical number."""
        from imgkit.ratings.ranking import preferences, ranking
        from imgkit.ratings.summary import settle_estimate

        people = self._people()
        if people.empty:
            return settle_estimate(people.iloc[0:0], people.iloc[0:0])
        rank = ranking(people, per_prompt=False, n_boot=50)
        return settle_estimate(preferences(people), rank)

    def status(self) -> dict[str, Any]:
        """The question on screen, with this rater's count and the settle estimate."""
        more = self.more_answers()
        return {
            **self.current.public(),
            "rater": self.rater,
            "simulated": self.simulated,
            "given": self.given,
            "mine": len(self.store.read()),
            "more_answers": more,
            "settle_text": settle_text(more),
        }

    # ------------------------------------------------------------------------------ answers

    def answer(self, question_id: str, choice: str) -> dict[str, Any]:
        """Keep ``choice`` for the question ``question_id`` (it must be the one on screen, so
        a double click or a stale page cannot answer twice) and move on; return
        :meth:`status`. Raises :class:`ValidationError` for another question or a bad choice."""
        question = self.current
        if question_id != question.question_id:
            raise ValidationError(
                "question_id",
                question_id,
                [question.question_id],
                detail="that question was already answered",
            )
        if choice not in CHOICES:
            raise ValidationError("choice", choice, CHOICES)
        pair = question.pair
        self.store.append(
            Answer(
                rater=self.rater,
                criterion=question.criterion,
                choice=choice,
                prompt_id=pair.prompt_id,
                left=pair.left,
                right=pair.right,
                left_arm=pair.left_arm,
                right_arm=pair.right_arm,
                pair_id=pair.pair_id,
                seconds=round(time.time() - question.shown_at, 3),
            )
        )
        self.given += 1
        self._advance(question)
        return self.status()

    def image_path(self, sha256: str) -> Path | None:
        """The file of one of this run's rateable images (None for anything else)."""
        return self._paths.get(sha256)
