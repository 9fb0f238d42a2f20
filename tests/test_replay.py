"""The replay suite: exchanges that public projects recorded against the live services, served on
127.0.0.1 and read by imgkit's providers through the real SDKs, sync and async.

Each fixture of ``tests/data/replay`` names its source (repository, path, commit, licence), what
it was cut of and why (``tools/replay_fixtures.py`` made them), what it taught, and what a user
must get from it (``expect``): the image whole and as recorded, its format and size, the revised
prompt, the cost and its basis, or the error class; and how many requests were sent (the SDKs'
own retries are off). A recording whose image was not recorded (an image URL that expired an
hour after the recording) tests the error path: such an answer is damaged, never an image.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from imgkit import errors
from imgkit.catalog.validation import validate_request
from imgkit.providers import provider_for_model

try:
    from replay_server import Answer, ReplayServer
except ImportError:  # pragma: no cover - run from the project root
    from tests.replay_server import Answer, ReplayServer

FIXTURES = sorted((Path(__file__).parent / "data" / "replay").glob("*.json"))
GEMINI_ROUTE = "/*/models/*"


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def _route(fixture: dict[str, Any], exchange: dict[str, Any]) -> str:
    # The SDK sends the catalog's model name on its own API version: any Gemini recording
    # answers any generateContent call (the recording's own path is kept in the fixture). A
    # Vertex recording is served on Vertex's path only, for its project and location.
    vertex = fixture.get("vertex")
    if vertex:
        return (
            f"/v1beta1/projects/{vertex['project']}/locations/{vertex['location']}"
            "/publishers/google/models/*"
        )
    return GEMINI_ROUTE if fixture["provider"] == "gemini" else exchange["path"]


def _serve(server: ReplayServer, fixture: dict[str, Any]) -> None:
    for exchange in fixture["exchanges"]:
        body = exchange["body"]
        status = fixture.get("image_url_status")
        if status and isinstance(body, dict):
            body = json.loads(json.dumps(body))
            for item in body.get("data") or []:
                if item.get("url"):
                    name = item["url"].rsplit("/", 1)[1]
                    item["url"] = f"{server.base_url}/blob/{name}"
            # what Azure's blob store answers for a URL whose signature has expired
            expired = "<Error><Code>AuthenticationFailed</Code></Error>"
            server.add(
                "GET", "/blob/*", Answer(status, expired, {"content-type": "application/xml"})
            )
        server.add(
            exchange["method"],
            _route(fixture, exchange),
            Answer(exchange["status"], body, exchange["headers"]),
        )


def _provider(fixture: dict[str, Any], server: ReplayServer) -> Any:
    base = server.base_url + ("/v1" if fixture["provider"] == "openai" else "")
    vertex = fixture.get("vertex")
    if vertex:
        return provider_for_model(fixture["model"], base_url=base, vertexai=True, **vertex)
    return provider_for_model(fixture["model"], base_url=base)


def _call(fixture: dict[str, Any], provider: Any, mode: str) -> list[Any]:
    request = validate_request(fixture["model"], endpoint=fixture["endpoint"], **fixture["request"])
    if fixture["endpoint"] == "edit":
        image = io.BytesIO()
        Image.new("RGBA", (256, 256), (0, 0, 255, 255)).save(image, "PNG")
        call = (provider.edit, provider.aedit)
        kwargs: dict[str, Any] = {"image": image.getvalue()}
    else:
        call = (provider.generate, provider.agenerate)
        kwargs = {}
    if mode == "sync":
        return call[0](request, **kwargs)
    return asyncio.run(call[1](request, **kwargs))


def _recorded_images(fixture: dict[str, Any]) -> list[bytes]:
    """The image bytes as recorded: what imgkit must keep, byte for byte."""
    found = []
    for exchange in fixture["exchanges"]:
        body = exchange["body"]
        for candidate in body.get("candidates", []) if isinstance(body, dict) else []:
            for part in candidate["content"]["parts"]:
                if "inlineData" in part:
                    found.append(base64.b64decode(part["inlineData"]["data"]))
        for item in body.get("output", []) if isinstance(body, dict) else []:
            if item.get("type") == "image_generation_call" and item.get("result"):
                found.append(base64.b64decode(item["result"]))
    return found


def test_every_fixture_names_its_source_and_holds_no_credentials():
    assert len(FIXTURES) >= 13
    for path in FIXTURES:
        fixture = _load(path)
        source = fixture["source"]
        assert source["repo"].count("/") == 1 and len(source["commit"]) == 40, path.name
        assert source["licence"] in ("MIT", "Apache-2.0"), path.name
        assert source["path"] and fixture["taught"] and fixture["expect"], path.name
        text = path.read_text()
        for secret in ("sk-", "Bearer ", "sig=", "x-goog-api-key", "AIza"):
            assert secret not in text, (path.name, secret)


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_a_recorded_exchange_reads_as_it_should(path, mode):
    fixture = _load(path)
    expect = fixture["expect"]
    with ReplayServer() as server:
        _serve(server, fixture)
        provider = _provider(fixture, server)
        try:
            if "error" in expect:
                with pytest.raises(getattr(errors, expect["error"])) as caught:
                    _call(fixture, provider, mode)
                error = caught.value
                assert error.provider == fixture["provider"]
                if "code" in expect:
                    assert error.code == expect["code"]
                if "status" in expect:
                    assert error.status == expect["status"]
                if "text" in expect:  # what a model that declined said, kept
                    assert expect["text"] in error.text
                if "reason" in expect:
                    assert error.reason == expect["reason"]
                if "param" in expect:
                    assert error.param == expect["param"]
                # an answer that came back damaged reached the service: possibly billed
                assert error.may_have_been_billed == isinstance(error, errors.DamagedImageError)
                results = []
            else:
                results = _call(fixture, provider, mode)
        finally:
            provider.close()
        sent = server.count("POST")
    assert sent == expect.get("requests", 1)  # nothing retried by the SDKs
    if "error" in expect:
        return
    assert len(results) == expect["images"]
    for result, recorded in zip(results, _recorded_images(fixture), strict=True):
        assert result.image_bytes == recorded
        with Image.open(io.BytesIO(recorded)) as img:
            assert (result.width, result.height) == img.size
        assert result.image_format == expect["format"]
        assert result.cost_usd is not None and result.cost_usd > 0
        if "revised_prompt" in expect:
            assert result.revised_prompt == expect["revised_prompt"]
        if "size" in expect:
            assert f"{result.width}x{result.height}" == expect["size"]
        if "usage_basis" in expect:
            assert result.cost_basis == expect["usage_basis"]
        if expect.get("text_kept"):
            assert result.metadata["text"] and "axolotl" in " ".join(result.metadata["text"])
        if expect.get("signature_digest"):
            parts = result.metadata["candidates"][0]["content"]["parts"]
            digests = [p["thought_signature"] for p in parts if "thought_signature" in p]
            assert digests and all(len(d["sha256"]) == 64 for d in digests)
        assert len(json.dumps(result.metadata)) < 20_000  # no payload kept whole


def test_gemini_3_is_costed_from_its_recorded_usage():
    """The recording's usageMetadata: 14 prompt tokens, 1,283 candidate tokens of which 1,120
    image, 174 thinking. At gemini-3-pro-image's rates ($2 in, $120 image out, $12 text and
    thinking out, per 1M) that is $0.1385, where the per-image price says $0.134."""
    fixture = _load(next(p for p in FIXTURES if "gemini-3-pro" in p.name))
    with ReplayServer() as server:
        _serve(server, fixture)
        (result,) = _call(fixture, _provider(fixture, server), "sync")
    expected = (14 * 2.0 + 1120 * 120.0 + (1283 - 1120 + 174) * 12.0) / 1e6
    assert result.model == "gemini-3-pro-image"  # the preview name resolved to its entry
    assert result.cost_basis == "usage" and result.cost_usd == pytest.approx(expected)


def test_the_responses_recording_is_costed_by_the_estimate_and_says_why():
    """Its image_generation_call carries no usage of its own (the response's usage is gpt-5's):
    the estimate, labelled, never $0."""
    fixture = _load(next(p for p in FIXTURES if "responses" in p.name))
    with ReplayServer() as server:
        _serve(server, fixture)
        (result,) = _call(fixture, _provider(fixture, server), "sync")
    assert result.cost_basis == "estimate" and result.cost_usd > 0
    assert result.metadata["usage_missing"] is True
