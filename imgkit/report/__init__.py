"""Presenting a run: plots (Axes in, Axes out) and the self-contained experiment report.

- :mod:`imgkit.report.plots`: one function per figure, each ``ax=None`` -> ``Axes``;
- :mod:`imgkit.report.data`: the report's numbers (:func:`report_data`), DataFrames in and out;
- :mod:`imgkit.report.content`: what the report says, as text and tables of strings;
- :mod:`imgkit.report.figures`: its figures and thumbnails, as ``data:`` URIs;
- :mod:`imgkit.report.render`: the HTML page and Markdown summary, from the Jinja2 templates in
  ``templates/``, and :func:`write_report`.

The names below load on first use (they bring matplotlib).
"""

from __future__ import annotations

from imgkit._lazy import lazy_exports

_EXPORTS = {
    **{
        name: "imgkit.report.data"
        for name in (
            "DEFAULT_PER_DAY",
            "ReportData",
            "cost_by_arm",
            "cost_projection_frame",
            "failure_summary",
            "report_data",
            "reproduce_command",
        )
    },
    **{
        name: "imgkit.report.render"
        for name in ("FORMATS", "render_html", "render_markdown", "write_report")
    },
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
