"""The cost engine: per-image and per-token schedules, usage, projections, the chain."""

from __future__ import annotations

from decimal import Decimal

import pytest

from imgkit.catalog import default_catalog, load_catalog
from imgkit.catalog.costs import (
    chain_expected_cost,
    cost_from_usage,
    estimate_cost,
    output_tokens,
    project_monthly,
    projection_table,
)
from imgkit.catalog.validation import validate_request
from imgkit.errors import ValidationError

CATALOG = default_catalog()


def _estimate(model, **kwargs):
    return estimate_cost(validate_request(model, "an astronaut", **kwargs))


@pytest.mark.parametrize(
    ("price", "per_day", "expected"),
    [("0.04", 1, "1.20"), ("0.04", 20, "24.00"), ("0.08", 20, "48.00"), ("0.008", 20, "4.80")],
)
def test_the_lessons_four_projections_to_the_cent(price, per_day, expected):
    assert project_monthly(float(price), per_day) == Decimal(expected)
    assert str(project_monthly(float(price), per_day)) == expected


def test_projection_days_and_bad_input():
    assert project_monthly(0.04, 20, days=31) == Decimal("24.80")
    for kwargs in ({"price_per_image": -1}, {"images_per_day": "lots"}, {"days": 0}):
        args = {"price_per_image": 0.04, "images_per_day": 1, "days": 30, **kwargs}
        with pytest.raises(ValidationError, match=next(iter(kwargs))):
            project_monthly(**args)


@pytest.mark.parametrize(
    ("kwargs", "usd"),
    [
        ({}, 0.04),
        ({"size": "1792x1024"}, 0.08),
        ({"quality": "hd"}, 0.08),
        ({"quality": "hd", "size": "1024x1792"}, 0.12),
    ],
)
def test_dall_e_3_per_image_table(kwargs, usd):
    estimate = _estimate("dall-e-3", **kwargs)
    assert estimate.usd == pytest.approx(usd)
    assert estimate.basis == "per_image"
    assert estimate.as_of == CATALOG["dall-e-3"].price.as_of
    assert "2023" in estimate.source


@pytest.mark.parametrize(
    ("quality", "tokens", "usd"),
    [("low", 272, 0.011), ("medium", 1056, 0.042), ("high", 4160, 0.167)],
)
def test_gpt_image_1_token_table_matches_the_per_image_table(quality, tokens, usd):
    spec = CATALOG["gpt-image-1"]
    assert output_tokens(spec, "1024x1024", quality) == tokens
    estimate = _estimate("gpt-image-1", quality=quality)
    assert estimate.basis == "tokens"
    # OpenAI's per-image table rounds to the tenth of a cent.
    assert estimate.usd == pytest.approx(usd, abs=0.001)


@pytest.mark.parametrize(
    ("size", "quality", "tokens"),
    [
        ("1024x1024", "low", 196),
        ("1024x1024", "medium", 1756),
        ("1024x1024", "high", 7024),
        ("1536x1024", "low", 158),
        ("1536x1024", "medium", 1372),
        ("1536x1024", "high", 5488),
    ],
)
def test_gpt_image_2_formula_reproduces_published_figures(size, quality, tokens):
    assert output_tokens(CATALOG["gpt-image-2"], size, quality) == tokens
    estimate = _estimate("gpt-image-2", size=size, quality=quality)
    assert estimate.usd == pytest.approx(tokens * 30 / 1_000_000)


def test_n_multiplies():
    assert _estimate("gpt-image-1", quality="low", n=4).usd == pytest.approx(4 * 272 * 40 / 1e6)
    assert _estimate("gpt-image-1", quality="low", n=4).per_image == pytest.approx(272 * 40 / 1e6)


def test_auto_is_estimated_at_its_most_expensive_choice():
    auto = _estimate("gpt-image-1", quality="auto", size="auto")
    # Not called an upper bound: the lesson's drill spent $1.0329 against $1.0320 "upper bound"
    # on 0.1, because the prompt's tokens are billed on top of the output's.
    assert auto.basis == "dearest_choice"
    assert "not an upper bound" in auto.note
    assert auto.usd == pytest.approx(6240 * 40 / 1e6)
    assert "auto" in auto.note


def test_qualities_without_figures_have_no_estimate_not_zero():
    estimate = _estimate("gpt-image-2.5-sunburst", quality="xhigh")
    assert estimate.usd is None and estimate.basis == "unknown"
    assert "usage" in estimate.note


@pytest.mark.parametrize(
    ("model", "size", "usd"),
    [
        ("gemini-3.1-flash-image", "512x512", 0.045),
        ("gemini-3.1-flash-image", "1024x1024", 0.067),
        ("gemini-3.1-flash-image", "2048x2048", 0.101),
        ("gemini-3.1-flash-image", "4096x4096", 0.151),
        ("gemini-3-pro-image", "2048x2048", 0.134),
        ("gemini-2.5-flash-image", "1344x768", 0.039),
        ("leonardo-phoenix", "1024x768", 0.008),
    ],
)
def test_per_image_by_tier_and_flat(model, size, usd):
    assert _estimate(model, size=size).usd == pytest.approx(usd)


def test_usage_is_costed_from_tokens():
    usage = {
        "input_tokens": 50,
        "input_tokens_details": {"text_tokens": 40, "image_tokens": 10},
        "output_tokens": 1056,
        "total_tokens": 1106,
    }
    cost = cost_from_usage(CATALOG["gpt-image-1"], usage)
    assert cost.basis == "usage"
    assert cost.usd == pytest.approx((40 * 5 + 10 * 10 + 1056 * 40) / 1e6)


def test_usage_missing_is_flagged_with_the_estimate_never_zero():
    spec = CATALOG["gpt-image-1"]
    for usage in (None, {}, {"input_tokens": 10}):
        cost = cost_from_usage(spec, usage, size="1024x1024", quality="medium")
        assert cost.basis == "usage_missing"
        assert cost.usd == pytest.approx(1056 * 40 / 1e6)
        assert "usage missing" in cost.note
    unknown = cost_from_usage(spec, None)
    assert unknown.usd is None and unknown.usd != 0


def test_usage_costing_refuses_per_image_models():
    with pytest.raises(ValidationError, match="per token"):
        cost_from_usage(CATALOG["dall-e-3"], {"output_tokens": 1})


def test_projection_table_compares_models_and_custom_prices():
    table = projection_table(["dall-e-3", "dall-e-3:hd", ("leonardo", 0.008)], per_day=[1, 20])
    monthly = {(r.label, r.images_per_day): str(r.monthly_usd) for r in table.itertuples()}
    assert monthly[("dall-e-3 standard 1024x1024", 1)] == "1.20"
    assert monthly[("dall-e-3 standard 1024x1024", 20)] == "24.00"
    assert monthly[("dall-e-3 hd 1024x1024", 20)] == "48.00"
    assert monthly[("leonardo", 20)] == "4.80"
    assert set(table.columns) >= {"label", "images_per_day", "monthly_usd", "source"}


def test_projection_table_refuses_bad_options():
    with pytest.raises(ValidationError, match="quality"):
        projection_table(["dall-e-3:ultra"])
    with pytest.raises(ValidationError, match="models"):
        projection_table([42])


def test_user_price_file_changes_estimates(tmp_path):
    prices = tmp_path / "p.toml"
    prices.write_text(
        '[prices."dall-e-3"]\nsource = "contract"\nas_of = "2026-11-01"\n'
        '[prices."dall-e-3".table.standard]\n"1024x1024" = 0.025\n'
    )
    catalog = load_catalog(price_file=prices)
    request = validate_request("dall-e-3", "x", catalog=catalog)
    estimate = estimate_cost(request, catalog)
    assert estimate.usd == pytest.approx(0.025)
    assert estimate.source == "contract"


def test_chain_expected_cost():
    links = [
        {"cost": 0.039, "p_fail": 0.2},
        {"cost": 0.008, "p_fail": 0.1},
        {"cost": 0.04, "p_fail": 0.05, "fail_cost": 0.0},
    ]
    result = chain_expected_cost(links)
    expected = 0.8 * 0.039 + 0.2 * 0.9 * 0.008 + 0.2 * 0.1 * 0.95 * 0.04
    assert result["expected_usd"] == pytest.approx(expected)
    assert result["p_all_fail"] == pytest.approx(0.2 * 0.1 * 0.05)
    assert result["p_served_by"] == pytest.approx([0.8, 0.18, 0.019])


def test_chain_failed_attempts_that_bill_are_counted():
    one = chain_expected_cost([{"cost": 0.04, "p_fail": 0.5, "fail_cost": 0.04}])
    assert one["expected_usd"] == pytest.approx(0.04)
    with pytest.raises(ValidationError, match="p_fail"):
        chain_expected_cost([{"cost": 0.04, "p_fail": 1.5}])


def test_every_basis_reads_as_words():
    from imgkit.catalog.costs import basis_words

    for basis in ("per_image", "tokens", "usage", "usage_missing", "dearest_choice", "unknown"):
        words = basis_words(basis)
        assert words != basis and "_" not in words
    # Run folders from before the rename read the same.
    assert basis_words("upper_bound") == basis_words("dearest_choice")
