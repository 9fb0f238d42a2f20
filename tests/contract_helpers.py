"""Shared by the contract tests: strict validation against the SDKs' own pydantic types, and raw
calls to the simulator for every route, so that what is checked is the wire, not what an SDK
made of it.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pydantic
from PIL import Image

#: Facts read from OpenAI's OpenAPI description (tools/openapi_facts.py extracted them).
OPENAPI_FACTS = json.loads(
    (Path(__file__).parent / "data" / "openapi" / "openai_images.json").read_text()
)
#: The openai/openai-openapi commit those facts come from.
SPEC_COMMIT = OPENAPI_FACTS["source"]["commit"]

AUTH = {"authorization": "Bearer sim", "x-goog-api-key": "sim"}
#: One connection pool for the hundreds of raw calls the contract tests make.
HTTP = httpx.Client(timeout=30)


def extra_fields(value: Any, path: str = "$") -> list[str]:
    """Every field of a validated pydantic tree that its type does not declare."""
    found: list[str] = []
    if isinstance(value, pydantic.BaseModel):
        for name in sorted(value.model_extra or {}):
            found.append(f"{path}.{name}")
        for name in type(value).model_fields:
            found += extra_fields(getattr(value, name, None), f"{path}.{name}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found += extra_fields(item, f"{path}[{index}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            found += extra_fields(item, f"{path}.{key}")
    return found


def strict(model_cls: type[pydantic.BaseModel], payload: Any) -> pydantic.BaseModel:
    """Validate ``payload`` with the SDK type: every required field present, none unknown."""
    instance = model_cls.model_validate(payload)
    unknown = extra_fields(instance)
    assert not unknown, f"{model_cls.__name__}: fields the SDK type does not declare: {unknown}"
    return instance


def spec_required(schema: str, payload: dict[str, Any]) -> None:
    """The OpenAPI schema's required fields are all present (a null counts as present)."""
    required = OPENAPI_FACTS["schemas"][schema]["required"]
    missing = [name for name in required if name not in payload]
    assert not missing, f"{schema} (openapi {SPEC_COMMIT[:7]}) requires {missing}"


def spec_enum(schema: str, field: str) -> list[str]:
    return OPENAPI_FACTS["schemas"][schema]["enums"][field]


def png(size: tuple[int, int] = (64, 64)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(buffer, "PNG")
    return buffer.getvalue()


def openai_call(
    server: Any,
    model: str,
    endpoint: str,
    *,
    prompt: str = "a kite over a beach",
    extra: dict[str, Any] | None = None,
    tool_extra: dict[str, Any] | None = None,
) -> httpx.Response:
    """One raw request to the simulator's OpenAI route for ``endpoint``."""
    extra = dict(extra or {})
    base = server.openai_base_url
    low = {} if model.startswith("dall-e") else {"quality": "low"}
    if endpoint == "generate":
        body = {"model": model, "prompt": prompt, **low, **extra}
        return HTTP.post(base + "/images/generations", json=body, headers=AUTH)
    if endpoint == "edit":
        data = {"model": model, "prompt": prompt, **low, **extra}
        if model == "dall-e-2":
            data.setdefault("size", "256x256")
        files = [("image", ("a.png", png(), "image/png"))]
        form = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in data.items()}
        return httpx.post(base + "/images/edits", data=form, files=files, headers=AUTH, timeout=30)
    tool = {"type": "image_generation", "model": model, "quality": "low", **(tool_extra or {})}
    body = {"model": "gpt-5", "input": prompt, "tools": [tool], **extra}
    return HTTP.post(base + "/responses", json=body, headers=AUTH)


def sse_events(response: httpx.Response) -> Iterator[tuple[str | None, dict[str, Any]]]:
    """(event name, data) of each server-sent event of a finished response."""
    for block in response.text.replace("\r\n", "\n").split("\n\n"):
        name, data = None, []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[len("event:") :].strip()
            elif line.startswith("data:"):
                data.append(line[len("data:") :].strip())
        if data and data != ["[DONE]"]:
            yield name, json.loads("\n".join(data))
