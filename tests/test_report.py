"""imgkit.report: content, escaping of hostile text, no external requests, same numbers twice."""

from __future__ import annotations

import importlib.util
import json
import re
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from imgkit.analysis.consistency import compare_all, compare_arms
from imgkit.errors import ValidationError
from imgkit.report import (
    cost_by_arm,
    cost_projection_frame,
    failure_summary,
    report_data,
    reproduce_command,
    write_report,
)
from imgkit.report.page_script import PAGE_SCRIPT

try:
    from analysis_fixtures import HOSTILE_PROMPT, report_frame
except ImportError:  # tests/ imported as a package
    from tests.analysis_fixtures import HOSTILE_PROMPT, report_frame

MANIFEST = {
    "run_id": "run-7",
    "backend": "sim",
    "seed": 0,
    "versions": {"imgkit": "0.1.0", "openai": "3.57"},
    "price_table": "catalog 2026-11-24",
    "note": "<iframe src=https://evil.example/></iframe>",
    "api_key": "-".join(["sk", "not", "a", "real", "key", "but", "never", "written"]),
    "estimate": {"output_tokens": 4160, "provider": {"auth_token": "tok-never-written"}},
    "command": ["imgkit", "drill", "--prompt", HOSTILE_PROMPT, "--backend", "sim"],
}
FAST = {"n_boot": 200, "n_perm": 2000, "by_prompt": True}


def _drill():
    """imgkit.drill, or None while the runner has not landed (the one test using it skips)."""
    if importlib.util.find_spec("imgkit.runner") is None:
        return None
    import imgkit

    return getattr(imgkit, "drill", None) or importlib.import_module("imgkit.runner").drill


@pytest.fixture(scope="module")
def frame(tmp_path_factory) -> pd.DataFrame:
    return report_frame(tmp_path_factory.mktemp("images"))


@pytest.fixture(scope="module")
def written(frame, tmp_path_factory) -> dict[str, str]:
    out = tmp_path_factory.mktemp("report") / "report.html"
    path = write_report(frame, out, manifest=MANIFEST, **FAST)
    assert path == out
    return {"html": out.read_text("utf-8"), "md": out.with_suffix(".md").read_text("utf-8")}


class _Tags(HTMLParser):
    """Every start tag with its attributes, and the text outside tags."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def _parse(document: str) -> _Tags:
    parser = _Tags()
    parser.feed(document)
    return parser


# --------------------------------------------------------------------------------------------
# Safety: escaping and self-containment


def test_hostile_text_is_escaped_everywhere_in_html(written):
    page = written["html"]
    # One script, the fixed one the page's policy allows by its hash; none from the run.
    assert re.findall(r"<script>(.*?)</script>", page, re.S) == [str(PAGE_SCRIPT)]
    assert page.lower().count("<script") == 1
    assert "<iframe" not in page.lower()
    assert "onerror=" not in page.replace("onerror=alert(2)&gt;", "")  # only as escaped text
    assert "<b>bold</b>" not in page
    # The prompt is there, as text: escaped in the source, intact once parsed.
    assert html_escaped(HOSTILE_PROMPT) in page
    text = "".join(_parse(page).text)
    assert HOSTILE_PROMPT in text
    assert "500 from <img src=x onerror=alert(2)>" in text
    # The only tags are the ones the report writes itself.
    tags = {tag for tag, _ in _parse(page).tags}
    assert tags <= {
        "html", "head", "meta", "title", "style", "body", "div", "small", "h1", "h2", "h3",
        "section", "table", "thead", "tbody", "tr", "th", "td", "p", "b", "ol", "li", "pre",
        "figure", "figcaption", "img", "span", "del", "ins", "footer", "details", "summary",
        "select", "option", "label", "a", "script",
    }  # fmt: skip


def html_escaped(text: str) -> str:
    import html

    return html.escape(text, quote=True)


def test_html_makes_no_external_request(written):
    parsed = _parse(written["html"])
    for tag, attrs in parsed.tags:
        for name, value in attrs.items():
            if name in ("src", "href", "srcset", "poster", "action", "data"):
                # Images are embedded; the only links are to files written beside the page.
                beside = ("generations.csv", "generations.parquet", "gallery.html")
                assert value and (value.startswith("data:image/") or value in beside), (
                    tag,
                    name,
                    value[:40],
                )
        assert tag not in ("link", "iframe", "object", "embed", "base")
    style = re.search(r"<style>(.*?)</style>", written["html"], re.S).group(1)
    assert "url(" not in style and "@import" not in style


def test_markdown_keeps_hostile_text_as_text(written):
    # Outside the fenced command and manifest (which renderers show verbatim), no raw HTML.
    fences = re.findall(r"^```[a-z]*\n.*?^```$", written["md"], re.S | re.M)
    assert len(fences) == 2 and written["md"].count("```") == 4
    assert HOSTILE_PROMPT in fences[0]
    md = written["md"]
    for fence in fences:
        md = md.replace(fence, "")
    assert "<script" not in md and "<b>" not in md and "<img" not in md and "<iframe" not in md
    assert "&lt;script&gt;" in md
    # Table rows stay rows: no raw pipe from the data splits a cell.
    for line in md.splitlines():
        if line.startswith("| ") and "prompt" not in line:
            assert line.count(" | ") == line.replace("\\|", "").count(" | ")


def test_secrets_in_the_manifest_are_never_written(written):
    for document in written.values():
        assert (
            "-".join(["sk", "not", "a", "real"]) not in document
            and "tok-never-written" not in document
        )
        assert "(redacted)" in document
        assert "4160" in document  # token counts are no secret


# --------------------------------------------------------------------------------------------
# Content


def test_simulated_banner_comes_first_and_cannot_be_missed(written):
    page = written["html"]
    banner = page.index('id="source-banner"')
    assert banner < page.index("<h1>")
    assert "banner-all" in page[banner - 60 : banner]
    assert "SIMULATED" in page[banner : banner + 200]
    # The title names the comparison, not the run id (which the subtitle and the end give).
    assert "<title>imgkit report: steady vs wobbly on 2 prompts" in page
    assert "(simulated)</title>" in page and "run run-7" in page
    assert written["md"].startswith("> **SIMULATED**")


def test_live_run_says_live(frame, tmp_path):
    live = frame.assign(simulated=False)
    path = write_report(live, tmp_path, manifest={"run_id": "live-1"}, formats=("html",), **FAST)
    page = path.read_text("utf-8")
    assert path == tmp_path / "report.html"
    assert "banner-none" in page and "LIVE" in page
    assert "SIMULATED" not in page and "(simulated)" not in page
    assert not (tmp_path / "report.md").exists()


def test_manifest_summary_and_reproduce_command(written):
    page, md = written["html"], written["md"]
    for document in (page, md):
        assert "run-7" in document
        assert "catalog 2026-11-24" in document
        assert "3.57" in document  # versions
    # The exact command, quoted for a shell, escaped for HTML.
    command = "imgkit drill --prompt '" + HOSTILE_PROMPT + "' --backend sim"
    assert html_escaped(command) in page
    assert command in md


def test_verdicts_are_compare_all_own_words(frame, tmp_path):
    # phash: this frame's steady arm repeats one photograph with faint brightness changes, so
    # its p-values fall just where the corrections differ; the learned default is covered by
    # the report tests below.
    out = write_report(frame, tmp_path / "report.html", manifest=MANIFEST, kind="phash", **FAST)
    written = {"html": out.read_text("utf-8"), "md": out.with_suffix(".md").read_text("utf-8")}
    result = compare_all(frame, "phash", by_prompt=True, n_perm=2000, n_boot=200)
    pooled, cat, coffee = result.comparisons
    assert pooled.prompt is None and pooled.more_consistent == "steady"
    # On the cat prompt alone p < 0.05, but not once corrected for the three comparisons.
    assert cat.p_value < 0.05 <= cat.p_adjusted and cat.more_consistent is None
    assert "among 3 comparisons" in cat.verdict
    # One coffee image was refused: 4 against 3 images cannot reach p < 0.05, and it says so.
    assert coffee.more_consistent is None and "smallest possible p" in coffee.verdict
    for comparison in result.comparisons:
        assert html_escaped(comparison.verdict) in written["html"]
        # The raw p-value is compare_arms' own for the same pair and prompt.
        alone = compare_arms(
            frame, "steady", "wobbly", comparison.prompt, "phash", n_perm=2000, n_boot=200
        )
        assert alone.p_value == comparison.p_value
    # Three comparisons stated together: Holm's correction over the three.
    assert {c.family_size for c in result.comparisons} == {3}
    assert "steady was more consistent than wobbly across 2 prompts" in written["md"]
    assert "adjusted" in written["md"] and "Holm" in written["md"]
    assert "No clear difference in consistency between steady and wobbly" in written["md"]


def test_consistency_and_divergence_tables(written):
    page = written["html"]
    assert page.count(" bits)</td>") >= 12  # cross-prompt figure: 2 arms x 2 prompts x 3 hashes
    assert "unrelated natural photographs" in page  # the fixed scale is explained
    assert "95% interval" in page
    # The word diff of each revised prompt, with the additions marked.
    assert '<ins class="imgkit-ins">photo</ins>' in page
    assert page.count('<span class="imgkit-diff">') == 15  # every ok image had a rewrite
    assert "Jaccard between revisions" in page
    # Prompts are listed once, numbered, and the tables name them by number.
    consistency = page.split('<section id="consistency">')[1].split("</section>")[0]
    assert html_escaped(HOSTILE_PROMPT) not in consistency
    assert "<td>#1</td>" in consistency and "<td>#2</td>" in consistency
    prompts = page.split('<ol class="prompts" id="prompts">')[1].split("</ol>")[0]
    assert prompts.count("<li>") == 2 and html_escaped(HOSTILE_PROMPT) in prompts


def test_metadata_closes_the_page_without_an_empty_header(written):
    page = written["html"]
    about = page.split('<section id="run">')[1]
    assert page.index('<section id="run">') > page.index('<section id="images">')
    assert "<thead>" not in about.split("</table>")[0]  # a key/value table needs no header
    assert "<th></th>" not in page


def test_embedded_plots_and_thumbnails(frame, written):
    parsed = _parse(written["html"])
    sources = [attrs["src"] for tag, attrs in parsed.tags if tag == "img"]
    figures = [s for s in sources if s.startswith("data:image/png;base64,")]
    # Every image in the Images section, and a few per arm at the top ("What each arm drew").
    gallery = _parse(written["html"].split('<section id="images">')[1])
    thumbnails = [a["src"] for tag, a in gallery.tags if tag == "img"]
    assert all(s.startswith("data:image/jpeg;base64,") for s in thumbnails)
    assert len(thumbnails) == (frame["status"] == "ok").sum()
    glance = _parse(written["html"].split('<section id="glance">')[1].split("</section>")[0])
    assert 1 <= len([t for t, _ in glance.tags if t == "img"]) <= 4 * frame["arm"].nunique()
    # consistency, distributions, one heatmap per arm, divergence, divergence vs image, cost
    assert len(figures) == 7

    # Each figure sits in the section it illustrates.
    def pngs(section: str) -> int:
        body = written["html"].split(f'<section id="{section}">')[1].split("</section>")[0]
        return body.count('src="data:image/png;base64,')

    assert (pngs("consistency"), pngs("divergence"), pngs("cost")) == (4, 2, 1)
    captions = [t for t in parsed.text if t.startswith("Pairwise distances, ")]
    assert captions == ["Pairwise distances, steady", "Pairwise distances, wobbly"]


def test_costs_and_projection(written):
    page = written["html"]
    assert "$0.0400" in page and "$0.3200" in page  # steady: 8 images at $0.04
    assert "$0.0110" in page and "$0.0660" in page  # wobbly: 6 costed images at $0.011
    assert "1 image(s) have no known cost" in page
    assert "not counted as $0" in page
    # The lesson's figures: $0.04 x 1 and 20 a day for 30 days.
    assert "<td>$1.20</td>" in page and "<td>$24.00</td>" in page
    assert "| dall-e-3 standard 1024x1024 | $0.0400 | $1.20 | $24.00 |" in written["md"]


def test_failures_and_refusals(written):
    page = written["html"]
    assert "content_policy" in page and "rejected by the safety system" in page
    assert page.count("server_error") == 4
    assert "Every generation succeeded" not in page


def test_same_folder_same_report(frame, tmp_path):
    first = write_report(frame, tmp_path / "a.html", manifest=MANIFEST, **FAST)
    second = write_report(frame, tmp_path / "b.html", manifest=MANIFEST, **FAST)
    assert first.read_bytes() == second.read_bytes()
    assert first.with_suffix(".md").read_bytes() == second.with_suffix(".md").read_bytes()


def test_report_data_to_dict_is_json(frame):
    data = report_data(frame, manifest=MANIFEST, **FAST)
    payload = json.loads(json.dumps(data.to_dict()))
    assert payload["simulated"] == "all"
    assert payload["manifest"]["api_key"] == "(redacted)"
    assert {v["prompt"] for v in payload["verdicts"]} == {None, HOSTILE_PROMPT, "a cup of coffee"}
    assert payload["comparison"]["correction"] == "holm"
    assert payload["reference"]["name"] == "natural-photographs-v1"
    kinds = {"efficientnet-lite0", "phash", "dhash", "whash"}
    assert {row["kind"] for row in payload["consistency"]} == kinds
    assert {row["kind"] for row in payload["similarities"]} == kinds
    assert payload["settings"]["kind"] == "efficientnet-lite0"
    assert payload["settings"]["seed"] == 0


# --------------------------------------------------------------------------------------------
# The pieces


def test_cost_by_arm_never_counts_an_unknown_cost_as_zero(frame):
    costs = cost_by_arm(frame).set_index("arm")
    assert costs.loc["steady", "total_usd"] == Decimal("0.32")
    assert costs.loc["steady", "per_image_usd"] == Decimal("0.04")
    assert costs.loc["wobbly", "n_costed"] == 6
    assert costs.loc["wobbly", "n_unknown_cost"] == 1
    assert costs.loc["wobbly", "per_image_usd"] == Decimal("0.011")
    assert costs.loc["wobbly", "basis"] == "unknown, usage"
    assert costs.loc["steady", "label"] == "dall-e-3 standard 1024x1024"
    nothing = cost_by_arm(frame.assign(cost_usd=None)).set_index("arm")
    assert nothing.loc["steady", "total_usd"] is None
    assert nothing.loc["steady", "n_unknown_cost"] == 8
    assert cost_projection_frame(cost_by_arm(frame.assign(cost_usd=None))).empty


def test_cost_projection_frame_one_line_per_label(frame):
    projection = cost_projection_frame(cost_by_arm(frame), per_day=(1, 20, 500), days=30)
    assert len(projection) == 2 * 3
    steady = projection[projection["label"] == "dall-e-3 standard 1024x1024"]
    assert steady["monthly_usd"].tolist() == [Decimal("1.20"), Decimal("24.00"), Decimal("600.00")]
    assert steady["arms"].iloc[0] == "steady"


def test_failure_summary_with_an_attempt_log(frame):
    attempts = pd.DataFrame(
        {
            "status": ["failed", "failed", "ok", "refused", "sending"],
            "error_kind": ["rate_limited", "rate_limited", None, "content_policy", None],
        }
    )
    counts, problems, outcomes = failure_summary(frame, attempts)
    assert counts.set_index("arm").loc["wobbly", ["ok", "failed", "refused"]].tolist() == [7, 2, 1]
    assert len(problems) == 5
    assert set(problems.columns) >= {"status", "error_kind", "error_message"}
    assert outcomes.to_dict(orient="records") == [
        {"outcome": "failed: rate_limited", "attempts": 2},
        {"outcome": "ok", "attempts": 1},
        {"outcome": "refused: content_policy", "attempts": 1},
        {"outcome": "sending", "attempts": 1},
    ]


def test_reproduce_command_from_the_runner_parameters(tmp_path):
    arms = [{"name": "d3", "model": "dall-e-3", "endpoint": "generate", "params": {}}]
    manifest = {
        "parameters": {
            "prompts": ["a fox"],
            "arms": arms,
            "n": 3,
            "size": None,
            "backend": "sim",
            "sim_seed": 7,
            "out": "somewhere",
        }
    }
    command = reproduce_command(manifest, Path("/runs/x"))
    assert command.splitlines() == [
        "python - <<'EOF'",
        "import imgkit",
        "from imgkit.experiment.arms import Arm",
        "",
        "imgkit.drill(",
        "    prompts=['a fox'],",
        f"    arms=[Arm.from_dict(a) for a in {arms!r}],",
        "    n=3,",
        "    backend='sim',",
        "    sim_seed=7,",
        ")",
        "EOF",
        "imgkit report /runs/x",
    ]
    # The Python part is valid Python.
    compile("\n".join(command.splitlines()[1:-2]), "<reproduce>", "exec")
    assert "does not record" in reproduce_command({})
    # A folder that keeps its sweep file is repeated from it: one command.
    (tmp_path / "sweep.toml").write_text('prompts = ["a fox"]\n', encoding="utf-8")
    assert reproduce_command(manifest, tmp_path).splitlines() == [
        f"imgkit drill --config {tmp_path / 'sweep.toml'}",
        f"imgkit report {tmp_path}",
    ]


def test_bad_arguments(frame, tmp_path):
    with pytest.raises(ValidationError, match="formats"):
        write_report(frame, tmp_path, formats=("pdf",))
    with pytest.raises(ValidationError, match="out"):
        write_report(frame, **FAST)  # a bare frame has no folder to write into
    with pytest.raises(ValidationError, match="kind"):
        report_data(frame, kind="nohash")
    with pytest.raises(ValidationError, match="run_or_path"):
        report_data(42)


# --------------------------------------------------------------------------------------------
# A real run folder from the drill, on the simulator


@pytest.mark.skipif(_drill() is None, reason="imgkit.runner (imgkit.drill) has not landed yet")
def test_drill_on_the_simulator_then_report_its_folder(tmp_path, capsys):
    from imgkit.cli.analysis import add_commands
    from imgkit.runs import open_run

    run = _drill()(
        ["a lighthouse at dusk", "a bowl of <script>alert(1)</script> soup"],
        ["dall-e-3", "gpt-image-1"],
        n=3,
        backend="sim",
        out=tmp_path / "runs",
        progress=False,
    )
    path = write_report(run.path, n_boot=200, n_perm=2000)
    assert path == Path(run.path) / "report.html"
    page = path.read_text("utf-8")
    assert "SIMULATED" in page and "<script>alert" not in page
    assert "dall-e-3" in page and "gpt-image-1" in page
    frame = open_run(run.path).to_frame()
    thumbnails = page.split('<section id="images">')[1].count('src="data:image/jpeg;base64,')
    assert thumbnails == (frame["status"] == "ok").sum() > 0

    # The CLI gives the same numbers from the folder alone.
    import argparse

    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers())
    args = parser.parse_args(
        ["report", str(run.path), "--out", str(tmp_path / "again.html"), "--json", "--n-boot=200"]
    )
    assert args.func(args) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["simulated"] == "all"
    assert Path(payload["written"]["html"]).is_file()
    data = report_data(run.path, n_boot=200)
    assert payload["consistency"] == json.loads(json.dumps(data.to_dict()))["consistency"]
