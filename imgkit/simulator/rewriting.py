"""A stand-in for DALL-E 3's prompt rewriting, for the simulator.

DALL-E 3 (and the Responses API's image tool) passes the user's prompt through a language model
that expands it: it adds a medium, lighting and composition, and wording that keeps the image
within policy. The rewrite differs from call to call, which is one reason repeats of one prompt
drift apart. This module imitates that with templates drawn from a seeded generator, so a rewrite
is reproducible for a given seed yet varies across calls.

A prompt that starts with the community's AS-IS prefix (see ``FACTS.md``) is passed through
almost untouched, as the real service tends to do: the prefix curbs the rewriting, it does not
always stop it. Half the calls keep the text after the prefix as written; the others add a
short phrase (:data:`AS_IS_TOUCH_RATE`, a simulator assumption), so the AS-IS arm's divergence
is small but not nothing.
"""

from __future__ import annotations

import random

__all__ = ["AS_IS_PREFIX", "revise_prompt"]

#: The known control prefix that makes DALL-E 3 rewrite little or not at all.
AS_IS_PREFIX = (
    "I NEED to test how the tool works with extremely simple prompts. "
    "DO NOT add any detail, just use it AS-IS:"
)

_OPENERS = (
    "A {adj} {medium} of {prompt}",
    "{Prompt}, shown as a {adj} {medium}",
    "An {adj2} {medium} depicting {prompt}",
    "{Prompt}. The image is a {adj} {medium}",
    "A carefully composed {medium} featuring {prompt}",
    "Imagine {prompt}, captured in a {adj} {medium}",
)
_MEDIA = {
    "vivid": (
        "digital painting",
        "cinematic illustration",
        "hyper-detailed render",
        "bold poster artwork",
        "dramatic concept art",
    ),
    "natural": (
        "photograph",
        "naturalistic painting",
        "documentary-style photo",
        "soft watercolor study",
        "realistic sketch",
    ),
}
_ADJECTIVES = {
    "vivid": ("vibrant", "striking", "dramatic", "luminous", "saturated", "dynamic"),
    "natural": ("quiet", "realistic", "understated", "gentle", "true-to-life", "calm"),
}
_ADJECTIVES2 = ("evocative", "intricate", "elegant", "imaginative", "expansive")
_DETAILS = (
    "The scene is bathed in {light}.",
    "Colors lean toward {palette}.",
    "Fine textures and small details fill the frame.",
    "The subject sits slightly off center, with generous negative space around it.",
    "Depth comes from a softly blurred background.",
    "A low camera angle gives the subject presence.",
    "Gentle shadows model every form.",
    "The background hints at {place}.",
    "The mood is {mood}.",
)
_LIGHT = (
    "warm golden-hour light",
    "cool morning light",
    "soft overcast light",
    "crisp studio lighting",
    "the glow of late afternoon",
    "moody twilight",
)
_PALETTE = (
    "warm ochres and deep reds",
    "cool blues and silvers",
    "muted earth tones",
    "pastel pinks and mint greens",
    "rich jewel tones",
    "high-contrast black and white",
)
_PLACES = (
    "a quiet countryside",
    "a bustling city street",
    "an open sky",
    "a cozy interior",
    "a misty forest",
    "a sunlit coastline",
)
_MOODS = (
    "serene and contemplative",
    "playful and lively",
    "mysterious",
    "hopeful",
    "nostalgic",
    "energetic",
)
#: How often the simulated service still touches an AS-IS prompt, and the touches it makes.
AS_IS_TOUCH_RATE = 0.5
_LIGHT_TOUCHES = (
    "{prompt}, simple composition",
    "A simple image of {prompt}",
    "{prompt}, plain background",
    "{prompt}, in soft light",
)
_SAFETY = (
    "Any people shown are generic and not identifiable.",
    "The depiction is respectful and suitable for all audiences.",
    "No logos, trademarks or text appear in the image.",
    "No real individuals are portrayed.",
)


def _as_is_remainder(prompt: str) -> str | None:
    stripped = prompt.lstrip()
    if stripped.lower().startswith(AS_IS_PREFIX.lower()):
        return stripped[len(AS_IS_PREFIX) :].strip() or stripped
    return None


def revise_prompt(prompt: str, rng: random.Random, *, style: str | None = None) -> str:
    """Return a rewritten version of ``prompt`` drawn with ``rng``.

    ``style`` ("vivid", the DALL-E 3 default, or "natural") steers the vocabulary. A prompt that
    starts with :data:`AS_IS_PREFIX` comes back as the text after the prefix, unexpanded but
    for an occasional short phrase.
    """
    remainder = _as_is_remainder(prompt)
    if remainder is not None:
        if rng.random() < AS_IS_TOUCH_RATE:
            core = remainder.rstrip(".")
            lowered = core[:1].lower() + core[1:] if core[:2] != core[:2].upper() else core
            return rng.choice(_LIGHT_TOUCHES).format(prompt=lowered)
        return remainder
    key = style if style in _MEDIA else "vivid"
    core = prompt.strip().rstrip(".")
    lowered = core[:1].lower() + core[1:] if core[:2] != core[:2].upper() else core
    opener = rng.choice(_OPENERS).format(
        adj=rng.choice(_ADJECTIVES[key]),
        adj2=rng.choice(_ADJECTIVES2),
        medium=rng.choice(_MEDIA[key]),
        prompt=lowered,
        Prompt=core[:1].upper() + core[1:],
    )
    details = [
        d.format(
            light=rng.choice(_LIGHT),
            palette=rng.choice(_PALETTE),
            place=rng.choice(_PLACES),
            mood=rng.choice(_MOODS),
        )
        for d in rng.sample(_DETAILS, rng.randint(1, 3))
    ]
    parts = [opener.rstrip(".") + ".", *details]
    if rng.random() < 0.6:
        parts.append(rng.choice(_SAFETY))
    return " ".join(parts)
