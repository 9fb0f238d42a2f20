"""A sweep: a whole experiment in one file, arms x prompts x repeats, and the checks it must pass.

A sweep file (TOML; YAML with PyYAML) names everything a drill needs::

    description = "Does 'exact same composition' make dall-e-3 more consistent?"
    repeats = 5
    backend = "sim"           # "live" needs a budget
    budget = 2.0              # USD
    batch = false             # true: through the vendors' Batch APIs, at their price
    kinds = ["phash", "dhash"]

    [defaults]                # request parameters for every arm (an arm's own win)
    size = "1024x1024"

    [prompts]
    template = "{subject}, {style}"
    grid = { subject = ["a red bicycle", "a lighthouse"], style = ["watercolour", "photo"] }
    # or: text = ["...", "..."], files = ["prompts.csv"]   (.txt, .csv, .jsonl)

    [[arms]]
    model = "dall-e-3"

    [[arms]]
    name = "dall-e-3 composed"
    model = "dall-e-3"
    prefix = "exact same composition:"    # or suffix, template = "{prompt}, ..."

    [[arms]]
    model = "gpt-image-2"
    quality = "low"
    size = "1536x1024"

    [checks]
    min_similarity = { "gpt-image-2:quality=low,size=1536x1024" = 0.5 }
    max_failure_rate = 0.05

Other keys: ``concurrency``, ``timeout_s``, ``out`` (the parent folder of the run folder,
relative to the sweep file; default: the project's ``runs/``), ``name`` (the run folder's name),
``catalog_rate_limits``, ``[simulator]`` (``seed``, ``latency``, ``faults``, ``url``,
``batch_duration``),
``[rate_limits]`` (``MODEL = requests per minute``), ``[retry]`` (the fields of
:class:`~imgkit.experiment.options.RetryPolicy`). ``arms`` may also be a list of strings in the
command line's form, ``["dall-e-3+as_is", "gpt-image-2:quality=low"]``; an arm without a
``name`` is named by its model, endpoint, variant, transform and parameters. ``prompts`` may be
a list of strings, one table of sources, or a list of such tables (``[[prompts]]``).

:meth:`Sweep.from_file` reads and validates a file: every arm and every parameter against the
catalog, for every prompt, before anything is sent, each problem a
:class:`~imgkit.errors.SweepFileError` naming the file, the line, the key, the value and what
is allowed. ``imgkit.drill(sweep)`` runs it, and the run folder keeps a copy (``sweep.toml``,
:func:`sweep_record`) with its prompts resolved, from which ``imgkit drill --config
runs/<id>/sweep.toml`` repeats the run exactly.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imgkit.catalog.models import Catalog, default_catalog
from imgkit.errors import ValidationError, check_argument
from imgkit.experiment.arms import (
    LESSON_REPEATS,
    Arm,
)
from imgkit.experiment.checks import CHECK_KINDS, Checks
from imgkit.experiment.options import (
    DrillOptions,
    RetryPolicy,
    check_options,
    without_credentials,
)
from imgkit.experiment.prompts import (
    InlinePrompts,
    Prompt,
    PromptFile,
    PromptSource,
)
from imgkit.experiment.sweep_file import Key, SweepDocument, read_sweep_document
from imgkit.experiment.sweep_reader import read_sweep_fields
from imgkit.experiment.toml_text import toml_dumps

__all__ = ["SWEEP_FILE_NAME", "Sweep", "sweep_record"]

#: The name of the sweep's copy in every run folder.
SWEEP_FILE_NAME = "sweep.toml"


@dataclass
class Sweep:
    """Arms x prompts x repeats, how to run them and what to check; see the module docstring.

    ``prompts`` are the resolved :class:`~imgkit.experiment.prompts.Prompt` objects (files
    already read), ``prompt_sources`` where they came from. Build one with
    :meth:`from_file`, :meth:`from_options`, or directly; run it with ``imgkit.drill(sweep)``.
    """

    arms: list[Arm]
    prompts: list[Prompt]
    repeats: int = LESSON_REPEATS
    params: dict[str, Any] = field(default_factory=dict)
    backend: str = "sim"
    budget: float | None = None
    concurrency: int = 4
    timeout_s: float | None = None
    rate_limits: dict[str, dict[str, float]] = field(default_factory=dict)
    catalog_rate_limits: bool | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    sim_seed: int = 0
    sim_latency: float = 0.0
    sim_faults: str | None = None
    sim_url: str | None = None
    batch: bool = False
    sim_batch_duration: float | None = None
    kinds: tuple[str, ...] | None = None
    checks: Checks | None = None
    out: str | None = None
    run_name: str | None = None
    description: str = ""
    prompt_sources: list[PromptSource] = field(default_factory=list)
    #: the file the sweep was read from, if any
    source: str | None = None

    @property
    def prompt_texts(self) -> list[str]:
        """The prompts as the drill sends them to each arm (before the arm's transform)."""
        return [p.text for p in self.prompts]

    # -- reading -----------------------------------------------------------------------------

    @classmethod
    def from_file(
        cls,
        path: str | os.PathLike[str],
        *,
        catalog: Catalog | None = None,
        check_catalog: bool = True,
        allow_paths: Sequence[str | os.PathLike[str]] = (),
    ) -> Sweep:
        """Read a sweep file and check everything in it against the catalog (``check_catalog=
        False``: only its shape, to read the checks of a run made with a model since retired).

        Relative paths in the file (prompt files, ``out``) are relative to the file's folder,
        and must resolve inside it (links followed) or inside one of ``allow_paths``.
        Raises :class:`~imgkit.errors.SweepFileError` (a :class:`ValidationError`) naming the
        file, line and key of the first problem; ``ImportError`` for YAML without PyYAML.
        """
        document = read_sweep_document(path, allow_paths)
        sweep = cls(**read_sweep_fields(document))
        if check_catalog:
            _validate_located(sweep, document, catalog or default_catalog())
        return sweep

    @classmethod
    def from_options(cls, options: DrillOptions, *, like: Sweep | None = None) -> Sweep:
        """The sweep that repeats a drill with these options (prompts written out in full).

        ``like``: the sweep the options came from, whose description, hash kinds, checks and
        prompt sources (when its prompts are the options') are kept."""
        sources: list[PromptSource] = [InlinePrompts(tuple(options.prompts))]
        prompts = [Prompt(p, f"prompts.text[{k}]") for k, p in enumerate(options.prompts)]
        if like is not None and like.prompt_texts == list(options.prompts):
            sources = _recordable_sources(like)
            prompts = list(like.prompts)
        params = {k: v for k, v in options.defaults().items() if v is not None}
        return cls(
            arms=list(options.arms),
            prompts=prompts,
            repeats=options.n,
            params=params,
            backend=options.backend,
            budget=options.budget,
            concurrency=options.concurrency,
            timeout_s=options.timeout_s,
            rate_limits={m: dict(v) for m, v in options.rate_limits.items()},
            catalog_rate_limits=options.catalog_rate_limits,
            retry=options.retry,
            sim_seed=options.sim_seed,
            sim_latency=options.sim_latency,
            sim_faults=options.sim_faults,
            # A URL may carry user:password@: the copy in a run folder never holds a secret.
            sim_url=without_credentials(options.sim_url),
            batch=options.batch,
            sim_batch_duration=options.sim_batch_duration,
            kinds=like.kinds if like else None,
            checks=like.checks if like else None,
            description=like.description if like else "",
            prompt_sources=sources,
        )

    def replace(self, **changes: Any) -> Sweep:
        """A copy with ``changes`` (field names) applied."""
        return dataclasses.replace(self, **changes)

    # -- running -----------------------------------------------------------------------------

    def validate(self, catalog: Catalog | None = None) -> None:
        """Check every arm and parameter against the catalog for every prompt (what the drill
        will send); :class:`ValidationError` for the first problem."""
        _validate(self, catalog or default_catalog())

    def drill_arguments(self) -> dict[str, Any]:
        """The keyword arguments of :func:`imgkit.drill` that run this sweep."""
        arguments: dict[str, Any] = {
            "prompts": self.prompt_texts,
            "arms": list(self.arms),
            "n": self.repeats,
            "params": dict(self.params),
            "backend": self.backend,
            "budget": self.budget,
            "concurrency": self.concurrency,
            "timeout_s": self.timeout_s,
            "rate_limits": {m: dict(v) for m, v in self.rate_limits.items()},
            "catalog_rate_limits": self.catalog_rate_limits,
            "retry": self.retry,
            "sim_seed": self.sim_seed,
            "sim_latency": self.sim_latency,
            "sim_faults": self.sim_faults,
            "sim_url": self.sim_url,
            "run_name": self.run_name,
            "batch": self.batch,
            "sim_batch_duration": self.sim_batch_duration,
        }
        if self.out is not None:
            arguments["out"] = self.out
        return arguments

    # -- writing -----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The sweep as plain data in the shape of a sweep file (prompts from files written
        out; ``out`` and ``name`` left out, so that a repeat makes a new folder beside it)."""
        data: dict[str, Any] = {}
        if self.description:
            data["description"] = self.description
        data.update(
            repeats=self.repeats,
            backend=self.backend,
            budget=self.budget,
            concurrency=self.concurrency,
            timeout_s=self.timeout_s,
            catalog_rate_limits=self.catalog_rate_limits,
        )
        if self.batch:  # written only when on, so older sweep files read back the same
            data["batch"] = True
        if self.kinds:
            data["kinds"] = list(self.kinds)
        if self.params:
            data["defaults"] = dict(self.params)
        if self.backend == "sim":
            data["simulator"] = {
                "seed": self.sim_seed,
                "latency": self.sim_latency,
                "faults": self.sim_faults,
                "url": self.sim_url,
            }
            if self.sim_batch_duration is not None:
                data["simulator"]["batch_duration"] = self.sim_batch_duration
        if self.rate_limits:
            data["rate_limits"] = {m: dict(v) for m, v in self.rate_limits.items()}
        if self.retry != RetryPolicy():
            data["retry"] = dataclasses.asdict(self.retry)
        data["prompts"] = [_source_dict(s) for s in _recordable_sources(self)]
        data["arms"] = [_arm_dict(arm) for arm in self.arms]
        if self.checks is not None and not self.checks.is_empty():
            data["checks"] = self.checks.to_dict()
        return data

    def to_toml(self, header: Sequence[str] = ()) -> str:
        """The sweep as a TOML sweep file (see :meth:`to_dict`), ``header`` as comments."""
        return toml_dumps(self.to_dict(), header)


def sweep_record(options: DrillOptions, run_id: str, sweep: Sweep | None = None) -> str:
    """The ``sweep.toml`` a run folder keeps: the drill's options as a sweep file (with the
    checks, kinds and prompt templates of ``sweep`` when the run came from one)."""
    record = Sweep.from_options(options, like=sweep)
    header = [
        f"The sweep of run {run_id}, as it was run ({options.backend}).",
        f"Repeat it with: imgkit drill --config {Path(options.out or 'runs') / run_id}/"
        f"{SWEEP_FILE_NAME}",
    ]
    return record.to_toml(header)


# --------------------------------------------------------------------------------------------
# From a document to a Sweep


def _recordable_sources(sweep: Sweep) -> list[PromptSource]:
    """The sweep's prompt sources with files replaced by the prompts read from them (a copy in
    a run folder must not depend on a file that may change), or the prompts themselves."""
    if not sweep.prompt_sources:
        return [InlinePrompts(tuple(sweep.prompt_texts))]
    base = Path(sweep.source).resolve().parent if sweep.source else None
    return [s.read(base) if isinstance(s, PromptFile) else s for s in sweep.prompt_sources]


def _source_dict(source: PromptSource) -> dict[str, Any]:
    if isinstance(source, InlinePrompts):
        return {"text": list(source.texts)}
    if isinstance(source, PromptFile):
        return {"file": source.path}
    return {"template": source.template, "grid": {k: list(v) for k, v in source.grid.items()}}


def _arm_dict(arm: Arm) -> dict[str, Any]:
    data: dict[str, Any] = {"name": arm.name, "model": arm.model}
    if arm.endpoint != "generate":
        data["endpoint"] = arm.endpoint
    if arm.prompt_variant:
        data["variant"] = arm.prompt_variant
    if arm.prompt_transform is not None:
        data.update(arm.prompt_transform.to_dict())
    data.update(arm.params)
    return data


# --------------------------------------------------------------------------------------------
# Validation against the catalog


def _validate(sweep: Sweep, catalog: Catalog) -> None:
    check_argument("backend", sweep.backend, ("sim", "live"))
    if not isinstance(sweep.batch, bool):
        raise ValidationError("batch", sweep.batch, [True, False])
    for arm in sweep.arms:
        _validate_arm(sweep, arm, catalog)
    models = {arm.model for arm in sweep.arms}
    for model in sweep.rate_limits:
        check_argument("rate_limits", model, sorted(models))
    if sweep.checks is not None:
        names = [arm.name for arm in sweep.arms]
        for arm in sweep.checks.arms():
            check_argument("checks: arm", arm, ["*", *names])


def _validate_arm(sweep: Sweep, arm: Arm, catalog: Catalog) -> None:
    spec = catalog.get_model(arm.model)
    check_argument("endpoint", arm.endpoint, spec.endpoints, model=arm.model)
    for prompt in sweep.prompts:
        arm.request(prompt.text, backend=sweep.backend, defaults=sweep.params, catalog=catalog)


# The sweep file's key for each parameter of the drill's options.
_OPTION_KEYS: dict[str, Key] = {
    "n": ("repeats",),
    "run_name": ("name",),
    "sim_faults": ("simulator", "faults"),
    "sim_url": ("simulator", "url"),
    "models": ("arms",),
}


def _validate_located(sweep: Sweep, document: SweepDocument, catalog: Catalog) -> None:
    """:func:`_validate`, each problem located in the document: the arm's key for its own
    parameters, ``defaults`` for the drill-wide ones, the prompt for a prompt too long."""
    arguments = sweep.drill_arguments()
    arguments.pop("out", None)
    try:
        check_options(DrillOptions(**arguments))
    except ValidationError as exc:
        raise document.error(_OPTION_KEYS.get(exc.param, (exc.param,)), exc) from None
    for k, arm in enumerate(sweep.arms):
        try:
            _validate_arm(sweep, arm, catalog)
        except ValidationError as exc:
            raise document.error(_blame(document, k, arm, sweep, exc), exc) from None
    if sweep.checks is not None:
        names = ["*", *(arm.name for arm in sweep.arms)]
        for kind in CHECK_KINDS:
            for arm in getattr(sweep.checks, kind):
                if arm not in names:
                    raise document.error(
                        ("checks", kind, arm), ValidationError(f"checks.{kind}: arm", arm, names)
                    )
    try:
        _validate(sweep, catalog)
    except ValidationError as exc:
        raise document.error((exc.param,), exc) from None


def _blame(
    document: SweepDocument, index: int, arm: Arm, sweep: Sweep, exc: ValidationError
) -> Key:
    arms = document.data.get("arms", [])
    item = arms[index] if index < len(arms) else {}
    written = isinstance(item, Mapping)
    if exc.param in arm.params:
        return ("arms", index, exc.param) if written else ("arms", index)
    if exc.param in sweep.params:
        return ("defaults", exc.param)
    if exc.param == "prompt":
        return ("prompts",)
    if written and exc.param in item:
        return ("arms", index, exc.param)
    if written and exc.param in ("model", "endpoint"):
        return ("arms", index, exc.param)
    return ("arms", index)
