"""Batch prices are catalog data with their source and date: the vendor's factor, or a model's
own batch figures; a price file's override carries over to batch requests at the factor."""

from __future__ import annotations

import pytest

from imgkit.catalog.batch import (
    batch_providers,
    batch_ratio,
    batch_terms,
    estimate_batch_cost,
)
from imgkit.catalog.costs import estimate_cost
from imgkit.catalog.models import Catalog, default_catalog, load_catalog
from imgkit.catalog.validation import validate_request
from imgkit.errors import CatalogError


def test_the_vendors_with_a_batch_mode_and_their_terms():
    assert batch_providers() == ["gemini", "openai"]
    openai = batch_terms("openai")
    assert openai.price_factor == 0.5 and openai.as_of and "Batch" in openai.describe()
    assert (openai.max_requests, openai.max_bytes) == (50_000, 200_000_000)
    assert openai.endpoints == ("generate", "responses")
    assert batch_terms("leonardo") is None


@pytest.mark.parametrize(
    ("model", "kwargs"),
    [
        ("dall-e-3", {"quality": "hd", "size": "1792x1024"}),
        ("gpt-image-1", {"quality": "medium"}),
        ("gpt-image-2", {"quality": "low", "size": "1536x1024"}),
        ("gemini-2.5-flash-image", {}),
    ],
)
def test_a_batch_request_costs_half(model, kwargs):
    request = validate_request(model, "a kite", **kwargs)
    synchronous, batch = estimate_cost(request), estimate_batch_cost(request)
    assert batch.per_image == pytest.approx(synchronous.per_image / 2)
    assert batch.basis == synchronous.basis
    assert "batch price: 50% of the synchronous price" in batch.note
    assert batch_ratio(request) == 0.5


def test_a_model_with_batch_figures_of_its_own_uses_them():
    # gemini-3.1-flash-image's batch table (third party): 0.022 / 0.034 / 0.050 / 0.076.
    spec = default_catalog().get_model("gemini-3.1-flash-image")
    for size, usd in (("512x512", 0.022), ("1024x1024", 0.034), ("4096x4096", 0.076)):
        if size not in spec.allowed_sizes():
            continue
        request = validate_request(spec.name, "a kite", size=size)
        assert estimate_batch_cost(request).per_image == pytest.approx(usd)
        assert "own batch figures" in estimate_batch_cost(request).note
    request = validate_request(spec.name, "a kite")
    assert batch_ratio(request) == pytest.approx(0.034 / 0.067)


def test_a_price_file_carries_over_to_batch_requests_at_the_factor(tmp_path):
    prices = tmp_path / "prices.toml"
    prices.write_text(
        '[prices."gemini-3.1-flash-image"]\nsource = "our contract"\nas_of = "2026-11-01"\n'
        '[prices."gemini-3.1-flash-image".table.auto]\n"1K" = 0.05\n',
        encoding="utf-8",
    )
    catalog = load_catalog(price_file=prices)
    request = validate_request("gemini-3.1-flash-image", "a kite", catalog=catalog)
    assert estimate_batch_cost(request, catalog).per_image == pytest.approx(0.025)


def test_a_malformed_batch_table_is_a_catalog_error():
    catalog = default_catalog()
    broken = {**catalog.batch, "openai": {**catalog.batch["openai"], "price_factor": 1.5}}
    bad = Catalog(
        dict(catalog.items()), catalog.output_tokens, catalog.sources, catalog.version, (), broken
    )
    with pytest.raises(CatalogError, match="price_factor"):
        batch_terms("openai", bad)
    missing = {"openai": {"price_factor": 0.5}}
    with pytest.raises(CatalogError, match="missing"):
        batch_terms(
            "openai",
            Catalog(dict(catalog.items()), catalog.output_tokens, {}, "x", (), missing),
        )
