"""Shared fixtures: the imgkit simulator, served on the loopback for the real SDKs.

``sim`` is one server for the whole session (seed 0, no latency): a test that changes its
behaviour calls ``sim.configure(...)`` and restores it, and calls ``sim.reset()`` before counting.
``sim_factory(**serve_kwargs)`` starts a private server, stopped when the test ends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from imgkit.simulator import SimServer, serve


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
