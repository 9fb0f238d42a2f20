"""What a drill will send and what it is estimated to cost, before anything is sent."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from imgkit.catalog.costs import CostEstimate, basis_words, estimate_cost
from imgkit.catalog.models import Catalog, default_catalog
from imgkit.catalog.validation import ImageRequest
from imgkit.experiment.options import DrillOptions
from imgkit.runner.batching import BatchRoutes, arm_pricer
from imgkit.runs.ledger import PlannedGeneration

__all__ = [
    "Planned",
    "describe_estimate",
    "estimate_plan",
    "estimate_requests",
    "plan_generations",
    "plan_requests",
]


@dataclass(frozen=True)
class Planned:
    """A planned generation with its validated request, ready to send."""

    generation: PlannedGeneration
    request: ImageRequest


def plan_requests(options: DrillOptions, catalog: Catalog) -> dict[tuple[str, int], ImageRequest]:
    """The validated request of each arm and prompt (by arm name and prompt index)."""
    return {
        (arm.name, k): arm.request(
            prompt, backend=options.backend, defaults=options.defaults(), catalog=catalog
        )
        for arm in options.arms
        for k, prompt in enumerate(options.prompts)
    }


def plan_generations(
    options: DrillOptions,
    catalog: Catalog,
    requests: Mapping[tuple[str, int], ImageRequest] | None = None,
    routes: BatchRoutes | None = None,
) -> list[Planned]:
    """Every generation of the drill, validated, in sending order; each with its estimate (at
    batch prices for the arms ``routes`` sends in batches).

    Repeats are the outer loop, so arms advance together and a run stopped early (budget,
    Ctrl-C) still holds a balanced sample of every arm.
    """
    if requests is None:
        requests = plan_requests(options, catalog)
    price = arm_pricer(routes or BatchRoutes(), catalog)
    estimates = {key: price(key[0], request).per_image for key, request in requests.items()}
    providers = {arm.model: catalog.get_model(arm.model).provider for arm in options.arms}
    plan: list[Planned] = []
    for repeat in range(options.n):
        for k, prompt in enumerate(options.prompts):
            for arm in options.arms:
                request = requests[(arm.name, k)]
                generation = PlannedGeneration(
                    gen_id=len(plan),
                    arm=arm.name,
                    model=arm.model,
                    provider=providers[arm.model],
                    endpoint=arm.endpoint,
                    prompt_id=f"p{k}",
                    prompt=prompt,
                    sent_prompt=request.prompt,
                    repeat=repeat,
                    request=request.to_dict(),
                    estimated_usd=estimates[(arm.name, k)],
                )
                plan.append(Planned(generation, request))
    return plan


def estimate_plan(
    generations: Sequence[PlannedGeneration],
    catalog: Catalog | None = None,
    routes: BatchRoutes | None = None,
) -> dict[str, Any]:
    """The estimated cost of ``generations``: total, per arm, and what could not be priced.

    ``total_usd`` covers the priced generations only; ``unpriced`` counts the others (their
    cost will come from the responses), so an estimate is never a silent $0. The arms
    ``routes`` sends in batches are priced at batch prices.
    """
    catalog = catalog or default_catalog()
    first: dict[str, PlannedGeneration] = {}
    counts: dict[tuple[str, float | None], int] = {}
    for g in generations:
        first.setdefault(g.arm, g)
        counts[(g.arm, g.estimated_usd)] = counts.get((g.arm, g.estimated_usd), 0) + 1
    return _estimate(
        {arm: (g.model, ImageRequest(**g.request)) for arm, g in first.items()},
        ((arm, each, count) for (arm, each), count in counts.items()),
        catalog,
        routes,
    )


def estimate_requests(
    options: DrillOptions,
    requests: Mapping[tuple[str, int], ImageRequest],
    catalog: Catalog | None = None,
    routes: BatchRoutes | None = None,
) -> dict[str, Any]:
    """What :func:`estimate_plan` would say of the whole drill, from its requests alone: a
    budget can refuse a huge run before its plan takes any memory."""
    catalog = catalog or default_catalog()
    price = arm_pricer(routes or BatchRoutes(), catalog)
    models = {arm.name: arm.model for arm in options.arms}
    firsts = {arm: (models[arm], request) for (arm, k), request in requests.items() if k == 0}
    return _estimate(
        firsts,
        (
            (arm, price(arm, request).per_image, options.n)
            for (arm, _k), request in requests.items()
        ),
        catalog,
        routes,
    )


def _estimate(
    firsts: Mapping[str, tuple[str, ImageRequest]],
    counted: Iterable[tuple[str, float | None, int]],
    catalog: Catalog,
    routes: BatchRoutes | None = None,
) -> dict[str, Any]:
    """The estimate from (arm, price of one image or None, how many) entries; ``firsts`` gives
    each arm's model and a request that describes its price (basis, source, date). A batch
    arm's entry says so, with its synchronous price beside (``synchronous_usd`` totals them)."""
    routes = routes or BatchRoutes()
    price = arm_pricer(routes, catalog)
    per_arm: dict[str, dict[str, Any]] = {}
    synchronous_each: dict[str, float | None] = {}
    for arm, (model, request) in firsts.items():
        est: CostEstimate = price(arm, request)
        per_arm[arm] = {
            "model": model,
            "images": 0,
            "per_image_usd": est.per_image,
            "total_usd": 0.0 if est.per_image is not None else None,
            "basis": est.basis,
            "note": est.note,
            "source": est.source,
            "as_of": est.as_of,
        }
        if arm in routes.terms:
            per_arm[arm]["mode"] = "batch"
            synchronous_each[arm] = estimate_cost(request, catalog).per_image
            per_arm[arm]["synchronous_per_image_usd"] = synchronous_each[arm]
    total = 0.0
    synchronous = 0.0
    unpriced = 0
    for arm, each, count in counted:
        entry = per_arm[arm]
        entry["images"] += count
        if each is None:
            unpriced += count
        else:
            entry["total_usd"] = (entry["total_usd"] or 0.0) + each * count
            total += each * count
            same = synchronous_each.get(arm, each) if arm in synchronous_each else each
            synchronous += (same or 0.0) * count
    estimate: dict[str, Any] = {"total_usd": round(total, 6), "unpriced": unpriced}
    if routes.terms:
        estimate["synchronous_usd"] = round(synchronous, 6)
    estimate["per_arm"] = per_arm
    return estimate


def describe_estimate(
    estimate: Mapping[str, Any], images: int, label: str, budget: float | None = None
) -> list[str]:
    """The estimate as the lines a drill prints before it sends anything."""
    head = f"imgkit drill: {label} {images} image(s), estimated ${estimate['total_usd']:.4f}"
    if estimate.get("synchronous_usd") is not None:
        head += (
            f" with batch prices for the arms sent in batches (the same synchronously: "
            f"${estimate['synchronous_usd']:.4f})"
        )
    lines = [head]
    for arm, entry in estimate["per_arm"].items():
        each = entry["per_image_usd"]
        basis = basis_words(entry["basis"])
        price = "no estimate" if each is None else f"${each:.4f} each ({basis})"
        if entry.get("mode") == "batch":
            price += ", in batches"
        lines.append(f"  {arm}: {entry['images']} x {price}")
    if estimate["unpriced"]:
        lines.append(
            f"  {estimate['unpriced']} image(s) have no price figure: their cost will be taken "
            "from the responses and is not in the estimate"
        )
        if budget is not None:
            lines.append(
                "  under the budget, each arm sends one request at a time until an image's "
                "actual cost is known, then reserves that much for each request in flight"
            )
    return lines
