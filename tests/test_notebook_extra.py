"""The notebook side is an extra: without ipywidgets, imgkit works and a widget says what to
install. The test environment has ipywidgets, so a fresh interpreter is told it is missing."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# Runs ``code`` in an interpreter where ipywidgets cannot be imported (as after a plain
# `pip install imgkit`), and prints the error it raised as JSON, or null.
_DRIVER = """
import json, sys
sys.modules["ipywidgets"] = None  # the import system's way to say "not installed"
try:
    exec(sys.argv[1])
except ImportError as exc:
    print(json.dumps({"type": type(exc).__name__, "message": str(exc),
                      "cause": repr(exc.__cause__), "context_shown": not exc.__suppress_context__}))
else:
    print("null")
"""


def error_without_ipywidgets(code: str) -> dict | None:
    done = subprocess.run(
        [sys.executable, "-c", _DRIVER, code], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.splitlines()[-1])


@pytest.mark.parametrize(
    "code",
    [
        "import imgkit.widgets",
        "from imgkit.widgets import DrillPanel",
        "import imgkit.widgets.drill",
    ],
)
def test_a_widget_without_ipywidgets_names_the_extra(code):
    error = error_without_ipywidgets(code)
    assert error is not None and error["type"] in ("ImportError", "ModuleNotFoundError")
    assert "pip install 'imgkit[notebook]'" in error["message"]
    assert "ipywidgets" in error["message"]
    # raised "from None": one clear message, not the import machinery's traceback
    assert error["cause"] == "None" and not error["context_shown"]


def test_the_rest_of_imgkit_does_not_need_ipywidgets():
    code = (
        "import imgkit, tempfile\n"
        "with tempfile.TemporaryDirectory() as out:\n"
        "    run = imgkit.drill(n=1, out=out, progress=False, log=None)\n"
        "    assert run.summary()['ok'] == 2\n"
        "    imgkit.write_report(run)\n"
    )
    assert error_without_ipywidgets(code) is None
