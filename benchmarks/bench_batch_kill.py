"""kill -9 a batch drill at random instants (submitting, polling, downloading), then resume it:
no batch created twice, no image lost, nothing bought twice.

Not a test (it takes a few minutes): run it by hand and read the figures::

    .venv/bin/python benchmarks/bench_batch_kill.py [--trials 24] [--seed 0]

Each trial starts ``imgkit drill --batch`` in a child process (3 arms: dall-e-3 and gpt-image-1
through OpenAI's Batch API, gemini-2.5-flash-image through Gemini's, 2 prompts x 4 repeats, so
three batches; the simulator takes ``--batch-duration`` seconds over each) and sends it SIGKILL
at a random instant of one of four phases, each found by watching the victim's ledger: the
moment a batch's record says "creating" (the vendor is being asked to create it, its id not yet
recorded: the window a resume covers by looking for the batch's tag); within 200 ms of the first
batch record (input files written and uploaded, batches created); while the batches run at the
vendor (all submitted, within the batch duration); within 300 ms of the first result recorded
(results downloaded, images stored, attempts committed). Each line shows the ledger's batch
statuses at the kill. Then ``imgkit.resume``
finishes the run against the same simulator, and the trial checks, counting at the simulator:

- no batch tag was created twice (``stats()["batches"]["created_twice"]`` is empty);
- every generation ends ok with its image intact (0 images lost);
- no request line ran twice for a generation (batch lines served == generations planned).

It prints one line per trial and the totals; it exits 1 if any trial broke a rule.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from imgkit.runner import resume
from imgkit.simulator import serve

MODELS = ("dall-e-3", "gpt-image-1", "gemini-2.5-flash-image")
PROMPTS = ("a lighthouse in a storm", "a fox in the snow")
REPEATS = 4
PLANNED = len(MODELS) * len(PROMPTS) * REPEATS


def command(sim_url: str, out: Path) -> list[str]:
    prompts = [arg for prompt in PROMPTS for arg in ("--prompt", prompt)]
    return [
        sys.executable,
        "-m",
        "imgkit.cli.drill",
        *prompts,
        "--models",
        ",".join(MODELS),
        "-n",
        str(REPEATS),
        "--batch",
        "--sim-url",
        sim_url,
        "--out",
        str(out),
        "--name",
        "victim",
        "--no-progress",
    ]


def lines_served(sim) -> int:
    lines = sim.stats()["batches"].get("lines", {})
    return sum(lines.values())


def batch_states(folder: Path) -> Counter:
    """The ledger's batch statuses (preparing, uploaded, creating, submitted, collected)."""
    try:
        with sqlite3.connect(f"file:{folder / 'ledger.sqlite'}?mode=ro", uri=True) as db:
            return Counter(status for (status,) in db.execute("SELECT status FROM batches"))
    except sqlite3.Error:
        return Counter()


def ok_attempts(folder: Path) -> int:
    try:
        with sqlite3.connect(f"file:{folder / 'ledger.sqlite'}?mode=ro", uri=True) as db:
            return db.execute("SELECT count(*) FROM attempts WHERE status = 'ok'").fetchone()[0]
    except sqlite3.Error:
        return 0


def wait_until(child: subprocess.Popen, condition) -> None:
    """Poll the victim's ledger until ``condition`` holds (or the victim has ended)."""
    deadline = time.monotonic() + 60
    while child.poll() is None and not condition() and time.monotonic() < deadline:
        time.sleep(0.0002)


def check(folder: Path, sim) -> str:
    """Resume the killed run and check every rule; the outcome in words."""
    said: list[str] = []
    try:
        run = resume(folder, sim_url=sim.base_url, progress=False, log=said.append)
    except Exception as exc:  # a rule broken: report it, do not stop the benchmark
        return f"BROKEN: resume raised {type(exc).__name__}: {exc}"
    batches = sim.stats()["batches"]
    if batches.get("created_twice"):
        return f"BROKEN: batch(es) created twice: {batches['created_twice']}"
    frame = run.to_frame(verify=True)
    if run.status != "complete" or not (frame["status"] == "ok").all():
        return f"BROKEN: {run.status}, {frame['status'].value_counts().to_dict()}"
    if frame["image_problem"].notna().any():
        return "BROKEN: an image is missing or damaged"
    for row in frame.itertuples():
        if hashlib.sha256(Path(row.image_path).read_bytes()).hexdigest() != row.image_sha256:
            return "BROKEN: an image does not match its hash"
    served = lines_served(sim)
    if served != PLANNED:
        return f"BROKEN: {served} request lines served for {PLANNED} generations"
    created = sum(batches.get("created", {}).values())
    adopted = sum("created before the cut" in line for line in said)
    found = f", {adopted} found by its tag" if adopted else ""
    return f"resumed ({created} batch(es) created in all{found}, {served} lines)"


def trial(rng: random.Random, sim, base: Path, timings: dict[str, float]) -> tuple[str, str]:
    out = base / f"t{rng.randrange(10**9)}"
    sim.reset()
    with sim.state._lock:  # a fresh count of batches per trial (the batches stay listed)
        if sim.state.batch_jobs is not None:
            sim.state.batch_jobs.created_by_tag.clear()
            sim.state.batch_jobs.created.clear()
            sim.state.batch_jobs.lines.clear()
    child = subprocess.Popen(
        command(sim.base_url, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 60
        while not (out / "victim").exists() and time.monotonic() < deadline:
            time.sleep(0.0005)
        phase = rng.random()
        folder = out / "victim"
        if phase < 1 / 4:
            # The narrowest window: the vendor asked to create a batch, its id not yet recorded.
            wait_until(child, lambda: batch_states(folder)["creating"])
            wait, when = 0.0, "creating"
        elif phase < 1 / 2:
            wait_until(child, lambda: sum(batch_states(folder).values()))
            wait, when = rng.uniform(0, 0.2), "sending"
        elif phase < 3 / 4:
            wait_until(child, lambda: batch_states(folder)["submitted"] == len(MODELS))
            wait, when = rng.uniform(0, timings["duration"]), "running"
        else:
            wait_until(child, lambda: ok_attempts(folder))
            wait, when = rng.uniform(0, 0.3), "collecting"
        time.sleep(wait)
        child.kill()
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
    folder = out / "victim"
    if not folder.exists():
        return "BROKEN: no run folder", when
    states = ",".join(f"{n} {s}" for s, n in sorted(batch_states(folder).items()))
    return check(folder, sim), f"{when} +{wait:.2f} s [{states or 'no batch yet'}]"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-duration", type=float, default=1.5)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    outcomes: Counter = Counter()
    twice = lost = 0
    with serve(batch_duration=args.batch_duration) as sim, tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        out = base / "timing"
        child = subprocess.Popen(
            command(sim.base_url, out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        while not (out / "victim").exists():
            assert child.poll() is None, child.stderr.read()
            time.sleep(0.0005)
        started = time.monotonic()
        assert child.wait(timeout=300) == 0, child.stderr.read()
        total = time.monotonic() - started
        timings = {"duration": args.batch_duration, "total": total}
        print(f"an unkilled batch run: {total:.2f} s from its folder to its end")
        for number in range(1, args.trials + 1):
            outcome, when = trial(rng, sim, base, timings)
            kind = outcome.split(" ")[0].rstrip(":")
            outcomes[kind] += 1
            twice += "created twice" in outcome
            lost += "missing" in outcome or "does not match" in outcome
            print(f"{number:3d}  kill {when:<48} -> {outcome}")
    print(
        f"\n{args.trials} kills: "
        + ", ".join(f"{n} {k}" for k, n in sorted(outcomes.items()))
        + f"; batches created twice: {twice}; images lost: {lost}"
    )
    return 1 if outcomes.get("BROKEN") else 0


if __name__ == "__main__":
    sys.exit(main())
