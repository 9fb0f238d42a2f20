"""The report's templates: autoescape on, nothing from a run marked safe, text ready unrendered."""

from __future__ import annotations

import dataclasses
import html
import re
import shlex
import tomllib
from fnmatch import fnmatch
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from markupsafe import Markup

from imgkit.report.content import ReportContent, Table, report_content
from imgkit.report.data import report_data
from imgkit.report.figures import gallery, gallery_links, report_figures
from imgkit.report.page_script import PAGE_SCRIPT, content_security_policy
from imgkit.report.render import html_environment, markdown_environment

try:
    from analysis_fixtures import HOSTILE_PROMPT, report_frame
except ImportError:  # tests/ imported as a package
    from tests.analysis_fixtures import HOSTILE_PROMPT, report_frame

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "imgkit" / "report"
TEMPLATES = REPORT / "templates"

#: Text that would be markup in HTML or Markdown, a template expression (data is never
#: evaluated as a template), a table pipe, a line break and a code fence.
HOSTILE = (
    '<script>alert("x")</script><img src=x onerror=alert(1)> it\'s & {{ 7 * 7 }} | a\n'
    "# b ``` [c](javascript:d) *e*"
)
#: The tags the report writes itself (as in tests/test_report.py).
REPORT_TAGS = {
    "html", "head", "meta", "title", "style", "body", "div", "small", "h1", "h2", "h3",
    "section", "table", "thead", "tbody", "tr", "th", "td", "p", "b", "ol", "li", "pre",
    "figure", "figcaption", "img", "span", "del", "ins", "footer", "details", "summary",
    # The gallery's filter, the links to the exported table, and the one fixed script.
    "select", "option", "label", "a", "script",
}  # fmt: skip

#: The only places a template outputs HTML as it is, as (template, Jinja tag). Each must say why
#: the value is already safe; every other value from a run is escaped by autoescape.
MARKED_SAFE = {
    # The word diff of a revised prompt against its prompt (ReportContent.diffs): built by
    # imgkit.analysis.divergence.html_diff, which escapes every word with html.escape, quotes
    # included, and writes only <span>, <del> and <ins> (tests/test_divergence.py checks both).
    ("report.html", "{{ diff|safe }}"),
}
#: The only lines in imgkit/report that make a Markup (text Jinja will not escape again).
MARKUP_IN_PYTHON = {
    # The HTML environment's finalize: the value was just escaped by html.escape.
    ("render.py", "return Markup(html.escape(str(value), quote=True))"),
    # The Markdown environment's finalize: the value was just neutralised for Markdown.
    ("render.py", "return Markup(_markdown_text(value))"),
    # The fence filter: text inside a code fence is shown verbatim; fences in it were broken.
    ("render.py", 'return Markup(f"```{language}\\n{body}\\n```")'),
    # The pages' one script: a fixed text in the package, nothing from a run in it; the
    # page's Content-Security-Policy allows it by its hash and no other.
    ("page_script.py", "PAGE_SCRIPT = Markup(_SOURCE)"),
}
#: Jinja tags that could let text through unescaped.
UNESCAPING = re.compile(r"\bsafe\b|Markup|autoescape|__html__")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    frame = report_frame(tmp_path_factory.mktemp("images"))
    manifest = {"run_id": "run-7", "backend": "sim", "command": ["imgkit", "drill", HOSTILE]}
    return report_data(frame, manifest=manifest, n_boot=200, n_perm=2000, by_prompt=True)


@pytest.fixture(scope="module")
def content(data) -> ReportContent:
    return report_content(data)


def _poisoned(value: Any, field: str = "") -> Any:
    """``value`` with every string made hostile, except the word diffs (allowed as HTML)."""
    if field == "diffs":
        return value
    if isinstance(value, str):
        return value + HOSTILE
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {
            f.name: _poisoned(getattr(value, f.name), f.name) for f in dataclasses.fields(value)
        }
        return dataclasses.replace(value, **changes)
    if isinstance(value, list | tuple):
        return type(value)(_poisoned(v) for v in value)
    return value


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


# --------------------------------------------------------------------------------------------
# Autoescape


def test_html_environment_autoescapes_even_without_its_finalize():
    environment = html_environment()
    assert environment.autoescape is True
    template = '<p title="{{ x }}">{{ x }}</p>'
    # With its finalize: html.escape's spelling, the one earlier reports and html_diff use.
    escaped = html.escape(HOSTILE, quote=True)
    assert (
        environment.from_string(template).render(x=HOSTILE) == f'<p title="{escaped}">{escaped}</p>'
    )
    # Without it, Jinja's own autoescape still escapes everything (markupsafe's spelling).
    bare = environment.overlay(finalize=None, cache_size=0)
    assert bare.from_string(template).render(x=HOSTILE) == (
        f'<p title="{Markup.escape(HOSTILE)}">{Markup.escape(HOSTILE)}</p>'
    )


@pytest.mark.parametrize("finalize", ["html.escape", "none"])
def test_every_html_template_escapes_what_it_is_given(data, content, finalize):
    # report.html with its partials (_table.html, _gallery.html) and style, every string of the
    # content, the figures and the gallery made hostile: nothing but the report's own tags.
    environment = html_environment()
    if finalize == "none":
        environment = environment.overlay(finalize=None, cache_size=0)
    assert set(environment.list_templates()) == {
        "report.html", "_table.html", "_gallery.html", "_filter.html", "report.css",
        "report.md", "_table.md",
        "drift.html",  # rendered by test_the_drift_page_escapes_what_it_is_given
        "gallery.html",
        "_quality.html", "_quality.md",  # rendered by test_report_quality
    }, "a new template: render it here too"  # fmt: skip
    page = environment.get_template("report.html").render(
        page=_poisoned(content),
        figures=_poisoned(report_figures(data)),
        gallery=_poisoned(gallery(data.frame)),
        exports=["generations.csv"],
        script=PAGE_SCRIPT,
        policy=content_security_policy(),
    )
    # The one script is the fixed one; nothing from the run becomes a script or a tag.
    assert re.findall(r"<script>(.*?)</script>", page, re.S) == [str(PAGE_SCRIPT)]
    assert "<script>alert" not in page and "<img src=x" not in page
    parsed = _Page()
    parsed.feed(page)
    assert {tag for tag, _ in parsed.tags} <= REPORT_TAGS
    assert "{{ 7 * 7 }}" in "".join(parsed.text)  # data is never evaluated as a template
    # Escaped in the source, intact once parsed: in text, and in every image's src and alt.
    assert "".join(parsed.text).count(HOSTILE) >= len(content.prompts) + len(content.verdicts)
    images = [attrs for tag, attrs in parsed.tags if tag == "img"]
    assert images and all(a["src"].endswith(HOSTILE) and a["alt"].endswith(HOSTILE) for a in images)
    # The word diffs are the one thing written as HTML, as html_diff built them.
    assert page.count('<span class="imgkit-diff">') == len(content.diffs) > 0
    # The full gallery page: links instead of data URIs, escaped the same way.
    links = gallery_links(data.frame, data.frame["image_path"].dropna().iloc[0].rsplit("/", 2)[0])
    full = environment.get_template("gallery.html").render(
        page=_poisoned(content),
        gallery=_poisoned(links),
        script=PAGE_SCRIPT,
        policy=content_security_policy(),
    )
    assert re.findall(r"<script>(.*?)</script>", full, re.S) == [str(PAGE_SCRIPT)]
    assert "<script>alert" not in full and "<img src=x" not in full
    parsed = _Page()
    parsed.feed(full)
    assert {tag for tag, _ in parsed.tags} <= REPORT_TAGS | {"a"}
    images = [attrs for tag, attrs in parsed.tags if tag == "img"]
    assert len(images) == (data.frame["status"] == "ok").sum()
    assert all(a["src"].endswith(HOSTILE) and a["alt"].endswith(HOSTILE) for a in images)


@pytest.mark.parametrize("finalize", ["html.escape", "none"])
def test_the_drift_page_escapes_what_it_is_given(finalize):
    from imgkit.report.drift_page import DriftPage, PageFigure

    environment = html_environment()
    if finalize == "none":
        environment = environment.overlay(finalize=None, cache_size=0)
    figure = PageFigure("caption", "data:image/png;base64,AAAA")
    page = DriftPage(
        title="Change since a",
        simulated="all",
        banner="SIMULATED",
        runs_head=["run", "started"],
        runs=[["a", "2026-01-01"], ["b", "2026-02-01"]],
        matching="matched by identity",
        findings=["arm: no clear change"],
        unmatched=["x is only in a"],
        table_head=["arm", "run"],
        table_rows=[["arm", "b"]],
        methods="methods",
        plots=[figure],
        images=[figure],
    )
    html_page = environment.get_template("drift.html").render(page=_poisoned(page))
    assert "<script" not in html_page and "<img src=x" not in html_page
    parsed = _Page()
    parsed.feed(html_page)
    assert {tag for tag, _ in parsed.tags} <= REPORT_TAGS | {"ul"}
    assert "".join(parsed.text).count(HOSTILE) >= 12
    images = [attrs for tag, attrs in parsed.tags if tag == "img"]
    assert len(images) == 2 and all(a["alt"].endswith(HOSTILE) for a in images)


def test_markdown_environment_neutralises_every_value(content):
    environment = markdown_environment()
    assert environment.from_string("{{ x }}").render(x="<b>*a*</b> | `b`\n# c") == (
        "&lt;b&gt;\\*a\\*&lt;/b&gt; \\| \\`b\\` \\# c"
    )
    md = environment.get_template("report.md").render(page=_poisoned(content))
    fences = re.findall(r"^```[a-z]*\n.*?^```$", md, re.S | re.M)
    assert len(fences) == 2 and md.count("\n```") == 4  # a ``` in the text cannot end a fence
    outside = md
    for fence in fences:
        outside = outside.replace(fence, "")
    assert "<" not in outside
    assert "{{ 7 \\* 7 }}" in outside  # text, never evaluated
    # Every row of a table has as many cells as its header: no pipe or newline from the data
    # splits a cell or a row.
    for block in re.findall(r"(?:^\|.*\n)+", outside, re.M):
        cells = {len(re.findall(r"(?<!\\)\|", line)) for line in block.splitlines()}
        assert len(cells) == 1, block


def test_no_template_marks_run_data_safe():
    found = set()
    for path in sorted(TEMPLATES.iterdir()):
        for tag in re.findall(r"\{\{.*?\}\}|\{%.*?%\}", path.read_text("utf-8"), re.S):
            if UNESCAPING.search(tag):
                found.add((path.name, tag))
    assert found == MARKED_SAFE


def test_python_marks_only_escaped_text_as_markup():
    found = set()
    for path in sorted(REPORT.glob("*.py")):
        for line in path.read_text("utf-8").splitlines():
            if "Markup(" in line or "autoescape=False" in line:
                found.add((path.name, line.strip()))
    assert found == MARKUP_IN_PYTHON


def test_every_template_is_package_data():
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["setuptools"][
        "package-data"
    ]["*"]
    for path in TEMPLATES.iterdir():
        assert any(fnmatch(f"templates/{path.name}", p) for p in patterns), path.name


# --------------------------------------------------------------------------------------------
# The content, without rendering


def test_report_content_is_plain_text_ready_for_any_format(content):
    assert (content.banner, content.title, content.title_suffix) == (
        "SIMULATED",
        "run-7",
        " (simulated)",
    )
    # Text from the run is kept as it is: escaping belongs to the output format.
    assert HOSTILE_PROMPT in content.prompts
    # Tables and verdicts name prompts by number; the prompts are listed once, in order.
    number = content.prompt_numbers[HOSTILE_PROMPT]
    assert content.prompts.index(HOSTILE_PROMPT) + 1 == int(number.lstrip("#"))
    assert any(scope == f"prompt {number}" for scope, _ in content.verdicts)
    assert content.headline.startswith("steady vs wobbly on 2 prompts")
    assert shlex.join(["imgkit", "drill", HOSTILE]) in content.command
    tables = [v for v in vars(content).values() if isinstance(v, Table)]
    # A bare frame has no attempt log, and so no latency either.
    assert len(tables) == 11 and content.attempts is None and content.latency is None
    for table in tables:
        assert all(isinstance(cell, str) for row in [table.head, *table.rows] for cell in row)
        assert all(len(row) == len(table.head) for row in table.rows)
    steady = next(row for row in content.costs.rows if row[0] == "steady")
    assert steady == ["steady", "dall-e-3 standard 1024x1024", "8 / 10", "$0.0400", "$0.3200",
                      "estimate", "0"]  # fmt: skip
    assert content.n_unknown_cost == 1 and content.days == 30
    assert len(content.diffs) == len(content.divergence.rows)
    assert content.projection.head == ["model, quality, size", "per image", "1/day", "20/day",
                                       "50/day", "500/day"]  # fmt: skip


def test_figures_and_gallery_are_data_uris(data):
    figures = report_figures(data)
    assert len(figures) == 7
    assert all(f.uri.startswith("data:image/png;base64,") for f in figures)
    images = gallery(data.frame)
    thumbnails = [t for group in images.groups for t in group.thumbnails]
    assert images.has_paths and len(thumbnails) == (data.frame["status"] == "ok").sum()
    assert all(t.uri.startswith("data:image/jpeg;base64,") for t in thumbnails)
    assert not gallery(data.frame.drop(columns=["image_path"])).has_paths
