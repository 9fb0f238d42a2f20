"""A stand-in for DALL-E 3's prompt rewriting, for the simulator.

DALL-E 3 (and the Responses API's image tool) passes the user's prompt through a language model
that rewrites it into a long description before drawing. Eleven recorded pairs from public
projects' test traffic (``docs/vendor-behaviour.md``) show what that rewrite is like for a short
prompt: 84-89 words for a 10-word prompt (8.1-8.5 times as long), keeping 50-83% of the
prompt's content words, written as a paraphrase and elaboration rather than a quotation ("A
full-grown male lion, with his golden mane ... is found in an unexpected scenario. He is in a
brightly lit kitchen"), and inventing different details on every call (the same hat becomes a
"red and white checkered chef's hat" in one call and a "unique and whimsical hat" in the next).
What it invents fits the prompt: the lion that cooks is put in a kitchen, the prompt's setting,
mood and medium are kept and elaborated, never contradicted.

This module writes such rewrites from the word banks of :mod:`.rewriting_banks`, drawn with a
seeded generator, so a rewrite is reproducible for a given seed yet varies across calls. The
prompt is read first: its subject phrase (the words before the first link such as "on" or
"wearing"), the rest of its first clause, and each later clause sorted by what it names (a
medium, a light, a composition, a mood). The subject is described in an opening sentence, each
clause is worked into a sentence of its own ("golden hour backlighting" becomes "Golden hour
backlighting outlines the astronaut in a thin rim of warm light ..."), and sentences of invented
detail are drawn from the banks that fit the subject's kind, the setting's kind and the light,
mood and medium families the prompt names, until the rewrite reaches the recorded length. Some
words are swapped for a synonym of the same part of speech and number, or a modifier left out,
so that the share of content words kept falls in the recorded range; the prompt's medium, its
setting's noun and its subject's noun are kept, and a proper adjective keeps its capital.

The vocabulary of the look banks (light, mood, medium, framing) is :data:`STYLE_WORDS`: words
that describe how a picture looks, which the photograph choice does not take for a subject.

A prompt that starts with the community's AS-IS prefix (see ``FACTS.md``) is passed through
almost untouched, as the real service tends to do: the prefix curbs the rewriting, it does not
always stop it. Half the calls keep the text after the prefix as written; the others add a
short phrase (:data:`AS_IS_TOUCH_RATE`, a simulator assumption), so the AS-IS arm's divergence
is small but not nothing.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from imgkit.simulator import rewriting_banks as banks
from imgkit.simulator.rewriting_banks import words_of
from imgkit.simulator.rewriting_reading import (
    _ARTICLES,
    _NUMBERS,
    _PREPOSITIONS,
    _SMALL_WORDS,
    _clause_kind,
    _content,
    _family,
    _length,
    _links,
    _plural_verb,
    _Prompt,
    _protected,
    _read,
    _tokens,
)

__all__ = ["AS_IS_PREFIX", "STYLE_WORDS", "as_is_remainder", "revise_prompt"]

#: The known control prefix that makes DALL-E 3 rewrite little or not at all.
AS_IS_PREFIX = (
    "I NEED to test how the tool works with extremely simple prompts. "
    "DO NOT add any detail, just use it AS-IS:"
)

#: The recorded rewrites' length for a short prompt (words), which the simulated ones aim at.
SHORT_PROMPT_REWRITE_WORDS = (84, 89)
#: The recorded rewrites kept between half and five sixths of the prompt's content words.
KEPT_CONTENT = (0.5, 5 / 6)

# Words a rewrite leaves out.
_FILLER = words_of("sort kind thing things stuff type kinda somehow")
# Modifiers of a later clause that may be left out without breaking it ("wide shot").
_DROPPABLE = words_of(
    "establishing cinematic highly ultra very dramatic stunning beautiful intricate detailed "
    "soft gentle subtle"
)
# (How the prompt is read, words, subject phrase and clauses: imgkit.simulator.rewriting_reading.)
_ANIMATE = ("astronaut", "mammal", "bird", "water", "person")
_VERBS = {
    "animate": ("stands", "is seen", "waits"),
    "food": ("sits", "rests", "is set"),
    "object": ("sits", "rests", "is set"),
    "building": ("stands", "rises"),
    "plant": ("grows", "stands"),
    "street": ("stretches", "runs"),
    "landscape": ("stretches", "lies"),
}
_INTROS = (
    "{Subject}, {feature}, {verb} {where}.",
    "{Subject} {verb} {where}, {feature}.",
    "In this scene, {subject} {verb} {where}, {feature}.",
    "Imagine a scene where {subject} {verb} {where}, {feature}.",
    "The picture shows {subject} {bare}, {feature}.",
)
#: How often the simulated service still touches an AS-IS prompt, and the touches it makes.
AS_IS_TOUCH_RATE = 0.5
_LIGHT_TOUCHES = (
    "{prompt}, simple composition",
    "A simple image of {prompt}",
    "{prompt}, plain background",
    "{prompt}, in soft light",
)
# The order of a rewrite's sentences: the subject, then its surroundings, then the look.
_ORDER = (
    "intro", "other", "detail", "setting", "weather", "palette", "light", "composition",
    "mood", "medium", "safety",
)  # fmt: skip


#: Words about how a picture looks, not what of (see :data:`.rewriting_banks.LOOK_WORDS`).
STYLE_WORDS: frozenset[str] = banks.LOOK_WORDS


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
    return _elaborate(prompt, rng, style)


# -- reading the prompt ------------------------------------------------------------------------


def _drop_clauses(parts: list[list[str]], changes: int, rng: random.Random, *, exact: bool) -> int:
    """Leave out later clauses (never the medium) while ``changes`` content words remain to be
    changed; ``exact`` drops only a clause that does not overshoot. Returns what remains."""
    later = list(range(3, len(parts)))
    rng.shuffle(later)
    for p in later:
        if changes <= 0:
            break
        clause_content = _content([w for w in parts[p] if w])
        fits = len(clause_content) <= changes + (0 if exact else 1)
        if parts[p] and _clause_kind(parts[p]) != "medium" and fits:
            parts[p] = []
            changes -= len(clause_content)
    return changes


def _paraphrase(reading: _Prompt, rng: random.Random) -> tuple[_Prompt, set[str]]:
    """The prompt reworded: filler left out, then enough words swapped for a synonym or left
    out (a droppable modifier, else a whole later clause) that the rewrite keeps a share of the
    prompt's content words drawn from the recorded range (:data:`KEPT_CONTENT`). Returns the
    reworded prompt and the content words it no longer holds (the rewrite must not repeat
    them elsewhere)."""
    content = _content([w for part in reading.parts() for w in part])
    n = len(content)
    low = math.ceil(n * (1.0 - KEPT_CONTENT[1]) - 1e-9)
    high = math.floor(n * (1.0 - KEPT_CONTENT[0]) + 1e-9)
    wanted = round((1.0 - rng.uniform(*KEPT_CONTENT)) * n)
    wanted = min(max(wanted, low), high) if low <= high else high
    parts = [[w for w in part if w.lower() not in _FILLER] for part in reading.parts()]
    changes = wanted - (n - len(_content([w for part in parts for w in part])))
    protected = _protected(reading)
    # Half the rewrites leave out a whole later clause first (a light or a framing the prompt
    # asked for, which the rewrite then invents anew), as the recorded ones drop part of their
    # prompt; the others swap and trim words.
    if rng.random() < 0.5:
        changes = _drop_clauses(parts, changes, rng, exact=True)
    swaps = [
        (p, k)
        for p, part in enumerate(parts)
        for k, w in enumerate(part)
        if w.lower() in banks.SYNONYMS and w.lower() not in protected
    ]
    rng.shuffle(swaps)
    for p, k in swaps[: max(changes, 0)]:
        parts[p][k] = rng.choice(banks.SYNONYMS[parts[p][k].lower()])
    changes -= min(len(swaps), max(changes, 0))
    drops = [
        (p, k)
        for p in range(3, len(parts))
        for k, w in enumerate(parts[p][:-1])
        if w.lower() in _DROPPABLE and w.lower() not in protected
    ]
    rng.shuffle(drops)
    for p, k in drops[: max(changes, 0)]:
        parts[p][k] = ""
    changes -= min(len(drops), max(changes, 0))
    # Then an adjective before a noun of the first clause's rest ("misty forest"); the subject
    # phrase is kept whole, as the recorded rewrites keep it, and so are names ("Victorian")
    # and numbers ("two cats").
    modifiers = [
        (p, k)
        for p in (1,)
        for k, w in enumerate(parts[p][:-1])
        if w and w.lower() not in protected | _SMALL_WORDS | _NUMBERS and w[:1].islower()
        and not _links(w.lower()) and parts[p][k + 1].lower() not in _SMALL_WORDS
        and parts[p][k + 1] and not _links(parts[p][k + 1].lower())
        and w.lower() in set(content) and w.lower() not in banks.SYNONYMS
    ]  # fmt: skip
    rng.shuffle(modifiers)
    for p, k in modifiers[: max(changes, 0)]:
        parts[p][k] = ""
    changes -= min(len(modifiers), max(changes, 0))
    parts = [[w for w in part if w] for part in parts]
    changes = _drop_clauses(parts, changes, rng, exact=False)
    # A dangling "of" or article left at a clause's end goes too.
    for part in parts:
        while part and part[-1].lower() in _SMALL_WORDS:
            part.pop()
    reworded = _Prompt(parts[0], parts[1], [c for c in parts[3:] if c], parts[2])
    gone = set(content) - set(_content([w for part in parts for w in part]))
    return reworded, gone


# -- writing the rewrite -------------------------------------------------------------------------


def _article(phrase: str) -> str:
    return ("an " if phrase[:1].lower() in "aeiou" else "a ") + phrase


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _target_length(prompt_words: int, rng: random.Random) -> int:
    low, high = SHORT_PROMPT_REWRITE_WORDS
    # Longer prompts get longer rewrites, but not in proportion (a simulator assumption: the
    # recordings hold short prompts only).
    return max(rng.randint(low, high), int(prompt_words * 1.6) + rng.randint(40, 55))


@dataclass
class _Scene:
    """What the rewrite is about, for filling the banks' placeholders."""

    noun: str
    kind: str
    plural: bool
    gone: set[str]
    asleep: bool = False

    def fill(self, text: str, **more: str) -> str:
        # A person is "they" (whoever the prompt names), as are two cats.
        plural = self.plural or self.kind == "person"
        its, it = ("their", "them") if plural else ("its", "it")
        return text.format(noun=self.noun, its=its, Its=_capital(its), it=it, **more)

    def fits(self, text: str) -> bool:
        """True when ``text`` repeats no word the paraphrase swapped or left out."""
        return not set(_tokens(text)) & self.gone

    def pick(self, rng: random.Random, choices: tuple[str, ...] | list[str], **more: str) -> str:
        """One of ``choices``, filled, preferring those that repeat no removed word."""
        filled = [self.fill(c, **more) for c in choices]
        fitting = [c for c in filled if self.fits(c)] or filled
        return rng.choice(fitting)


def _kind(head: list[str]) -> str:
    for word in reversed([w.lower() for w in head]):
        for kind, nouns in banks.KINDS.items():
            if word in nouns:
                return kind
    return "object"


def _noun(head: list[str]) -> str:
    """The word later sentences call the subject by: the head's last word."""
    return head[-1] if head else "scene"


def _clause_sentences(kind: str, clause: list[str], scene: _Scene) -> list[str]:
    """Ways to work one later clause of the prompt into a sentence of its own: with each of
    the bank's elaborations that fits, and bare (the length fitting chooses among them)."""
    text = " ".join(clause)
    lowered = text.lower().split()  # a synonym may be two words ("rim lighting")
    words = set(lowered) | set(_tokens(text))
    if kind == "medium":
        family = "watercolor" if words & words_of("watercolor watercolour") else (
            _family(words, banks.MEDIUM_WORDS) or "photo"
        )  # fmt: skip
        effects = banks.MEDIUM_EFFECTS[family]
        what = text if lowered[-1] in banks.MASS_MEDIA else _article(text)
        if family in ("watercolor", "painting") and lowered[-1] in banks.MASS_MEDIA:
            frames = ("It is painted in {what}{effect}.",)
        else:
            frames = ("The image has the look of {what}{effect}.",
                      "It is made in the manner of {what}{effect}.")  # fmt: skip
    elif kind == "light":
        effects = banks.LIGHT_EFFECTS[_family(words, banks.LIGHT_WORDS) or "none"]
        what = text
        if lowered[-1] in banks.LIGHTING_NOUNS - {"backlit", "lit", "hour"}:
            frames = ("{What} {effect}.",)
        elif lowered[-1].endswith("lit"):
            frames = ("The scene is {what}, and the light {effect}.",)
        elif lowered[-1] == "hour":
            frames = ("The scene is set in the {what}, and the light {effect}.",)
        elif lowered[0] in _PREPOSITIONS:
            frames = ("The scene is set {what}, and the light {effect}.",)
        else:
            frames = ("The scene is lit with {what}, which {effect}.",)
        plural = lowered[-1].endswith("s") and not lowered[-1].endswith("ss")
        if plural and frames[0].startswith(("{What}", "The scene is lit")):  # "lights leave"
            effects = tuple(_plural_verb(e) for e in effects)
        return [scene.fill(f, what=what, What=_capital(what), effect=scene.fill(e))
                for f in frames for e in effects]  # fmt: skip
    elif kind == "composition":
        wide = words & words_of("wide establishing panoramic panorama aerial overhead distant")
        close = words & words_of("close-up closeup macro portrait close")
        effects = banks.COMPOSITION_EFFECTS["wide" if wide else "close" if close else "other"]
        if lowered[-1] in words_of("shot view angle close-up closeup portrait panorama frame"):
            what, frames = _article(text), ("It is framed as {what}{effect}.",)
        else:
            what, frames = text, ("The picture is composed with {what}{effect}.",)
    elif kind == "mood":
        effects = banks.MOOD_EFFECTS[_family(words, banks.MOOD_WORDS) or "none"]
        if words & banks.MOOD_NOUNS:
            what, frames = _article(text), ("The scene carries {what}{effect}.",)
        elif set(lowered) <= set().union(*banks.MOOD_WORDS.values()):
            what, frames = text, ("The mood is {what}{effect}.",)
        else:
            what, frames = text, ("The scene carries a sense of {what}{effect}.",)
    elif kind == "weather":
        texts = [t for w, ts in banks.WEATHER.items() if words & w for t in ts]
        counted = lowered[-1] in words_of("downpour storm thunderstorm blizzard")
        return [t.format(What=_capital(_article(text) if counted else text)) for t in texts]
    elif kind == "palette":
        return [f"The palette is one of {text}{e}." for e in banks.PALETTE_EFFECTS]
    elif lowered[0] in _PREPOSITIONS or lowered[0].endswith("ing"):
        return [f"The {scene.noun} is shown {text}, just as described."]
    elif lowered[0] in _ARTICLES or lowered[0].isdigit():
        return [f"The scene also includes {text}, placed with care."]
    else:
        return [f"Everything is {text}, down to the smallest texture."]
    # A medium, a light and a framing are always elaborated (a rewrite says what each looks
    # like, and so its picture varies with what it invents); no sentence
    # is left as bare as "It is painted in watercolor." (fewer than six words).
    # An elaboration that repeats a word of the clause reads as an echo ("an air of hushed
    # stillness, with nothing to disturb the stillness"): it is left out.
    fresh = [e for e in effects if not set(_tokens(e)) & {w for w in words if len(w) > 3}]
    fresh = fresh or list(effects)
    endings = [*([""] if kind == "mood" else []), *(", " + scene.fill(e) for e in fresh)]
    sentences = [f.format(what=what, effect=e) for f in frames for e in endings]
    return [t for t in sentences if len(t.split()) >= 6] or sentences


def _where(reading: _Prompt, scene: _Scene, setting: str | None, rng: random.Random) -> str:
    """Where the subject is, for the opening sentence: the prompt's own words, with a place
    invented when the prompt names none (before a time: "on a headland ... at twilight")."""
    rest = " ".join(reading.rest)
    lowered = {w.lower() for w in reading.rest}
    times = set().union(*banks.LIGHT_WORDS.values()) | words_of("at in night hour the a")
    if scene.kind in ("street", "landscape") and lowered <= times:
        return f"into the distance {rest}".strip()
    if setting is not None or scene.kind in ("street", "landscape"):
        return rest
    places = banks.NOUN_PLACES.get(scene.noun.lower()) or banks.INVENTED_PLACES[scene.kind]
    place = scene.pick(rng, places)
    if not rest:
        return place
    if lowered <= times:
        return f"{place} {rest}"
    return rest


# How many different ways to reach one length the fitting keeps, to choose among at random
# (keeping only the first would favour the longest variants and the fewest invented sentences).
_WAYS = 6


def _fit(required, groups, target: int, rng: random.Random) -> list[tuple[str, str]]:
    """The sentences to use: one of each required group and at most one of each optional
    group, so that the total length is as near ``target`` (better under than over) as the
    banks allow. A group is (section, its variants)."""
    Ways = dict[int, list[list[tuple[str, str]]]]

    def keep(table: Ways, size: int, way: list[tuple[str, str]]) -> None:
        ways = table.setdefault(size, [])
        if len(ways) < _WAYS:
            ways.append(way)
        elif rng.random() < 0.5:
            ways[rng.randrange(_WAYS)] = way

    table: Ways = {0: [[]]}
    for section, variants in required:
        grown: Ways = {}
        for total, ways in table.items():
            for sentence in variants:
                for way in ways:
                    keep(grown, total + _length(sentence), [*way, (section, sentence)])
        table = grown
    rng.shuffle(groups)
    for section, variants in groups:
        for total, ways in [(t, list(w)) for t, w in table.items()]:
            for sentence in variants:
                size = total + _length(sentence)
                if size <= target:
                    for way in ways:
                        keep(table, size, [*way, (section, sentence)])
    best = min(table, key=lambda t: (abs(t - target) + (5 if t > target else 0), -t))
    return rng.choice(table[best])


def _intros(head: list[str], where: str, scene: _Scene, rng: random.Random) -> list[str]:
    """Ways to open the rewrite: the subject described ("A full-grown lion, with a thick golden
    mane ..."), where it is, and one feature that fits its kind."""
    adjectives = list(banks.SUBJECT_ADJECTIVES[scene.kind])
    rng.shuffle(adjectives)

    def subject(feature: str) -> str:
        text = " ".join(head)
        if len(head) == 1 and not scene.plural:  # a bare noun gets an adjective, as recorded
            fresh = [a for a in adjectives if not set(_tokens(a)) & set(_tokens(feature))]
            text = f"{(fresh or adjectives)[0]} {text}"
        return text if scene.plural else _article(text)

    if where.startswith("into the distance"):
        verb = rng.choice(_VERBS[scene.kind])
    elif where.split(" ", 1)[0].lower() in ("over", "above") and scene.kind == "object":
        verb = rng.choice(("hangs", "floats", "is seen"))
    elif where.split(" ", 1)[0].lower() in _PREPOSITIONS:
        verb = rng.choice(_VERBS["animate" if scene.kind in _ANIMATE else scene.kind])
        if scene.plural:
            verb = {"is seen": "are seen", "is set": "are set"}.get(verb, verb.removesuffix("s"))
    else:
        verb = "are" if scene.plural else "is"
    features = banks.NOUN_FEATURES.get(scene.noun.lower()) or banks.FEATURES[scene.kind]
    if scene.asleep:
        features = banks.ASLEEP_FEATURES
    fitting = [f for f in features if scene.fits(f)] or list(features)
    bare = where.replace("into the distance", "stretching into the distance")
    return [
        frame.format(
            Subject=_capital(subject(feature)), subject=subject(feature),
            feature=scene.fill(feature), verb=verb, where=where, bare=bare,
        )
        for frame in _INTROS
        for feature in fitting
    ]  # fmt: skip


def _elaborate(prompt: str, rng: random.Random, style: str | None) -> str:
    reading = _read(prompt)
    named = reading.lowered()
    reworded, gone = _paraphrase(reading, rng)
    head = reworded.head or ["scene"]
    noun = _noun(head)
    grammatical = head[head.index("of") - 1] if "of" in head[1:] else noun
    plural = grammatical.lower().endswith("s") and not grammatical.lower().endswith("ss")
    rest = [w.lower() for w in reading.rest]
    animal = _kind(head) in ("mammal", "bird", "water")
    asleep = animal and bool({w.lower() for w in reworded.rest} & banks.ASLEEP_WORDS)
    scene = _Scene(noun, _kind(head), plural, gone, asleep)
    setting_noun = next((w for w in reversed(rest) if _family({w}, banks.SETTINGS)), None)
    setting = _family({setting_noun}, banks.SETTINGS) if setting_noun else None
    actions = [w for w in rest if w in banks.HUMAN_ACTIONS]
    whimsical = scene.kind in ("mammal", "bird", "water") and bool(actions)
    mood = _family(named, banks.MOOD_WORDS) or ("cheerful" if whimsical else None)
    where = _where(reworded, scene, setting, rng)
    required = [("intro", _intros(head, where, scene, rng))]
    kinds = {}
    for clause in ([reworded.medium] if reworded.medium else []) + reworded.clauses:
        what = "medium" if clause is reworded.medium else _clause_kind(clause)
        kinds[what] = clause
        required.append((what, _clause_sentences(what, clause, scene)))
    action = next((a for a in actions if a in banks.ACTION_SETTINGS), None)
    if setting is None and action:  # the recorded lion that cooks is put in a kitchen
        required.append(("setting", [scene.fill(t) for t in banks.ACTION_SETTINGS[action]]))
    if "medium" in kinds:
        photo = {w.lower() for w in kinds["medium"]} & banks.MEDIUM_WORDS["photo"]
        medium_family = "photo" if photo else "art"
    else:
        media = banks.MEDIA[style if style in banks.MEDIA else "vivid"]
        medium_family, sentence = rng.choice([m for m in media if scene.fits(m[1])] or media)
        required.append(("medium", [sentence]))
    groups: list[tuple[str, list[str]]] = []

    def group(section: str, texts, **more: str) -> None:
        filled = [scene.fill(t, **more) for t in texts]
        fitting = [t for t in filled if scene.fits(t)]
        if fitting:
            groups.append((section, fitting))

    details = list(banks.NOUN_DETAILS.get(noun.lower(), ())) + list(banks.DETAILS[scene.kind])
    if asleep:
        details = list(banks.ASLEEP_DETAILS)
    if whimsical:  # what it is seen doing, rather than the look of a wild animal
        details = [d for a in actions for d in banks.ACTION_DETAILS.get(a, ())] or details
    if where.split(" ", 1)[0].lower() in ("over", "above"):  # nothing rests on what flies
        details = [d for d in details if "beneath" not in d and "rests on" not in d]
    rng.shuffle(details)
    group("detail", details[: len(details) // 2 + 1])
    group("detail", details[len(details) // 2 + 1 :])
    group(rng.choice(("setting", "composition")), banks.GENERAL)
    if whimsical:
        group("other", banks.WHIMSY)
    if setting is not None:
        settings = list(banks.SETTING_DETAILS[setting])
        if named & banks.SPACE_WORDS:
            settings += banks.SETTING_DETAILS["space"]
        group("setting", settings, place=setting_noun)
    if "light" not in kinds:
        group("light", banks.LIGHTS[_family(named, banks.LIGHT_WORDS) or "none"])
    if "composition" not in kinds:
        group("composition", banks.COMPOSITIONS[medium_family])
    if "mood" not in kinds:
        group("mood", banks.MOODS[mood or "none"])
    if scene.kind == "person":
        group("safety", banks.SAFETY)
    elif rng.random() < 0.3:
        group("safety", banks.SAFETY[-1:])
    # A required sentence, too, repeats no word the paraphrase swapped, where it can help it.
    required = [(section, [t for t in ts if scene.fits(t)] or ts) for section, ts in required]
    chosen = _fit(required, groups, _target_length(_length(prompt), rng), rng)
    order = list(_ORDER)
    if rng.random() < 0.5:  # the light and the framing come in either order
        order[4], order[5] = order[5], order[4]
    chosen.sort(key=lambda item: order.index(item[0]))
    return " ".join(_capital(sentence) for _section, sentence in chosen)
