"""imgkit: measure image-generation models (consistency, prompt rewriting, cost).

The public API is re-exported here and loaded on first use (PEP 562), so that ``import imgkit``
stays quick and does not pull in matplotlib, the SDKs or the simulator until they are needed::

    import imgkit
    run = imgkit.drill(["an astronaut riding a horse"], ["dall-e-3", "gpt-image-1"], n=5)
    imgkit.write_report(run)

The package, by concern:

- ``imgkit.catalog``: the models, what each accepts (validation) and what it costs;
- ``imgkit.experiment``: what a drill compares (arms) and the options that define it;
- ``imgkit.runner``: the drill runner (plan, budget, pacing, executors, resume);
- ``imgkit.runs``: a run folder (manifest, ledger, images), read back offline;
- ``imgkit.providers``: the image services behind one interface, the fallback chain, editing;
- ``imgkit.simulator``: the vendors' HTTP APIs played on 127.0.0.1;
- ``imgkit.features``: learned image features (the networks, run without torch);
- ``imgkit.analysis``: the measures (learned features, perceptual hashes), consistency, prompt
  divergence;
- ``imgkit.report``: plots and the experiment report;
- ``imgkit.widgets``: Jupyter panels (``pip install imgkit[notebook]``);
- ``imgkit.cli``: the ``imgkit`` command; ``imgkit.errors``: the one exception tree.
"""

from __future__ import annotations

from typing import TYPE_CHECKING as _TYPE_CHECKING

from imgkit._lazy import lazy_exports as _lazy_exports

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    # catalog, validation, costs
    "Catalog": "imgkit.catalog.models",
    "ModelSpec": "imgkit.catalog.models",
    "default_catalog": "imgkit.catalog.models",
    "get_model": "imgkit.catalog.models",
    "load_catalog": "imgkit.catalog.models",
    "ImageRequest": "imgkit.catalog.validation",
    "validate_request": "imgkit.catalog.validation",
    "CostEstimate": "imgkit.catalog.costs",
    "chain_expected_cost": "imgkit.catalog.costs",
    "cost_from_usage": "imgkit.catalog.costs",
    "estimate_cost": "imgkit.catalog.costs",
    "project_monthly": "imgkit.catalog.costs",
    "projection_table": "imgkit.catalog.costs",
    # services
    "GenerationResult": "imgkit.providers.results",
    "get_provider": "imgkit.providers",
    "provider_for_model": "imgkit.providers",
    "edit": "imgkit.providers.editing",
    "mask_fidelity": "imgkit.providers.editing",
    "mask_from_array": "imgkit.providers.editing",
    "mask_from_rect": "imgkit.providers.editing",
    "Chain": "imgkit.providers.chain",
    "ChainLink": "imgkit.providers.chain",
    # drills and runs
    "Arm": "imgkit.experiment.arms",
    "DrillOptions": "imgkit.experiment.options",
    "RetryPolicy": "imgkit.experiment.options",
    "drill": "imgkit.runner.start",
    "resume": "imgkit.runner.resuming",
    "Run": "imgkit.runs.folder",
    "open_run": "imgkit.runs.folder",
    # sweeps, gates and drift across runs
    "PromptTransform": "imgkit.experiment.arms",
    "Sweep": "imgkit.experiment.sweep",
    "Checks": "imgkit.experiment.checks",
    "check_run": "imgkit.analysis.gates",
    "run_index": "imgkit.runs.index",
    "drift": "imgkit.analysis.drift",
    # analysis
    "hash_images": "imgkit.analysis.hashing",
    "distance_matrix": "imgkit.analysis.hashing",
    "consistency_table": "imgkit.analysis.consistency",
    "Measure": "imgkit.analysis.measures",
    "parse_measure": "imgkit.analysis.measures",
    "compare_arms": "imgkit.analysis.consistency",
    "compare_all": "imgkit.analysis.sweep",
    "plan_repeats": "imgkit.analysis.planning",
    "consistency_for_paths": "imgkit.analysis.consistency",
    "prompt_divergence": "imgkit.analysis.divergence",
    "divergence_table": "imgkit.analysis.divergence",
    "html_diff": "imgkit.analysis.divergence",
    "write_report": "imgkit.report.render",
}

__all__ = sorted([*_EXPORTS, "__version__", "errors"])

_lazy_getattr, __dir__ = _lazy_exports(__name__, _EXPORTS, globals())


def __getattr__(name: str) -> object:
    if name == "errors":
        import imgkit.errors  # binds imgkit.errors as a side effect

        return imgkit.errors
    return _lazy_getattr(name)


if _TYPE_CHECKING:  # for type checkers and IDEs: the same names, imported eagerly
    from imgkit import errors
    from imgkit.analysis.consistency import compare_arms, consistency_for_paths, consistency_table
    from imgkit.analysis.divergence import divergence_table, html_diff, prompt_divergence
    from imgkit.analysis.drift import drift
    from imgkit.analysis.gates import check_run
    from imgkit.analysis.hashing import distance_matrix, hash_images
    from imgkit.analysis.measures import Measure, parse_measure
    from imgkit.analysis.planning import plan_repeats
    from imgkit.analysis.sweep import compare_all
    from imgkit.catalog.costs import (
        CostEstimate,
        chain_expected_cost,
        cost_from_usage,
        estimate_cost,
        project_monthly,
        projection_table,
    )
    from imgkit.catalog.models import Catalog, ModelSpec, default_catalog, get_model, load_catalog
    from imgkit.catalog.validation import ImageRequest, validate_request
    from imgkit.experiment.arms import Arm, PromptTransform
    from imgkit.experiment.checks import Checks
    from imgkit.experiment.options import DrillOptions, RetryPolicy
    from imgkit.experiment.sweep import Sweep
    from imgkit.providers import get_provider, provider_for_model
    from imgkit.providers.chain import Chain, ChainLink
    from imgkit.providers.editing import edit, mask_fidelity, mask_from_array, mask_from_rect
    from imgkit.providers.results import GenerationResult
    from imgkit.report.render import write_report
    from imgkit.runner.resuming import resume
    from imgkit.runner.start import drill
    from imgkit.runs.folder import Run, open_run
    from imgkit.runs.index import run_index
