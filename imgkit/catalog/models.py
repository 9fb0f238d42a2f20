"""The model catalog: what each image model accepts, how it bills, and where it is in its life.

The data lives in ``imgkit/catalog/data/catalog.toml``; this module turns it into frozen, typed
specs. A user price file (same shape as a model's ``price`` table, keyed by model name) overrides
any
price::

    # my-prices.toml
    [prices."dall-e-3"]
    source = "our OpenAI invoice, November"
    as_of = "2026-11-01"
    [prices."dall-e-3".table.standard]
    "1024x1024" = 0.035

Load it with ``load_catalog(price_file="my-prices.toml")``, ``--prices`` on the command line, or
the ``IMGKIT_PRICES`` environment variable.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import math
import os
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from imgkit.errors import CatalogError, UnknownModelError

__all__ = [
    "Catalog",
    "Lifecycle",
    "ModelSpec",
    "PriceSchedule",
    "SizeRule",
    "default_catalog",
    "get_model",
    "load_catalog",
    "parse_size",
]

Provider = Literal["openai", "gemini", "leonardo"]
Status = Literal["active", "deprecated", "retired"]

_SIZE_PATTERN = re.compile(r"^(\d+)x(\d+)$")


def parse_size(size: str) -> tuple[int, int] | None:
    """Return (width, height) for a "WxH" string, or None when it is not of that form."""
    match = _SIZE_PATTERN.match(size) if isinstance(size, str) else None
    return (int(match.group(1)), int(match.group(2))) if match else None


@dataclass(frozen=True)
class Lifecycle:
    """Deprecation and shutdown dates, and the model to move to."""

    shutdown_on: dt.date | None = None
    deprecated: bool = False
    replacement: str | None = None
    note: str | None = None
    source: str | None = None

    def status(self, today: dt.date | None = None) -> Status:
        """'retired' from the shutdown day on; 'deprecated' when a shutdown is announced."""
        today = today or dt.date.today()
        if self.shutdown_on and today >= self.shutdown_on:
            return "retired"
        if self.shutdown_on or self.deprecated:
            return "deprecated"
        return "active"


@dataclass(frozen=True)
class SizeRule:
    """A rule for sizes beyond a fixed list (free WxH, or Gemini's aspect ratio x tier)."""

    name: str
    kind: Literal["free", "gemini"]
    multiple_of: int = 1
    max_aspect: float | None = None
    max_long_edge: int | None = None
    min_edge: int | None = None
    max_edge: int | None = None
    min_pixels: int | None = None
    max_pixels: int | None = None
    aspect_1k: Mapping[str, str] = field(default_factory=dict)
    tier_scale: Mapping[str, float] = field(default_factory=dict)
    source: str | None = None

    def describe(self) -> str:
        """A one-line description of the rule, for error messages."""
        if self.kind == "gemini":
            return "a size from the aspect-ratio table at the model's tiers (imgkit models --sizes)"
        parts = [f"WxH with both sides divisible by {self.multiple_of}"]
        if self.min_edge or self.max_edge:
            parts.append(f"each side {self.min_edge or 1}..{self.max_edge}")
        if self.max_aspect:
            parts.append(f"aspect at most {self.max_aspect:g}:1")
        if self.max_long_edge:
            parts.append(f"long side at most {self.max_long_edge}")
        if self.min_pixels or self.max_pixels:
            parts.append(f"{self.min_pixels or 0:,}..{self.max_pixels:,} pixels")
        return ", ".join(parts)

    def violation(self, width: int, height: int) -> str | None:
        """Why (width, height) breaks a free rule, or None when it fits."""
        long, short = max(width, height), min(width, height)
        if width % self.multiple_of or height % self.multiple_of:
            return f"sides must be divisible by {self.multiple_of}"
        if self.min_edge and short < self.min_edge:
            return f"each side must be at least {self.min_edge}"
        if self.max_edge and long > self.max_edge:
            return f"each side must be at most {self.max_edge}"
        if self.max_aspect and long > self.max_aspect * short:
            return f"aspect ratio must be at most {self.max_aspect:g}:1"
        if self.max_long_edge and long > self.max_long_edge:
            return f"the long side must be at most {self.max_long_edge}"
        if self.max_pixels and width * height > self.max_pixels:
            return f"at most {self.max_pixels:,} pixels"
        if self.min_pixels and width * height < self.min_pixels:
            return f"at least {self.min_pixels:,} pixels"
        return None

    def gemini_sizes(self, tiers: tuple[str, ...]) -> dict[str, tuple[str, str]]:
        """{"WxH": (aspect ratio, tier)} for the given tiers."""
        table: dict[str, tuple[str, str]] = {}
        for tier in tiers:
            scale = self.tier_scale[tier]
            for aspect, base in self.aspect_1k.items():
                w, h = parse_size(base)  # type: ignore[misc]
                table[f"{round(w * scale)}x{round(h * scale)}"] = (aspect, tier)
        return table


@dataclass(frozen=True)
class PriceSchedule:
    """How a model bills, with the source and date of the figures.

    ``kind="per_image"``: ``table[quality][size or tier]`` in USD per image ("*" for any size).
    ``kind="per_token"``: USD per million text-input, image-input and image-output tokens, with
    ``output_tokens`` naming a token table or formula in the catalog.
    """

    kind: Literal["per_image", "per_token"]
    source: str
    as_of: str
    table: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    by: Literal["size", "tier"] = "size"
    text_input_per_million: float | None = None
    image_input_per_million: float | None = None
    image_output_per_million: float | None = None
    output_tokens: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class ModelSpec:
    """Everything imgkit knows about one model. Read it, don't build it: see :func:`get_model`."""

    name: str
    provider: Provider
    family: str
    endpoints: tuple[str, ...]
    sizes: tuple[str, ...]
    default_size: str
    qualities: tuple[str, ...]
    default_quality: str
    n_max: int
    output_formats: tuple[str, ...]
    max_prompt_chars: int
    price: PriceSchedule
    lifecycle: Lifecycle = field(default_factory=Lifecycle)
    styles: tuple[str, ...] = ()
    default_style: str | None = None
    response_formats: tuple[str, ...] = ()
    backgrounds: tuple[str, ...] = ()
    moderations: tuple[str, ...] = ()
    input_fidelities: tuple[str, ...] = ()
    revised_prompt_on: tuple[str, ...] = ()
    takes_seed: bool = False
    size_rule: SizeRule | None = None
    tiers: tuple[str, ...] = ()
    snapshot: str | None = None
    vendor_model_id: str | None = None
    rate_limit: Mapping[str, Any] = field(default_factory=dict)
    stream_on: tuple[str, ...] = ()
    max_partial_images: int = 0
    #: what a request through the vendor's Batch API costs, where the catalog has figures of
    #: its own for it; otherwise the provider's batch ``price_factor`` applies to ``price``
    #: (see :mod:`imgkit.catalog.batch`)
    batch_price: PriceSchedule | None = None

    def status(self, today: dt.date | None = None) -> Status:
        """'active', 'deprecated' or 'retired' on the given day (default: today)."""
        return self.lifecycle.status(today)

    def streams(self, endpoint: str = "generate") -> bool:
        """Whether the service can stream its answer on that endpoint."""
        return endpoint in self.stream_on

    def returns_revised_prompt(self, endpoint: str = "generate") -> bool:
        """Whether the service reports its rewrite of the prompt on that endpoint."""
        return endpoint in self.revised_prompt_on

    @property
    def billing(self) -> str:
        return self.price.kind

    def allowed_sizes(self) -> tuple[str, ...]:
        """The explicit sizes: the fixed list, plus the Gemini table at the model's tiers."""
        if self.size_rule and self.size_rule.kind == "gemini":
            return tuple(self.size_rule.gemini_sizes(self.tiers))
        return self.sizes

    def gemini_aspect_and_tier(self, size: str) -> tuple[str, str]:
        """The (aspect ratio, tier) Gemini needs for a size of this model's table."""
        if not self.size_rule or self.size_rule.kind != "gemini":
            raise CatalogError(f"{self.name} is not a Gemini model")
        return self.size_rule.gemini_sizes(self.tiers)[size]


class Catalog(Mapping[str, ModelSpec]):
    """All models, by name. Behaves as a read-only mapping."""

    def __init__(
        self,
        models: Mapping[str, ModelSpec],
        output_tokens: Mapping[str, Mapping[str, Any]],
        sources: Mapping[str, str],
        version: str,
        price_overrides: tuple[str, ...] = (),
        batch: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self._models = dict(models)
        self.output_tokens = dict(output_tokens)
        self.sources = dict(sources)
        self.version = version
        self.price_overrides = price_overrides
        #: the ``[batch.PROVIDER]`` tables as written (read by :mod:`imgkit.catalog.batch`)
        self.batch = {name: dict(terms) for name, terms in (batch or {}).items()}

    def __getitem__(self, name: str) -> ModelSpec:
        return self._models[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._models)

    def __len__(self) -> int:
        return len(self._models)

    def get_model(self, name: str) -> ModelSpec:
        """The spec of ``name``; :class:`UnknownModelError` listing known names otherwise."""
        try:
            return self._models[name]
        except (KeyError, TypeError):
            pass
        from imgkit.catalog.aliases import aliases, nearest_names

        alias = aliases().get(name) if isinstance(name, str) else None
        if alias is not None and alias.model in self._models:
            return self._models[alias.model]  # a preview or experimental name of an entry
        known = sorted(self._models)
        raise UnknownModelError(name, known, nearest=nearest_names(name, [*known, *aliases()]))

    def live_models(self, today: dt.date | None = None) -> list[ModelSpec]:
        """Models that can still be called live (active or deprecated but not shut down)."""
        return [m for m in self._models.values() if m.status(today) != "retired"]

    def live_replacement(self, name: str, today: dt.date | None = None) -> str:
        """``name`` itself while it can be called live, else the model that replaces it.

        Follows the lifecycle's replacements (a replacement may itself have been retired since)
        until it reaches a model that is not retired: what a live run of an old drill should use.
        """
        seen = [name]
        spec = self.get_model(name)
        while spec.status(today) == "retired":
            replacement = spec.lifecycle.replacement
            if not replacement or replacement in seen:
                raise CatalogError(
                    f"{name} is retired and its replacements ({' -> '.join(seen)}) lead to no "
                    "live model"
                )
            seen.append(replacement)
            spec = self.get_model(replacement)
        return spec.name

    def describe_source(self, key: str) -> str:
        """The full text of a source key, or the key itself for a user-written source."""
        return self.sources.get(key, key)

    def with_prices(self, price_file: str | os.PathLike[str]) -> Catalog:
        """A copy of this catalog with ``price_file``'s prices in place of the built-in ones."""
        path = Path(price_file)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise CatalogError(f"price file {str(path)!r} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise CatalogError(
                f"price file {str(path)!r} cannot be read as a UTF-8 TOML file: {exc}"
            ) from None
        except tomllib.TOMLDecodeError as exc:
            raise CatalogError(f"price file {str(path)!r} is not valid TOML: {exc}") from None
        prices = data.get("prices")
        if not isinstance(prices, dict) or not prices:
            raise CatalogError(
                f'price file {str(path)!r} has no [prices."MODEL"] tables; '
                "see imgkit.catalog.models"
            )
        models = dict(self._models)
        # A file without dates is dated by when it was last written, not by the built-in table.
        written = dt.date.fromtimestamp(path.stat().st_mtime).isoformat()
        for name, raw in prices.items():
            spec = self.get_model(name)
            if not isinstance(raw, dict):
                raise CatalogError(f'price file {str(path)!r}: [prices."{name}"] is not a table')
            # The model's own batch figures were read against the catalog's price: with the
            # price overridden, batch requests cost the file's price at the provider's factor.
            models[name] = replace(
                spec, price=_override_price(spec, raw, str(path), written), batch_price=None
            )
        return Catalog(
            models,
            self.output_tokens,
            self.sources,
            self.version,
            (*self.price_overrides, str(path)),
            self.batch,
        )


def _price_to_raw(price: PriceSchedule) -> dict[str, Any]:
    return {k: v for k, v in price.__dict__.items() if v is not None}


def _override_price(
    spec: ModelSpec, raw: Mapping[str, Any], path: str, written: str
) -> PriceSchedule:
    """``spec``'s price with a price file's figures on top, cell by cell.

    A file may name a single cell (say dall-e-3 standard 1024x1024): the model's other
    qualities and sizes keep the catalog's figures, and the note says where each came from.
    Without its own ``source`` and ``as_of`` the override is credited to the file and dated
    by the file's last change.
    """
    base = spec.price
    _check_override_keys(spec, raw, path)
    merged = {**_price_to_raw(base), **raw}
    kind_changed = raw.get("kind", base.kind) != base.kind
    if "table" in raw and not isinstance(raw["table"], dict):
        raise CatalogError(f"{spec.name}: price table {raw['table']!r} is not a table")
    if "table" in raw and not kind_changed:
        table = {q: dict(row) for q, row in base.table.items()}
        for quality, row in raw["table"].items():
            if not isinstance(row, dict):
                raise CatalogError(f"{spec.name}: price table {quality!r} is not a table")
            table.setdefault(quality, {}).update(row)
        merged["table"] = table
    merged["source"] = str(raw.get("source", f"price file {path}"))
    merged["as_of"] = str(raw.get("as_of", written))
    if "note" not in raw and not kind_changed:
        overridden = ", ".join(sorted(k for k in raw if k not in ("source", "as_of")))
        merged["note"] = (
            f"{overridden or 'nothing'} from {path}; any other figure from the catalog "
            f"({base.source}, as of {base.as_of})"
        )
    return _parse_price(spec.name, merged)


def _check_override_keys(spec: ModelSpec, raw: Mapping[str, Any], path: str) -> None:
    """A price file's table for ``spec`` names only fields, qualities and sizes that exist: a
    misspelt key would otherwise be ignored in silence and the catalog's figure used."""
    where = f'price file {path!r}, [prices."{spec.name}"]'
    fields_allowed = sorted(f.name for f in dataclasses.fields(PriceSchedule))
    unknown = sorted(set(raw) - set(fields_allowed))
    if unknown:
        raise CatalogError(f"{where}: unknown key(s) {unknown}; allowed: {fields_allowed}")
    table = raw.get("table")
    if not isinstance(table, Mapping):
        return
    qualities = sorted({*spec.qualities, *spec.price.table})
    columns = sorted(
        {"*", *spec.sizes, *spec.tiers}
        | {size for row in spec.price.table.values() for size in row}
    )
    for quality, row in table.items():
        if quality not in qualities:
            raise CatalogError(
                f"{where}: unknown quality {quality!r} in its table; allowed: {qualities}"
            )
        if isinstance(row, Mapping):
            for size in row:
                if size not in columns:
                    raise CatalogError(
                        f"{where}: table.{quality} has unknown size or tier {size!r}; "
                        f"allowed: {columns}"
                    )


def _parse_price(model: str, raw: Mapping[str, Any]) -> PriceSchedule:
    try:
        kind = raw["kind"]
        if kind not in ("per_image", "per_token"):
            raise CatalogError(f"{model}: price kind {kind!r} is not per_image or per_token")
        price = PriceSchedule(
            kind=kind,
            source=str(raw["source"]),
            as_of=str(raw["as_of"]),
            table={q: dict(t) for q, t in raw.get("table", {}).items()},
            by=raw.get("by", "size"),
            text_input_per_million=raw.get("text_input_per_million"),
            image_input_per_million=raw.get("image_input_per_million"),
            image_output_per_million=raw.get("image_output_per_million"),
            output_tokens=raw.get("output_tokens"),
            note=raw.get("note"),
        )
    except KeyError as exc:
        raise CatalogError(f"{model}: price is missing {exc.args[0]!r}") from None
    if kind == "per_image" and not price.table:
        raise CatalogError(f"{model}: a per_image price needs a table")
    if kind == "per_token" and price.image_output_per_million is None:
        raise CatalogError(f"{model}: a per_token price needs image_output_per_million")
    for quality, row in price.table.items():
        for size, usd in row.items():
            if not _is_price(usd):
                raise CatalogError(
                    f"{model}: price {quality}/{size} = {usd!r} is not >= 0 and below 1e12 "
                    "(dollars per image)"
                )
    for key in ("text_input_per_million", "image_input_per_million", "image_output_per_million"):
        usd = getattr(price, key)
        if usd is not None and not _is_price(usd):
            raise CatalogError(f"{model}: {key} = {usd!r} is not a number >= 0 and below 1e12")
    return price


#: The bound on any price figure, as ``imgkit costs project --price`` has it: far above any real
#: price, and low enough that projections stay finite and exact.
MAX_PRICE_USD = 1e12


def _is_price(value: Any) -> bool:
    """A finite number of dollars >= 0 and below :data:`MAX_PRICE_USD` (TOML allows inf and nan
    and 1e308; prices do not)."""
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and 0 <= value < MAX_PRICE_USD
    )


def _parse_date(value: Any) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def _parse_model(name: str, raw: Mapping[str, Any], rules: Mapping[str, SizeRule]) -> ModelSpec:
    try:
        life = raw.get("lifecycle", {})
        rule_name = raw.get("size_rule")
        if rule_name is not None and rule_name not in rules:
            raise CatalogError(f"{name}: unknown size_rule {rule_name!r}")
        return ModelSpec(
            name=name,
            provider=raw["provider"],
            family=raw["family"],
            endpoints=tuple(raw["endpoints"]),
            sizes=tuple(raw.get("sizes", ())),
            default_size=raw["default_size"],
            qualities=tuple(raw["qualities"]),
            default_quality=raw["default_quality"],
            n_max=int(raw["n_max"]),
            output_formats=tuple(raw["output_formats"]),
            max_prompt_chars=int(raw["max_prompt_chars"]),
            price=_parse_price(name, raw["price"]),
            lifecycle=Lifecycle(
                shutdown_on=_parse_date(life.get("shutdown_on")),
                deprecated=bool(life.get("deprecated", False)),
                replacement=life.get("replacement"),
                note=life.get("note"),
                source=life.get("source"),
            ),
            styles=tuple(raw.get("styles", ())),
            default_style=raw.get("default_style"),
            response_formats=tuple(raw.get("response_formats", ())),
            backgrounds=tuple(raw.get("backgrounds", ())),
            moderations=tuple(raw.get("moderations", ())),
            input_fidelities=tuple(raw.get("input_fidelities", ())),
            revised_prompt_on=tuple(raw.get("revised_prompt_on", ())),
            takes_seed=bool(raw.get("seed", False)),
            size_rule=rules.get(rule_name) if rule_name else None,
            tiers=tuple(raw.get("tiers", ())),
            snapshot=raw.get("snapshot"),
            vendor_model_id=raw.get("vendor_model_id"),
            rate_limit=dict(raw.get("rate_limit", {})),
            stream_on=tuple(raw.get("stream_on", ())),
            max_partial_images=int(raw.get("max_partial_images", 0)),
            batch_price=(_parse_price(name, raw["batch_price"]) if "batch_price" in raw else None),
        )
    except KeyError as exc:
        raise CatalogError(f"model {name!r} is missing {exc.args[0]!r}") from None


def _parse_rule(name: str, raw: Mapping[str, Any]) -> SizeRule:
    fields = {k: v for k, v in raw.items() if k in SizeRule.__dataclass_fields__}
    return SizeRule(name=name, **fields)


def load_catalog(
    path: str | os.PathLike[str] | None = None,
    *,
    price_file: str | os.PathLike[str] | None = None,
) -> Catalog:
    """Load a catalog (the built-in one by default), with an optional price file on top.

    Raises :class:`CatalogError` when the file is malformed.
    """
    if path is None:
        text = resources.files("imgkit.catalog").joinpath("data/catalog.toml").read_text("utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"catalog is not valid TOML: {exc}") from None
    rules = {k: _parse_rule(k, v) for k, v in data.get("size_rules", {}).items()}
    models = {name: _parse_model(name, raw, rules) for name, raw in data["models"].items()}
    tables = data.get("output_tokens", {})
    for spec in models.values():
        if spec.price.output_tokens and spec.price.output_tokens not in tables:
            raise CatalogError(f"{spec.name}: unknown output_tokens {spec.price.output_tokens!r}")
        for replacement in (spec.lifecycle.replacement,):
            if replacement and replacement not in models:
                raise CatalogError(
                    f"{spec.name}: replacement {replacement!r} is not in the catalog"
                )
    catalog = Catalog(
        models,
        tables,
        data.get("sources", {}),
        data["catalog"]["version"],
        batch=data.get("batch", {}),
    )
    if price_file is not None:
        catalog = catalog.with_prices(price_file)
    return catalog


@functools.cache
def _builtin_catalog(price_file: str | None) -> Catalog:
    return load_catalog(price_file=price_file)


def default_catalog() -> Catalog:
    """The built-in catalog, with ``$IMGKIT_PRICES`` applied when set. Cached."""
    return _builtin_catalog(os.environ.get("IMGKIT_PRICES") or None)


def get_model(name: str, catalog: Catalog | None = None) -> ModelSpec:
    """The spec of a model of the default (or given) catalog."""
    return (catalog or default_catalog()).get_model(name)
