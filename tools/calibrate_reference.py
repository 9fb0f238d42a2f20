"""Build imgkit's fixed similarity scale: the distances between unrelated natural photographs.

Writes ``imgkit/analysis/data/reference_distances.json`` (the hashes) and
``imgkit/analysis/data/reference_features.json`` (the embedded network, EfficientNet-Lite0),
which :mod:`imgkit.analysis.reference` reads. Run it again after changing a hash, the network or
the image list (how the views are made lives in :mod:`imgkit.analysis.calibration`):

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

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from imgkit.analysis.calibration import (  # noqa: E402
    CROP,
    HELD_OUT,
    N_BOOT,
    NEAR_DUPLICATE,
    PHOTOGRAPHS,
    VIEW_SIDE,
    calibrate_network,
    load_photograph,
    photograph_bootstrap,
    views,
)
from imgkit.analysis.hashing import KINDS, cross_distances, hash_bits, hash_images  # noqa: E402

OUT = ROOT / "imgkit" / "analysis" / "data" / "reference_distances.json"
OUT_FEATURES = ROOT / "imgkit" / "analysis" / "data" / "reference_features.json"
HASH_SIZES = (4, 8, 16)
#: The networks whose calibration ships (hub networks are calibrated where they are used).
SHIPPED_NETWORKS = ("efficientnet-lite0",)

__all__ = ["HELD_OUT", "PHOTOGRAPHS", "load_photograph", "views"]


def summarise(blocks: dict[tuple[int, int], np.ndarray], bits: int, n_photos: int) -> dict:
    """Statistics of the cross-photograph distances, given each photograph pair's block."""
    values = np.concatenate([b.ravel() for b in blocks.values()]).astype(float)
    means = photograph_bootstrap(blocks, n_photos)
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


def calibrate_networks(names=SHIPPED_NETWORKS) -> dict:
    """The shipped learned-feature calibrations, one record per network."""
    from imgkit.features.extract import get_extractor

    records = {}
    for name in names:
        extractor = get_extractor(name)
        records[name] = calibrate_network(extractor.network, extractor)
    return {"name": "natural-photographs-v1", "networks": records}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"where to write (default {OUT})")
    parser.add_argument(
        "--out-features",
        type=Path,
        default=OUT_FEATURES,
        help=f"where to write the networks' figures (default {OUT_FEATURES})",
    )
    parser.add_argument(
        "--only", choices=("hashes", "networks"), help="calibrate only the hashes or the networks"
    )
    args = parser.parse_args(argv)
    if args.only != "networks":
        result = calibrate()
        args.out.write_text(json.dumps(result, indent=1, sort_keys=False) + "\n", encoding="utf-8")
        for kind, sizes in result["kinds"].items():
            for size, stats in sizes.items():
                low, high = stats["mean_ci95"]
                print(
                    f"{kind:9s} size {size:>2s}: {stats['bits']:3d} bits, mean "
                    f"{stats['mean']:6.2f} [{low:.2f}, {high:.2f}], sd {stats['sd']:5.2f}, "
                    f"1% {stats['quantiles']['0.01']:5.1f}, near-dup <= "
                    f"{stats['near_duplicate_bits']} bits: "
                    f"{stats['unrelated_near_duplicate_share']:.3%} of unrelated pairs"
                )
        print(f"wrote {args.out}")
    if args.only != "hashes":
        features = calibrate_networks()
        text = json.dumps(features, indent=1, sort_keys=False) + "\n"
        args.out_features.write_text(text, encoding="utf-8")
        for name, stats in features["networks"].items():
            low, high = stats["mean_ci95"]
            print(
                f"{name}: cosine distance mean {stats['mean']:.4f} [{low:.4f}, {high:.4f}] "
                f"(cosine similarity {1 - stats['mean']:.3f}), sd {stats['sd']:.4f}, 1% "
                f"{stats['quantiles']['0.01']:.3f}, near-dup: "
                f"{stats['unrelated_near_duplicate_share']:.3%} of unrelated pairs"
            )
        print(f"wrote {args.out_features}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
