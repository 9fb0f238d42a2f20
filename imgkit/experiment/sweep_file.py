"""Reading a sweep file (TOML, or YAML with PyYAML installed) and finding the line of a key.

The parsers give data without positions, and an error that says only "arms[2].quality" leaves
the reader counting tables. So the file's text is scanned once more for the line where each key
is written (:class:`SweepDocument.line_of`), and every problem found later, in the catalog's
checks too, names the file, the line and the key.

TOML is the format of record: Python reads it without a dependency, and the copy of the sweep
written into each run folder is TOML. YAML is read when PyYAML is installed (``pip install
'imgkit[yaml]'``): a sweep file is a small tree of tables and lists, the same in either format,
and a team whose CI configuration is YAML may keep its sweeps beside it.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imgkit.errors import SweepFileError, ValidationError
from imgkit.experiment.file_limits import (
    MAX_NESTING,
    MAX_SWEEP_BYTES,
    MAX_SWEEP_ELEMENTS,
    read_bounded_text,
)

__all__ = ["SUFFIXES", "SweepDocument", "format_key", "read_sweep_document"]

#: The formats a sweep file may be written in, by suffix.
SUFFIXES = {".toml": "toml", ".yaml": "yaml", ".yml": "yaml"}

Key = tuple[str | int, ...]


def format_key(key: Key) -> str:
    """``("arms", 2, "quality")`` as ``arms[2].quality``."""
    text = ""
    for part in key:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


@dataclass
class SweepDocument:
    """A sweep file's data, where it is, and the line of each key written in it."""

    data: dict[str, Any]
    file: str
    base: Path
    lines: dict[Key, int] = field(default_factory=dict)
    #: folders besides ``base`` that paths in the file may name (the user's --allow-path)
    allowed: tuple[Path, ...] = ()

    def line_of(self, key: Key) -> int | None:
        """The line where ``key`` (or, failing that, its nearest enclosing key) is written."""
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key[:-1]
        return None

    def error(self, key: Key, problem: ValidationError | str) -> SweepFileError:
        """A :class:`SweepFileError` naming this file, the line of ``key`` and ``key``."""
        return SweepFileError(
            self.file, problem, line=self.line_of(key), key=format_key(key) or None
        )


def read_sweep_document(
    path: str | os.PathLike[str], allow_paths: Sequence[str | os.PathLike[str]] = ()
) -> SweepDocument:
    """Read a sweep file; :class:`SweepFileError` when it cannot be read or parsed, naming the
    line the parser stopped at, and :class:`ValidationError` for a suffix that is neither TOML
    nor YAML.

    The file is bounded (:mod:`imgkit.experiment.file_limits`: its size, how many values it
    holds, how deep they nest) and YAML anchors and aliases are refused, so a hostile file is
    an error in milliseconds rather than gigabytes. ``allow_paths``: folders outside the
    file's own that paths in it may name."""
    path = Path(path)
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise ValidationError(
            "config", os.fspath(path), "a sweep file ending in .toml, .yaml or .yml"
        )
    text = read_bounded_text(path, MAX_SWEEP_BYTES, "sweep file", "utf-8")
    if kind == "toml":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            line = re.search(r"line (\d+)", str(exc))
            raise SweepFileError(
                os.fspath(path), f"not valid TOML: {exc}", line=int(line[1]) if line else None
            ) from None
        except RecursionError:
            raise SweepFileError(
                os.fspath(path), f"nested too deeply (the limit is {MAX_NESTING} levels)"
            ) from None
        _check_bounds(os.fspath(path), data)
        lines = _toml_lines(text)
    else:
        data, lines = _read_yaml(path, text)
    if not isinstance(data, dict):
        raise SweepFileError(os.fspath(path), "expected a table of settings at the top")
    allowed = tuple(Path(a).expanduser().resolve() for a in allow_paths)
    return SweepDocument(data, os.fspath(path), path.resolve().parent, lines, allowed)


def _check_bounds(file: str, data: Any) -> None:
    """:class:`SweepFileError` when ``data`` holds more values than :data:`MAX_SWEEP_ELEMENTS`
    or nests deeper than :data:`MAX_NESTING` (walked without recursion)."""
    count = 0
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        count += 1
        if count > MAX_SWEEP_ELEMENTS:
            raise SweepFileError(
                file, f"holds more than the limit of {MAX_SWEEP_ELEMENTS:,} elements"
            )
        if depth > MAX_NESTING:
            raise SweepFileError(file, f"nested deeper than the limit of {MAX_NESTING} levels")
        if isinstance(value, Mapping):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)


# --------------------------------------------------------------------------------------------
# Where each key is written

_BARE_OR_QUOTED = r'(?:"(?:[^"\\]|\\.)*"|\'[^\']*\'|[A-Za-z0-9_-]+)'
_DOTTED = rf"{_BARE_OR_QUOTED}(?:\s*\.\s*{_BARE_OR_QUOTED})*"
_ARRAY_HEADER = re.compile(rf"^\[\[\s*({_DOTTED})\s*\]\]")
_TABLE_HEADER = re.compile(rf"^\[\s*({_DOTTED})\s*\]")
_KEY_LINE = re.compile(rf"^({_DOTTED})\s*=")
_KEY_PART = re.compile(_BARE_OR_QUOTED)


def _dotted(text: str) -> tuple[str, ...]:
    parts = []
    for part in _KEY_PART.findall(text):
        if part.startswith('"'):
            part = tomllib.loads(f"k = {part}")["k"]
        elif part.startswith("'"):
            part = part[1:-1]
        parts.append(part)
    return tuple(parts)


def _toml_lines(text: str) -> dict[Key, int]:
    """The line of each table header and ``key =`` line of a TOML text.

    A scan, not a parser: it is only asked where a key the parser accepted is written, so
    lines inside multi-line strings and arrays are simply not matched (an error about them
    names the enclosing key's line)."""
    lines: dict[Key, int] = {}
    arrays: dict[tuple[str, ...], int] = {}
    table: Key = ()

    def resolve(name: tuple[str, ...]) -> Key:
        # [arms.grid] after [[arms]] belongs to the last arms table: put its index in.
        key: list[str | int] = []
        for k in range(len(name)):
            key.append(name[k])
            if name[: k + 1] in arrays and k + 1 < len(name):
                key.append(arrays[name[: k + 1]] - 1)
        return tuple(key)

    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if match := _ARRAY_HEADER.match(line):
            name = _dotted(match[1])
            arrays[name] = arrays.get(name, 0) + 1
            table = (*resolve(name), arrays[name] - 1)
            lines.setdefault(table, number)
        elif match := _TABLE_HEADER.match(line):
            table = resolve(_dotted(match[1]))
            lines.setdefault(table, number)
        elif match := _KEY_LINE.match(line):
            lines.setdefault((*table, *_dotted(match[1])), number)
    return lines


def _read_yaml(path: Path, text: str) -> tuple[Any, dict[Key, int]]:
    try:
        import yaml
    except ImportError:
        raise ImportError(
            f"{path} is YAML, which needs PyYAML: pip install 'imgkit[yaml]' "
            "(or write the sweep as TOML)"
        ) from None
    try:
        # Events first, without building anything: the parser is not recursive, so the bounds
        # hold before the composer (which is) or an alias's expansion (which can be
        # exponential: nine levels of nine aliases are 387 million strings) can take over.
        _check_yaml_events(path, yaml, text)
        data = yaml.safe_load(text)
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise SweepFileError(
            os.fspath(path),
            f"not valid YAML: {exc}".replace("\n", " "),
            line=mark.line + 1 if mark is not None else None,
        ) from None
    lines: dict[Key, int] = {}

    def walk(node: Any, key: Key) -> None:
        if isinstance(node, yaml.MappingNode):
            for name_node, value_node in node.value:
                child = (*key, str(name_node.value))
                lines.setdefault(child, name_node.start_mark.line + 1)
                walk(value_node, child)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                lines.setdefault((*key, index), item.start_mark.line + 1)
                walk(item, (*key, index))

    if root is not None:
        walk(root, ())
    return data, lines


def _check_yaml_events(path: Path, yaml: Any, text: str) -> None:
    count = depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        line = event.start_mark.line + 1 if event.start_mark is not None else None
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise SweepFileError(
                os.fspath(path),
                "YAML anchors and aliases (&name, *name) are not allowed in a sweep file: an "
                "alias can expand without bound or refer to itself; write the values out "
                "(a sweep's [defaults] table holds parameters shared by every arm)",
                line=line,
            )
        if isinstance(event, yaml.ScalarEvent | yaml.CollectionStartEvent):
            count += 1
            if count > MAX_SWEEP_ELEMENTS:
                raise SweepFileError(
                    os.fspath(path),
                    f"holds more than the limit of {MAX_SWEEP_ELEMENTS:,} elements",
                    line=line,
                )
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_NESTING:
                raise SweepFileError(
                    os.fspath(path),
                    f"nested deeper than the limit of {MAX_NESTING} levels",
                    line=line,
                )
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def mapping_at(document: SweepDocument, key: Key, value: Any) -> Mapping[str, Any]:
    """``value`` if it is a table, else the document's error for ``key``."""
    if not isinstance(value, Mapping):
        raise document.error(key, ValidationError(format_key(key), value, "a table"))
    return value
