"""The notebooks as a reader meets them: text that renders as written, imports that warn of
nothing, informational lines that do not look like errors, and checks kept out of the way.

The notebooks are run with papermill (as ``make test`` runs them with nbval) and their outputs
read: what JupyterLab would show.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
#: A cell whose source is folded away in JupyterLab and that holds a notebook's checks.
CHECK_TAG = "checks"

# Markdown (JupyterLab's and GitHub's renderers alike) reads text between two dollar signs as
# LaTeX: "$0.04 for 30 days is exactly $24.00" shows as "0.04for30daysisexactly24.00" in
# italic maths. A dollar amount must be written \$.
_CODE = re.compile(r"```.*?```|`[^`\n]*`", re.DOTALL)
_BARE_DOLLAR = re.compile(r"(?<!\\)\$")


def _bare_dollars(markdown: str) -> list[str]:
    """The places in ``markdown`` where a ``$`` is not escaped (code spans may hold any)."""
    prose = _CODE.sub("", markdown)
    return [prose[max(0, m.start() - 20) : m.end() + 20] for m in _BARE_DOLLAR.finditer(prose)]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_markdown_cells_escape_their_dollar_amounts(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    found = [
        (index, spot)
        for index, cell in enumerate(nb.cells)
        if cell.cell_type == "markdown"
        for spot in _bare_dollars(cell.source)
    ]
    assert found == []


def _executed(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> nbformat.NotebookNode:
    import papermill

    # The quick forms the notebooks offer themselves: fewer repeats and requests.
    monkeypatch.setenv("IMGKIT_NOTEBOOK_REPEATS", "2")
    monkeypatch.setenv("IMGKIT_NOTEBOOK_REQUESTS", "8")
    for name in ("OPENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "LEONARDO_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    executed = tmp_path / path.name
    papermill.execute_notebook(
        str(path),
        str(executed),
        cwd=str(tmp_path),
        kernel_name="python3",
        progress_bar=False,
    )
    return nbformat.read(executed, as_version=4)


@pytest.mark.parametrize("name", ["01_consistency_drill", "03_cost_planning", "05_fallback_chain"])
def test_notebook_output_reads_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    nb = _executed(ROOT / "notebooks" / f"{name}.ipynb", tmp_path, monkeypatch)
    markdown = [
        output["data"]["text/markdown"]
        for cell in nb.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if "text/markdown" in output.get("data", {})
    ]
    # 01 and 05 write their conclusions as Markdown; 03's dollar amounts are in its text.
    assert markdown or name == "03_cost_planning", "the notebook displays Markdown"
    assert [spot for text in markdown for spot in _bare_dollars(text)] == []
    # JupyterLab paints stderr pink, as it paints errors: a notebook that ran well writes
    # nothing there.
    stderr = [
        (index, output["text"])
        for index, cell in enumerate(nb.cells)
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.get("output_type") == "stream" and output.get("name") == "stderr"
    ]
    assert stderr == []


_IMPORTS = """
import importlib, json, sys, warnings
warnings.simplefilter("always")
caught = []
with warnings.catch_warnings(record=True) as caught:
    for line in json.loads(sys.argv[1]):
        exec(line, {})
print(json.dumps([
    f"{w.filename}:{w.lineno}: {w.message}" for w in caught
    if issubclass(w.category, DeprecationWarning)
    and ("imgkit" in w.filename or "imgkit" in str(w.message))
]))
"""


def test_the_notebooks_imports_raise_no_deprecation_warning_from_imgkit() -> None:
    # Every import statement of every notebook, run in a fresh interpreter as a kernel would
    # run them, with every warning recorded: none of imgkit's may be a DeprecationWarning.
    lines = []
    for path in NOTEBOOKS:
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type != "code":
                continue
            source = "\n".join(
                line for line in cell.source.splitlines() if not line.startswith(("%", "!"))
            )
            for node in ast.walk(ast.parse(source)):
                if isinstance(node, ast.Import | ast.ImportFrom) and "imgkit" in ast.unparse(node):
                    lines.append(ast.unparse(node))
    assert any("plots" in line for line in lines)
    out = subprocess.run(
        [sys.executable, "-c", _IMPORTS, json.dumps(sorted(set(lines)))],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == []


def _asserts(source: str) -> int:
    source = "\n".join(x for x in source.splitlines() if not x.startswith(("%", "!")))
    return sum(
        isinstance(node, ast.Assert)
        or (isinstance(node, ast.Raise) and "AssertionError" in ast.unparse(node))
        for node in ast.walk(ast.parse(source))
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_teaching_cells_carry_no_checks_and_the_checks_are_folded_away(path: Path) -> None:
    # A reader follows the teaching cells; the checks that make nbval fail on a drifted figure
    # are in cells of their own, tagged and with their source folded (JupyterLab shows a bar
    # to open them), and run like every other cell.
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    teaching = [i for i, c in enumerate(code) if CHECK_TAG not in c.metadata.get("tags", [])]
    assert [i for i in teaching if _asserts(code[i].source)] == []
    for cell in code:
        if CHECK_TAG in cell.metadata.get("tags", []):
            assert cell.metadata.get("jupyter", {}).get("source_hidden") is True
            assert _asserts(cell.source) > 0
            assert cell.source.startswith("# Check"), cell.source[:60]


def test_the_notebooks_still_check_their_figures() -> None:
    checks = {
        path.stem[:2]: sum(
            _asserts(c.source)
            for c in nbformat.read(path, as_version=4).cells
            if c.cell_type == "code"
        )
        for path in NOTEBOOKS
    }
    assert all(checks[n] > 0 for n in ("03", "04", "05", "07")), checks
