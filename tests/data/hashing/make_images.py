"""Make the committed test images and their golden hashes.

Run from the repository root:  python tests/data/hashing/make_images.py
It rewrites the PNG files beside it and golden.json. The images are drawn from fixed numbers
(and, for one, from scikit-image's bundled astronaut photo), so rerunning it gives the same
pixels. golden.json is computed with the imagehash package itself, never with imgkit, so the
tests compare imgkit against an independent reference. Only rerun it on purpose: the tests
pin these files.
"""

from __future__ import annotations

import json
from pathlib import Path

import imagehash
import numpy as np
from PIL import Image, ImageDraw

HERE = Path(__file__).parent
SIZES = (8, 16)


def gradient() -> Image.Image:
    y, x = np.mgrid[0:96, 0:128]
    pixels = np.stack([x * 2, y * 255 // 95, np.full_like(x, 60)], axis=-1).astype(np.uint8)
    return Image.fromarray(pixels, "RGB")


def checker() -> Image.Image:
    y, x = np.mgrid[0:64, 0:64]
    return Image.fromarray((((x // 8) + (y // 8)) % 2 * 255).astype(np.uint8), "L")


def shapes() -> Image.Image:
    image = Image.new("RGB", (200, 150), (30, 60, 120))
    draw = ImageDraw.Draw(image)
    draw.ellipse((20, 20, 90, 90), fill=(250, 200, 40))
    draw.rectangle((110, 40, 180, 130), fill=(200, 30, 40))
    draw.polygon([(30, 140), (100, 100), (160, 145)], fill=(40, 180, 90))
    return image


def noise() -> Image.Image:
    rng = np.random.default_rng(20261124)
    return Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8), "RGB")


def astronaut() -> Image.Image:
    from skimage import data

    return Image.fromarray(data.astronaut()).resize((128, 128), Image.Resampling.LANCZOS)


def palette() -> Image.Image:
    return shapes().quantize(colors=8, dither=Image.Dither.NONE)


def transparent() -> Image.Image:
    image = shapes().convert("RGBA")
    alpha = np.zeros((150, 200), dtype=np.uint8)
    alpha[:, 100:] = 255
    image.putalpha(Image.fromarray(alpha, "L"))
    return image


MAKERS = {
    "gradient_rgb.png": gradient,
    "checker_l.png": checker,
    "shapes_rgb.png": shapes,
    "noise_rgb.png": noise,
    "astronaut_128.png": astronaut,
    "shapes_p.png": palette,
    "shapes_rgba.png": transparent,
}


def golden_hashes(path: Path) -> dict[str, dict[str, str]]:
    with Image.open(path) as image:
        image.load()
        return {
            str(size): {
                "ahash": str(imagehash.average_hash(image, size)),
                "phash": str(imagehash.phash(image, size)),
                "dhash": str(imagehash.dhash(image, size)),
                "whash": str(imagehash.whash(image, size)),
                # imgkit's colorhash mapping: binbits = floor(log2(hash_size))
                "colorhash": str(imagehash.colorhash(image, binbits=int(np.log2(size)))),
            }
            for size in SIZES
        }


def main() -> None:
    golden = {}
    for name, make in MAKERS.items():
        make().save(HERE / name)
        golden[name] = golden_hashes(HERE / name)
    (HERE / "golden.json").write_text(json.dumps(golden, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
