"""Shared fixtures: the imgkit simulator, served on the loopback for the real SDKs.

``sim`` is one server for the whole session (seed 0, no latency): a test that changes its
behaviour calls ``sim.configure(...)`` and restores it, and calls ``sim.reset()`` before counting.
``sim_factory(**serve_kwargs)`` starts a private server, stopped when the test ends.
``finished`` is a complete little run made once per test module (2 arms x 3 repeats, see
:data:`RUN_MODELS`), and ``copy`` a fresh copy of it for a test to change or damage.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from imgkit.simulator import SimServer, serve

#: The arms of the ``finished`` run.
RUN_MODELS = ("dall-e-3", "gpt-image-1")


@pytest.fixture(scope="session")
def sim() -> Iterator[SimServer]:
    """The session's simulator (seed 0, no latency, default blocked terms)."""
    with serve(seed=0, latency=0.0) as server:
        yield server


@pytest.fixture
def sim_factory() -> Iterator[Callable[..., SimServer]]:
    """Start private simulators with custom settings; each is stopped at teardown."""
    started: list[SimServer] = []

    def factory(**serve_kwargs: Any) -> SimServer:
        server = serve(**serve_kwargs).start()
        started.append(server)
        return server

    yield factory
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def finished(tmp_path_factory, sim) -> Path:
    """A complete little run (2 arms x 3 repeats), to copy and damage."""
    from imgkit.runner import drill

    out = tmp_path_factory.mktemp("runs")
    run = drill(
        "a lighthouse", list(RUN_MODELS), 3, out=out, sim_url=sim.base_url, progress=False, log=None
    )
    return run.path


@pytest.fixture
def copy(finished, tmp_path) -> Path:
    """A copy of the ``finished`` run, the test's own."""
    target = tmp_path / "copy"
    shutil.copytree(finished, target)
    return target
