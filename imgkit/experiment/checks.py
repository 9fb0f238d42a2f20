"""The checks a run must pass: thresholds on consistency, rewriting, cost and failures.

:class:`Checks` is what ``imgkit check RUN --min-similarity ARM=0.8 ...`` and a sweep file's
``[checks]`` table say; :func:`imgkit.analysis.gates.check_table` measures a run against them.
Each kind of check maps an arm name to a threshold; the arm ``*`` means every arm of the run,
each checked on its own (for the failure rate: the run as a whole):

- ``min_similarity``: each prompt's similarity of the arm's repeats (the consistency table's
  figure and interval, hash ``kind``) at least this;
- ``max_rewrite``: the mean normalised word edit distance between the prompt and the
  ``revised_prompt`` the service returned at most this (0 = drawn as written);
- ``max_cost_per_image``: USD spent per image made at most this;
- ``max_failure_rate``: the share of generations that failed, were refused or never answered
  at most this.

A figure whose interval lies on the wrong side of its threshold fails, one whose interval lies
on the right side passes, and one whose interval straddles it is *inconclusive*: more repeats
are needed to tell. ``inconclusive`` says what that counts as ("pass" by default, so that a gate
on a small nightly sample does not flap; "fail" for a strict gate).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any

from imgkit.errors import ValidationError, check_argument

__all__ = ["ALL_ARMS", "CHECK_KINDS", "INCONCLUSIVE_OUTCOMES", "Checks", "parse_threshold"]

#: The arm name that stands for every arm of the run.
ALL_ARMS = "*"
#: Each kind of check, with the range its threshold may take.
CHECK_KINDS: Mapping[str, tuple[float, float]] = MappingProxyType(
    {
        "min_similarity": (0.0, 1.0),
        "max_rewrite": (0.0, 1.0),
        "max_cost_per_image": (0.0, 1e6),
        "max_failure_rate": (0.0, 1.0),
    }
)
#: What an inconclusive check may count as.
INCONCLUSIVE_OUTCOMES = ("pass", "fail")


def _threshold(param: str, value: Any) -> float:
    low, high = CHECK_KINDS[param]
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not low <= value <= high
    ):
        raise ValidationError(param, value, f"a number from {low:g} to {high:g}")
    return float(value)


def parse_threshold(param: str, text: str) -> tuple[str, float]:
    """``ARM=VALUE`` or ``VALUE`` (every arm) from a command line into (arm, threshold)."""
    arm, equals, number = str(text).rpartition("=")
    if not equals:
        arm = ALL_ARMS
    try:
        value = float(number.strip().lstrip("$"))
    except ValueError:
        raise ValidationError(
            "--" + param.replace("_", "-"), text, "[ARM=]NUMBER, e.g. gpt-image-2=0.8 or 0.8"
        ) from None
    if not arm.strip():
        raise ValidationError("--" + param.replace("_", "-"), text, "ARM=NUMBER with an arm name")
    return arm.strip(), _threshold(param, value)


@dataclass(frozen=True)
class Checks:
    """Thresholds per kind of check (``{arm: threshold}``; ``"*"`` = every arm), the measure
    the similarity is measured with (the learned measure by default, or a hash kind), the
    confidence of the intervals, and what an inconclusive check counts as. See the module
    docstring."""

    min_similarity: Mapping[str, float] = field(default_factory=dict)
    max_rewrite: Mapping[str, float] = field(default_factory=dict)
    max_cost_per_image: Mapping[str, float] = field(default_factory=dict)
    max_failure_rate: Mapping[str, float] = field(default_factory=dict)
    kind: str = "efficientnet-lite0"
    inconclusive: str = "pass"
    confidence: float = 0.95

    def __post_init__(self) -> None:
        from imgkit.analysis.measures import parse_measure  # light: names, not the networks

        for name in CHECK_KINDS:
            given = getattr(self, name)
            if not isinstance(given, Mapping):
                # A bare number is the threshold for every arm.
                given = {ALL_ARMS: given}
            checked = {}
            for arm, value in given.items():
                if not isinstance(arm, str) or not arm.strip():
                    raise ValidationError(name, arm, "an arm name, or '*' for every arm")
                checked[arm.strip()] = _threshold(name, value)
            object.__setattr__(self, name, MappingProxyType(checked))
        object.__setattr__(self, "kind", parse_measure(self.kind).name)
        check_argument("inconclusive", self.inconclusive, INCONCLUSIVE_OUTCOMES)
        if (
            isinstance(self.confidence, bool)
            or not isinstance(self.confidence, int | float)
            or not 0.5 <= self.confidence < 1
        ):
            raise ValidationError("confidence", self.confidence, "a number from 0.5 to below 1")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Checks:
        """Checks from a sweep file's ``[checks]`` table (keys as the fields' names);
        :class:`ValidationError` naming an unknown key."""
        if not isinstance(data, Mapping):
            raise ValidationError("checks", data, "a table of checks")
        known = [f.name for f in fields(cls)]
        for key in data:
            check_argument("checks", key, known)
        return cls(**dict(data))

    @classmethod
    def from_options(
        cls,
        *,
        min_similarity: Iterable[str] = (),
        max_rewrite: Iterable[str] = (),
        max_cost_per_image: Iterable[str] = (),
        max_failure_rate: Iterable[str] = (),
        **settings: Any,
    ) -> Checks:
        """Checks from the command line's ``[ARM=]VALUE`` texts (a later one for the same arm
        wins)."""
        given = {
            "min_similarity": min_similarity,
            "max_rewrite": max_rewrite,
            "max_cost_per_image": max_cost_per_image,
            "max_failure_rate": max_failure_rate,
        }
        thresholds = {
            name: dict(parse_threshold(name, text) for text in texts or ())
            for name, texts in given.items()
        }
        return cls(**thresholds, **{k: v for k, v in settings.items() if v is not None})

    def is_empty(self) -> bool:
        """Whether no threshold is set."""
        return not any(getattr(self, name) for name in CHECK_KINDS)

    def arms(self) -> set[str]:
        """Every arm named by a threshold (``*`` left out)."""
        return {arm for name in CHECK_KINDS for arm in getattr(self, name) if arm != ALL_ARMS}

    def to_dict(self) -> dict[str, Any]:
        """The checks as plain data, in the shape of a sweep file's ``[checks]`` table."""
        data: dict[str, Any] = {"kind": self.kind, "inconclusive": self.inconclusive}
        if self.confidence != 0.95:
            data["confidence"] = self.confidence
        for name in CHECK_KINDS:
            if getattr(self, name):
                data[name] = dict(getattr(self, name))
        return data
