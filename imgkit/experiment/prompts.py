"""Where a sweep's prompts come from: inline text, text/CSV/JSONL files, templates with a grid.

A sweep lists prompt *sources*; each gives prompts in order and the sweep takes them all, in
the order the sources are written:

- :class:`InlinePrompts`: prompts written in the sweep file itself;
- :class:`PromptFile`: a file, read by its suffix: ``.csv`` (a ``prompt`` column; the other
  columns are kept as the prompt's variables), ``.jsonl`` / ``.ndjson`` (one JSON object a line
  with a ``prompt`` key, or one JSON string a line), anything else as text (one prompt a line;
  blank lines and lines starting with ``#`` skipped);
- :class:`PromptTemplate`: a template such as ``"{subject} in {style}"`` and a grid of values
  for each variable; every combination is a prompt, the first variable varying slowest.

A problem in a file is a :class:`~imgkit.errors.SweepFileError` naming the file and the line.
The same prompt twice is refused: the analysis groups images by prompt text, so a repeated
prompt would silently double its repeats.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import os
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imgkit.errors import SweepFileError, ValidationError
from imgkit.experiment.file_limits import MAX_PROMPT_FILE_BYTES, read_bounded_text

__all__ = [
    "MAX_PROMPTS",
    "InlinePrompts",
    "Prompt",
    "PromptFile",
    "PromptSource",
    "PromptTemplate",
    "collect_prompts",
    "grid_values",
    "read_prompt_file",
    "template_fields",
]

#: The most prompts one sweep may expand to (a grid grows fast): one run's limit of generations.
MAX_PROMPTS = 50_000


@dataclass(frozen=True)
class Prompt:
    """One prompt, where it came from (``prompts.csv, line 4``), and its variables (the
    template's values, or a CSV row's other columns)."""

    text: str
    origin: str
    variables: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class InlinePrompts:
    """Prompts written out in the sweep file (or read from a file already: then ``origins``
    says where each came from, ``file`` names the file)."""

    texts: tuple[str, ...]
    origins: tuple[str, ...] = ()
    file: str | None = None

    def prompts(self, base: Path | None = None) -> list[Prompt]:
        origins = self.origins or tuple(f"prompts.text[{k}]" for k in range(len(self.texts)))
        return [_checked(t, o, {}) for t, o in zip(self.texts, origins, strict=True)]


@dataclass(frozen=True)
class PromptFile:
    """A text, CSV or JSONL file of prompts; ``path`` as written, relative to the sweep file."""

    path: str

    def resolved(self, base: Path | None) -> Path:
        path = Path(self.path).expanduser()
        return path if path.is_absolute() or base is None else base / path

    def prompts(self, base: Path | None = None) -> list[Prompt]:
        return read_prompt_file(self.resolved(base))

    def read(self, base: Path | None = None) -> InlinePrompts:
        """The file's prompts, read now: a sweep holds what it will send, not a file name
        whose contents may change before (or after) it runs."""
        prompts = self.prompts(base)
        return InlinePrompts(
            tuple(p.text for p in prompts), tuple(p.origin for p in prompts), self.path
        )


@dataclass(frozen=True)
class PromptTemplate:
    """A template and, for each of its ``{variables}``, the values to fill in."""

    template: str
    grid: Mapping[str, tuple[str, ...]]

    def prompts(self, base: Path | None = None) -> list[Prompt]:
        names = template_fields(self.template)
        missing = [n for n in names if n not in self.grid]
        if missing:
            raise ValidationError(
                "prompts.grid",
                sorted(self.grid),
                f"values for every variable of the template {self.template!r}: {names}",
                detail=f"no values for {missing}",
            )
        unused = [n for n in self.grid if n not in names]
        if unused:
            raise ValidationError(
                "prompts.grid", unused, f"only the template's variables {names}", detail="unused"
            )
        count = math.prod(len(self.grid[n]) for n in names)
        if count > MAX_PROMPTS:
            raise ValidationError(
                "prompts.grid", f"{count:,} combinations", f"at most {MAX_PROMPTS:,} prompts"
            )
        prompts = []
        for values in itertools.product(*(self.grid[n] for n in names)):
            variables = dict(zip(names, values, strict=True))
            text = self.template.format(**variables)
            prompts.append(_checked(text, f"template {variables}", variables))
        return prompts


PromptSource = InlinePrompts | PromptFile | PromptTemplate


def template_fields(template: str) -> list[str]:
    """The variables of ``template`` in order of first use; :class:`ValidationError` when it
    has none, or a field that is not a plain name (``{0}``, ``{a.b}``, ``{x:>5}``)."""
    if not isinstance(template, str) or not template.strip():
        raise ValidationError("prompts.template", template, "a non-empty string")
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValidationError(
            "prompts.template", template, "text with {name} fields", detail=str(exc)
        ) from None
    names: list[str] = []
    for _text, name, spec, conversion in parsed:
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            raise ValidationError(
                "prompts.template",
                template,
                "fields that are plain names, e.g. {subject} (write {{ and }} for braces)",
                detail=f"field {{{name}{'!' + conversion if conversion else ''}"
                f"{':' + spec if spec else ''}}}",
            )
        if name not in names:
            names.append(name)
    if not names:
        raise ValidationError(
            "prompts.template", template, "a template with at least one {variable}"
        )
    return names


def _checked(text: Any, origin: str, variables: Mapping[str, str]) -> Prompt:
    if not isinstance(text, str) or not text.strip():
        raise ValidationError("prompt", text, "a non-empty string", detail=origin)
    return Prompt(text.strip(), origin, dict(variables or {}))


def _file_error(path: Path, line: int | None, problem: ValidationError | str) -> SweepFileError:
    return SweepFileError(os.fspath(path), problem, line=line)


def read_prompt_file(path: str | os.PathLike[str]) -> list[Prompt]:
    """The prompts of a text, CSV or JSONL file (by suffix; see the module docstring).

    :class:`~imgkit.errors.SweepFileError` naming the file (and the line) when it cannot be
    read, a line is not what its format needs, or it holds no prompt.
    """
    path = Path(path)
    text = read_bounded_text(path, MAX_PROMPT_FILE_BYTES, "prompt file", "utf-8-sig")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        prompts = _csv_prompts(path, text)
    elif suffix in (".jsonl", ".ndjson"):
        prompts = _jsonl_prompts(path, text)
    else:
        prompts = [
            Prompt(line.strip(), f"{path.name}, line {number}")
            for number, line in enumerate(text.splitlines(), start=1)
            if line.strip() and not line.lstrip().startswith("#")
        ]
    if not prompts:
        raise _file_error(path, None, "holds no prompt")
    if len(prompts) > MAX_PROMPTS:
        raise _file_error(
            path, None, f"holds {len(prompts):,} prompts, over the limit of {MAX_PROMPTS:,}"
        )
    return prompts


def _csv_prompts(path: Path, text: str) -> list[Prompt]:
    reader = csv.DictReader(text.splitlines())
    columns = reader.fieldnames or []
    if "prompt" not in columns:
        raise _file_error(
            path, 1, ValidationError("columns", columns, "a header row with a 'prompt' column")
        )
    prompts = []
    for row in reader:
        value = row.get("prompt")
        if value is None or not value.strip():
            raise _file_error(path, reader.line_num, "the prompt cell is empty")
        if None in row:  # more cells than the header names
            raise _file_error(
                path, reader.line_num, f"{len(columns) + len(row[None])} cells for {columns}"
            )
        variables = {k: v for k, v in row.items() if k != "prompt" and v is not None}
        prompts.append(Prompt(value.strip(), f"{path.name}, line {reader.line_num}", variables))
    return prompts


def _jsonl_prompts(path: Path, text: str) -> list[Prompt]:
    prompts = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError as exc:
            raise _file_error(path, number, f"not JSON ({exc})") from None
        variables: dict[str, str] = {}
        if isinstance(item, dict):
            value = item.get("prompt")
            variables = {str(k): str(v) for k, v in item.items() if k != "prompt"}
        else:
            value = item
        if not isinstance(value, str) or not value.strip():
            raise _file_error(
                path,
                number,
                ValidationError("prompt", value, 'a non-empty string: {"prompt": "..."}'),
            )
        prompts.append(Prompt(value.strip(), f"{path.name}, line {number}", variables))
    return prompts


def collect_prompts(sources: Iterable[PromptSource], base: Path | None = None) -> list[Prompt]:
    """Every prompt of ``sources`` in order; :class:`ValidationError` for a prompt given twice
    (naming both places) or more than :data:`MAX_PROMPTS`."""
    prompts: list[Prompt] = []
    seen: dict[str, str] = {}
    for source in sources:
        for prompt in source.prompts(base):
            if prompt.text in seen:
                raise ValidationError(
                    "prompts",
                    prompt.text,
                    "each prompt once",
                    detail=f"given at {seen[prompt.text]} and again at {prompt.origin}",
                )
            seen[prompt.text] = prompt.origin
            prompts.append(prompt)
            if len(prompts) > MAX_PROMPTS:
                raise ValidationError(
                    "prompts", f"over {MAX_PROMPTS:,}", f"at most {MAX_PROMPTS:,}"
                )
    if not prompts:
        raise ValidationError("prompts", [], "at least one prompt")
    return prompts


def grid_values(values: Any, name: str) -> tuple[str, ...]:
    """A grid's values for one variable as strings: a non-empty list of strings or numbers."""
    if isinstance(values, str | int | float) and not isinstance(values, bool):
        values = [values]
    if (
        not isinstance(values, Sequence)
        or isinstance(values, str)
        or not values
        or not all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in values)
    ):
        raise ValidationError(f"prompts.grid.{name}", values, "a non-empty list of strings")
    return tuple(str(v) for v in values)
