"""Keep the committed notebooks free of run outputs, except the checked ones.

The notebooks in ``notebooks/`` are committed without the outputs of a run: images, widget
state, run folders and timings differ from one run to the next and would only add noise to
every diff. The exception is the cells whose output is deterministic (the catalog's prices,
the cost tables, the mask error messages, the chain's expected cost): they are tagged
``nbval-check-output`` and keep their printed text, so ``pytest --nbval-lax notebooks``
compares what they print now with what was committed and fails when a figure drifts. Those
cells also assert their key figures in code, which gives a clearer message than a text diff.

Usage (from the repository root, with the project's virtual environment)::

    python tools/notebook_outputs.py strip notebooks/*.ipynb     # after editing in Jupyter
    python tools/notebook_outputs.py refresh notebooks/*.ipynb   # re-run, store checked outputs
    python tools/notebook_outputs.py check notebooks/*.ipynb     # exit 1 if a notebook is dirty
    python -m pytest --nbval-lax notebooks                       # run them and their checks

``refresh`` executes each notebook (offline, on the simulator, from ``notebooks/``) and keeps
the new output of the tagged cells only; review the diff before committing it.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
from pathlib import Path

import nbformat

PARAMETERS_TAG = "parameters"
# nbval compares the cells with this tag against their stored output, even with --nbval-lax.
CHECK_TAG = "nbval-check-output"
# What a checked cell may keep: printed text and plain-text results. Anything else (images,
# HTML, widget views) is either not compared by nbval or not stable from run to run.
KEPT_MIME_TYPES = ("text/plain",)


def _tags(cell: nbformat.NotebookNode) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _clean_output(output: nbformat.NotebookNode) -> nbformat.NotebookNode | None:
    """The part of one output worth committing for a checked cell (None: drop it)."""
    kind = output.get("output_type")
    if kind == "stream":
        return nbformat.v4.new_output("stream", name=output["name"], text=output["text"])
    if kind in ("execute_result", "display_data"):
        data = {k: v for k, v in output.get("data", {}).items() if k in KEPT_MIME_TYPES}
        if not data:
            return None
        # A display_data output keeps no execution count, so the stored text does not change
        # with the order cells happened to be run in.
        return nbformat.v4.new_output("display_data", data=data)
    return None  # errors are never committed


def _stable_counts(nb: nbformat.NotebookNode) -> dict[int, int]:
    """The execution count a checked cell is committed with: its place among the code cells.

    nbval skips the comparison for a cell without an execution count ("unrun"), so a checked
    cell needs one; numbering by position keeps it the same however the notebook was run.
    """
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    return {i: place for place, i in enumerate(code, start=1) if CHECK_TAG in _tags(nb.cells[i])}


def strip(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Remove the widget state, and the outputs and execution counts of unchecked cells."""
    nb.metadata.pop("widgets", None)
    counts = _stable_counts(nb)
    for index, cell in enumerate(nb.cells):
        cell.get("metadata", {}).pop("execution", None)
        if cell.cell_type != "code":
            cell.pop("outputs", None)
            cell.pop("execution_count", None)
            continue
        cell.metadata.pop("scrolled", None)
        cell.execution_count = counts.get(index)
        if index in counts:
            kept = (_clean_output(output) for output in cell.get("outputs", []))
            cell.outputs = [output for output in kept if output is not None]
        else:
            cell.outputs = []
    return nb


def refresh(path: Path) -> nbformat.NotebookNode:
    """Execute ``path`` offline and return it with the new outputs of its checked cells."""
    from nbclient import NotebookClient

    original = nbformat.read(path, as_version=4)
    executed = copy.deepcopy(original)
    # Nothing here may reach a live service, whatever the caller's environment holds.
    saved = {key: os.environ.pop(key) for key in list(os.environ) if key.endswith("_API_KEY")}
    try:
        NotebookClient(
            executed,
            timeout=600,
            kernel_name="python3",
            resources={"metadata": {"path": str(path.parent)}},
        ).execute()
    finally:
        os.environ.update(saved)
    for before, after in zip(original.cells, executed.cells, strict=True):
        if before.cell_type == "code" and CHECK_TAG in _tags(before):
            before.outputs = after.outputs
    return strip(original)


def problems(nb: nbformat.NotebookNode) -> list[str]:
    """What keeps ``nb`` from being committed as it is (empty when it is clean)."""
    found = []
    counts = _stable_counts(nb)
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
        if cell.get("execution_count") != counts.get(index):
            found.append(
                f"cell {index} has execution count {cell.get('execution_count')}, "
                f"expected {counts.get(index)}: run `strip` on it"
            )
        outputs = cell.get("outputs", [])
        if CHECK_TAG not in _tags(cell):
            if outputs:
                found.append(f"cell {index} has stored outputs but is not tagged {CHECK_TAG!r}")
            continue
        if not outputs:
            found.append(f"cell {index} is tagged {CHECK_TAG!r} but stores no output to check")
        for output in outputs:
            if output != _clean_output(output):
                found.append(
                    f"cell {index} stores a {output.get('output_type')} output that is not plain "
                    "text: run `strip` on it"
                )
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("strip", "refresh", "check"))
    parser.add_argument("notebooks", nargs="+", type=Path)
    args = parser.parse_args(argv)
    status = 0
    for path in args.notebooks:
        if args.command == "check":
            for problem in problems(nbformat.read(path, as_version=4)):
                print(f"{path}: {problem}", file=sys.stderr)
                status = 1
            continue
        if args.command == "refresh":
            nbformat.write(refresh(path), path)
            print(f"{path}: executed; checked outputs stored")
            continue
        nbformat.write(strip(nbformat.read(path, as_version=4)), path)
        print(f"{path}: stripped")
    return status


if __name__ == "__main__":
    sys.exit(main())
