"""What may be asked of each model and what it costs.

- :mod:`imgkit.catalog.models`: the model catalog (``data/catalog.toml``): parameters,
  lifecycle dates, rate limits and price schedules with their sources; user price overrides;
- :mod:`imgkit.catalog.validation`: a request checked against the catalog before anything is
  sent (:func:`~imgkit.catalog.validation.validate_request`);
- :mod:`imgkit.catalog.costs`: estimates, costs from reported usage, monthly projections.

The catalog's own names are re-exported here (``from imgkit.catalog import get_model``).
"""

from __future__ import annotations

from imgkit.catalog.models import (
    Catalog,
    Lifecycle,
    ModelSpec,
    PriceSchedule,
    SizeRule,
    default_catalog,
    get_model,
    load_catalog,
    parse_size,
)

__all__ = [
    "Catalog",
    "Lifecycle",
    "ModelSpec",
    "PriceSchedule",
    "SizeRule",
    "default_catalog",
    "get_model",
    "load_catalog",
    "parse_size",
]
