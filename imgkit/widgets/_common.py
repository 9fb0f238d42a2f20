"""Pieces every panel shares: labels, HTML, figures as PNG, and work in a background thread.

Nothing here knows about drills, costs or chains; the panels stay thin by leaning on these few
helpers and on the library functions they call.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import io
import math
import os
import threading
import traceback
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pandas as pd

from imgkit.catalog.models import Catalog, ModelSpec, default_catalog
from imgkit.providers.base import KEY_VARIABLES

__all__ = [
    "API_KEY_VARIABLES",
    "SCROLL_SIDEWAYS",
    "SIMULATED_NOTE",
    "TABLE_STYLE",
    "BackgroundTask",
    "escape",
    "figure_png",
    "frame_html",
    "has_live_key",
    "hide_picture",
    "model_label",
    "model_options",
    "new_figure",
    "number_problem",
    "show_picture",
    "simulated_badge",
    "table_box",
    "usd",
]

#: Environment variables that hold each provider's key (the providers' own table). Live mode is
#: offered only when one is set; the panels never read the key itself.
API_KEY_VARIABLES: Mapping[str, tuple[str, ...]] = KEY_VARIABLES

#: The words shown next to anything the simulator drew or priced.
SIMULATED_NOTE = "SIMULATED: made by imgkit's offline simulator, not by the real service"

#: The panels' tables: a grid, and each header left-aligned over its (left-aligned) cells, as
#: the report draws them (JupyterLab's own table style leaves cells unruled and centres some
#: headers).
TABLE_STYLE = (
    ".imgkit-table {border-collapse: collapse; margin: 4px 0} "
    ".imgkit-table th, .imgkit-table td {border: 1px solid #d0d7de; padding: 3px 6px; "
    "vertical-align: top} "
    ".imgkit-table th {text-align: left; background: #f6f8fa; font-weight: 600} "
    ".imgkit-table td {text-align: left} "
    # ipywidgets' HTML content is a flex item that grows to its widest line: keep it within the
    # panel so a wide table scrolls sideways inside its box instead of running past the edge.
    ".widget-html-content:has(> .imgkit-table-wrap) {min-width: 0; max-width: 100%} "
)

#: Style of a box that scrolls sideways when its table is wider than the panel.
SCROLL_SIDEWAYS = "overflow-x: auto; max-width: 100%"

_BADGE_STYLE = (
    "display:inline-block;background:#fde68a;color:#78350f;border-radius:4px;padding:1px 6px;"
    "font-weight:600;font-size:0.85em"
)


def escape(value: Any) -> str:
    """``value`` as text, safe to put inside HTML (quotes escaped too)."""
    return html.escape("" if value is None else str(value), quote=True)


def simulated_badge(simulated: bool = True) -> str:
    """An HTML badge saying the thing beside it is simulated ("" when it is not)."""
    if not simulated:
        return ""
    return f'<span class="imgkit-simulated" style="{_BADGE_STYLE}">{escape(SIMULATED_NOTE)}</span>'


def usd(value: float, places: int | None = None) -> str:
    """Dollars to the cent or better: ``places`` decimals, or (None) at least two and as many
    more, up to six, as the amount needs, so a tenth of a cent never shows as "$0.00"."""
    if places is not None:
        return f"${value:,.{places}f}"
    whole, _, cents = f"{value:,.6f}".rstrip("0").partition(".")
    return f"${whole}.{cents.ljust(2, '0')}"


def number_problem(
    param: str,
    value: Any,
    *,
    low: float,
    high: float | None = None,
    whole: bool = False,
    noun: str | None = None,
    note: str = "",
) -> str | None:
    """Why ``value`` is refused for the input ``param``, or None when it is allowed.

    The panels take numbers in unbounded boxes, so what was typed stays on screen; a value out
    of range is refused with this message (the one ValidationError format: parameter, value,
    what is allowed, e.g. "a whole number from 1 to 50") rather than silently replaced by the
    nearest allowed one. ``noun`` names the kind of number ("a dollar amount"); ``note`` is
    added to what is allowed.
    """
    from imgkit.errors import ValidationError

    noun = noun or ("a whole number" if whole else "a number")
    bounds = f"from {low:g} to {high:g}" if high is not None else f">= {low:g}"
    allowed = f"{noun} {bounds}{note}"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(ValidationError(param, value, allowed))
    if (
        not math.isfinite(number)
        or number < low
        or (high is not None and number > high)
        or (whole and not number.is_integer())
    ):
        return str(ValidationError(param, value, allowed))
    return None


def table_box() -> Any:
    """An HTML widget for a table: as wide as its panel, scrolling sideways inside it when the
    table is wider (ipywidgets lets an HTML widget's content grow past the panel otherwise)."""
    import ipywidgets as widgets

    return widgets.HTML(layout=widgets.Layout(width="100%", overflow="auto"))


def show_picture(image: Any, png: bytes) -> None:
    """Put ``png`` in an ipywidgets Image and show it."""
    image.value = png
    image.layout.display = None


def hide_picture(image: Any) -> None:
    """Empty an ipywidgets Image and hide it: an empty one shows as a broken-image icon."""
    image.value = b""
    image.layout.display = "none"


def has_live_key(provider: str = "openai", environ: Mapping[str, str] | None = None) -> bool:
    """Whether a key for ``provider`` is in the environment (live mode needs one)."""
    environ = os.environ if environ is None else environ
    return any(environ.get(name) for name in API_KEY_VARIABLES.get(provider, ()))


def model_label(spec: ModelSpec, today: dt.date | None = None) -> str:
    """A model's name with its life status, e.g. "dall-e-3 (retired 2026-05-12: simulator only)"."""
    status = spec.status(today)
    if status == "retired":
        shutdown = spec.lifecycle.shutdown_on.isoformat() if spec.lifecycle.shutdown_on else ""
        return f"{spec.name} (retired {shutdown}: simulator only)".replace(" :", ":")
    if status == "deprecated":
        when = spec.lifecycle.shutdown_on
        return f"{spec.name} (deprecated{', shuts down ' + when.isoformat() if when else ''})"
    return spec.name


def model_options(
    catalog: Catalog | None = None,
    *,
    endpoint: str = "generate",
    live: bool = False,
    today: dt.date | None = None,
) -> list[tuple[str, str]]:
    """(label, model name) pairs for a picker: models serving ``endpoint``.

    With ``live=True`` retired models are left out, since the services no longer run them.
    """
    catalog = catalog or default_catalog()
    options = []
    for spec in catalog.values():
        if endpoint not in spec.endpoints:
            continue
        if live and spec.status(today) == "retired":
            continue
        options.append((model_label(spec, today), spec.name))
    return options


def new_figure(figsize: tuple[float, float], nrows: int = 1, ncols: int = 1) -> tuple[Any, Any]:
    """(Figure, Axes or array of Axes) made without pyplot.

    The panels draw in worker threads; pyplot keeps a global list of open figures that the
    notebook's inline backend shows and closes after each cell, so a figure made through it in
    a thread could be stolen mid-drawing. A bare :class:`~matplotlib.figure.Figure` is private.
    """
    from matplotlib.figure import Figure

    figure = Figure(figsize=figsize)
    axes = figure.subplots(nrows, ncols)
    return figure, axes


def figure_png(figure: Any, *, dpi: int = 90) -> bytes:
    """Render a matplotlib figure to PNG bytes (widgets show bytes, not figures)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


def _cell(value: Any, max_chars: int) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, str) and len(value) > max_chars:
        return value[: max_chars - 1].rstrip() + "…"
    return value


def frame_html(
    frame: pd.DataFrame,
    *,
    columns: Iterable[str] | None = None,
    max_rows: int = 50,
    max_chars: int = 80,
    wrap: Iterable[str] = (),
    drop_empty: bool = False,
    **kwargs: Any,
) -> str:
    """An escaped HTML table of ``frame`` (the columns present among ``columns``).

    Missing values are blank (never "None"), texts longer than ``max_chars`` are cut, and each
    cell stays on one line except in the ``wrap`` columns; a table wider than its panel
    scrolls sideways inside it instead of running past the edge. With ``drop_empty``, columns
    with nothing in them (no errors, say) are left out.
    """
    if columns is not None:
        frame = frame[[c for c in columns if c in frame.columns]]
    if drop_empty:
        frame = frame[[c for c in frame.columns if frame[c].notna().any()]]
    if frame.empty:
        return "<p><i>nothing yet</i></p>"
    kwargs.setdefault("float_format", lambda x: f"{x:.3f}")
    kwargs.setdefault("justify", "left")  # headers over their (left-aligned) cells
    shown = frame.head(max_rows).astype(object).map(lambda v: _cell(v, max_chars))
    wrapped = set(wrap)
    positions = [k for k, c in enumerate(shown.columns, 1) if c not in wrapped]
    # A class of its own, so the one-line rule reaches this table's columns and no other's.
    name = "imgkit-t-" + hashlib.sha1(repr(list(shown.columns)).encode()).hexdigest()[:8]
    rule = ", ".join(f".{name} td:nth-child({k}), .{name} th:nth-child({k})" for k in positions)
    style = f"<style>{TABLE_STYLE}{rule} {{white-space: nowrap}}</style>" if positions else ""
    style = style or f"<style>{TABLE_STYLE}</style>"
    table = shown.to_html(
        index=False, escape=True, border=0, classes=["imgkit-table", name], na_rep="", **kwargs
    )
    return f'<div class="imgkit-table-wrap" style="{SCROLL_SIDEWAYS}">{style}{table}</div>'


class BackgroundTask:
    """Run a function in a daemon thread so the kernel keeps answering the notebook meanwhile.

    ``stop()`` sets :attr:`stop_event`, which the function is expected to check (or hand to the
    library call that does); ``wait()`` blocks until the function returns. The result and any
    exception are kept; ``on_done`` is called in the worker thread with the task itself.
    """

    def __init__(
        self,
        target: Callable[[threading.Event], Any],
        *,
        on_done: Callable[[BackgroundTask], None] | None = None,
        name: str = "imgkit-widget-task",
    ) -> None:
        self.stop_event = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None
        self.error_text: str = ""
        self._target = target
        self._on_done = on_done
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> BackgroundTask:
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            self.result = self._target(self.stop_event)
        except BaseException as exc:
            self.error = exc
            self.error_text = "".join(traceback.format_exception(exc))
        finally:
            if self._on_done is not None:
                try:
                    self._on_done(self)
                except BaseException as exc:
                    self.error = self.error or exc
                    self.error_text = self.error_text or "".join(traceback.format_exception(exc))

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        """Ask the work to stop; it finishes what is in flight and returns."""
        self.stop_event.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the work is done (or ``timeout`` seconds pass); True when it is done."""
        self._thread.join(timeout)
        return not self._thread.is_alive()
