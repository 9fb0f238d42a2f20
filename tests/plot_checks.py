"""Checks on a drawn figure that a person would make by eye: text on text, arms left out.

The figure is drawn with the Agg renderer and every text artist it draws is measured with its
window extent (tick labels only for the ticks inside the view, legends only when shown).
Not a conftest: the plot tests import what they need from here.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.transforms import Bbox

#: Overlaps smaller than this many pixels either way are anti-aliasing, not a collision.
TOLERANCE_PX = 1.0


def drawn(figure: Figure):
    """The figure drawn on an Agg canvas; returns the renderer."""
    canvas = FigureCanvasAgg(figure) if not isinstance(figure.canvas, FigureCanvasAgg) else None
    canvas = canvas or figure.canvas
    canvas.draw()
    return canvas.get_renderer()


def drawn_texts(figure: Figure) -> list[Text]:
    """Every non-empty text artist the figure draws."""
    texts: list[Text] = list(figure.texts)
    for legend in figure.legends:
        texts += [*legend.get_texts(), legend.get_title()]
    for ax in figure.axes:
        if not ax.get_visible():
            continue
        texts += [ax.title, ax._left_title, ax._right_title, *ax.texts]
        if ax.axison:
            for axis in (ax.xaxis, ax.yaxis):
                if not axis.get_visible():
                    continue
                # The ticks Matplotlib draws: those inside the view (private, but it is the one
                # list that says which labels reach the picture).
                for tick in axis._update_ticks():
                    texts += [label for label in (tick.label1, tick.label2) if label.get_visible()]
                texts += [axis.label, axis.offsetText]
        legend = ax.get_legend()
        if legend is not None and legend.get_visible():
            texts += [*legend.get_texts(), legend.get_title()]
    return [t for t in texts if t.get_visible() and t.get_text().strip()]


def _overlap(a: Bbox, b: Bbox) -> bool:
    width = min(a.x1, b.x1) - max(a.x0, b.x0)
    height = min(a.y1, b.y1) - max(a.y0, b.y0)
    return width > TOLERANCE_PX and height > TOLERANCE_PX


def overlapping_texts(figure: Figure) -> list[tuple[str, str]]:
    """Pairs of drawn texts whose bounding boxes overlap, as (text, text)."""
    renderer = drawn(figure)
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in drawn_texts(figure)]
    return [
        (text_a, text_b)
        for (text_a, box_a), (text_b, box_b) in itertools.combinations(boxes, 2)
        if _overlap(box_a, box_b)
    ]


def missing_arms(figure: Figure, arms: Iterable[str]) -> list[str]:
    """The arms no drawn text names (tick labels, legend entries, notes, titles).

    A label wrapped over several lines counts.
    """
    drawn(figure)
    texts = [t.get_text() for t in drawn_texts(figure)]
    # A name wrapped at a hyphen or before "@" reads whole without the break; a sentence
    # wrapped between words reads whole with a space.
    shown = [t.replace("\n", "") for t in texts] + [t.replace("\n", " ") for t in texts]

    def named(arm: str) -> bool:
        # "dall-e-3" is not named by "dall-e-3+as_is": the name must stand on its own.
        pattern = re.compile(rf"(?<![\w@+.-]){re.escape(arm)}(?![\w@+.-])")
        return any(pattern.search(text) for text in shown)

    return [arm for arm in arms if not named(arm)]
