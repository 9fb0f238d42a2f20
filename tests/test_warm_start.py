"""A drill does its one-off start-up work before the first request, not on the event loop.

A fresh interpreter runs a drill on the embedded simulator with an audit hook on its event loop's
thread. From the loop's first connection (the first request) to the end of the drill, nothing may
be imported there: an import while requests are in flight holds up every one of them. The SDK's
deferred pydantic models must be built by then too. How much sooner the first answer comes is
measured in benchmarks/bench_startup.py, not asserted here.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest

from imgkit.providers.openai_provider import OpenAIProvider

# One arm per provider and endpoint, so each provider's first request is covered.
ARMS = [
    "dall-e-3",
    "gpt-image-1",
    "gpt-image-2@responses",
    "gemini-3-pro-image",
    "leonardo-phoenix",
]

_DRIVER = """
import asyncio, json, sys, tempfile, threading

loop_thread = threading.get_ident()  # asyncio.run below runs the loop on this thread
state = {"sending": False, "imported": [], "models_built_before_sending": None}


def deferred_models_built():
    types = sys.modules.get("openai.types")
    if types is None:
        return None
    from openai.types import ImagesResponse, images_response

    return ImagesResponse.__pydantic_complete__ and images_response.Usage.__pydantic_complete__


def hook(event, args):
    if threading.get_ident() != loop_thread or state.get("ended"):
        return
    if event == "socket.connect" and not state["sending"]:
        state["sending"] = True
        state["models_built_before_sending"] = deferred_models_built()
    elif event == "import" and state["sending"] and args[0] not in sys.modules:
        state["imported"].append(args[0])


sys.addaudithook(hook)
from imgkit.runner import adrill

async def drill(out):
    run = await adrill(models=sys.argv[1:], n=2, out=out, concurrency=4, progress=False, log=None)
    # The drill is over: what asyncio.run does on its way out (on Python 3.11 it can format the
    # repr of the task's result, the Run, which reads the folder with pandas) is not watched.
    state["ended"] = True
    return run


with tempfile.TemporaryDirectory() as out:
    run = asyncio.run(drill(out))
    state["summary"] = run.summary()
print(json.dumps(state, default=str))
"""


def test_nothing_is_imported_on_the_event_loop_once_requests_are_sent():
    done = subprocess.run(
        [sys.executable, "-c", _DRIVER, *ARMS],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    state = json.loads(done.stdout.splitlines()[-1])
    assert state["summary"]["ok"] == 2 * len(ARMS), state["summary"]
    assert state["sending"]  # the hook did see the first request
    assert sorted(set(state["imported"])) == []
    assert state["models_built_before_sending"] is True


def test_prepare_makes_the_clients_of_that_loop_from_another_thread(sim_factory):
    # A private simulator: the session's one counts what it served for other tests.
    provider = OpenAIProvider(backend="sim", base_url=sim_factory().openai_base_url)

    async def main() -> tuple[object, object]:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, provider.prepare, loop)
        prepared = provider._async.current()
        from imgkit.catalog.validation import validate_request

        await provider.agenerate(validate_request("dall-e-3", "a red cube", backend="sim"))
        used = provider._async.current()
        await provider.aclose()
        return prepared, used

    prepared, used = asyncio.run(main())
    assert prepared is not None and prepared is used  # the first request used them


@pytest.mark.parametrize(
    ("provider_module", "foreign_sdks"),
    [
        ("imgkit.providers.openai_provider", ["google.genai"]),
        ("imgkit.providers.gemini_provider", ["openai"]),
        ("imgkit.providers.leonardo_provider", ["openai", "google.genai"]),
    ],
)
def test_a_provider_loads_only_its_own_sdk(provider_module, foreign_sdks):
    # An SDK takes up to a second to import; the error boundary must not load the others'.
    code = f"import json, sys, {provider_module}; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    modules = json.loads(done.stdout)
    loaded = [sdk for sdk in foreign_sdks if sdk in modules]
    assert loaded == []
