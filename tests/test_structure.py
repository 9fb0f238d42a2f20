"""The package's shape: no import cycle, modules of a readable size, each in its group."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "imgkit"
#: A module longer than this says why in its docstring, with a line starting "Long because".
MAX_LINES = 600
#: Modules over the limit that a change in progress splits (remove each as it lands).
PENDING_SPLIT: set[str] = set()


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts).removesuffix(".__init__")
        found[name] = path
    return found


def _is_type_checking_block(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _imported_names(path: Path, module: str, *, typing: bool = False) -> set[str]:
    """Every module ``module`` imports, at the top or inside a function (lazy imports count:
    they form a cycle just the same when they run), except under ``if TYPE_CHECKING`` unless
    ``typing``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    skipped = (
        set()
        if typing
        else {
            id(inner)
            for node in ast.walk(tree)
            if _is_type_checking_block(node)
            for stmt in node.body
            for inner in ast.walk(stmt)
        }
    )
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def import_graph(*, typing: bool = False) -> dict[str, set[str]]:
    """module -> the package modules it imports (a name resolves to its longest module);
    with ``typing``, imports made only for type checkers count too."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        targets = set()
        for name in _imported_names(path, module, typing=typing):
            while name and name not in modules:
                name = name.rpartition(".")[0]
            # A module's own package is imported before it anyway; that edge is not a cycle.
            if name and name != module and not module.startswith(name + "."):
                targets.add(name)
        graph[module] = targets
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first repeated at the end), or None."""
    done: set[str] = set()

    def visit(module: str, stack: list[str]) -> list[str] | None:
        if module in stack:
            return [*stack[stack.index(module) :], module]
        if module in done:
            return None
        for target in sorted(graph[module]):
            cycle = visit(target, [*stack, module])
            if cycle:
                return cycle
        done.add(module)
        return None

    for module in sorted(graph):
        cycle = visit(module, [])
        if cycle:
            return cycle
    return None


def test_the_package_has_no_import_cycle():
    assert find_cycle(import_graph()) is None, " -> ".join(find_cycle(import_graph()) or [])


def test_no_two_modules_import_each_other_not_even_for_type_checkers():
    # A circle hidden under TYPE_CHECKING still ties two modules into one: neither can be read,
    # moved or tested alone (runs/display.py and runs/folder.py were such a pair).
    graph = import_graph(typing=True)
    pairs = sorted(
        (a, b) for a, targets in graph.items() for b in targets if a < b and a in graph[b]
    )
    assert not pairs, pairs


def test_the_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_reading_a_run_folder_does_not_import_the_runner():
    graph = import_graph()
    reached, todo = set(), ["imgkit.runs.folder"]
    while todo:
        module = todo.pop()
        if module not in reached:
            reached.add(module)
            todo.extend(graph[module])
    assert not any(m.startswith("imgkit.runner") for m in reached), sorted(reached)


@pytest.mark.parametrize("module", sorted(_modules()))
def test_long_modules_say_why(module):
    path = _modules()[module]
    lines = path.read_text(encoding="utf-8").count("\n")
    if lines <= MAX_LINES or module in PENDING_SPLIT:
        return
    docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    assert "Long because" in docstring, f"{module} has {lines} lines and does not say why"


def test_the_top_level_holds_only_the_package_entry_points():
    flat = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert flat == ["__init__.py", "__main__.py", "_lazy.py", "errors.py"]


@pytest.mark.parametrize(
    "package",
    ["imgkit", "imgkit.runner", "imgkit.runs", "imgkit.report", "imgkit.providers"],
)
def test_no_submodule_shadows_a_lazily_exported_name(package):
    # Importing a submodule binds it on its package: a submodule named like an exported
    # function (imgkit.runner.resume) would replace the function once anything imported it.
    import importlib

    module = importlib.import_module(package)
    folder = PACKAGE.parent.joinpath(*package.split("."))
    submodules = {p.stem for p in folder.glob("*.py")} | {
        p.parent.name for p in folder.glob("*/__init__.py")
    }
    for name in submodules & set(module.__all__):
        # allowed only where the exported name is that very module (imgkit.errors)
        assert getattr(module, name) is importlib.import_module(f"{package}.{name}"), name
