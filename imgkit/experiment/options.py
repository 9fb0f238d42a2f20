"""The options that define a drill, as its manifest records them, and the retry policy.

A resume reads :class:`DrillOptions` back from the manifest (:meth:`DrillOptions.from_manifest`)
and repeats the run exactly; :func:`check_options` refuses bad values before any folder exists.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from imgkit.errors import RunError, ValidationError, check_argument
from imgkit.experiment.arms import LESSON_REPEATS, Arm

__all__ = [
    "MAX_GENERATIONS_PER_RUN",
    "DrillOptions",
    "RetryPolicy",
    "check_options",
    "check_run_name",
    "planned_count",
    "without_credentials",
]

#: The most generations one run may plan. The order of magnitude of one OpenAI batch (50,000
#: requests): beyond it a sweep belongs in several runs, each of which a person can still read,
#: resume and report on; and a mistyped ``-n 1000000000`` is refused at once, not after the plan
#: has taken gigabytes.
MAX_GENERATIONS_PER_RUN = 50_000
#: The most requests one run keeps in flight: past the vendors' rate limits for images (tens
#: a minute), more only queues, and each one holds a connection and an image in memory.
MAX_CONCURRENCY = 256


@dataclass(frozen=True)
class RetryPolicy:
    """How the runner reacts to each kind of failure; every delay in seconds."""

    #: further tries after a 5xx, a timeout or a dropped connection ("retry once")
    transient_retries: int = 1
    #: wait before such a retry
    transient_delay_s: float = 0.5
    #: 429s waited out per generation before it is recorded as failed
    rate_limit_retries: int = 5
    #: wait after a 429 that carries no Retry-After
    default_retry_after_s: float = 2.0
    #: cap on any Retry-After (the OpenAI SDK caps at 120 s as well)
    max_retry_after_s: float = 120.0


@dataclass
class DrillOptions:
    """Everything that defines a drill; stored in the manifest so a resume repeats it exactly."""

    prompts: list[str]
    arms: list[Arm]
    n: int = LESSON_REPEATS
    size: str | None = None
    quality: str | None = None
    style: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    backend: str = "sim"
    out: str = "runs"
    run_name: str | None = None
    budget: float | None = None
    concurrency: int = 4
    #: per model: {"requests_per_minute": x, "images_per_minute": y}; the user's word
    rate_limits: dict[str, dict[str, float]] = field(default_factory=dict)
    #: apply the catalog's rate limits too; None = on live runs only (the simulator does not
    #: enforce them, and pacing a rehearsal at 5 images a minute would only slow it down)
    catalog_rate_limits: bool | None = None
    sim_url: str | None = None
    sim_seed: int = 0
    sim_latency: float = 0.0
    sim_faults: str | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    #: each request's total deadline, seconds (None: the providers' default, 180 s)
    timeout_s: float | None = None
    #: after a stop (Ctrl-C, SIGTERM), seconds the requests in flight get to finish before they
    #: are cut off and recorded as interrupted (possibly billed)
    stop_grace_s: float = 3.0
    #: send the arms whose provider has a Batch API through it (imgkit.runner.batch)
    batch: bool = False
    #: seconds the embedded simulator takes over a batch (None: the simulator's default)
    sim_batch_duration: float | None = None

    def defaults(self) -> dict[str, Any]:
        """Drill-wide request parameters (arms' own params win over these)."""
        return {"size": self.size, "quality": self.quality, "style": self.style, **self.params}

    def to_dict(self) -> dict[str, Any]:
        # Field by field: arms hold read-only mappings, which asdict() cannot copy.
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["arms"] = [arm.to_dict() for arm in self.arms]
        data["retry"] = asdict(self.retry)
        data["params"] = dict(self.params)
        data["sim_url"] = without_credentials(self.sim_url)
        return data

    @classmethod
    def from_manifest(cls, manifest: Mapping[str, Any], source: str = "manifest") -> DrillOptions:
        """The options recorded in a run's manifest.

        :class:`~imgkit.errors.RunError` naming ``source``, the key and what was expected when
        the manifest does not hold them in the shape a run writes."""

        def damaged(key: str, expected: str) -> RunError:
            return RunError(f"{source}: {key!r} is missing or damaged: expected {expected}")

        if not isinstance(manifest, Mapping):
            raise RunError(f"{source}: expected a JSON object, found {type(manifest).__name__}")
        data = manifest.get("parameters")
        if not isinstance(data, Mapping):
            raise damaged("parameters", "an object with the drill's options")
        data = dict(data)
        arms = data.get("arms")
        if not isinstance(arms, list) or not all(isinstance(a, Mapping) for a in arms):
            raise damaged("parameters.arms", "a list of arms, each an object")
        try:
            data["arms"] = [Arm.from_dict(a) for a in arms]
        except (KeyError, TypeError, ValueError) as exc:
            raise damaged("parameters.arms", f"arms with a name and a model ({exc})") from None
        retry = data.get("retry", {})
        known_retry = set(RetryPolicy.__dataclass_fields__)
        if not isinstance(retry, Mapping) or not set(retry) <= known_retry:
            raise damaged("parameters.retry", f"an object with keys among {sorted(known_retry)}")
        data["retry"] = RetryPolicy(**retry)
        if not isinstance(data.get("prompts"), list):
            raise damaged("parameters.prompts", "a list of prompts")
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


def planned_count(options: DrillOptions) -> int:
    """How many generations the drill plans: arms x prompts x repeats."""
    return len(options.arms) * len(options.prompts) * options.n


def check_run_name(name: str) -> str:
    """``name`` if it can name a run folder: one path component, visible, no control text."""
    if (
        not isinstance(name, str)
        or not name.strip()
        or name != name.strip()
        or name in (".", "..")
        or name.startswith(".")
        or any(sep in name for sep in ("/", "\\", os.sep))
        or any(ord(c) < 32 or ord(c) == 127 for c in name)
        or len(name.encode("utf-8")) > 200
    ):
        raise ValidationError(
            "run_name",
            name,
            "one folder name: no '/' or '\\\\', not starting with '.', no control characters, "
            "at most 200 bytes",
        )
    return name


def without_credentials(url: str | None) -> str | None:
    """``url`` without any ``user:password@`` part: a manifest must never hold a secret."""
    if not url:
        return url
    parts = urlsplit(url)
    if parts.username or parts.password:
        parts = parts._replace(netloc=parts.hostname + (f":{parts.port}" if parts.port else ""))
    return urlunsplit(parts)


def check_options(options: DrillOptions) -> None:
    """Refuse options no run can use, before anything is created or sent."""
    check_argument("backend", options.backend, ("sim", "live"))
    if not isinstance(options.batch, bool):
        raise ValidationError("batch", options.batch, [True, False])
    duration = options.sim_batch_duration
    if duration is not None and (
        isinstance(duration, bool)
        or not isinstance(duration, int | float)
        or not 0 <= duration < 86_400
    ):
        raise ValidationError("sim_batch_duration", duration, "seconds >= 0 and below a day")
    if isinstance(options.n, bool) or not isinstance(options.n, int) or options.n < 1:
        raise ValidationError("n", options.n, "a whole number of repeats >= 1")
    concurrency = options.concurrency
    if (
        isinstance(concurrency, bool)
        or not isinstance(concurrency, int)
        or not 1 <= concurrency <= MAX_CONCURRENCY
    ):
        raise ValidationError(
            "concurrency", concurrency, f"a whole number from 1 to at most {MAX_CONCURRENCY}"
        )
    if options.budget is not None and (
        isinstance(options.budget, bool)
        or not isinstance(options.budget, int | float)
        or not 0 <= options.budget < 1e12
    ):
        raise ValidationError("budget", options.budget, "a dollar amount >= 0 and below 1e12")
    timeout = options.timeout_s
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 3600
    ):
        # Found by the fuzz test (issue 27): a string here failed in the providers, after
        # the run folder was made.
        raise ValidationError("timeout_s", timeout, "seconds > 0 and at most 3600")
    if options.backend == "live" and options.budget is None:
        raise ValidationError(
            "budget", None, "a dollar amount for live runs", detail="live runs spend real money"
        )
    if not options.prompts:
        raise ValidationError("prompts", options.prompts, "at least one prompt")
    if not options.arms:
        raise ValidationError("models", [], "at least one model or arm")
    if planned_count(options) > MAX_GENERATIONS_PER_RUN:
        raise ValidationError(
            "n",
            options.n,
            f"at most {MAX_GENERATIONS_PER_RUN:,} generations in one run "
            f"({len(options.arms)} arm(s) x {len(options.prompts)} prompt(s) x n = "
            f"{planned_count(options):,}); split a larger sweep into several runs",
        )
    if options.run_name is not None:
        check_run_name(options.run_name)
    if options.sim_url and options.sim_faults:
        raise ValidationError(
            "sim_faults",
            options.sim_faults,
            "None with sim_url: a simulator already running has its own faults",
        )
    models = {arm.model for arm in options.arms}
    for model in options.rate_limits:
        if model not in models:
            raise ValidationError("rate_limits", model, f"a model of this run: {sorted(models)}")
    if options.backend == "sim" and not options.sim_url and options.sim_faults:
        # A bad SPEC would otherwise fail only when the simulator starts, inside a run folder
        # already created: check it first so nothing is left behind.
        from imgkit.simulator.faults import parse_faults

        parse_faults(options.sim_faults)
