"""Reading a sweep file's data into the fields of a :class:`~imgkit.experiment.sweep.Sweep`.

Every key is checked for its shape here (known keys, tables where tables belong, numbers where
numbers belong) and every problem raised as a :class:`~imgkit.errors.SweepFileError` naming the
file, the line and the key; the checks against the catalog come after, in
:mod:`imgkit.experiment.sweep`, once the whole sweep is known.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from imgkit.errors import SweepFileError, ValidationError
from imgkit.experiment.arms import (
    ARM_PARAMS,
    LESSON_REPEATS,
    TRANSFORM_KEYS,
    Arm,
    PromptTransform,
    default_arm_name,
)
from imgkit.experiment.checks import Checks
from imgkit.experiment.file_limits import confined_path
from imgkit.experiment.options import RetryPolicy
from imgkit.experiment.prompts import (
    InlinePrompts,
    PromptFile,
    PromptSource,
    PromptTemplate,
    collect_prompts,
    grid_values,
)
from imgkit.experiment.sweep_file import Key, SweepDocument, format_key

__all__ = ["ARM_KEYS", "TOP_KEYS", "read_sweep_fields"]

#: The keys a sweep file may hold at its top level.
TOP_KEYS = (
    "description",
    "repeats",
    "backend",
    "budget",
    "batch",
    "concurrency",
    "timeout_s",
    "kinds",
    "out",
    "name",
    "catalog_rate_limits",
    "defaults",
    "simulator",
    "rate_limits",
    "retry",
    "prompts",
    "arms",
    "checks",
)
#: The keys of one ``[[arms]]`` table.
ARM_KEYS = ("name", "model", "endpoint", "variant", *TRANSFORM_KEYS, *ARM_PARAMS)
_PROMPT_KEYS = ("text", "file", "files", "template", "grid")
_SIMULATOR_KEYS = ("seed", "latency", "faults", "url", "batch_duration")


def read_sweep_fields(document: SweepDocument) -> dict[str, Any]:
    """The keyword arguments of :class:`~imgkit.experiment.sweep.Sweep` that ``document``
    says, prompt files read; :class:`SweepFileError` for the first problem found."""
    return _SweepReader(document).fields()


class _SweepReader:
    """Turns a :class:`SweepDocument` into the fields of a Sweep, every error located."""

    def __init__(self, document: SweepDocument) -> None:
        self.doc = document
        self.data = document.data

    def fail(self, key: Key, problem: ValidationError | str) -> SweepFileError:
        return self.doc.error(key, problem)

    def confine(self, key: Key, param: str, written: str) -> Path:
        """A path the file names, if it stays inside the file's folder or a folder the user
        allowed (:func:`~imgkit.experiment.file_limits.confined_path`); else the located
        error."""
        try:
            return confined_path(param, written, self.doc.base, self.doc.allowed)
        except ValidationError as exc:
            raise self.fail(key, exc) from None

    def known(self, key: Key, table: Mapping[str, Any], allowed: Sequence[str]) -> None:
        if not isinstance(table, Mapping):
            raise self.fail(key, ValidationError(format_key(key) or "sweep", table, "a table"))
        for name in table:
            if name not in allowed:
                raise self.fail(
                    (*key, name), ValidationError(format_key((*key, name)), name, list(allowed))
                )

    def fields(self) -> dict[str, Any]:
        self.known((), self.data, TOP_KEYS)
        data = self.data
        simulator = data.get("simulator", {})
        self.known(("simulator",), simulator, _SIMULATOR_KEYS)
        out = data.get("out")
        if out is not None:
            if not isinstance(out, str) or not out.strip():
                raise self.fail(("out",), ValidationError("out", out, "a folder path"))
            out = os.fspath(self.confine(("out",), "out", out))
        fields: dict[str, Any] = dict(
            arms=self.arms(),
            prompts=[],
            repeats=self.value("repeats", LESSON_REPEATS),
            params=dict(self.table("defaults")),
            backend=self.value("backend", "sim"),
            budget=self.value("budget", None),
            concurrency=self.value("concurrency", 4),
            timeout_s=self.value("timeout_s", None),
            rate_limits=self.rate_limits(),
            catalog_rate_limits=self.value("catalog_rate_limits", None),
            retry=self.retry(),
            sim_seed=simulator.get("seed", 0),
            sim_latency=simulator.get("latency", 0.0),
            sim_faults=simulator.get("faults"),
            sim_url=simulator.get("url"),
            batch=self.value("batch", False),
            sim_batch_duration=simulator.get("batch_duration"),
            kinds=self.kinds(),
            checks=self.checks(),
            out=out,
            run_name=self.value("name", None),
            description=str(self.value("description", "")),
            prompt_sources=self.prompt_sources(),
            source=self.doc.file,
        )
        for key in self.doc.data.get("defaults", {}):
            if key not in ARM_PARAMS:
                raise self.fail(
                    ("defaults", key), ValidationError("defaults", key, list(ARM_PARAMS))
                )
        try:
            # Files are read now: a sweep holds the prompts it will send.
            fields["prompt_sources"] = [
                s.read(self.doc.base) if isinstance(s, PromptFile) else s
                for s in fields["prompt_sources"]
            ]
            fields["prompts"] = collect_prompts(fields["prompt_sources"], self.doc.base)
        except SweepFileError:
            raise  # a prompt file's own problem names that file and its line
        except ValidationError as exc:
            raise self.fail(("prompts",), exc) from None
        return fields

    def value(self, key: str, default: Any) -> Any:
        return self.data.get(key, default)

    def table(self, key: str) -> Mapping[str, Any]:
        value = self.data.get(key, {})
        self.known((key,), value, list(value) if isinstance(value, Mapping) else [])
        return value

    def kinds(self) -> tuple[str, ...] | None:
        kinds = self.data.get("kinds")
        if kinds is None:
            return None
        from imgkit.analysis.measures import MEASURE_NAMES, parse_measure

        kinds = [kinds] if isinstance(kinds, str) else kinds
        if not isinstance(kinds, list) or not kinds:
            raise self.fail(("kinds",), ValidationError("kinds", kinds, list(MEASURE_NAMES)))
        names = []
        for k, kind in enumerate(kinds):
            try:
                names.append(parse_measure(kind, param="kinds").name)
            except ValidationError as exc:
                raise self.fail(("kinds", k), exc) from None
        return tuple(dict.fromkeys(names))

    def checks(self) -> Checks | None:
        data = self.data.get("checks")
        if data is None:
            return None
        if isinstance(data, Mapping):
            for name in data:
                try:
                    Checks.from_mapping({name: data[name]})
                except ValidationError as exc:
                    raise self.fail(("checks", name), exc) from None
        kinds = self.kinds()
        if kinds and isinstance(data, Mapping) and "kind" not in data:
            # The similarity checked is the sweep's first hash kind, the one it reports first.
            data = {**data, "kind": kinds[0]}
        try:
            return Checks.from_mapping(data)
        except ValidationError as exc:
            raise self.fail(("checks",), exc) from None

    def retry(self) -> RetryPolicy:
        data = self.data.get("retry", {})
        known = [f.name for f in dataclasses.fields(RetryPolicy)]
        self.known(("retry",), data, known)
        for name, value in data.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise self.fail(("retry", name), ValidationError(name, value, "a number >= 0"))
        return RetryPolicy(**data)

    def rate_limits(self) -> dict[str, dict[str, float]]:
        data = self.data.get("rate_limits", {})
        self.known(("rate_limits",), data, list(data) if isinstance(data, Mapping) else [])
        limits = {}
        for model, value in data.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                value = {"requests_per_minute": value}
            allowed = ("requests_per_minute", "images_per_minute")
            self.known(("rate_limits", model), value, allowed)
            for name, number in value.items():
                if isinstance(number, bool) or not isinstance(number, int | float) or number <= 0:
                    raise self.fail(
                        ("rate_limits", model, name),
                        ValidationError(name, number, "a number of requests per minute > 0"),
                    )
            limits[model] = {k: float(v) for k, v in value.items()}
        return limits

    def prompt_sources(self) -> list[PromptSource]:
        data = self.data.get("prompts")
        if data is None:
            raise self.fail(("prompts",), ValidationError("prompts", None, "at least one prompt"))
        if isinstance(data, str):
            data = [data]
        if isinstance(data, list) and all(isinstance(p, str) for p in data):
            return [InlinePrompts(tuple(data))]
        tables = [data] if isinstance(data, Mapping) else data
        if not isinstance(tables, list) or not all(isinstance(t, Mapping) for t in tables):
            raise self.fail(
                ("prompts",),
                ValidationError("prompts", data, "a list of prompts, or tables of sources"),
            )
        sources: list[PromptSource] = []
        for k, table in enumerate(tables):
            key: Key = ("prompts",) if isinstance(data, Mapping) else ("prompts", k)
            sources += self.sources_of(key, table)
        return sources

    def sources_of(self, key: Key, table: Mapping[str, Any]) -> list[PromptSource]:
        self.known(key, table, _PROMPT_KEYS)
        sources: list[PromptSource] = []
        text = table.get("text")
        if text is not None:
            texts = [text] if isinstance(text, str) else text
            if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
                raise self.fail((*key, "text"), ValidationError("text", text, "a list of prompts"))
            sources.append(InlinePrompts(tuple(texts)))
        files = table.get("files", [])
        files = [files] if isinstance(files, str) else files
        if "file" in table:
            files = [table["file"], *files]
        for name in files:
            if not isinstance(name, str) or not name.strip():
                raise self.fail((*key, "files"), ValidationError("files", name, "file paths"))
            self.confine((*key, "file" if name == table.get("file") else "files"), "file", name)
            sources.append(PromptFile(name))
        if "template" in table:
            grid = table.get("grid", {})
            self.known((*key, "grid"), grid, list(grid) if isinstance(grid, Mapping) else [])
            values = {}
            for name, given in grid.items():
                try:
                    values[name] = grid_values(given, name)
                except ValidationError as exc:
                    raise self.fail((*key, "grid", name), exc) from None
            template = PromptTemplate(table["template"], values)
            try:
                template.prompts()
            except ValidationError as exc:
                raise self.fail((*key, "template"), exc) from None
            sources.append(template)
        elif "grid" in table:
            raise self.fail(
                (*key, "grid"), ValidationError("grid", "without a template", "a template")
            )
        if not sources:
            raise self.fail(key, ValidationError("prompts", dict(table), "text, files or template"))
        return sources

    def arms(self) -> list[Arm]:
        data = self.data.get("arms")
        if not isinstance(data, list) or not data:
            raise self.fail(("arms",), ValidationError("arms", data, "a list of at least one arm"))
        arms: list[Arm] = []
        names: dict[str, int] = {}
        for k, item in enumerate(data):
            arm = self.arm(("arms", k), item)
            if arm.name in names:
                raise self.fail(
                    ("arms", k),
                    ValidationError(
                        "arms",
                        arm.name,
                        "unique arm names",
                        detail=f"arms[{names[arm.name]}] has it too; give one a name",
                    ),
                )
            names[arm.name] = k
            arms.append(arm)
        return arms

    def arm(self, key: Key, item: Any) -> Arm:
        if isinstance(item, str):
            try:
                return Arm.from_option(item)
            except ValidationError as exc:
                raise self.fail(key, exc) from None
        self.known(key, item, ARM_KEYS)
        if "model" not in item:
            raise self.fail(key, ValidationError("model", None, "a model name for each arm"))
        for name in ("name", "model", "endpoint", "variant", *TRANSFORM_KEYS):
            if name in item and not isinstance(item[name], str):
                raise self.fail((*key, name), ValidationError(name, item[name], "a string"))
        transform = {k: item[k] for k in TRANSFORM_KEYS if k in item}
        try:
            made = Arm(
                name=item.get("name") or "unnamed",
                model=item["model"],
                endpoint=item.get("endpoint", "generate"),
                params={k: v for k, v in item.items() if k in ARM_PARAMS},
                prompt_variant=item.get("variant"),
                prompt_transform=PromptTransform(**transform) if transform else None,
            )
        except ValidationError as exc:
            where = next((k for k in (*TRANSFORM_KEYS, "endpoint", "variant") if k in item), None)
            raise self.fail((*key, where) if where else key, exc) from None
        if not item.get("name"):
            made = dataclasses.replace(made, name=default_arm_name(made))
        return made
