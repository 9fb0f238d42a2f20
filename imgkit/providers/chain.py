"""The fallback chain: an ordered list of (provider, model, params) tried under the lesson's policy.

The policy, exactly as lesson 99 sets it:

========================================  ==========================================================
the provider answered                     the chain
========================================  ==========================================================
429 rate limited                          goes to the next provider at once (no retry, no sleep)
5xx, timeout, dropped connection          retries the same provider once, then goes to the next
400 content policy                        never sends that prompt to that provider again; records
                                          the refusal; goes to the next
other 4xx (invalid request, auth)         goes to the next, recorded as a configuration error
the last provider failed                  raises :class:`~imgkit.errors.ChainExhaustedError` with
                                          every attempt, after calling the alert hook
========================================  ==========================================================

Every attempt is recorded (:class:`Attempt`: provider, model, status, error kind, message,
request id, elapsed seconds, and what the chain did next), success or not. The lesson's default
chain is Gemini -> Leonardo -> OpenAI (:meth:`Chain.default`); a chain can also be read from TOML
(:meth:`Chain.from_toml`)::

    retry_delay_s = 0.5
    [[links]]
    model = "gemini-3.1-flash-image"
    [[links]]
    model = "leonardo-phoenix"
    [[links]]
    model = "gpt-image-2"
    quality = "medium"

:meth:`Chain.expected_cost` gives the catalog's expected cost per request of the chain under
given failure rates (``imgkit.catalog.costs.chain_expected_cost``), which a simulated run with the
same fault rates reproduces within sampling error.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
import tomllib
from collections import OrderedDict
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from imgkit.catalog.costs import chain_expected_cost, estimate_cost
from imgkit.catalog.models import get_model
from imgkit.catalog.validation import ImageRequest, validate_request
from imgkit.errors import (
    AuthenticationError,
    ChainExhaustedError,
    ContentPolicyError,
    InvalidRequestError,
    ProviderError,
    RateLimitedError,
    ValidationError,
)
from imgkit.providers import Provider, get_provider
from imgkit.providers.base import Backend, Stopwatch
from imgkit.providers.results import GenerationResult

__all__ = [
    "DEFAULT_CHAIN",
    "Attempt",
    "Chain",
    "ChainLink",
    "ChainResult",
    "link_failure_probability",
    "log_alert",
]

logger = logging.getLogger("imgkit.providers.chain")

#: The lesson's chain: the cheap providers first, OpenAI as the reliable last resort. The
#: lesson's gpt-image-1 was shut down on 2026-10-23; gpt-image-2 takes its place.
DEFAULT_CHAIN: tuple[tuple[str, Mapping[str, Any]], ...] = (
    ("gemini-3.1-flash-image", {"size": "1024x1024"}),
    ("leonardo-phoenix", {"size": "1024x1024"}),
    ("gpt-image-2", {"size": "1024x1024", "quality": "medium"}),
)

Outcome = Literal[
    "ok", "rate_limited", "transient", "refused", "configuration_error", "error", "skipped"
]
Action = Literal["served", "retry_same_provider", "next_provider", "gave_up"]

# Probe prompt used to check a link's parameters when the chain is built.
_PROBE_PROMPT = "parameter check"
_RETRYABLE_FAULTS = ("500", "503", "timeout", "drop")
_FINAL_FAULTS = ("429", "policy")


@dataclass(frozen=True)
class ChainLink:
    """One position of a chain: a catalog model and the request parameters to use with it.

    ``params`` are :func:`~imgkit.catalog.validation.validate_request` keywords (size, quality,
    style, n, seed, ...). ``provider`` injects a ready provider instead of the chain building one.
    """

    model: str
    params: Mapping[str, Any] = field(default_factory=dict)
    label: str | None = None
    provider: Provider | None = field(default=None, compare=False, repr=False)

    @property
    def provider_name(self) -> str:
        return self.provider.name if self.provider is not None else get_model(self.model).provider

    @property
    def name(self) -> str:
        """The link's label (``provider/model`` unless given)."""
        return self.label or f"{self.provider_name}/{self.model}"

    def request(self, prompt: str, backend: Backend) -> ImageRequest:
        """The validated request this link sends for ``prompt``."""
        return validate_request(self.model, prompt, backend=backend, **dict(self.params))


@dataclass
class Attempt:
    """One try of one link, and what the chain did after it."""

    link: int
    provider: str
    model: str
    try_number: int
    outcome: Outcome
    action: Action
    status: int | None = None
    error_kind: str | None = None
    message: str | None = None
    request_id: str | None = None
    elapsed_s: float = 0.0
    retry_after: float | None = None
    code: str | None = None
    #: the service's reason for a content-policy refusal
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ChainResult:
    """The images a chain produced, who served them, and every attempt it took."""

    results: list[GenerationResult]
    attempts: list[Attempt]
    link: int
    elapsed_s: float

    @property
    def result(self) -> GenerationResult:
        """The first (usually the only) image."""
        return self.results[0]

    @property
    def served_by(self) -> str:
        """``provider/model`` of the link that served the request."""
        return f"{self.result.provider}/{self.result.model}"

    @property
    def cost_usd(self) -> float | None:
        """What the served request cost (failed attempts are not billed); None if unknown."""
        costs = [r.cost_usd for r in self.results]
        return None if any(c is None for c in costs) else float(sum(costs))  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, Any]:
        return {
            "served_by": self.served_by,
            "link": self.link,
            "cost_usd": self.cost_usd,
            "elapsed_s": self.elapsed_s,
            "results": [r.to_dict() for r in self.results],
            "attempts": [a.to_dict() for a in self.attempts],
        }


def log_alert(error: ChainExhaustedError) -> None:
    """The default alert hook: one ERROR log line with every attempt."""
    tries = "; ".join(
        f"{a.provider}/{a.model} try {a.try_number}: {a.error_kind or a.outcome}"
        f"{f' ({a.status})' if a.status else ''}"
        for a in error.attempts
    )
    logger.error("fallback chain exhausted: %s", tries)


def _classify(error: Exception, try_number: int, last_link: bool) -> tuple[Outcome, Action]:
    """The lesson's policy for one failed try."""
    if isinstance(error, RateLimitedError):
        outcome: Outcome = "rate_limited"
    elif isinstance(error, ContentPolicyError):
        outcome = "refused"
    elif isinstance(error, InvalidRequestError | AuthenticationError | ValidationError):
        outcome = "configuration_error"
    elif isinstance(error, ProviderError) and error.retry_same_provider:
        outcome = "transient"
        if try_number == 1:
            return outcome, "retry_same_provider"
    else:
        outcome = "error"
    return outcome, "gave_up" if last_link else "next_provider"


@dataclass(frozen=True)
class _Call:
    link: int
    request: ImageRequest


@dataclass(frozen=True)
class _Sleep:
    seconds: float


_Step = _Call | _Sleep
_Reply = tuple[list[GenerationResult] | None, Exception | None, float] | None


def link_failure_probability(provider: str, model: str, faults: str | None) -> float:
    """Probability that one link fails *after the policy's retry*, under a simulator fault SPEC.

    Uses the simulator's semantics: rules are tried in order, each with one uniform draw split
    among its kinds. A 429 or policy fault ends the link at once; a 5xx, timeout or drop is tried
    again, and the second try fails with any fault. Scripted (``xN``) rules are not rates and
    are ignored.
    """
    from imgkit.simulator.faults import parse_faults

    rates = dict.fromkeys((*_RETRYABLE_FAULTS, *_FINAL_FAULTS), 0.0)
    untouched = 1.0
    for rule in parse_faults(faults):
        if not rule.probabilities or not rule.matches(provider, model):
            continue
        for kind, probability in rule.probabilities.items():
            rates[kind] += untouched * probability
        untouched *= 1.0 - sum(rule.probabilities.values())
    final = sum(rates[k] for k in _FINAL_FAULTS)
    retryable = sum(rates[k] for k in _RETRYABLE_FAULTS)
    return final + retryable * (final + retryable)


class Chain:
    """An ordered fallback chain of image models under the lesson's error policy.

    ``backend`` applies to every link; ``base_urls`` ({provider: url}) or ``server`` (a simulator
    server, e.g. from ``imgkit.simulator.serve()``) point the providers somewhere other than the
    default. ``retry_delay_s`` is the pause before the one retry of a 5xx/timeout/drop (0 in
    tests). ``alert`` is called with the :class:`ChainExhaustedError` before it is raised
    (default: :func:`log_alert`). With ``remember_refusals`` (the default) a prompt a provider
    refused on content grounds is never sent to that provider again by this chain.
    """

    def __init__(
        self,
        links: Iterable[ChainLink | str | Mapping[str, Any]],
        *,
        backend: Backend = "sim",
        base_urls: Mapping[str, str] | None = None,
        server: Any = None,
        retry_delay_s: float = 0.5,
        alert: Callable[[ChainExhaustedError], Any] | None = log_alert,
        remember_refusals: bool = True,
        timeout_s: float | None = None,
        provider_options: Mapping[str, Mapping[str, Any]] | None = None,
        name: str = "chain",
    ) -> None:
        self.links: list[ChainLink] = [_as_link(link) for link in links]
        if not self.links:
            raise ValidationError("links", [], "at least one ChainLink")
        if isinstance(retry_delay_s, bool) or not isinstance(retry_delay_s, int | float):
            raise ValidationError("retry_delay_s", retry_delay_s, "a number of seconds >= 0")
        if retry_delay_s < 0:
            raise ValidationError("retry_delay_s", retry_delay_s, "a number of seconds >= 0")
        self.backend: Backend = backend
        self.retry_delay_s = float(retry_delay_s)
        self.alert = alert
        self.remember_refusals = remember_refusals
        self.name = name
        self._timeout_s = timeout_s
        self._provider_options = {k: dict(v) for k, v in (provider_options or {}).items()}
        self._base_urls = dict(base_urls or {})
        if server is not None:
            for provider in ("openai", "gemini", "leonardo"):
                url = getattr(server, f"{provider}_base_url", None)
                if url and provider not in self._base_urls:
                    self._base_urls[provider] = str(url)
        self._providers: dict[str, Provider] = {}
        self._refused: OrderedDict[tuple[str, str], None] = OrderedDict()
        # Check every link's parameters now: a typo in a chain should fail when it is built,
        # not on the night the first provider is down.
        for link in self.links:
            link.request(_PROBE_PROMPT, backend)

    def __repr__(self) -> str:
        return f"Chain({[link.name for link in self.links]!r}, backend={self.backend!r})"

    # -- construction ----------------------------------------------------------------------

    @classmethod
    def default(cls, **kwargs: Any) -> Chain:
        """The lesson's chain: Gemini -> Leonardo -> OpenAI (see :data:`DEFAULT_CHAIN`)."""
        return cls([ChainLink(model, params) for model, params in DEFAULT_CHAIN], **kwargs)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], **kwargs: Any) -> Chain:
        """A chain from parsed TOML/JSON: ``links`` (each a table with ``model`` plus request
        parameters and an optional ``label``) and optional ``retry_delay_s``, ``backend``,
        ``remember_refusals``, ``timeout_s``, ``name``. Keyword arguments win over the data."""
        data = data.get("chain", data) if isinstance(data.get("chain"), Mapping) else data
        links = data.get("links")
        if not isinstance(links, list) or not links:
            raise ValidationError("links", links, "a non-empty list of [[links]] tables")
        options = {
            key: data[key]
            for key in ("retry_delay_s", "backend", "remember_refusals", "timeout_s", "name")
            if key in data
        }
        options.update(kwargs)
        return cls([_as_link(link) for link in links], **options)

    @classmethod
    def from_toml(cls, path: str | os.PathLike[str], **kwargs: Any) -> Chain:
        """A chain from a TOML file (see the module docstring for the shape)."""
        file = Path(path)
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ValidationError("config", str(file), "an existing TOML file") from None
        except tomllib.TOMLDecodeError as exc:
            raise ValidationError("config", str(file), "valid TOML", detail=str(exc)) from None
        return cls.from_dict(data, **kwargs)

    # -- providers -------------------------------------------------------------------------

    def provider(self, link: ChainLink) -> Provider:
        """The provider serving ``link`` (one per vendor, shared by the chain's links)."""
        if link.provider is not None:
            return link.provider
        name = link.provider_name
        if name not in self._providers:
            self._providers[name] = get_provider(
                name,
                backend=self.backend,
                base_url=self._base_urls.get(name),
                timeout_s=self._timeout_s,
                **self._provider_options.get(name, {}),
            )
        return self._providers[name]

    def close(self) -> None:
        """Close the providers this chain opened."""
        for provider in self._providers.values():
            provider.close()
        self._providers.clear()

    async def aclose(self) -> None:
        """Close the providers this chain opened (async clients included)."""
        for provider in self._providers.values():
            await provider.aclose()
        self._providers.clear()

    def __enter__(self) -> Chain:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the policy ------------------------------------------------------------------------

    def _refusal_key(self, provider: str, prompt: str) -> tuple[str, str]:
        return provider, hashlib.sha256(prompt.encode("utf-8")).hexdigest()

    def _remember_refusal(self, provider: str, prompt: str) -> None:
        self._refused[self._refusal_key(provider, prompt)] = None
        while len(self._refused) > 10_000:  # bounded: a long-running service must not leak
            self._refused.popitem(last=False)

    def refused(self, provider: str, prompt: str) -> bool:
        """Whether ``provider`` refused ``prompt`` earlier in this chain's life."""
        return self._refusal_key(provider, prompt) in self._refused

    def _steps(self, prompt: str) -> Generator[_Step, _Reply, ChainResult]:
        """The policy as a generator: yields calls and sleeps, receives their outcomes.

        One generator serves both the sync and the async driver, so the policy exists once.
        """
        watch = Stopwatch()
        attempts: list[Attempt] = []
        last = len(self.links) - 1
        for index, link in enumerate(self.links):
            provider_name, model = link.provider_name, link.model
            if self.remember_refusals and self.refused(provider_name, prompt):
                attempts.append(
                    Attempt(index, provider_name, model, 0, "skipped",
                            "gave_up" if index == last else "next_provider",
                            error_kind="content_policy",
                            message=f"{provider_name} refused this prompt before; not resent")
                )  # fmt: skip
                continue
            try:
                request = link.request(prompt, self.backend)
            except ValidationError as exc:
                outcome, action = _classify(exc, 1, index == last)
                attempts.append(
                    Attempt(index, provider_name, model, 1, outcome, action,
                            error_kind="validation", message=str(exc))
                )  # fmt: skip
                continue
            for try_number in (1, 2):
                reply = yield _Call(index, request)
                if reply is None:  # pragma: no cover - the drivers always answer a _Call
                    raise RuntimeError("chain driver sent no reply to a call")
                results, error, elapsed = reply
                if error is None and results is not None:
                    first = results[0]
                    attempts.append(
                        Attempt(index, provider_name, model, try_number, "ok", "served",
                                status=200, request_id=first.request_id, elapsed_s=elapsed)
                    )  # fmt: skip
                    return ChainResult(results, attempts, index, watch.elapsed())
                outcome, action = _classify(error, try_number, index == last)  # type: ignore[arg-type]
                attempts.append(_failed_attempt(index, link, try_number, outcome, action, error,
                                                elapsed))  # fmt: skip
                if outcome == "refused" and self.remember_refusals:
                    self._remember_refusal(provider_name, prompt)
                if action != "retry_same_provider":
                    break
                if self.retry_delay_s > 0:
                    yield _Sleep(self.retry_delay_s)
        exhausted = ChainExhaustedError(
            f"all {len(self.links)} providers of the chain failed: "
            + "; ".join(
                f"{a.provider}/{a.model}: {a.error_kind or a.outcome}"
                for a in attempts
                if a.action != "retry_same_provider"
            ),
            attempts,
        )
        if self.alert is not None:
            try:
                self.alert(exhausted)
            except Exception:  # an alert hook must never hide the failure it reports
                logger.exception("the chain's alert hook failed")
        raise exhausted

    def generate(self, prompt: str) -> ChainResult:
        """Send ``prompt`` down the chain; return the first success.

        Raises :class:`~imgkit.errors.ChainExhaustedError` (with ``.attempts``) when every link
        failed.
        """
        steps = self._steps(prompt)
        step = next(steps)
        while True:
            if isinstance(step, _Sleep):
                time.sleep(step.seconds)
                reply: _Reply = None
            else:
                watch = Stopwatch()
                try:
                    link = self.links[step.link]
                    reply = (self.provider(link).generate(step.request), None, watch.elapsed())
                except (ProviderError, ValidationError) as exc:
                    reply = (None, exc, watch.elapsed())
            try:
                step = steps.send(reply)
            except StopIteration as stop:
                return stop.value

    async def agenerate(self, prompt: str) -> ChainResult:
        """Async :meth:`generate`."""
        steps = self._steps(prompt)
        step = next(steps)
        while True:
            if isinstance(step, _Sleep):
                await asyncio.sleep(step.seconds)
                reply: _Reply = None
            else:
                watch = Stopwatch()
                try:
                    link = self.links[step.link]
                    results = await self.provider(link).agenerate(step.request)
                    reply = (results, None, watch.elapsed())
                except (ProviderError, ValidationError) as exc:
                    reply = (None, exc, watch.elapsed())
            try:
                step = steps.send(reply)
            except StopIteration as stop:
                return stop.value

    # -- cost ------------------------------------------------------------------------------

    def expected_cost(
        self,
        faults: str | None = None,
        *,
        p_fail: Sequence[float] | None = None,
    ) -> dict[str, Any]:
        """Expected USD per request of this chain, from the catalog's estimates.

        Each link's failure probability comes from ``p_fail`` (one per link, after the retry)
        or from a simulator fault SPEC (``faults``, see :func:`link_failure_probability`);
        failed tries are taken as unbilled. Returns ``imgkit.catalog.costs.chain_expected_cost``'s
        dict plus ``links``: label, cost_usd (per request) and p_fail of each link.
        """
        if p_fail is not None and len(p_fail) != len(self.links):
            raise ValidationError("p_fail", list(p_fail), f"{len(self.links)} probabilities")
        rows = []
        for index, link in enumerate(self.links):
            estimate = estimate_cost(link.request(_PROBE_PROMPT, self.backend))
            if estimate.usd is None:
                raise ValidationError(
                    "links", link.name, "links whose cost the catalog can estimate",
                    detail=estimate.note,
                )  # fmt: skip
            probability = (
                float(p_fail[index])
                if p_fail is not None
                else link_failure_probability(link.provider_name, link.model, faults)
            )
            rows.append({"label": link.name, "cost_usd": estimate.usd, "p_fail": probability})
        figure = chain_expected_cost([{"cost": r["cost_usd"], "p_fail": r["p_fail"]} for r in rows])
        figure["links"] = rows
        return figure


def _as_link(link: ChainLink | str | Mapping[str, Any]) -> ChainLink:
    if isinstance(link, ChainLink):
        return link
    if isinstance(link, str):
        return ChainLink(link)
    if isinstance(link, Mapping):
        data = dict(link)
        model = data.pop("model", None)
        if not isinstance(model, str):
            raise ValidationError("links[].model", model, "a catalog model name")
        label = data.pop("label", None)
        params = data.pop("params", {})
        return ChainLink(model, {**params, **data}, label=label)
    raise ValidationError("links", link, "ChainLink objects, model names or tables with 'model'")


def _failed_attempt(
    index: int,
    link: ChainLink,
    try_number: int,
    outcome: Outcome,
    action: Action,
    error: Exception,
    elapsed: float,
) -> Attempt:
    fields: dict[str, Any] = {"error_kind": "validation", "message": str(error)}
    if isinstance(error, ProviderError):
        fields = {
            "status": error.status,
            "error_kind": error.kind,
            "message": error.message,
            "request_id": error.request_id,
            "retry_after": getattr(error, "retry_after", None),
            "code": error.code,
            "reason": getattr(error, "reason", None),
        }
        error.attempt = try_number
    return Attempt(index, link.provider_name, link.model, try_number, outcome, action,
                   elapsed_s=elapsed, **fields)  # fmt: skip
