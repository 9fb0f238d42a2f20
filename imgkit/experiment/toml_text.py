"""Writing plain data as TOML, for the copy of a sweep kept in each run folder.

Python reads TOML (:mod:`tomllib`) but does not write it. The data written here is small and of
a known shape (strings, numbers, booleans, lists, tables, lists of tables), so a writer of a
page is enough and spares a dependency. Prompts are user text, so strings are escaped by the
TOML rules for basic strings (``\\``, ``"`` and every control character), and
``tests/test_sweeps.py`` reads back what is written with :mod:`tomllib`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["toml_dumps", "toml_string"]

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_SHORT_ESCAPES = {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def toml_string(text: str) -> str:
    """``text`` as a TOML basic string (double quotes, escaped)."""
    out = []
    for char in text:
        if char == "\\":
            out.append("\\\\")
        elif char == '"':
            out.append('\\"')
        elif char in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else toml_string(key)


def _is_table(value: Any) -> bool:
    return isinstance(value, Mapping)


def _is_table_list(value: Any) -> bool:
    return (
        isinstance(value, Sequence)
        and not isinstance(value, str)
        and bool(value)
        and all(_is_table(v) for v in value)
    )


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, Mapping):
        items = [f"{_key(str(k))} = {_value(v)}" for k, v in value.items() if v is not None]
        return "{ " + ", ".join(items) + " }" if items else "{}"
    if isinstance(value, Sequence):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def _emit(lines: list[str], path: tuple[str, ...], table: Mapping[str, Any]) -> None:
    for key, value in table.items():
        if value is None or _is_table(value) or _is_table_list(value):
            continue
        if isinstance(value, Sequence) and not isinstance(value, str) and len(value) > 3:
            # Long lists (prompts) one item a line, so a diff of two sweeps reads well.
            lines.append(f"{_key(key)} = [")
            lines += [f"    {_value(item)}," for item in value]
            lines.append("]")
        else:
            lines.append(f"{_key(key)} = {_value(value)}")
    for key, value in table.items():
        name = ".".join(_key(p) for p in (*path, key))
        if _is_table(value):
            lines += ["", f"[{name}]"]
            _emit(lines, (*path, key), value)
        elif _is_table_list(value):
            for item in value:
                lines += ["", f"[[{name}]]"]
                _emit(lines, (*path, key), item)


def toml_dumps(data: Mapping[str, Any], header: Sequence[str] = ()) -> str:
    """``data`` as a TOML document, ``header`` lines first as comments. Keys whose value is
    None are left out (TOML has no null)."""
    lines = [f"# {line}" if line else "#" for line in header]
    if lines:
        lines.append("")
    _emit(lines, (), data)
    return "\n".join(lines).strip("\n") + "\n"
