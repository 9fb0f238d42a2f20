"""Arms: parsing, prompt variants, request building, the lesson's default drill."""

from __future__ import annotations

import pytest

from imgkit.errors import RetiredModelError, UnknownModelError, ValidationError
from imgkit.experiment.arms import (
    AS_IS_PREFIX,
    LESSON_MODELS,
    LESSON_PROMPT,
    LESSON_REPEATS,
    Arm,
    arms_for_models,
    lesson_arms,
    rewrite_control_arms,
)


def test_lesson_drill_is_the_astronaut_on_dalle3_and_gpt_image_1_five_times():
    assert "astronaut on a red Martian cliff" in LESSON_PROMPT
    assert LESSON_MODELS == ("dall-e-3", "gpt-image-1")
    assert LESSON_REPEATS == 5
    assert [(a.name, a.model, a.endpoint) for a in lesson_arms()] == [
        ("dall-e-3", "dall-e-3", "generate"),
        ("gpt-image-1", "gpt-image-1", "generate"),
    ]


@pytest.mark.parametrize(
    ("text", "model", "endpoint", "variant"),
    [
        ("dall-e-3", "dall-e-3", "generate", None),
        ("dall-e-3+as_is", "dall-e-3", "generate", "as_is"),
        ("dall-e-3+as-is", "dall-e-3", "generate", "as_is"),
        ("gpt-image-2@responses", "gpt-image-2", "responses", None),
        ("gpt-image-2@generate+as_is", "gpt-image-2", "generate", "as_is"),
    ],
)
def test_parse(text, model, endpoint, variant):
    arm = Arm.parse(text)
    assert (arm.name, arm.model, arm.endpoint, arm.prompt_variant) == (
        text,
        model,
        endpoint,
        variant,
    )


@pytest.mark.parametrize("text", ["", "@responses", "dall-e-3+shout", "dall-e-3@nowhere"])
def test_parse_rejects_with_one_message_shape(text):
    with pytest.raises(ValidationError, match="is not allowed"):
        Arm.parse(text)


def test_as_is_variant_prefixes_the_prompt_and_plain_arm_does_not():
    plain, as_is = rewrite_control_arms()
    assert plain.prompt_for("a red cube") == "a red cube"
    assert as_is.prompt_for("a red cube") == f"{AS_IS_PREFIX} a red cube"
    assert as_is.name == "dall-e-3+as_is"
    assert "AS-IS" in AS_IS_PREFIX and AS_IS_PREFIX.startswith("I NEED to test")


def test_request_merges_drill_defaults_under_arm_params():
    arm = Arm("hd", "dall-e-3", params={"quality": "hd"})
    request = arm.request("a cube", defaults={"quality": "standard", "size": "1792x1024"})
    assert (request.model, request.quality, request.size, request.n) == (
        "dall-e-3",
        "hd",
        "1792x1024",
        1,
    )


def test_request_is_validated_before_anything_is_sent():
    with pytest.raises(ValidationError, match="size"):
        Arm("x", "dall-e-3").request("a cube", defaults={"size": "1536x1024"})
    # The simulator still plays retired models; a live request for one is refused by name.
    with pytest.raises(RetiredModelError, match="retired"):
        Arm("x", "dall-e-3").request("a cube", backend="live")


def test_arm_params_are_checked_and_frozen():
    with pytest.raises(ValidationError, match="params"):
        Arm("x", "dall-e-3", params={"n": 3})
    arm = Arm("x", "dall-e-3", params={"quality": "hd"})
    with pytest.raises(TypeError):
        arm.params["quality"] = "standard"  # type: ignore[index]
    assert hash(arm.name)


def test_round_trip_through_dict():
    arm = Arm("gpt2-tool", "gpt-image-2", endpoint="responses", params={"quality": "low"})
    assert Arm.from_dict(arm.to_dict()) == arm


def test_arms_for_models_accepts_a_comma_list_and_checks_the_catalog():
    arms = arms_for_models("dall-e-3, dall-e-3+as_is,gpt-image-2@responses")
    assert [a.name for a in arms] == ["dall-e-3", "dall-e-3+as_is", "gpt-image-2@responses"]
    with pytest.raises(UnknownModelError):
        arms_for_models(["dall-e-9"])
    with pytest.raises(ValidationError, match="endpoint"):
        arms_for_models(["dall-e-3@responses"])
    with pytest.raises(ValidationError, match="unique"):
        arms_for_models(["dall-e-3", "dall-e-3"])
    with pytest.raises(ValidationError):
        arms_for_models([])
