"""Model names real traffic uses that are not catalog entries of their own.

Recorded traffic and vendors' notices name models by their preview or experimental names
(``gemini-3-pro-image-preview``, ``gemini-2.0-flash-exp-image-generation``): such a name
resolves to the catalog entry that took its place (``data/aliases.toml``, each with its
source and dates). A retired alias still resolves, since old runs and recordings name it, but a
live request for it is refused before it is sent. A name that is neither an entry nor an alias
is refused by name, with the nearest known names.
"""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources

__all__ = ["ModelAlias", "aliases", "nearest_names"]


@dataclass(frozen=True)
class ModelAlias:
    """Another name for catalog entry ``model``."""

    name: str
    model: str
    source: str
    released: dt.date | None = None
    shutdown_on: dt.date | None = None
    #: retired although no shutdown date is known
    retired_undated: bool = False
    note: str | None = None

    def retired(self, today: dt.date | None = None) -> bool:
        today = today or dt.date.today()
        return self.retired_undated or (self.shutdown_on is not None and self.shutdown_on <= today)

    def retired_on(self) -> str:
        """The shutdown date as text, for messages."""
        if self.shutdown_on is not None:
            return self.shutdown_on.isoformat()
        return "an unannounced date"


def _date(value: object) -> dt.date | None:
    if value is None:
        return None
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


@functools.cache
def aliases() -> dict[str, ModelAlias]:
    """Every alias of the built-in catalog, by name."""
    text = resources.files("imgkit.catalog").joinpath("data/aliases.toml").read_text()
    data = tomllib.loads(text)
    sources = data.get("sources", {})
    return {
        name: ModelAlias(
            name=name,
            model=str(raw["model"]),
            source=sources.get(raw.get("source", ""), raw.get("source", "")),
            released=_date(raw.get("released")),
            shutdown_on=_date(raw.get("shutdown_on")),
            retired_undated=bool(raw.get("retired", False)),
            note=raw.get("note"),
        )
        for name, raw in data.get("aliases", {}).items()
    }


def nearest_names(name: object, known: Iterable[str], n: int = 3) -> list[str]:
    """The known names closest to ``name`` (for "did you mean"), best first."""
    if not isinstance(name, str):
        return []
    known = list(known)
    lowered = {k.lower(): k for k in known}
    found = difflib.get_close_matches(name.lower(), list(lowered), n=n, cutoff=0.6)
    return [lowered[f] for f in found]
