"""What the simulator's judge sees in an image: the words of a prompt it finds drawn.

Shared by the judge's two routes (:mod:`imgkit.simulator.openai_judge` for the Responses API,
:mod:`imgkit.simulator.gemini_judge` for Gemini). Each content word of a prompt is drawn as
shapes whose colour and place depend on the word alone
(:func:`imgkit.simulator.drawing.composition`), so the judge looks for each word of the prompt
*as written* at its shapes' centres: a word is shown when most of its shapes are there in their
colour. An image in which more of the prompt's shapes can be seen follows the prompt better (a
rewrite that added words drew more shapes over them). "Better made" is the calmer image (less
edge clutter, the simulator's stand-in for artefacts); "would use" weighs both. Differences
within a small margin are ties. No position bias: both orders get the same answer.
"""

from __future__ import annotations

import io
import re
from typing import Any

import numpy as np

from imgkit.simulator import drawing

__all__ = ["PROMPT_PATTERN", "check_answer", "judge_scores", "pairwise_answer"]

#: Where a judge's request quotes the prompt as written (imgkit's rubric puts it so).
PROMPT_PATTERN = re.compile(r'Prompt as written:\n"""\n(.*?)\n"""', re.S)
_TIE_MARGIN = 0.04
_COLOUR_TOLERANCE = 25.0  # a visible shape's centre is within ~12 of its colour


def _words(prompt: str) -> list[str]:
    seen = []
    for word in re.findall(r"[a-z0-9']+", prompt.lower()):
        if word not in seen and drawing.composition(word) != drawing.composition(""):
            seen.append(word)
    return seen


def judge_scores(prompt: str, data: bytes) -> dict[str, Any]:
    """What the simulated judge sees in one image: which words of ``prompt`` are shown
    (``shown``: {word: bool}), ``follows`` (the share shown) and ``calm`` (1 - edge clutter)."""
    from PIL import Image

    try:
        image = Image.open(io.BytesIO(data)).convert("RGB")
    except Exception:  # an image the judge cannot open shows nothing
        return {"shown": {w: False for w in _words(prompt)}, "follows": 0.0, "calm": 0.0}
    image.thumbnail((256, 256))
    pixels = np.asarray(image, dtype=float)
    height, width = pixels.shape[:2]
    shown, visible, total = {}, 0, 0
    for word in _words(prompt):
        found = 0
        shapes = drawing.composition(word).shapes
        for shape in shapes:
            x = min(width - 1, max(0, int(shape.cx * width)))
            y = min(height - 1, max(0, int(shape.cy * height)))
            patch = pixels[max(0, y - 1) : y + 2, max(0, x - 1) : x + 2].reshape(-1, 3)
            distance = np.sqrt(((patch - np.array(shape.color)) ** 2).sum(axis=1)).min()
            found += bool(distance < _COLOUR_TOLERANCE)
        # a word is shown when most of its shapes can be seen (not drawn over)
        shown[word] = 2 * found >= len(shapes)
        visible, total = visible + found, total + len(shapes)
    grey = pixels.mean(axis=2)
    clutter = (np.abs(np.diff(grey, axis=0)) > 12).mean() + (
        np.abs(np.diff(grey, axis=1)) > 12
    ).mean()
    return {
        "shown": shown,
        "follows": visible / total if total else 0.0,
        "calm": float(1.0 - min(1.0, clutter)),
    }


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
            f"The first image shows {a['follows']:.0%} of what the prompt names, the second "
            f"{b['follows']:.0%} (simulated judge)."
        ),
    }


def check_answer(prompt: str, images: list[bytes]) -> dict[str, Any]:
    seen = judge_scores(prompt, images[0])["shown"]
    return {"items": [{"item": w, "kind": "object", "shown": s} for w, s in seen.items()]}
