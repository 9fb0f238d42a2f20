"""Streaming: server-sent events the real SDKs parse, the providers' streaming option, and the
time to first partial image and to final image, from the provider through the ledger to the
run's frame.
"""

from __future__ import annotations

import asyncio
import base64
import io
import sqlite3

import openai
import pytest
from google import genai
from google.genai import types
from PIL import Image

from imgkit import errors
from imgkit.catalog.validation import validate_request
from imgkit.experiment.arms import Arm
from imgkit.providers import provider_for_model
from imgkit.runner import RetryPolicy, drill
from imgkit.runs import open_run
from imgkit.runs.ledger import Ledger

NO_DELAY = RetryPolicy(transient_delay_s=0.0, default_retry_after_s=0.0)
QUIET = {"progress": False, "log": None, "retry": NO_DELAY}


@pytest.fixture
def client(sim):
    sim.reset()
    with openai.OpenAI(base_url=sim.openai_base_url, api_key="sim", max_retries=0) as c:
        yield c
    sim.configure(faults="")


def _png(size=(64, 64)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(buffer, "PNG")
    return buffer.getvalue()


# -- the Images API -------------------------------------------------------------------------


def test_generate_streams_partial_images_then_the_final_one(client):
    stream = client.images.generate(
        model="gpt-image-2", prompt="a lighthouse", quality="low", stream=True, partial_images=2
    )
    events = list(stream)
    assert [e.type for e in events] == [
        "image_generation.partial_image",
        "image_generation.partial_image",
        "image_generation.completed",
    ]
    assert [e.partial_image_index for e in events[:2]] == [0, 1]
    final = events[-1]
    image = Image.open(io.BytesIO(base64.b64decode(final.b64_json)))
    assert image.size == (1024, 1024) and final.size == "1024x1024"
    assert (final.quality, final.output_format, final.background) == ("low", "png", "opaque")
    # Each partial image costs 100 output tokens on top of the image itself.
    plain = client.images.generate(model="gpt-image-2", prompt="a lighthouse", quality="low")
    assert final.usage.output_tokens == plain.usage.output_tokens + 200
    assert final.usage.input_tokens_details.text_tokens > 0


def test_partial_images_zero_sends_the_final_image_alone(client):
    events = list(
        client.images.generate(model="gpt-image-1", prompt="a kite", stream=True, partial_images=0)
    )
    assert [e.type for e in events] == ["image_generation.completed"]


def test_edit_streams_image_edit_events(client):
    stream = client.images.edit(
        model="gpt-image-1.5",
        image=("a.png", _png(), "image/png"),
        prompt="a hat",
        stream=True,
        partial_images=1,
    )
    assert [e.type for e in stream] == ["image_edit.partial_image", "image_edit.completed"]


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"model": "dall-e-3"}, "stream"),
        ({"model": "gpt-image-2", "partial_images": 4}, "partial_images"),
        ({"model": "gpt-image-2", "partial_images": 2, "output_format": "gif"}, "partial_images"),
    ],
)
def test_streams_the_api_would_refuse(client, kwargs, param):
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(prompt="a kite", stream=True, **kwargs)
    assert caught.value.param == param


def test_an_output_refusal_mid_stream_is_an_error_event(client, sim):
    sim.configure(faults="gpt-image-2:image_safety=x1")
    stream = client.images.generate(model="gpt-image-2", prompt="a kite", stream=True)
    with pytest.raises(openai.APIError) as caught:
        list(stream)
    assert caught.value.code == "moderation_blocked"


# -- the Responses API ----------------------------------------------------------------------


def test_responses_stream_every_event_in_order(client):
    stream = client.responses.create(
        model="gpt-5",
        input="a paper boat",
        tools=[{"type": "image_generation", "quality": "low", "partial_images": 2}],
        stream=True,
    )
    events = list(stream)
    types_seen = [e.type for e in events]
    assert types_seen[:2] == ["response.created", "response.in_progress"]
    image_events = [t for t in types_seen if t.startswith("response.image_generation_call.")]
    assert image_events == [
        "response.image_generation_call.in_progress",
        "response.image_generation_call.generating",
        "response.image_generation_call.partial_image",
        "response.image_generation_call.partial_image",
        "response.image_generation_call.completed",
    ]
    assert types_seen[-1] == "response.completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    partials = [e for e in events if e.type.endswith(".partial_image")]
    assert [p.partial_image_index for p in partials] == [0, 1]
    final = events[-1].response
    (call,) = [o for o in final.output if o.type == "image_generation_call"]
    assert call.status == "completed" and call.result and call.revised_prompt


# -- Gemini ---------------------------------------------------------------------------------


def test_gemini_generate_content_stream(sim):
    client = genai.Client(
        api_key="sim", http_options=types.HttpOptions(base_url=sim.gemini_base_url)
    )
    config = types.GenerateContentConfig(response_modalities=["TEXT", "IMAGE"])
    chunks = list(
        client.models.generate_content_stream(
            model="gemini-2.5-flash-image", contents="a kite", config=config
        )
    )
    assert len(chunks) >= 2
    assert chunks[0].candidates[0].content.parts[0].text
    last = chunks[-1].candidates[0]
    assert last.finish_reason == types.FinishReason.STOP
    assert any(p.inline_data for p in last.content.parts)
    assert chunks[-1].usage_metadata.total_token_count > 0


# -- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "params", "param"),
    [
        ("dall-e-3", {"stream": True}, "stream"),
        ("leonardo-phoenix", {"stream": True}, "stream"),
        ("gpt-image-2", {"stream": True, "partial_images": 4}, "partial_images"),
        ("gpt-image-2", {"partial_images": 2}, "partial_images"),
        ("gemini-2.5-flash-image", {"stream": True, "partial_images": 1}, "partial_images"),
    ],
)
def test_streaming_is_validated_before_sending(model, params, param):
    with pytest.raises(errors.ValidationError) as caught:
        validate_request(model, "a kite", **params)
    assert caught.value.param == param


# -- the providers ----------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ["generate", "responses"])
def test_the_openai_provider_streams_and_times_the_images(sim, endpoint):
    provider = provider_for_model("gpt-image-2", base_url=sim.openai_base_url)
    request = validate_request(
        "gpt-image-2", "a lighthouse", endpoint=endpoint, quality="low", stream=True,
        partial_images=2,
    )  # fmt: skip
    try:
        (result,) = provider.generate(request)
        (async_result,) = asyncio.run(provider.agenerate(request))
    finally:
        provider.close()
    for got in (result, async_result):
        assert got.image_bytes.startswith(b"\x89PNG") and (got.width, got.height) == (1024, 1024)
        assert 0 <= got.first_partial_s <= got.final_image_s
        assert got.metadata["partial_images_received"] == 2
        assert got.cost_basis == "usage"
    if endpoint == "responses":
        assert result.revised_prompt


def test_the_openai_provider_streams_an_edit(sim):
    provider = provider_for_model("gpt-image-1.5", base_url=sim.openai_base_url)
    request = validate_request(
        "gpt-image-1.5", "a hat", endpoint="edit", stream=True, partial_images=1
    )
    try:
        (result,) = provider.edit(request, image=_png())
    finally:
        provider.close()
    assert result.first_partial_s <= result.final_image_s


def test_without_partials_there_is_no_first_partial_time(sim):
    provider = provider_for_model("gpt-image-2", base_url=sim.openai_base_url)
    request = validate_request("gpt-image-2", "a kite", quality="low", stream=True)
    try:
        (result,) = provider.generate(request)
    finally:
        provider.close()
    assert result.first_partial_s is None and result.final_image_s is not None


def test_a_plain_request_records_no_stream_times(sim):
    provider = provider_for_model("gpt-image-2", base_url=sim.openai_base_url)
    try:
        (result,) = provider.generate(validate_request("gpt-image-2", "a kite", quality="low"))
    finally:
        provider.close()
    assert result.first_partial_s is None and result.final_image_s is None


def test_a_refusal_mid_stream_reaches_the_provider_as_content_policy(sim):
    sim.configure(faults="gpt-image-2:image_safety=x1")
    provider = provider_for_model("gpt-image-2", base_url=sim.openai_base_url)
    request = validate_request("gpt-image-2", "a kite", quality="low", stream=True)
    try:
        with pytest.raises(errors.ContentPolicyError) as caught:
            provider.generate(request)
    finally:
        provider.close()
        sim.configure(faults="")
    assert caught.value.code == "moderation_blocked"


def test_the_gemini_provider_streams(sim):
    provider = provider_for_model("gemini-2.5-flash-image", base_url=sim.gemini_base_url)
    request = validate_request("gemini-2.5-flash-image", "a kite", stream=True)
    try:
        (result,) = provider.generate(request)
        (async_result,) = asyncio.run(provider.agenerate(request))
    finally:
        provider.close()
    for got in (result, async_result):
        assert got.image_bytes.startswith(b"\x89PNG")
        assert got.first_partial_s is None  # Gemini sends the image whole
        assert got.final_image_s is not None and got.final_image_s >= 0


# -- ledger, frame and drill ------------------------------------------------------------------


def test_a_streaming_arm_records_its_times_in_the_ledger_and_the_frame(tmp_path):
    arms = [
        Arm.parse("gpt-image-2", quality="low", stream=True, partial_images=2),
        Arm("plain", "gpt-image-2", params={"quality": "low"}),
    ]
    run = drill(["a lighthouse"], arms, n=2, out=tmp_path, **QUIET)
    frame = run.to_frame().set_index("arm")
    streamed, plain = frame.loc["gpt-image-2"], frame.loc["plain"]
    assert (streamed["first_partial_s"] <= streamed["final_image_s"]).all()
    assert streamed["final_image_s"].notna().all()
    assert plain["first_partial_s"].isna().all() and plain["final_image_s"].isna().all()
    attempts = run.attempts_frame()
    assert {"first_partial_s", "final_image_s"} <= set(attempts.columns)


def test_a_ledger_from_before_streaming_is_still_readable_and_writable(tmp_path):
    run = drill(["a kite"], ["gpt-image-2"], n=1, out=tmp_path, quality="low", **QUIET)
    # Make the ledger look like one written before the streaming columns existed.
    db = sqlite3.connect(run.path / Ledger.FILENAME)
    db.execute("ALTER TABLE attempts DROP COLUMN first_partial_s")
    db.execute("ALTER TABLE attempts DROP COLUMN final_image_s")
    db.commit()
    db.close()
    frame = open_run(run.path).to_frame()
    assert frame["first_partial_s"].isna().all() and frame["final_image_s"].isna().all()
    assert set(frame["status"]) == {"ok"}
    with Ledger.open(run.path, writer=True) as ledger:
        columns = {row[1] for row in ledger._db.execute("PRAGMA table_info(attempts)")}
    assert {"first_partial_s", "final_image_s"} <= columns
