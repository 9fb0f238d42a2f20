"""The one exception tree of imgkit.

Every error the package raises on purpose is an :class:`ImgkitError`. Vendor SDK errors
(``openai``, ``google.genai``, HTTP errors from Leonardo) are translated into
:class:`ProviderError` subclasses at a single boundary, ``imgkit.providers.errormap``, so code
above the providers never catches a vendor exception.

::

    ImgkitError
    ├── ValidationError (also ValueError)      bad input, caught before any money is spent
    │   ├── UnknownModelError
    │   ├── RetiredModelError                  live request for a shut-down model
    │   ├── MaskError                          edit mask unusable
    │   └── SweepFileError                     a sweep or prompt file: names file, line, key
    ├── CatalogError                           catalog or price file malformed
    ├── BudgetExceededError                    estimate or spend would pass the budget
    ├── RunError                               run folder missing, corrupt or locked
    ├── ExportError                            a frame cannot be written as asked (no pyarrow)
    ├── FeaturesUnavailableError               a learned-feature network cannot be loaded
    ├── ProviderError                          a service answered with an error (or not at all)
    │   ├── RateLimitedError                   429; carries retry_after (seconds) when sent
    │   ├── ContentPolicyError                 refused on content grounds; never retried
    │   ├── InvalidRequestError                other 4xx about the request; carries param
    │   ├── AuthenticationError                401 / 403
    │   ├── ServerError                        5xx
    │   │   └── MalformedResponseError         a 200 the SDK cannot read (bad JSON, bad schema):
    │   │       │                                  may have been billed
    │   │       └── DamagedImageError              its image is not a whole image of the claim
    │   ├── ProviderTimeoutError               no answer in time
    │   ├── ConnectionLostError                connection dropped mid-request or mid-response
    │   │   └── ConnectFailedError             no connection made (refused, DNS, TLS): unbilled
    │   ├── NoImageError                       answered, but without an image (text kept)
    │   └── BatchNotRunError                   a batch ended (expired, cancelled, failed)
    │                                          before the vendor ran the request: unbilled
    └── ChainExhaustedError                    every provider of a fallback chain failed
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

__all__ = [
    "AuthenticationError",
    "BatchNotRunError",
    "BudgetExceededError",
    "CatalogError",
    "ChainExhaustedError",
    "ConnectFailedError",
    "ConnectionLostError",
    "ContentPolicyError",
    "DamagedImageError",
    "ExportError",
    "FeaturesUnavailableError",
    "ImgkitError",
    "InvalidRequestError",
    "MalformedResponseError",
    "MaskError",
    "NoImageError",
    "ProviderError",
    "ProviderTimeoutError",
    "RateLimitedError",
    "RetiredModelError",
    "RunError",
    "ServerError",
    "SweepFileError",
    "UnknownModelError",
    "ValidationError",
    "check_argument",
]


class ImgkitError(Exception):
    """Base class of every error imgkit raises on purpose."""


def _describe_allowed(allowed: Any) -> str:
    if isinstance(allowed, str):
        return allowed
    if isinstance(allowed, Iterable):
        return ", ".join(repr(a) for a in allowed)
    return repr(allowed)


class ValidationError(ImgkitError, ValueError):
    """A request or argument that would be rejected; raised before anything is sent or paid.

    The message always has the same shape: the parameter, the value given, what is allowed
    (and, when it matters, for which model).
    """

    def __init__(
        self,
        param: str,
        value: Any,
        allowed: Any,
        *,
        model: str | None = None,
        detail: str | None = None,
    ) -> None:
        self.param = param
        self.value = value
        self.allowed = allowed
        self.model = model
        where = f" for model {model!r}" if model else ""
        message = f"{param}={value!r} is not allowed{where}: allowed {_describe_allowed(allowed)}"
        if detail:
            message += f" ({detail})"
        super().__init__(message)


class UnknownModelError(ValidationError):
    """The model is not in the catalog, nor another name of an entry. ``nearest``: the known
    names closest to it, best first (said first in the message)."""

    def __init__(self, value: Any, known: Sequence[str], *, nearest: Sequence[str] = ()) -> None:
        self.nearest = list(nearest)
        hint = f"did you mean {self.nearest[0]!r}? " if self.nearest else ""
        super().__init__("model", value, list(known), detail=hint + "see `imgkit models --all`")


class RetiredModelError(ValidationError):
    """A live request for a model its vendor has shut down."""

    def __init__(self, model: str, retired_on: str, replacement: str | None) -> None:
        self.retired_on = retired_on
        self.replacement = replacement
        instead = f"use {replacement!r} instead" if replacement else "no replacement named"
        ImgkitError.__init__(
            self,
            f"model={model!r} was retired on {retired_on} and cannot be called live; {instead} "
            f"(the simulator, backend='sim', still plays it)",
        )
        self.param, self.value, self.model = "model", model, model
        self.allowed = [replacement] if replacement else []


class MaskError(ValidationError):
    """An edit mask that the service would reject or that would edit nothing."""


class SweepFileError(ValidationError):
    """A sweep file, or a prompt file it names, holds something imgkit cannot use.

    The message names the file, the line when it is known, the key (``arms[2].quality``), the
    value and what is allowed: ``sweep.toml, line 14 (arms[2].quality): quality='ultra' is not
    allowed for model 'gpt-image-2': allowed 'low', 'medium', 'high', 'auto'``. ``param``,
    ``value``, ``allowed`` and ``model`` are those of the problem found.
    """

    def __init__(
        self,
        file: str,
        problem: ValidationError | str,
        *,
        line: int | None = None,
        key: str | None = None,
    ) -> None:
        self.file = file
        self.line = line
        self.key = key
        where = file + (f", line {line}" if line else "") + (f" ({key})" if key else "")
        ImgkitError.__init__(self, f"{where}: {problem}")
        if isinstance(problem, ValidationError):
            self.param, self.value = problem.param, problem.value
            self.allowed, self.model = problem.allowed, problem.model
        else:
            self.param, self.value, self.allowed, self.model = key or file, None, problem, None


class CatalogError(ImgkitError):
    """The model catalog or a user price file is malformed."""


class BudgetExceededError(ImgkitError):
    """Starting (or continuing) would spend more than the budget allows."""

    def __init__(self, message: str, *, budget_usd: float, needed_usd: float) -> None:
        super().__init__(message)
        self.budget_usd = budget_usd
        self.needed_usd = needed_usd


class RunError(ImgkitError):
    """A run folder is missing, corrupt or in use."""


class ExportError(ImgkitError):
    """A run's frame cannot be written in the format asked for (Parquet without pyarrow)."""


class FeaturesUnavailableError(ImgkitError):
    """A learned-feature network cannot be loaded: its extra is not installed, its weights are
    missing or unreadable, or the model hub holding them cannot be reached. The message says
    which, and how to get it."""


class ProviderError(ImgkitError):
    """An image service failed to serve a request.

    Structured fields say who failed and how, so a chain or a run ledger can record the attempt
    without parsing the message.
    """

    #: short machine-readable kind, stable across versions (used in ledgers and reports)
    kind = "provider_error"
    #: whether the lesson's policy allows sending the same request to the same service again
    retry_same_provider = False
    #: whether the request may have reached the service, which may then have made (and billed)
    #: an image that never came back: a run counts such an attempt's estimate as spent
    may_have_been_billed = False

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        model: str | None = None,
        status: int | None = None,
        request_id: str | None = None,
        attempt: int | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.model = model
        self.status = status
        self.request_id = request_id
        self.attempt = attempt
        self.code = code

    def to_dict(self) -> dict[str, Any]:
        """The error as plain data, for ledgers and JSON output."""
        data = {
            "kind": self.kind,
            "message": self.message,
            "provider": self.provider,
            "model": self.model,
            "status": self.status,
            "request_id": self.request_id,
            "attempt": self.attempt,
            "code": self.code,
        }
        for extra in ("retry_after", "reason", "param", "text"):
            if hasattr(self, extra):
                data[extra] = getattr(self, extra)
        return data


class RateLimitedError(ProviderError):
    """429 from the service. ``retry_after`` is in seconds, or None when not sent."""

    kind = "rate_limited"

    def __init__(self, message: str, *, retry_after: float | None = None, **fields: Any) -> None:
        super().__init__(message, **fields)
        self.retry_after = retry_after


class ContentPolicyError(ProviderError):
    """The service refused the prompt or image on content grounds. Retrying cannot help."""

    kind = "content_policy"

    def __init__(self, message: str, *, reason: str | None = None, **fields: Any) -> None:
        super().__init__(message, **fields)
        self.reason = reason or message


class InvalidRequestError(ProviderError):
    """The service rejected the request itself (a 4xx other than auth, policy and 429)."""

    kind = "invalid_request"

    def __init__(self, message: str, *, param: str | None = None, **fields: Any) -> None:
        super().__init__(message, **fields)
        self.param = param


class AuthenticationError(ProviderError):
    """The key is missing, wrong, or lacks permission (401/403)."""

    kind = "auth"


class ServerError(ProviderError):
    """The service failed on its side (5xx)."""

    kind = "server_error"
    retry_same_provider = True


class MalformedResponseError(ServerError):
    """The service answered 200 but with something its SDK cannot read: JSON that does not
    parse, or does not fit the response's schema. The request reached the service, which may
    have made and billed the image: counted as possibly billed, retried as a server fault."""

    kind = "malformed_response"
    may_have_been_billed = True


class DamagedImageError(MalformedResponseError):
    """The service answered, but what it sent as an image is not a whole image of the format
    and size it claims: base64 that is not base64, bytes no decoder reads, a truncated file, a
    PNG sent as a JPEG. ``reason`` says which. The request reached the service and may have
    been billed; the policy retries it as a server fault, and nothing is stored as an image."""

    kind = "damaged"
    may_have_been_billed = True

    def __init__(self, message: str, *, reason: str | None = None, **fields: Any) -> None:
        super().__init__(message, **fields)
        self.reason = reason or message


class ProviderTimeoutError(ProviderError):
    """No answer within the timeout."""

    kind = "timeout"
    retry_same_provider = True
    may_have_been_billed = True


class ConnectionLostError(ProviderError):
    """The connection was dropped after the request may have gone out."""

    kind = "connection_lost"
    retry_same_provider = True
    may_have_been_billed = True


class ConnectFailedError(ConnectionLostError):
    """No connection could be made (refused, no such host, TLS failure, connect timeout): the
    request never left, so it cannot have been billed."""

    kind = "connect_failed"
    may_have_been_billed = False


class NoImageError(ProviderError):
    """The service answered, but with no image: a model that declined in words, or a finish
    reason that is not a refusal (Gemini's ``NO_IMAGE``). ``text`` keeps what the model said.

    Not retried: the same request tends to get the same answer.
    """

    kind = "no_image"

    def __init__(self, message: str, *, text: str | None = None, **fields: Any) -> None:
        super().__init__(message, **fields)
        self.text = text


class BatchNotRunError(ProviderError):
    """A request sent in a vendor's batch that the batch never ran: the batch expired (its
    completion window passed), was cancelled, or failed validation. Never billed.

    ``kind`` says which: "batch_expired" (a later batch may run it), "batch_cancelled" (someone
    cancelled it; a resume sends it again), "batch_failed" (the whole file was refused, and
    would be again)."""

    kind = "batch_not_run"
    may_have_been_billed = False

    def __init__(self, message: str, *, kind: str = "batch_not_run", **fields: Any) -> None:
        super().__init__(message, **fields)
        self.kind = kind
        self.retry_same_provider = kind == "batch_expired"


class ChainExhaustedError(ImgkitError):
    """Every provider of a fallback chain failed; ``attempts`` lists each try in order."""

    def __init__(self, message: str, attempts: Sequence[Any]) -> None:
        super().__init__(message)
        self.attempts = list(attempts)


def check_argument(
    param: str, value: Any, allowed: Iterable[Any], *, model: str | None = None
) -> Any:
    """Return ``value`` if it is one of ``allowed``, else raise :class:`ValidationError`.

    The single helper behind every "one of these values" check, so every message reads alike.
    """
    allowed = list(allowed)
    if value not in allowed:
        raise ValidationError(param, value, allowed, model=model)
    return value
