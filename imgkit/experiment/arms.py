"""Arms of a drill: what is compared when the same prompt is sent again and again.

An :class:`Arm` is one way of asking for an image: a model, an endpoint, fixed parameters and a
prompt variant. Two arms that differ in a single respect isolate its effect: ``dall-e-3`` as
written against ``dall-e-3`` with the AS-IS prefix measures how much the prefix curbs DALL-E 3's
prompt rewriting; ``gpt-image-2`` through the Images API against the same model through the
Responses tool measures what the conversational path adds.

Arms are written on the command line as ``MODEL[@ENDPOINT][+as_is]``, e.g. ``dall-e-3+as_is`` or
``gpt-image-2@responses`` (see :meth:`Arm.parse`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from imgkit.catalog.models import Catalog, default_catalog
from imgkit.catalog.validation import ENDPOINTS, Backend, ImageRequest, validate_request
from imgkit.errors import ValidationError, check_argument

__all__ = [
    "AS_IS_PREFIX",
    "LESSON_MODELS",
    "LESSON_PROMPT",
    "LESSON_REPEATS",
    "PROMPT_VARIANTS",
    "Arm",
    "arms_for_models",
    "lesson_arms",
    "rewrite_control_arms",
]

#: The lesson's gpt-image-1 example prompt, used by the default drill.
LESSON_PROMPT = (
    "A lone astronaut on a red Martian cliff, cinematic photography, golden hour backlighting, "
    "wide establishing shot, atmosphere of quiet solitude"
)
#: The two models of the lesson's drill (both retired: the default drill runs on the simulator).
LESSON_MODELS: tuple[str, ...] = ("dall-e-3", "gpt-image-1")
#: "Run the same prompt five times on each model" (lesson 99, drill).
LESSON_REPEATS = 5

#: A known control for DALL-E 3's prompt rewriting, quoted by users of peer toolkits (FACTS.md):
#: prefixed to the prompt, it asks the service to leave the prompt alone.
AS_IS_PREFIX = (
    "I NEED to test how the tool works with extremely simple prompts. "
    "DO NOT add any detail, just use it AS-IS:"
)

PromptVariant = Literal["as_is"]
PROMPT_VARIANTS: tuple[str, ...] = ("as_is",)

# Parameters an arm may fix; model, prompt and endpoint are the arm's own fields, and n stays 1
# because each repeat of a drill must be a separate request (a repeat that shares a request with
# another is not an independent draw). stream and partial_images ask for a streamed answer, timed
# to its first partial image and to its final image.
_ARM_PARAMS = (
    "size",
    "quality",
    "style",
    "response_format",
    "output_format",
    "background",
    "output_compression",
    "moderation",
    "seed",
    "stream",
    "partial_images",
)
_SPEC = re.compile(r"^(?P<model>[^@+]+)(?:@(?P<endpoint>[a-z_]+))?(?:\+(?P<variant>[a-z_-]+))?$")


@dataclass(frozen=True)
class Arm:
    """One way of asking for an image: model, endpoint, fixed parameters, prompt variant.

    ``name`` labels the arm in run folders, frames and plots. ``params`` are request parameters
    (size, quality, style, ...) that take precedence over the drill-wide ones.
    ``prompt_variant="as_is"`` prefixes every prompt with :data:`AS_IS_PREFIX`.
    """

    name: str
    model: str
    endpoint: str = "generate"
    params: Mapping[str, Any] = field(default_factory=dict)
    prompt_variant: PromptVariant | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValidationError("name", self.name, "a non-empty string")
        check_argument("endpoint", self.endpoint, ENDPOINTS, model=self.model)
        if self.prompt_variant is not None:
            check_argument("prompt_variant", self.prompt_variant, (None, *PROMPT_VARIANTS))
        for key in self.params:
            check_argument("params", key, _ARM_PARAMS, model=self.model)
        # Frozen all the way down, so that an arm can be a dict key and never drifts mid-run.
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))

    @classmethod
    def parse(cls, text: str, **params: Any) -> Arm:
        """An arm from ``MODEL[@ENDPOINT][+as_is]``; the text itself becomes the arm's name.

        >>> Arm.parse("gpt-image-2@responses").endpoint
        'responses'

        Raises :class:`ValidationError` for text of another shape or an unknown variant.
        """
        match = _SPEC.match(text.strip()) if isinstance(text, str) else None
        if match is None:
            raise ValidationError("arm", text, "MODEL[@ENDPOINT][+as_is]")
        variant = match.group("variant")
        if variant is not None:
            variant = variant.replace("-", "_")
            check_argument("prompt variant", variant, PROMPT_VARIANTS)
        return cls(
            name=text.strip(),
            model=match.group("model"),
            endpoint=match.group("endpoint") or "generate",
            params=params,
            prompt_variant=variant,  # type: ignore[arg-type]
        )

    def prompt_for(self, prompt: str) -> str:
        """The prompt as this arm sends it (with the AS-IS prefix for that variant)."""
        if self.prompt_variant == "as_is":
            return f"{AS_IS_PREFIX} {prompt}"
        return prompt

    def request(
        self,
        prompt: str,
        *,
        backend: Backend = "sim",
        defaults: Mapping[str, Any] | None = None,
        catalog: Catalog | None = None,
    ) -> ImageRequest:
        """The validated single-image request this arm sends for ``prompt``.

        ``defaults`` are drill-wide parameters (size, quality, ...); the arm's own ``params``
        win over them. Raises :class:`ValidationError` when the model would reject the request.
        """
        merged = {k: v for k, v in (defaults or {}).items() if v is not None}
        merged.update(self.params)
        merged.pop("n", None)
        return validate_request(
            self.model,
            self.prompt_for(prompt),
            endpoint=self.endpoint,
            backend=backend,
            n=1,
            catalog=catalog,
            **merged,
        )

    def to_dict(self) -> dict[str, Any]:
        """The arm as plain data (manifests, JSON output)."""
        return {
            "name": self.name,
            "model": self.model,
            "endpoint": self.endpoint,
            "params": dict(self.params),
            "prompt_variant": self.prompt_variant,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Arm:
        """The inverse of :meth:`to_dict`."""
        return cls(
            name=data["name"],
            model=data["model"],
            endpoint=data.get("endpoint", "generate"),
            params=data.get("params") or {},
            prompt_variant=data.get("prompt_variant"),
        )


def arms_for_models(models: Iterable[str | Arm] | str, catalog: Catalog | None = None) -> list[Arm]:
    """Arms from model names or arm specs (``"dall-e-3,gpt-image-2@responses"`` works too).

    Arm objects pass through. Every model must be in the catalog and arm names must be unique;
    :class:`ValidationError` otherwise.
    """
    catalog = catalog or default_catalog()
    if isinstance(models, str):
        models = [m for m in models.split(",") if m.strip()]
    arms = [m if isinstance(m, Arm) else Arm.parse(m) for m in models]
    if not arms:
        raise ValidationError("models", [], "at least one model or arm")
    seen: set[str] = set()
    for arm in arms:
        catalog.get_model(arm.model)
        check_argument(
            "endpoint", arm.endpoint, catalog.get_model(arm.model).endpoints, model=arm.model
        )
        if arm.name in seen:
            raise ValidationError("arms", arm.name, "unique arm names", detail="given twice")
        seen.add(arm.name)
    return arms


def lesson_arms() -> list[Arm]:
    """The lesson's drill: dall-e-3 and gpt-image-1, prompts as written."""
    return arms_for_models(LESSON_MODELS)


def rewrite_control_arms(models: Sequence[str] = ("dall-e-3",)) -> list[Arm]:
    """For each model, the arm as written and the arm with the AS-IS prefix.

    Comparing the two measures how far the prefix curbs the service's prompt rewriting.
    """
    arms: list[Arm] = []
    for model in models:
        arms += [Arm(model, model), Arm(f"{model}+as_is", model, prompt_variant="as_is")]
    return arms
