"""How a judge is asked: the request of each API, its client, and the tokens it bills.

Part of :mod:`imgkit.ratings.judge` (see there for what is asked and why): the Responses API's
``input_image`` parts with a strict ``json_schema`` text format, Gemini's inline images with
``response_json_schema``, the same JSON schema for both; a client per backend (the simulator's
unless ``live`` is asked for); the input tokens an image is estimated at before sending and the
tokens an answer's usage reports.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imgkit.errors import ValidationError
from imgkit.ratings.judges import JudgeSpec, judges_data
from imgkit.ratings.store import CRITERIA

__all__ = [
    "JudgeTask",
    "ask",
    "check_schema",
    "estimate_settings",
    "gemini_arguments",
    "image_tokens",
    "open_client",
    "pairwise_schema",
    "request_arguments",
    "usage_tokens",
]


@dataclass(frozen=True)
class JudgeTask:
    """One request: a pairwise question (two images, in ``order``) or a check (one image)."""

    key: str
    kind: str  # "pair" or "check"
    prompt_id: str
    prompt: str
    shas: tuple[str, ...]
    arms: tuple[str, ...]
    paths: tuple[Path, ...]
    pair_id: str = ""
    order: str = ""  # "ab": the pair's first arm shown first, "ba": swapped

    def text(self, rubric: dict[str, Any]) -> str:
        """The request's text: the prompt as written, and what to answer."""
        quoted = f'Prompt as written:\n"""\n{self.prompt}\n"""'
        if self.kind == "check":
            return f"{rubric['check']['intro']}\n\n{quoted}"
        questions = "\n".join(
            f"- {name}: {question}" for name, question in rubric["pairwise"]["questions"].items()
        )
        return (
            f"{rubric['pairwise']['intro']}\n\n{quoted}\n\nAnswer each question with first, "
            f"second or tie:\n{questions}\nThen give one sentence of reason."
        )


def pairwise_schema() -> dict[str, Any]:
    """The structured answer of a pairwise question: first / second / tie per criterion."""
    choice = {"type": "string", "enum": ["first", "second", "tie"]}
    return {
        "type": "object",
        "properties": {**{c: choice for c in CRITERIA}, "reason": {"type": "string"}},
        "required": [*CRITERIA, "reason"],
        "additionalProperties": False,
    }


def check_schema() -> dict[str, Any]:
    """The structured answer of a per-image check: each named object or attribute, shown?"""
    item = {
        "type": "object",
        "properties": {
            "item": {"type": "string"},
            "kind": {"type": "string", "enum": ["object", "attribute"]},
            "shown": {"type": "boolean"},
        },
        "required": ["item", "kind", "shown"],
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {"items": {"type": "array", "items": item}},
        "required": ["items"],
        "additionalProperties": False,
    }


def estimate_settings() -> dict[str, Any]:
    return judges_data()["estimate"]


def image_tokens(path: Path, spec: JudgeSpec) -> int:
    """Input tokens of one image: OpenAI's fixed low-detail figure; Gemini's 258 per 768x768
    tile (one tile up to 384 pixels a side)."""
    settings = estimate_settings()
    if spec.api != "gemini":
        return int(settings["image_tokens_low"])
    from PIL import Image

    try:
        with Image.open(path) as image:
            width, height = image.size
    except OSError:
        width = height = 2048  # unreadable here: a large image's worth
    if max(width, height) <= 384:
        return int(settings["gemini_tile_tokens"])
    tiles = -(-width // 768) * -(-height // 768)
    return int(settings["gemini_tile_tokens"]) * tiles


def usage_tokens(usage: Any) -> tuple[int, int]:
    """(input, output) tokens of an OpenAI ``usage`` or a Gemini ``usage_metadata`` (a
    thinking model's thoughts are billed as output)."""
    if hasattr(usage, "prompt_token_count"):
        out = (usage.candidates_token_count or 0) + (usage.thoughts_token_count or 0)
        return int(usage.prompt_token_count or 0), int(out)
    return int(getattr(usage, "input_tokens", 0) or 0), int(getattr(usage, "output_tokens", 0) or 0)


def _data_url(path: Path) -> str:
    kind = {"jpg": "jpeg"}.get(path.suffix.lstrip(".").lower(), path.suffix.lstrip(".").lower())
    encoded = base64.b64encode(path.read_bytes()).decode("ascii")
    return f"data:image/{kind or 'png'};base64,{encoded}"


def request_arguments(task: JudgeTask, model: str, rubric: dict[str, Any]) -> dict[str, Any]:
    """The ``client.responses.create`` arguments of ``task``: the rubric's instructions, the
    text and the images (low detail) as one user turn, a strict JSON schema for the answer."""
    content: list[dict[str, Any]] = [{"type": "input_text", "text": task.text(rubric)}]
    for label, path in zip(("first", "second"), task.paths, strict=False):
        if task.kind == "pair":
            content.append({"type": "input_text", "text": f"The {label} image:"})
        content.append({"type": "input_image", "image_url": _data_url(path), "detail": "low"})
    schema = pairwise_schema() if task.kind == "pair" else check_schema()
    name = rubric["pairwise" if task.kind == "pair" else "check"]["schema_name"]
    return {
        "model": model,
        "instructions": rubric["instructions"],
        "input": [{"role": "user", "content": content}],
        "text": {"format": {"type": "json_schema", "name": name, "schema": schema, "strict": True}},
        "max_output_tokens": estimate_settings()["max_output_tokens"],
        "store": False,
    }


def gemini_arguments(task: JudgeTask, model: str, rubric: dict[str, Any]) -> dict[str, Any]:
    """The ``client.models.generate_content`` arguments of ``task`` for a Gemini judge: the
    same text, images and JSON schema as :func:`request_arguments` (as
    ``response_json_schema``, which takes JSON Schema as written, ``additionalProperties``
    included, where ``response_schema`` takes only its OpenAPI subset)."""
    from google.genai import types

    parts = [types.Part.from_text(text=task.text(rubric))]
    for label, path in zip(("first", "second"), task.paths, strict=False):
        if task.kind == "pair":
            parts.append(types.Part.from_text(text=f"The {label} image:"))
        kind = path.suffix.lstrip(".").lower().replace("jpg", "jpeg") or "png"
        parts.append(types.Part.from_bytes(data=path.read_bytes(), mime_type=f"image/{kind}"))
    schema = pairwise_schema() if task.kind == "pair" else check_schema()
    return {
        "model": model,
        "contents": [types.Content(role="user", parts=parts)],
        "config": types.GenerateContentConfig(
            system_instruction=rubric["instructions"],
            response_mime_type="application/json",
            response_json_schema=schema,
            max_output_tokens=estimate_settings()["max_output_tokens"],
        ),
    }


def ask(client: Any, spec: JudgeSpec, task: JudgeTask, rubric: dict[str, Any]):
    """(answer, usage, request id) of one request, through the judge's own API."""
    if spec.api == "gemini":
        response = client.models.generate_content(**gemini_arguments(task, spec.name, rubric))
        return json.loads(response.text or ""), response.usage_metadata, response.response_id
    response = client.responses.create(**request_arguments(task, spec.name, rubric))
    return json.loads(response.output_text), response.usage, getattr(response, "_request_id", None)


def _openai_client(key: str, base_url: str | None) -> Any:
    import openai

    return openai.OpenAI(api_key=key, base_url=base_url, max_retries=0, timeout=120)


def _gemini_client(key: str, base_url: str | None) -> Any:
    from google import genai
    from google.genai import types

    options = types.HttpOptions(base_url=base_url, timeout=120_000)
    return genai.Client(api_key=key, vertexai=False, http_options=options)


@contextmanager
def open_client(spec: JudgeSpec, backend: str, sim_url: str | None) -> Iterator[tuple[Any, bool]]:
    gemini = spec.api == "gemini"
    make = _gemini_client if gemini else _openai_client
    if backend == "live":
        names = ("GEMINI_API_KEY", "GOOGLE_API_KEY") if gemini else ("OPENAI_API_KEY",)
        key = next((os.environ[n] for n in names if os.environ.get(n)), None)
        if not key:
            raise ValidationError(names[0], None, "an API key in the environment for a live judge")
        yield make(key, None), False
        return

    def sim_base(url: str) -> str:
        return url.rstrip("/") if gemini else url.rstrip("/") + "/v1"

    if sim_url:
        yield make("sim", sim_base(sim_url)), True
        return
    from imgkit.simulator import serve

    with serve(seed=0, latency=0.0) as sim:
        yield make("sim", sim_base(sim.base_url)), True
