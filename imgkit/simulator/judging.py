"""What the simulator's judge sees in an image: the words of a prompt it finds drawn.

Shared by the judge's two routes (:mod:`imgkit.simulator.openai_judge` for the Responses API,
:mod:`imgkit.simulator.gemini_judge` for Gemini). The simulator draws photographs
(:mod:`imgkit.simulator.drawing`), and marks each picture with a digest of every content word of
the prompt it drew from (:data:`imgkit.simulator.drawing.DRAWN_KEY`; for a rewriting model, its
rewrite). The judge reads that marker, since it cannot recognise a photograph's subject from its
pixels as a real judge would: a word of the prompt *as written* is shown when the picture was
drawn from it, so a rewrite that dropped or replaced words follows the prompt less. An image
without the marker (not drawn by the simulator) shows nothing. "Better made" is the calmer image
(less edge clutter, the simulator's stand-in for artefacts); "would use" weighs both.
Differences within a small margin are ties. No position bias: both orders get the same answer.
"""

from __future__ import annotations

import contextlib
import io
import re
from typing import Any

import numpy as np

from imgkit.simulator import drawing

__all__ = ["PROMPT_PATTERN", "check_answer", "judge_scores", "pairwise_answer"]

#: Where a judge's request quotes the prompt as written (imgkit's rubric puts it so).
PROMPT_PATTERN = re.compile(r'Prompt as written:\n"""\n(.*?)\n"""', re.S)
_TIE_MARGIN = 0.04


def _drawn(image: Any) -> set[str]:
    """The word digests an image's :data:`~imgkit.simulator.drawing.DRAWN_KEY` marker holds:
    a PNG text chunk, or the JPEG/GIF comment, or the EXIF UserComment (WebP)."""
    found = set(str(image.info.get(drawing.DRAWN_KEY, "")).split())
    marker = drawing.DRAWN_KEY + "="
    comment = image.info.get("comment", b"")
    texts = [comment.decode("utf-8", "replace") if isinstance(comment, bytes) else str(comment)]
    with contextlib.suppress(Exception):  # no readable EXIF: the other places still count
        texts.append(str(image.getexif().get(0x9286, "")))
    for text in texts:
        if marker in text:
            found.update(text.split(marker, 1)[1].split(";")[0].split())
    return found


def judge_scores(prompt: str, data: bytes) -> dict[str, Any]:
    """What the simulated judge sees in one image: which words of ``prompt`` are shown
    (``shown``: {word: bool}), ``follows`` (the share shown) and ``calm`` (1 - edge clutter)."""
    from PIL import Image

    words = drawing.content_words(prompt)
    try:
        image = Image.open(io.BytesIO(data))
        drawn = _drawn(image)
        image = image.convert("RGB")
    except Exception:  # an image the judge cannot open shows nothing
        return {"shown": {w: False for w in words}, "follows": 0.0, "calm": 0.0}
    image.thumbnail((256, 256))
    pixels = np.asarray(image, dtype=float)
    shown = {word: drawing.word_digest(word) in drawn for word in words}
    grey = pixels.mean(axis=2)
    clutter = (np.abs(np.diff(grey, axis=0)) > 12).mean() + (
        np.abs(np.diff(grey, axis=1)) > 12
    ).mean()
    return {
        "shown": shown,
        "follows": sum(shown.values()) / len(shown) if shown else 0.0,
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
