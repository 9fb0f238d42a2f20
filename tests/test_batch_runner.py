"""Batch mode end to end, through the real SDKs against the simulator's Batch APIs: the run
folder a batch drill makes, faults per line and per batch, splitting, prices and budgets."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from imgkit.catalog.models import default_catalog
from imgkit.errors import BudgetExceededError
from imgkit.runner import drill
from imgkit.runs import open_run
from imgkit.runs.ledger import Ledger

#: The issue's five arms through the Batch APIs, and one (Leonardo) that has none.
BATCH_ARMS = (
    "dall-e-3",
    "gpt-image-1",
    "gpt-image-2",
    "gpt-image-2@responses",
    "gemini-3.1-flash-image",
)
ALL_ARMS = (*BATCH_ARMS, "leonardo-phoenix")
PROMPTS = ("a red fox in the snow", "a lighthouse at dusk")


@pytest.fixture
def batch_sim(sim_factory):
    """A private simulator whose batches take 0.3 s."""
    return sim_factory(batch_duration=0.3)


def _drill(sim, tmp_path: Path, name: str, models=BATCH_ARMS, n=2, **kwargs):
    kwargs.setdefault("prompts", list(PROMPTS))
    prompts = kwargs.pop("prompts")
    return drill(
        prompts,
        list(models),
        n,
        out=tmp_path,
        run_name=name,
        sim_url=sim.base_url,
        progress=False,
        log=None,
        **kwargs,
    )


def _batches(sim) -> dict:
    return sim.stats()["batches"]


def _check_images(frame) -> None:
    for row in frame[frame["status"] == "ok"].itertuples():
        data = Path(row.image_path).read_bytes()
        assert hashlib.sha256(data).hexdigest() == row.image_sha256


def test_a_batch_drill_makes_the_same_run_folder_as_a_synchronous_one(tmp_path, batch_sim):
    batched = _drill(batch_sim, tmp_path, "batched", ALL_ARMS, batch=True)
    after_batch = batch_sim.stats()
    synchronous = _drill(batch_sim, tmp_path, "synchronous", ALL_ARMS, batch=False)

    a, b = batched.to_frame(verify=True), synchronous.to_frame(verify=True)
    assert batched.status == synchronous.status == "complete"
    assert list(a.columns) == list(b.columns) and len(a) == len(b) == 24
    assert (a["status"] == "ok").all() and a["image_problem"].isna().all()
    _check_images(a)
    # The same things recorded: a revised prompt where the arm reports one, costs, sizes.
    for arm in ALL_ARMS:
        rows_a, rows_b = a[a["arm"] == arm], b[b["arm"] == arm]
        assert (
            rows_a["revised_prompt"].notna().tolist() == rows_b["revised_prompt"].notna().tolist()
        )
        assert rows_a["width"].tolist() == rows_b["width"].tolist()
        assert rows_a["cost_basis"].tolist() == rows_b["cost_basis"].tolist()
    # Batch prices: half the synchronous cost (the catalog's gemini-3.1 batch table: ~0.51).
    ratios = batched.manifest["batch"]["arms"]
    for arm in BATCH_ARMS:
        cost_a = a.loc[a["arm"] == arm, "cost_usd"].sum()
        cost_b = b.loc[b["arm"] == arm, "cost_usd"].sum()
        assert cost_a == pytest.approx(cost_b * ratios[arm]["price_ratio"], rel=1e-4), arm
    leonardo = a.loc[a["arm"] == "leonardo-phoenix", "cost_usd"].sum()
    assert leonardo == pytest.approx(b.loc[b["arm"] == "leonardo-phoenix", "cost_usd"].sum())
    # One batch per batch arm, none twice; Leonardo ran synchronously, and the run says so.
    stats = after_batch["batches"]
    assert sum(stats["created"].values()) == len(BATCH_ARMS) and not stats["created_twice"]
    assert set(batched.manifest["batch"]["synchronous"]) == {"leonardo-phoenix"}
    assert after_batch["requests"]["leonardo"]
    with Ledger.open(batched.path) as ledger:
        rows = ledger.batches()
    assert {r["status"] for r in rows} == {"collected"} and len(rows) == len(BATCH_ARMS)
    assert not (batched.path / "batches").exists() or not any((batched.path / "batches").iterdir())


def test_the_report_of_a_batch_run_says_what_it_would_have_cost_synchronously(tmp_path, batch_sim):
    from imgkit.report.content import report_content
    from imgkit.report.data import report_data
    from imgkit.report.render import write_report

    run = _drill(batch_sim, tmp_path, "report", ("dall-e-3", "leonardo-phoenix"), batch=True)
    data = report_data(run, n_boot=50, n_perm=50)
    # 4 dall-e-3 images: $0.02 each in a batch, $0.04 synchronously.
    assert data.batch["batch_usd"] == pytest.approx(0.08)
    assert data.batch["synchronous_usd"] == pytest.approx(0.16)
    assert data.batch["synchronous_arms"] == {"leonardo-phoenix": "leonardo has no batch mode"}
    rows = dict(map(tuple, report_content(data).run.rows))
    assert "$0.1600" in rows["batch mode"] and "$0.0800" in rows["batch mode"]
    assert "leonardo-phoenix" in rows["run synchronously"]
    assert data.to_dict()["batch"]["synchronous_usd"] == pytest.approx(0.16)
    # The first screen's cost sentence says it too.
    content = report_content(data)
    assert "$0.0800 there, $0.1600 synchronously" in content.cost_line
    # A batch arm has no time per request: said, not left blank.
    latency = {row[0]: row for row in content.latency.rows}
    assert latency["dall-e-3"][2] == "by batch" and "Batch API" in content.latency_note
    assert latency["leonardo-phoenix"][2].endswith(" s")
    assert "batch mode" in write_report(run, data=data).read_text(encoding="utf-8")


def test_batch_lines_meet_the_fault_rules_and_retryable_ones_go_again(tmp_path, batch_sim):
    # One gpt-image-1 line fails with a 500 (sent again in a second batch), one dall-e-3
    # line is refused (never sent again), one prompt hits a blocked term on every arm.
    batch_sim.configure(faults="openai/gpt-image-1=500;openai/dall-e-3=policy")
    run = _drill(
        batch_sim,
        tmp_path,
        "faults",
        ("dall-e-3", "gpt-image-1"),
        prompts=["a red fox", "graphic violence on a street"],
        batch=True,
    )
    frame = run.to_frame()
    p1 = frame[frame["prompt_id"] == "p1"]
    assert (p1["status"] == "refused").all() and len(p1) == 4
    assert p1["error_kind"].tolist() == ["content_policy"] * 4
    p0 = frame[frame["prompt_id"] == "p0"]
    # The scripted policy fault refused one dall-e-3 line; the 500 was sent again and made.
    assert sorted(p0["status"]) == ["ok", "ok", "ok", "refused"]
    attempts = run.attempts_frame()
    failed = attempts[attempts["status"] == "failed"]
    assert failed["error_kind"].tolist() == ["server_error"] and failed["will_retry"].all()
    assert sum(_batches(batch_sim)["created"].values()) == 3  # two arms, then the retry
    assert not _batches(batch_sim)["created_twice"]


def test_a_batch_that_fails_validation_records_its_requests_as_not_run(tmp_path, batch_sim):
    batch_sim.configure(faults="openai/dall-e-3:batch_failed=x1")
    run = _drill(batch_sim, tmp_path, "invalid", ("dall-e-3", "gpt-image-1"), batch=True)
    frame = run.to_frame()
    assert (frame.loc[frame["arm"] == "dall-e-3", "error_kind"] == "batch_failed").all()
    assert (frame.loc[frame["arm"] == "gpt-image-1", "status"] == "ok").all()
    assert run.summary()["spent_usd"] == pytest.approx(
        frame.loc[frame["arm"] == "gpt-image-1", "cost_usd"].sum()
    )


def test_an_expired_batch_sends_its_unrun_half_again(tmp_path, batch_sim):
    batch_sim.configure(faults="openai:batch_expired=x1")
    run = _drill(batch_sim, tmp_path, "expired", ("gpt-image-1",), n=4, batch=True)
    assert run.status == "complete" and (run.to_frame()["status"] == "ok").all()
    attempts = run.attempts_frame()
    expired = attempts[attempts["error_kind"] == "batch_expired"]
    assert len(expired) == 4  # half of the 8 never ran, then ran in the next batch
    assert not expired["may_have_been_billed"].any()
    assert sum(_batches(batch_sim)["created"].values()) == 2


def test_a_batch_cancelled_elsewhere_keeps_what_it_made_and_a_resume_sends_the_rest(
    tmp_path, batch_sim
):
    batch_sim.configure(faults="openai:batch_cancelled=x1")
    run = _drill(batch_sim, tmp_path, "cancelled", ("gpt-image-1",), n=4, batch=True)
    frame = run.to_frame()
    assert sorted(frame["status"].value_counts().items()) == [("failed", 4), ("ok", 4)]
    assert set(frame.loc[frame["status"] == "failed", "error_kind"]) == {"batch_cancelled"}
    resumed = run.resume(sim_url=batch_sim.base_url, progress=False, log=None)
    assert (resumed.to_frame()["status"] == "ok").all()
    assert sum(_batches(batch_sim)["lines"].values()) == 8  # every request ran once


def test_requests_are_split_at_the_vendors_limit(tmp_path, batch_sim):
    catalog = default_catalog()
    small = dict(catalog.batch)
    small["openai"] = {**small["openai"], "max_requests": 3}
    limited = type(catalog)(
        dict(catalog.items()),
        catalog.output_tokens,
        catalog.sources,
        catalog.version,
        catalog.price_overrides,
        small,
    )
    run = _drill(
        batch_sim, tmp_path, "split", ("dall-e-3",), n=7, prompts=["a cube"], batch=True,
        catalog=limited,
    )  # fmt: skip
    assert (run.to_frame()["status"] == "ok").all()
    with Ledger.open(run.path) as ledger:
        sizes = [row["requests"] for row in ledger.batches()]
    assert sizes == [3, 3, 1]


def test_the_budget_is_checked_against_batch_prices(tmp_path, batch_sim):
    # 4 dall-e-3 images: $0.16 synchronously, $0.08 in a batch.
    with pytest.raises(BudgetExceededError):
        _drill(batch_sim, tmp_path, "dear", ("dall-e-3",), budget=0.1, batch=False)
    run = _drill(batch_sim, tmp_path, "cheap", ("dall-e-3",), budget=0.1, batch=True)
    assert run.status == "complete" and run.summary()["spent_usd"] == pytest.approx(0.08)
    assert run.manifest["estimate"]["synchronous_usd"] == pytest.approx(0.16)


def test_arms_that_cannot_go_by_batch_run_synchronously_and_say_why(tmp_path, batch_sim):
    lines: list[str] = []
    from imgkit.experiment.arms import Arm

    streamed = Arm.parse("gpt-image-1", stream=True, partial_images=1)
    run = drill(
        ["a cube"],
        arms=[Arm.parse("dall-e-3"), streamed, Arm.parse("leonardo-phoenix")],
        n=1,
        out=tmp_path,
        run_name="mixed",
        sim_url=batch_sim.base_url,
        progress=False,
        log=lines.append,
        batch=True,
    )
    assert set(run.manifest["batch"]["arms"]) == {"dall-e-3"}
    reasons = run.manifest["batch"]["synchronous"]
    assert "streamed" in reasons[streamed.name] and "no batch mode" in reasons["leonardo-phoenix"]
    assert any("runs synchronously" in line for line in lines)
    frame = run.to_frame()
    assert (frame["status"] == "ok").all()
    assert frame.loc[frame["arm"] == streamed.name, "first_partial_s"].notna().all()


def test_the_command_line_runs_a_batch_drill_and_shows_its_batches(tmp_path, batch_sim, capsys):
    from imgkit.cli.main import main

    code = main(
        ["drill", "--models", "dall-e-3", "-n", "2", "--batch", "--sim-url", batch_sim.base_url,
         "--out", str(tmp_path), "--name", "cli", "--no-progress"]
    )  # fmt: skip
    assert code == 0
    capsys.readouterr()
    assert main(["batch", "status", str(tmp_path / "cli"), "--json"]) == 0
    import json

    rows = json.loads(capsys.readouterr().out)
    assert [row["status"] for row in rows] == ["collected"]
    assert rows[0]["counts"] == {"completed": 2, "failed": 0, "total": 2}
    assert main(["batch", "status", str(tmp_path / "cli")]) == 0
    assert "dall-e-3" in capsys.readouterr().out
    assert open_run(tmp_path / "cli").manifest["parameters"]["batch"] is True


def test_the_drill_panel_sends_a_batch_and_shows_it(tmp_path, batch_sim):
    pytest.importorskip("ipywidgets")
    from imgkit.widgets import DrillPanel

    panel = DrillPanel(out=tmp_path, arms=("dall-e-3",), n=2, sim_url=batch_sim.base_url)
    synchronous = panel.estimate.value
    panel.batch.value = True
    assert "$0.0400" in synchronous and "$0.0200" in panel.estimate.value  # 2 x 0.04 -> 0.02
    panel.run_drill()
    assert panel.wait(60) and panel.task.error is None, panel.task.error_text
    assert panel.run.manifest["parameters"]["batch"] is True
    assert "dall-e-3 batch: completed: 2 made, 0 failed of 2" in panel.batch_status.value
    assert len(panel.gallery) == 2
    assert "dall-e-3: at the Batch API&#x27;s price" in panel.results.cost_html.value


def test_the_panels_time_to_answer_says_by_batch_for_a_batch_arm(tmp_path, batch_sim):
    pytest.importorskip("ipywidgets")
    from imgkit.widgets import DrillPanel

    arms = ("dall-e-3", "leonardo-phoenix")
    panel = DrillPanel(out=tmp_path, arms=arms, n=2, sim_url=batch_sim.base_url)
    panel.batch.value = True
    panel.run_drill()
    assert panel.wait(60) and panel.task.error is None, panel.task.error_text
    cost = panel.results.cost_html.value
    assert "Time to answer" in cost and "<td>by batch</td>" in cost
