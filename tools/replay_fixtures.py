"""Write a replay fixture (``tests/data/replay/*.json``) from a public project's recorded cassette.

Public projects record their tests against the live APIs (vcrpy and VCR cassettes in YAML, Go's
go-vcr): real traffic nobody on this project wrote. This tool reads one such cassette and writes
the facts the replay suite needs, in one JSON shape whatever the recorder:

- the source: repository, path, commit, licence, when it was recorded;
- each exchange: method, path (the host dropped, so the replay server can serve it), status,
  the response headers a client reads (content type, request ids), the response body;
- nothing else of the request than what the test needs to send it again (model, prompt, size);
  credentials and cookies are never copied: the headers kept are an allow-list.

A base64 payload longer than ``--keep-chars`` (default: keep all) is cut to that many characters
and the fixture says so (``cut``): such a recording can only test the error path (a damaged
image), which is what the suite then expects of it.

Usage::

    python tools/replay_fixtures.py CASSETTE.yaml --repo owner/name --path PATH --commit SHA \\
        --licence MIT --name NAME [--keep-chars N] > tests/data/replay/NAME.json

The expectations (``expect``) are written by hand after reading the recording: what a user must
get from it (image size, revised prompt, usage, the error class).
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

#: Response headers worth keeping: what an SDK or imgkit reads. Everything else (cookies,
#: organisation and project ids, CDN traces) stays out.
KEPT_HEADERS = ("content-type", "x-request-id", "x-goog-request-id", "retry-after")
_B64_RUN = re.compile(r"[A-Za-z0-9+/=]{2000,}")


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list) and value else value


def _headers(raw: Any) -> dict[str, str]:
    headers = {}
    for name, value in (raw or {}).items():
        if name.lower() in KEPT_HEADERS:
            headers[name.lower()] = str(_first(value))
    return headers


def _body(response: dict[str, Any]) -> Any:
    """The response body as JSON data (or text), from vcrpy, VCR (Ruby) or go-vcr."""
    if "parsed_body" in response:  # pydantic-ai's vcrpy serializer
        return response["parsed_body"]
    body = response.get("body")
    if isinstance(body, dict):  # Ruby's VCR: "string", or "base64_string" for binary bodies
        encoded = body.get("base64_string")
        body = base64.b64decode(encoded).decode() if encoded else body.get("string", "")
    try:
        return json.loads(body)
    except (TypeError, ValueError):
        return body


def _cut(value: Any, keep: int | None, cuts: list[str], where: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _cut(v, keep, cuts, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_cut(v, keep, cuts, f"{where}[{i}]") for i, v in enumerate(value)]
    long_base64 = isinstance(value, str) and keep is not None and len(value) > keep
    if long_base64 and _B64_RUN.fullmatch(value):
        cuts.append(f"{where.lstrip('.')}: {len(value)} characters cut to {keep}")
        return value[:keep]
    return value


def convert(cassette: dict[str, Any], keep: int | None) -> tuple[list[dict[str, Any]], list[str]]:
    """(exchanges, cuts) of a parsed cassette."""
    interactions = cassette.get("interactions") or cassette.get("http_interactions") or []
    exchanges, cuts = [], []
    for item in interactions:
        request, response = item["request"], item["response"]
        url = request.get("uri") or request.get("url")
        status = response.get("status")
        code = status.get("code") if isinstance(status, dict) else response.get("code", status)
        split = urlsplit(url)
        exchanges.append(
            {
                "method": str(request.get("method", "POST")).upper(),
                "path": split.path,
                "status": int(code),
                "headers": _headers(response.get("headers")),
                "body": _cut(_body(response), keep, cuts),
            }
        )
    return exchanges, cuts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cassette", type=Path)
    parser.add_argument("--repo", required=True)
    parser.add_argument("--path", required=True)
    parser.add_argument("--commit", required=True)
    parser.add_argument("--licence", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--keep-chars", type=int, default=None)
    args = parser.parse_args(argv)
    import yaml  # the cassettes are YAML; only this tool needs it

    cassette = yaml.safe_load(args.cassette.read_text())
    exchanges, cuts = convert(cassette, args.keep_chars)
    fixture = {
        "name": args.name,
        "source": {
            "repo": args.repo, "path": args.path, "commit": args.commit,
            "licence": args.licence,
        },
        "cut": cuts or None,
        "exchanges": exchanges,
        "expect": {},
    }  # fmt: skip
    json.dump(fixture, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
