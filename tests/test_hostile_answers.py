"""What a broken or hostile service sends, through the providers and the real SDKs (issue 25).

A loopback server (``replay_server``) answers with what the defects of issue 25 describe: an
image that is not an image, JSON the SDK cannot read, an answer trickling one byte a second, a
Gemini 3 answer with a 2.9-million-character thought signature. Each test failed on main before
the fix that it names.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import threading
import time

import pytest
from PIL import Image

from imgkit import errors
from imgkit.catalog.validation import validate_request
from imgkit.experiment.options import RetryPolicy
from imgkit.providers import provider_for_model

try:
    from replay_server import Answer, ReplayServer
except ImportError:  # pragma: no cover - run from the project root
    from tests.replay_server import Answer, ReplayServer

GEMINI = "gemini-3.1-flash-image"
GEMINI_ROUTE = "/*/models/*"


def png(width: int = 64, height: int = 64, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 40)).save(buffer, fmt)
    return buffer.getvalue()


def images_answer(b64: str, **fields) -> dict:
    return {"created": 1, "data": [{"b64_json": b64}], **fields}


def gemini_answer(data: str, mime: str = "image/png", **part) -> dict:
    return {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [{"inlineData": {"mimeType": mime, "data": data}, **part}],
                },
                "finishReason": "STOP",
            }
        ],
        "usageMetadata": {
            "promptTokenCount": 10,
            "candidatesTokenCount": 1120,
            "candidatesTokensDetails": [{"modality": "IMAGE", "tokenCount": 1120}],
            "totalTokenCount": 1130,
        },
        "modelVersion": "gemini-3.1-flash-image",
        "responseId": "resp-1",
    }


@pytest.fixture
def server():
    with ReplayServer() as replay:
        yield replay


def openai(server, **kwargs):
    return provider_for_model("gpt-image-2", base_url=server.base_url + "/v1", **kwargs)


def gemini(server, **kwargs):
    return provider_for_model(GEMINI, base_url=server.base_url, **kwargs)


# --- defect 1: an image that is not an image ---------------------------------------------------

GOOD = png()
DAMAGED_IMAGES = {
    # placeholder text: lenient base64 decodes it to 15 bytes of junk
    "placeholder": ("placeholder image data", {}),
    "truncated": (base64.b64encode(GOOD[: len(GOOD) // 3]).decode(), {}),
    "wrong_format": (base64.b64encode(GOOD).decode(), {"output_format": "jpeg"}),
    "wrong_size": (base64.b64encode(GOOD).decode(), {"size": "1024x1024"}),
}


@pytest.mark.parametrize("case", sorted(DAMAGED_IMAGES))
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_an_openai_image_that_is_not_a_whole_image_is_damaged(server, case, mode):
    b64, fields = DAMAGED_IMAGES[case]
    server.add("POST", "/v1/images/generations", Answer(200, images_answer(b64, **fields)))
    provider = openai(server)
    request = validate_request("gpt-image-2", "a red square")
    with pytest.raises(errors.DamagedImageError) as caught:
        if mode == "sync":
            provider.generate(request)
        else:
            asyncio.run(provider.agenerate(request))
    error = caught.value
    assert error.kind == "damaged" and error.reason
    assert error.may_have_been_billed and error.retry_same_provider
    assert server.count("POST", "/images/generations") == 1  # the SDK did not retry


def test_a_whole_image_with_matching_claims_is_kept(server):
    answer = images_answer(base64.b64encode(GOOD).decode(), size="64x64", output_format="png")
    server.add("POST", "/v1/images/generations", Answer(200, answer))
    (result,) = openai(server).generate(validate_request("gpt-image-2", "a red square"))
    assert (result.image_format, result.width, result.height) == ("png", 64, 64)
    assert result.image_bytes == GOOD


@pytest.mark.parametrize(
    "data, mime",
    [
        (base64.b64encode(GOOD[: len(GOOD) // 3]).decode(), "image/png"),  # truncated
        (base64.b64encode(GOOD).decode(), "image/jpeg"),  # a PNG named a JPEG
        (base64.b64encode(b"<html>not an image</html>").decode(), "image/png"),
        ("not base64 at all!", "image/png"),  # the SDK's own pydantic error (defect 2)
    ],
    ids=["truncated", "wrong_format", "html", "bad_base64"],
)
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_gemini_image_that_is_not_a_whole_image_is_damaged(server, data, mime, mode):
    server.add("POST", GEMINI_ROUTE, Answer(200, gemini_answer(data, mime)))
    provider = gemini(server)
    request = validate_request(GEMINI, "a red square")
    with pytest.raises(errors.DamagedImageError) as caught:
        if mode == "sync":
            provider.generate(request)
        else:
            asyncio.run(provider.agenerate(request))
    assert caught.value.may_have_been_billed and caught.value.provider == "gemini"


# --- defects 2 and 4: answers the SDK cannot read ------------------------------------------------

MALFORMED = {
    "cut_json": '{"created": 1, "data": [ {"b64',
    "not_json": "<html>Bad gateway</html>",
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
@pytest.mark.parametrize("vendor", ["openai", "gemini"])
def test_a_200_whose_json_is_malformed_is_possibly_billed(server, case, vendor):
    route = "/v1/images/generations" if vendor == "openai" else GEMINI_ROUTE
    server.add("POST", route, Answer(200, MALFORMED[case]))
    provider = openai(server) if vendor == "openai" else gemini(server)
    model = "gpt-image-2" if vendor == "openai" else GEMINI
    with pytest.raises(errors.MalformedResponseError) as caught:
        provider.generate(validate_request(model, "a red square"))
    assert caught.value.may_have_been_billed
    assert caught.value.kind in ("malformed_response", "damaged")


def test_the_chain_tries_its_next_link_after_an_answer_the_sdk_cannot_read(server):
    """Defect 2: Gemini's pydantic ValidationError escaped, and the chain stopped there."""
    from imgkit.providers.chain import Chain

    server.add("POST", GEMINI_ROUTE, Answer(200, gemini_answer("not base64!!"), repeat=True))
    good = images_answer(base64.b64encode(GOOD).decode())
    server.add("POST", "/v1/images/generations", Answer(200, good))
    chain = Chain(
        [GEMINI, "gpt-image-2"], retry_delay_s=0,
        base_urls={"gemini": server.base_url, "openai": server.base_url + "/v1"},
    )  # fmt: skip
    outcome = chain.generate("a red square")
    assert outcome.result.provider == "openai"
    kinds = [a.error_kind for a in outcome.attempts if a.error_kind is not None]
    assert kinds and set(kinds) == {"damaged"}


# --- defect 3: an answer that never ends ----------------------------------------------------------


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("vendor", ["openai", "gemini"])
def test_a_trickling_answer_ends_at_the_total_deadline(server, vendor, mode):
    body = json.dumps(images_answer(base64.b64encode(GOOD).decode()))
    route = "/v1/images/generations" if vendor == "openai" else GEMINI_ROUTE
    server.add("POST", route, Answer(200, body, trickle_s=0.2))  # 5 bytes a second
    provider = (openai if vendor == "openai" else gemini)(server, timeout_s=1.5)
    model = "gpt-image-2" if vendor == "openai" else GEMINI
    request = validate_request(model, "a red square")
    started = time.monotonic()
    with pytest.raises(errors.ProviderTimeoutError) as caught:
        if mode == "sync":
            provider.generate(request)
        else:
            asyncio.run(provider.agenerate(request))
    took = time.monotonic() - started
    assert 1.4 <= took < 4.0, took  # the gap between bytes (0.2 s) never tripped a read timeout
    assert caught.value.may_have_been_billed


def test_the_first_interrupt_ends_a_stalled_drill_within_the_grace(server, tmp_path):
    """Defect 3: the first SIGTERM said it was finishing, and waited for ever. Now requests in
    flight get ``stop_grace_s`` to finish, then are cut and recorded as interrupted."""
    from imgkit.runner.start import drill

    body = json.dumps(images_answer(base64.b64encode(GOOD).decode()))
    server.add("POST", "/v1/images/generations", Answer(200, body, trickle_s=1.0, repeat=True))
    interrupt = threading.Event()
    interrupted_at: list[float] = []

    def interrupt_once_both_are_in_flight() -> None:
        end = time.monotonic() + 60
        while server.count("POST") < 2 and time.monotonic() < end:
            time.sleep(0.02)
        interrupted_at.append(time.monotonic())
        interrupt.set()

    threading.Thread(target=interrupt_once_both_are_in_flight, daemon=True).start()
    started = time.monotonic()
    run = drill(
        ["a red square"], ["gpt-image-2"], n=2, sim_url=server.base_url, out=tmp_path,
        progress=False, log=None, interrupt=interrupt, retry=RetryPolicy(transient_delay_s=0),
        stop_grace_s=1.0,
    )  # fmt: skip
    assert time.monotonic() - started < 60
    took = time.monotonic() - interrupted_at[0]
    assert took < 1.0 + 3.0, took  # the grace, and the time to write the run down
    assert run.status == "interrupted"
    attempts = run.attempts_frame()
    assert set(attempts["status"]) == {"interrupted"}
    assert attempts["may_have_been_billed"].all()


# --- defects 5 and 6: Gemini usage and Gemini 3's thought signature -------------------------------

SIGNATURE = base64.b64encode(b"s" * 2_175_000).decode()  # 2.9 M characters, as recorded


def test_gemini_is_costed_from_usage_metadata(server):
    answer = gemini_answer(base64.b64encode(GOOD).decode())
    answer["usageMetadata"] = {
        "promptTokenCount": 12,
        "candidatesTokenCount": 1120 + 40,
        "candidatesTokensDetails": [
            {"modality": "IMAGE", "tokenCount": 1120},
            {"modality": "TEXT", "tokenCount": 40},
        ],
        "thoughtsTokenCount": 300,
        "totalTokenCount": 12 + 1160 + 300,
    }
    server.add("POST", GEMINI_ROUTE, Answer(200, answer))
    provider = provider_for_model("gemini-3-pro-image", base_url=server.base_url)
    (result,) = provider.generate(validate_request("gemini-3-pro-image", "a red square"))
    # gemini-3-pro-image: $2 per 1M in, $120 per 1M image out, $12 per 1M text and thinking
    expected = (12 * 2.0 + 1120 * 120.0 + (40 + 300) * 12.0) / 1e6
    assert result.cost_basis == "usage"
    assert result.cost_usd == pytest.approx(expected)
    assert "thinking" in result.metadata["cost_note"]


def test_a_thought_signature_is_kept_as_size_and_digest(server):
    answer = gemini_answer(base64.b64encode(GOOD).decode(), thoughtSignature=SIGNATURE)
    server.add("POST", GEMINI_ROUTE, Answer(200, answer))
    provider = provider_for_model("gemini-3-pro-image", base_url=server.base_url)
    (result,) = provider.generate(validate_request("gemini-3-pro-image", "a red square"))
    part = result.metadata["candidates"][0]["content"]["parts"][0]
    kept = part["thought_signature"]
    assert kept["chars"] == len(base64.b64decode(SIGNATURE)) or kept["chars"] == len(SIGNATURE)
    assert len(kept["sha256"]) == 64
    assert len(json.dumps(result.metadata)) < 8_000


def test_a_long_text_part_is_kept_whole_beside_a_digested_signature(server):
    story = " ".join(["The axolotl swam on."] * 400)  # 8,400 characters of words
    answer = gemini_answer(base64.b64encode(GOOD).decode(), thoughtSignature=SIGNATURE)
    answer["candidates"][0]["content"]["parts"].insert(0, {"text": story})
    server.add("POST", GEMINI_ROUTE, Answer(200, answer))
    provider = provider_for_model("gemini-3-pro-image", base_url=server.base_url)
    (result,) = provider.generate(validate_request("gemini-3-pro-image", "a story"))
    assert result.metadata["text"] == [story]
    parts = result.metadata["candidates"][0]["content"]["parts"]
    assert parts[0]["text"] == story and "sha256" in parts[1]["thought_signature"]


def test_the_ledger_stays_small_for_gemini_3(server, tmp_path):
    """Defect 6: each Gemini 3 generation wrote 1.5-2.9 MB of signature into the ledger."""
    from imgkit.runner.start import drill

    answer = gemini_answer(base64.b64encode(GOOD).decode(), thoughtSignature=SIGNATURE)
    server.add("POST", GEMINI_ROUTE, Answer(200, answer, repeat=True))
    run = drill(
        ["a red square"], ["gemini-3-pro-image"], n=4, sim_url=server.base_url, out=tmp_path,
        progress=False, log=None,
    )  # fmt: skip
    assert run.summary()["ok"] == 4
    ledger_bytes = sum(p.stat().st_size for p in run.path.glob("ledger*"))
    # schema and pages of an empty run, plus a few KB per generation
    assert ledger_bytes < 200_000 + 4 * 20_000, ledger_bytes


# --- defect 1, at the run: never stored, billed as possible, retried ------------------------------


def test_a_drill_records_a_damaged_answer_and_retries_it(server, tmp_path):
    from imgkit.runner.start import drill

    good = images_answer(base64.b64encode(GOOD).decode())
    server.add(
        "POST", "/v1/images/generations",
        Answer(200, images_answer("placeholder image data")), Answer(200, good),
    )  # fmt: skip
    run = drill(
        ["a red square"], ["gpt-image-2"], n=1, sim_url=server.base_url, out=tmp_path,
        progress=False, log=None, retry=RetryPolicy(transient_delay_s=0),
    )  # fmt: skip
    attempts = run.attempts_frame()
    assert list(attempts["status"]) == ["failed", "ok"]
    first = attempts.iloc[0]
    assert first["error_kind"] == "damaged" and bool(first["may_have_been_billed"])
    stored = list((run.path / "images").glob("*.*"))
    assert len(stored) == 1 and stored[0].read_bytes() == GOOD
    assert server.count("POST") == 2


def test_verify_decodes_the_images_it_checks(server, tmp_path, capsys):
    """A run written before answers were checked: its junk image's hash matches the ledger,
    so only decoding it shows it is not an image."""
    from imgkit.runner.start import drill
    from imgkit.runs.folder import open_run

    good = images_answer(base64.b64encode(GOOD).decode())
    server.add("POST", "/v1/images/generations", Answer(200, good))
    run = drill(
        ["a red square"], ["gpt-image-2"], n=1, sim_url=server.base_url, out=tmp_path,
        progress=False, log=None,
    )  # fmt: skip
    (stored,) = (run.path / "images").glob("*.*")
    junk = base64.b64decode("placeholderimagedata")  # what lenient base64 made of it
    stored.write_bytes(junk)
    import sqlite3

    with sqlite3.connect(run.path / "ledger.sqlite") as db:
        db.execute("UPDATE attempts SET image_sha256 = ?", (hashlib.sha256(junk).hexdigest(),))
    checked = open_run(run.path).verify()
    (problem,) = checked["problem"]
    assert problem and problem.startswith("not an image")
    from imgkit.cli.main import main

    assert main(["verify", str(run.path), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["problems"] == {"not an image": 1} and report["intact"] == 0


def test_the_first_sigterm_ends_a_drill_held_by_a_stalled_answer(server, tmp_path):
    """Defect 3 as reported: `imgkit drill` against a service that sends its headers and then
    one byte a second; the first SIGTERM said it was finishing and waited (420 s and counting).
    Now the process ends within the grace (3 s) and a little, and its requests are recorded."""
    import signal
    import subprocess
    import sys

    from imgkit.runs.folder import open_run

    body = json.dumps(images_answer(base64.b64encode(GOOD).decode()))
    server.add("POST", "/v1/images/generations", Answer(200, body, trickle_s=1.0, repeat=True))
    command = [
        sys.executable, "-m", "imgkit.cli.drill", "--prompt", "a red square", "--models",
        "gpt-image-2", "-n", "3", "--sim-url", server.base_url, "--out", str(tmp_path),
        "--name", "stalled", "--no-progress",
    ]  # fmt: skip
    runner = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while server.count("POST") < 3 and time.monotonic() < deadline:
            assert runner.poll() is None, runner.stderr.read()
            time.sleep(0.05)
        signalled = time.monotonic()
        runner.send_signal(signal.SIGTERM)
        code = runner.wait(timeout=30)
        took = time.monotonic() - signalled
        stderr = runner.stderr.read()
    finally:
        if runner.poll() is None:
            runner.kill()
    assert code == -signal.SIGTERM, stderr
    assert took < 3.0 + 5.0, took  # the grace, and the time to write the run down
    run = open_run(tmp_path / "stalled")
    assert run.status == "interrupted" and not run.is_active()
    attempts = run.attempts_frame()
    assert len(attempts) == 3 and set(attempts["status"]) == {"interrupted"}
    assert attempts["may_have_been_billed"].all()


def test_the_command_line_sets_the_deadline(server, tmp_path):
    """`imgkit drill --timeout S`: a trickling answer ends as a timeout after S seconds."""
    import subprocess
    import sys

    from imgkit.runs.folder import open_run

    body = json.dumps(images_answer(base64.b64encode(GOOD).decode()))
    server.add("POST", "/v1/images/generations", Answer(200, body, trickle_s=0.5, repeat=True))
    command = [
        sys.executable, "-m", "imgkit.cli.drill", "--prompt", "a red square", "--models",
        "gpt-image-2", "-n", "1", "--sim-url", server.base_url, "--out", str(tmp_path),
        "--name", "deadline", "--no-progress", "--timeout", "1.5",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    attempts = open_run(tmp_path / "deadline").attempts_frame()
    # the first try and the policy's one retry, each cut at the deadline, each possibly billed
    assert list(attempts["error_kind"]) == ["timeout", "timeout"], done.stderr
    assert attempts["may_have_been_billed"].all()
    assert (attempts["latency_s"] < 1.5 + 1.5).all()
    again = [*command[:3], "--resume", str(tmp_path / "deadline"), "--timeout", "2"]
    refused = subprocess.run(again, capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0 and "--timeout" in refused.stderr
