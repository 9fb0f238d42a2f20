"""The simulator's figures stay inside the ranges real recordings show (issue 24).

The targets and their sources are in docs/vendor-behaviour.md ("The simulator against real
recordings"); benchmarks/bench_sim_calibration.py prints the full drill beside them. These tests
measure a small seeded sample (256 px images, five repeats) so that a later change to the drawing
or the rewriting cannot drift back to figures no real service produces.
"""

from __future__ import annotations

import itertools
import random
import statistics

import imagehash
import openai
import pytest

from imgkit.analysis.divergence import prompt_divergence
from imgkit.analysis.reference import reference_distance, reference_for_network
from imgkit.features.extract import get_extractor
from imgkit.simulator import AS_IS_PREFIX
from imgkit.simulator.drawing import render_image
from imgkit.simulator.rewriting import revise_prompt

#: Subjects the photograph bank holds, and one it does not (a teapot).
PROMPTS = (
    "A lone astronaut on a red Martian cliff, golden hour backlighting",
    "an orange dahlia in a summer garden",
    "a raccoon in the leaves",
    "a teapot on a windowsill",
)
#: The recorded DALL-E 3 pairs' short prompt.
TEN_WORDS = "A lion cooking pasta wearing a hat of some sort"
REPEATS = 5
SIDE = 256


@pytest.fixture(scope="module")
def measure():
    extract = get_extractor()
    learned = reference_for_network("efficientnet-lite0")
    phash = reference_distance("phash")

    def figures(images):
        """(phash similarity, learned similarity, feature vectors) of one set of repeats."""
        hashes = [imagehash.phash(i) for i in images]
        vectors = extract(images)
        pairs = list(itertools.combinations(range(len(images)), 2))
        bits = statistics.mean(float(hashes[a] - hashes[b]) for a, b in pairs)
        cosine = statistics.mean(float(vectors[a] @ vectors[b]) for a, b in pairs)
        return phash.similarity(bits), learned.similarity(1.0 - cosine), vectors

    figures.learned = learned
    return figures


def _repeats(prompt, *, rewrite=False, seed=0):
    rng = random.Random(f"{seed}:{prompt}")
    images = []
    for _ in range(REPEATS):
        variation = rng.getrandbits(63)
        drawn = revise_prompt(prompt, random.Random(variation)) if rewrite else prompt
        images.append(render_image(drawn, SIDE, SIDE, variation=variation, subject=prompt))
    return images


def test_repeats_look_alike_to_the_network_and_unlike_to_the_hash(measure):
    """Real repeats: phash 0.00-0.25 on its fixed scale; learned 0.55-0.9; across prompts
    below 0.4 (raw cosine 0.21-0.24)."""
    vectors = {}
    for prompt in PROMPTS:
        phash, learned, vectors[prompt] = measure(_repeats(prompt))
        assert phash <= 0.3, (prompt, phash)
        assert 0.55 <= learned <= 0.9, (prompt, learned)
    across = [
        1.0 - float(a @ b)
        for p, q in itertools.combinations(PROMPTS, 2)
        for a in vectors[p]
        for b in vectors[q]
    ]
    assert measure.learned.similarity(statistics.mean(across)) < 0.4


def test_a_rewriting_model_is_less_alike_but_not_by_much(measure):
    """dall-e-3's and the Responses tool's rewrites: plausibly less consistent, not by 0.6."""
    plain = [measure(_repeats(p))[1] for p in PROMPTS]
    rewritten = [measure(_repeats(p, rewrite=True))[1] for p in PROMPTS]
    assert statistics.mean(rewritten) < statistics.mean(plain)
    assert statistics.mean(plain) - statistics.mean(rewritten) < 0.6
    assert min(rewritten) >= 0.5


def test_dalle3_rewrites_read_like_the_recorded_ones(sim):
    """11 recorded pairs: 84-89 words for a 10-word prompt, 50-83% of the content words kept,
    a different rewrite every call; the AS-IS prefix keeps the prompt nearly verbatim."""
    with openai.OpenAI(base_url=sim.openai_base_url, api_key="sim", max_retries=0) as client:

        def revised(prompt):
            return (
                client.images.generate(model="dall-e-3", prompt=prompt, response_format="b64_json")
                .data[0]
                .revised_prompt
            )

        rewrites = [revised(TEN_WORDS) for _ in range(REPEATS)]
        as_is = [revised(f"{AS_IS_PREFIX} {TEN_WORDS}") for _ in range(3)]
    assert len(set(rewrites)) == REPEATS
    for text in rewrites:
        figures = prompt_divergence(TEN_WORDS, text)
        assert 84 <= figures["revised_words"] <= 89, text
        assert 0.5 <= figures["content_retention"] <= 5 / 6, text
        assert TEN_WORDS.lower() not in text.lower()  # described, not quoted
        assert "lion" in text.lower()
    for text in as_is:
        assert prompt_divergence(TEN_WORDS, text)["content_retention"] == 1.0
        assert prompt_divergence(TEN_WORDS, text)["revised_words"] <= 14
