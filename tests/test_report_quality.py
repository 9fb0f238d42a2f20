"""The report's Quality section: people's ranking with intervals, a judge's, their agreement."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

import imgkit
from imgkit.ratings.session import RatingSession
from imgkit.ratings.store import Answer, RatingStore
from imgkit.report import write_report
from imgkit.report.data import report_data


@pytest.fixture(scope="module")
def rated_run(tmp_path_factory) -> Path:
    run = imgkit.drill(
        ["a red fox in the snow"],
        ["dall-e-3", "gpt-image-1"],
        n=3,
        backend="sim",
        out=tmp_path_factory.mktemp("runs"),
        progress=False,
        log=None,
    )
    # three raters who mostly prefer gpt-image-1, through the same session the page uses
    for rater in ("ann", "bob", "cy"):
        session = RatingSession(run.path, rater, seed=len(rater) + ord(rater[0]))
        rng = random.Random(rater)
        for _ in range(24):
            question = session.current
            preferred = "left" if question.pair.left_arm == "gpt-image-1" else "right"
            choice = preferred if rng.random() < 0.8 else rng.choice(["left", "right", "tie"])
            session.answer(question.question_id, choice)
    return Path(run.path)


def test_the_report_shows_the_people_ranking_with_intervals(rated_run: Path) -> None:
    data = report_data(rated_run, n_boot=100, n_perm=500)
    assert data.quality is not None and data.quality.people_answers == 72
    html = write_report(rated_run, data=data).read_text("utf-8")
    assert '<section id="quality">' in html
    section = html[html.index('<section id="quality">') :]
    section = section[: section.index("</section>")]
    assert "gpt-image-1 was preferred to dall-e-3 for following the prompt: " in section
    assert "of 24 answers" in section
    assert "People&#x27;s ranking" in section or "People's ranking" in section
    assert "Krippendorff" in section
    # the ranking names the better arm first on every question, with an interval
    rows = data.quality.ranking[data.quality.ranking["rank"] == 1]
    assert set(rows["arm"]) == {"gpt-image-1"}
    assert (rows["score_low"] > 0.5).all()
    markdown = (rated_run / "report.md").read_text("utf-8")
    assert "## Quality: what people and a judge preferred" in markdown
    assert data.to_dict()["quality"]["people_answers"] == 72
    # the quality section sits before the cost, after the answer
    assert html.index('id="verdicts"') < html.index('id="quality"') < html.index('id="cost"')


def test_a_report_without_ratings_has_no_quality_section(tmp_path: Path) -> None:
    run = imgkit.drill(
        ["a lighthouse"], ["dall-e-3", "gpt-image-1"], n=2, out=tmp_path, progress=False, log=None
    )
    data = report_data(run.path, n_boot=50, n_perm=200)
    assert data.quality is None
    html = write_report(run.path, data=data).read_text("utf-8")
    assert 'id="quality"' not in html


def test_the_report_shows_the_judge_and_its_agreement(rated_run: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(rated_run, copy)
    people = [a for a in RatingStore(copy, "ann").read() if a.choice != "skip"]
    judged = [
        Answer(
            rater="judge-sim",
            source="judge",
            criterion=a.criterion,
            choice=a.choice,  # a judge that agrees with ann on everything
            prompt_id=a.prompt_id,
            left=a.left,
            right=a.right,
            left_arm=a.left_arm,
            right_arm=a.right_arm,
            extra={"judge": "gpt-5-mini", "simulated": True},
        )
        for a in people
    ]
    RatingStore(copy, "judge-sim").append(judged)
    data = report_data(copy, n_boot=100, n_perm=500)
    html = write_report(copy, data=data).read_text("utf-8")
    section = html[html.index('<section id="quality">') :]
    assert "gpt-5-mini (simulated: the imgkit simulator played the judge)" in section
    assert "The judge agrees with the people on " in section
    pooled = data.quality.judge_agreement.set_index("criterion").loc["all"]
    assert pooled["units"] > 0 and pooled["agrees"] > 0.5


def test_the_quality_section_escapes_what_it_is_given(rated_run: Path) -> None:
    import dataclasses

    from imgkit.report.content import report_content
    from imgkit.report.figures import gallery, report_figures
    from imgkit.report.page_script import PAGE_SCRIPT, content_security_policy
    from imgkit.report.render import html_environment, markdown_environment

    hostile = "</p><script>alert(1)</script><img src=x onerror=alert(2)> | *b* {{ 7 * 7 }}"

    def poisoned(value):
        if isinstance(value, str):
            return value + hostile
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return dataclasses.replace(
                value,
                **{f.name: poisoned(getattr(value, f.name)) for f in dataclasses.fields(value)},
            )
        if isinstance(value, list | tuple):
            return type(value)(poisoned(v) for v in value)
        return value

    data = report_data(rated_run, n_boot=50, n_perm=200)
    content = report_content(data)
    page = dataclasses.replace(content, quality=poisoned(content.quality))
    html = (
        html_environment()
        .get_template("report.html")
        .render(
            page=page,
            figures=report_figures(data),
            gallery=gallery(data.frame),
            exports=[],
            script=PAGE_SCRIPT,
            policy=content_security_policy(),
        )
    )
    section = html[html.index('<section id="quality">') :]
    section = section[: section.index("</section>")]
    assert "<script" not in section and "<img src=x" not in section
    assert "{{ 7 * 7 }}" in section  # shown, never evaluated
    markdown = markdown_environment().get_template("report.md").render(page=page)
    quality = markdown[markdown.index("## Quality") : markdown.index("## Cost")]
    assert "<script" not in quality and "\\*b\\*" in quality
