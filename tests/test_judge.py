"""The judge: end to end on the simulator through the real openai SDK, resumable, budgeted."""

from __future__ import annotations

import json
from pathlib import Path

import openai
import pytest

import imgkit
from imgkit.cli.main import main
from imgkit.errors import BudgetExceededError, ValidationError
from imgkit.ratings.judge import judge_checks, judge_run, judge_tasks, load_rubric
from imgkit.ratings.judge_requests import request_arguments
from imgkit.ratings.schedule import rateable_images
from imgkit.ratings.store import read_answers, read_jsonl
from imgkit.ratings.summary import rating_summary
from imgkit.runs.folder import open_run

PROMPT = "a red fox sitting in the snow"


@pytest.fixture
def run_folder(tmp_path: Path) -> Path:
    run = imgkit.drill(
        [PROMPT], ["dall-e-3", "gpt-image-1"], n=3, out=tmp_path, progress=False, log=None
    )
    return Path(run.path)


def _ledger_bytes(folder: Path) -> bytes:
    return (folder / "ledger.sqlite").read_bytes()


def test_the_judge_end_to_end_on_the_simulator(run_folder: Path, sim) -> None:
    ledger = _ledger_bytes(run_folder)
    images = sorted(p.name for p in (run_folder / "images").iterdir())
    sim.reset()
    result = judge_run(run_folder, judge="gpt-5-mini", sim_url=sim.base_url, pairs_per_prompt=5)
    # 5 pairs, each in both orders, and a check of every image in them (all six)
    assert result.planned == result.answered == result.sent == 16
    assert result.simulated and "simulated" in result.sentence
    assert 0 < result.spent_usd <= result.estimate_usd
    records = [r for r in read_jsonl(run_folder / "judge/gpt-5-mini/requests.jsonl")]
    answered = [r for r in records if r["status"] == "ok"]
    assert len(answered) == 16 and all(r["rubric_version"] == "judge-rubric/1" for r in answered)
    assert all(r["price_source"].startswith("https://developers.openai.com/") for r in answered)
    stored_rubric = json.loads(
        (run_folder / "judge/gpt-5-mini/rubric.judge-rubric-1.json").read_text()
    )
    assert stored_rubric == load_rubric()
    # both orders of each pair were asked: the first image of one is the second of the other
    pairs = [tuple(r["shas"]) for r in answered if r["kind"] == "pair"]
    assert {(b, a) for a, b in pairs} == set(pairs)
    # the judge's answers are answers like the people's, labelled with the judge
    judged = read_answers(run_folder, source="judge")
    assert len(judged) == 30 and {a.rater for a in judged} == {"judge-gpt-5-mini"}
    assert all(a.extra["simulated"] and a.extra["judge"] == "gpt-5-mini" for a in judged)
    # it follows what the simulator drew: the rewrites of dall-e-3 drew over the prompt's shapes
    summary = rating_summary(run_folder, n_boot=100)
    best = summary.judge_ranking[summary.judge_ranking["criterion"] == "prompt"].iloc[0]
    assert best["arm"] == "gpt-image-1"
    checks = judge_checks(run_folder)
    assert set(checks["item"]) == {"red", "fox", "sitting", "snow"}
    shown = checks.groupby("arm")["shown"].mean()
    assert shown["gpt-image-1"] > shown["dall-e-3"]
    # the report shows the judge's ranking, its checks, and says it was simulated
    from imgkit.report import write_report

    html = write_report(run_folder, n_boot=50, n_perm=200).read_text("utf-8")
    quality = html[html.index('<section id="quality">') :]
    assert "gpt-5-mini (simulated: the imgkit simulator played the judge)" in quality
    assert "Each image checked for every object and attribute" in quality
    (run_folder / "report.html").unlink()
    (run_folder / "report.md").unlink()
    (run_folder / "gallery.html").unlink()
    # nothing the run measured was touched
    assert _ledger_bytes(run_folder) == ledger
    assert sorted(p.name for p in (run_folder / "images").iterdir()) == images

    # resumable: a second run sends nothing, and answers are never doubled
    again = judge_run(run_folder, judge="gpt-5-mini", sim_url=sim.base_url, pairs_per_prompt=5)
    assert again.sent == 0 and again.already_done == 16
    assert len(read_answers(run_folder, source="judge")) == 30


def test_a_request_answered_but_not_turned_into_answers_is_not_asked_again(
    run_folder: Path, sim
) -> None:
    judge_run(run_folder, judge="gpt-5-mini", sim_url=sim.base_url, pairs_per_prompt=1)
    # a kill after the record of an answered request, before its answers: they are missing
    store = run_folder / "ratings" / "judge-gpt-5-mini.jsonl"
    store.write_bytes(b"".join(store.read_bytes().splitlines(keepends=True)[:-2]))
    # and a kill mid-send of another request: its record says sent, never answered
    path = run_folder / "judge/gpt-5-mini/requests.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:-1]) + lines[-1][:40])
    result = judge_run(run_folder, judge="gpt-5-mini", sim_url=sim.base_url, pairs_per_prompt=1)
    assert result.sent == 1 and result.maybe_billed == 1  # only the unanswered one, said so
    assert len(read_answers(run_folder, source="judge")) == 6  # two orders x three questions


def test_the_budget_is_held_before_anything_is_sent(run_folder: Path, sim) -> None:
    sim.reset()
    with pytest.raises(BudgetExceededError, match="worst case"):
        judge_run(run_folder, judge="gpt-5", sim_url=sim.base_url, budget=0.001)
    assert not (run_folder / "judge").exists()
    with pytest.raises(ValidationError, match="budget"):
        judge_run(run_folder, judge="gpt-5-mini", backend="live")
    with pytest.raises(ValidationError, match="gpt-5-mini"):
        judge_run(run_folder, judge="gpt-image-1")


def test_the_requests_are_structured_and_blind(run_folder: Path) -> None:
    images = rateable_images(open_run(run_folder).to_frame())
    tasks = judge_tasks(images, pairs_per_prompt=2)
    pair = next(t for t in tasks if t.kind == "pair")
    arguments = request_arguments(pair, "gpt-5-mini", load_rubric())
    text = json.dumps(arguments)
    assert "dall-e-3" not in text and "gpt-image-1" not in text  # no arm named
    asked = arguments["input"][0]["content"][0]["text"]
    assert f'"""\n{PROMPT}\n"""' in asked  # the prompt as written, not a rewrite
    fmt = arguments["text"]["format"]
    assert fmt["type"] == "json_schema" and fmt["strict"] is True
    assert fmt["schema"]["required"] == ["prompt", "craft", "use", "reason"]
    assert [p["type"] for p in arguments["input"][0]["content"]].count("input_image") == 2


def test_the_simulated_judge_refuses_what_the_api_would(sim) -> None:
    client = openai.OpenAI(api_key="sim", base_url=sim.openai_base_url, max_retries=0)
    with pytest.raises(openai.NotFoundError, match=r"does not exist"):
        client.responses.create(
            model="not-a-judge",
            input="hello",
            text={"format": {"type": "json_schema", "name": "x", "schema": {"type": "object"}}},
        )


def test_judge_and_ratings_commands(run_folder: Path, sim, capsys) -> None:
    assert main(["judge", str(run_folder), "--judge", "gpt-5-mini", "--sim-url", sim.base_url,
                 "--pairs", "5"]) == 0  # fmt: skip
    assert "simulated" in capsys.readouterr().out
    assert main(["ratings", str(run_folder)]) == 0
    out = capsys.readouterr().out
    assert "judge gpt-5-mini (simulated): 30 answers" in out
    assert "gpt-image-1 was preferred to dall-e-3 for following the prompt" in out
    assert main(["ratings", str(run_folder), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["judge_answers"] == 30 and data["judges"] == ["gpt-5-mini"]
    assert main(["judge", str(run_folder), "--judge", "gpt-5", "--budget", "0.00001",
                 "--sim-url", sim.base_url]) == 2  # fmt: skip
    assert "budget" in capsys.readouterr().err


def test_a_gemini_judge_through_the_google_genai_sdk(run_folder: Path, sim) -> None:
    result = judge_run(
        run_folder, judge="gemini-2.5-flash", sim_url=sim.base_url, pairs_per_prompt=2
    )
    assert result.failures == [] and result.answered == result.planned == 8
    assert result.simulated and 0 < result.spent_usd <= result.estimate_usd
    answered = [
        r
        for r in read_jsonl(run_folder / "judge/gemini-2.5-flash/requests.jsonl")
        if r["status"] == "ok"
    ]
    # 1024x1024 images are four 768-pixel tiles of 258 tokens each
    check = next(r for r in answered if r["kind"] == "check")
    assert check["usage"]["input_tokens"] > 4 * 258
    assert {r["answer"]["prompt"] for r in answered if r["kind"] == "pair"} <= {
        "first", "second", "tie",
    }  # fmt: skip
    judged = [
        a
        for a in read_answers(run_folder, source="judge")
        if a.extra["judge"] == "gemini-2.5-flash"
    ]
    assert len(judged) == 12


def test_two_judges_are_summarised_one_at_a_time(run_folder: Path, sim) -> None:
    judge_run(run_folder, judge="gpt-5-mini", sim_url=sim.base_url, pairs_per_prompt=1)
    judge_run(run_folder, judge="gemini-2.5-flash", sim_url=sim.base_url, pairs_per_prompt=2)
    summary = rating_summary(run_folder, n_boot=50)
    assert summary.judges == ["gemini-2.5-flash", "gpt-5-mini"]
    assert summary.judge == "gemini-2.5-flash" and summary.judge_answers == 12  # the most
    other = rating_summary(run_folder, n_boot=50, judge="gpt-5-mini")
    assert other.judge_answers == 6 and other.judge_ranking["answers"].max() == 2
    with pytest.raises(ValidationError, match="gpt-5-mini"):
        rating_summary(run_folder, judge="gpt-5")
