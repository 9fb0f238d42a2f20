"""What the planner adds to a report: the six-arm sweep's ``imgkit report`` against ``--no-plan``.

Not a test: run it by hand and read the figures::

    .venv/bin/python benchmarks/bench_plan.py                # 5 repeats of each, about 3 min
    .venv/bin/python benchmarks/bench_plan.py --repeats 3

It runs the six-arm sweep of tests/test_sweeps.py (six arms, a 2 x 2 prompt grid, 3 repeats: 72
images on the simulator) with ``imgkit drill --config``, makes one untimed report (which
measures the images and keeps their features in the run folder, as the first analysis of any
run does), then times ``imgkit report RUN`` and ``imgkit report RUN --no-plan`` taking turns,
each in a fresh process, so that a change in the machine's load hits both alike. Printed: the
median wall time and the median CPU time (user + system, from ``wait4``: steadier than wall
time on a shared machine) of each, their ratios against the target (the report with its planner
lines within 1.5x of the report without), and the load average.

``--imgkit`` runs another ``imgkit`` (a wrapper that sets PYTHONPATH to an older tree, say) to
compare before and after.
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET = 1.5  # report / report --no-plan

SWEEP = """\
description = "six arms x a templated prompt set (benchmarks/bench_plan.py)"
repeats = 3
backend = "sim"
kinds = ["phash", "dhash"]

[simulator]
seed = 1

[prompts]
template = "{subject}, {style}"
[prompts.grid]
subject = ["a red bicycle", "a lighthouse on a cliff"]
style = ["watercolour", "studio photograph"]

[[arms]]
model = "dall-e-3"

[[arms]]
model = "dall-e-3"
quality = "hd"
style = "natural"

[[arms]]
name = "dall-e-3 composed"
model = "dall-e-3"
prefix = "Exact same composition every time:"

[[arms]]
name = "gpt-low-wide"
model = "gpt-image-2"
quality = "low"
size = "1536x1024"

[[arms]]
model = "gpt-image-2"
quality = "medium"

[[arms]]
model = "gpt-image-2.6-sunburst"
endpoint = "responses"
"""


def default_imgkit() -> list[str]:
    script = Path(sys.executable).with_name("imgkit")
    return [str(script)] if script.exists() else [sys.executable, "-m", "imgkit"]


def timed(argv: list[str]) -> tuple[float, float]:
    """(wall s, CPU s) of ``argv`` in a fresh process, its output dropped."""
    start = time.perf_counter()
    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{shlex.join(argv)} exited with {os.waitstatus_to_exitcode(status)}")
    return wall, usage.ru_utime + usage.ru_stime


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.2f} (1 min) {five:.2f} (5 min) on {os.cpu_count()} cores"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs of each (median)")
    parser.add_argument("--imgkit", help="the imgkit command to time (default: this venv's)")
    args = parser.parse_args()
    imgkit = shlex.split(args.imgkit) if args.imgkit else default_imgkit()
    print(f"load average at start: {load()}")
    with tempfile.TemporaryDirectory(prefix="bench-plan-") as base:
        sweep = Path(base) / "six.toml"
        sweep.write_text(SWEEP, encoding="utf-8")
        out = Path(base) / "runs"
        drill = [*imgkit, "drill", "--config", str(sweep), "--out", str(out), "--no-progress"]
        subprocess.run(drill, stdout=subprocess.DEVNULL, check=True)
        (run,) = out.iterdir()
        first = timed([*imgkit, "report", str(run)])  # measures the images, keeps features
        rows: dict[str, list[tuple[float, float]]] = {"report": [], "report --no-plan": []}
        for _ in range(args.repeats):
            rows["report"].append(timed([*imgkit, "report", str(run)]))
            rows["report --no-plan"].append(timed([*imgkit, "report", str(run), "--no-plan"]))
    print(f"six-arm sweep, 72 images; medians of {args.repeats}, each in a fresh process")
    print(f"  first report (measures the images): {first[0]:.2f} s wall, {first[1]:.2f} s CPU")
    print(f"  {'':18s} {'wall s':>8s} {'CPU s':>8s}")
    medians = {}
    for name, values in rows.items():
        medians[name] = (
            statistics.median(w for w, _ in values),
            statistics.median(c for _, c in values),
        )
        print(f"  {name:18s} {medians[name][0]:8.2f} {medians[name][1]:8.2f}")
    for index, what in ((0, "wall"), (1, "CPU")):
        ratio = medians["report"][index] / medians["report --no-plan"][index]
        verdict = "met" if ratio <= TARGET else "NOT met"
        print(f"  report / --no-plan, {what:4s} {ratio:5.2f}  (target <= {TARGET}): {verdict}")
    print(f"load average at end: {load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
