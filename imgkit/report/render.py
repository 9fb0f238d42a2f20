"""The experiment report as files: one self-contained HTML page and a Markdown summary.

:func:`write_report` reads a run folder, a ``Run`` object or a bare run frame, computes its
numbers (:func:`imgkit.report.data.report_data`) and writes

* ``report.html``: a single file with every plot and thumbnail embedded as a ``data:`` URI
  (:mod:`imgkit.report.figures`), its style inline, no external request, so it can be mailed
  or archived as is; its one script (sorting the tables, filtering the images) is a fixed text
  its Content-Security-Policy allows by hash (:mod:`imgkit.report.page_script`);
* ``report.md``: the same numbers as text, for a pull request or a chat;
* ``generations.csv`` and, with pyarrow, ``generations.parquet`` (with the HTML): the run's
  table, one row per image (:mod:`imgkit.runs.export`);
* ``gallery.html`` (with the HTML): every image of the run, linked from the run folder rather
  than embedded. The report itself embeds a bounded sample of thumbnails per arm and prompt
  (:func:`imgkit.report.figures.gallery`), so its size stays bounded whatever the run's.

Both say, in a banner at the very top, whether the images came from the simulator. The page is
laid out by the Jinja2 templates in ``templates/`` (``report.html`` with the partials
``_table.html``, ``_gallery.html`` and ``_filter.html`` and the style ``report.css``;
``report.md`` with ``_table.md``) from the text :func:`imgkit.report.content.report_content`
prepares. Rendering adds no date and no randomness, so the same run folder gives the same bytes.

Escaping cannot be forgotten: both environments autoescape every ``{{ value }}``.

* HTML: Jinja's autoescape is on; the environment's ``finalize`` escapes each value with
  :func:`html.escape` (quotes included) before autoescape sees it, so the page spells entities
  as :func:`imgkit.analysis.divergence.html_diff` and earlier reports do (``&quot;``, not
  markupsafe's ``&#34;``). Were ``finalize`` removed, autoescape would still escape everything.
  The one value marked ``|safe`` is the word diff, which ``html_diff`` built and escaped word by
  word (``tests/test_report_templates.py`` keeps that list to one).
* Markdown: a value is neutralised for Markdown (one line, no HTML, ``| * _ [ ] # `` and the
  like backslash-escaped) by the environment's ``finalize``; autoescape is on so that a macro's
  output (a table whose cells were neutralised already) is not neutralised twice. The only text
  let through as it is goes through the ``fence`` filter into a fenced code block, which Markdown
  renderers show verbatim; a fence inside the text is broken up so it cannot end the block.

``report.css`` is included as a template, so ``{{``, ``{%`` and ``{#`` must not appear in it.
"""

from __future__ import annotations

import functools
import html
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

import imgkit.runs.confined as confined
from imgkit.errors import RunError, ValidationError, check_argument
from imgkit.report.content import ReportContent, report_content
from imgkit.report.data import ReportData, report_data
from imgkit.report.figures import gallery, gallery_links, report_figures
from imgkit.report.page_script import PAGE_SCRIPT, content_security_policy

__all__ = [
    "FORMATS",
    "html_environment",
    "markdown_environment",
    "render_gallery",
    "render_html",
    "render_markdown",
    "write_report",
]

#: What :func:`write_report` can write.
FORMATS = ("html", "md")


# --------------------------------------------------------------------------------------------
# Template environments


def _escape_html(value: Any) -> Any:
    # Already HTML (a macro's output, the |safe diff): leave it; anything else is text.
    if hasattr(value, "__html__"):
        return value
    return Markup(html.escape(str(value), quote=True))


def _markdown_text(text: Any) -> str:
    # Escape what a Markdown renderer would turn into markup or HTML, and keep table cells on
    # one line: a hostile prompt must stay text in a pull request too.
    text = html.escape(" ".join(str(text).split()), quote=False)
    for char in "\\`*_[]|#":
        text = text.replace(char, "\\" + char)
    return text


def _neutralise_markdown(value: Any) -> Any:
    # Markup here means "already Markdown": a macro's output or a fenced block.
    if hasattr(value, "__html__"):
        return value
    return Markup(_markdown_text(value))


def _fence(text: Any, language: str = "") -> Markup:
    # Inside a fence a renderer shows text as it is; only a fence of its own could end it early.
    body = str(text).replace("```", "'''")
    return Markup(f"```{language}\n{body}\n```")


def _environment(finalize: Any) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("imgkit.report", "templates"),
        autoescape=True,
        finalize=finalize,
        # A field the templates name and the content lacks is a bug, not an empty string.
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


@functools.cache
def html_environment() -> jinja2.Environment:
    """The Jinja2 environment of the HTML report: autoescape on, text escaped by html.escape."""
    environment = _environment(_escape_html)
    environment.globals["zip"] = zip
    return environment


@functools.cache
def markdown_environment() -> jinja2.Environment:
    """The Jinja2 environment of the Markdown report: every value neutralised for Markdown."""
    environment = _environment(_neutralise_markdown)
    environment.filters["fence"] = _fence
    return environment


# --------------------------------------------------------------------------------------------
# Rendering


def render_html(
    data: ReportData, exports: Sequence[str] = (), *, page: ReportContent | None = None
) -> str:
    """Return the report as one self-contained HTML document (no external URL; one fixed
    script, allowed by its hash in the page's Content-Security-Policy, sorts the tables and
    filters the images). ``exports``: the files of the run's frame written beside the page
    (``generations.csv``...), linked from it. ``page``: ``report_content(data)`` when the
    caller has it already."""
    template = html_environment().get_template("report.html")
    return template.render(
        page=page if page is not None else report_content(data),
        figures=report_figures(data),
        gallery=gallery(data.frame),
        exports=list(exports),
        script=PAGE_SCRIPT,
        policy=content_security_policy(),
    )


def render_gallery(
    data: ReportData, folder: str | os.PathLike, *, page: ReportContent | None = None
) -> str:
    """Return the full gallery page: every image linked from the run folder, none embedded."""
    template = html_environment().get_template("gallery.html")
    return template.render(
        page=page if page is not None else report_content(data),
        gallery=gallery_links(data.frame, folder),
        script=PAGE_SCRIPT,
        policy=content_security_policy(images="'self' data: file:"),
    )


def render_markdown(data: ReportData, *, page: ReportContent | None = None) -> str:
    """Return the report's numbers as Markdown (tables and verdicts; no images)."""
    return (
        markdown_environment()
        .get_template("report.md")
        .render(page=page if page is not None else report_content(data))
    )


# --------------------------------------------------------------------------------------------
# Writing


def _targets(out: Any, path: Path | None, formats: Sequence[str]) -> dict[str, Path]:
    if out is None:
        if path is None:
            raise ValidationError("out", None, "a file or folder (a bare frame has no run folder)")
        folder, stem = path, "report"
    else:
        out = Path(out)
        if out.is_dir() or (not out.suffix and not out.exists()):
            folder, stem = out, "report"
        else:
            folder, stem = out.parent, out.stem
    folder.mkdir(parents=True, exist_ok=True)
    return {fmt: folder / f"{stem}.{fmt}" for fmt in formats}


def _write_exports(data: ReportData, folder: Path) -> list[str]:
    """The run's frame beside the report, as CSV and (with pyarrow) Parquet; their names.

    A learned measure's feature vectors (1280 numbers an image) are left out: they are in the
    run folder's features/, and would make the table a spreadsheet cannot open.
    """
    from imgkit.runs.export import EXPORT_STEM, export_frame, parquet_available

    frame = data.frame
    vectors = [
        c
        for c in frame.columns
        if frame[c].dtype == object
        and frame[c].map(lambda v: hasattr(v, "__len__") and not isinstance(v, str)).any()
    ]
    frame = frame.drop(columns=vectors)
    written = [export_frame(frame, folder / f"{EXPORT_STEM}.csv", format="csv").name]
    if parquet_available():
        written.append(
            export_frame(frame, folder / f"{EXPORT_STEM}.parquet", format="parquet").name
        )
    return written


def write_report(
    run_or_path: Any,
    out: str | os.PathLike | None = None,
    *,
    formats: Sequence[str] = FORMATS,
    data: ReportData | None = None,
    **options: Any,
) -> Path:
    """Write the report of a run; return the path of the first format written (HTML by default).

    ``run_or_path``: a run folder, a ``Run`` from :func:`imgkit.drill` / ``open_run``, or a run
    frame (then ``out`` is required). ``out``: a file (``x.html`` writes ``x.html`` and
    ``x.md``) or a folder (``report.html`` and ``report.md`` inside); by default the run folder.
    ``formats``: any of "html" and "md". ``data``: numbers already computed by
    :func:`~imgkit.report.data.report_data` (to avoid computing them twice); other keyword
    ``options`` go to it (``manifest``, ``kind``, ``per_day``, ``n_boot``, ``seed``...).
    Raises :class:`ValidationError` for an unknown format or a frame without ``out``.
    """
    formats = (formats,) if isinstance(formats, str) else tuple(formats)
    if not formats:
        raise ValidationError("formats", formats, FORMATS, detail="at least one is needed")
    for fmt in formats:
        check_argument("formats", fmt, FORMATS)
    data = data if data is not None else report_data(run_or_path, **options)
    targets = _targets(out, data.path, formats)
    exports: list[str] = []
    # Every page shows the same content: worked out once (a second of CPU at 5,000 images).
    content = report_content(data)
    renderers = {
        "html": lambda d: render_html(d, exports, page=content),
        "md": lambda d: render_markdown(d, page=content),
    }
    pages = dict(targets)
    if "html" in targets and "image_path" in data.frame.columns:
        # The report embeds a bounded sample of thumbnails; this page links every image.
        pages["gallery"] = targets["html"].parent / "gallery.html"
    # Inside the run folder, every page is written without following a link (a link there
    # could lead anywhere), and all are checked before the first is written.
    inside = {
        kind: confined.relative_to_run(data.path, page) if data.path is not None else None
        for kind, page in pages.items()
    }
    for kind, page in pages.items():
        if inside[kind] is not None and page.is_symlink():
            raise RunError(
                f"{page} is a symbolic link (to {os.readlink(page)}): imgkit does not write "
                "through links in a run folder; remove it, or write the report elsewhere (--out)"
            )
    if "html" in targets:
        exports.extend(_write_exports(data, targets["html"].parent))
    for kind, page in pages.items():
        text = (
            render_gallery(data, page.parent, page=content)
            if kind == "gallery"
            else renderers[kind](data)
        )
        relative = inside[kind]
        if relative is not None:
            confined.write_atomic(data.path, relative, text.encode("utf-8"), durable=False)
        else:
            page.write_text(text, encoding="utf-8")
    return targets[formats[0]]
