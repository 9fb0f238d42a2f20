"""The project's set-up files stay in step: pyproject, environment.yml, Makefile, CI, README."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


#: Extras the conda environment leaves to the user (torch alone is several hundred MB).
OPT_IN_EXTRAS = {"hub"}


def _pyproject_requirements() -> set[str]:
    """Every third-party requirement: the core and every extra. An extra may pull in another
    (``imgkit[notebook]`` inside ``test``); those self-references name no new package."""
    project = _project()
    deps = list(project["dependencies"])
    for name, extra in project.get("optional-dependencies", {}).items():
        if name in OPT_IN_EXTRAS:
            continue
        deps.extend(extra)
    requirements = {Requirement(d) for d in deps}
    return {str(r) for r in requirements if r.name != project["name"]}


def test_extras_referring_to_imgkit_name_extras_that_exist():
    project = _project()
    extras = project["optional-dependencies"]
    for name, requirements in extras.items():
        for text in requirements:
            requirement = Requirement(text)
            if requirement.name == project["name"]:
                assert requirement.extras <= set(extras) - {name}, text


def test_the_core_leaves_the_notebook_side_to_an_extra():
    # `pip install imgkit` for scripts and CI; JupyterLab (over a minute to install) only with
    # `pip install 'imgkit[notebook]'`, which the test extra takes along.
    project = _project()
    core = {Requirement(d).name.lower() for d in project["dependencies"]}
    extras = project["optional-dependencies"]
    notebook = {Requirement(d).name.lower() for d in extras["notebook"]}
    assert {"jupyterlab", "ipywidgets"} <= notebook
    assert not core & {"jupyterlab", "ipywidgets", "voila", "notebook", "ipykernel"}
    assert "imgkit[notebook]" in {str(Requirement(d)) for d in extras["test"]}


def test_make_lab_installs_the_notebook_extra():
    makefile = (ROOT / "Makefile").read_text()
    lab = re.search(r"^lab: (.+)$", makefile, re.M)
    assert lab is not None
    targets = {"$(NOTEBOOK_STAMP)": "'.[notebook]'", "$(TEST_STAMP)": "'.[test]'"}
    stamp = lab.group(1).split()[0]
    assert targets[stamp] in makefile


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
