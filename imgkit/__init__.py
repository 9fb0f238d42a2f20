"""imgkit: measure image-generation models (consistency, prompt rewriting, cost).

The public API is re-exported here and loaded on first use (PEP 562), so that ``import imgkit``
stays quick and does not pull in matplotlib, the SDKs or the simulator until they are needed::

    import imgkit
    run = imgkit.drill(["an astronaut riding a horse"], ["dall-e-3", "gpt-image-1"], n=5)
    imgkit.write_report(run)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    # catalog, validation, costs
    "Catalog": "imgkit.catalog",
    "ModelSpec": "imgkit.catalog",
    "default_catalog": "imgkit.catalog",
    "get_model": "imgkit.catalog",
    "load_catalog": "imgkit.catalog",
    "ImageRequest": "imgkit.validation",
    "validate_request": "imgkit.validation",
    "CostEstimate": "imgkit.costs",
    "chain_expected_cost": "imgkit.costs",
    "cost_from_usage": "imgkit.costs",
    "estimate_cost": "imgkit.costs",
    "project_monthly": "imgkit.costs",
    "projection_table": "imgkit.costs",
    # services
    "GenerationResult": "imgkit.results",
    "get_provider": "imgkit.providers",
    "provider_for_model": "imgkit.providers",
    "edit": "imgkit.editing",
    "mask_fidelity": "imgkit.editing",
    "mask_from_array": "imgkit.editing",
    "mask_from_rect": "imgkit.editing",
    "Chain": "imgkit.chain",
    "ChainLink": "imgkit.chain",
    # runs
    "Arm": "imgkit.arms",
    "drill": "imgkit.runner",
    "resume": "imgkit.runner",
    "Run": "imgkit.runs",
    "open_run": "imgkit.runs",
    # analysis
    "hash_images": "imgkit.hashing",
    "distance_matrix": "imgkit.hashing",
    "consistency_table": "imgkit.consistency",
    "compare_arms": "imgkit.consistency",
    "consistency_for_paths": "imgkit.consistency",
    "prompt_divergence": "imgkit.divergence",
    "divergence_table": "imgkit.divergence",
    "html_diff": "imgkit.divergence",
    "write_report": "imgkit.report",
}

__all__ = sorted([*_EXPORTS, "__version__", "errors"])


def __getattr__(name: str) -> Any:
    if name == "errors":
        return importlib.import_module("imgkit.errors")
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'imgkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


if TYPE_CHECKING:  # for type checkers and IDEs: the same names, imported eagerly
    from imgkit import errors
    from imgkit.arms import Arm
    from imgkit.catalog import Catalog, ModelSpec, default_catalog, get_model, load_catalog
    from imgkit.chain import Chain, ChainLink
    from imgkit.consistency import compare_arms, consistency_for_paths, consistency_table
    from imgkit.costs import (
        CostEstimate,
        chain_expected_cost,
        cost_from_usage,
        estimate_cost,
        project_monthly,
        projection_table,
    )
    from imgkit.divergence import divergence_table, html_diff, prompt_divergence
    from imgkit.editing import edit, mask_fidelity, mask_from_array, mask_from_rect
    from imgkit.hashing import distance_matrix, hash_images
    from imgkit.providers import get_provider, provider_for_model
    from imgkit.report import write_report
    from imgkit.results import GenerationResult
    from imgkit.runner import drill, resume
    from imgkit.runs import Run, open_run
    from imgkit.validation import ImageRequest, validate_request
