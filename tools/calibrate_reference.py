"""Build imgkit's fixed similarity scale: the distances between unrelated natural photographs.

Writes ``imgkit/analysis/data/reference_distances.json``, which
:mod:`imgkit.analysis.reference` reads. Run it again after changing a hash or the image list:

    .venv/bin/python tools/calibrate_reference.py

How it is made (the JSON repeats this, with every image's source and licence):

* the photographs are the openly licensed ones that ship inside two packages from PyPI,
  scikit-image (``skimage.data``) and matplotlib (``mpl-data/sample_data``), so the set can be
  rebuilt on any machine with no network beyond the package registry;
* each photograph is seen as six views (the whole frame, the four corner crops and the centre
  crop at 60% of each side, resized back to 512 x 512), so that a pair of photographs gives
  36 pairs of different compositions rather than one;
* only views of *different* photographs are paired (views of one photograph are related);
* per hash kind and hash size (4, 8, 16) the distances of those pairs are summarised: mean,
  standard deviation, quantiles, the histogram, a bootstrap interval of the mean that resamples
  photographs (not pairs: the pairs of one photograph are not independent), and the share of
  unrelated pairs that the near-duplicate threshold would call near duplicates;
* a few photographs are held out (``held_out``): the tests check on them that the scale puts
  unrelated photographs near 0 and perturbed copies near 1, on images the calibration never saw.

Needs the test extra (scikit-image); matplotlib is a core dependency.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import matplotlib
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from imgkit.analysis.hashing import KINDS, cross_distances, hash_bits, hash_images  # noqa: E402

OUT = ROOT / "imgkit" / "analysis" / "data" / "reference_distances.json"
HASH_SIZES = (4, 8, 16)
VIEW_SIDE = 512
CROP = 0.6
N_BOOT = 2000
#: The default near-duplicate threshold, as a share of the reference distance (see
#: imgkit.analysis.reference.DEFAULT_NEAR_DUPLICATE); repeated here so the tool does not need
#: the module it calibrates.
NEAR_DUPLICATE = 0.2

# (name, where it comes from, licence as its package documents it)
SKIMAGE = "scikit-image skimage.data"
PHOTOGRAPHS = [
    ("astronaut", SKIMAGE, "NASA; public domain"),
    ("chelsea", SKIMAGE, "CC0, Stefan van der Walt"),
    ("coffee", SKIMAGE, "CC0, Rachel Michetti"),
    ("coins", SKIMAGE, "Brooklyn Museum; no known copyright restrictions"),
    ("hubble_deep_field", SKIMAGE, "NASA; public domain"),
    ("immunohistochemistry", SKIMAGE, "CMMI; no known copyright restrictions"),
    ("rocket", SKIMAGE, "SpaceX; public domain"),
    ("retina", SKIMAGE, "CC0, Mikael Häggström"),
    ("grass", SKIMAGE, "CC0"),
    ("gravel", SKIMAGE, "CC0 (CC0Textures)"),
    ("brick", SKIMAGE, "CC0 (CC0Textures)"),
]
#: Photographs the calibration does not use, kept for the tests of the scale.
HELD_OUT = [
    ("camera", SKIMAGE, "CC0, Lav Varshney"),
    ("clock", SKIMAGE, "public domain, Stefan van der Walt"),
    ("grace_hopper.jpg", "matplotlib mpl-data/sample_data", "US Navy photograph; public domain"),
    ("stereo_motorcycle", SKIMAGE, "Middlebury 2014 stereo dataset (left view)"),
]


def load_photograph(name: str) -> Image.Image:
    """One reference photograph as an RGB PIL image (grey ones converted to RGB)."""
    if name.endswith(".jpg"):
        folder = Path(matplotlib.get_data_path()) / "sample_data"
        return Image.open(folder / name).convert("RGB")
    from skimage import data

    pixels = getattr(data, name)()
    if name == "stereo_motorcycle":
        pixels = pixels[0]
    return Image.fromarray(np.asarray(pixels)).convert("RGB")


def views(image: Image.Image) -> list[Image.Image]:
    """The whole frame and five crops at 60% of each side, all resized to 512 x 512."""
    w, h = image.size
    cw, ch = int(w * CROP), int(h * CROP)
    boxes = [
        (0, 0, w, h),
        (0, 0, cw, ch),
        (w - cw, 0, w, ch),
        (0, h - ch, cw, h),
        (w - cw, h - ch, w, h),
        ((w - cw) // 2, (h - ch) // 2, (w - cw) // 2 + cw, (h - ch) // 2 + ch),
    ]
    side = (VIEW_SIDE, VIEW_SIDE)
    return [image.crop(box).resize(side, Image.Resampling.LANCZOS) for box in boxes]


def summarise(blocks: dict[tuple[int, int], np.ndarray], bits: int, n_photos: int) -> dict:
    """Statistics of the cross-photograph distances, given each photograph pair's block."""
    values = np.concatenate([b.ravel() for b in blocks.values()]).astype(float)
    rng = np.random.default_rng(0)
    means = []
    sums = {k: float(b.sum()) for k, b in blocks.items()}
    counts = {k: b.size for k, b in blocks.items()}
    for _ in range(N_BOOT):
        # Resample photographs; pairs of a photograph with a copy of itself are skipped.
        draw = rng.integers(0, n_photos, n_photos)
        total = count = 0.0
        for i, j in itertools.combinations(draw, 2):
            if i == j:
                continue
            key = (min(i, j), max(i, j))
            total += sums[key]
            count += counts[key]
        if count:
            means.append(total / count)
    mean = float(values.mean())
    threshold = int(np.floor(NEAR_DUPLICATE * mean))
    quantiles = (0.001, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
    return {
        "bits": bits,
        "n_pairs": int(values.size),
        "mean": round(mean, 4),
        "sd": round(float(values.std(ddof=1)), 4),
        "mean_ci95": [round(float(q), 4) for q in np.percentile(means, [2.5, 97.5])],
        "quantiles": {str(q): float(np.quantile(values, q)) for q in quantiles},
        "min": int(values.min()),
        "histogram": np.bincount(values.astype(int), minlength=bits + 1).tolist(),
        "near_duplicate_bits": threshold,
        "unrelated_near_duplicate_share": round(float(np.mean(values <= threshold)), 5),
        "random_bits_mean": bits / 2,
    }


def calibrate() -> dict:
    photos = [(name, load_photograph(name)) for name, _source, _licence in PHOTOGRAPHS]
    all_views = [view for _name, image in photos for view in views(image)]
    per_photo = len(all_views) // len(photos)
    kinds: dict[str, dict[str, dict]] = {kind: {} for kind in KINDS}
    for size in HASH_SIZES:
        hashes = hash_images(all_views, kinds=KINDS, hash_size=size, workers=1)
        for kind in KINDS:
            column = hashes[kind].tolist()
            groups = [column[k * per_photo : (k + 1) * per_photo] for k in range(len(photos))]
            blocks = {
                (i, j): cross_distances(groups[i], groups[j])
                for i, j in itertools.combinations(range(len(photos)), 2)
            }
            kinds[kind][str(size)] = summarise(blocks, hash_bits(kind, size), len(photos))
    return {
        "name": "natural-photographs-v1",
        "description": (
            "Hamming distances between perceptual hashes of unrelated natural photographs: "
            "the fixed 'unrelated images' point of imgkit's similarity scale."
        ),
        "made_by": "tools/calibrate_reference.py",
        "method": (
            f"{len(photos)} openly licensed photographs, each seen as {per_photo} views (whole "
            f"frame and five {int(CROP * 100)}% crops, resized to {VIEW_SIDE} x {VIEW_SIDE}); "
            "every pair of views of different photographs is hashed and its distance counted. "
            "mean_ci95: percentile bootstrap over photographs, "
            f"{N_BOOT} replicates. near_duplicate_bits: floor({NEAR_DUPLICATE} x mean)."
        ),
        "images": [
            {"name": name, "source": source, "licence": licence}
            for name, source, licence in PHOTOGRAPHS
        ],
        "held_out": [
            {"name": name, "source": source, "licence": licence}
            for name, source, licence in HELD_OUT
        ],
        "hash_sizes": list(HASH_SIZES),
        "kinds": kinds,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"where to write (default {OUT})")
    args = parser.parse_args(argv)
    result = calibrate()
    args.out.write_text(json.dumps(result, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    for kind, sizes in result["kinds"].items():
        for size, stats in sizes.items():
            low, high = stats["mean_ci95"]
            print(
                f"{kind:9s} size {size:>2s}: {stats['bits']:3d} bits, mean {stats['mean']:6.2f} "
                f"[{low:.2f}, {high:.2f}], sd {stats['sd']:5.2f}, "
                f"1% {stats['quantiles']['0.01']:5.1f}, near-dup <= {stats['near_duplicate_bits']} "
                f"bits: {stats['unrelated_near_duplicate_share']:.3%} of unrelated pairs"
            )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
