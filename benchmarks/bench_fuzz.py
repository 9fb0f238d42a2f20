"""The fuzz test of issue 27 at size: thousands of hostile sweep files and command lines.

``tests/test_fuzz_inputs.py`` runs 120 cases of each in the suite; this runs it with
``IMGKIT_FUZZ_CASES`` (default 2,000) for a few seeds and prints the cases per second, the
wall and CPU time and the load average (timings taken while other work loads the machine are
noisy; the CPU time is the steadier figure). It fails when any case does: a traceback, an exit
status other than 0, 1 or 2, a request sent for a refused input, a case over its time bound.

    python benchmarks/bench_fuzz.py [--cases N] [--seeds 27,1,2]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--seeds", default="27,1")
    args = parser.parse_args()
    failed = 0
    for seed in [int(s) for s in args.seeds.split(",")]:
        env = {**os.environ, "IMGKIT_FUZZ_CASES": str(args.cases), "IMGKIT_FUZZ_SEED": str(seed)}
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-s",
                "-p",
                "no:cacheprovider",
                str(ROOT / "tests" / "test_fuzz_inputs.py"),
            ],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
        )
        wall = time.monotonic() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        counts = [
            line for line in done.stdout.splitlines() if line.lstrip(".").startswith("fuzzed")
        ]
        print(
            f"seed {seed}: {2 * args.cases} cases in {wall:.0f} s wall, {cpu:.0f} s CPU "
            f"({2 * args.cases / wall:.1f} cases/s), load average {os.getloadavg()[0]:.1f}"
        )
        for line in counts:
            print("  " + line.lstrip("."))
        if done.returncode != 0:
            failed += 1
            print(done.stdout[-4000:])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
