"""Image answers with their base64 spliced in: the same bytes as a plain JSON answer."""

from __future__ import annotations

import base64
import json
import os

from starlette.responses import JSONResponse

from imgkit.simulator.inline_json import Base64, InlineJSONResponse


def test_spliced_answer_is_byte_for_byte_the_plain_json_answer():
    images = [os.urandom(n) for n in (0, 1, 2, 3, 5000)] * 3  # 15 images: tokens 1 and 10..14
    payload = {
        "created": 1,
        "data": [
            {"b64_json": Base64(image), "revised_prompt": 'déjà vu "quoted"'} for image in images
        ],
        "usage": {"total_tokens": 7},
    }
    plain = {
        **payload,
        "data": [
            {"b64_json": base64.b64encode(image).decode(), "revised_prompt": 'déjà vu "quoted"'}
            for image in images
        ],
    }
    spliced = InlineJSONResponse(payload).body
    assert spliced == JSONResponse(plain).body
    decoded = json.loads(spliced)
    assert [base64.b64decode(d["b64_json"]) for d in decoded["data"]] == images


def test_text_that_looks_like_a_token_is_left_alone():
    # A caller cannot spell the token: it is random per answer.
    text = 'imgkit-inline-0000000000000000-0 "imgkit-inline-'
    body = InlineJSONResponse({"prompt": text, "image": Base64(b"png")}).body
    assert json.loads(body) == {"prompt": text, "image": base64.b64encode(b"png").decode()}
