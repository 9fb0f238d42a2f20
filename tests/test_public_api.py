"""The names `imgkit` promises resolve, and importing it stays light."""

from __future__ import annotations

import subprocess
import sys

import imgkit


def test_every_public_name_resolves():
    for name in imgkit.__all__:
        assert getattr(imgkit, name) is not None, name
    assert imgkit.validate_request("dall-e-3", "x").model == "dall-e-3"
    assert issubclass(imgkit.errors.ValidationError, imgkit.errors.ImgkitError)


def test_unknown_attribute_is_an_attribute_error():
    try:
        imgkit.no_such_thing  # noqa: B018
    except AttributeError as exc:
        assert "no_such_thing" in str(exc)
    else:
        raise AssertionError("expected AttributeError")


def test_import_does_not_load_heavy_modules():
    code = (
        "import sys, imgkit; "
        "heavy = [m for m in ('matplotlib', 'openai', 'google.genai', 'uvicorn') "
        "if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


PUBLIC_API = [
    "Arm",
    "Catalog",
    "Chain",
    "ChainLink",
    "Checks",
    "CostEstimate",
    "DrillOptions",
    "GenerationResult",
    "ImageRequest",
    "Measure",
    "ModelSpec",
    "PromptTransform",
    "RetryPolicy",
    "Run",
    "Sweep",
    "__version__",
    "chain_expected_cost",
    "check_run",
    "compare_all",
    "compare_arms",
    "consistency_for_paths",
    "consistency_table",
    "cost_from_usage",
    "default_catalog",
    "distance_matrix",
    "divergence_table",
    "drift",
    "drill",
    "edit",
    "errors",
    "estimate_cost",
    "get_model",
    "get_provider",
    "hash_images",
    "html_diff",
    "load_catalog",
    "mask_fidelity",
    "mask_from_array",
    "mask_from_rect",
    "open_run",
    "parse_measure",
    "plan_repeats",
    "project_monthly",
    "projection_table",
    "prompt_divergence",
    "provider_for_model",
    "resume",
    "run_index",
    "validate_request",
    "write_report",
]


def test_the_public_api_is_pinned():
    assert imgkit.__all__ == PUBLIC_API
    assert dir(imgkit) == PUBLIC_API  # no Any, TYPE_CHECKING or importlib in the namespace


def test_names_stay_importable_from_where_users_import_them():
    # The places the README, the notebooks and earlier releases import from.
    from imgkit.catalog import Catalog, default_catalog, get_model
    from imgkit.report import report_data, write_report
    from imgkit.runner import DrillOptions, RetryPolicy, adrill, aresume, drill, resume
    from imgkit.runs import Run, open_run

    assert drill is imgkit.drill and resume is imgkit.resume and open_run is imgkit.open_run
    assert DrillOptions is imgkit.DrillOptions and RetryPolicy is imgkit.RetryPolicy
    assert Run is imgkit.Run and write_report is imgkit.write_report
    assert get_model is imgkit.get_model and Catalog is imgkit.Catalog
    assert default_catalog is imgkit.default_catalog
    assert callable(adrill) and callable(aresume) and callable(report_data)


def test_importing_imgkit_installs_no_import_hook_and_the_flat_paths_are_gone():
    # The 0.1 shim that redirected old flat module paths (imgkit.consistency, imgkit.plots, ...)
    # with a DeprecationWarning is gone: nothing outside the package used it, and its own
    # notebooks tripped over the warning. A flat path is now simply not a module.
    code = """
import importlib, sys
before = list(sys.meta_path)
import imgkit
assert sys.meta_path == before, sys.meta_path
for old in ("imgkit.consistency", "imgkit.plots", "imgkit.ledger", "imgkit.cli_drill"):
    try:
        importlib.import_module(old)
    except ModuleNotFoundError:
        continue
    raise AssertionError(old + " still imports")
from imgkit.report import plots
print(plots.__name__)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "imgkit.report.plots"


def _keywords(function) -> list[tuple[str, object, object]]:
    import inspect

    return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]


def test_drill_and_resume_spell_out_their_keyword_arguments():
    # Shift-Tab in a notebook and an editor's hints show the signature: drill(prompts, models,
    # n, **kwargs) hid every option. Each blocking function takes exactly what its asynchronous
    # form takes, so an option added to one and not the other fails here.
    import inspect

    from imgkit.runner import adrill, aresume

    assert _keywords(imgkit.drill) == _keywords(adrill)
    assert _keywords(imgkit.resume) == _keywords(aresume)
    for function in (imgkit.drill, imgkit.resume):
        kinds = {p.kind for p in inspect.signature(function).parameters.values()}
        assert inspect.Parameter.VAR_KEYWORD not in kinds
    assert {"backend", "budget", "out"} <= set(inspect.signature(imgkit.drill).parameters)


def test_py_typed_ships_with_the_package():
    # PEP 561: the marker beside the package, and the package data that puts it in the wheel
    # (a wheel built from this tree lists imgkit/py.typed).
    import tomllib
    from pathlib import Path

    package = Path(imgkit.__file__).parent
    assert (package / "py.typed").is_file()
    pyproject = tomllib.loads((package.parent / "pyproject.toml").read_text())
    assert "py.typed" in pyproject["tool"]["setuptools"]["package-data"]["*"]
