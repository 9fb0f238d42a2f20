"""Blind rating in a notebook, and the ranking it gives in the drill panel.

:class:`RatingPanel` is the notebook's version of the ``imgkit rate`` page: the same
:class:`~imgkit.ratings.session.RatingSession` chooses each pair and keeps each answer, so a
class can rate some laptops in JupyterLab and others in a browser and merge the answers.
Buttons answer (a notebook cell owns the keyboard; the page has the keys). :func:`quality_html`
is what the drill panel shows under its verdict: the people's ranking once a run has ratings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ipywidgets as widgets

from imgkit.widgets._common import escape, frame_html, simulated_badge

__all__ = ["RatingPanel", "quality_html"]

_IMAGE_LAYOUT = {"max_width": "420px", "max_height": "420px", "border": "1px solid #ddd"}


def _run_folder(run: Any) -> Path:
    return Path(getattr(run, "path", run))


class RatingPanel(widgets.VBox):
    """Rate ``run`` (a ``Run`` or its folder) blind as ``rater``: two images of one prompt,
    the arms hidden, one question at a time; Left, Tie, Skip and Right answer it.

    ``seed``: the schedule's randomness. Raises what :class:`RatingSession` raises (a folder
    that is not a run, a bad rater name, a run with nothing to compare).
    """

    def __init__(self, run: Any, rater: str, *, seed: int | None = None) -> None:
        from imgkit.ratings.session import RatingSession

        self.session = RatingSession(_run_folder(run), rater, seed=seed)
        self.banner = widgets.HTML(simulated_badge(self.session.simulated))
        self.prompt = widgets.HTML()
        self.question = widgets.HTML()
        self.left = widgets.Image(layout=widgets.Layout(**_IMAGE_LAYOUT))
        self.right = widgets.Image(layout=widgets.Layout(**_IMAGE_LAYOUT))
        self.buttons = {
            choice: widgets.Button(description=label, layout=widgets.Layout(width="110px"))
            for choice, label in (
                ("left", "Left"),
                ("tie", "Tie"),
                ("skip", "Skip"),
                ("right", "Right"),
            )
        }
        for choice, button in self.buttons.items():
            button.on_click(lambda _button, choice=choice: self.answer(choice))
        self.status = widgets.HTML()
        super().__init__(
            [
                self.banner,
                self.prompt,
                self.question,
                widgets.HBox([self.left, self.right]),
                widgets.HBox(list(self.buttons.values())),
                self.status,
            ]
        )
        self._show(self.session.status())

    def answer(self, choice: str) -> None:
        """Answer the question on screen with ``choice`` (what each button does)."""
        self._show(self.session.answer(self.session.current.question_id, choice))

    def _show(self, status: dict[str, Any]) -> None:
        self.prompt.value = (
            '<div style="background:#f4f4f4;padding:6px 10px;border-radius:4px">'
            f"<b>Prompt:</b> {escape(status['prompt'])}</div>"
        )
        self.question.value = (
            f"<h3>{escape(status['question'])} ({status['step']} of {status['steps']})</h3>"
        )
        for image, sha in ((self.left, status["left"]), (self.right, status["right"])):
            path = self.session.image_path(sha)
            if path is not None:
                image.format = path.suffix.lstrip(".").replace("jpg", "jpeg") or "png"
                image.value = path.read_bytes()
        self.status.value = (
            f"<p>{status['mine']} answers from you so far. {escape(status['settle_text'])}</p>"
        )


def quality_html(run: Any) -> str:
    """The drill panel's lines about ratings: the people's ranking and verdicts when the run
    has ratings, else how to start rating (escaped HTML)."""
    folder = _run_folder(run)
    if not (folder / "ratings").is_dir():
        return (
            "<p><i>No blind ratings yet. Rate the images: "
            "<code>RatingPanel(run, 'your-name')</code> here, or "
            "<code>imgkit rate RUN --rater NAME</code> in a terminal.</i></p>"
        )
    from imgkit.ratings.summary import rating_summary, settle_text

    summary = rating_summary(folder, n_boot=300)
    if not summary.people_answers:
        return "<p><i>No person has rated this run's images yet.</i></p>"
    rank = summary.ranking[summary.ranking["prompt_id"].isna()].copy()
    rank["score [95% CI]"] = [
        f"{s:.2f} [{lo:.2f}, {hi:.2f}]"
        for s, lo, hi in zip(rank["score"], rank["score_low"], rank["score_high"], strict=True)
    ]
    rank["question"] = rank["criterion"].map(
        {"prompt": "follows the prompt", "craft": "better made", "use": "would use"}
    )
    verdicts = "".join(f"<p>{escape(v)}</p>" for v in summary.verdicts)
    raters = len(summary.raters)
    return (
        f"<h4>Blind ratings: {summary.people_answers} answers from {raters} "
        f"rater{'s' if raters != 1 else ''}</h4>{verdicts}"
        + frame_html(rank, columns=["question", "rank", "arm", "score [95% CI]", "answers"])
        + f"<p>{escape(settle_text(summary.more_answers))}</p>"
    )
