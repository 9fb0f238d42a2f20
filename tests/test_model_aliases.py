"""Model names that real traffic uses (issue 25, defect 7): previews and experimental names
resolve to their catalog entry, with their lifecycle; anything else is refused by name with the
nearest known one."""

from __future__ import annotations

import datetime as dt

import pytest

from imgkit import errors
from imgkit.catalog.models import get_model
from imgkit.catalog.validation import validate_request

SEEN_IN_RECORDINGS = {
    "gemini-3-pro-image-preview": "gemini-3-pro-image",
    "gemini-3.1-flash-image-preview": "gemini-3.1-flash-image",
    "gemini-2.5-flash-image-preview": "gemini-2.5-flash-image",
    "gemini-2.0-flash-exp-image-generation": "gemini-2.5-flash-image",
}


@pytest.mark.parametrize("alias, entry", sorted(SEEN_IN_RECORDINGS.items()))
def test_names_seen_in_real_traffic_resolve_to_their_entry(alias, entry):
    assert get_model(alias).name == entry
    request = validate_request(alias, "a red square")  # the simulator still plays it
    assert request.model == entry


def test_a_retired_preview_is_refused_live_naming_its_date_and_entry():
    with pytest.raises(errors.RetiredModelError) as caught:
        validate_request(
            "gemini-3-pro-image-preview", "a red square", backend="live", today=dt.date(2026, 12, 7)
        )
    assert caught.value.retired_on == "2026-06-25"
    assert caught.value.replacement == "gemini-3-pro-image"
    assert "2026-06-25" in str(caught.value)
    # before its shutdown it was a live name of the entry
    request = validate_request(
        "gemini-3-pro-image-preview", "a red square", backend="live", today=dt.date(2026, 3, 1)
    )
    assert request.model == "gemini-3-pro-image"


def test_an_experimental_name_without_a_date_is_refused_live_all_the_same():
    with pytest.raises(errors.RetiredModelError, match="unannounced date"):
        validate_request("gemini-2.0-flash-exp-image-generation", "x", backend="live")


@pytest.mark.parametrize("name", ["gpt-image-1-mini", "gpt-image-1.5"])
def test_the_openai_names_of_the_deprecation_notice_have_their_dates(name):
    spec = get_model(name)
    assert spec.lifecycle.shutdown_on is not None and spec.lifecycle.replacement


@pytest.mark.parametrize(
    "typed, nearest",
    [("gemini-3-pro-imag", "gemini-3-pro-image"), ("gpt-image-2-mini", "gpt-image-1-mini")],
)
def test_an_unknown_name_is_refused_with_the_nearest_known_one(typed, nearest):
    with pytest.raises(errors.UnknownModelError) as caught:
        get_model(typed)
    assert caught.value.nearest[0] == nearest
    assert f"did you mean {nearest!r}" in str(caught.value)
    assert typed in str(caught.value)
