"""Fitting text into a figure: names, titles and axis labels that never run into each other.

The plots in :mod:`imgkit.report.plots` label their categories with arm names such as
``gpt-image-2.6-sunburst@responses``, far wider than the room a category gets when four or
more share an axis. These helpers measure that room from the Axes' size (before anything is
drawn, so they work on any backend) and wrap each name at the places a reader expects: after a
hyphen or a space, before ``@`` or ``+``. When even wrapped names would not fit, the labels
turn upright. Titles and axis labels are wrapped to the length of their side of the Axes, so a
long y label never reaches the title.

The widths are estimates: DejaVu Sans, Matplotlib's default face, averages a little under
0.6 em per character; :data:`CHAR_EM` errs on the wide side.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence

from matplotlib import rcParams
from matplotlib.axes import Axes
from matplotlib.font_manager import FontProperties

__all__ = [
    "CHAR_EM",
    "axes_points",
    "fit_category_ticks",
    "font_points",
    "legend_outside",
    "set_wrapped_labels",
    "set_wrapped_title",
    "wrap_name",
]

#: Average character width, in ems, assumed when fitting text.
CHAR_EM = 0.62
# Where a name may break: after a hyphen, slash or space; before "@" or "+".
_BREAKS = re.compile(r"(?<=[-/ ])|(?=[@+])")
# Wrapped category labels longer than this many lines read worse than upright ones.
_MAX_LINES = 3
# Fewer characters a line than this and a wrapped name is more breaks than name.
_MIN_CHARS = 7


def font_points(size: object) -> float:
    """A Matplotlib font size ("medium", 10, ...) in points."""
    return FontProperties(size=size).get_size_in_points()


def axes_points(ax: Axes) -> tuple[float, float]:
    """The Axes' width and height in points, as laid out now."""
    width, height = ax.figure.get_size_inches()
    box = ax.get_position()
    return box.width * width * 72.0, box.height * height * 72.0


def _chars(room_pt: float, size_pt: float) -> int:
    return max(1, int(room_pt / (CHAR_EM * size_pt)))


def wrap_name(name: str, width: int) -> str:
    """``name`` on lines of at most ``width`` characters where it can break (see the module);
    a piece longer than ``width`` is cut. Joining the lines gives back ``name`` (less the
    spaces at the breaks)."""
    lines: list[str] = []
    line = ""
    for piece in (p for p in _BREAKS.split(name) if p):
        while len(piece) > width:  # no place to break: cut it
            if line:
                lines.append(line)
                line = ""
            lines.append(piece[:width])
            piece = piece[width:]
        if line and len(line) + len(piece.rstrip()) > width:
            lines.append(line)
            line = piece
        else:
            line += piece
    if line or not lines:
        lines.append(line)
    return "\n".join(line.rstrip() for line in lines)


def fit_category_ticks(
    ax: Axes, positions: Sequence[float], labels: Sequence[str], *, axis: str = "x"
) -> None:
    """Label evenly spaced categories (arms, prompts) so that no two labels touch.

    On the x axis each label gets its category's share of the Axes' width: names are wrapped
    to it, in a smaller face if that keeps them to three lines, and turned upright when even
    that fails. On the y axis the labels are one line each, as long as they need.
    """
    labels = [str(label) for label in labels]
    if axis == "y":
        ax.set_yticks(list(positions), labels=labels)
        return
    width_pt, _height = axes_points(ax)
    slot_pt = 0.92 * width_pt / max(1, len(labels))
    base = font_points(rcParams["xtick.labelsize"])
    for size in (base, base * 0.85, max(7.0, base * 0.75)):
        chars = _chars(slot_pt, size)
        if chars < _MIN_CHARS:
            continue
        wrapped = [wrap_name(label, chars) for label in labels]
        if all(text.count("\n") < _MAX_LINES for text in wrapped):
            ax.set_xticks(list(positions), labels=wrapped, fontsize=size)
            return
    ax.set_xticks(list(positions), labels=labels, rotation=90, fontsize=max(7.0, base * 0.85))


def set_wrapped_title(ax: Axes, text: str) -> None:
    """Set the title, wrapped to the Axes' width."""
    width_pt, _height = axes_points(ax)
    size = font_points(rcParams["axes.titlesize"])
    ax.set_title(textwrap.fill(text, _chars(1.05 * width_pt, size)))


def set_wrapped_labels(ax: Axes, xlabel: str | None = None, ylabel: str | None = None) -> None:
    """Set the axis labels, each wrapped to the length of its side of the Axes."""
    width_pt, height_pt = axes_points(ax)
    size = font_points(rcParams["axes.labelsize"])
    if xlabel is not None:
        ax.set_xlabel(textwrap.fill(xlabel, _chars(0.95 * width_pt, size)))
    if ylabel is not None:
        ax.set_ylabel(textwrap.fill(ylabel, _chars(0.95 * height_pt, size)))


def legend_outside(ax: Axes, **kwargs: object) -> None:
    """A legend to the right of the Axes, where it covers no data.

    Figures saved with ``bbox_inches="tight"`` (the notebooks' inline backend, the panels and
    the report) grow to hold it.
    """
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, **kwargs)
