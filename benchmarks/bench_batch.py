"""A large sweep in batch mode against the simulator: wall time, peak memory, ledger write rate.

Not a test: run it by hand and read the figures::

    .venv/bin/python benchmarks/bench_batch.py                  # 10,000 generations
    .venv/bin/python benchmarks/bench_batch.py --sizes 1000,10000 --repeats 3

For each size M it runs ``imgkit drill --batch`` in a child process (dall-e-2 at 256x256, the
simulator's cheapest image, so its drawing does not hide the runner; 100 prompts x M/100
repeats, one arm, so M/50,000 batches) against a simulator in another child process
(``imgkit sim --batch-duration 1``), and reports, medians over ``--repeats``:

- wall time, and its split: start-up (to the runner's session), to the first result recorded
  (the batch recorded, its input file written and uploaded, the batch created and run by the
  simulator, which draws M images, then its result file downloaded), and collecting (the
  result file read line by line, every image stored and every attempt committed);
- the runner's peak resident memory (its own ``ru_maxrss``, from ``wait4``: not the largest of
  every child this benchmark has run), to compare across M: it should not grow with the batch
  (result lines are read a few at a time), only with the plan;
- the simulator's peak resident memory (its result file is written to disk line by line);
- the ledger's write rate while collecting: attempts committed per second (the writer groups
  the writes that arrive together into one commit).

``--synchronous`` runs the same drill without ``--batch`` too: the runner's peak there is what
a plan of that size takes anyway, so the difference is what batch mode itself holds.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROMPTS = 100
#: The runner's peak in batch mode over its peak running the same drill synchronously (with
#: ``--synchronous``): batch mode itself should hold next to nothing beyond the plan.
TARGET_BATCH_OVER_SYNC = 1.1


def _sim(batch_duration: float) -> tuple[subprocess.Popen, str]:
    command = [
        sys.executable, "-m", "imgkit.cli.sim", "--batch-duration", str(batch_duration),
        "--no-default-block", "--log-level", "warning",
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    url = process.stdout.readline().strip()
    return process, url


def _rss_kb(pid: int) -> int:
    """Peak resident set of a live process (VmHWM), in kB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def one_run(size: int, sim_url: str, out: Path, batch: bool = True) -> dict[str, float]:
    repeats = max(1, size // PROMPTS)
    prompt_file = out / "prompts.txt"
    prompt_file.write_text(
        "\n".join(f"a small kite number {i} over a beach" for i in range(PROMPTS)), "utf-8"
    )
    command = [
        sys.executable, "-m", "imgkit.cli.drill", "--prompt-file", str(prompt_file),
        "--models", "dall-e-2", "--size", "256x256", "-n", str(repeats),
        "--sim-url", sim_url, "--out", str(out), "--name", f"m{size}", "--no-progress",
        *(["--batch"] if batch else ["--concurrency", "8"]),
    ]  # fmt: skip
    with tempfile.TemporaryFile("w+") as stderr:
        started = time.time()
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr, text=True)
        # wait4: this child's own resource use. RUSAGE_CHILDREN would give the largest peak of
        # every child reaped so far (the simulators of earlier runs included).
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.time() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        stderr.seek(0)
        assert child.returncode == 0, stderr.read()[-2000:]
    peak_kb = usage.ru_maxrss
    with sqlite3.connect(out / f"m{size}" / "ledger.sqlite") as db:
        session_start, session_end = db.execute(
            "SELECT started_at, ended_at FROM sessions"
        ).fetchone()
        first, last, ok = db.execute(
            "SELECT min(ended_at), max(ended_at), count(*) FROM attempts WHERE status = 'ok'"
        ).fetchone()
    assert ok == repeats * PROMPTS, f"{ok} of {repeats * PROMPTS} made"
    collecting = max(last - first, 1e-9)
    return {
        "generations": ok,
        "wall_s": wall,
        "startup_s": session_start - started,
        "to_first_result_s": first - session_start,
        "collecting_s": collecting,
        "session_s": session_end - session_start,
        "runner_peak_mb": peak_kb / 1024,
        "ledger_writes_per_s": ok / collecting,
        "images_per_s": ok / wall,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000", help="generations per run, comma separated")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--batch-duration", type=float, default=1.0)
    parser.add_argument(
        "--synchronous",
        action="store_true",
        help="also run the same drill synchronously (concurrency 8): the memory a plan of this "
        "size takes anyway, against which the batch run's peak is read",
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"load average at start: {os.getloadavg()}")
    modes = [True, False] if args.synchronous else [True]
    peaks: dict[tuple[int, bool], float] = {}
    for size, batch in ((size, batch) for size in sizes for batch in modes):
        results = []
        for _ in range(args.repeats):
            sim, url = _sim(args.batch_duration)
            try:
                with tempfile.TemporaryDirectory() as tmp:
                    result = one_run(size, url, Path(tmp), batch)
                result["sim_peak_mb"] = _rss_kb(sim.pid) / 1024
            finally:
                sim.terminate()
                sim.wait(timeout=30)
            results.append(result)
        mode = "in batch mode" if batch else "synchronously, concurrency 8"
        print(f"\n{size:,} generations {mode} (median of {len(results)}):")
        for key in results[0]:
            if key.startswith("_") or key == "generations":
                continue
            value = statistics.median(r[key] for r in results)
            print(f"  {key:<22} {value:10.2f}")
        peaks[(size, batch)] = statistics.median(r["runner_peak_mb"] for r in results)
    print("\nthe runner's peak memory against its targets:")
    for size in sizes:
        if (size, False) in peaks:
            ratio = peaks[(size, True)] / peaks[(size, False)]
            verdict = "met" if ratio <= TARGET_BATCH_OVER_SYNC else "NOT met"
            print(
                f"  {size:,}: batch / synchronous = {ratio:.2f} "
                f"(target <= {TARGET_BATCH_OVER_SYNC}: batch mode holds no more than the plan)"
                f"  {verdict}"
            )
    print(f"\nload average at end: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
