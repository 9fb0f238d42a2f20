"""How ``imgkit report`` and ``imgkit consistency`` scale with the number of images.

Not a test: run it by hand and read the figures::

    .venv/bin/python benchmarks/bench_report.py                 # 100, 1,000 and 5,000 images
    .venv/bin/python benchmarks/bench_report.py --sizes 100 1000 --repeats 1

For each size it writes a run folder directly through the ledger API (5 arms, 20 repeats per
arm and prompt, as many prompts as the size needs; PNGs of ``--side`` pixels, 1024 by default,
the size the services return, drawn by the simulator's drawing code, so the arms differ in
consistency the way the simulator's models do: some arms add a random word to the prompt, as a
rewriting model would), then times, each in a fresh process (median of ``--repeats``; peak
memory is that process's own maximum resident set size, from ``wait4``):

* ``imgkit report RUN`` (targets at 5,000 images of 1024 px: under 20 s, under 500 MB, HTML
  under 10 MB), after a first report that measures the images and keeps their features in the
  run folder (printed apart, with its CPU time): the timed reports read the kept features, as
  every analysis after the first does;
* ``imgkit consistency RUN/images`` (every image of the run as one arm: the worst case for
  within-group pairs; target at 5,000 images under 30 s).

Drawing 1024 px images takes a while (about 0.1 s each): ``--side 96`` gives the old, quick
figures, which decode a hundredth of the pixels. Each figure is printed beside its target (at
the largest size), with their ratio. The machine is shared: the load average is printed with the
figures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ARMS = 5
REPEATS = 20
#: Targets at TARGET_SIZE images (seconds, MB).
TARGET_SIZE = 5000
TARGETS = {"report s": 20.0, "report MB": 500.0, "HTML MB": 10.0, "consistency s": 30.0}
#: Per arm: the chance that a repeat adds a random word to the prompt (a rewriting model).
REWRITE = (0.0, 0.1, 0.3, 0.6, 1.0)
WORDS = ("lantern", "violin", "cactus", "anchor", "comet", "teapot", "kite", "owl", "bridge")


def build_run(parent: Path, n_images: int, side: int) -> Path:
    """Write a complete run folder of ``n_images`` simulated images; return its path."""
    import random

    from imgkit.runs.creating import create_run_folder
    from imgkit.runs.ledger import PlannedGeneration
    from imgkit.runs.storage import IMAGES_DIR
    from imgkit.simulator.drawing import render

    prompts = max(1, n_images // (ARMS * REPEATS))
    plan = []
    for arm in range(ARMS):
        for p in range(prompts):
            for r in range(REPEATS):
                plan.append(
                    PlannedGeneration(
                        gen_id=len(plan) + 1,
                        arm=f"arm{arm}",
                        model="gpt-image-1" if arm else "dall-e-3",
                        provider="openai",
                        endpoint="generate",
                        prompt_id=f"p{p}",
                        prompt=f"a {WORDS[p % len(WORDS)]} by the sea, scene {p}",
                        sent_prompt=f"a {WORDS[p % len(WORDS)]} by the sea, scene {p}",
                        repeat=r,
                        request={"size": "1024x1024", "quality": "low"},
                        estimated_usd=0.011,
                    )
                )
    manifest = {
        "format": 1,
        "run_id": f"bench-{n_images}",
        "status": "complete",
        "backend": "sim",
        "simulated": True,
        "parameters": {"n": REPEATS, "backend": "sim"},
    }
    ledger = create_run_folder(parent, f"bench-{n_images}", manifest, plan)
    folder = ledger.path.parent
    images = folder / IMAGES_DIR
    rng = random.Random(n_images)
    try:
        ledger.begin_session("start")
        with ledger.group():
            for generation in plan:
                arm = int(generation.arm[3:])
                prompt = generation.prompt
                revised = None
                if rng.random() < REWRITE[arm]:
                    revised = f"{prompt} with a {rng.choice(WORDS)}"
                data = render(revised or prompt, side, side, variation=rng.randrange(2**31))
                name = f"{generation.gen_id:06d}.png"
                (images / name).write_bytes(data)
                attempt = ledger.begin_attempt(generation.gen_id, 1, estimated_usd=0.011)
                import hashlib

                ledger.finish_ok(
                    attempt,
                    image_sha256=hashlib.sha256(data).hexdigest(),
                    image_file=name,
                    image_format="png",
                    width=side,
                    height=side,
                    revised_prompt=revised,
                    cost_usd=0.011,
                    cost_basis="estimate",
                    latency_s=0.0,
                    request_id=None,
                    simulated=True,
                )
        ledger.end_session("complete")
    finally:
        ledger.close()
    return folder


#: CPU seconds (user + system) of the last :func:`measure`d process.
LAST_CPU = [0.0]


def measure(argv: list[str]) -> tuple[float, float]:
    """(seconds, peak MB) of ``python -m imgkit <argv>`` in a fresh process: the peak is that
    process's own (``wait4``), not the largest of every child this benchmark has had. Its CPU
    time goes in :data:`LAST_CPU`."""
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", "imgkit", *argv], stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    took = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"imgkit {' '.join(argv)} exited {child.returncode}")
    LAST_CPU[0] = usage.ru_utime + usage.ru_stime
    return took, usage.ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=int, default=[100, 1000, 5000])
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure (median)")
    parser.add_argument("--keep", action="store_true", help="keep the run folders")
    parser.add_argument(
        "--side", type=int, default=1024, help="image side in pixels (default 1024, as served)"
    )
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="bench-report-"))
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} at start")
    print(f"images of {args.side} x {args.side} px, medians of {args.repeats}")
    print(f"{'images':>7} {'build s':>8} {'report s':>9} {'MB':>6} {'HTML MB':>8} "
          f"{'consistency s':>14} {'MB':>6}")  # fmt: skip
    results = {}
    figures: dict[int, dict[str, float]] = {}
    for size in args.sizes:
        start = time.perf_counter()
        folder = build_run(base, size, args.side)
        built = time.perf_counter() - start
        # The first analysis of a run measures its images and keeps their features in the run
        # folder; the timed ones read them, as every later analysis does (no decoding).
        first = measure(["report", str(folder)])
        first_cpu = LAST_CPU[0]
        report, report_cpu = [], []
        for _ in range(args.repeats):
            report.append(measure(["report", str(folder)]))
            report_cpu.append(LAST_CPU[0])
        html = (folder / "report.html").stat().st_size / 2**20
        consistency = [
            measure(["consistency", str(folder / "images")]) for _ in range(args.repeats)
        ]
        r_time = statistics.median(t for t, _ in report)
        r_peak = max(m for _, m in report)
        c_time = statistics.median(t for t, _ in consistency)
        c_peak = max(m for _, m in consistency)
        results[size] = (r_time, c_time)
        figures[size] = {
            "report s": r_time,
            "report MB": r_peak,
            "HTML MB": html,
            "consistency s": c_time,
        }
        print(f"{size:7d} {built:8.1f} {r_time:9.1f} {r_peak:6.0f} {html:8.2f} "
              f"{c_time:14.1f} {c_peak:6.0f}", flush=True)  # fmt: skip
        print(f"        report CPU {statistics.median(report_cpu):.1f} s (median); the first "
              f"report, measuring every image: {first[0]:.1f} s wall, {first_cpu:.1f} s CPU, "
              f"{first[1]:.0f} MB; load {os.getloadavg()[0]:.2f}", flush=True)  # fmt: skip
    sizes = sorted(results)
    if len(sizes) >= 2:
        small, large = sizes[0], sizes[-1]
        factor = large / small
        print(
            f"x{factor:g} images: report x{results[large][0] / results[small][0]:.1f} time, "
            f"consistency x{results[large][1] / results[small][1]:.1f} time "
            "(linear would be x{factor:g} plus the fixed start-up)".replace(
                "{factor:g}", f"{factor:g}"
            )
        )
    largest = max(figures)
    scale = "" if largest == TARGET_SIZE else f" (measured at {largest:,}, not {TARGET_SIZE:,})"
    print(f"targets at {TARGET_SIZE:,} images{scale}:")
    for name, target in TARGETS.items():
        value = figures[largest][name]
        verdict = "met" if value <= target else "NOT met"
        print(
            f"  {name:<14} {value:8.2f}  target <= {target:g}  "
            f"ratio {value / target:5.2f}  {verdict}"
        )
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} at end")
    if not args.keep:
        import shutil

        shutil.rmtree(base, ignore_errors=True)
    else:
        print(f"run folders kept in {base}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
