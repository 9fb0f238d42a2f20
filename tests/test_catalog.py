"""The model catalog: loading, lifecycle by date, size rules, and user price files."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
import textwrap

import pytest

from imgkit.catalog import Catalog, default_catalog, load_catalog, parse_size
from imgkit.errors import CatalogError, UnknownModelError

REQUIRED_MODELS = [
    "dall-e-2",
    "dall-e-3",
    "gpt-image-1",
    "gpt-image-1-mini",
    "gpt-image-1.5",
    "chatgpt-image-latest",
    "gpt-image-2",
    "gpt-image-2.5-sunburst",
    "gpt-image-2.5-flare",
    "gpt-image-2.6-sunburst",
    "gpt-image-2.6-flare",
    "gemini-2.5-flash-image",
    "gemini-3.1-flash-image",
    "gemini-3-pro-image",
]
TODAY = dt.date(2026, 11, 24)


def test_every_required_model_and_a_leonardo_entry_is_present():
    catalog = default_catalog()
    for name in REQUIRED_MODELS:
        assert name in catalog
    assert [m for m in catalog.values() if m.provider == "leonardo"]


@pytest.mark.parametrize("name", REQUIRED_MODELS)
def test_every_price_names_a_known_source_and_a_date(name):
    catalog = default_catalog()
    price = catalog[name].price
    assert price.source in catalog.sources
    assert dt.date.fromisoformat(price.as_of) <= TODAY


@pytest.mark.parametrize(
    ("name", "shutdown", "replacement"),
    [
        ("dall-e-3", "2026-05-12", "gpt-image-2"),
        ("dall-e-2", "2026-05-12", "gpt-image-2"),
        ("gpt-image-1", "2026-10-23", "gpt-image-2.5-sunburst"),
    ],
)
def test_lesson_models_are_retired_with_date_and_replacement(name, shutdown, replacement):
    spec = default_catalog()[name]
    assert spec.status(TODAY) == "retired"
    assert spec.lifecycle.shutdown_on.isoformat() == shutdown
    assert spec.lifecycle.replacement == replacement


def test_status_follows_the_calendar():
    spec = default_catalog()["gpt-image-1.5"]
    assert spec.status(dt.date(2026, 11, 30)) == "deprecated"
    assert spec.status(dt.date(2026, 12, 1)) == "retired"
    gpt1 = default_catalog()["gpt-image-1"]
    assert gpt1.status(dt.date(2026, 10, 22)) != "retired"
    assert gpt1.status(dt.date(2026, 10, 23)) == "retired"


def test_live_models_today_are_gpt_image_2_family_gemini_and_leonardo():
    live = {m.name for m in default_catalog().live_models(TODAY)}
    assert {"gpt-image-2", "gpt-image-2.6-sunburst", "gemini-3.1-flash-image"} <= live
    assert not live & {"dall-e-2", "dall-e-3", "gpt-image-1"}


def test_live_replacement_walks_the_lifecycle_to_a_live_model():
    catalog = default_catalog()
    assert catalog.live_replacement("dall-e-3", TODAY) == "gpt-image-2"
    assert catalog.live_replacement("gpt-image-1", TODAY) == "gpt-image-2.5-sunburst"
    assert catalog.live_replacement("gpt-image-2", TODAY) == "gpt-image-2"
    # gpt-image-1.5 is live until it shuts down on 2026-12-01, then its replacement is used.
    assert catalog.live_replacement("gpt-image-1.5", dt.date(2026, 11, 30)) == "gpt-image-1.5"
    assert catalog.live_replacement("gpt-image-1.5", dt.date(2026, 12, 1)) == (
        catalog["gpt-image-1.5"].lifecycle.replacement
    )


def test_live_replacement_follows_several_steps_and_refuses_a_loop():
    base = default_catalog()

    def retire(name, replacement):
        spec = base[name]
        life = dataclasses.replace(
            spec.lifecycle, shutdown_on=dt.date(2026, 1, 1), replacement=replacement
        )
        return dataclasses.replace(spec, lifecycle=life)

    models = dict(base.items())
    models["gpt-image-2.5-sunburst"] = retire("gpt-image-2.5-sunburst", "gpt-image-2.6-sunburst")
    chained = Catalog(models, base.output_tokens, base.sources, base.version)
    assert chained.live_replacement("gpt-image-1", TODAY) == "gpt-image-2.6-sunburst"
    models["gpt-image-2.5-sunburst"] = retire("gpt-image-2.5-sunburst", "gpt-image-1")
    looped = Catalog(models, base.output_tokens, base.sources, base.version)
    with pytest.raises(CatalogError, match=re.escape("gpt-image-1 -> gpt-image-2.5-sunburst")):
        looped.live_replacement("gpt-image-1", TODAY)


def test_rewriting_is_recorded_per_endpoint():
    catalog = default_catalog()
    assert catalog["dall-e-3"].returns_revised_prompt("generate")
    assert not catalog["gpt-image-1"].returns_revised_prompt("generate")
    assert catalog["gpt-image-2"].returns_revised_prompt("responses")


def test_unknown_model_lists_known_names():
    with pytest.raises(UnknownModelError) as info:
        default_catalog().get_model("dall-e-4")
    assert "dall-e-4" in str(info.value) and "dall-e-3" in str(info.value)


@pytest.mark.parametrize(
    ("text", "expected"), [("1024x1024", (1024, 1024)), ("1536x1024", (1536, 1024)), ("auto", None)]
)
def test_parse_size(text, expected):
    assert parse_size(text) == expected


def test_gemini_sizes_come_from_aspect_and_tier():
    spec = default_catalog()["gemini-3.1-flash-image"]
    assert spec.gemini_aspect_and_tier("1024x1024") == ("1:1", "1K")
    assert spec.gemini_aspect_and_tier("2048x2048") == ("1:1", "2K")
    assert spec.gemini_aspect_and_tier("1344x768") == ("16:9", "1K")


def test_price_file_overrides_one_model_and_keeps_the_rest(tmp_path):
    prices = tmp_path / "prices.toml"
    prices.write_text(
        textwrap.dedent(
            """
            [prices."dall-e-3"]
            source = "our negotiated contract"
            as_of = "2026-11-01"
            [prices."dall-e-3".table.standard]
            "1024x1024" = 0.03
            """
        )
    )
    catalog = load_catalog(price_file=prices)
    builtin = default_catalog()["dall-e-3"].price
    price = catalog["dall-e-3"].price
    assert price.table["standard"]["1024x1024"] == 0.03
    assert (price.source, price.as_of) == ("our negotiated contract", "2026-11-01")
    assert price.kind == "per_image"
    # Only the cell the file names changes: hd and the other sizes keep the catalog's figures,
    # and the note says which figures came from where.
    assert price.table["hd"] == builtin.table["hd"]
    assert price.table["standard"]["1792x1024"] == builtin.table["standard"]["1792x1024"]
    assert "table from" in price.note and builtin.source in price.note
    assert catalog["gpt-image-1"].price == default_catalog()["gpt-image-1"].price
    assert str(prices) in catalog.price_overrides


def test_a_price_file_without_source_or_date_is_credited_to_itself(tmp_path):
    prices = tmp_path / "prices.toml"
    prices.write_text('[prices."leonardo-phoenix".table.auto]\n"*" = 0.006\n')
    os.utime(prices, (0, dt.datetime(2026, 11, 20, 12).timestamp()))
    price = load_catalog(price_file=prices)["leonardo-phoenix"].price
    assert price.table["auto"]["*"] == 0.006
    assert price.source == f"price file {prices}" and price.as_of == "2026-11-20"


def test_a_price_file_can_change_a_token_rate_only(tmp_path):
    prices = tmp_path / "prices.toml"
    prices.write_text('[prices."gpt-image-1"]\nimage_output_per_million = 20.0\n')
    builtin = default_catalog()["gpt-image-1"].price
    price = load_catalog(price_file=prices)["gpt-image-1"].price
    assert price.image_output_per_million == 20.0
    assert price.output_tokens == builtin.output_tokens
    assert price.text_input_per_million == builtin.text_input_per_million


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not toml [", "not valid TOML"),
        ("[other]\nx = 1\n", "no [prices"),
        ('[prices."dall-e-3".table.standard]\n"1024x1024" = -1\n', "is not >= 0"),
        ('[prices."dall-e-9".table.standard]\n"1024x1024" = 1\n', "dall-e-9"),
        ('[prices."dall-e-3".table.standard]\n"1024x1024" = inf\n', "is not >= 0"),
        ('[prices."gpt-image-1"]\nimage_output_per_million = -40\n', "is not a number >= 0"),
        ('[prices."gpt-image-1"]\nimage_output_per_million = "abc"\n', "is not a number >= 0"),
        ('[prices."dall-e-3"]\ntable = 3\n', "is not a table"),
    ],
)
def test_bad_price_files_are_refused_with_the_reason(tmp_path, content, message):
    prices = tmp_path / "prices.toml"
    prices.write_text(content)
    with pytest.raises((CatalogError, UnknownModelError), match=message.replace("[", r"\[")):
        load_catalog(price_file=prices)


def test_missing_price_file_is_named():
    with pytest.raises(CatalogError, match="does not exist"):
        load_catalog(price_file="/no/such/prices.toml")


def test_price_file_from_environment(tmp_path, monkeypatch):
    prices = tmp_path / "prices.toml"
    prices.write_text('[prices."leonardo-phoenix".table.auto]\n"*" = 0.005\n')
    monkeypatch.setenv("IMGKIT_PRICES", str(prices))
    assert default_catalog()["leonardo-phoenix"].price.table["auto"]["*"] == 0.005
    monkeypatch.delenv("IMGKIT_PRICES")
    assert default_catalog()["leonardo-phoenix"].price.table["auto"]["*"] == 0.008


def test_malformed_catalog_is_a_catalog_error(tmp_path):
    bad = tmp_path / "catalog.toml"
    bad.write_text('[catalog]\nversion = "x"\n[models.m]\nprovider = "openai"\n')
    with pytest.raises(CatalogError, match="missing"):
        load_catalog(bad)
