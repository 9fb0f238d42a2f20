"""Extract the facts the contract tests use from OpenAI's published OpenAPI description.

The full description (openai/openai-openapi, ``openapi.json``, about 3 MB) is not vendored; this
script keeps only what ``tests/test_contract_openai.py`` checks: the required fields and enums
of the image schemas, the error object, the stream events, the ``partial_images`` range and the
Responses error codes, with the repository commit they were read at.

Usage, with a checkout of openai/openai-openapi (or ``git show COMMIT:openapi.json``)::

    python tools/openapi_facts.py openapi.json COMMIT > tests/data/openapi/openai_images.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

#: Schemas whose required fields and enums the contract tests check.
SCHEMAS = (
    "Error",
    "ErrorResponse",
    "Image",
    "ImagesResponse",
    "ImagesUsage",
    "ImageGenUsage",
    "ImageGenInputUsageDetails",
    "ImageGenOutputTokensDetails",
    "ImageGenToolCall",
    "ImageGenPartialImageEvent",
    "ImageGenCompletedEvent",
    "ImageEditPartialImageEvent",
    "ImageEditCompletedEvent",
    "ResponseImageGenCallInProgressEvent",
    "ResponseImageGenCallGeneratingEvent",
    "ResponseImageGenCallPartialImageEvent",
    "ResponseImageGenCallCompletedEvent",
)


def _schema_facts(schema: dict[str, Any]) -> dict[str, Any]:
    properties = schema.get("properties", {})
    enums = {
        name: prop["enum"]
        for name, prop in properties.items()
        if isinstance(prop, dict) and "enum" in prop
    }
    return {
        "required": sorted(schema.get("required", [])),
        "properties": sorted(properties),
        "enums": enums,
    }


def _integer_range(schema: dict[str, Any]) -> dict[str, Any]:
    for option in schema.get("anyOf", [schema]):
        if option.get("type") == "integer":
            return {"minimum": option.get("minimum"), "maximum": option.get("maximum")}
    return {}


def extract(spec: dict[str, Any], commit: str) -> dict[str, Any]:
    """The facts, keyed by schema name, with their source."""
    schemas = spec["components"]["schemas"]
    return {
        "source": {
            "repository": "openai/openai-openapi",
            "path": "openapi.json",
            "commit": commit,
            "note": "extracted by tools/openapi_facts.py; only the facts the tests use",
        },
        "schemas": {name: _schema_facts(schemas[name]) for name in SCHEMAS},
        "partial_images": _integer_range(schemas["PartialImages"]),
        "response_error_codes": schemas["ResponseErrorCode"]["enum"],
        "create_image_request_properties": sorted(schemas["CreateImageRequest"]["properties"]),
        "create_image_edit_request_properties": sorted(
            schemas["CreateImageEditRequest"]["properties"]
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", type=Path, help="openapi.json of openai/openai-openapi")
    parser.add_argument("commit", help="the commit the file was read at")
    args = parser.parse_args(argv)
    facts = extract(json.loads(args.spec.read_text(encoding="utf-8")), args.commit)
    json.dump(facts, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
