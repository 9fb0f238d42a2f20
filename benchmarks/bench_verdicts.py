"""Verdicts with known truth, through the simulator: false positives and power.

Not a test: run it by hand and read the figures::

    .venv/bin/python benchmarks/bench_verdicts.py              # about ten minutes
    .venv/bin/python benchmarks/bench_verdicts.py --trials 100 # quicker, wider intervals

1. **False positives.** Identical arms: a pool of images of one simulated model on one prompt
   (``--pool`` images, drawn by the simulator through the real SDK), from which each trial
   draws k arms of n images without replacement, so every arm comes from the same distribution
   by construction. For k = 2, 4, 6 and n = 5, 10 it prints the share of trials in which
   :func:`imgkit.compare_all` named any winner (the family-wise error rate, which Holm's
   correction keeps at or below alpha = 0.05), with its 95% Wilson interval, next to the share
   in which some pair had p < 0.05 on its own (what an uncorrected report would have said).
   Two pools: gpt-image-2 (no rewriting) and dall-e-3 (rewrites every prompt, so its images
   vary a lot more).
2. **Power.** Arms that truly differ: pools of gpt-image-2 and of dall-e-3+as_is (the AS-IS
   control, which the simulated service still touches half the time). The true difference is
   measured on the whole pools. For n = 3..10 repeats per arm, the observed power (share of
   trials in which the comparison names gpt-image-2 more consistent) is printed next to what
   :func:`imgkit.analysis.planning.plan_repeats` predicted (a) simulating each arm from its own
   pilot images (the report's line; averaged over ``--pilots`` independent pilots) and (b)
   with the shift model at the true difference, each from pilots of 5 and of 20 images per
   arm. The planner's own stated error is two Monte Carlo standard errors; small pilots are
   optimistic (see :mod:`imgkit.analysis.planning`).

The load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PROMPT = "an astronaut riding a horse"
ALPHA = 0.05


def wilson(hits: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """The 95% Wilson score interval of a binomial proportion."""
    if not trials:
        return math.nan, math.nan
    p = hits / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = (
        z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    )
    return centre - half, centre + half


def pool(arm: str, size: int, out: Path) -> pd.DataFrame:
    """``size`` simulated images of ``arm`` on :data:`PROMPT`, hashed (phash)."""
    import imgkit
    from imgkit.analysis.consistency import usable_generations

    run = imgkit.drill(
        [PROMPT], [arm], n=size, out=out, progress=False, log=None, concurrency=8, sim_seed=7
    )
    return usable_generations(run.to_frame(), ("phash",))


def draw_arms(images: pd.DataFrame, k: int, n: int, rng: np.random.Generator) -> pd.DataFrame:
    """k arms of n images drawn without replacement from one pool."""
    picks = rng.choice(len(images), size=k * n, replace=False)
    frame = images.iloc[picks][["prompt", "phash"]].copy()
    frame["arm"] = [f"arm{i // n}" for i in range(k * n)]
    frame["status"] = "ok"
    return frame.reset_index(drop=True)


def false_positives(pools: dict[str, pd.DataFrame], trials: int) -> None:
    from imgkit.analysis.sweep import compare_all

    print("\n1. Identical arms: how often is any winner named? (alpha 0.05)")
    print(f"{'pool':>12} {'k':>2} {'n':>3} {'trials':>6}  {'Holm (any winner)':>26}  "
          f"{'uncorrected':>22}  {'s/trial':>7}")  # fmt: skip
    for name, images in pools.items():
        for k in (2, 4, 6):
            for n in (5, 10):
                rng = np.random.default_rng(1000 * k + n)
                corrected = uncorrected = 0
                start = time.perf_counter()
                for _ in range(trials):
                    frame = draw_arms(images, k, n, rng)
                    seed = int(rng.integers(2**31))
                    result = compare_all(frame, n_perm=2000, n_boot=50, seed=seed)
                    corrected += any(c.more_consistent for c in result.comparisons)
                    uncorrected += any(c.p_value < ALPHA for c in result.comparisons)
                took = (time.perf_counter() - start) / trials
                low, high = wilson(corrected, trials)
                u_low, u_high = wilson(uncorrected, trials)
                print(
                    f"{name:>12} {k:2d} {n:3d} {trials:6d}  "
                    f"{corrected / trials:6.3f} [{low:.3f}, {high:.3f}]   "
                    f"{uncorrected / trials:6.3f} [{u_low:.3f}, {u_high:.3f}]  {took:7.2f}",
                    flush=True,
                )


def power(a: pd.DataFrame, b: pd.DataFrame, trials: int, pilots: int) -> None:
    from imgkit.analysis.comparison import compare_arms
    from imgkit.analysis.hashing import distance_matrix
    from imgkit.analysis.planning import plan_repeats
    from imgkit.analysis.reference import reference_distance

    reference = reference_distance("phash", 8).distance

    def mean_distance(images: pd.DataFrame) -> float:
        matrix = distance_matrix(images["phash"].tolist())
        return float(matrix[np.triu_indices(len(images), 1)].mean())

    truth = (mean_distance(b) - mean_distance(a)) / reference
    print(
        f"\n2. Arms that truly differ: gpt-image-2 vs dall-e-3+as_is, true similarity "
        f"difference {truth:.3f} (pools of {len(a)} and {len(b)})"
    )
    sizes = (3, 4, 5, 6, 8, 10)
    rng = np.random.default_rng(5)
    # Pilots of 5 and of 20 images per arm, drawn apart from the trials' draws (the pools are
    # large); each planned both ways: each arm from its own images (the difference as the
    # pilot shows it: the report's line) and the shift model at the true difference.
    columns = [(5, None), (20, None), (5, truth), (20, truth)]
    predicted = {column: {n: [] for n in sizes} for column in columns}
    stated = []
    for _ in range(pilots):
        seed = int(rng.integers(2**31))
        for pilot_size, target in columns:
            pilot = pd.concat(
                [
                    draw_arms(a, 1, pilot_size, rng).assign(arm="gpt-image-2"),
                    draw_arms(b, 1, pilot_size, rng).assign(arm="dall-e-3+as_is"),
                ],
                ignore_index=True,
            )
            plan = plan_repeats(
                pilot, difference=target, max_repeats=max(sizes), power=0.999, n_sims=200,
                seed=seed,
            )  # fmt: skip
            curve = plan.curve.set_index("n")
            for n in sizes:
                # Past a candidate that already reached 0.999 the planner stops: count it so.
                reached = curve[curve.index <= n]["power"]
                value = float(curve.loc[n, "power"]) if n in curve.index else reached.max()
                predicted[(pilot_size, target)][n].append(value)
            stated.append(2 * float(curve["se"].max()))
    print(f"{'n':>3} {'observed power':>22}  {'own, pilot 5':>13} {'own, pilot 20':>13} "
          f"{'shift, pilot 5':>14} {'shift, pilot 20':>15}   (mean over pilots)")  # fmt: skip
    for n in sizes:
        hits = 0
        for _ in range(trials):
            frame = pd.concat(
                [
                    draw_arms(a, 1, n, rng).assign(arm="gpt-image-2"),
                    draw_arms(b, 1, n, rng).assign(arm="dall-e-3+as_is"),
                ],
                ignore_index=True,
            )
            result = compare_arms(
                frame, "gpt-image-2", "dall-e-3+as_is", n_perm=2000, n_boot=50,
                seed=int(rng.integers(2**31)),
            )  # fmt: skip
            hits += result.more_consistent == "gpt-image-2"
        low, high = wilson(hits, trials)
        planned = "".join(
            f"{np.nanmean(predicted[column][n]):>13.3f} " + (" " if k >= 2 else "")
            for k, column in enumerate(columns)
        )
        print(f"{n:3d} {hits / trials:6.3f} [{low:.3f}, {high:.3f}]  {planned}", flush=True)
    print(f"planner's stated error (2 Monte Carlo SE, 200 simulations): about "
          f"+-{np.nanmax(stated):.3f} at most")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=400, help="trials per configuration")
    parser.add_argument("--pool", type=int, default=240, help="images per pool")
    parser.add_argument("--pilots", type=int, default=10, help="independent pilots (power)")
    parser.add_argument("--skip-fpr", action="store_true", help="only the power section")
    parser.add_argument("--skip-power", action="store_true", help="only the false positives")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} at start")
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        start = time.perf_counter()
        pools = {
            "gpt-image-2": pool("gpt-image-2", args.pool, out),
            "dall-e-3": pool("dall-e-3", args.pool, out) if not args.skip_fpr else None,
            "dall-e-3+as_is": pool("dall-e-3+as_is", args.pool, out)
            if not args.skip_power
            else None,
        }
        print(f"pools drawn by the simulator in {time.perf_counter() - start:.0f} s")
        if not args.skip_fpr:
            false_positives({k: pools[k] for k in ("gpt-image-2", "dall-e-3")}, args.trials)
        if not args.skip_power:
            power(pools["gpt-image-2"], pools["dall-e-3+as_is"], args.trials, args.pilots)
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} at end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
