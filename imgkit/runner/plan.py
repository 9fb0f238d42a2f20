"""What a drill will send and what it is estimated to cost, before anything is sent."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from imgkit.catalog.costs import estimate_cost
from imgkit.catalog.models import Catalog, default_catalog
from imgkit.catalog.validation import ImageRequest
from imgkit.experiment.options import DrillOptions
from imgkit.runs.ledger import PlannedGeneration

__all__ = ["Planned", "describe_estimate", "estimate_plan", "plan_generations"]


@dataclass(frozen=True)
class Planned:
    """A planned generation with its validated request, ready to send."""

    generation: PlannedGeneration
    request: ImageRequest


def plan_generations(options: DrillOptions, catalog: Catalog) -> list[Planned]:
    """Every generation of the drill, validated, in sending order.

    Repeats are the outer loop, so arms advance together and a run stopped early (budget,
    Ctrl-C) still holds a balanced sample of every arm.
    """
    requests: dict[tuple[str, int], ImageRequest] = {}
    for arm in options.arms:
        for k, prompt in enumerate(options.prompts):
            requests[(arm.name, k)] = arm.request(
                prompt, backend=options.backend, defaults=options.defaults(), catalog=catalog
            )
    plan: list[Planned] = []
    for repeat in range(options.n):
        for k, prompt in enumerate(options.prompts):
            for arm in options.arms:
                request = requests[(arm.name, k)]
                estimate = estimate_cost(request, catalog)
                generation = PlannedGeneration(
                    gen_id=len(plan),
                    arm=arm.name,
                    model=arm.model,
                    provider=catalog.get_model(arm.model).provider,
                    endpoint=arm.endpoint,
                    prompt_id=f"p{k}",
                    prompt=prompt,
                    sent_prompt=request.prompt,
                    repeat=repeat,
                    request=request.to_dict(),
                    estimated_usd=estimate.per_image,
                )
                plan.append(Planned(generation, request))
    return plan


def estimate_plan(
    generations: Sequence[PlannedGeneration], catalog: Catalog | None = None
) -> dict[str, Any]:
    """The estimated cost of ``generations``: total, per arm, and what could not be priced.

    ``total_usd`` covers the priced generations only; ``unpriced`` counts the others (their
    cost will come from the responses), so an estimate is never a silent $0.
    """
    catalog = catalog or default_catalog()
    per_arm: dict[str, dict[str, Any]] = {}
    total = 0.0
    unpriced = 0
    for g in generations:
        entry = per_arm.get(g.arm)
        if entry is None:
            est = estimate_cost(ImageRequest(**g.request), catalog)
            entry = per_arm[g.arm] = {
                "model": g.model,
                "images": 0,
                "per_image_usd": est.per_image,
                "total_usd": 0.0 if est.per_image is not None else None,
                "basis": est.basis,
                "note": est.note,
                "source": est.source,
                "as_of": est.as_of,
            }
        entry["images"] += 1
        if g.estimated_usd is None:
            unpriced += 1
        else:
            entry["total_usd"] = (entry["total_usd"] or 0.0) + g.estimated_usd
            total += g.estimated_usd
    return {"total_usd": round(total, 6), "unpriced": unpriced, "per_arm": per_arm}


def describe_estimate(
    estimate: Mapping[str, Any], images: int, label: str, budget: float | None = None
) -> list[str]:
    """The estimate as the lines a drill prints before it sends anything."""
    lines = [f"imgkit drill: {label} {images} image(s), estimated ${estimate['total_usd']:.4f}"]
    for arm, entry in estimate["per_arm"].items():
        each = entry["per_image_usd"]
        price = "no estimate" if each is None else f"${each:.4f} each ({entry['basis']})"
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
