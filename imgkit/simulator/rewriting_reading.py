"""How the simulated rewriter reads a prompt: its words, its subject phrase and its clauses.

:func:`_read` splits a prompt the way :mod:`imgkit.simulator.rewriting` describes (the subject
phrase up to the first link word, the rest of the first clause, each later clause and what it
names); the writing of the rewrite is left to that module.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from imgkit.simulator import rewriting_banks as banks
from imgkit.simulator.rewriting_banks import words_of

_ARTICLES = frozenset(("a", "an", "the"))
# Words that carry no content (the divergence measure's kind of stop word).
_SMALL_WORDS = words_of(
    "a an the and or but of in on at to for from by with into onto over under about as is are "
    "be it its this that these those there their his her which who while very just some any "
    "each every all no not than then up down out off"
)
_PREPOSITIONS = words_of(
    "on in at by with under near beside behind above below inside outside among across along "
    "through against atop beneath next amid over"
)
# Requests that open a prompt ("Draw a paper boat"): the rewrite describes, it does not ask.
_REQUESTS = words_of("draw create generate make show paint render imagine depict illustrate")
# A word where the prompt's opening subject phrase ends and what it does or where it is begins.
_LINKS = _PREPOSITIONS | words_of(
    "wearing holding riding sitting standing eating reading playing flying sleeping walking "
    "running looking cooking made drinking carrying"
)
_NUMBERS = words_of("one two three four five six seven eight nine ten dozen several many few")
# Words ending in -ing that are nouns, not the participle that ends a subject phrase.
_ING_NOUNS = words_of(
    "building painting king ring morning evening wedding ceiling clothing string spring wing "
    "thing something nothing lighting backlighting icing awning"
)
# What a prompt may open with before its subject: "a watercolor of", "a photo of".
_OPENERS = re.compile(
    r"^(?:(?:an?|the)\s+)?((?:[\w-]+\s+){0,2}?(?:photo|photograph|painting|watercolou?r|drawing|"
    r"illustration|sketch|render|picture|image|portrait))\s+of\s+",
    re.I,
)


def _words(text: str) -> list[str]:
    """The prompt's words as written, split at spaces, without the punctuation around them
    (what a word holds inside, such as markup, is kept: a rewrite repeats odd text as it is)."""
    return [w for w in (t.strip(".,;:!?\"'()") for t in text.split()) if w]


def _tokens(text: str) -> list[str]:
    """Words as the divergence measure counts them (lower case; a hyphen splits a word)."""
    return re.findall(r"[^\W_]+(?:['’][^\W_]+)*", text.lower())


@functools.lru_cache(maxsize=4096)
def _length(text: str) -> int:
    return len(_tokens(text))


def _content(words: list[str]) -> list[str]:
    """The distinct words of ``words`` that carry content (lower case, in order)."""
    kept = (t for w in words for t in _tokens(w) if t not in _SMALL_WORDS)
    return list(dict.fromkeys(kept))


def _family(words: set[str], families: dict[str, frozenset[str]]) -> str | None:
    """The first family of ``families`` that one of ``words`` belongs to."""
    return next((name for name, members in families.items() if words & members), None)


@dataclass
class _Prompt:
    """A prompt read into its parts (words as written, case kept) and what they name."""

    head: list[str]
    rest: list[str]
    clauses: list[list[str]]
    medium: list[str] = field(default_factory=list)

    def lowered(self) -> set[str]:
        return {t for part in self.parts() for w in part for t in _tokens(w)}

    def parts(self) -> list[list[str]]:
        return [self.head, self.rest, self.medium, *self.clauses]


def _read(prompt: str) -> _Prompt:
    """The prompt's subject phrase, the rest of its first clause, its later clauses, and the
    medium an opener names ("a watercolor of ...")."""
    text = prompt.strip().rstrip(".")
    first, _, later = text.partition(",")
    words = _words(first)
    # A capital at the prompt's very start is the sentence's; any other is the word's own
    # ("Martian", "London") and is kept.
    if words and words[0][:1].isupper() and words[0][1:2].islower():
        words[0] = words[0].lower()
    if words and words[0].lower() in _REQUESTS:
        words = words[1:]
        if words and words[0].lower() in ("me", "us"):
            words = words[1:]
    medium: list[str] = []
    opener = _OPENERS.match(" ".join(words))
    if opener:
        named = _words(opener.group(1))
        words = _words(" ".join(words)[opener.end() :])
        if {w.lower() for w in named} & set().union(*banks.MEDIUM_WORDS.values()):
            medium = named
        elif named[-1].lower() == "portrait":
            later = f"{later},portrait" if later else "portrait"
    while words and words[0].lower() in _ARTICLES:
        words = words[1:]
    cut = next((k for k, w in enumerate(words) if k > 0 and _links(w.lower())), len(words))
    clauses = [c for c in (_words(clause) for clause in later.split(",")) if c]
    return _Prompt(words[:cut], words[cut:], clauses, medium)


def _plural_verb(phrase: str) -> str:
    """``phrase`` with its first word (a verb) agreeing with a plural subject."""
    verb, _, tail = phrase.partition(" ")
    if verb.endswith(("shes", "ches", "xes", "sses")):
        verb = verb[:-2]
    elif verb.endswith("s"):
        verb = verb[:-1]
    return f"{verb} {tail}"


def _links(word: str) -> bool:
    """True when ``word`` ends the subject phrase ("leaning", "on")."""
    return word in _LINKS or (word.endswith("ing") and len(word) > 5 and word not in _ING_NOUNS)


def _clause_kind(clause: list[str]) -> str:
    """What a later clause names: a medium, a light, a composition, a mood, or other."""
    words = {t for w in clause for t in [w.lower(), *_tokens(w)]}
    if words & set().union(*banks.MEDIUM_WORDS.values()):
        return "medium"
    if words & (banks.LIGHTING_NOUNS | set().union(*banks.LIGHT_WORDS.values())):
        return "light"
    if words & banks.COMPOSITION_WORDS:
        return "composition"
    if any(words & weather for weather in banks.WEATHER):
        return "weather"
    if words & banks.PALETTE_WORDS:
        return "palette"
    if words & (banks.MOOD_NOUNS | set().union(*banks.MOOD_WORDS.values())):
        return "mood"
    return "other"


def _protected(reading: _Prompt) -> set[str]:
    """Words never swapped or left out: the subject's noun, medium and setting nouns."""
    media = set().union(*banks.MEDIUM_WORDS.values())
    settings = set().union(*banks.SETTINGS.values())
    kept = {reading.head[-1].lower()} if reading.head else set()
    kept |= {w.lower() for w in reading.rest if w.lower() in settings}
    return kept | {w.lower() for part in reading.parts() for w in part if w.lower() in media}
