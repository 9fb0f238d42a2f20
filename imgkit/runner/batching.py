"""Batch mode's decisions before anything is sent: which arms go through a vendor's Batch API,
at which price, and how their requests are cut into batches.

An arm goes by batch when its provider has a batch mode in the catalog
(:mod:`imgkit.catalog.batch`) for its endpoint. The others run synchronously in the same run,
and the run says why (:attr:`BatchRoutes.synchronous`): a provider without batch mode
(Leonardo), a streamed arm (it measures the time to the first partial image, which only the
synchronous endpoint gives), or, under a budget, an arm without a price estimate (synchronously
it sends one request at a time until its first cost is known; a batch would send them all at
once on no estimate).

Requests are grouped by provider, model and endpoint (a batch names one model and one
endpoint), in plan order, and each group is cut at the vendor's limits of one input file
(:func:`chunk_generations`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from imgkit.catalog.batch import (
    BatchTerms,
    batch_ratio,
    batch_terms,
    describe_batch_price,
    estimate_batch_cost,
)
from imgkit.catalog.costs import CostEstimate, estimate_cost
from imgkit.catalog.models import Catalog
from imgkit.catalog.validation import ImageRequest
from imgkit.experiment.options import DrillOptions

__all__ = [
    "BatchRoutes",
    "arm_pricer",
    "batch_routes",
    "chunk_generations",
    "synchronous_note",
]

T = TypeVar("T")


@dataclass(frozen=True)
class BatchRoutes:
    """How each arm of a batch drill is sent."""

    #: arms sent in batches, with their provider's terms
    terms: dict[str, BatchTerms] = field(default_factory=dict)
    #: arms sent synchronously, with the reason
    synchronous: dict[str, str] = field(default_factory=dict)
    #: each batch arm's cost in a batch as a share of its synchronous cost
    ratios: dict[str, float] = field(default_factory=dict)
    #: each batch arm's batch price, where it comes from
    prices: dict[str, str] = field(default_factory=dict)

    def to_manifest(self, catalog: Catalog) -> dict[str, Any]:
        """The manifest's ``batch`` section: what goes by batch, at what price, and what not."""
        return {
            "arms": {
                arm: {
                    "provider": terms.provider,
                    "price_ratio": round(self.ratios[arm], 6),
                    "price": self.prices.get(arm) or terms.describe(catalog),
                    "completion_window": terms.completion_window,
                }
                for arm, terms in self.terms.items()
            },
            "synchronous": dict(self.synchronous),
        }


def batch_routes(
    options: DrillOptions,
    catalog: Catalog,
    requests: Mapping[tuple[str, int], ImageRequest],
) -> BatchRoutes:
    """Which arms of ``options`` go by batch (empty unless ``options.batch``), and why not."""
    routes = BatchRoutes()
    if not getattr(options, "batch", False):
        return routes
    for arm in options.arms:
        request = requests.get((arm.name, 0))
        if request is None:
            continue  # nothing of this arm to send (a resume of part of a run)
        spec = catalog.get_model(arm.model)
        terms = batch_terms(spec.provider, catalog)
        reason = None
        if terms is None:
            reason = f"{spec.provider} has no batch mode"
        elif arm.endpoint not in terms.endpoints:
            reason = f"{spec.provider}'s batch mode does not take the {arm.endpoint} endpoint"
        elif request.stream:
            reason = (
                "a streamed arm times its partial images, which only the synchronous endpoint sends"
            )
        elif options.budget is not None and any(
            estimate_cost(r, catalog).per_image is None
            for (name, _k), r in requests.items()
            if name == arm.name
        ):
            reason = (
                "no price estimate: under a budget it is sent one request at a time until its "
                "cost is known"
            )
        if reason is not None or terms is None:
            routes.synchronous[arm.name] = reason or f"{spec.provider} has no batch mode"
            continue
        routes.terms[arm.name] = terms
        routes.ratios[arm.name] = batch_ratio(request, catalog)
        routes.prices[arm.name] = describe_batch_price(spec, terms, catalog)
    return routes


def arm_pricer(
    routes: BatchRoutes, catalog: Catalog
) -> Callable[[str, ImageRequest], CostEstimate]:
    """The estimate of one request of an arm: at batch prices for a batch arm."""

    def price(arm: str, request: ImageRequest) -> CostEstimate:
        if arm in routes.terms:
            return estimate_batch_cost(request, catalog)
        return estimate_cost(request, catalog)

    return price


def chunk_generations(
    items: Iterable[T],
    key: Callable[[T], tuple[str, ...]],
    size: Callable[[T], int],
    *,
    max_requests: Callable[[tuple[str, ...]], int],
    max_bytes: Callable[[tuple[str, ...]], int],
) -> list[tuple[tuple[str, ...], list[T]]]:
    """Group ``items`` by ``key`` (first appearance first, plan order within), each group cut
    so that no chunk holds more than ``max_requests(key)`` items or ``max_bytes(key)`` bytes
    (``size`` of an item: the bytes of its line in the input file)."""
    groups: dict[tuple[str, ...], list[T]] = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    chunks: list[tuple[tuple[str, ...], list[T]]] = []
    for group_key, members in groups.items():
        limit_n, limit_b = max_requests(group_key), max_bytes(group_key)
        current: list[T] = []
        current_bytes = 0
        for item in members:
            item_bytes = size(item)
            if current and (len(current) >= limit_n or current_bytes + item_bytes > limit_b):
                chunks.append((group_key, current))
                current, current_bytes = [], 0
            current.append(item)
            current_bytes += item_bytes
        if current:
            chunks.append((group_key, current))
    return chunks


def synchronous_note(routes: BatchRoutes) -> Sequence[str]:
    """The lines a run prints about its arms that run synchronously."""
    return [
        f"imgkit drill: arm {arm} runs synchronously: {reason}"
        for arm, reason in routes.synchronous.items()
    ]
