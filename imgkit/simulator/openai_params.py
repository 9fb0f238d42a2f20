"""The request parameters each OpenAI route takes, so that any other is refused as the API does.

The API answers a parameter it does not know with 400 ``unknown_parameter``, "Unknown parameter:
'foo'." (public reports: vercel/ai#6102 for ``response_format`` on gpt-image-1;
alasano/gpt-image-playground#29 for ``tools[0].n``). The lists are the parameters of the
installed SDK's request types (openai 3.57: ``ImageGenerateParams``, ``ImageEditParams``,
``ResponseCreateParams`` and the ``image_generation`` tool), which include every request
property of OpenAI's OpenAPI description for these routes (``tests/test_contract_openai.py``
checks both). Parameters the simulator accepts but does not model (``complexity``,
``frame_count``, ``svg``, ...) change nothing in its answers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["known_parameters", "unknown_parameters"]

_IMAGE_COMMON = frozenset(
    {
        "background", "complexity", "frame_count", "frame_duration_ms", "model", "n",
        "output_compression", "output_format", "partial_images", "prompt", "quality",
        "response_format", "safety_identifier", "size", "stream", "svg", "user",
    }
)  # fmt: skip

# fmt: off
_KNOWN: Mapping[str, frozenset[str]] = {
    # POST /v1/images/generations (JSON)
    "generate": _IMAGE_COMMON | {"moderation", "style"},
    # POST /v1/images/edits (multipart): no style, no moderation
    "edit": _IMAGE_COMMON | {"image", "image[]", "input_fidelity", "markup", "mask"},
    # POST /v1/responses: the body ...
    "responses": frozenset(
        {
            "access_programs", "background", "background_options", "context_management",
            "conversation", "image", "include", "input", "instructions", "max_output_tokens",
            "max_tool_calls", "metadata", "model", "moderation", "parallel_tool_calls",
            "previous_response_id", "prompt", "prompt_cache_key", "prompt_cache_options",
            "prompt_cache_retention", "reasoning", "safety_identifier", "service_tier", "store",
            "stream", "stream_options", "temperature", "text", "tool_choice", "tools",
            "top_logprobs", "top_p", "truncation", "user",
        }
    ),
    # ... and its image_generation tool
    "image_generation_tool": frozenset(
        {
            "action", "background", "complexity", "frame_count", "frame_duration_ms",
            "input_fidelity", "input_image_mask", "model", "moderation", "output_compression",
            "output_format", "partial_images", "quality", "size", "svg", "type",
        }
    ),
}
# fmt: on


def known_parameters(route: str) -> frozenset[str]:
    """The parameters ``route`` takes: "generate", "edit", "responses" or
    "image_generation_tool"."""
    return _KNOWN[route]


def unknown_parameters(body: Mapping[str, Any] | Iterable[str], route: str) -> list[str]:
    """The names in ``body`` that ``route`` does not take, in the order given."""
    known = _KNOWN[route]
    return [name for name in body if name not in known]
