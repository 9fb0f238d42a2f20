"""The drill runner against the simulator, through the real providers and SDKs."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
from pathlib import Path

import pytest
from PIL import Image

import imgkit.cli
from imgkit.catalog import default_catalog
from imgkit.cli.drill import main as drill_main
from imgkit.errors import AuthenticationError, BudgetExceededError, ValidationError
from imgkit.experiment.arms import LESSON_PROMPT, Arm
from imgkit.runner import RetryPolicy, adrill, drill
from imgkit.runs import FRAME_COLUMNS, open_run

NO_DELAY = RetryPolicy(transient_delay_s=0.0, default_retry_after_s=0.0)


def quiet(**kwargs):
    """Arguments every test run shares: no bars, no log, no retry delays."""
    return {"progress": False, "log": None, "retry": NO_DELAY, **kwargs}


def requests_to(sim, model: str) -> int:
    return sim.stats()["requests"].get("openai", {}).get(model, 0)


def test_default_drill_is_the_lessons(tmp_path, monkeypatch):
    # A sentinel shaped like a key (assembled, so that no key-like string sits in the source).
    secret = "-".join(["sk", "imgkit", "test", "secret", "do", "not", "store"])
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    lines: list[str] = []
    run = drill(out=tmp_path, progress=False, log=lines.append)

    frame = run.to_frame()
    assert list(frame.columns) == list(FRAME_COLUMNS)
    assert len(frame) == 10 and set(frame["status"]) == {"ok"}
    assert frame.groupby("arm")["repeat"].apply(sorted).to_dict() == {
        "dall-e-3": [0, 1, 2, 3, 4],
        "gpt-image-1": [0, 1, 2, 3, 4],
    }
    assert set(frame["prompt"]) == {LESSON_PROMPT}
    assert frame["simulated"].all()
    # dall-e-3 reports its rewrite; gpt-image-1 on the Images API does not.
    assert frame.loc[frame["arm"] == "dall-e-3", "revised_prompt"].notna().all()
    assert frame.loc[frame["arm"] == "gpt-image-1", "revised_prompt"].isna().all()
    for row in frame.itertuples():
        path = Path(row.image_path)
        assert path.is_absolute() and path.parent == run.path / "images"
        data = path.read_bytes()
        assert hashlib.sha256(data).hexdigest() == row.image_sha256 == path.stem
        with Image.open(io.BytesIO(data)) as image:
            assert (image.width, image.height) == (row.width, row.height)
        assert row.cost_usd > 0 and row.request_id

    assert lines[0].startswith("imgkit drill: sending 10 image(s), estimated $")
    manifest = run.manifest
    assert manifest["status"] == "complete" and run.status == "complete"
    assert manifest["backend"] == "sim" and manifest["simulator"]["seed"] == 0
    assert manifest["parameters"]["n"] == 5
    assert [a["model"] for a in manifest["parameters"]["arms"]] == ["dall-e-3", "gpt-image-1"]
    assert manifest["versions"]["openai"] and manifest["versions"]["python"]
    assert manifest["catalog"]["version"] == default_catalog().version
    assert manifest["catalog"]["prices"]["dall-e-3"]["as_of"]
    assert "git" in manifest and manifest["started_at"] <= manifest["ended_at"]
    assert manifest["result"]["ok"] == 10
    # No key anywhere in the run folder.
    for file in run.path.rglob("*"):
        if file.is_file():
            assert secret.encode() not in file.read_bytes(), file


def test_a_simulator_started_elsewhere_is_described_by_itself(tmp_path, sim_factory):
    # With --sim-url the runner did not choose the seed or latency: the manifest records what
    # that simulator reports, so the run can be replayed.
    sim = sim_factory(seed=42, latency=0.01)
    run = drill("a red cube", ["dall-e-3"], 1, out=tmp_path, sim_url=sim.base_url, **quiet())
    described = run.manifest["simulator"]
    assert described["url"] == sim.base_url
    assert (described["seed"], described["latency_s"]) == (42, 0.01)


def test_open_run_reads_the_folder_offline(tmp_path, sim):
    run = drill("a red cube", ["dall-e-3"], 2, out=tmp_path, sim_url=sim.base_url, **quiet())
    reopened = open_run(run.path)
    assert reopened.run_id == run.run_id
    assert reopened.to_frame().equals(run.to_frame())
    assert len(reopened.attempts_frame()) == 2
    assert reopened.summary()["ok"] == 2


def test_estimate_is_printed_before_anything_is_sent(tmp_path, sim_factory):
    sim = sim_factory()
    seen: list[tuple[str, int]] = []
    drill(
        "a red cube",
        ["dall-e-3"],
        2,
        out=tmp_path,
        sim_url=sim.base_url,
        progress=False,
        log=lambda line: seen.append((line, sim.stats()["total_requests"])),
    )
    assert "estimated $0.0800" in seen[0][0]
    assert all(count == 0 for line, count in seen if "estimated" in line)
    assert sim.stats()["total_requests"] == 2


def test_budget_refuses_before_any_request(tmp_path, sim_factory):
    sim = sim_factory()
    with pytest.raises(BudgetExceededError, match="exceeds the budget") as caught:
        drill("a red cube", ["dall-e-3"], 5, out=tmp_path, budget=0.1, sim_url=sim.base_url)
    assert caught.value.needed_usd == pytest.approx(0.2)
    assert sim.stats()["total_requests"] == 0
    assert list(tmp_path.iterdir()) == []


def _cheap_catalog(tmp_path: Path, usd: float):
    prices = tmp_path / "prices.toml"
    prices.write_text(
        '[prices."dall-e-3"]\nsource = "test"\nas_of = "2026-11-24"\n'
        f'[prices."dall-e-3".table.standard]\n"1024x1024" = {usd}\n'
    )
    return default_catalog().with_prices(prices)


@pytest.mark.parametrize("concurrency", [1, 8])
def test_budget_stops_before_actual_spend_would_pass_it(tmp_path, sim_factory, concurrency):
    # The estimate says $0.02 an image, the service bills $0.04: the run starts (estimate
    # $0.20 within $0.25) and must stop before the 7th image would take spend past $0.25,
    # also when eight requests could be in flight at once on the too-low estimate.
    sim = sim_factory(latency=0.05)
    run = drill(
        "a red cube",
        ["dall-e-3"],
        10,
        out=tmp_path / "runs",
        budget=0.25,
        concurrency=concurrency,
        sim_url=sim.base_url,
        catalog=_cheap_catalog(tmp_path, 0.02),
        **quiet(),
    )
    summary = run.summary()
    assert run.status == "stopped_budget"
    assert (summary["ok"], summary["pending"]) == (6, 4)
    assert summary["spent_usd"] == pytest.approx(0.24)
    assert requests_to(sim, "dall-e-3") == 6


def test_budget_holds_for_a_quality_with_no_estimate(tmp_path, sim_factory):
    # xhigh has no price figure (it is billed from usage), so the estimate is $0 and cannot
    # guard the budget. The arm sends one request, learns the real price, and then sends only
    # what the rest of the budget can pay for.
    sim = sim_factory(latency=0.05)
    lines: list[str] = []
    run = drill(
        "a red cube",
        ["gpt-image-2.5-sunburst"],
        8,
        quality="xhigh",
        out=tmp_path,
        budget=1.0,
        concurrency=4,
        sim_url=sim.base_url,
        progress=False,
        log=lines.append,
    )
    frame = run.to_frame()
    each = frame.loc[frame["status"] == "ok", "cost_usd"].max()
    assert each > 0.1  # dear enough that eight of them would be several times the budget
    sent = requests_to(sim, "gpt-image-2.5-sunburst")
    assert sent == int(1.0 // each) and run.status == "stopped_budget"
    assert run.summary()["spent_usd"] <= 1.0
    assert any("one request at a time" in line for line in lines)


def test_live_requires_a_budget_and_a_key_before_any_folder(tmp_path, monkeypatch):
    with pytest.raises(ValidationError, match="budget"):
        drill("a red cube", ["gpt-image-2"], 1, backend="live", out=tmp_path, **quiet())
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(AuthenticationError, match="OPENAI_API_KEY"):
        drill("a cube", ["gpt-image-2"], 1, backend="live", budget=1, out=tmp_path, **quiet())
    assert list(tmp_path.iterdir()) == []


def test_invalid_request_is_refused_before_anything_is_sent(tmp_path, sim_factory):
    sim = sim_factory()
    with pytest.raises(ValidationError, match="size"):
        drill("x", ["dall-e-3"], 1, size="1536x1024", out=tmp_path, sim_url=sim.base_url)
    with pytest.raises(ValidationError, match="concurrency"):
        drill("x", ["dall-e-3"], 1, concurrency=0, out=tmp_path, sim_url=sim.base_url)
    assert sim.stats()["total_requests"] == 0 and list(tmp_path.iterdir()) == []


def test_bad_fault_spec_or_out_folder_leave_nothing_behind(tmp_path):
    # A bad --sim-faults is named before a run folder exists, not after an empty one is made.
    with pytest.raises(ValidationError, match="faults='bogus'"):
        drill("x", ["dall-e-3"], 1, sim_faults="bogus", out=tmp_path, **quiet())
    assert list(tmp_path.iterdir()) == []
    # An --out that cannot be created is a named error, not a FileNotFoundError traceback.
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ValidationError, match="out="):
        drill("x", ["dall-e-3"], 1, out=blocker / "runs", **quiet())


def test_policy_refusals_are_recorded_and_not_resent(tmp_path, sim_factory):
    sim = sim_factory(block=["forbidden fruit"])
    run = drill(
        "a bowl of forbidden fruit", ["dall-e-3"], 3, out=tmp_path, sim_url=sim.base_url, **quiet()
    )
    frame = run.to_frame()
    assert list(frame["status"]) == ["refused"] * 3
    assert list(frame["attempts"]) == [1, 1, 1]
    assert set(frame["error_kind"]) == {"content_policy"}
    assert frame["error_message"].str.contains("forbidden fruit").all()
    assert requests_to(sim, "dall-e-3") == 3
    assert run.status == "complete"
    run.resume(progress=False, log=None)
    assert requests_to(sim, "dall-e-3") == 3


def test_rate_limit_honours_retry_after_for_everyone_on_the_model(tmp_path, sim_factory):
    sim = sim_factory(faults="openai/dall-e-3:429=x1", retry_after=0.4)
    run = drill(
        "a red cube",
        ["dall-e-3"],
        3,
        out=tmp_path,
        concurrency=1,
        sim_url=sim.base_url,
        **quiet(retry=RetryPolicy(default_retry_after_s=5.0)),
    )
    attempts = run.attempts_frame()
    assert list(attempts["status"]) == ["failed", "ok", "ok", "ok"]
    limited = attempts.iloc[0]
    assert limited["error_kind"] == "rate_limited" and limited["will_retry"]
    retried = attempts[attempts["try"] == 2].iloc[0]
    assert retried["repeat"] == limited["repeat"]
    # The Retry-After (0.4 s, not the 5 s default) was read and waited out, by the retry and
    # by every request queued behind it for the same model.
    wait = (retried["not_before"] - limited["ended_at"]).total_seconds()
    assert 0.3 < wait < 1.0
    later = attempts.iloc[1:]
    assert (later["started_at"] >= retried["not_before"] - pd_slack()).all()
    assert run.to_frame()["status"].tolist() == ["ok"] * 3
    assert requests_to(sim, "dall-e-3") == 4


def pd_slack():
    import pandas as pd

    return pd.Timedelta(milliseconds=5)


def test_server_errors_get_exactly_one_retry(tmp_path, sim_factory):
    sim = sim_factory(faults="openai/dall-e-3:500=1.0")
    run = drill("a red cube", ["dall-e-3"], 2, out=tmp_path, sim_url=sim.base_url, **quiet())
    frame = run.to_frame()
    assert list(frame["status"]) == ["failed", "failed"]
    assert list(frame["attempts"]) == [2, 2]
    assert set(frame["error_kind"]) == {"server_error"}
    attempts = run.attempts_frame()
    assert sorted(attempts["will_retry"].tolist()) == [False, False, True, True]
    assert requests_to(sim, "dall-e-3") == 4


@pytest.mark.parametrize(
    ("fault", "kind"), [("500=x1", "server_error"), ("drop=x1", "connection_lost")]
)
def test_a_transient_failure_then_success(tmp_path, sim_factory, fault, kind):
    sim = sim_factory(faults=f"openai/gpt-image-1:{fault}")
    run = drill("a red cube", ["gpt-image-1"], 1, out=tmp_path, sim_url=sim.base_url, **quiet())
    attempts = run.attempts_frame()
    assert list(attempts["status"]) == ["failed", "ok"]
    assert attempts.iloc[0]["error_kind"] == kind
    assert run.to_frame().iloc[0]["status"] == "ok"
    # A 500 is an answer (nothing made); a dropped answer may have been made and billed.
    assert attempts["may_have_been_billed"].tolist() == [kind == "connection_lost", False]


def test_timeout_is_retried_once(tmp_path, sim_factory):
    # timeout_s is each request's total deadline (imgkit.providers.deadline): long enough for
    # the retry to be drawn on a loaded machine, shorter than the held request
    sim = sim_factory(faults="openai/dall-e-3:timeout=x1", timeout_hold=10)
    run = drill(
        "a red cube", ["dall-e-3"], 1, out=tmp_path, sim_url=sim.base_url, timeout_s=3.0, **quiet()
    )
    attempts = run.attempts_frame()
    assert list(attempts["status"]) == ["failed", "ok"]
    assert attempts["error_kind"].iloc[0] == "timeout"
    assert run.to_frame().iloc[0]["status"] == "ok"
    # The service may have finished (and billed) the image the client stopped waiting for.
    assert attempts["may_have_been_billed"].tolist() == [True, False]
    assert len(run.may_have_been_billed()) == 1


def test_a_timed_out_attempt_counts_against_the_budget(tmp_path, sim_factory):
    # Budget for exactly one image: the timed-out try may already have been billed, so
    # retrying it could pay twice and pass the budget. The runner must stop instead.
    sim = sim_factory(faults="openai/dall-e-3:timeout=x1", timeout_hold=10)
    run = drill(
        "a red cube",
        ["dall-e-3"],
        1,
        out=tmp_path,
        sim_url=sim.base_url,
        timeout_s=3.0,
        budget=0.04,
        **quiet(),
    )
    assert requests_to(sim, "dall-e-3") == 1
    assert run.manifest["status"] == "stopped_budget"
    assert run.summary()["spent_usd"] == pytest.approx(0.04)


def test_concurrency_bounds_requests_in_flight(tmp_path, sim_factory):
    sim = sim_factory(latency=0.1)
    run = drill(
        "a red cube", ["dall-e-3"], 6, out=tmp_path, concurrency=2, sim_url=sim.base_url, **quiet()
    )
    attempts = run.attempts_frame()
    events = sorted(
        [(t, 1) for t in attempts["started_at"]] + [(t, -1) for t in attempts["ended_at"]],
        key=lambda e: (e[0], e[1]),
    )
    in_flight = peak = 0
    for _, step in events:
        in_flight += step
        peak = max(peak, in_flight)
    assert peak <= 2


def test_user_rate_limit_spaces_requests(tmp_path, sim_factory):
    sim = sim_factory()
    run = drill(
        "a red cube",
        ["dall-e-3"],
        4,
        out=tmp_path,
        concurrency=4,
        sim_url=sim.base_url,
        rate_limits={"dall-e-3": {"requests_per_minute": 600}},  # one every 0.1 s
        **quiet(),
    )
    starts = sorted(run.attempts_frame()["started_at"])
    assert (starts[-1] - starts[0]).total_seconds() >= 0.25
    assert run.manifest["parameters"]["rate_limits"] == {"dall-e-3": {"requests_per_minute": 600}}


def test_arms_with_the_as_is_prefix(tmp_path, sim):
    arms = [Arm("plain", "dall-e-3"), Arm("as_is", "dall-e-3", prompt_variant="as_is")]
    run = drill("a red cube", arms=arms, n=1, out=tmp_path, sim_url=sim.base_url, **quiet())
    frame = run.to_frame().set_index("arm")
    assert frame.loc["plain", "sent_prompt"] == "a red cube"
    assert frame.loc["as_is", "sent_prompt"].endswith("AS-IS: a red cube")
    assert set(frame["prompt"]) == {"a red cube"}


def test_drill_inside_a_running_event_loop(tmp_path, sim):
    async def notebook_cell():
        sync_run = drill("a cube", ["dall-e-3"], 1, out=tmp_path, sim_url=sim.base_url, **quiet())
        async_run = await adrill(
            "a cube", ["dall-e-3"], 1, out=tmp_path, sim_url=sim.base_url, **quiet()
        )
        return sync_run, async_run

    runs = asyncio.run(notebook_cell())
    assert [r.summary()["ok"] for r in runs] == [1, 1]


def test_cli_drill_json(tmp_path, sim, capsys):
    code = drill_main(
        [
            "--prompt",
            "a red cube",
            "--models",
            "dall-e-3,dall-e-3+as_is",
            "-n",
            "2",
            "--sim-url",
            sim.base_url,
            "--out",
            str(tmp_path),
            "--name",
            "cli-run",
            "--no-progress",
            "--json",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0
    summary = json.loads(captured.out)
    assert summary["ok"] == 4 and summary["status"] == "complete"
    assert summary["path"] == str((tmp_path / "cli-run").resolve())
    assert "estimated $0.1600" in captured.err

    code = drill_main(["--resume", summary["path"], "--sim-url", sim.base_url, "--no-progress"])
    assert code == 0
    assert "4 ok" in capsys.readouterr().out


def test_cli_drill_with_its_own_simulator_options_and_progress_bars(tmp_path, capsys):
    # The embedded simulator takes --sim-seed/--sim-latency/--sim-faults, prompts come from a
    # file ('#' lines skipped), and the progress bars report ok/failed/spent per arm.
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("# a comment\na red cube\n\na blue sphere\n")
    code = drill_main(
        [
            "--prompt-file",
            str(prompts),
            "--models",
            "dall-e-3",
            "-n",
            "2",
            "--sim-seed",
            "5",
            "--sim-latency",
            "0.01",
            "--sim-faults",
            "openai/dall-e-3:500=x1",
            "--rate-limit",
            "dall-e-3=600",
            "--out",
            str(tmp_path),
            "--name",
            "opts",
        ]
    )
    err = capsys.readouterr().err
    assert code == 0
    run = open_run(tmp_path / "opts")
    assert sorted(set(run.to_frame()["prompt"])) == ["a blue sphere", "a red cube"]
    assert run.manifest["simulator"] == {
        "url": "embedded",
        "seed": 5,
        "latency_s": 0.01,
        "faults": "openai/dall-e-3:500=x1",
    }
    assert run.manifest["parameters"]["rate_limits"] == {"dall-e-3": {"requests_per_minute": 600}}
    attempts = run.attempts_frame()
    assert list(attempts["status"]).count("failed") == 1 and run.summary()["ok"] == 4
    # The final state of the bar: four images, all ok, and what they cost.
    assert "4/4" in err and "ok=4 failed=0 refused=0 spent=$0.1600" in err


def test_cli_errors_exit_2_through_the_main_parser(tmp_path, capsys):
    code = imgkit.cli.main(
        [
            "drill",
            "--prompt",
            "x",
            "--models",
            "dall-e-3",
            "--budget",
            "0.01",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 2
    assert "exceeds the budget" in capsys.readouterr().err


def test_catalog_rate_limits_pace_live_runs_and_the_user_overrides_them():
    from imgkit.experiment.options import DrillOptions
    from imgkit.runner.pacing import rate_limits_per_model as _rate_limits

    arms = [Arm("gpt-image-2", "gpt-image-2"), Arm("dall-e-3", "dall-e-3")]
    live = DrillOptions(prompts=["x"], arms=arms, backend="live", budget=1.0)
    catalog = default_catalog()
    listed = catalog.get_model("gpt-image-2").rate_limit["images_per_minute"]
    assert _rate_limits(live, catalog) == {"gpt-image-2": listed, "dall-e-3": None}
    live.rate_limits = {"gpt-image-2": {"requests_per_minute": 50}}
    assert _rate_limits(live, catalog)["gpt-image-2"] == 50
    # The simulator enforces no catalog limit, so a rehearsal is not paced by one unless asked.
    sim_run = DrillOptions(prompts=["x"], arms=arms, backend="sim")
    assert _rate_limits(sim_run, catalog) == {"gpt-image-2": None, "dall-e-3": None}
    sim_run.catalog_rate_limits = True
    assert _rate_limits(sim_run, catalog)["gpt-image-2"] == listed
