"""A stand-in for DALL-E 3's prompt rewriting, for the simulator.

DALL-E 3 (and the Responses API's image tool) passes the user's prompt through a language model
that rewrites it into a long description before drawing. Eleven recorded pairs from public
projects' test traffic (``docs/vendor-behaviour.md``) show what that rewrite is like for a short
prompt: 84-89 words for a 10-word prompt (8.1-8.5 times as long), keeping 50-83% of the
prompt's content words, written as a paraphrase and elaboration rather than a quotation ("A
full-grown male lion, with his golden mane ... is found in an unexpected scenario"), and
inventing different details on every call (the same hat becomes a "red and white checkered
chef's hat" in one call and a "unique and whimsical hat" in the next).

This module writes such rewrites from its own word banks, drawn with a seeded generator, so a
rewrite is reproducible for a given seed yet varies across calls: the prompt's opening phrase
(its subject) is kept, the rest is paraphrased (some words swapped for synonyms, filler
dropped), and sentences of invented detail (the subject's look, the objects it is with, the
setting, light, composition, mood and medium) are added until the rewrite reaches the recorded
length. The vocabulary of those banks is :data:`STYLE_WORDS`: words that describe how a picture
looks, which the drawing code does not take for the picture's subject.

A prompt that starts with the community's AS-IS prefix (see ``FACTS.md``) is passed through
almost untouched, as the real service tends to do: the prefix curbs the rewriting, it does not
always stop it. Half the calls keep the text after the prefix as written; the others add a
short phrase (:data:`AS_IS_TOUCH_RATE`, a simulator assumption), so the AS-IS arm's divergence
is small but not nothing.
"""

from __future__ import annotations

import random
import re

__all__ = ["AS_IS_PREFIX", "STYLE_WORDS", "as_is_remainder", "revise_prompt"]


def _words_of(text: str) -> frozenset[str]:
    """The set of the space-separated words of ``text`` (long word lists read better so)."""
    return frozenset(text.split())


#: The known control prefix that makes DALL-E 3 rewrite little or not at all.
AS_IS_PREFIX = (
    "I NEED to test how the tool works with extremely simple prompts. "
    "DO NOT add any detail, just use it AS-IS:"
)

#: The recorded rewrites' length for a short prompt (words), which the simulated ones aim at.
SHORT_PROMPT_REWRITE_WORDS = (84, 89)
#: The share of the prompt's paraphrasable words that a rewrite swaps for a synonym.
SWAP_RATE = 0.6

# Words a rewrite leaves out, and words it may put in place of the prompt's.
_FILLER = _words_of("sort kind thing things stuff type image picture photo kinda somehow")
_SYNONYMS = {
    "cooking": ("preparing", "making", "stirring up"),
    "wearing": ("sporting", "donning", "dressed in"),
    "holding": ("clutching", "gripping", "carrying"),
    "riding": ("astride", "mounted on"),
    "sitting": ("resting", "perched", "seated"),
    "standing": ("poised", "stationed", "upright"),
    "running": ("racing", "dashing", "sprinting"),
    "walking": ("strolling", "wandering", "ambling"),
    "playing": ("frolicking", "toying"),
    "eating": ("devouring", "nibbling", "feasting on"),
    "reading": ("studying", "poring over"),
    "flying": ("soaring", "gliding"),
    "sleeping": ("dozing", "napping", "slumbering"),
    "looking": ("gazing", "peering"),
    "small": ("tiny", "little", "petite", "modest"),
    "little": ("tiny", "small", "petite"),
    "big": ("huge", "large", "massive", "grand"),
    "large": ("huge", "sizeable", "massive", "grand"),
    "old": ("ancient", "weathered", "aged", "timeworn"),
    "new": ("fresh", "brand-new", "gleaming"),
    "lone": ("solitary", "single", "isolated"),
    "red": ("crimson", "scarlet", "rust-colored"),
    "blue": ("azure", "cobalt", "sapphire"),
    "green": ("emerald", "verdant", "leafy"),
    "yellow": ("golden", "amber", "lemon-colored"),
    "white": ("ivory", "snowy", "pale"),
    "black": ("jet-black", "inky", "ebony"),
    "wooden": ("timber", "oak", "rustic wood"),
    "cute": ("adorable", "charming", "endearing"),
    "beautiful": ("stunning", "lovely", "gorgeous"),
    "happy": ("joyful", "cheerful", "delighted"),
    "quiet": ("peaceful", "hushed", "tranquil"),
    "cinematic": ("film-like", "movie-style"),
    "photography": ("photograph", "camerawork"),
    "backlighting": ("backlight", "rim lighting"),
    "atmosphere": ("ambience", "mood"),
    "solitude": ("isolation", "loneliness"),
    "shot": ("frame", "view"),
    "hat": ("cap", "headpiece"),
    "table": ("tabletop", "counter"),
    "snow": ("snowfall", "snowdrifts"),
    "dusk": ("twilight", "nightfall"),
}
_ARTICLES = frozenset(("a", "an", "the"))
#: The recorded rewrites kept between half and five sixths of the prompt's content words.
KEPT_CONTENT = (0.5, 0.83)
# Words that follow a noun phrase without being the thing described.
_NOT_THINGS = _words_of("today tonight now here together again outside inside alone")
# Words that carry no content (the divergence measure's kind of stop word).
_SMALL_WORDS = _words_of(
    "a an the and or but of in on at to for from by with into onto over under about as is are "
    "be it its this that these those there their his her which who while very just some any "
    "each every all no not than then up down out off"
)
_HEAD_PREFIXES = ("portrait of", "photo of", "picture of", "image of", "painting of", "drawing of")
# Requests that open a prompt ("Draw a paper boat"): the rewrite describes, it does not ask.
_REQUESTS = _words_of("draw create generate make show paint render imagine depict illustrate")
# A word where the prompt's opening subject phrase ends and what it does or where it is begins.
_LINKS = _words_of(
    "on in at by with under near beside behind above below inside outside among across along "
    "through against atop beneath next wearing holding riding sitting standing eating reading "
    "playing flying sleeping walking running looking cooking made drinking carrying"
)
_INTRO = (
    "{Subject}, {feature}, is {seen} {rest}.",
    "Picture {subject} {rest}, {feature}.",
    "In this scene, {subject} appears {rest}, {feature}.",
    "{Subject} is {seen} {rest}, {feature}.",
    "There is {subject} here, {rest}, {feature}.",
)
_SEEN = (
    "shown", "captured", "found", "depicted", "portrayed", "presented", "discovered", "seen",
)  # fmt: skip
_SUBJECT_ADJECTIVES = (
    "full-grown", "striking", "majestic", "charming", "curious", "spirited", "graceful",
    "remarkable", "dignified", "whimsical", "proud", "lively", "serene", "imposing",
)  # fmt: skip
_FEATURES = (
    "its outline crisp against the backdrop",
    "full of character and quiet presence",
    "rendered with great attention to texture",
    "its form catching the light beautifully",
    "poised as though caught mid-moment",
    "with an air of calm dignity",
    "looking entirely at home in the setting",
    "its every surface finely detailed",
    "with a touch of playful charm",
)
_OBJECT_DETAILS = (
    "The {thing} is {color} and {color2}, with a {pattern} pattern that draws the eye.",
    "A {texture} {thing} stands out, {color} with touches of {color2}.",
    "Special attention goes to the {thing}: {texture}, {color} and slightly {wear}.",
    "The {thing} looks {quality}, {color} in tone, as if chosen with care.",
    "Nearby, the {thing} adds interest, its {texture} surface tinted {color}.",
)
_COLORS = (
    "crimson", "ivory", "teal", "mustard", "charcoal", "copper", "sage", "navy", "cream",
    "burgundy", "silver", "terracotta", "plum", "olive",
)  # fmt: skip
_PATTERNS = ("checkered", "striped", "speckled", "woven", "polka-dot", "herringbone", "marbled")
_TEXTURES = ("glossy", "matte", "velvety", "weathered", "polished", "rough-hewn", "delicate")
_WEAR = ("worn at the edges", "faded", "scuffed", "rumpled", "sun-bleached")
_QUALITIES = ("unique and whimsical", "elegant", "oversized", "neatly made", "well loved")
_SETTINGS = (
    "The surroundings suggest {place}, with {extra}.",
    "All of this takes place in {place}, where {extra} fill the background.",
    "Behind the subject stretches {place}, softened by {extra}.",
    "The setting is {place}, dotted with {extra}.",
)
_PLACES = (
    "a brightly lit interior", "a quiet countryside", "a bustling street", "an open plain",
    "a cozy room", "a misty valley", "a sunlit coastline", "a grand hall", "a hidden glade",
)  # fmt: skip
_EXTRAS = (
    "scattered everyday objects", "soft out-of-focus shapes", "gentle patches of shade",
    "muted architectural lines", "drifting motes of dust", "subtle reflections",
)  # fmt: skip
_LIGHTS = (
    "The scene is bathed in {light}, which models every form with soft shadows.",
    "{Light} falls across the frame, picking out fine textures and edges.",
    "Lighting comes from {light}, giving the picture depth and warmth.",
)
_LIGHT = (
    "warm golden-hour light", "cool morning light", "soft overcast light",
    "crisp studio lighting", "the glow of late afternoon", "gentle diffused daylight",
)  # fmt: skip
_COMPOSITIONS = (
    "The composition places the subject slightly off center, leaving generous negative space.",
    "A low camera angle lends the subject presence and a sense of scale.",
    "The framing is balanced, with the subject as the clear focal point.",
    "A shallow depth of field keeps the background softly blurred.",
)
_MOODS = (
    "The overall mood is {mood}.",
    "It feels {mood}, inviting the viewer to linger.",
    "The atmosphere is {mood} throughout.",
)
_MOOD = (
    "serene and contemplative", "playful and lively", "mysterious yet inviting", "hopeful",
    "nostalgic", "energetic and bold", "charming and lighthearted",
)  # fmt: skip
_MEDIA = {
    "vivid": (
        "The image is a vibrant digital painting with saturated colors.",
        "It reads like a dramatic, hyper-detailed cinematic render.",
        "The style is bold and striking, like polished concept art.",
    ),
    "natural": (
        "The image has the realism of a documentary photograph.",
        "Its style is understated and true to life, like a natural photograph.",
        "The rendering is calm and realistic, with natural colors.",
    ),
}
_MODIFIERS = (
    "The picture has the quality of {mods}.",
    "It is conceived with {mods} in mind.",
    "Stylistically, it leans on {mods}.",
)
# Short sentences that bring a rewrite to its length.
_SHORT = (
    "Every detail is crisp.",
    "Colors are rich and balanced.",
    "The effect is quietly striking.",
    "Nothing feels out of place.",
    "Textures are rendered with care.",
    "The edges are clean.",
    "It is vivid.",
)
_SAFETY = (
    "Any people shown are generic and not identifiable.",
    "The depiction is respectful and suitable for all audiences.",
    "No logos, trademarks or text appear in the image.",
)
#: How often the simulated service still touches an AS-IS prompt, and the touches it makes.
AS_IS_TOUCH_RATE = 0.5
_LIGHT_TOUCHES = (
    "{prompt}, simple composition",
    "A simple image of {prompt}",
    "{prompt}, plain background",
    "{prompt}, in soft light",
)


def _bank_words() -> frozenset[str]:
    texts: list[str] = [
        *_INTRO, *_SEEN, *_SUBJECT_ADJECTIVES, *_FEATURES, *_OBJECT_DETAILS, *_COLORS,
        *_PATTERNS, *_TEXTURES, *_WEAR, *_QUALITIES, *_SETTINGS, *_PLACES, *_EXTRAS, *_LIGHTS,
        *_LIGHT, *_COMPOSITIONS, *_MOODS, *_MOOD, *_MODIFIERS, *_SHORT, *_SAFETY, *_LIGHT_TOUCHES,
        *(m for media in _MEDIA.values() for m in media),
        *(s for choices in _SYNONYMS.values() for s in choices),
    ]  # fmt: skip
    words = {w for text in texts for w in re.findall(r"[a-z][a-z'-]*", text.lower())}
    return frozenset(words - {"subject", "thing", "place", "extra", "light", "mood", "mods"})


#: Every word the rewriter's banks can add: words about how a picture looks, not what of.
STYLE_WORDS: frozenset[str] = _bank_words()


def as_is_remainder(prompt: str) -> str | None:
    """The text after the AS-IS prefix, or None when ``prompt`` does not start with it."""
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
    remainder = as_is_remainder(prompt)
    if remainder is not None:
        if rng.random() < AS_IS_TOUCH_RATE:
            core = remainder.rstrip(".")
            lowered = core[:1].lower() + core[1:] if core[:2] != core[:2].upper() else core
            return rng.choice(_LIGHT_TOUCHES).format(prompt=lowered)
        return remainder
    return _elaborate(remainder if remainder is not None else prompt, rng, style)


def _words(text: str) -> list[str]:
    """The prompt's words as written, split at spaces, without the punctuation around them
    (what a word holds inside, such as markup, is kept: a rewrite repeats odd text as it is)."""
    return [w for w in (t.strip(".,;:!?\"'()") for t in text.split()) if w]


def _length(text: str) -> int:
    """Words as the divergence measure counts them (a hyphen splits a word)."""
    return len(re.findall(r"[^\W_]+(?:['’][^\W_]+)*", text))


def _content(words: list[str]) -> list[str]:
    """The distinct words of ``words`` that carry content (lower case, in order)."""
    kept = (w.lower() for w in words if w.lower() not in _SMALL_WORDS and w != ",")
    return list(dict.fromkeys(kept))


def _paraphrase(
    head: list[str], rest: list[str], later: list[str], rng: random.Random
) -> tuple[list[str], list[str], list[str]]:
    """The three parts of a prompt reworded: filler left out, then enough words swapped for a
    synonym or left out that the rewrite keeps a share of the prompt's content words drawn
    from the recorded range (:data:`KEPT_CONTENT`). The subject's last word (its noun) stays."""
    parts = [[w.lower() for w in part if w.lower() not in _FILLER] for part in (head, rest, later)]
    content = _content([*head, *rest, *later])
    keep = rng.uniform(*KEPT_CONTENT)
    changes = max(0, round((1.0 - keep) * len(content))) - (
        len(content) - len(_content([w for part in parts for w in part]))
    )
    # Swap where a synonym is known; then leave out words of the later clauses (the subject
    # phrase is kept whole, as the recorded rewrites keep it, and the rest of the first clause
    # holds the sentence together).
    swaps = [(p, k) for p, part in enumerate(parts) for k, w in enumerate(part) if w in _SYNONYMS]
    swaps = [(p, k) for p, k in swaps if not (p == 0 and k == len(parts[0]) - 1)]
    rng.shuffle(swaps)
    drops = [(2, k) for k in range(len(parts[2]))]
    drops = [(p, k) for p, k in drops if parts[p][k] not in _SMALL_WORDS | {","}]
    rng.shuffle(drops)
    chosen = set()
    for p, k in swaps[: max(changes, 0)]:
        parts[p][k] = rng.choice(_SYNONYMS[parts[p][k]])
        chosen.add((p, k))
    for p, k in [d for d in drops if d not in chosen][: max(changes - len(chosen), 0)]:
        parts[p][k] = ""
    cleaned = []
    for part in parts:
        words = [w for w in part if w]
        words = [w for k, w in enumerate(words) if w != "," or (k and words[k - 1] != ",")]
        # "of", an article or a comma left dangling by a dropped word goes too.
        while words and (words[-1] in _SMALL_WORDS or words[-1] == ","):
            words.pop()
        while words and words[0] == ",":
            words.pop(0)
        cleaned.append(words)
    return cleaned[0], cleaned[1], cleaned[2]


def _split(prompt: str) -> tuple[list[str], list[str], list[str]]:
    """The prompt's subject phrase, the rest of its first clause, and its later clauses' words."""
    text = prompt.strip().rstrip(".")
    for prefix in _HEAD_PREFIXES:
        if text.lower().startswith(prefix):
            text = text[len(prefix) :]
            break
    first, _, later = text.partition(",")
    words = _words(first)
    if words and words[0].lower() in _REQUESTS:
        words = words[1:]
        if words and words[0].lower() in ("me", "us"):
            words = words[1:]
        for prefix in _HEAD_PREFIXES:  # "Draw a picture of ..."
            if " ".join(words[1:3]).lower() == prefix:
                words = words[3:]
    while words and words[0].lower() in _ARTICLES:
        words = words[1:]
    cut = next((k for k, w in enumerate(words) if k > 0 and w.lower() in _LINKS), len(words))
    clauses = [_words(clause) for clause in later.split(",")]
    joined = [w for clause in clauses if clause for w in [*clause, ","]][:-1]
    return words[:cut], words[cut:], joined


def _article(phrase: str) -> str:
    return ("an " if phrase[:1].lower() in "aeiou" else "a ") + phrase


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _target_length(prompt_words: int, rng: random.Random) -> int:
    low, high = SHORT_PROMPT_REWRITE_WORDS
    # Longer prompts get longer rewrites, but not in proportion (a simulator assumption: the
    # recordings hold short prompts only).
    return max(rng.randint(low, high), int(prompt_words * 1.6) + rng.randint(40, 55))


def _elaborate(prompt: str, rng: random.Random, style: str | None) -> str:
    head, rest, later = _paraphrase(*_split(prompt), rng)
    subject_words = head or ["scene"]
    subject = _article(" ".join([rng.choice(_SUBJECT_ADJECTIVES), *subject_words]))
    rest_text = " ".join(rest) or "at the center of the frame"
    intro = rng.choice(_INTRO).format(
        Subject=_capital(subject), subject=subject, seen=rng.choice(_SEEN), rest=rest_text,
        feature=rng.choice(_FEATURES),
    )  # fmt: skip
    nouns = [w for w in rest if w not in _LINKS | _SMALL_WORDS | _NOT_THINGS and len(w) > 2]
    nouns = nouns or subject_words[-1:]
    optional = [
        rng.choice(_OBJECT_DETAILS).format(
            thing=nouns[-1], color=rng.choice(_COLORS), color2=rng.choice(_COLORS),
            pattern=rng.choice(_PATTERNS), texture=rng.choice(_TEXTURES),
            wear=rng.choice(_WEAR), quality=rng.choice(_QUALITIES),
        ),
        rng.choice(_SETTINGS).format(place=rng.choice(_PLACES), extra=rng.choice(_EXTRAS)),
        rng.choice(_LIGHTS).format(light=(light := rng.choice(_LIGHT)), Light=_capital(light)),
        rng.choice(_COMPOSITIONS),
        rng.choice(_MOODS).format(mood=rng.choice(_MOOD)),
        rng.choice(_MEDIA[style if style in _MEDIA else "vivid"]),
        rng.choice(_SAFETY),
    ]  # fmt: skip
    rng.shuffle(optional)
    sentences = [intro]
    if later:
        mods = " ".join(later).replace(" ,", ",")
        sentences.append(rng.choice(_MODIFIERS).format(mods=mods))
    target = _target_length(_length(prompt), rng)
    count = sum(_length(x) for x in sentences)
    short = list(_SHORT)
    rng.shuffle(short)
    for sentence in optional + short:
        size = _length(sentence)
        if count + size <= target:
            sentences.append(sentence)
            count += size
    return " ".join(sentences)
