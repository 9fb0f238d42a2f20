"""The simulator's bank of openly licensed photographs, and which one a prompt is a picture of.

A real image model answers "a raccoon in the leaves" with a picture of a raccoon; a learned image
measure sees that the answers to one prompt share a subject and that the answers to two prompts
do not. So the simulator draws from photographs, not shapes: each prompt is given the bank's
photograph that its first naming word names (a prompt names its subject first), or, when no
word names one, a photograph chosen by a vote of its first words' hashes, so a prompt keeps its
photograph across calls and a rewrite that keeps its opening words keeps it too.

A rewriting model's picture shows the subject of the prompt it was sent (the rewrite keeps it)
and takes its look from the rewrite (see :mod:`imgkit.simulator.drawing`); the control prefix
that asks for no rewriting (``AS_IS_PREFIX``) names no subject and is skipped. Words that only
describe how a picture looks (the rewriter's vocabulary of light, mood, medium
and framing, :data:`imgkit.simulator.rewriting.STYLE_WORDS`) do not choose the subject: an
elaborated prompt is still a picture of the same thing.

The photographs and their licences are listed in ``data/photos.json`` beside this module (none is
one of the photographs the learned measure's calibration or the tests use).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from dataclasses import dataclass
from importlib import resources

from PIL import Image

__all__ = ["Photo", "bank", "choose", "content_words", "load", "named"]


def _words_of(text: str) -> frozenset[str]:
    """The set of the space-separated words of ``text`` (long word lists read better so)."""
    return frozenset(text.split())


_DATA = "data"
_INDEX = "photos.json"
#: How many of a prompt's first content words vote for its photograph when none names one, and
#: how much less each later one counts.
VOTERS = 3
POSITION_DECAY = 0.35

_STOPWORDS = _words_of(
    "a an the of and or in on at to for with by from as is are be it its this that these those "
    "into onto over under near while very some any his her their our your my he she they we you "
    "who which what where when there here has have had was were been being not no nor so than "
    "then up down out off about above below across after before behind beside between beyond "
    "during inside outside through toward towards upon within without one two three"
)


@dataclass(frozen=True)
class Photo:
    """One photograph of the bank: its file, the words that name it, and its licence."""

    name: str
    file: str
    title: str
    author: str
    licence: str
    source: str
    keywords: frozenset[str]
    #: Where the subject is, as fractions of the width and height: crops are placed around it.
    focus: tuple[float, float] = (0.5, 0.5)


@functools.cache
def bank() -> tuple[Photo, ...]:
    """Every photograph of the bank, in the order ``data/photos.json`` lists them."""
    index = json.loads(resources.files(__package__).joinpath(_DATA, _INDEX).read_text("utf-8"))
    return tuple(
        Photo(
            name=entry["file"].rsplit(".", 1)[0],
            file=entry["file"],
            title=entry["title"],
            author=entry["author"],
            licence=entry["licence"],
            source=entry["source"],
            keywords=frozenset(entry["keywords"]),
            focus=tuple(entry.get("focus", (0.5, 0.5))),
        )
        for entry in index["photos"]
    )


def named(name: str) -> Photo:
    """The bank's photograph ``name``."""
    photo = next((p for p in bank() if p.name == name), None)
    if photo is None:
        raise KeyError(f"no photograph named {name!r} in the simulator's bank")
    return photo


# Room for the whole bank (31 photographs, at most 960 px: about 1.8 MB each decoded), so a
# sweep over many subjects does not decode the same JPEG again and again.
@functools.lru_cache(maxsize=48)
def load(name: str) -> Image.Image:
    """The photograph ``name`` decoded (RGB), kept in memory: every image drawn starts from it."""
    photo = named(name)
    with resources.files(__package__).joinpath(_DATA, "photos", photo.file).open("rb") as f:
        image = Image.open(f)
        image.load()
    return image.convert("RGB")


def content_words(prompt: str) -> list[str]:
    """The prompt's words that may name a subject, in order, each once."""
    from imgkit.simulator.rewriting import STYLE_WORDS

    words = re.findall(r"[a-z][a-z'-]*", prompt.lower())
    kept = [w.strip("'-") for w in words]
    content = [w for w in kept if w and w not in _STOPWORDS]
    # Words of the rewriter's vocabulary describe the look, not the subject; a prompt made of
    # nothing else is all subject.
    subject = [w for w in content if w not in STYLE_WORDS] or content
    return list(dict.fromkeys(subject))


def _word_photo(word: str, count: int) -> int:
    digest = hashlib.sha256(b"photo:" + word.encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") % count


def choose(prompt: str) -> Photo:
    """The photograph ``prompt`` is a picture of (see the module docstring).

    The first of the prompt's content words that names a photograph chooses it (a prompt names
    its subject first, and a rewrite keeps it first); when none does, the first few content
    words vote, each for the photograph its hash points at, the earlier ones weighing more.
    """
    from imgkit.simulator.rewriting import as_is_remainder

    photos = bank()
    words = content_words(as_is_remainder(prompt) or prompt)
    for word in words:
        singular = word[:-1] if word.endswith("s") else word
        for photo in photos:
            if word in photo.keywords or singular in photo.keywords:
                return photo
    scores = [0.0] * len(photos)
    for rank, word in enumerate(words[:VOTERS] or ["empty"]):
        scores[_word_photo(word, len(photos))] += 1.0 / (1.0 + POSITION_DECAY * rank)
    return photos[max(range(len(photos)), key=lambda k: (scores[k], -k))]
