"""Every request the real API would refuse is refused here first, naming param, value, allowed."""

from __future__ import annotations

import datetime as dt

import pytest

from imgkit.catalog import default_catalog
from imgkit.catalog.validation import validate_request
from imgkit.errors import RetiredModelError, UnknownModelError, ValidationError

CATALOG = default_catalog()
ALL_MODELS = sorted(CATALOG)
TODAY = dt.date(2026, 11, 24)


def _rejects(param, value, model, **kwargs):
    """Assert the request is refused, and that the message names param, value and the model."""
    kwargs.setdefault("prompt", "an astronaut")
    with pytest.raises(ValidationError) as info:
        validate_request(model, **kwargs)
    error = info.value
    assert error.param == param
    message = str(error)
    assert param in message
    assert repr(value) in message or str(value) in message
    assert "allowed" in message
    return error


@pytest.mark.parametrize("model", ALL_MODELS)
def test_defaults_are_valid_and_filled_in(model):
    request = validate_request(model, "an astronaut riding a horse")
    spec = CATALOG[model]
    assert request.size == spec.default_size
    assert request.quality == spec.default_quality
    assert request.n == 1
    assert request.endpoint == "generate"


@pytest.mark.parametrize("model", ALL_MODELS)
def test_every_listed_size_and_quality_is_accepted(model):
    spec = CATALOG[model]
    for size in spec.allowed_sizes():
        assert validate_request(model, "x", size=size).size == size
    for quality in spec.qualities:
        assert validate_request(model, "x", quality=quality).quality == quality


@pytest.mark.parametrize("model", ALL_MODELS)
def test_size_not_allowed(model):
    error = _rejects("size", "100x100", model, size="100x100")
    assert error.model == model


@pytest.mark.parametrize("model", ALL_MODELS)
def test_quality_not_allowed(model):
    _rejects("quality", "ultra", model, quality="ultra")


@pytest.mark.parametrize("model", ALL_MODELS)
def test_n_out_of_range(model):
    n_max = CATALOG[model].n_max
    _rejects("n", n_max + 1, model, n=n_max + 1)
    _rejects("n", 0, model, n=0)


@pytest.mark.parametrize("model", ALL_MODELS)
def test_style_only_where_the_model_takes_it(model):
    spec = CATALOG[model]
    if spec.styles:
        assert validate_request(model, "x", style=spec.styles[-1]).style == spec.styles[-1]
        _rejects("style", "baroque", model, style="baroque")
    else:
        _rejects("style", "vivid", model, style="vivid")


@pytest.mark.parametrize("model", ALL_MODELS)
def test_response_format_only_where_the_model_takes_it(model):
    spec = CATALOG[model]
    if spec.response_formats:
        assert validate_request(model, "x", response_format="b64_json").response_format
        _rejects("response_format", "base64", model, response_format="base64")
    else:
        # GPT image models always answer base64 and have no response_format.
        _rejects("response_format", "url", model, response_format="url")


@pytest.mark.parametrize("model", ALL_MODELS)
def test_output_format(model):
    spec = CATALOG[model]
    _rejects("output_format", "bmp", model, output_format="bmp")
    if spec.family == "dall-e":
        _rejects("output_format", "png", model, output_format="png")


@pytest.mark.parametrize("model", ALL_MODELS)
def test_background_and_compression(model):
    spec = CATALOG[model]
    if spec.backgrounds:
        ok = validate_request(model, "x", background="transparent", output_format="webp")
        assert ok.background == "transparent"
        _rejects("background", "transparent", model, background="transparent", output_format="jpeg")
        assert (
            validate_request(
                model, "x", output_format="jpeg", output_compression=50
            ).output_compression
            == 50
        )
        _rejects("output_compression", 101, model, output_format="jpeg", output_compression=101)
        _rejects("output_compression", 50, model, output_format="png", output_compression=50)
    else:
        _rejects("background", "transparent", model, background="transparent")
        _rejects("output_compression", 50, model, output_compression=50)


@pytest.mark.parametrize("model", ALL_MODELS)
@pytest.mark.parametrize("prompt", ["", "   ", None, 42])
def test_empty_or_non_text_prompt(model, prompt):
    _rejects("prompt", prompt, model, prompt=prompt)


@pytest.mark.parametrize("model", ALL_MODELS)
def test_overlong_prompt_names_the_limit(model):
    limit = CATALOG[model].max_prompt_chars
    assert validate_request(model, "a" * limit)
    error = _rejects("prompt", f"<{limit + 1:,} characters>", model, prompt="a" * (limit + 1))
    assert f"{limit:,}" in str(error)


@pytest.mark.parametrize("model", ALL_MODELS)
def test_endpoint_must_be_served_by_the_model(model):
    spec = CATALOG[model]
    for endpoint in ("generate", "edit", "responses"):
        if endpoint in spec.endpoints:
            assert validate_request(model, "x", endpoint=endpoint).endpoint == endpoint
        else:
            _rejects("endpoint", endpoint, model, endpoint=endpoint)


@pytest.mark.parametrize("model", ALL_MODELS)
def test_seed_only_where_the_model_takes_one(model):
    if CATALOG[model].takes_seed:
        assert validate_request(model, "x", seed=7).seed == 7
        _rejects("seed", -1, model, seed=-1)
    else:
        _rejects("seed", 7, model, seed=7)


@pytest.mark.parametrize("model", ALL_MODELS)
def test_retired_models_fail_live_before_sending_but_play_on_the_simulator(model):
    spec = CATALOG[model]
    assert validate_request(model, "x", backend="sim")
    if spec.status(TODAY) == "retired":
        with pytest.raises(RetiredModelError) as info:
            validate_request(model, "x", backend="live", today=TODAY)
        message = str(info.value)
        assert spec.lifecycle.shutdown_on.isoformat() in message
        assert spec.lifecycle.replacement in message
    else:
        assert validate_request(model, "x", backend="live", today=TODAY)


def test_the_lesson_models_name_their_dates():
    with pytest.raises(RetiredModelError, match=r"2026-05-12.*gpt-image-2"):
        validate_request("dall-e-3", "x", backend="live", today=TODAY)
    with pytest.raises(RetiredModelError, match=r"2026-10-23.*gpt-image-2\.5-sunburst"):
        validate_request("gpt-image-1", "x", backend="live", today=TODAY)


def test_unknown_model_and_backend():
    with pytest.raises(UnknownModelError, match="dall-e-3"):
        validate_request("midjourney", "x")
    _rejects("backend", "cloud", "dall-e-3", backend="cloud")


@pytest.mark.parametrize(
    ("size", "problem"),
    [
        ("1000x1000", "divisible by 16"),
        ("3840x1024", "aspect"),
        ("4096x2160", "3840"),
        ("512x512", "pixels"),
    ],
)
def test_free_sizes_of_gpt_image_2(size, problem):
    error = _rejects("size", size, "gpt-image-2", size=size)
    assert problem in str(error)


@pytest.mark.parametrize("size", ["2048x1152", "1024x3072", "3840x2160", "816x816"])
def test_free_sizes_that_are_fine(size):
    assert validate_request("gpt-image-2", "x", size=size).size == size


def test_dall_e_3_rules_from_the_lesson():
    request = validate_request("dall-e-3", "x", size="1792x1024", quality="hd", style="natural")
    assert (request.size, request.quality, request.style) == ("1792x1024", "hd", "natural")
    assert validate_request("dall-e-3", "x").style == "vivid"
    _rejects("n", 2, "dall-e-3", n=2)


def test_input_fidelity_only_on_edits_and_where_supported():
    ok = validate_request("gpt-image-1.5", "x", endpoint="edit", input_fidelity="high")
    assert ok.input_fidelity == "high"
    _rejects("input_fidelity", "high", "gpt-image-1.5", input_fidelity="high")
    _rejects("input_fidelity", "high", "gpt-image-1-mini", endpoint="edit", input_fidelity="high")
    _rejects("input_fidelity", "low", "gpt-image-2", endpoint="edit", input_fidelity="low")


def test_request_params_drop_unset_fields():
    request = validate_request("gpt-image-2", "x", quality="low", output_format="webp")
    params = request.params()
    assert params["quality"] == "low" and params["output_format"] == "webp"
    assert "style" not in params and "prompt" not in params
    assert request.to_dict()["style"] is None
