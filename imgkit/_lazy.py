"""Re-exports that load on first use (PEP 562), for the package ``__init__`` modules.

``import imgkit`` (and ``imgkit.runner``, ``imgkit.report``, ``imgkit.providers``) must stay
quick: the command line's ``--help`` and every subprocess pay for what a package imports when it
loads. So a package lists its public names and the module that defines each, and the module is
imported only when one of its names is first looked up.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, exports: Mapping[str, str], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of a package that re-exports ``exports`` lazily.

    ``exports`` maps each public name to the module defining it; ``namespace`` is the package's
    ``globals()``, where a name is cached once loaded so later look-ups skip ``__getattr__``.
    """

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(namespace.get("__all__", exports))

    return __getattr__, __dir__
