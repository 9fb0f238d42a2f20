"""The project's set-up files stay in step: pyproject, environment.yml, Makefile, CI, README."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent


def _pyproject_requirements() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        deps.extend(extra)
    return {str(Requirement(d)) for d in deps}


def _environment_requirements() -> set[str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    found = set()
    for item in env["dependencies"]:
        if isinstance(item, dict):
            found.update(str(Requirement(p)) for p in item["pip"] if not p.startswith("-e"))
        elif not item.startswith(("python", "pip")):
            found.add(str(Requirement(item.replace("=", "==", 1) if "=" in item else item)))
    return found


def test_environment_yml_matches_pyproject_both_ways():
    in_pyproject = _pyproject_requirements()
    in_environment = _environment_requirements()
    assert in_pyproject - in_environment == set(), "missing from environment.yml"
    assert in_environment - in_pyproject == set(), "missing from pyproject.toml"


def test_environment_installs_the_package_itself():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(i for i in env["dependencies"] if isinstance(i, dict))["pip"]
    assert "-e ." in pip


def test_named_dependencies_are_declared():
    names = {Requirement(r).name.lower() for r in _pyproject_requirements()}
    for name in (
        "jupyterlab",
        "ipywidgets",
        "openai",
        "pandas",
        "matplotlib",
        "imagehash",
        "nbval",
    ):
        assert name in names


def test_readme_quick_start_is_the_two_make_commands():
    readme = (ROOT / "README.md").read_text()
    assert "make drill" in readme and "make test" in readme
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^drill:", makefile, re.M) and re.search(r"^test:", makefile, re.M)


def test_ci_installs_system_packages_then_runs_make_test():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "apt-get install" in ci and "chromium" in ci
    assert ci.rstrip().splitlines()[-1].strip() == "make test"


def test_notebooks_are_committed_without_outputs():
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        notebook = json.loads(path.read_text())
        for cell in notebook["cells"]:
            if cell["cell_type"] == "code":
                assert cell.get("outputs") == [], f"{path.name} has outputs"
                assert cell.get("execution_count") is None, f"{path.name} has counts"
