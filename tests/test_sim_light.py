"""Words of the prompt that name a red world colour the simulated picture as a real model would."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from imgkit.simulator import drawing, photos


def _red_over_blue(prompt: str) -> float:
    pixels = np.asarray(
        Image.open(io.BytesIO(drawing.render(prompt, 512, 512, variation=0, jitter=0))).convert(
            "RGB"
        ),
        dtype=float,
    )
    return float(pixels[..., 0].mean() / pixels[..., 2].mean())


def test_an_astronaut_on_mars_stands_on_red_ground_and_one_on_the_moon_on_grey():
    mars = "A lone astronaut on a red Martian cliff"
    moon = "A lone astronaut on the grey lunar surface"
    # The same photograph under both: only the light differs.
    assert photos.choose(mars) == photos.choose(moon)
    assert _red_over_blue(mars) > 1.6 * _red_over_blue(moon)
    assert _red_over_blue(moon) < 1.3
