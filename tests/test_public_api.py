"""The names `imgkit` promises resolve, and importing it stays light."""

from __future__ import annotations

import subprocess
import sys

import imgkit


def test_every_public_name_resolves():
    for name in imgkit.__all__:
        assert getattr(imgkit, name) is not None, name
    assert imgkit.validate_request("dall-e-3", "x").model == "dall-e-3"
    assert issubclass(imgkit.errors.ValidationError, imgkit.errors.ImgkitError)


def test_unknown_attribute_is_an_attribute_error():
    try:
        imgkit.no_such_thing  # noqa: B018
    except AttributeError as exc:
        assert "no_such_thing" in str(exc)
    else:
        raise AssertionError("expected AttributeError")


def test_import_does_not_load_heavy_modules():
    code = (
        "import sys, imgkit; "
        "heavy = [m for m in ('matplotlib', 'openai', 'google.genai', 'uvicorn') "
        "if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
