"""Keep the committed notebooks free of outputs.

The notebooks in ``notebooks/`` are committed with no outputs at all: every code cell has
``outputs == []`` and ``execution_count`` None, and no widget state is saved. Images, widget
state and run paths differ from one run to the next and would only add noise to every diff.

The cells whose figures are deterministic (cost tables, the catalog's prices, the mask error
messages, the chain's expected cost) check themselves: they assert those figures in code, so
``pytest --nbval-lax notebooks`` fails when one drifts. No stored output is compared, and the
``nbval-check-output`` tag is not used.

Usage (from the repository root, with the project's virtual environment)::

    python tools/notebook_outputs.py strip notebooks/*.ipynb     # after editing in Jupyter
    python tools/notebook_outputs.py check notebooks/*.ipynb     # exit 1 if a notebook is dirty
    python -m pytest --nbval-lax notebooks                       # run them and their checks
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

PARAMETERS_TAG = "parameters"
# nbval compares this tag's cells with their stored output; the notebooks store none.
CHECK_TAG = "nbval-check-output"


def _tags(cell: nbformat.NotebookNode) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def strip(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Remove every output, execution count and the widget state."""
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        cell.get("metadata", {}).pop("execution", None)
        if cell.cell_type != "code":
            cell.pop("outputs", None)
            cell.pop("execution_count", None)
            continue
        cell.metadata.pop("scrolled", None)
        cell.outputs = []
        cell.execution_count = None
    return nb


def problems(nb: nbformat.NotebookNode) -> list[str]:
    """What keeps ``nb`` from being committed as it is (empty when it is clean)."""
    found = []
    code = [c for c in nb.cells if c.cell_type == "code"]
    if not code or PARAMETERS_TAG not in _tags(code[0]):
        found.append(f"the first code cell is not tagged {PARAMETERS_TAG!r}")
    if "widgets" in nb.metadata:
        found.append("widget state is saved in the metadata")
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            if cell.get("outputs") or cell.get("execution_count") is not None:
                found.append(f"cell {index} ({cell.cell_type}) has outputs or an execution count")
            continue
        if cell.get("outputs"):
            found.append(f"cell {index} has stored outputs")
        if cell.get("execution_count") is not None:
            found.append(f"cell {index} has an execution count")
        if CHECK_TAG in _tags(cell):
            found.append(f"cell {index} is tagged {CHECK_TAG!r}: assert its figures in code")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("strip", "check"))
    parser.add_argument("notebooks", nargs="+", type=Path)
    args = parser.parse_args(argv)
    status = 0
    for path in args.notebooks:
        nb = nbformat.read(path, as_version=4)
        if args.command == "check":
            for problem in problems(nb):
                print(f"{path}: {problem}", file=sys.stderr)
                status = 1
            continue
        nbformat.write(strip(nb), path)
        print(f"{path}: stripped")
    return status


if __name__ == "__main__":
    sys.exit(main())
