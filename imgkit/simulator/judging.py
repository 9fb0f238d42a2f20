"""What the simulator's judge sees in an image: the subject it drew, and the look it was asked for.

Shared by the judge's two routes (:mod:`imgkit.simulator.openai_judge` for the Responses API,
:mod:`imgkit.simulator.gemini_judge` for Gemini). The simulator draws every prompt as one
photograph of its bank, framed and lit per call (:mod:`imgkit.simulator.drawing`), so its judge
answers from what it drew, as a careful person would:

- *Subject*: which of the bank's photographs the image shows, recognised with the learned
  image features imgkit measures consistency with (the nearest photograph by cosine
  similarity), against the photograph the prompt *as written* names
  (:func:`imgkit.simulator.photos.choose`).
- *Look*: the image's warmth, colour and exposure against the recognised photograph's plain
  framing, compared with what the prompt's own words ask ("golden hour" warmer, "night" darker,
  "black and white" without colour, nothing asked: as it is). A rewrite that invented a sunset
  the prompt never asked for follows the prompt less; a repeat's ordinary variation a little.

"Follows the prompt" is the subject found times how near the look is to the one asked for;
"better made" is the calmer image (less edge clutter, the simulator's stand-in for artefacts);
"would use" weighs both. Each word of the prompt is "shown" when it names the subject found
(a word naming another of the bank's photographs is not), or, for a word naming none, when the
subject is right and the look is near. Differences within a small margin are ties; both orders
of a pair get the same answer (no position bias).
"""

from __future__ import annotations

import functools
import io
import math
import re
from typing import Any

import numpy as np
from PIL import Image

from imgkit.simulator import drawing, photos

__all__ = ["PROMPT_PATTERN", "check_answer", "judge_scores", "pairwise_answer"]

#: Where a judge's request quotes the prompt as written (imgkit's rubric puts it so).
PROMPT_PATTERN = re.compile(r'Prompt as written:\n"""\n(.*?)\n"""', re.S)
_TIE_MARGIN = 0.04
_SIDE = 256  # the judge looks at a thumbnail: enough for colour and light
# How far a look may stray before it counts as one unit of "not what was asked": about the
# spread of an unrewritten repeat's own variation (drawing.treatment), so ordinary repeats stay
# near 1 unit and invented light or palette goes beyond.
_WARMTH_UNIT = 0.15
_SATURATION_UNIT = 0.35
_BRIGHTNESS_UNIT = 0.3
_NEAR = 1.5  # a look within this many units shows the words that describe the scene


def _words(prompt: str) -> list[str]:
    kept = [w.strip("'-") for w in re.findall(r"[a-z0-9][a-z0-9'-]*", prompt.lower())]
    return list(dict.fromkeys(w for w in kept if w and w not in photos.STOPWORDS))


def _thumbnail(image: Image.Image) -> np.ndarray:
    small = image.convert("RGB")
    small.thumbnail((_SIDE, _SIDE))
    return np.asarray(small, dtype=float)


def _look(pixels: np.ndarray) -> tuple[float, float, float]:
    """(red over blue, mean chroma, mean level) of an RGB thumbnail."""
    red, blue = pixels[..., 0].mean(), pixels[..., 2].mean()
    chroma = (pixels.max(axis=2) - pixels.min(axis=2)).mean()
    return (red + 1.0) / (blue + 1.0), chroma + 1.0, pixels.mean() + 1.0


@functools.cache
def _bank_features() -> tuple[tuple[str, ...], np.ndarray]:
    from imgkit.features.extract import get_extractor

    names = tuple(p.name for p in photos.bank())
    return names, get_extractor()([photos.load(name) for name in names])


@functools.lru_cache(maxsize=32)
def _plain_look(name: str) -> tuple[float, float, float]:
    plain = drawing.plain_picture(name, _SIDE, _SIDE)
    return _look(np.asarray(plain, dtype=float))


def _recognise(image: Image.Image) -> str:
    from imgkit.features.extract import get_extractor

    names, bank = _bank_features()
    features = get_extractor()([image])[0]
    return names[int(np.argmax(bank @ features))]


def _look_distance(prompt: str, pixels: np.ndarray, name: str) -> float:
    """How far the image's look is from what ``prompt`` asks, in units of a repeat's spread."""
    asked = drawing.asked_look(prompt)
    ratio, chroma, level = _look(pixels)
    plain_ratio, plain_chroma, plain_level = _plain_look(name)
    relative = ratio / plain_ratio  # (1 + w/2) / (1 - w/2) for a warmth shift w
    warmth = 2.0 * (relative - 1.0) / (relative + 1.0)
    saturation = max(0.05, chroma / plain_chroma)
    brightness = max(0.05, level / plain_level)
    return (
        abs(warmth - asked["warmth"]) / _WARMTH_UNIT
        + abs(math.log(saturation / max(0.05, asked["saturation"]))) / _SATURATION_UNIT
        + abs(math.log(brightness / asked["brightness"])) / _BRIGHTNESS_UNIT
    )


def judge_scores(prompt: str, data: bytes) -> dict[str, Any]:
    """What the simulated judge sees in one image: which words of ``prompt`` are shown
    (``shown``: {word: bool}), ``follows`` (0-1) and ``calm`` (1 - edge clutter)."""
    words = _words(prompt)
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except Exception:  # an image the judge cannot open shows nothing
        return {"shown": {w: False for w in words}, "follows": 0.0, "calm": 0.0}
    pixels = _thumbnail(image)
    found = _recognise(image)
    wanted = photos.choose(prompt).name
    distance = _look_distance(prompt, pixels, found)
    right = found == wanted
    follows = float(right) * math.exp(-distance / 3.0)
    found_words = photos.named(found).keywords
    shown = {}
    for word in words:
        singular = word[:-1] if word.endswith("s") else word
        names_a_photo = any(word in p.keywords or singular in p.keywords for p in photos.bank())
        if names_a_photo:
            shown[word] = bool(word in found_words or singular in found_words)
        else:
            shown[word] = bool(right and distance <= _NEAR)
    grey = pixels.mean(axis=2)
    clutter = (np.abs(np.diff(grey, axis=0)) > 12).mean() + (
        np.abs(np.diff(grey, axis=1)) > 12
    ).mean()
    return {"shown": shown, "follows": follows, "calm": float(1.0 - min(1.0, clutter))}


def _pick(first: float, second: float) -> str:
    if abs(first - second) <= _TIE_MARGIN:
        return "tie"
    return "first" if first > second else "second"


def pairwise_answer(prompt: str, images: list[bytes]) -> dict[str, Any]:
    a, b = (judge_scores(prompt, data) for data in images[:2])
    use_a = 0.6 * a["follows"] + 0.4 * a["calm"]
    use_b = 0.6 * b["follows"] + 0.4 * b["calm"]
    return {
        "prompt": _pick(a["follows"], b["follows"]),
        "craft": _pick(a["calm"], b["calm"]),
        "use": _pick(use_a, use_b),
        "reason": (
            f"The first image follows the prompt as written {a['follows']:.0%}, the second "
            f"{b['follows']:.0%} (simulated judge: the subject it drew, and the light asked for)."
        ),
    }


def check_answer(prompt: str, images: list[bytes]) -> dict[str, Any]:
    seen = judge_scores(prompt, images[0])["shown"]
    return {"items": [{"item": w, "kind": "object", "shown": s} for w, s in seen.items()]}
