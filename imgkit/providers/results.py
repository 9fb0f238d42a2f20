"""The normalized result of one generated (or edited) image, whatever service produced it.

Providers return :class:`GenerationResult` objects; the runner, the chain, the editing helpers
and the notebooks read only these, never a vendor response.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = ["CostBasis", "GenerationResult"]

# Where a result's cost comes from: the token usage the service reported, a cost the service
# reported itself (Leonardo), or the catalog estimate when the service said nothing.
CostBasis = Literal["usage", "reported", "estimate", "unknown"]


@dataclass
class GenerationResult:
    """One image and everything known about how it was made.

    ``cost_usd`` is the cost of *this image* (a request with ``n=3`` yields three results that
    share the request's cost equally). ``metadata`` is the service's response minus image bytes.

    A streamed request also times its images, in seconds from sending: ``first_partial_s`` to the
    first partial image (None when none came before the final one: ``partial_images=0``, or a
    service that sends the image whole, as Gemini does) and ``final_image_s`` to the final
    image. Both are None for a request that was not streamed.
    """

    provider: str
    model: str
    endpoint: str
    prompt: str
    image_bytes: bytes
    image_format: str
    width: int
    height: int
    revised_prompt: str | None = None
    usage: dict[str, Any] | None = None
    cost_usd: float | None = None
    cost_basis: CostBasis = "unknown"
    latency_s: float | None = None
    request_id: str | None = None
    index: int = 0
    simulated: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)
    first_partial_s: float | None = None
    final_image_s: float | None = None

    def to_dict(self, *, with_image: bool = False) -> dict[str, Any]:
        """Every field as plain data; the image bytes only when asked (they are large)."""
        data = asdict(self)
        if not with_image:
            data.pop("image_bytes")
        return data
