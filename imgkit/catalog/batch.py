"""What the vendors' Batch APIs take and what they charge: the ``[batch.PROVIDER]`` tables.

A batch is a file of requests the vendor runs within a completion window (24 hours) at a
discount. The catalog says, per provider, the share of the synchronous price a batch request
costs (``price_factor``, with its source and date like every price), the endpoints a batch can
carry and the limits of one input file; a model may have batch figures of its own
(``batch_price``, same shape as ``price``), which win over the factor. A provider without a
table (Leonardo) has no batch mode.

:func:`estimate_batch_cost` is :func:`imgkit.catalog.costs.estimate_cost` at batch prices, and
:func:`batch_ratio` the factor that turns a synchronous cost (a response's ``usage`` priced at
the synchronous rates) into what the batch was billed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from imgkit.catalog.costs import CostEstimate, estimate_cost
from imgkit.catalog.models import Catalog, ModelSpec, default_catalog
from imgkit.catalog.validation import ImageRequest
from imgkit.errors import CatalogError

__all__ = [
    "BatchTerms",
    "batch_providers",
    "batch_ratio",
    "batch_spec",
    "batch_terms",
    "describe_batch_price",
    "estimate_batch_cost",
]


@dataclass(frozen=True)
class BatchTerms:
    """One provider's Batch API: discount, endpoints, limits of one input file, sources."""

    provider: str
    price_factor: float
    source: str
    as_of: str
    endpoints: tuple[str, ...]
    completion_window: str
    max_requests: int
    max_bytes: int
    limits_source: str
    limits_note: str | None = None

    def describe(self, catalog: Catalog | None = None) -> str:
        """The discount and where it comes from, for notes and manifests."""
        catalog = catalog or default_catalog()
        share = f"{self.price_factor:.0%}"
        return (
            f"batch price: {share} of the synchronous price "
            f"({catalog.describe_source(self.source)}, as of {self.as_of})"
        )

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["endpoints"] = list(self.endpoints)
        return data


_REQUIRED = ("price_factor", "source", "as_of", "endpoints", "max_requests", "max_bytes")


def _parse_terms(provider: str, raw: Mapping[str, Any]) -> BatchTerms:
    where = f"[batch.{provider}]"
    missing = [key for key in _REQUIRED if key not in raw]
    if missing:
        raise CatalogError(f"{where} is missing {missing}")
    factor = raw["price_factor"]
    if isinstance(factor, bool) or not isinstance(factor, int | float) or not 0 < factor <= 1:
        raise CatalogError(f"{where}: price_factor {factor!r} is not a share in (0, 1]")
    for key in ("max_requests", "max_bytes"):
        value = raw[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise CatalogError(f"{where}: {key} {value!r} is not a whole number >= 1")
    endpoints = raw["endpoints"]
    if not isinstance(endpoints, list) or not all(isinstance(e, str) for e in endpoints):
        raise CatalogError(f"{where}: endpoints {endpoints!r} is not a list of endpoint names")
    return BatchTerms(
        provider=provider,
        price_factor=float(factor),
        source=str(raw["source"]),
        as_of=str(raw["as_of"]),
        endpoints=tuple(endpoints),
        completion_window=str(raw.get("completion_window", "24h")),
        max_requests=int(raw["max_requests"]),
        max_bytes=int(raw["max_bytes"]),
        limits_source=str(raw.get("limits_source", raw["source"])),
        limits_note=raw.get("limits_note"),
    )


def batch_terms(provider: str, catalog: Catalog | None = None) -> BatchTerms | None:
    """The Batch API terms of ``provider``, or None when it has no batch mode.

    Raises :class:`~imgkit.errors.CatalogError` when the catalog's table is malformed."""
    catalog = catalog or default_catalog()
    raw = catalog.batch.get(provider)
    return None if raw is None else _parse_terms(provider, raw)


def batch_providers(catalog: Catalog | None = None) -> list[str]:
    """The providers that have a batch mode."""
    catalog = catalog or default_catalog()
    return sorted(catalog.batch)


def _scaled(value: float | None, factor: Decimal) -> float | None:
    return None if value is None else float(Decimal(str(value)) * factor)


def batch_spec(spec: ModelSpec, terms: BatchTerms) -> ModelSpec:
    """``spec`` with its batch price in place of its price: its own ``batch_price`` if it has
    one, else every figure of ``price`` times the provider's factor (the note says which)."""
    if spec.batch_price is not None:
        return dataclasses.replace(spec, price=spec.batch_price)
    factor = Decimal(str(terms.price_factor))
    price = spec.price
    scaled = dataclasses.replace(
        price,
        table={
            q: {k: _scaled(v, factor) for k, v in row.items()} for q, row in price.table.items()
        },
        text_input_per_million=_scaled(price.text_input_per_million, factor),
        image_input_per_million=_scaled(price.image_input_per_million, factor),
        image_output_per_million=_scaled(price.image_output_per_million, factor),
        source=terms.source,
        as_of=terms.as_of,
        note="; ".join(
            n
            for n in (
                f"{terms.price_factor:.0%} of the synchronous price ({price.source}, as of "
                f"{price.as_of})",
                price.note,
            )
            if n
        ),
    )
    return dataclasses.replace(spec, price=scaled)


def _batch_catalog(catalog: Catalog, spec: ModelSpec) -> Catalog:
    """A one-model catalog whose price for ``spec`` is its batch price (for estimate_cost)."""
    return Catalog(
        {spec.name: spec},
        catalog.output_tokens,
        catalog.sources,
        catalog.version,
        catalog.price_overrides,
        catalog.batch,
    )


def describe_batch_price(spec: ModelSpec, terms: BatchTerms, catalog: Catalog | None = None) -> str:
    """Where ``spec``'s batch price comes from: its own batch figures, or the provider's
    factor (with source and date either way)."""
    catalog = catalog or default_catalog()
    own = spec.batch_price
    if own is None:
        return terms.describe(catalog)
    return (
        f"batch price: {spec.name}'s own batch figures ({catalog.describe_source(own.source)}, "
        f"as of {own.as_of})"
    )


def estimate_batch_cost(request: ImageRequest, catalog: Catalog | None = None) -> CostEstimate:
    """What ``request`` will cost sent through its provider's Batch API.

    Raises :class:`~imgkit.errors.CatalogError` when the provider has no batch mode."""
    catalog = catalog or default_catalog()
    spec = catalog.get_model(request.model)
    terms = batch_terms(spec.provider, catalog)
    if terms is None:
        raise CatalogError(f"{spec.provider} has no batch mode in the catalog")
    estimate = estimate_cost(request, _batch_catalog(catalog, batch_spec(spec, terms)))
    note = "; ".join(n for n in (describe_batch_price(spec, terms, catalog), estimate.note) if n)
    return dataclasses.replace(estimate, note=note)


def batch_ratio(request: ImageRequest, catalog: Catalog | None = None) -> float:
    """What one image of ``request`` costs in a batch, as a share of its synchronous cost.

    The provider's factor, or, for a model with batch figures of its own, their ratio to the
    synchronous figures for this request (the factor when either has no figure)."""
    catalog = catalog or default_catalog()
    spec = catalog.get_model(request.model)
    terms = batch_terms(spec.provider, catalog)
    if terms is None:
        raise CatalogError(f"{spec.provider} has no batch mode in the catalog")
    if spec.batch_price is None:
        return terms.price_factor
    synchronous = estimate_cost(request, catalog).per_image
    batch = estimate_batch_cost(request, catalog).per_image
    if not synchronous or batch is None:
        return terms.price_factor
    return batch / synchronous
