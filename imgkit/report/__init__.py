"""Presenting a run: plots (Axes in, Axes out) and the self-contained experiment report.

- :mod:`imgkit.report.plots`: one function per figure, each ``ax=None`` -> ``Axes``;
- :mod:`imgkit.report.render`: the report's data, and the page written from it.

The names below load on first use (they bring matplotlib).
"""

from __future__ import annotations

from imgkit._lazy import lazy_exports

_EXPORTS = {
    name: "imgkit.report.render"
    for name in (
        "DEFAULT_PER_DAY",
        "FORMATS",
        "ReportData",
        "cost_by_arm",
        "cost_projection_frame",
        "failure_summary",
        "render_html",
        "render_markdown",
        "report_data",
        "reproduce_command",
        "write_report",
    )
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
