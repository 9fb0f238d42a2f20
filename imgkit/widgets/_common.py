"""Pieces every panel shares: labels, HTML, figures as PNG, and work in a background thread.

Nothing here knows about drills, costs or chains; the panels stay thin by leaning on these few
helpers and on the library functions they call.
"""

from __future__ import annotations

import datetime as dt
import html
import io
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
    "SIMULATED_NOTE",
    "BackgroundTask",
    "escape",
    "figure_png",
    "frame_html",
    "has_live_key",
    "model_label",
    "model_options",
    "new_figure",
    "simulated_badge",
]

#: Environment variables that hold each provider's key (the providers' own table). Live mode is
#: offered only when one is set; the panels never read the key itself.
API_KEY_VARIABLES: Mapping[str, tuple[str, ...]] = KEY_VARIABLES

#: The words shown next to anything the simulator drew or priced.
SIMULATED_NOTE = "SIMULATED: made by imgkit's offline simulator, not by the real service"

_BADGE_STYLE = (
    "background:#fde68a;color:#78350f;border-radius:4px;padding:1px 6px;"
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


def frame_html(
    frame: pd.DataFrame, *, columns: Iterable[str] | None = None, max_rows: int = 50, **kwargs: Any
) -> str:
    """An escaped HTML table of ``frame`` (the columns present among ``columns``)."""
    if columns is not None:
        frame = frame[[c for c in columns if c in frame.columns]]
    if frame.empty:
        return "<p><i>nothing yet</i></p>"
    kwargs.setdefault("float_format", lambda x: f"{x:.3f}")
    return frame.head(max_rows).to_html(
        index=False, escape=True, border=0, classes="imgkit-table", na_rep="", **kwargs
    )


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
