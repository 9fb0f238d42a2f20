"""Contract tests of the simulator's Batch APIs: OpenAI's Files and Batches, Gemini's Files and
batch mode. Every object on the wire is validated against the installed SDKs' own types (no
field the type does not declare, every field it requires), the status life cycles are followed
through the SDKs, and the request lines imgkit writes are checked against what the SDKs would
send themselves."""

from __future__ import annotations

import io
import json
import time

import pytest
from google import genai
from google.genai import batches as genai_batches
from google.genai import types as genai_types
from openai import OpenAI
from openai.types import Batch, FileDeleted, FileObject, ImagesResponse
from openai.types.responses import Response

from imgkit.catalog.validation import validate_request
from imgkit.providers import GeminiProvider, OpenAIProvider

try:
    from contract_helpers import AUTH, HTTP, strict
except ImportError:  # run from the repository root as a package
    from tests.contract_helpers import AUTH, HTTP, strict

OPENAI_AUTH = {"authorization": AUTH["authorization"]}
GEMINI_AUTH = {"x-goog-api-key": AUTH["x-goog-api-key"]}
FINISHED = ("completed", "failed", "expired", "cancelled")


@pytest.fixture(scope="module")
def wire():
    from imgkit.simulator import serve

    with serve(batch_duration=0.4) as server:
        yield server


@pytest.fixture
def client(wire):
    wire.configure(faults="")
    return OpenAI(base_url=wire.openai_base_url, api_key="sim", max_retries=0)


def _line(custom_id: str, model: str = "gpt-image-1", prompt: str = "a kite", **body) -> dict:
    return {
        "custom_id": custom_id,
        "method": "POST",
        "url": "/v1/images/generations",
        "body": {"model": model, "prompt": prompt, "quality": "low", **body},
    }


def _upload(wire, lines: list[dict]) -> dict:
    data = "\n".join(json.dumps(line) for line in lines).encode()
    response = HTTP.post(
        wire.openai_base_url + "/files",
        headers=OPENAI_AUTH,
        files={"file": ("in.jsonl", data, "application/jsonl")},
        data={"purpose": "batch"},
    )
    assert response.status_code == 200, response.text
    return response.json()


def _create(wire, file_id: str, endpoint: str = "/v1/images/generations", **extra) -> dict:
    body = {"input_file_id": file_id, "endpoint": endpoint, "completion_window": "24h", **extra}
    response = HTTP.post(wire.openai_base_url + "/batches", headers=OPENAI_AUTH, json=body)
    assert response.status_code == 200, response.text
    return response.json()


def _follow(wire, batch_id: str) -> tuple[dict, list[str]]:
    """Poll a batch on the wire to its end: (its last object, every status seen, in order)."""
    seen: list[str] = []
    deadline = time.monotonic() + 30
    while True:
        batch = HTTP.get(f"{wire.openai_base_url}/batches/{batch_id}", headers=OPENAI_AUTH).json()
        strict(Batch, batch)
        if not seen or seen[-1] != batch["status"]:
            seen.append(batch["status"])
        if batch["status"] in FINISHED:
            return batch, seen
        assert time.monotonic() < deadline
        time.sleep(0.02)


def _lines(wire, file_id: str) -> list[dict]:
    content = HTTP.get(f"{wire.openai_base_url}/files/{file_id}/content", headers=OPENAI_AUTH)
    assert content.status_code == 200
    return [json.loads(line) for line in content.content.splitlines() if line.strip()]


# -- OpenAI ------------------------------------------------------------------------------------


def test_files_and_batches_are_the_sdk_types_through_their_whole_life(wire):
    uploaded = _upload(wire, [_line("a"), _line("b", prompt="gore in the street"), _line("c")])
    strict(FileObject, uploaded)
    assert uploaded["purpose"] == "batch" and uploaded["bytes"] > 0
    created = _create(wire, uploaded["id"], metadata={"imgkit_batch": "t-life"})
    strict(Batch, created)
    assert created["status"] == "validating" and created["metadata"] == {"imgkit_batch": "t-life"}
    done, seen = _follow(wire, created["id"])
    # The SDK's status literal, in its order: validating, in_progress, finalizing, completed.
    order = ["validating", "in_progress", "finalizing", "completed"]
    assert seen == [s for s in order if s in seen] and seen[-1] == "completed"
    assert done["request_counts"] == {"total": 3, "completed": 2, "failed": 1}
    assert done["model"] == "gpt-image-1" and done["completed_at"] >= done["in_progress_at"]
    outputs = _lines(wire, done["output_file_id"])
    errors = _lines(wire, done["error_file_id"])
    assert sorted(line["custom_id"] for line in outputs) == ["a", "c"]
    for line in outputs:
        assert set(line) == {"id", "custom_id", "response", "error"} and line["error"] is None
        assert set(line["response"]) == {"status_code", "request_id", "body"}
        assert line["response"]["status_code"] == 200
        strict(ImagesResponse, line["response"]["body"])
    [refused] = errors
    assert refused["custom_id"] == "b" and refused["response"]["status_code"] == 400
    assert refused["response"]["body"]["error"]["code"] == "moderation_blocked"
    for file_id in (done["output_file_id"], uploaded["id"]):
        deleted = HTTP.delete(f"{wire.openai_base_url}/files/{file_id}", headers=OPENAI_AUTH)
        strict(FileDeleted, deleted.json())
    gone = HTTP.get(f"{wire.openai_base_url}/files/{uploaded['id']}", headers=OPENAI_AUTH)
    assert gone.status_code == 404


def test_a_responses_batch_answers_responses(wire):
    line = {
        "custom_id": "r1",
        "method": "POST",
        "url": "/v1/responses",
        "body": {
            "model": "gpt-5",
            "input": "a kite",
            "tools": [{"type": "image_generation", "model": "gpt-image-2", "quality": "low"}],
        },
    }
    done, _seen = _follow(wire, _create(wire, _upload(wire, [line])["id"], "/v1/responses")["id"])
    [answer] = _lines(wire, done["output_file_id"])
    response = strict(Response, answer["response"]["body"])
    assert response.output[0].type == "image_generation_call"
    assert done["model"] == "gpt-image-2"


def test_the_list_is_a_cursor_page_most_recent_first(wire, client):
    ids = [_create(wire, _upload(wire, [_line("x")])["id"])["id"] for _ in range(3)]
    page = HTTP.get(wire.openai_base_url + "/batches?limit=2", headers=OPENAI_AUTH).json()
    assert set(page) == {"object", "data", "first_id", "last_id", "has_more"}
    assert page["object"] == "list" and page["has_more"] is True
    assert [b["id"] for b in page["data"]] == ids[::-1][:2]
    for batch in page["data"]:
        strict(Batch, batch)
    # Through the SDK, which pages with `after` by itself.
    listed = [b.id for b in client.batches.list(limit=2)]
    assert listed[:3] == ids[::-1]


def test_cancelling_goes_through_cancelling_to_cancelled(wire, client):
    wire.configure(batch_duration=3.0)
    try:
        uploaded = _upload(wire, [_line(str(i)) for i in range(6)])
        created = client.batches.create(
            input_file_id=uploaded["id"], endpoint="/v1/images/generations",
            completion_window="24h",
        )  # fmt: skip
        cancelling = client.batches.cancel(created.id)
        assert cancelling.status == "cancelling" and cancelling.cancelling_at is not None
        done, _seen = _follow(wire, created.id)
    finally:
        wire.configure(batch_duration=0.4)
    assert done["status"] == "cancelled" and done["cancelled_at"] is not None
    ran = _lines(wire, done["output_file_id"]) if done["output_file_id"] else []
    unrun = _lines(wire, done["error_file_id"])
    assert len(ran) + len(unrun) == 6 and len(ran) == done["request_counts"]["completed"]
    for line in unrun:
        assert line["response"] is None and line["error"]["code"] == "batch_cancelled"


@pytest.mark.parametrize(
    ("fault", "status"),
    [("batch_failed", "failed"), ("batch_expired", "expired"), ("batch_cancelled", "cancelled")],
)
def test_whole_batch_faults_end_in_the_vendors_statuses(wire, fault, status):
    wire.configure(faults=f"openai:{fault}=x1")
    try:
        created = _create(wire, _upload(wire, [_line(str(i)) for i in range(4)])["id"])
        done, _seen = _follow(wire, created["id"])
    finally:
        wire.configure(faults="")
    assert done["status"] == status and done[f"{status}_at"] is not None
    if fault == "batch_failed":
        assert done["errors"]["data"][0]["code"] == "simulated_failure"
        assert done["output_file_id"] is None and done["error_file_id"] is None
        return
    unrun = _lines(wire, done["error_file_id"])
    assert len(unrun) == 2 and {line["error"]["code"] for line in unrun} == {fault}
    assert len(_lines(wire, done["output_file_id"])) == 2


def test_a_batch_file_with_a_bad_line_fails_validation_naming_the_line(wire):
    bad = _line("b")
    bad["url"] = "/v1/responses"
    done, _seen = _follow(wire, _create(wire, _upload(wire, [_line("a"), bad])["id"])["id"])
    assert done["status"] == "failed"
    [error] = done["errors"]["data"]
    assert error["line"] == 2 and error["param"] == "url"


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"completion_window": "1h"}, "completion_window"),
        ({"endpoint": "/v1/chat/completions"}, "endpoint"),
        ({"input_file_id": "file-nope"}, "input_file_id"),
        ({"metadata": {"k": "v" * 600}}, "metadata"),
    ],
)
def test_a_batch_the_api_would_refuse_is_refused_with_its_param(wire, change, param):
    file_id = _upload(wire, [_line("a")])["id"]
    body = {
        "input_file_id": file_id,
        "endpoint": "/v1/images/generations",
        "completion_window": "24h",
        **change,
    }
    response = HTTP.post(wire.openai_base_url + "/batches", headers=OPENAI_AUTH, json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["param"] == param


def test_imgkits_request_lines_are_what_the_sdk_sends(wire):
    provider = OpenAIProvider(base_url=wire.openai_base_url)
    from openai.types import image_generate_params
    from openai.types.responses import response_create_params

    images = set(image_generate_params.ImageGenerateParamsBase.__annotations__)
    responses = set(response_create_params.ResponseCreateParamsBase.__annotations__)
    for model, endpoint, known in [
        ("dall-e-3", "generate", images),
        ("gpt-image-2", "generate", images),
        ("gpt-image-2", "responses", responses),
    ]:
        url, body = provider.batch_body(validate_request(model, "a kite", endpoint=endpoint))
        assert set(body) <= known and "stream" not in body
        assert url == {"generate": "/v1/images/generations", "responses": "/v1/responses"}[endpoint]
    _url, body = provider.batch_body(validate_request("dall-e-3", "a kite"))
    assert body["response_format"] == "b64_json"  # a URL would expire before a batch ends


# -- Gemini ------------------------------------------------------------------------------------


def _gemini(wire) -> genai.Client:
    return genai.Client(
        api_key="sim", http_options=genai_types.HttpOptions(base_url=wire.gemini_base_url)
    )


def _gemini_line(key: str, prompt: str = "a kite") -> dict:
    return {
        "key": key,
        "request": {
            "contents": [{"role": "user", "parts": [{"text": prompt}]}],
            "generationConfig": {
                "responseModalities": ["IMAGE"],
                "imageConfig": {"aspectRatio": "1:1", "imageSize": "1K"},
            },
        },
    }


def _gemini_follow(client: genai.Client, name: str) -> tuple[genai_types.BatchJob, list[str]]:
    seen: list[str] = []
    deadline = time.monotonic() + 30
    while True:
        job = client.batches.get(name=name)
        state = job.state.value
        if not seen or seen[-1] != state:
            seen.append(state)
        if state in ("JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED",
                     "JOB_STATE_EXPIRED"):  # fmt: skip
            return job, seen
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_gemini_files_and_batch_jobs_through_the_sdk(wire):
    client = _gemini(wire)
    data = "\n".join(json.dumps(_gemini_line(k)) for k in ("a", "b")).encode()
    uploaded = client.files.upload(
        file=io.BytesIO(data), config={"mime_type": "application/jsonl", "display_name": "in"}
    )
    assert uploaded.name.startswith("files/") and uploaded.size_bytes == len(data)
    assert uploaded.state.value == "ACTIVE" and client.files.get(name=uploaded.name).name
    job = client.batches.create(
        model="gemini-3.1-flash-image", src=uploaded.name, config={"display_name": "t-gemini"}
    )
    assert job.display_name == "t-gemini" and job.state.value == "JOB_STATE_PENDING"
    done, seen = _gemini_follow(client, job.name)
    order = ["JOB_STATE_PENDING", "JOB_STATE_RUNNING", "JOB_STATE_SUCCEEDED"]
    assert seen == [s for s in order if s in seen] and seen[-1] == "JOB_STATE_SUCCEEDED"
    assert done.model == "models/gemini-3.1-flash-image" and done.end_time is not None
    lines = [
        json.loads(line) for line in client.files.download(file=done.dest.file_name).splitlines()
    ]
    assert sorted(line["key"] for line in lines) == ["a", "b"]
    for line in lines:
        response = genai_types.GenerateContentResponse.model_validate(line["response"])
        assert response.candidates[0].content.parts[0].inline_data.data
    assert next(j.name for j in client.batches.list(config={"page_size": 1})) == job.name


def test_gemini_wire_objects_and_states(wire):
    client = _gemini(wire)
    job = client.batches.create(
        model="gemini-2.5-flash-image",
        src=[{"contents": "a kite", "config": {"response_modalities": ["IMAGE"]}}],
        config={"display_name": "t-inline"},
    )
    done, _seen = _gemini_follow(client, job.name)
    assert done.dest.inlined_responses[0].response.candidates[0].finish_reason.value == "STOP"
    raw = HTTP.get(f"{wire.gemini_base_url}/v1beta/{job.name}", headers=GEMINI_AUTH).json()
    assert set(raw) == {"name", "metadata", "done"} and raw["done"] is True
    assert raw["metadata"]["state"] == "BATCH_STATE_SUCCEEDED"
    assert raw["metadata"]["batchStats"]["requestCount"] == "1"
    listing = HTTP.get(f"{wire.gemini_base_url}/v1beta/batches?pageSize=1", headers=GEMINI_AUTH)
    assert set(listing.json()) == {"operations", "nextPageToken"}


def test_gemini_cancel_and_faults(wire):
    client = _gemini(wire)
    wire.configure(faults="gemini:batch_expired=x1")
    try:
        src = [{"contents": f"a kite {i}", "config": {"response_modalities": ["IMAGE"]}}
               for i in range(4)]  # fmt: skip
        job = client.batches.create(model="gemini-2.5-flash-image", src=src)
        done, _seen = _gemini_follow(client, job.name)
    finally:
        wire.configure(faults="")
    assert done.state.value == "JOB_STATE_EXPIRED" and len(done.dest.inlined_responses) == 2
    wire.configure(batch_duration=3.0)
    try:
        job = client.batches.create(model="gemini-2.5-flash-image", src=src)
        client.batches.cancel(name=job.name)
        done, _seen = _gemini_follow(client, job.name)
    finally:
        wire.configure(batch_duration=0.4)
    assert done.state.value == "JOB_STATE_CANCELLED"


def test_imgkits_gemini_request_lines_are_what_the_sdk_sends(wire):
    provider = GeminiProvider(base_url=wire.gemini_base_url)
    client = _gemini(wire)
    for kwargs in ({}, {"seed": 7}, {"size": "1344x768"}):
        request = validate_request("gemini-3.1-flash-image", "a kite", **kwargs)
        aspect, tier = request.spec.gemini_aspect_and_tier(request.size)
        config = genai_types.GenerateContentConfig(
            response_modalities=["IMAGE"],
            image_config=genai_types.ImageConfig(aspect_ratio=aspect, image_size=tier),
            seed=request.seed,
        )
        sdk = genai_batches._InlinedRequest_to_mldev(
            client._api_client,
            genai_types.InlinedRequest(model=request.model, contents="a kite", config=config),
        )["request"]
        ours = provider.batch_body(request)
        assert ours["contents"] == sdk["contents"]
        assert ours["generationConfig"] == sdk["generationConfig"]
