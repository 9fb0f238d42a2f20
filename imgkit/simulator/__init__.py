"""A local simulator of the image APIs (OpenAI, Gemini, Leonardo), served on the loopback.

The official SDKs talk to it unchanged but for the base URL, so the lesson's drill runs without
keys, network, or the retired models it was written for::

    from openai import OpenAI
    from imgkit.simulator import serve

    with serve(seed=0) as sim:
        client = OpenAI(base_url=sim.openai_base_url, api_key="sim", max_retries=0)
        image = client.images.generate(model="dall-e-3", prompt="a red fox", size="1792x1024")
        print(image.data[0].revised_prompt, sim.stats()["total_images"])

Everything it draws is labelled simulated. From the shell: ``imgkit sim --port 8000``.
"""

from __future__ import annotations

import atexit
import ipaddress
import socket
import threading
import time
from collections.abc import Iterable
from typing import Any

from imgkit.errors import ValidationError
from imgkit.simulator.faults import DEFAULT_BLOCKED_TERMS, FAULT_KINDS
from imgkit.simulator.rewriting import AS_IS_PREFIX
from imgkit.simulator.state import (
    DEFAULT_BATCH_DURATION_S,
    DEFAULT_THOUGHT_SIGNATURE_CHARS,
    DEFAULT_TIMEOUT_HOLD_S,
    SimState,
)

__all__ = [
    "AS_IS_PREFIX",
    "DEFAULT_BLOCKED_TERMS",
    "FAULT_KINDS",
    "SimServer",
    "check_loopback",
    "serve",
    "shared_server",
]


def check_loopback(host: str) -> str:
    """Return ``host`` if it is a loopback address (or "localhost"); raise ValidationError."""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValidationError(
            "host",
            host,
            "a loopback address (127.0.0.1, ::1 or localhost)",
            detail="the simulator never listens beyond this machine",
        )
    return host


class SimServer:
    """One simulator, served by uvicorn in a background thread.

    Use it as a context manager (``with serve(...) as sim``) or call :meth:`start` and
    :meth:`stop`. The URLs are valid once started.
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        latency: Any = 0.0,
        faults: str | None = None,
        block: Iterable[str] = (),
        url_ttl: float = 3600.0,
        host: str = "127.0.0.1",
        port: int = 0,
        timeout_hold: float = DEFAULT_TIMEOUT_HOLD_S,
        retry_after: float = 1.0,
        rate_limits: dict[str, int] | None = None,
        default_block: bool = True,
        log_level: str = "critical",
        batch_duration: float = DEFAULT_BATCH_DURATION_S,
        control_secret: str | None = None,
        thought_signature_chars: int = DEFAULT_THOUGHT_SIGNATURE_CHARS,
    ) -> None:
        self.host = check_loopback(host)
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValidationError("port", port, "a whole number from 0 to 65535 (0: any free port)")
        self.port = port
        self.log_level = log_level
        self.state = SimState(
            seed=seed,
            latency=latency,
            faults=faults,
            block=block,
            url_ttl=url_ttl,
            timeout_hold=timeout_hold,
            retry_after=retry_after,
            rate_limits=rate_limits,
            default_block=default_block,
            batch_duration=batch_duration,
            control_secret=control_secret,
            thought_signature_chars=thought_signature_chars,
        )
        self._server: Any = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    def _bind(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # IPPROTO_TCP, not the default 0: asyncio sets TCP_NODELAY on an accepted connection
        # only when the socket says it is TCP, and without it every small answer on a
        # kept-alive connection waits ~40 ms for the client's delayed ACK (Nagle's algorithm).
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            raise ValidationError(
                "port",
                self.port,
                f"a port free on {self.host} (0: any free port)",
                detail=exc.strerror,
            ) from None
        sock.listen(128)
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        return sock

    def start(self) -> SimServer:
        """Bind (port 0 = a free port), start serving in a daemon thread; return self."""
        if self._thread is not None:
            return self
        import uvicorn

        from imgkit.simulator.app import create_app

        sock = self._bind()
        config = uvicorn.Config(
            create_app(self.state),
            log_level=self.log_level,
            access_log=False,
            lifespan="off",
            # A held ("timeout") request must not keep stop() waiting long.
            timeout_graceful_shutdown=1,
            timeout_keep_alive=30,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="imgkit-sim", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the imgkit simulator failed to start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread (a few seconds at most)."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._thread = None
        self._server = None
        self.state.close()

    @property
    def running(self) -> bool:
        """Whether the server thread is serving."""
        return self._thread is not None and self._thread.is_alive()

    def wait(self) -> None:
        """Block until the server stops (the CLI's foreground mode)."""
        while self.running:
            time.sleep(0.2)

    def __enter__(self) -> SimServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- URLs ---------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` (IPv6 hosts in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        """For ``OpenAI(base_url=...)``."""
        return self.base_url + "/v1"

    @property
    def gemini_base_url(self) -> str:
        """For ``genai.Client(http_options=types.HttpOptions(base_url=...))``."""
        return self.base_url

    @property
    def leonardo_base_url(self) -> str:
        """The Leonardo REST root (``.../api/rest/v1``)."""
        return self.base_url + "/api/rest/v1"

    # -- control ------------------------------------------------------------------------------

    @property
    def control_secret(self) -> str:
        """The bearer token /_sim/configure and /_sim/reset require (random per simulator
        unless given): only whoever holds this object, or was handed the secret, can steer
        it."""
        return self.state.control_secret

    def stats(self) -> dict[str, Any]:
        """The counters served at GET /_sim/stats."""
        return self.state.stats()

    def reset(self) -> None:
        """Zero the counters."""
        self.state.reset()

    def configure(self, **settings: Any) -> None:
        """Change faults, latency, block, url_ttl, timeout_hold, retry_after, rate_limits or
        batch_duration."""
        self.state.configure(**settings)

    def __repr__(self) -> str:
        status = "running" if self.running else "stopped"
        return f"<SimServer {self.base_url} seed={self.state.seed} {status}>"


def serve(
    *,
    seed: int = 0,
    latency: Any = 0.0,
    faults: str | None = None,
    block: Iterable[str] = (),
    url_ttl: float = 3600.0,
    port: int = 0,
    host: str = "127.0.0.1",
    **options: Any,
) -> SimServer:
    """A simulator to use as ``with serve(...) as sim:`` (started on entering the block).

    ``latency`` is seconds or (min, max) / "MIN:MAX" for a seeded uniform draw; ``faults`` is a
    SPEC string (:mod:`imgkit.simulator.faults`); ``block`` adds prompt terms refused on content
    grounds (optionally ``"gemini:term"``); ``url_ttl`` is how long image URLs live;
    ``batch_duration`` how many seconds a batch takes, at the least, from creation to
    completion (:mod:`imgkit.simulator.batch_jobs`). Other options: ``timeout_hold``,
    ``retry_after``, ``rate_limits`` ({model: images per minute}), ``default_block``,
    ``log_level``, ``thought_signature_chars`` (the length of the ``thoughtSignature`` Gemini 3
    sends with its image: about 2.9 million characters, as recorded; smaller for quick tests).
    """
    return SimServer(
        seed=seed,
        latency=latency,
        faults=faults,
        block=block,
        url_ttl=url_ttl,
        port=port,
        host=host,
        **options,
    )


_shared: SimServer | None = None
_shared_lock = threading.Lock()


def shared_server() -> SimServer:
    """The process-wide embedded simulator (seed 0, no latency), started on first use."""
    global _shared
    with _shared_lock:
        if _shared is None or not _shared.running:
            _shared = SimServer().start()
            atexit.register(_shared.stop)
        return _shared
