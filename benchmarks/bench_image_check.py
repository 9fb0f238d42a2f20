"""What checking an answer's image costs: strict base64, a full decode, the claims compared.

Not a test: run it by hand and read the figures::

    .venv/bin/python benchmarks/bench_image_check.py
    .venv/bin/python benchmarks/bench_image_check.py --repeats 31

Every image an answer carries is decoded whole before it counts (``imgkit.providers.
image_check``, issue 25). This measures that per image, for the sizes and formats the services
send, on two kinds of picture: noise (the worst case for PNG: nothing compresses, 3 MB at
1024x1024) and a smooth drawing (closer to what a model draws). For each it prints the median
wall time and CPU time (``time.process_time``), the ratio of the CPU time to the target, and the
load average (other work on the machine makes the wall times noisy; the CPU time much less).

Target: at most ``TARGET_CPU_MS`` of CPU per image at 1536x1024 for a drawn picture, a fraction of
a percent of the tens of seconds a service takes to draw it; noise shows the ceiling (seen on
2 loaded cores: 66 ms for a 4.7 MB PNG, 104 ms for a WebP, ratio 1.1 and 1.7; drawings 3-17 ms).
The async providers read answers in a worker thread (``imgkit.providers.base.off_loop``), so
this time is not spent on the event loop.
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import statistics
import time

import numpy as np
from PIL import Image

from imgkit.providers.image_check import checked_image, strict_b64decode

TARGET_CPU_MS = 60.0
SIZES = ((1024, 1024), (1536, 1024))
FORMATS = ("PNG", "JPEG", "WEBP")


def _picture(width: int, height: int, kind: str) -> np.ndarray:
    if kind == "noise":
        return (np.random.default_rng(0).random((height, width, 3)) * 255).astype("uint8")
    y, x = np.mgrid[0:height, 0:width]
    red = (x * 255 // max(width - 1, 1)).astype("uint8")
    green = (y * 255 // max(height - 1, 1)).astype("uint8")
    blue = (((x // 64 + y // 64) % 2) * 200).astype("uint8")
    return np.dstack([red, green, blue])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f}; target {TARGET_CPU_MS:g} ms CPU an image")
    print(f"{'picture':8} {'size':10} {'format':6} {'bytes':>9} {'wall ms':>8} {'cpu ms':>7} ratio")
    for kind in ("noise", "drawing"):
        for width, height in SIZES:
            pixels = _picture(width, height, kind)
            for fmt in FORMATS:
                buffer = io.BytesIO()
                Image.fromarray(pixels).save(buffer, fmt)
                encoded = base64.b64encode(buffer.getvalue()).decode()
                walls, cpus = [], []
                for _ in range(args.repeats):
                    wall, cpu = time.perf_counter(), time.process_time()
                    data = strict_b64decode(encoded)
                    checked_image(data, claimed_format=fmt, claimed_size=f"{width}x{height}")
                    walls.append(time.perf_counter() - wall)
                    cpus.append(time.process_time() - cpu)
                cpu_ms = statistics.median(cpus) * 1000
                print(
                    f"{kind:8} {width}x{height:<5} {fmt:6} {len(data):>9} "
                    f"{statistics.median(walls) * 1000:>8.1f} {cpu_ms:>7.1f} "
                    f"{cpu_ms / TARGET_CPU_MS:.2f}"
                )
    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
