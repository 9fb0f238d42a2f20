"""How quickly the ``imgkit`` command starts, and how soon a drill gets its first answer.

Not a test: run it by hand and read the figures::

    .venv/bin/python benchmarks/bench_startup.py            # about a minute and a half
    .venv/bin/python benchmarks/bench_startup.py --quick    # fewer repeats

1. Start-up. Each command runs as a fresh process, the commands taking turns so that a change
   in the machine's load hits them alike; printed are the median wall time, the median CPU time
   (user + system, steadier than wall time on a busy machine), the peak resident memory, and the
   ratio to ``python -c pass``. Targets: ``imgkit --help`` under 0.3 s, ``imgkit models`` under
   0.5 s.
2. The drill as a command: ``imgkit drill -n 16`` (the lesson's two models on the embedded
   simulator, 32 images) from a fresh process, against the same drill run in this process once
   everything is imported; and, from the run's ledger, how long after the run started the first
   request was sent and its answer stored. Start-up work (imports, clients, schemas) done on the
   event loop shows up there.

``--imgkit`` runs another ``imgkit`` (e.g. a wrapper that sets PYTHONPATH to an older tree) to
compare before and after; the in-process drill uses the imgkit this interpreter imports.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

TARGETS = {"imgkit --help": 0.3, "imgkit models": 0.5}


def default_imgkit() -> list[str]:
    script = Path(sys.executable).with_name("imgkit")
    return [str(script)] if script.exists() else [sys.executable, "-m", "imgkit"]


def run_process(argv: list[str]) -> tuple[float, float, float, int]:
    """(start epoch, wall s, CPU s, peak RSS MB) of ``argv`` run to completion, output dropped."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        actions = [(os.POSIX_SPAWN_DUP2, devnull, 1), (os.POSIX_SPAWN_DUP2, devnull, 2)]
        started = time.time()
        start = time.perf_counter()
        pid = os.posix_spawnp(argv[0], argv, os.environ, file_actions=actions)
        _, status, usage = os.wait4(pid, 0)
        wall = time.perf_counter() - start
    finally:
        os.close(devnull)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"{shlex.join(argv)} exited with {code}")
    return started, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss // 1024


def startup(imgkit: list[str], repeats: int) -> None:
    python = sys.executable
    commands = {
        "python -c pass": [python, "-c", "pass"],
        'python -c "import imgkit"': [python, "-c", "import imgkit"],
        "imgkit --help": [*imgkit, "--help"],
        "imgkit models": [*imgkit, "models"],
        "imgkit costs estimate --model gpt-image-2": [
            *imgkit,
            *["costs", "estimate", "--model", "gpt-image-2"],
        ],
    }
    samples: dict[str, list[tuple[float, float, int]]] = {name: [] for name in commands}
    for argv in commands.values():  # once each, untimed: the file cache warms
        run_process(argv)
    for _ in range(repeats):
        for name, argv in commands.items():
            _, wall, cpu, rss = run_process(argv)
            samples[name].append((wall, cpu, rss))

    def median(name: str, field: int) -> float:
        return statistics.median(s[field] for s in samples[name])

    base = median("python -c pass", 0)
    print(f"1. start-up, fresh processes, medians of {repeats}:")
    print(f"   {'command':44s} {'wall s':>7s} {'CPU s':>6s} {'RSS MB':>6s} {'x pass':>6s}  target")
    for name in commands:
        wall = median(name, 0)
        target = TARGETS.get(name)
        verdict = (
            ""
            if target is None
            else f"< {target} s: ratio {wall / target:.2f} {'ok' if wall < target else 'MISSED'}"
        )
        print(
            f"   {name:44s} {wall:7.3f} {median(name, 1):6.3f} {median(name, 2):6.0f} "
            f"{wall / base:6.1f}  {verdict}"
        )


def first_answer(run: Path) -> dict[str, float]:
    """Epoch seconds of the run's start, its first request sent and first answer stored."""
    db = sqlite3.connect(run / "ledger.sqlite")
    try:
        (session,) = db.execute("SELECT min(started_at) FROM sessions").fetchone()
        sent, answered = db.execute(
            "SELECT min(started_at), min(ended_at) FROM attempts WHERE status = 'ok'"
        ).fetchone()
    finally:
        db.close()
    created = json.loads((run / "manifest.json").read_text())["created_at"]
    return {
        "created": dt.datetime.fromisoformat(created).timestamp(),
        "session": session,
        "sent": sent,
        "answered": answered,
    }


def drill_figures(imgkit: list[str], repeats: int, n: int) -> None:
    rows = []
    with tempfile.TemporaryDirectory() as out:
        for i in range(repeats + 1):
            options = ["-n", str(n), "--out", out, "--no-progress", "--name", f"c{i}"]
            started, wall, cpu, rss = run_process([*imgkit, "drill", *options])
            if i == 0:
                continue  # untimed: the file cache warms
            t = first_answer(Path(out) / f"c{i}")
            rows.append(
                {
                    "wall": wall,
                    "cpu": cpu,
                    "rss": rss,
                    "to_run_start": t["created"] - started,
                    "run_to_sent": t["sent"] - t["session"],
                    "run_to_answer": t["answered"] - t["session"],
                    "process_to_answer": t["answered"] - started,
                }
            )
        in_process = in_process_drill(out, repeats, n)

    def median(key: str) -> float:
        return statistics.median(r[key] for r in rows)

    print(f"\n2. `imgkit drill -n {n}` ({2 * n} images, embedded simulator), medians of {repeats}:")
    print(
        f"   as a command      {median('wall'):6.2f} s wall, {median('cpu'):.2f} s CPU, "
        f"{median('rss'):.0f} MB"
    )
    print(
        f"   in this process   {in_process:6.2f} s (imports done); command / in-process = "
        f"{median('wall') / in_process:.2f}"
    )
    print(f"   process start -> run folder created   {median('to_run_start'):6.3f} s")
    print(f"   run start -> first request sent       {median('run_to_sent'):6.3f} s")
    print(f"   run start -> first answer stored      {median('run_to_answer'):6.3f} s")
    print(f"   process start -> first answer stored  {median('process_to_answer'):6.3f} s")


def in_process_drill(out: str, repeats: int, n: int) -> float:
    from imgkit.runner import drill

    def once(name: str) -> float:
        start = time.perf_counter()
        drill(n=n, out=out, run_name=name, progress=False, log=None)
        return time.perf_counter() - start

    once("warm")
    return statistics.median(once(f"p{i}") for i in range(repeats))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--repeats", type=int, default=15, help="start-up repeats (default 15)")
    parser.add_argument("--drill-repeats", type=int, default=5, help="drill repeats (default 5)")
    parser.add_argument("-n", type=int, default=16, help="drill repeats per model (default 16)")
    parser.add_argument("--imgkit", help="the imgkit command to run (default: this venv's)")
    args = parser.parse_args(argv)
    imgkit = shlex.split(args.imgkit) if args.imgkit else default_imgkit()
    repeats, drill_repeats = (5, 2) if args.quick else (args.repeats, args.drill_repeats)
    print(f"imgkit start-up benchmark: {shlex.join(imgkit)}; load average {os.getloadavg()}\n")
    startup(imgkit, repeats)
    drill_figures(imgkit, drill_repeats, args.n)
    print(f"\nload average afterwards {os.getloadavg()}")


if __name__ == "__main__":
    main()
