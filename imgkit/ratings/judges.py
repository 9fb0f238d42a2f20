"""The judge models imgkit knows, with their prices: ``data/judges.toml`` read once.

Apart from :mod:`imgkit.ratings.judge` so the simulator can know which models play a judge
without importing the judge's client code (which starts the simulator).
"""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources
from typing import Any

__all__ = ["JudgeSpec", "judge_catalog", "judges_data"]


@dataclass(frozen=True)
class JudgeSpec:
    """A judge model and its prices (USD per million tokens), with their source and date."""

    name: str
    api: str
    provider: str
    input_per_million: Decimal
    output_per_million: Decimal
    source: str
    as_of: str


@functools.cache
def judges_data() -> dict[str, Any]:
    """The parsed ``data/judges.toml`` (sources, estimate rules, judges)."""
    text = resources.files("imgkit.ratings").joinpath("data/judges.toml").read_text("utf-8")
    return tomllib.loads(text)


def judge_catalog() -> dict[str, JudgeSpec]:
    """The judge models imgkit knows (``data/judges.toml``)."""
    data = judges_data()
    return {
        name: JudgeSpec(
            name=name,
            api=entry["api"],
            provider=entry["provider"],
            input_per_million=Decimal(str(entry["input_per_million"])),
            output_per_million=Decimal(str(entry["output_per_million"])),
            source=data["sources"].get(entry["source"], entry["source"]),
            as_of=entry["as_of"],
        )
        for name, entry in data["judges"].items()
    }
