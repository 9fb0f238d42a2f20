"""The simulator's DALL-E 3 rewrites read like the recorded ones (issue 24, "Rewrites").

A recorded rewrite ("A full-grown male lion, with his golden mane, intense eyes, and stately
pose, is found in an unexpected scenario. He is in a brightly lit kitchen...") describes the
subject concretely and keeps the prompt's setting, mood and medium, elaborating them: the
details it invents fit the prompt. Each test states one thing a reader noticed in a simulated
rewrite of the lesson prompt ("The setting is a sunlit coastline", "The atmosphere is hopeful",
"a dramatic, hyper-detailed cinematic render" of a photograph, "cinematic photograph, golden
hour backlight", "It is vivid.", "martian") as a rule, checked over many calls.
"""

from __future__ import annotations

import random
import re

import pytest

from imgkit.analysis.divergence import prompt_divergence
from imgkit.simulator.rewriting import revise_prompt

LESSON = (
    "A lone astronaut on a red Martian cliff, cinematic photography, golden hour backlighting, "
    "wide establishing shot, atmosphere of quiet solitude"
)
FOX = "a red fox sitting in the snow"
LION = "A lion cooking pasta wearing a hat of some sort"
LIGHTHOUSE = "a lighthouse at dusk"
RAMEN = "a bowl of ramen"
STREET = "a watercolor of a city street"
PROMPTS = (LESSON, FOX, LION, LIGHTHOUSE, RAMEN, STREET)
CALLS = 40


def _rewrites(prompt: str, style: str | None = None) -> list[str]:
    return [revise_prompt(prompt, random.Random(seed), style=style) for seed in range(CALLS)]


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s]


# Places a rewrite might invent, none of which is the lesson's cliff, the fox's snow or the
# watercolour's city street.
_ELSEWHERE = {
    LESSON: "coastline coast beach sea ocean kitchen room hall glade interior countryside "
    "meadow forest garden street city lake valley studio",
    FOX: "coastline coast beach kitchen room hall glade interior street city desert studio sunlit",
    STREET: "coastline coast beach kitchen room hall glade interior countryside meadow forest "
    "desert valley studio",
}


@pytest.mark.parametrize("prompt", list(_ELSEWHERE))
def test_a_setting_the_prompt_names_is_kept_not_replaced(prompt):
    named = {LESSON: "cliff", FOX: "snow", STREET: "street"}[prompt]
    for text in _rewrites(prompt):
        words = _words(text)
        assert not words & set(_ELSEWHERE[prompt].split()), text
        assert named in words, text


def _set(text: str) -> set[str]:
    return set(text.split())


_LIVELY = _set(
    "hopeful lively playful energetic bold cheerful lighthearted joyful festive whimsical "
    "bustling spirited exuberant"
)
_GLOOMY = _set(
    "solitude melancholy somber sombre eerie gloomy lonely mournful ominous isolation "
    "loneliness desolate"
)


def test_the_prompts_mood_is_not_contradicted_by_an_invented_one():
    for text in _rewrites(LESSON):
        assert not _words(text) & _LIVELY, text
    for text in _rewrites("a happy dog playing in a park, cheerful atmosphere"):
        assert not _words(text) & _GLOOMY, text


_NOT_A_PHOTOGRAPH = (
    "render", "rendered", "rendering", "painting", "painted", "illustration", "concept art",
    "digital art", "brushstroke", "watercolor", "cgi", "3d",
)  # fmt: skip
_NOT_A_PAINTING = (
    "photograph", "photography", "photographic", "photo", "camera", "lens", "render",
    "documentary", "bokeh", "depth of field", "cgi",
)  # fmt: skip


def test_no_invented_style_contradicts_the_prompts_medium():
    """A photograph is not called a render or a painting, nor a watercolour a photograph."""
    for text in _rewrites(LESSON) + _rewrites(LESSON, "natural"):
        lowered = text.lower()
        assert not [w for w in _NOT_A_PHOTOGRAPH if re.search(rf"\b{w}", lowered)], text
        assert "photography" in lowered, text  # the medium itself is kept
    for text in _rewrites(STREET) + _rewrites(STREET, "natural"):
        lowered = text.lower()
        assert not [w for w in _NOT_A_PAINTING if re.search(rf"\b{w}", lowered)], text
        assert "watercolor" in lowered, text


def test_proper_nouns_and_adjectives_keep_their_capital():
    for text in _rewrites(LESSON) + _rewrites("an old Victorian house in London at night"):
        for word in ("martian", "victorian", "london"):
            found = re.findall(rf"\b{word}\b", text, flags=re.I)
            assert all(w[0].isupper() for w in found), (word, text)


def test_a_replaced_word_keeps_its_part_of_speech_and_number():
    """ "cinematic photography" is not "cinematic photograph" (another noun), nor is "golden hour
    backlighting" listed as "golden hour backlight" after "the quality of"; the prompt's
    clauses are each worked into a sentence, not strung into a comma list."""
    for text in _rewrites(LESSON):
        lowered = text.lower()
        assert "photograph," not in lowered and "backlight," not in lowered, text
        for sentence in _sentences(lowered):
            clauses = [
                any(w in _words(sentence) for w in clue)
                for clue in (("photography",), ("hour", "backlighting"), ("shot",))
            ]
            assert sum(clauses) <= 1 or "," not in sentence, sentence


def test_no_filler_sentences():
    """Every sentence says something about the picture: none as bare as "It is vivid." (the
    recorded rewrites' shortest sentence has eight words)."""
    for prompt in PROMPTS:
        for text in _rewrites(prompt):
            short = [s for s in _sentences(text) if len(s.split()) < 6]
            assert not short, (short, text)


_OTHER_COLORS = _set(
    "cream ivory teal navy sage olive plum blue green purple azure cobalt emerald silver mustard"
)


def test_a_thing_the_prompt_colours_keeps_its_colour():
    for prompt, thing in ((LESSON, "cliff"), (FOX, "fox")):
        for text in _rewrites(prompt):
            for sentence in _sentences(text):
                if thing in _words(sentence):
                    assert not _words(sentence) & _OTHER_COLORS, sentence


_FITTING = {
    LESSON: "visor helmet suit spacesuit boots dust horizon",
    FOX: "fur tail ears breath paws coat snowflakes drifts muzzle",
    LION: "kitchen stove counter pot spoon saucepan mane",
    LIGHTHOUSE: "lamp beam lantern sea waves rocks shore gallery",
    RAMEN: "broth noodles steam egg chopsticks scallions",
    STREET: "wash washes paper pigment brush facades windows",
}


@pytest.mark.parametrize("prompt", PROMPTS)
def test_invented_details_fit_the_subject(prompt):
    """A rewrite invents what belongs with its subject: the astronaut's visor and the dust, the
    lion's kitchen (as the recorded rewrite does), the ramen's broth."""
    for text in _rewrites(prompt):
        assert _words(text) & set(_FITTING[prompt].split()), text


@pytest.mark.parametrize("prompt", PROMPTS)
def test_the_rewrites_still_have_the_recorded_length_and_vary(prompt):
    texts = _rewrites(prompt)
    assert len(set(texts)) == CALLS
    for text in texts:
        figures = prompt_divergence(prompt, text)
        assert 84 <= figures["revised_words"] <= 89, text
        assert 0.5 <= figures["content_retention"] <= 5 / 6 or len(prompt.split()) < 5, text


@pytest.mark.parametrize(
    ("prompt", "kept"),
    [
        ("two cats sleeping on a sofa", "two cats"),
        ("an old Victorian house in London at night", "Victorian house"),
        ("a cyberpunk city at night, neon lights, rain, 3d render", "cyberpunk city"),
        ("Draw a paper boat on a pond", "paper boat"),
    ],
)
def test_the_subject_phrase_is_kept_whole(prompt, kept):
    """As the recorded rewrites keep it: no number, name or modifier of the subject dropped."""
    for text in _rewrites(prompt):
        assert kept in text.lower() or kept in text, text


def test_a_sleeping_animal_is_not_described_as_alert():
    for text in _rewrites("two cats sleeping on a sofa"):
        lowered = text.lower()
        assert not [w for w in ("alert", "watchful", "pricked", "scent") if w in lowered], text


def test_a_person_is_described_as_a_person():
    for text in _rewrites("portrait of an old fisherman, dramatic lighting, 35mm photo"):
        lowered = text.lower()
        assert "its surface" not in lowered and "shelf" not in lowered, text


def test_a_verb_agrees_with_a_plural_clause():
    for text in _rewrites("a cyberpunk city at night, neon lights, rain, 3d render"):
        assert not re.search(r"\b(lights|signs|lamps),? (which )?[a-z]+s\b", text), text


_MORE = (
    "a teapot on a windowsill",
    "an orange dahlia in a summer garden",
    "a pagoda above a calm lake",
    "a knight riding a horse through a misty forest, oil painting",
    "a snowy owl on a branch, close-up, soft morning light",
    "a woman reading a book in a cafe, warm tones, highly detailed",
    "a red bicycle leaning on a wall",
)


@pytest.mark.parametrize("prompt", _MORE)
def test_more_prompts_keep_the_recorded_length_and_no_filler(prompt):
    for text in _rewrites(prompt) + _rewrites(prompt, "natural"):
        figures = prompt_divergence(prompt, text)
        assert 84 <= figures["revised_words"] <= 89, text
        assert figures["content_retention"] <= 5 / 6 or len(prompt.split()) < 7, text
        assert all(len(s.split()) >= 6 for s in _sentences(text)), text
