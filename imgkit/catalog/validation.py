"""Request validation: reject, before any network call and without cost, what the service would.

:func:`validate_request` returns an :class:`ImageRequest`, the one normalized request object
that the cost engine, the providers, the simulator and the runner all take. Every rejection is a
:class:`~imgkit.errors.ValidationError` naming the parameter, the value and what is allowed.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, fields
from typing import Any, Literal

from imgkit.catalog.models import Catalog, ModelSpec, default_catalog, parse_size
from imgkit.errors import RetiredModelError, ValidationError, check_argument

__all__ = ["ENDPOINTS", "ImageRequest", "check_size", "validate_request"]

Backend = Literal["sim", "live"]
ENDPOINTS = ("generate", "edit", "responses")
BACKENDS = ("sim", "live")
# Formats that carry an alpha channel or a lossy quality knob, per the Images API.
_ALPHA_FORMATS = ("png", "webp")
_COMPRESSIBLE_FORMATS = ("webp", "jpeg")


@dataclass(frozen=True)
class ImageRequest:
    """A validated image request. Optional fields left None are not sent to the service."""

    model: str
    prompt: str
    endpoint: str = "generate"
    size: str = "1024x1024"
    quality: str | None = None
    style: str | None = None
    n: int = 1
    response_format: str | None = None
    output_format: str | None = None
    background: str | None = None
    output_compression: int | None = None
    moderation: str | None = None
    input_fidelity: str | None = None
    seed: int | None = None
    stream: bool | None = None
    partial_images: int | None = None

    @property
    def spec(self) -> ModelSpec:
        """The model's catalog entry (default catalog)."""
        return default_catalog().get_model(self.model)

    @property
    def width_height(self) -> tuple[int, int] | None:
        """(width, height), or None for size 'auto'."""
        return parse_size(self.size)

    def to_dict(self) -> dict[str, Any]:
        """Every field, None included, for manifests and ledgers."""
        # What dataclasses.asdict gives, without its deep copy: every field is a str, an int,
        # a bool or None. A drill asks for it once a request sent and once a plan entry, and
        # asdict took 0.3 ms of the runner's few milliseconds an image.
        return {name: getattr(self, name) for name in _REQUEST_FIELDS}

    def params(self) -> dict[str, Any]:
        """The request's parameters other than model and prompt, without the unset ones."""
        return {
            k: v
            for k, v in self.to_dict().items()
            if v is not None and k not in ("model", "prompt", "endpoint")
        }


_REQUEST_FIELDS = tuple(f.name for f in fields(ImageRequest))


def check_size(spec: ModelSpec, size: Any) -> str:
    """Return ``size`` if ``spec`` accepts it, else raise :class:`ValidationError`."""
    if not isinstance(size, str):
        raise ValidationError("size", size, "a string 'WxH'", model=spec.name)
    allowed = spec.allowed_sizes()
    if size in allowed:
        return size
    rule = spec.size_rule
    wh = parse_size(size)
    if rule is not None and rule.kind == "free" and wh is not None:
        problem = rule.violation(*wh)
        if problem is None:
            return size
        raise ValidationError(
            "size",
            size,
            f"{', '.join(allowed)}, or {rule.describe()}",
            model=spec.name,
            detail=problem,
        )
    if rule is not None and rule.kind == "free":
        raise ValidationError(
            "size", size, f"{', '.join(allowed)}, or {rule.describe()}", model=spec.name
        )
    raise ValidationError("size", size, allowed, model=spec.name)


def _check_int(param: str, value: Any, low: int, high: int, model: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        allowed = f"only {low}" if low == high else f"an integer from {low} to {high}"
        raise ValidationError(param, value, allowed, model=model)
    return value


def _check_optional(param: str, value: Any, allowed: tuple[str, ...], model: str) -> Any:
    """None passes; otherwise the value must be allowed, and an empty list means 'not taken'."""
    if value is None:
        return None
    if not allowed:
        raise ValidationError(param, value, "nothing (this model does not take it)", model=model)
    return check_argument(param, value, allowed, model=model)


#: C0 and C1 control characters other than tab, newline and carriage return, and DEL.
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def validate_request(
    model: str,
    prompt: Any = None,
    *,
    endpoint: str = "generate",
    backend: Backend = "sim",
    size: str | None = None,
    quality: str | None = None,
    style: str | None = None,
    n: int = 1,
    response_format: str | None = None,
    output_format: str | None = None,
    background: str | None = None,
    output_compression: int | None = None,
    moderation: str | None = None,
    input_fidelity: str | None = None,
    seed: int | None = None,
    stream: bool | None = None,
    partial_images: int | None = None,
    catalog: Catalog | None = None,
    today: dt.date | None = None,
) -> ImageRequest:
    """Check a request against the model's catalog entry and return it normalized.

    ``size`` and ``quality`` default to the model's defaults, so that the cost of the request is
    known before it is sent. ``backend="live"`` additionally rejects models whose vendor has shut
    them down (:class:`RetiredModelError`, naming the date and the replacement); the simulator
    still plays them.

    Raises :class:`~imgkit.errors.ValidationError` (or a subclass) for the first problem found.
    """
    catalog = catalog or default_catalog()
    check_argument("backend", backend, BACKENDS)
    spec = catalog.get_model(model)
    if backend == "live" and model != spec.name:
        from imgkit.catalog.aliases import aliases

        alias = aliases().get(model)
        if alias is not None and alias.retired(today):
            raise RetiredModelError(model, alias.retired_on(), spec.name)
    if backend == "live" and spec.status(today) == "retired":
        raise RetiredModelError(
            spec.name, spec.lifecycle.shutdown_on.isoformat(), spec.lifecycle.replacement
        )
    check_argument("endpoint", endpoint, spec.endpoints, model=model)

    if not isinstance(prompt, str) or not prompt.strip():
        raise ValidationError("prompt", prompt, "a non-empty string", model=model)
    control = _CONTROL_CHARACTERS.search(prompt)
    if control:
        # The services refuse them too; refused here they are never paid for, nor written into
        # a ledger or a report.
        raise ValidationError(
            "prompt",
            f"<text with {control.group()!r} at position {control.start()}>",
            "text without control characters (newlines and tabs are fine)",
            model=model,
        )
    if len(prompt) > spec.max_prompt_chars:
        raise ValidationError(
            "prompt",
            f"<{len(prompt):,} characters>",
            f"at most {spec.max_prompt_chars:,} characters",
            model=model,
        )

    size = check_size(spec, spec.default_size if size is None else size)
    quality = check_argument(
        "quality",
        spec.default_quality if quality is None else quality,
        spec.qualities,
        model=model,
    )
    style = _check_optional("style", style, spec.styles, model)
    if spec.styles and style is None:
        style = spec.default_style
    n = _check_int("n", n, 1, spec.n_max, model)
    response_format = _check_optional(
        "response_format", response_format, spec.response_formats, model
    )
    if output_format is not None and spec.provider == "openai" and spec.family == "dall-e":
        # DALL-E answers PNG only and has no output_format parameter at all.
        raise ValidationError(
            "output_format", output_format, "nothing (this model does not take it)", model=model
        )
    if output_format is not None:
        check_argument("output_format", output_format, spec.output_formats, model=model)
    background = _check_optional("background", background, spec.backgrounds, model)
    moderation = _check_optional("moderation", moderation, spec.moderations, model)

    if output_compression is not None:
        if spec.family == "dall-e" or spec.provider != "openai":
            raise ValidationError(
                "output_compression",
                output_compression,
                "nothing (this model does not take it)",
                model=model,
            )
        _check_int("output_compression", output_compression, 0, 100, model)
        if output_format not in _COMPRESSIBLE_FORMATS:
            raise ValidationError(
                "output_compression",
                output_compression,
                f"only with output_format in {_COMPRESSIBLE_FORMATS}",
                model=model,
                detail=f"output_format is {output_format!r}",
            )
    if background == "transparent" and (output_format or "png") not in _ALPHA_FORMATS:
        raise ValidationError(
            "background",
            background,
            f"'transparent' only with output_format in {_ALPHA_FORMATS}",
            model=model,
            detail=f"output_format is {output_format!r}",
        )

    if input_fidelity is not None:
        if endpoint != "edit":
            raise ValidationError(
                "input_fidelity", input_fidelity, "only on the edit endpoint", model=model
            )
        _check_optional("input_fidelity", input_fidelity, spec.input_fidelities, model)
    if seed is not None:
        if not spec.takes_seed:
            raise ValidationError(
                "seed", seed, "nothing (this model does not take a seed)", model=model
            )
        _check_int("seed", seed, 0, 2**31 - 1, model)
    stream, partial_images = _check_stream(spec, endpoint, stream, partial_images, output_format)

    return ImageRequest(
        model=spec.name,
        prompt=prompt,
        endpoint=endpoint,
        size=size,
        quality=quality,
        style=style,
        n=n,
        response_format=response_format,
        output_format=output_format,
        background=background,
        output_compression=output_compression,
        moderation=moderation,
        input_fidelity=input_fidelity,
        seed=seed,
        stream=stream,
        partial_images=partial_images,
    )


def _check_stream(
    spec: ModelSpec,
    endpoint: str,
    stream: Any,
    partial_images: Any,
    output_format: str | None,
) -> tuple[bool | None, int | None]:
    """``stream`` (True, or None/False for a plain request) and ``partial_images``, checked.

    Partial images exist only on a stream, only on models that send them (0 to the catalog's
    ``max_partial_images``), and not for GIF or SVG output (the SDK's ``output_format``
    docstring: GIF output does not stream partial images).
    """
    model = spec.name
    if stream not in (None, False, True):
        raise ValidationError("stream", stream, [True, False], model=model)
    if stream and not spec.streams(endpoint):
        where = f"on the {endpoint} endpoint" if spec.stream_on else "at all"
        raise ValidationError(
            "stream", stream, "False (this model does not stream " + where + ")", model=model
        )
    if partial_images is None:
        return (True if stream else None), None
    if not stream:
        raise ValidationError(
            "partial_images", partial_images, "only together with stream=True", model=model
        )
    if not spec.max_partial_images:
        raise ValidationError(
            "partial_images", partial_images, "nothing (this model sends no partial images)",
            model=model,
        )  # fmt: skip
    _check_int("partial_images", partial_images, 0, spec.max_partial_images, model)
    if partial_images and output_format in ("gif", "svg"):
        raise ValidationError(
            "partial_images", partial_images, f"0 for output_format {output_format!r}",
            model=model,
        )  # fmt: skip
    return True, partial_images
