"""kill -9 at random instants across the whole life of a run, then resume: nothing lost, nothing
paid twice, no folder left that cannot be used.

Not a test (it takes a few minutes): run it by hand and read the figures::

    .venv/bin/python benchmarks/bench_kill.py [--trials 40] [--seed 0]

Each trial starts ``imgkit drill`` (2 arms x 6 repeats at concurrency 4, against a simulator
with 0.3 s of latency per image) in a child process and sends it SIGKILL at a random instant: a
third of the trials in the first 100 ms after its output folder appears (while the run folder is
being created), a sixth before that (while it starts up), the others anywhere between the folder
appearing and the run's end. Then it checks the folder:

- absent: no run folder (only a hidden, abandoned start, which the next start clears); or
- resumable: ``imgkit.resume`` finishes it, every generation ends ok with its image intact, and
  the simulator received no request, during the resume, for a generation that was complete
  (committed, or its image journaled on disk) at the kill.

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
from imgkit.runs.storage import read_journal
from imgkit.simulator import serve

MODELS = ("dall-e-3", "gpt-image-1")
REPEATS = 6


def _command(sim_url: str, out: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "imgkit.cli.drill",
        "--prompt",
        "a lighthouse in a storm",
        "--models",
        ",".join(MODELS),
        "-n",
        str(REPEATS),
        "--concurrency",
        "4",
        "--sim-url",
        sim_url,
        "--out",
        str(out),
        "--name",
        "victim",
        "--no-progress",
    ]


def _requests(sim) -> Counter:
    return Counter(sim.stats()["requests"].get("openai", {}))


def _complete_at_kill(folder: Path) -> Counter:
    """Generations (by model) complete at the kill: an ok attempt, or an in-flight attempt
    whose image journal is on disk with its image intact (a resume adopts those)."""
    done: Counter = Counter()
    with sqlite3.connect(f"file:{folder / 'ledger.sqlite'}?mode=ro", uri=True) as db:
        rows = db.execute(
            "SELECT a.attempt_id, a.status, g.model, g.gen_id FROM attempts a "
            "JOIN generations g USING (gen_id)"
        ).fetchall()
    ok = {gen for _a, status, _m, gen in rows if status == "ok"}
    for attempt_id, status, model, gen in rows:
        if status == "ok" or (
            status == "sending"
            and gen not in ok
            and read_journal(folder / "images", attempt_id) is not None
        ):
            done[model] += 1
    return done


def trial(rng: random.Random, sim, base: Path, startup: float, sending: float) -> tuple[str, str]:
    out = base / f"t{rng.randrange(10**9)}"
    sim.reset()
    child = subprocess.Popen(
        _command(sim.base_url, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        phase = rng.random()
        if phase < 1 / 6:
            wait = rng.uniform(0, startup)
            time.sleep(wait)
            when = f"start-up {wait:.2f} s"
        else:
            deadline = time.monotonic() + 30
            while not (out.exists() and any(out.iterdir())) and time.monotonic() < deadline:
                time.sleep(0.0005)
            if phase < 1 / 2:
                wait = rng.uniform(0, 0.1)
                when = f"folder +{wait * 1000:.0f} ms"
            else:
                wait = rng.uniform(0, sending)
                when = f"folder +{wait:.2f} s"
            time.sleep(wait)
        child.kill()
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
    time.sleep(0.2)
    folder = out / "victim"
    if not folder.exists():
        visible = [p for p in out.iterdir() if not p.name.startswith(".")] if out.exists() else []
        return ("absent" if not visible else f"BROKEN: stray {visible}"), when
    at_kill = _requests(sim)
    complete = _complete_at_kill(folder)
    planned = Counter({m: REPEATS for m in MODELS})
    try:
        run = resume(folder, sim_url=sim.base_url, progress=False, log=None)
    except Exception as exc:  # a rule broken: report it, do not stop the benchmark
        return f"BROKEN: resume raised {type(exc).__name__}: {exc}", when
    sent = _requests(sim) - at_kill
    frame = run.to_frame(verify=True)
    if run.status != "complete" or not (frame["status"] == "ok").all():
        return f"BROKEN: {run.status}, {frame['status'].value_counts().to_dict()}", when
    if frame["image_problem"].notna().any():
        return "BROKEN: an image is missing or damaged", when
    for row in frame.itertuples():
        if hashlib.sha256(Path(row.image_path).read_bytes()).hexdigest() != row.image_sha256:
            return "BROKEN: an image does not match its hash", when
    resent_complete = sum(((sent + complete) - planned).values())
    if resent_complete:
        return f"BROKEN: {resent_complete} complete generation(s) sent again", when
    return f"resumed ({sum(sent.values())} sent, {sum(complete.values())} kept)", when


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    outcomes: Counter = Counter()
    with serve(latency=0.3) as sim, tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        out = base / "timing"
        started = time.monotonic()
        child = subprocess.Popen(
            _command(sim.base_url, out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        while not (out.exists() and any(out.iterdir())):
            time.sleep(0.0005)
        startup = time.monotonic() - started
        assert child.wait(timeout=120) == 0, child.stderr.read()
        sending = time.monotonic() - started - startup
        print(f"an unkilled run: {startup:.2f} s to its folder, then {sending:.2f} s to the end")
        for number in range(1, args.trials + 1):
            outcome, when = trial(rng, sim, base, startup, sending)
            kind = outcome.split(" ")[0].rstrip(":")
            outcomes[kind] += 1
            print(f"{number:3d}  kill {when:<18} -> {outcome}")
    print(f"\n{args.trials} kills: " + ", ".join(f"{n} {k}" for k, n in sorted(outcomes.items())))
    return 1 if outcomes.get("BROKEN") else 0


if __name__ == "__main__":
    sys.exit(main())
