"""Batch mode at its edges, as a careful user meets them: options that do not go together, a
full disk while the results come in, a result file with lines that cannot be read, whole
batches that end badly, ``imgkit batch`` on runs in every state, and the panel's cost tab.
Through the real SDKs against the simulator; everything counted at the simulator."""

from __future__ import annotations

import html
import json
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from imgkit.cli.main import main
from imgkit.errors import RunError
from imgkit.runner import drill, resume
from imgkit.runner.batch_outcomes import file_stem
from imgkit.runs import open_run
from imgkit.runs.ledger import Ledger


@pytest.fixture
def batch_sim(sim_factory):
    """A private simulator whose batches take 0.3 s."""
    return sim_factory(batch_duration=0.3)


def _drill(sim, tmp_path: Path, name: str, models=("dall-e-3",), n=2, **kwargs):
    return drill(
        ["a red fox in the snow"],
        list(models),
        n,
        out=tmp_path,
        run_name=name,
        sim_url=sim.base_url,
        progress=False,
        **{"log": None, **kwargs},
    )


def _batch_rows(folder: Path) -> list[dict]:
    with Ledger.open(folder) as ledger:
        return ledger.batches()


def _wait_for(predicate, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


# -- options that do not go together ----------------------------------------------------------


def test_resume_refuses_batch_options_it_would_ignore(tmp_path, batch_sim, capsys):
    # Before the fix `imgkit drill --resume RUN --batch` on a synchronous run said nothing and
    # sent the rest synchronously, at twice the batch price.
    _drill(batch_sim, tmp_path, "sync", n=1, stop=_stopped())
    folder = tmp_path / "sync"
    before = open_run(folder).manifest["sessions"]
    for extra in (["--batch"], ["--sim-batch-duration", "5"]):
        code = main(["drill", "--resume", str(folder), "--sim-url", batch_sim.base_url, *extra])
        err = capsys.readouterr().err
        assert code == 2, err
        assert extra[0] in err and "--resume" in err, err
    assert open_run(folder).manifest["sessions"] == before  # nothing was sent
    assert batch_sim.stats()["total_requests"] == 0


def test_resume_of_a_batch_run_accepts_batch(tmp_path, batch_sim, capsys):
    # --batch on the resume of a run that is a batch drill says what the run does anyway.
    _drill(batch_sim, tmp_path, "batched", n=1, batch=True, stop=_stopped())
    folder = tmp_path / "batched"
    code = main(["drill", "--resume", str(folder), "--batch", "--sim-url", batch_sim.base_url])
    assert code == 0, capsys.readouterr().err
    assert open_run(folder).status == "complete"


def _stopped() -> threading.Event:
    event = threading.Event()
    event.set()
    return event


# -- a full disk while the results come in ----------------------------------------------------

_WITH_A_FILE_SIZE_LIMIT = textwrap.dedent(
    """
    import resource, signal, sys
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
    limit = int(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    from imgkit.cli.drill import main
    sys.exit(main(sys.argv[2:]))
    """
)


def test_a_full_disk_while_a_result_file_downloads_stops_cleanly_then_resumes(
    tmp_path, sim_factory
):
    # Files may not grow past 1 MB: each gpt-image-1 image (about 380 kB) can be stored, but the
    # result file of four (base64, about 2 MB) cannot be downloaded. Before the fix the
    # download's OSError ended the runner with a traceback and the run "running", its partial
    # file left on the full disk.
    sim = sim_factory(batch_duration=0.3)
    folder = tmp_path / "full"
    done = subprocess.run(
        [sys.executable, "-c", _WITH_A_FILE_SIZE_LIMIT, str(1_000_000), "--prompt", "a fox",
         "--models", "gpt-image-1", "-n", "4", "--batch", "--sim-url", sim.base_url,
         "--out", str(tmp_path), "--name", "full", "--no-progress"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode not in (0, 2) and done.returncode > 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert "could not write" in done.stderr and str(folder) in done.stderr, done.stderr
    run = open_run(folder)
    assert run.status == "stopped_storage"
    assert run.summary()["in_flight"] == 4  # still waiting in the batch: collected on resume
    assert not list((folder / "batches").glob("*.part"))
    resumed = resume(folder, sim_url=sim.base_url, progress=False, log=None)
    frame = resumed.to_frame(verify=True)
    assert (frame["status"] == "ok").all() and frame["image_problem"].isna().all()
    stats = sim.stats()["batches"]
    assert sum(stats["created"].values()) == 1 and sum(stats["lines"].values()) == 4


# -- a result file with lines that cannot be read ---------------------------------------------


def test_result_lines_that_cannot_be_read_are_said_and_an_answered_one_counts_as_billed(
    tmp_path, batch_sim
):
    # Before the fix a line the vendor answered 200 whose body could not be read was recorded
    # as never billed (so the run's spending and its budget left it out), and torn or unknown
    # lines were passed over without a word.
    import openai

    stop = threading.Event()
    box: dict = {}
    thread = threading.Thread(
        target=lambda: box.update(
            run=_drill(batch_sim, tmp_path, "lines", n=4, batch=True, stop=stop)
        )
    )
    thread.start()
    folder = tmp_path / "lines"
    _wait_for(lambda: (folder / "ledger.sqlite").exists() and _submitted(folder))
    stop.set()
    thread.join(60)
    [row] = _batch_rows(folder)
    client = openai.OpenAI(api_key="sim", base_url=batch_sim.openai_base_url)
    _wait_for(lambda: client.batches.retrieve(row["batch_id"]).status == "completed")
    batch = client.batches.retrieve(row["batch_id"])
    good = client.files.content(batch.output_file_id).content.splitlines()
    ids = [json.loads(line)["custom_id"] for line in good]
    unreadable = {"custom_id": ids[1], "response": {"status_code": 200, "body": "garbage"}}
    crafted = [
        b"not json at all",
        good[0][: len(good[0]) // 2],  # torn
        b"[1, 2, 3]",
        json.dumps({**json.loads(good[0]), "custom_id": "999999"}).encode(),  # not ours
        json.dumps(unreadable).encode(),
        good[0],
        good[0],  # twice
        good[2],
        good[3],
    ]
    path = folder / "batches" / f"{file_stem(row['batch_key'])}.output.jsonl"
    path.write_bytes(b"\n".join(crafted) + b"\n")
    lines: list[str] = []
    run = resume(folder, sim_url=batch_sim.base_url, progress=False, log=lines.append)
    assert any("4 line(s)" in line and "could not be read" in line for line in lines), lines
    attempts = run.attempts_frame()
    first = attempts[attempts["attempt_id"] == int(ids[1])].iloc[0]
    assert first["status"] == "failed" and first["may_have_been_billed"]
    # It was made again (in a new batch) and its first, unreadable answer counts as spent.
    frame = run.to_frame(verify=True)
    assert (frame["status"] == "ok").all() and frame["image_problem"].isna().all()
    assert run.summary()["spent_usd"] == pytest.approx(5 * 0.02)
    assert run.may_have_been_billed()["attempt_id"].tolist() == [int(ids[1])]


def _submitted(folder: Path) -> bool:
    try:
        return any(row["batch_id"] for row in _batch_rows(folder))
    except RunError:  # a ledger still being made
        return False


# -- whole batches that end badly -------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "said"),
    [
        ("batch_failed", "failed at the vendor"),
        ("batch_cancelled", "was cancelled at the vendor"),
        ("batch_expired", "expired at the vendor"),
    ],
)
def test_a_batch_that_ends_badly_is_said_with_its_reason(tmp_path, batch_sim, fault, said):
    # Before the fix the drill's log said nothing: "complete (4 failed)" and no reason.
    batch_sim.configure(faults=f"openai/dall-e-3:{fault}=x1")
    lines: list[str] = []
    _drill(batch_sim, tmp_path, fault, n=4, batch=True, log=lines.append)
    ended = [line for line in lines if said in line]
    assert len(ended) == 1, lines
    assert "dall-e-3" in ended[0]
    if fault == "batch_failed":
        assert "simulated_failure" in ended[0]  # the vendor's reason
    if fault == "batch_cancelled":
        assert "--resume" in ended[0]  # what sends the rest


# -- imgkit batch status / cancel -------------------------------------------------------------


def test_batch_cancel_on_a_run_with_no_open_batch_touches_nothing(tmp_path, batch_sim, capsys):
    # Before the fix it ran a whole "cancel" session on any run: a synchronous one, a finished
    # one, a stopped one (a session added to the manifest, its status rewritten, a simulator
    # started, "resuming, 0 image(s)" printed).
    _drill(batch_sim, tmp_path, "stopped", n=2, stop=_stopped())
    _drill(batch_sim, tmp_path, "done", n=1, batch=True)
    for name in ("stopped", "done"):
        folder = tmp_path / name
        manifest = (folder / "manifest.json").read_text()
        code = main(["batch", "cancel", str(folder), "--sim-url", batch_sim.base_url])
        out, err = capsys.readouterr()
        assert code == 0, err
        assert "no open batch" in out and "resuming" not in err, (out, err)
        assert (folder / "manifest.json").read_text() == manifest


def test_batch_cancel_of_a_run_held_on_an_embedded_simulator_says_it_cannot(tmp_path, capsys):
    # Before the fix it "asked the vendor to cancel 1 batch(es)": it asked another simulator,
    # which did not know the batch, and said nothing of the 404; the batch ran on.
    stop = threading.Event()
    box: dict = {}

    def target() -> None:
        box["run"] = drill(
            "a red cube", ["dall-e-3"], 2, out=tmp_path, run_name="held", progress=False,
            log=None, batch=True, stop=stop, sim_batch_duration=30.0,
        )  # fmt: skip

    thread = threading.Thread(target=target)
    thread.start()
    folder = tmp_path / "held"
    try:
        _wait_for(lambda: (folder / "ledger.sqlite").exists() and _submitted(folder))
        code = main(["batch", "cancel", str(folder)])
        out, err = capsys.readouterr()
    finally:
        stop.set()
        thread.join(60)
    assert code == 1, (out, err)
    assert "asked the vendor" not in err + out
    assert "embedded simulator" in err and "Ctrl-C" in err, err


# -- the drill panel ---------------------------------------------------------------------------


def test_the_panel_cost_tab_of_a_batch_run_says_what_the_batch_saved(tmp_path, batch_sim):
    # Before the fix the panel's cost tab showed the batch price alone; the report said what
    # the same images would have cost synchronously, the panel did not.
    pytest.importorskip("ipywidgets")
    from imgkit.widgets import DrillPanel

    panel = DrillPanel(out=tmp_path, arms=("dall-e-3",), n=2, sim_url=batch_sim.base_url)
    panel.batch.value = True
    panel.run_drill()
    assert panel.wait(60) and panel.task.error is None, panel.task.error_text
    cost = panel.results.cost_html.value
    assert "Batch API" in cost and "$0.0800 synchronously" in cost, cost
    assert "saved $0.0400" in cost and "simulated" in cost.lower(), cost


# -- a live batch the vendor does not know ----------------------------------------------------


def test_a_live_batch_the_vendor_does_not_know_stays_open_and_is_not_bought_again(
    tmp_path, sim_factory, monkeypatch
):
    # A live run resumed under another API key or project: the vendor answers 404 for a batch
    # that exists, runs and is billed elsewhere. Before the fix the resume recorded it as lost
    # and bought its requests again in a new batch, paying twice. "live" here reaches two
    # simulators through OPENAI_BASE_URL: two accounts, nothing leaves the machine.
    first, other = sim_factory(batch_duration=0.5), sim_factory(batch_duration=0.5)
    monkeypatch.setenv("OPENAI_API_KEY", "-".join(["sk", "batch", "test"]))
    monkeypatch.setenv("OPENAI_BASE_URL", first.openai_base_url)
    stop = threading.Event()
    box: dict = {}

    def target() -> None:
        box["run"] = drill(
            "a red cube", ["gpt-image-2"], 2, out=tmp_path, run_name="live", backend="live",
            budget=5.0, progress=False, log=None, batch=True, stop=stop,
        )  # fmt: skip

    thread = threading.Thread(target=target)
    thread.start()
    folder = tmp_path / "live"
    _wait_for(lambda: (folder / "ledger.sqlite").exists() and _submitted(folder))
    stop.set()
    thread.join(60)
    monkeypatch.setenv("OPENAI_BASE_URL", other.openai_base_url)
    lines: list[str] = []
    run = resume(folder, progress=False, log=lines.append)
    assert any("does not know batch" in line and "stays open" in line for line in lines), lines
    assert run.summary()["in_flight"] == 2
    assert [row["status"] for row in _batch_rows(folder)] == ["submitted"]
    assert sum(other.stats()["batches"]["created"].values()) == 0  # nothing bought again
    monkeypatch.setenv("OPENAI_BASE_URL", first.openai_base_url)
    run = resume(folder, progress=False, log=None)
    assert (run.to_frame(verify=True)["status"] == "ok").all()
    stats = first.stats()["batches"]
    assert sum(stats["created"].values()) == 1 and sum(stats["lines"].values()) == 2


# -- the simulator's batches --------------------------------------------------------------------


def test_the_simulator_cancels_a_long_batch_without_waiting_out_its_pace(sim_factory):
    # "A cancel request stops the batch after the lines in progress" (simulator/batch_jobs.py).
    # Before the fix a cancel waited out the validating tenth of the batch's duration (six
    # minutes for an hour-long batch), or the pause before the next line, still "cancelling".
    import openai

    sim = sim_factory(batch_duration=3600.0)
    client = openai.OpenAI(api_key="sim", base_url=sim.openai_base_url)
    body = {"model": "dall-e-2", "prompt": "a red cube", "size": "256x256"}
    request = {"method": "POST", "url": "/v1/images/generations", "body": body}
    lines = [json.dumps({"custom_id": str(i), **request}) for i in range(3)]
    uploaded = client.files.create(file=("in.jsonl", "\n".join(lines).encode()), purpose="batch")
    batch = client.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/images/generations", completion_window="24h"
    )
    assert client.batches.cancel(batch.id).status == "cancelling"
    _wait_for(lambda: client.batches.retrieve(batch.id).status == "cancelled", timeout=60)
    done = client.batches.retrieve(batch.id)
    assert done.request_counts.completed == 0
    unrun = client.files.content(done.error_file_id).content.splitlines()
    assert [json.loads(line)["error"]["code"] for line in unrun] == ["batch_cancelled"] * 3


@pytest.mark.parametrize("duration", [86_400, 1e12, float("nan"), -1])
def test_the_simulators_batch_duration_stays_within_the_vendors_window(duration):
    # The drill refuses --sim-batch-duration of a day or more (a batch's completion window is
    # 24 h); before the fix `imgkit sim --batch-duration 1e12` was taken, its batches never
    # ending within the window they report.
    from imgkit.errors import ValidationError
    from imgkit.simulator import serve

    with pytest.raises(ValidationError, match="batch_duration"):
        serve(batch_duration=duration)


def test_the_panel_stopped_during_a_batch_says_what_waits_at_the_vendor(tmp_path, sim_factory):
    # Before the fix a panel stopped while its batch ran said "Done (stopped): 2 image(s), 2
    # without an image": the two still running (and billed) at the vendor counted as lost,
    # and nothing said how to collect them. Its estimate did not say which arm went by batch.
    pytest.importorskip("ipywidgets")
    from imgkit.widgets import DrillPanel

    sim = sim_factory(batch_duration=30.0)
    # budget=0 (no limit): under a budget an arm's first request goes alone until its cost is
    # known, and the synchronous arm might not have both images when the panel is stopped.
    panel = DrillPanel(
        out=tmp_path, arms=("dall-e-3", "leonardo-phoenix"), n=2, sim_url=sim.base_url, budget=0
    )
    panel.batch.value = True
    estimate = panel.estimate.value
    assert "in a batch" in estimate.split("dall-e-3")[1].split("</li>")[0], estimate
    assert "in a batch" not in estimate.split("leonardo-phoenix")[1].split("</li>")[0]
    panel.run_drill()

    def folders() -> list[Path]:  # a run folder is made under a hidden name, then renamed
        return [p.parent for p in tmp_path.glob("*/ledger.sqlite") if p.parent.name[0] != "."]

    _wait_for(folders)
    [folder] = folders()
    _wait_for(lambda: _submitted(folder))
    panel.stop()
    assert panel.wait(60) and panel.task.error is None, panel.task.error_text
    status = html.unescape(panel.status.value)
    assert "2 image(s)" in status and "0 without an image" in status, status
    assert "2 sent in batches, not yet collected" in status and ".resume()" in status, status


# -- the report ---------------------------------------------------------------------------------


def test_the_report_of_a_run_with_batches_still_open_says_they_are_not_collected(
    tmp_path, sim_factory, capsys
):
    # Before the fix the report of a run stopped while its batch ran said "1 arm(s) went
    # through the vendors' Batch APIs: $0.0000 there": its three requests, running and billed
    # at the vendor, were not mentioned.
    sim = sim_factory(batch_duration=30.0)
    stop = threading.Event()
    thread = threading.Thread(
        target=lambda: _drill(sim, tmp_path, "open", ("dall-e-3", "leonardo-phoenix"), n=3,
                              batch=True, stop=stop)
    )  # fmt: skip
    thread.start()
    folder = tmp_path / "open"
    _wait_for(lambda: (folder / "ledger.sqlite").exists() and _submitted(folder))
    stop.set()
    thread.join(60)
    assert main(["report", str(folder)]) == 0, capsys.readouterr().err
    for name in ("report.md", "report.html"):
        text = html.unescape((folder / name).read_text()).replace("\\", "")  # Markdown
        assert "3 request(s) still in batches at the vendor, not yet collected" in text, name
        assert f"imgkit drill --resume {folder}" in text, name


# -- a kill after a batch's last result, before it is marked collected --------------------------


def test_a_kill_after_every_result_is_recorded_but_before_collected_resumes(
    tmp_path, batch_sim, monkeypatch
):
    # Found by benchmarks/bench_batch_kill.py (a kill while collecting): every request of the
    # batch recorded, the batch itself not yet "collected". Before the fix the resume made no
    # client for its vendor (no request of it was still waiting) and raised KeyError: 'openai'.
    real = Ledger.update_batch

    def killed_before_collected(self, key, **fields):
        if fields.get("status") == "collected":
            raise SystemExit("killed after the last result was recorded")
        return real(self, key, **fields)

    monkeypatch.setattr(Ledger, "update_batch", killed_before_collected)
    with pytest.raises((SystemExit, RunError)):
        _drill(batch_sim, tmp_path, "cut", n=2, batch=True)
    monkeypatch.undo()
    folder = tmp_path / "cut"
    assert [row["status"] for row in _batch_rows(folder)] == ["submitted"]
    assert open_run(folder).summary()["ok"] == 2
    run = resume(folder, sim_url=batch_sim.base_url, progress=False, log=None)
    assert run.status == "complete" and run.summary()["ok"] == 2
    assert [row["status"] for row in _batch_rows(folder)] == ["collected"]
    stats = batch_sim.stats()["batches"]
    assert sum(stats["created"].values()) == 1 and sum(stats["lines"].values()) == 2


def test_a_resumed_batch_holds_only_what_its_unrecorded_requests_may_cost(
    tmp_path, batch_sim, monkeypatch
):
    # A batch re-attached by a resume held its whole estimate against the budget, though some
    # of its results were recorded (and their cost counted as spent) before the kill: the
    # resume's own check passed, then the run stopped for the budget without sending the
    # request that had failed with a 500. Budget: exactly the estimate of the two images.
    batch_sim.configure(faults="openai/dall-e-3:500=x1")
    real = Ledger.update_batch

    def killed_before_collected(self, key, **fields):
        if fields.get("status") == "collected":
            raise SystemExit("killed after the last result was recorded")
        return real(self, key, **fields)

    monkeypatch.setattr(Ledger, "update_batch", killed_before_collected)
    with pytest.raises((SystemExit, RunError)):
        _drill(batch_sim, tmp_path, "held", n=2, batch=True, budget=0.04)
    monkeypatch.undo()
    folder = tmp_path / "held"
    assert open_run(folder).summary()["ok"] == 1
    run = resume(folder, sim_url=batch_sim.base_url, progress=False, log=None)
    assert run.status == "complete" and run.summary()["ok"] == 2, run.summary()
    assert run.summary()["spent_usd"] == pytest.approx(0.04)
