"""Scripted and random failures, and blocked prompt terms, for the simulator.

A fault SPEC is a list of rules separated by ``;``. Two spellings are accepted:

``TARGET:KIND=VALUE[,KIND=VALUE...]`` (the contract form)
    ``VALUE`` is a probability from 0 to 1 (drawn from the seeded generator), or ``xN``: the
    next N matching requests fail that way. ``gemini:429=x1;leonardo:500=1.0``,
    ``openai/dall-e-3:policy=0.3``, ``*:429=0.1,500=0.05``.

``TARGET=KIND[,KIND...]`` (the issue's script form)
    the next requests to the target fail in that order, then succeed:
    ``gemini=429,429;leonardo=500;gpt-image-1=timeout;dall-e-3=policy``.

``TARGET`` is ``*`` (also spelled ``rate``, for the random mode ``rate:429=0.1,500=0.05``),
a provider (``openai``, ``gemini``, ``leonardo``), ``provider/model``, or a bare model name.
``KIND`` is one of :data:`FAULT_KINDS`. Each service plays a kind in its own shape
(``docs/vendor-behaviour.md`` gives the sources):

- ``429``, ``500``, ``503``: the vendor's error body (Leonardo answers 429 only when injected:
  beyond its concurrency it queues); ``timeout``, ``drop``: held, or cut mid-answer.
- ``policy``, refused for the prompt: OpenAI GPT image models 400 ``moderation_blocked``
  (moderation stage "input"), DALL-E 400 ``content_policy_violation``, the Responses API a
  failed ``image_generation_call`` inside a 200; Gemini ``promptFeedback.blockReason`` with no
  candidates; Leonardo a 400 at create.
- ``image_safety``, refused after drawing: OpenAI as policy with moderation stage "output" (an
  ``error`` event mid-stream); Gemini ``finishReason: IMAGE_SAFETY``; Leonardo a finished job
  whose images are flagged ``nsfw``.
- ``prohibited``: Gemini ``finishReason: IMAGE_PROHIBITED_CONTENT``; elsewhere as image_safety.
- ``decline``, the model answers in words: the Responses API a message and no image call,
  Gemini a text-only answer; the Images API and Leonardo, which cannot, play policy.
- ``job_failed``: a Leonardo job that ends ``FAILED``; elsewhere a 500.
- ``batch_failed``, ``batch_expired``, ``batch_cancelled``: a whole batch of the Batch APIs
  fails validation, expires with half its requests unrun, or is cancelled halfway
  (:mod:`imgkit.simulator.batch_jobs`). Drawn once per batch, with the batch's model as target;
  the other kinds apply to each line of a batch as to a request (``timeout`` and ``drop``, which
  are about a connection, become a line answered 504 and 500).

Blocked terms (``--block``) are matched case-insensitively as substrings of the prompt; a term
may carry a target prefix (``gemini:nuclear``) since services refuse different things.
"""

from __future__ import annotations

import random
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from imgkit.errors import ValidationError

__all__ = [
    "BATCH_FAULT_KINDS",
    "DEFAULT_BLOCKED_TERMS",
    "FAULT_KINDS",
    "REFUSAL_KINDS",
    "BlockList",
    "FaultPlan",
    "FaultRule",
    "parse_faults",
]

#: Faults of a whole batch (the Batch APIs), drawn once per batch when it is created; the
#: other kinds are drawn per request, batch lines included.
BATCH_FAULT_KINDS = ("batch_failed", "batch_expired", "batch_cancelled")
#: Every fault the simulator can inject.
FAULT_KINDS = (
    "429", "500", "503", "timeout", "drop",
    "policy", "image_safety", "prohibited", "decline", "job_failed",
    *BATCH_FAULT_KINDS,
)  # fmt: skip
#: The kinds that refuse on content grounds (or decline), played by each route in its own way.
REFUSAL_KINDS = ("policy", "image_safety", "prohibited", "decline")

#: Terms refused by every simulated service unless the caller passes ``block`` explicitly as
#: an empty list to :class:`BlockList`. Chosen to be unmistakable in a classroom and absent
#: from ordinary test prompts.
DEFAULT_BLOCKED_TERMS = ("graphic violence", "gore", "nsfw", "real celebrity")

_PROVIDERS = ("openai", "gemini", "leonardo")
_ANY = ("*", "rate")


def _target_matches(target: str, provider: str, model: str) -> bool:
    if target in _ANY:
        return True
    if target in _PROVIDERS:
        return target == provider
    if "/" in target:
        return target == f"{provider}/{model}"
    return target == model


def _check_target(target: str, spec: str) -> str:
    """A target some request can match: ``*``/``rate``, a provider, ``provider/model`` or a
    model of the catalog (a rule for a name nobody serves would never fire, silently)."""
    target = target.strip()
    if not target:
        raise ValidationError("faults", spec, "rules of the form TARGET:KIND=VALUE")
    provider, slash, model = target.partition("/")
    if target in _ANY or target in _PROVIDERS:
        return target
    from imgkit.catalog.models import default_catalog

    catalog = default_catalog()
    if (slash and provider in _PROVIDERS and model in catalog) or (not slash and target in catalog):
        return target
    raise ValidationError(
        "faults",
        target,
        f"a target: '*', a provider {list(_PROVIDERS)}, PROVIDER/MODEL or a model of the "
        "catalog (`imgkit models --all`)",
        detail=f"in {spec!r}",
    )


@dataclass
class FaultRule:
    """One target's faults: a queue of scripted kinds, then probabilities per kind."""

    target: str
    queue: deque[str] = field(default_factory=deque)
    probabilities: dict[str, float] = field(default_factory=dict)

    def matches(self, provider: str, model: str) -> bool:
        """Whether a request for ``provider``/``model`` is subject to this rule."""
        return _target_matches(self.target, provider, model)


def _check_kind(kind: str, spec: str) -> str:
    kind = kind.strip().lower()
    if kind not in FAULT_KINDS:
        raise ValidationError(
            "faults", spec, f"fault kinds {', '.join(FAULT_KINDS)}", detail=f"unknown kind {kind!r}"
        )
    return kind


def parse_faults(spec: str | None) -> list[FaultRule]:
    """Parse a fault SPEC (see the module docstring) into rules, in the order given.

    Raises :class:`~imgkit.errors.ValidationError` (param ``faults``) for a malformed SPEC.
    """
    rules: list[FaultRule] = []
    for raw in (spec or "").split(";"):
        raw = raw.strip()
        if not raw:
            continue
        head, sep, tail = raw.partition("=")
        if not sep:
            raise ValidationError("faults", raw, "TARGET:KIND=VALUE or TARGET=KIND,KIND")
        if ":" in head:
            # Contract form: TARGET:KIND=VALUE[,KIND=VALUE...]
            target, _, rest = raw.partition(":")
            rule = FaultRule(_check_target(target, raw))
            for item in rest.split(","):
                kind, eq, value = item.partition("=")
                if not eq:
                    raise ValidationError("faults", raw, "KIND=VALUE pairs after TARGET:")
                kind = _check_kind(kind, raw)
                value = value.strip().lower()
                if value.startswith("x"):
                    try:
                        count = int(value[1:])
                    except ValueError:
                        count = -1
                    if count < 0:
                        raise ValidationError("faults", raw, "xN with N a whole number")
                    rule.queue.extend([kind] * count)
                else:
                    try:
                        probability = float(value)
                    except ValueError:
                        probability = -1.0
                    if not 0.0 <= probability <= 1.0:
                        raise ValidationError("faults", raw, "a probability from 0 to 1 or xN")
                    rule.probabilities[kind] = probability
            if sum(rule.probabilities.values()) > 1.0 + 1e-9:
                raise ValidationError("faults", raw, "probabilities adding up to at most 1")
        else:
            # Script form: TARGET=KIND,KIND,...
            rule = FaultRule(_check_target(head, raw))
            rule.queue.extend(_check_kind(k, raw) for k in tail.split(",") if k.strip())
        rules.append(rule)
    return rules


class FaultPlan:
    """The faults still to come. Thread-safe; random draws are seeded per target and request.

    Draws depend only on the seed, the target and how many requests that target has seen, so a
    run is reproducible even when requests to different models interleave differently.
    """

    def __init__(self, spec: str | None = None, *, seed: int = 0) -> None:
        self.spec = spec or ""
        self.seed = seed
        self._rules = parse_faults(spec)
        self._counts: dict[tuple[str, str, bool], int] = {}
        self._lock = threading.Lock()

    def draw(self, provider: str, model: str, *, batch: bool = False) -> str | None:
        """The fault the next request to ``provider``/``model`` suffers, or None.

        ``batch=True`` draws the fault of a whole new batch (only :data:`BATCH_FAULT_KINDS`);
        otherwise those kinds are passed over, so a batch rule never fails a single request."""

        def wanted(kind: str) -> bool:
            return (kind in BATCH_FAULT_KINDS) == batch

        with self._lock:
            for rule in self._rules:
                if rule.queue and wanted(rule.queue[0]) and rule.matches(provider, model):
                    return rule.queue.popleft()
            key = (provider, model, batch)
            index = self._counts.get(key, 0)
            self._counts[key] = index + 1
            where = f"{provider}/{model}" + (":batch" if batch else "")
            for position, rule in enumerate(self._rules):
                if not rule.probabilities or not rule.matches(provider, model):
                    continue
                rng = random.Random(f"{self.seed}:{position}:{where}:{index}")
                u = rng.random()
                for kind, probability in rule.probabilities.items():
                    if not wanted(kind):
                        continue
                    if u < probability:
                        return kind
                    u -= probability
            return None

    def pending(self) -> dict[str, list[str]]:
        """Scripted faults not yet served, per target (for stats)."""
        with self._lock:
            return {r.target: list(r.queue) for r in self._rules if r.queue}


class BlockList:
    """Prompt terms that trigger a content-policy refusal, optionally per target."""

    def __init__(self, terms: Iterable[str] | None = None, *, defaults: bool = True) -> None:
        self._terms: list[tuple[str, str]] = []
        for term in (*(DEFAULT_BLOCKED_TERMS if defaults else ()), *(terms or ())):
            self.add(term)

    def add(self, term: str) -> None:
        """Add ``term`` or ``TARGET:term``; a prefix that is not a target is part of the term."""
        target, sep, rest = term.partition(":")
        if sep and rest.strip() and _looks_like_target(target.strip()):
            self._terms.append((target.strip(), rest.strip().lower()))
        elif term.strip():
            self._terms.append(("*", term.strip().lower()))

    @property
    def terms(self) -> list[str]:
        """The terms as given (with their target prefix when not global)."""
        return [t if target == "*" else f"{target}:{t}" for target, t in self._terms]

    def match(self, provider: str, model: str, prompt: str) -> str | None:
        """The first blocked term found in ``prompt`` for this target, or None."""
        lowered = prompt.lower()
        for target, term in self._terms:
            if term in lowered and _target_matches(target, provider, model):
                return term
        return None


def _looks_like_target(text: str) -> bool:
    if text in _ANY or text in _PROVIDERS or "/" in text:
        return True
    from imgkit.catalog.models import default_catalog

    return text in default_catalog()
