"""The simulator measured against real recordings: each figure beside its real target.

A seeded drill on the local simulator, through the real SDKs (``openai`` for the Images API and
the Responses API's image tool, ``google-genai`` for Gemini): every model draws each prompt
``--repeats`` times, and the benchmark prints, per model,

- the perceptual hash (phash) similarity of one prompt's repeats, on the fixed scale
  (0 = as far apart as unrelated photographs, 1 = identical);
- the learned measure (EfficientNet-Lite0 features) on the same fixed scale, and its raw cosine
  similarity (the issue's recorded figures are raw cosines: 0.69-0.85 for repeats, 0.21-0.24
  across prompts; on the fixed scale those are about 0.63-0.82 and 0.06-0.09);
- the same learned measure across prompts;

and, for dall-e-3's rewrites of a 10-word prompt, their length (words, and times the prompt),
the share of the prompt's content words kept, how many of the calls' rewrites differ, and the
same with the AS-IS prefix. Each figure is printed beside the range the real services showed
(``docs/vendor-behaviour.md`` says where each comes from) and marked in or out of range.

    python benchmarks/bench_sim_calibration.py [--repeats 5] [--side 512] [--seed 0]

Timings are not the point here; the load average and CPU time are printed for the record.
"""

from __future__ import annotations

import argparse
import base64
import io
import itertools
import os
import statistics
import time
from dataclasses import dataclass

import imagehash
import numpy as np
import openai
from PIL import Image

from imgkit.analysis.divergence import prompt_divergence
from imgkit.analysis.reference import reference_distance, reference_for_network
from imgkit.features.extract import get_extractor
from imgkit.simulator import AS_IS_PREFIX, serve

#: Prompts of the drill: the recorded DALL-E 3 pair's 10-word prompt first, then subjects the
#: photograph bank holds and one it does not.
PROMPTS = (
    "A lion cooking pasta wearing a hat of some sort",
    "A lone astronaut on a red Martian cliff, cinematic photography, golden hour backlighting",
    "an orange dahlia in a summer garden",
    "a pagoda above a calm lake",
    "a teapot on a windowsill",
)
#: The recorded ranges (docs/vendor-behaviour.md, "The simulator against real recordings").
TARGETS = {
    "repeat_phash": (0.0, 0.3),
    "repeat_learned": (0.55, 0.9),
    "across_learned": (0.0, 0.4),
    "rewrite_words": (84, 89),
    # The recordings' short prompts ran 10-11 words, so 84-89 words were 8.1-8.5 times the
    # prompt; for this 10-word prompt the same lengths are 8.4-8.9 times.
    "rewrite_ratio": (8.1, 8.9),
    # 50-83%: from 3 of 6 to 5 of 6 content words.
    "rewrite_kept": (0.50, 5 / 6),
    # "Plausibly less consistent, not by 0.6": five repeats of five prompts measure a mean
    # similarity to about +-0.05, so a gap a little below zero is within the noise.
    "rewriting_gap": (-0.05, 0.6),
}


@dataclass
class Arm:
    name: str
    rewrites: bool


ARMS = (
    Arm("dall-e-3", True),
    Arm("gpt-image-1", False),
    Arm("gpt-image-2", False),
    Arm("gpt-image-2@responses", True),
    Arm("gemini-2.5-flash-image", False),
    Arm("gemini-3-pro-image", False),
)


def _open(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image.convert("RGB")


def _draw(sim, arm: Arm, prompt: str, repeats: int, side: int) -> list[Image.Image]:
    """``repeats`` images of ``prompt`` from ``arm``, through its vendor's SDK."""
    if arm.name.startswith("gemini"):
        from google import genai
        from google.genai import types

        client = genai.Client(
            api_key="sim", http_options=types.HttpOptions(base_url=sim.gemini_base_url)
        )
        images = []
        for _ in range(repeats):
            answer = client.models.generate_content(model=arm.name, contents=prompt)
            part = next(p for p in answer.candidates[0].content.parts if p.inline_data)
            images.append(_open(part.inline_data.data))
        return images
    with openai.OpenAI(base_url=sim.openai_base_url, api_key="sim", max_retries=0) as client:
        if arm.name.endswith("@responses"):
            images = []
            for _ in range(repeats):
                response = client.responses.create(
                    model="gpt-5",
                    input=prompt,
                    tools=[{"type": "image_generation", "quality": "low", "size": "1024x1024"}],
                )
                call = next(o for o in response.output if o.type == "image_generation_call")
                images.append(_open(base64.b64decode(call.result)))
            return images
        extra = {"response_format": "b64_json"} if arm.name == "dall-e-3" else {"quality": "low"}
        return [
            _open(
                base64.b64decode(
                    client.images.generate(model=arm.name, prompt=prompt, **extra).data[0].b64_json
                )
            )
            for _ in range(repeats)
        ]


def _small(image: Image.Image, side: int) -> Image.Image:
    image = image.copy()
    image.thumbnail((side, side), Image.Resampling.LANCZOS)
    return image


def _mark(value: float, bounds: tuple[float, float]) -> str:
    low, high = bounds
    return "in range" if low <= value <= high else "OUT of range"


def rewrite_figures(sim, prompt: str, calls: int) -> dict[str, list[float]]:
    """Lengths, ratios and kept content of dall-e-3's rewrites of ``prompt`` (and AS-IS)."""
    with openai.OpenAI(base_url=sim.openai_base_url, api_key="sim", max_retries=0) as client:
        rewrites = [
            client.images.generate(model="dall-e-3", prompt=prompt, response_format="b64_json")
            .data[0]
            .revised_prompt
            for _ in range(calls)
        ]
        as_is = [
            client.images.generate(
                model="dall-e-3", prompt=f"{AS_IS_PREFIX} {prompt}", response_format="b64_json"
            )
            .data[0]
            .revised_prompt
            for _ in range(calls)
        ]
    measured = [prompt_divergence(prompt, r) for r in rewrites]
    kept_as_is = [prompt_divergence(prompt, r)["content_retention"] for r in as_is]
    return {
        "words": [m["revised_words"] for m in measured],
        "ratio": [m["length_ratio"] for m in measured],
        "kept": [m["content_retention"] for m in measured],
        "distinct": [len(set(rewrites))],
        "as_is_kept": kept_as_is,
        "examples": rewrites[:2],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--side", type=int, default=512, help="images measured at this size")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    cpu, wall = time.process_time(), time.perf_counter()
    extract = get_extractor()
    learned_scale = reference_for_network("efficientnet-lite0")
    phash_scale = reference_distance("phash")
    print(f"simulator seed {args.seed}, {args.repeats} repeats of {len(PROMPTS)} prompts")
    print(f"fixed scales: phash {phash_scale.label}; learned {learned_scale.label}\n")
    header = (
        f"{'arm':24} {'phash repeats':>15} {'learned repeats':>17} {'cosine repeats':>16} "
        f"{'learned across':>15} {'cosine across':>14}"
    )
    print(header)
    print("-" * len(header))
    summary: dict[str, dict[str, float]] = {}
    with serve(seed=args.seed, latency=0.0) as sim:
        for arm in ARMS:
            vectors, phash_sims, learned_sims, cosines = {}, [], [], []
            for prompt in PROMPTS:
                images = [_small(i, args.side) for i in _draw(sim, arm, prompt, args.repeats, 0)]
                hashes = [imagehash.phash(i) for i in images]
                feats = extract(images)
                vectors[prompt] = feats
                pairs = list(itertools.combinations(range(len(images)), 2))
                mean_bits = statistics.mean(float(hashes[a] - hashes[b]) for a, b in pairs)
                cos = statistics.mean(float(feats[a] @ feats[b]) for a, b in pairs)
                phash_sims.append(phash_scale.similarity(mean_bits))
                learned_sims.append(learned_scale.similarity(1.0 - cos))
                cosines.append(cos)
            across = [
                float(a @ b)
                for p, q in itertools.combinations(PROMPTS, 2)
                for a in vectors[p]
                for b in vectors[q]
            ]
            across_cos = float(np.mean(across))
            across_learned = learned_scale.similarity(1.0 - across_cos)
            summary[arm.name] = {
                "learned": statistics.mean(learned_sims),
                "phash_max": max(phash_sims),
                "learned_min": min(learned_sims),
                "learned_max": max(learned_sims),
                "across": across_learned,
            }
            print(
                f"{arm.name:24} {min(phash_sims):6.2f}-{max(phash_sims):4.2f}    "
                f"{min(learned_sims):8.2f}-{max(learned_sims):4.2f}    "
                f"{min(cosines):7.2f}-{max(cosines):4.2f}   "
                f"{across_learned:12.2f}   {across_cos:12.2f}"
            )
        rewrites = rewrite_figures(sim, PROMPTS[0], args.repeats)
    print()
    print("figure                                        simulator      real        ")
    rows = []
    phash_top = max(s["phash_max"] for s in summary.values())
    rows.append(("repeats, phash similarity (max of arms)", phash_top, "repeat_phash"))
    low = min(s["learned_min"] for s in summary.values())
    high = max(s["learned_max"] for s in summary.values())
    rows.append(("repeats, learned similarity (lowest)", low, "repeat_learned"))
    rows.append(("repeats, learned similarity (highest)", high, "repeat_learned"))
    across_top = max(s["across"] for s in summary.values())
    rows.append(("across prompts, learned (highest arm)", across_top, "across_learned"))
    plain = statistics.mean(summary[a.name]["learned"] for a in ARMS if not a.rewrites)
    for arm in (a for a in ARMS if a.rewrites):
        gap = plain - summary[arm.name]["learned"]
        rows.append((f"non-rewriting minus {arm.name}, learned", gap, "rewriting_gap"))
    for label, key, target in (
        ("dall-e-3 rewrite, words (min)", "words", "rewrite_words"),
        ("dall-e-3 rewrite, words (max)", "words", "rewrite_words"),
        ("dall-e-3 rewrite, times the prompt (min)", "ratio", "rewrite_ratio"),
        ("dall-e-3 rewrite, times the prompt (max)", "ratio", "rewrite_ratio"),
        ("dall-e-3 rewrite, content kept (min)", "kept", "rewrite_kept"),
        ("dall-e-3 rewrite, content kept (max)", "kept", "rewrite_kept"),
    ):
        values = rewrites[key]
        rows.append((label, min(values) if "(min)" in label else max(values), target))
    for label, value, target in rows:
        low_t, high_t = TARGETS[target]
        mark = _mark(value, TARGETS[target])
        print(f"{label:45} {value:9.2f}   {low_t:.2f}-{high_t:.2f}   {mark}")
    distinct = rewrites["distinct"][0]
    print(f"{'dall-e-3 rewrites, distinct of ' + str(args.repeats):45} {distinct:9d}   all")
    as_is = min(rewrites["as_is_kept"])
    print(f"{'AS-IS prefix, content kept (min)':45} {as_is:9.2f}   ~1")
    print("\nexample rewrites of", repr(PROMPTS[0]))
    for text in rewrites["examples"]:
        print(" -", text)
    print(
        f"\nCPU {time.process_time() - cpu:.1f} s, wall {time.perf_counter() - wall:.1f} s, "
        f"load average {os.getloadavg()[0]:.1f} (timings are not targets here)"
    )


if __name__ == "__main__":
    main()
