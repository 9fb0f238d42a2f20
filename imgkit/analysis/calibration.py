"""How the fixed similarity scales are made: distances between unrelated natural photographs.

Every measure's similarity is ``clip(1 - mean distance / reference, 0, 1)``, where the reference
is the mean distance between views of *different* photographs of one fixed, openly licensed set
(:mod:`imgkit.analysis.reference` reads the result). The set ships inside two packages from the
package index, scikit-image (``skimage.data``) and matplotlib (``mpl-data/sample_data``), so it
can be rebuilt on any machine with no network beyond the registry. Each photograph is seen as
six views (the whole frame and its four corner and one centre crop at 60% of each side, resized
to 512 x 512), so a pair of photographs gives 36 pairs of different compositions; views of one
photograph are never paired. The mean's interval resamples photographs, not pairs (the pairs
of one photograph are not independent).

``tools/calibrate_reference.py`` writes the shipped figures for the hashes and the embedded
network; a network from the model hub is calibrated the same way on first use, where its
weights can be had (:func:`calibrate_network`). Reading the photographs needs scikit-image (the
test and hub extras bring it).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

__all__ = [
    "CROP",
    "HELD_OUT",
    "NEAR_DUPLICATE",
    "N_BOOT",
    "PHOTOGRAPHS",
    "VIEW_SIDE",
    "calibrate_network",
    "load_photograph",
    "photograph_bootstrap",
    "summarise_distances",
    "views",
]

VIEW_SIDE = 512
CROP = 0.6
N_BOOT = 2000
#: The default near-duplicate threshold as a share of the reference distance (the same as
#: imgkit.analysis.reference.DEFAULT_NEAR_DUPLICATE, which imports it from here).
NEAR_DUPLICATE = 0.2
#: Width of a histogram bin of cosine distances (they lie in 0..2).
COSINE_BIN = 0.02

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
    """One reference photograph as an RGB PIL image (grey ones converted to RGB).

    ``stereo_motorcycle`` is the left view; ``stereo_motorcycle:right`` the right one (the same
    scene from a few centimetres away: the same subject in another photograph).
    """
    if name.endswith(".jpg"):
        import matplotlib

        folder = Path(matplotlib.get_data_path()) / "sample_data"
        return Image.open(folder / name).convert("RGB")
    from skimage import data

    base, _, side = name.partition(":")
    pixels = getattr(data, base)()
    if base == "stereo_motorcycle":
        pixels = pixels[1 if side == "right" else 0]
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


def photograph_bootstrap(blocks: dict[tuple[int, int], np.ndarray], n_photos: int) -> list[float]:
    """Bootstrap means of the cross-photograph distances, resampling photographs."""
    rng = np.random.default_rng(0)
    sums = {k: float(b.sum()) for k, b in blocks.items()}
    counts = {k: b.size for k, b in blocks.items()}
    means = []
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
    return means


def summarise_distances(blocks: dict[tuple[int, int], np.ndarray], n_photos: int) -> dict:
    """Statistics of cosine distances between views of different photographs."""
    values = np.concatenate([b.ravel() for b in blocks.values()]).astype(float)
    means = photograph_bootstrap(blocks, n_photos)
    mean = float(values.mean())
    quantiles = (0.001, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
    edges = np.arange(0.0, 2.0 + COSINE_BIN / 2, COSINE_BIN)
    return {
        "unit": "cosine distance",
        "n_pairs": int(values.size),
        "mean": round(mean, 5),
        "sd": round(float(values.std(ddof=1)), 5),
        "mean_ci95": [round(float(q), 5) for q in np.percentile(means, [2.5, 97.5])],
        "quantiles": {str(q): round(float(np.quantile(values, q)), 5) for q in quantiles},
        "min": round(float(values.min()), 5),
        "histogram_bin": COSINE_BIN,
        "histogram": np.histogram(values, bins=edges)[0].tolist(),
        "unrelated_near_duplicate_share": round(float(np.mean(values <= NEAR_DUPLICATE * mean)), 5),
    }


def feature_blocks(
    features_of: Callable[[Sequence[Image.Image]], np.ndarray],
    photographs: Sequence[tuple[str, str, str]] = PHOTOGRAPHS,
) -> tuple[dict[tuple[int, int], np.ndarray], int]:
    """Per pair of photographs, the cosine distances between their views; and the count."""
    images = [load_photograph(name) for name, _source, _licence in photographs]
    all_views = [view for image in images for view in views(image)]
    vectors = np.asarray(features_of(all_views), dtype=np.float64)
    per = len(all_views) // len(images)
    groups = [vectors[k * per : (k + 1) * per] for k in range(len(images))]
    blocks = {
        (i, j): 1.0 - groups[i] @ groups[j].T
        for i, j in itertools.combinations(range(len(images)), 2)
    }
    return blocks, len(images)


def calibrate_network(network: Any, features_of: Callable) -> dict[str, Any]:
    """The calibration record of one network: figures, method and photographs."""
    blocks, n_photos = feature_blocks(features_of)
    return {
        "network": network.name,
        "version": network.version,
        "title": network.title,
        "weights": network.weights,
        "licence": network.licence,
        "name": "natural-photographs-v1",
        "made_by": "tools/calibrate_reference.py",
        "method": (
            f"{n_photos} openly licensed photographs, each seen as 6 views (whole frame and five "
            f"{int(CROP * 100)}% crops, resized to {VIEW_SIDE} x {VIEW_SIDE}); the cosine "
            "distance (1 - cosine similarity) of the network's pooled features is taken for "
            "every pair of views of different photographs. mean_ci95: percentile bootstrap "
            f"over photographs, {N_BOOT} replicates."
        ),
        "images": [
            {"name": name, "source": source, "licence": licence}
            for name, source, licence in PHOTOGRAPHS
        ],
        **summarise_distances(blocks, n_photos),
    }
