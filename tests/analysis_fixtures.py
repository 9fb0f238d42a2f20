"""Shared helpers for the analysis tests (hashing, consistency, divergence, plots, CLI).

Not a conftest: the test modules import what they need from here.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageEnhance

HASHING_DATA = Path(__file__).parent / "data" / "hashing"

#: scikit-image photographs that ship inside the package (no download needed).
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")


def photo(name: str) -> Image.Image:
    """A bundled scikit-image photograph as a PIL image."""
    from skimage import data

    return Image.fromarray(getattr(data, name)())


def jpeg_again(image: Image.Image, quality: int = 85) -> Image.Image:
    """The image after one JPEG save and load at ``quality``."""
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue()))


#: Small changes that should leave a perceptual hash nearly unchanged.
PERTURBATIONS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "brightness +3%": lambda im: ImageEnhance.Brightness(im).enhance(1.03),
    "rotate 1 degree": lambda im: im.rotate(1, resample=Image.Resampling.BICUBIC),
    "jpeg q85": jpeg_again,
    "resize 90%": lambda im: im.resize(
        (int(im.width * 0.9), int(im.height * 0.9)), Image.Resampling.LANCZOS
    ),
}


def _small(name: str, size: int = 96) -> Image.Image:
    return photo(name).convert("RGB").resize((size, size), Image.Resampling.LANCZOS)


def make_run(
    folder: Path,
    *,
    repeats: int = 4,
    simulated: bool = False,
    prompts: tuple[str, ...] = ("a cat on a sofa", "a cup of coffee"),
) -> pd.DataFrame:
    """Write a small run's images to ``folder`` and return its run frame.

    Arm ``steady`` draws the same photo for a prompt every time, with a barely visible
    brightness change per repeat; arm ``wobbly`` draws a different photo each repeat. Both
    return revised prompts (``steady`` keeps the prompt and adds a word, ``wobbly`` rewrites
    freely). One extra failed generation per arm has no image.
    """
    subjects = {prompts[0]: "chelsea", prompts[-1]: "coffee"}
    others = ["astronaut", "rocket", "immunohistochemistry", "hubble_deep_field", "retina"]
    small = {name: _small(name) for name in {*subjects.values(), *others}}
    rows = []
    for arm in ("steady", "wobbly"):
        (folder / arm).mkdir(parents=True, exist_ok=True)
        for k, prompt in enumerate(prompts):
            for r in range(repeats):
                if arm == "steady":
                    image = ImageEnhance.Brightness(small[subjects[prompt]]).enhance(1 + 0.01 * r)
                    revised = f"{prompt} photo"
                else:
                    image = small[others[(r + k) % len(others)]]
                    revised = f"an artful scene number {r} inspired by {prompt.split()[-1]}"
                path = folder / arm / f"p{k}_r{r}.png"
                image.save(path)
                rows.append(
                    {
                        "run_id": "run-1",
                        "arm": arm,
                        "model": "dall-e-3" if arm == "steady" else "gpt-image-1",
                        "provider": "sim",
                        "prompt_id": f"p{k}",
                        "prompt": prompt,
                        "repeat": r,
                        "status": "ok",
                        "image_path": str(path),
                        "revised_prompt": revised,
                        "simulated": simulated,
                    }
                )
            rows.append(
                {
                    "run_id": "run-1",
                    "arm": arm,
                    "model": "x",
                    "provider": "sim",
                    "prompt_id": f"p{k}",
                    "prompt": prompt,
                    "repeat": repeats,
                    "status": "failed",
                    "image_path": None,
                    "revised_prompt": None,
                    "simulated": simulated,
                }
            )
    return pd.DataFrame(rows)


def hash_frame(
    hashes_by_group: dict[tuple[str, str], list[str]], kind: str = "phash"
) -> pd.DataFrame:
    """A run frame made straight from hex hashes: ``{(arm, prompt): [hex, ...]}``."""
    rows = []
    for (arm, prompt), hashes in hashes_by_group.items():
        for r, value in enumerate(hashes):
            rows.append({"arm": arm, "prompt": prompt, "repeat": r, "status": "ok", kind: value})
    return pd.DataFrame(rows)


def hex_with_bits(ones: list[int], bits: int = 64) -> str:
    """A hex hash whose set bits are at the given positions (0 = least significant)."""
    value = sum(1 << i for i in ones)
    return f"{value:0{bits // 4}x}"


def random_hashes(n: int, bits: int = 64, seed: int = 0) -> list[str]:
    """``n`` seeded random hex hashes of ``bits`` bits."""
    rng = np.random.default_rng(seed)
    words = rng.integers(0, 2**63, size=(n, bits // 64), dtype=np.uint64) * 2 + rng.integers(
        0, 2, size=(n, bits // 64), dtype=np.uint64
    )
    return ["".join(f"{int(w):016x}" for w in row) for row in words]


#: A prompt that would run script in a report that forgot to escape it.
HOSTILE_PROMPT = 'a cat <script>alert("x")</script> on a sofa & <b>bold</b>'


def report_frame(folder: Path, *, simulated: bool = True, repeats: int = 4) -> pd.DataFrame:
    """A :func:`make_run` frame shaped like ``Run.to_frame()`` for the report tests.

    Its first prompt is :data:`HOSTILE_PROMPT`. Adds quality, size, cost and error columns:
    the ``steady`` arm (dall-e-3) costs $0.04 an image by estimate; ``wobbly`` (gpt-image-1)
    $0.011 from usage, except one image whose cost is unknown. The failed generations carry an
    error whose message is hostile HTML too, and one wobbly generation was refused.
    """
    frame = make_run(
        folder, repeats=repeats, simulated=simulated, prompts=(HOSTILE_PROMPT, "a cup of coffee")
    )
    steady = frame["arm"] == "steady"
    ok = frame["status"] == "ok"
    frame["model"] = np.where(steady, "dall-e-3", "gpt-image-1")
    frame["quality"] = np.where(steady, "standard", "low")
    frame["size"] = "1024x1024"
    frame["cost_usd"] = np.where(ok, np.where(steady, 0.04, 0.011), np.nan)
    frame["cost_basis"] = np.where(ok, np.where(steady, "estimate", "usage"), None)
    unknown = frame.index[~steady & ok][0]
    frame.loc[unknown, ["cost_usd", "cost_basis"]] = [np.nan, "unknown"]
    frame["error_kind"] = np.where(ok, None, "server_error")
    frame["error_message"] = np.where(ok, None, "500 from <img src=x onerror=alert(2)>")
    refused = frame.index[~steady & ok][-1]
    frame.loc[refused, ["status", "error_kind", "error_message", "image_path"]] = [
        "refused",
        "content_policy",
        "Your request was rejected by the safety system",
        None,
    ]
    frame.loc[refused, ["cost_usd", "cost_basis"]] = [np.nan, None]
    return frame
