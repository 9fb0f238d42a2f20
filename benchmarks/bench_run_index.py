"""How quickly the run index lists hundreds of run folders.

Not a test: run it by hand and read the figures::

    .venv/bin/python benchmarks/bench_run_index.py            # 300 runs
    .venv/bin/python benchmarks/bench_run_index.py --runs 1000

One small simulated drill is made (2 arms x 2 prompts x 5 repeats), then copied into ``--runs``
run folders with their own ids and start times (what a folder of nightly runs looks like after
a year). Timed, each repeated and printed as a median with the per-run cost:

- ``index_entries(folder)``: manifests and ledger summaries as plain dicts (what ``imgkit runs``
  uses), in this process;
- ``run_index(folder)``: the same as a DataFrame;
- ``imgkit runs DIR`` as a fresh process (start-up included, no pandas);
- for comparison, ``open_run(p).summary()`` for every folder: what listing the runs took
  before there was an index (the whole run frame of each folder).

Target: ``imgkit runs`` on 300 runs in under 2 s on a quiet machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: ``imgkit runs`` on 300 run folders, seconds (a quiet machine).
TARGET_CLI_S = 2.0


def median_time(action, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    import imgkit
    from imgkit.runs.index import index_entries, run_index
    from imgkit.runs.manifest import read_manifest, write_manifest

    folder = Path(tempfile.mkdtemp(prefix="imgkit-bench-index-"))
    try:
        seed = imgkit.drill(
            ["a red cube", "a blue sphere"],
            ["dall-e-3", "gpt-image-2"],
            5,
            out=folder / "seed",
            run_name="seed",
            progress=False,
            log=None,
        )
        runs = folder / "runs"
        runs.mkdir()
        manifest = read_manifest(seed.path)
        for k in range(args.runs):
            target = runs / f"run-{k:05d}"
            shutil.copytree(seed.path, target, ignore=shutil.ignore_patterns("images"))
            (target / "images").mkdir()
            manifest.update(run_id=target.name, created_at=f"2026-{1 + k % 12:02d}-01T00:00:00")
            write_manifest(target, manifest)

        print(f"{args.runs} run folders, {len(seed.to_frame())} generations each")
        print(f"load average: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")
        entries = median_time(lambda: index_entries(runs), args.repeats)
        frame = median_time(lambda: run_index(runs), args.repeats)
        script = Path(sys.executable).with_name("imgkit")
        command = [str(script), "runs", str(runs)]
        cli = median_time(
            lambda: subprocess.run(command, check=True, capture_output=True), args.repeats
        )
        paths = sorted(runs.iterdir())
        before = median_time(lambda: [imgkit.open_run(p).summary() for p in paths], 1)
        for label, seconds in (
            ("index_entries (dicts)", entries),
            ("run_index (DataFrame)", frame),
            ("imgkit runs (process)", cli),
            ("open_run().summary() each", before),
        ):
            per_run = seconds / args.runs * 1000
            print(f"  {label:<27} median {seconds:7.3f} s   {per_run:6.2f} ms a run")
        print(f"  summary() each / index_entries: {before / entries:.1f}x")
        verdict = "met" if cli < TARGET_CLI_S else "NOT met"
        where = "" if args.runs == 300 else f" (measured on {args.runs} runs, not 300)"
        print(
            f"  target: imgkit runs on 300 runs < {TARGET_CLI_S} s: {cli:.3f} s, "
            f"ratio {cli / TARGET_CLI_S:.2f}  {verdict}{where}"
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
