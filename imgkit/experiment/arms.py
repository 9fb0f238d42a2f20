"""Arms of a drill: what is compared when the same prompt is sent again and again.

An :class:`Arm` is one way of asking for an image: a model, an endpoint, fixed parameters and a
prompt variant. Two arms that differ in a single respect isolate its effect: ``dall-e-3`` as
written against ``dall-e-3`` with the AS-IS prefix measures how much the prefix curbs DALL-E 3's
prompt rewriting; ``gpt-image-2`` through the Images API against the same model through the
Responses tool measures what the conversational path adds; ``dall-e-3`` against ``dall-e-3``
with the prefix "exact same composition" (a :class:`PromptTransform`) measures whether that
wording makes it more consistent.

Arms are written on the command line as ``MODEL[@ENDPOINT][+as_is]``, e.g. ``dall-e-3+as_is`` or
``gpt-image-2@responses`` (see :meth:`Arm.parse`), with parameters after a colon:
``gpt-image-2:quality=low,size=1536x1024`` or ``dall-e-3:prefix="exact same composition:"``
(see :meth:`Arm.from_option`).
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from imgkit.catalog.models import Catalog, default_catalog
from imgkit.catalog.validation import ENDPOINTS, Backend, ImageRequest, validate_request
from imgkit.errors import ValidationError, check_argument

__all__ = [
    "ARM_OPTION_KEYS",
    "ARM_PARAMS",
    "AS_IS_PREFIX",
    "LESSON_MODELS",
    "LESSON_PROMPT",
    "LESSON_REPEATS",
    "PROMPT_VARIANTS",
    "Arm",
    "PromptTransform",
    "arms_for_models",
    "default_arm_name",
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
ARM_PARAMS = (
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
_ARM_PARAMS = ARM_PARAMS
#: Parameters whose text on a command line is a whole number, and the one that is a yes/no.
_INT_PARAMS = ("seed", "output_compression", "partial_images")
_BOOL_PARAMS = ("stream",)
#: Prompt transforms an arm may apply (see :class:`PromptTransform`).
TRANSFORM_KEYS = ("prefix", "suffix", "template")
#: Every key an arm takes after the colon of ``MODEL...:key=value,...``.
ARM_OPTION_KEYS = ("name", *TRANSFORM_KEYS, *ARM_PARAMS)
_SPEC = re.compile(r"^(?P<model>[^@+]+)(?:@(?P<endpoint>[a-z_]+))?(?:\+(?P<variant>[a-z_-]+))?$")


# A suffix that starts with one of these is glued to the prompt; any other gets a space.
_GLUED = ",.;:!?)]}"


@dataclass(frozen=True)
class PromptTransform:
    """How an arm rewrites each prompt before sending it: a prefix, a suffix, a template.

    ``template`` holds ``{prompt}`` where the prompt goes (``"{prompt}, exact same
    composition"``; write ``{{`` and ``}}`` for literal braces); the prefix and suffix are
    joined to the result with one space unless they already end (prefix) or start (suffix)
    with a space, or the suffix starts with punctuation (``", plain background"``).
    """

    prefix: str = ""
    suffix: str = ""
    template: str = ""

    def __post_init__(self) -> None:
        for key in TRANSFORM_KEYS:
            if not isinstance(getattr(self, key), str):
                raise ValidationError(key, getattr(self, key), "a string")
        if not (self.prefix or self.suffix or self.template):
            raise ValidationError(
                "prompt transform", {}, "at least one of prefix, suffix, template"
            )
        if self.template:
            try:
                fields_used = {
                    name for _text, name, _spec, _conv in string.Formatter().parse(self.template)
                }
            except ValueError as exc:
                raise ValidationError(
                    "template", self.template, "text with {prompt} in it", detail=str(exc)
                ) from None
            fields_used.discard(None)
            if fields_used != {"prompt"}:
                raise ValidationError(
                    "template",
                    self.template,
                    "text with {prompt} where the prompt goes and no other {field} "
                    "(write {{ and }} for literal braces)",
                )

    def apply(self, prompt: str) -> str:
        """``prompt`` as this transform rewrites it."""
        text = self.template.format(prompt=prompt) if self.template else prompt
        if self.prefix:
            text = self.prefix + ("" if self.prefix[-1].isspace() else " ") + text
        if self.suffix:
            glued = self.suffix[0].isspace() or self.suffix[0] in _GLUED
            text = text + ("" if glued else " ") + self.suffix
        return text

    def to_dict(self) -> dict[str, str]:
        """The parts that are set, as plain data."""
        return {key: getattr(self, key) for key in TRANSFORM_KEYS if getattr(self, key)}

    def label(self) -> str:
        """A short name for arm labels: ``prefix``, ``prefix+suffix``, ``template``."""
        return "+".join(key for key in TRANSFORM_KEYS if getattr(self, key))


@dataclass(frozen=True)
class Arm:
    """One way of asking for an image: model, endpoint, fixed parameters, prompt variant.

    ``name`` labels the arm in run folders, frames and plots. ``params`` are request parameters
    (size, quality, style, ...) that take precedence over the drill-wide ones.
    ``prompt_variant="as_is"`` prefixes every prompt with :data:`AS_IS_PREFIX`;
    ``prompt_transform`` (a :class:`PromptTransform`, or a mapping of its fields) rewrites it
    with any prefix, suffix or template (the AS-IS prefix, when both are set, goes first).
    """

    name: str
    model: str
    endpoint: str = "generate"
    params: Mapping[str, Any] = field(default_factory=dict)
    prompt_variant: PromptVariant | None = None
    prompt_transform: PromptTransform | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValidationError("name", self.name, "a non-empty string")
        check_argument("endpoint", self.endpoint, ENDPOINTS, model=self.model)
        if self.prompt_variant is not None:
            check_argument("prompt_variant", self.prompt_variant, (None, *PROMPT_VARIANTS))
        for key in self.params:
            check_argument("params", key, _ARM_PARAMS, model=self.model)
        transform = self.prompt_transform
        if isinstance(transform, Mapping):
            for key in transform:
                check_argument("prompt_transform", key, TRANSFORM_KEYS)
            object.__setattr__(self, "prompt_transform", PromptTransform(**transform))
        elif transform is not None and not isinstance(transform, PromptTransform):
            raise ValidationError(
                "prompt_transform", transform, "a PromptTransform, a mapping of one, or None"
            )
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

    @classmethod
    def from_option(cls, text: str) -> Arm:
        """An arm from ``MODEL[@ENDPOINT][+as_is][:KEY=VALUE,...]``, the command line's form.

        Keys are :data:`ARM_OPTION_KEYS`: ``name`` (default: the text as given), ``prefix``,
        ``suffix``, ``template`` (see :class:`PromptTransform`) and the request parameters of
        :data:`ARM_PARAMS`. A value holding a comma or a colon goes in double or single
        quotes: ``dall-e-3:prefix="exact same composition:",quality=hd``.

        >>> Arm.from_option("gpt-image-2:quality=low,size=1536x1024").params["quality"]
        'low'

        Raises :class:`ValidationError` naming the part of ``text`` that is wrong.
        """
        if not isinstance(text, str) or not text.strip():
            raise ValidationError("arm", text, "MODEL[@ENDPOINT][+as_is][:KEY=VALUE,...]")
        spec, colon, rest = text.strip().partition(":")
        base = cls.parse(spec)
        if not colon:
            return base
        options = _key_values(rest, text)
        name = options.pop("name", None) or text.strip()
        transform = {k: options.pop(k) for k in TRANSFORM_KEYS if k in options}
        params: dict[str, Any] = {}
        for key, value in options.items():
            check_argument(f"arm {text.strip()!r}: key", key, ARM_OPTION_KEYS)
            params[key] = _typed_param(key, value, text)
        return cls(
            name=name,
            model=base.model,
            endpoint=base.endpoint,
            params=params,
            prompt_variant=base.prompt_variant,
            prompt_transform=PromptTransform(**transform) if transform else None,
        )

    def prompt_for(self, prompt: str) -> str:
        """The prompt as this arm sends it: its transform applied, then the AS-IS prefix for
        that variant."""
        if self.prompt_transform is not None:
            prompt = self.prompt_transform.apply(prompt)
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
        if self.prompt_variant == "as_is":
            _check_as_is(self.model, catalog)
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
            "prompt_transform": (
                self.prompt_transform.to_dict() if self.prompt_transform is not None else None
            ),
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
            prompt_transform=data.get("prompt_transform") or None,
        )


def _key_values(text: str, whole: str) -> dict[str, str]:
    """``KEY=VALUE,...`` into a dict; a value may be quoted ("..." or '...') to hold , or :."""
    pairs: dict[str, str] = {}
    position = 0
    shape = "MODEL[@ENDPOINT][+as_is]:KEY=VALUE,... (quote a value that holds a comma)"
    while position < len(text):
        equals = text.find("=", position)
        if equals < 0:
            raise ValidationError("arm", whole, shape, detail=f"no '=' in {text[position:]!r}")
        key = text[position:equals].strip()
        position = equals + 1
        if position < len(text) and text[position] in "\"'":
            quote = text[position]
            end = text.find(quote, position + 1)
            if end < 0:
                raise ValidationError("arm", whole, shape, detail=f"unclosed {quote} after {key}=")
            value = text[position + 1 : end]
            position = end + 1
            if position < len(text) and text[position] != ",":
                raise ValidationError(
                    "arm", whole, shape, detail=f"a comma expected after the quoted {key}"
                )
        else:
            comma = text.find(",", position)
            comma = len(text) if comma < 0 else comma
            value = text[position:comma].strip()
            position = comma
        position += 1  # the comma
        if not key:
            raise ValidationError("arm", whole, shape, detail="a value without a key")
        if key in pairs:
            raise ValidationError("arm", whole, shape, detail=f"{key} given twice")
        pairs[key] = value
    return pairs


def _typed_param(key: str, value: str, whole: str) -> Any:
    """A request parameter's text as the type the request takes (int, bool or str)."""
    if key in _INT_PARAMS:
        try:
            return int(value)
        except ValueError:
            raise ValidationError(
                f"arm {whole.strip()!r}: {key}", value, "a whole number"
            ) from None
    if key in _BOOL_PARAMS:
        lowered = value.lower()
        if lowered in ("true", "yes", "1", "on"):
            return True
        if lowered in ("false", "no", "0", "off"):
            return False
        raise ValidationError(f"arm {whole.strip()!r}: {key}", value, "true or false")
    return value


def default_arm_name(arm: Arm) -> str:
    """The name an arm written without one gets: ``MODEL[@ENDPOINT][+as_is][+prefix...]``
    followed by ``:key=value,...`` for its parameters (the command line's form)."""
    name = arm.model
    if arm.endpoint != "generate":
        name += f"@{arm.endpoint}"
    if arm.prompt_variant:
        name += f"+{arm.prompt_variant}"
    if arm.prompt_transform is not None:
        name += f"+{arm.prompt_transform.label()}"
    if arm.params:
        name += ":" + ",".join(f"{k}={v}" for k, v in arm.params.items())
    return name


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


def _check_as_is(model: str, catalog: Catalog | None) -> None:
    """The AS-IS prefix asks a service not to rewrite the prompt: it is a control for the
    services that rewrite (OpenAI's). Gemini never rewrites, so on a Gemini arm the prefix
    would only add words to every prompt and the arm would measure nothing it claims to."""
    spec = (catalog or default_catalog()).get_model(model)
    if spec.provider == "gemini":
        raise ValidationError(
            "variant",
            "as_is",
            "no variant on Gemini models (they do not rewrite prompts; +as_is is a control "
            "for the services that do, such as dall-e-3)",
            model=model,
        )
