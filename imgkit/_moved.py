"""Old module paths that still import, with a DeprecationWarning naming the new one.

Until 0.2 the package was flat (``imgkit.runner``, ``imgkit.consistency``, ``imgkit.cli_drill``,
...). Code and notebooks written then keep working: importing an old path returns the module
that now holds it, under its new name, and says where it went. The public API is unchanged and
is best imported from :mod:`imgkit` itself.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from types import ModuleType

__all__ = ["MOVED", "install"]

#: old module path -> the module that holds its contents now
MOVED: dict[str, str] = {
    "imgkit.validation": "imgkit.catalog.validation",
    "imgkit.costs": "imgkit.catalog.costs",
    "imgkit.arms": "imgkit.experiment.arms",
    "imgkit.ledger": "imgkit.runs.ledger",
    "imgkit.results": "imgkit.providers.results",
    "imgkit.chain": "imgkit.providers.chain",
    "imgkit.editing": "imgkit.providers.editing",
    "imgkit.hashing": "imgkit.analysis.hashing",
    "imgkit.consistency": "imgkit.analysis.consistency",
    "imgkit.divergence": "imgkit.analysis.divergence",
    "imgkit.plots": "imgkit.report.plots",
    "imgkit.cli_drill": "imgkit.cli.drill",
    "imgkit.cli_chain": "imgkit.cli.chain",
    "imgkit.cli_analysis": "imgkit.cli.analysis",
    "imgkit.cli_types": "imgkit.cli.argtypes",
    "imgkit.simulator.cli": "imgkit.cli.sim",
}


class _MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds an old path in :data:`MOVED` and loads it as the module that replaced it."""

    def __init__(self) -> None:
        self._specs: dict[int, importlib.machinery.ModuleSpec | None] = {}

    def find_spec(self, fullname: str, path: object, target: object = None) -> object:
        if fullname not in MOVED:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        new = MOVED[spec.name]
        warnings.warn(
            f"{spec.name} moved to {new}; import it from there (or from imgkit itself)",
            DeprecationWarning,
            stacklevel=2,
        )
        module = importlib.import_module(new)
        self._specs[id(module)] = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        # The module ran when it was imported under its new name; the import system now files
        # it under the old name too, so later imports are plain look-ups. It also stamped the
        # old name's spec on it: give the module its own back.
        module.__spec__ = self._specs.pop(id(module), module.__spec__)


def install() -> None:
    """Put the finder on ``sys.meta_path`` (once)."""
    if not any(isinstance(f, _MovedModuleFinder) for f in sys.meta_path):
        sys.meta_path.append(_MovedModuleFinder())
