"""Benchmark the embedded feature network, and what it measures on real repeated generations.

Target (issue 23): at least 40 images a second on this 2-core machine for the default network
(EfficientNet-Lite0 on onnxruntime), decoding included, on 1024 x 1024 images as the services
return them (PNG, and JPEG as the Gemini models send).

Run: ``python benchmarks/bench_features.py [--images 64] [--repeats 5] [--real DIR]``. Each
round measures every image once (decode, crop, network) from files on disk; the first call,
which builds the network from its weights, is timed on its own. Prints the median and spread of
images per second, the ratio to the target, and the load average before and after (a busy
machine is slower: read the figure beside it).

``--real DIR`` also prints the similarities of real models' repeated generations: DIR holds one
folder of images per set (one model, one prompt), such as the sets catalogued from public
projects' recorded test traffic. Within-set similarity is consistency; between sets of one
model and different prompts it should be low. Nothing of those images is kept.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "camera", "immunohistochemistry")
TARGET = 40.0


def make_images(folder: Path, count: int, side: int = 1024) -> list[Path]:
    """``count`` distinct side x side photographs, three PNG to one JPEG (seeded noise)."""
    from skimage import data

    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        base = Image.fromarray(getattr(data, PHOTOS[i % len(PHOTOS)])()).convert("RGB")
        pixels = np.asarray(base.resize((side, side), Image.Resampling.BICUBIC), dtype=np.int16)
        noisy = np.clip(pixels + rng.integers(-6, 7, pixels.shape), 0, 255).astype(np.uint8)
        path = folder / f"img{i:03d}.{'jpg' if i % 4 == 0 else 'png'}"
        Image.fromarray(noisy).save(path, quality=92)
        paths.append(path)
    return paths


def speed(count: int, repeats: int) -> None:
    from imgkit.features.extract import get_extractor

    with tempfile.TemporaryDirectory() as tmp:
        paths = make_images(Path(tmp), count)
        load_before = os.getloadavg()
        start = time.perf_counter()
        extractor = get_extractor("efficientnet-lite0")
        extractor(paths[:1])
        first = time.perf_counter() - start
        rates = []
        for _ in range(repeats):
            start = time.perf_counter()
            extractor(paths)
            rates.append(count / (time.perf_counter() - start))
        load_after = os.getloadavg()
    median = statistics.median(rates)
    print(f"EfficientNet-Lite0, {count} images of 1024 x 1024 (3 PNG : 1 JPEG), {repeats} rounds")
    print(f"  first call (builds the network from its weights, one image): {first:.2f} s")
    print(
        f"  images/s: median {median:.1f} (min {min(rates):.1f}, max {max(rates):.1f}); "
        f"target {TARGET:.0f}: {median / TARGET:.2f}x"
    )
    print(f"  load average before {load_before[0]:.2f}, after {load_after[0]:.2f}")


def real_sets(root: Path) -> None:
    from imgkit.analysis.measures import DEFAULT_MEASURE
    from imgkit.analysis.reference import reference_for
    from imgkit.features.extract import get_extractor

    suffixes = (".png", ".jpg", ".jpeg", ".webp")
    sets = {
        folder.name: sorted(p for p in folder.iterdir() if p.suffix.lower() in suffixes)
        for folder in sorted(root.iterdir())
        if folder.is_dir()
    }
    sets = {name: files for name, files in sets.items() if len(files) >= 2}
    extractor = get_extractor()
    scale = reference_for(DEFAULT_MEASURE)
    vectors = {name: extractor(files) for name, files in sets.items()}
    print(f"\nreal sets in {root} (EfficientNet-Lite0 similarity on the fixed scale; raw cosine)")
    for name, v in vectors.items():
        cosines = [float(a @ b) for a, b in itertools.combinations(v, 2)]
        mean = float(np.mean(cosines))
        print(
            f"  {name}: {len(v)} images, similarity {scale.similarity(1 - mean):.2f} "
            f"(cosine {mean:.2f}, pairs {min(cosines):.2f}-{max(cosines):.2f})"
        )
    print("  between sets (mean cosine of their images):")
    names = list(vectors)
    for a, b in itertools.combinations(names, 2):
        cosine = float(np.mean(vectors[a] @ vectors[b].T))
        print(f"    {a} | {b}: similarity {scale.similarity(1 - cosine):.2f} ({cosine:.2f})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--real", type=Path, help="a folder of real repeat sets, one per folder")
    args = parser.parse_args()
    speed(args.images, args.repeats)
    if args.real:
        real_sets(args.real)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
