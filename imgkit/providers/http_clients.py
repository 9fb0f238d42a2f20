"""HTTP set-up shared by a whole process: one TLS context per HTTP library, one client for
imgkit's own questions.

Making an httpx (or httpx2) client builds an SSL context and loads the CA certificates into it,
30 to 60 ms on this project's machines, whether or not the client ever speaks TLS. A drill
made three of them before its first request (the simulator's stats, the SDK's client, the image
downloads), each on the way to that request. Here each library's context is made once, by the
library's own ``create_ssl_context`` (so certificates are checked exactly as the library
would check them, ``SSL_CERT_FILE`` and ``SSL_CERT_DIR`` included), and every client of that
library in the process is given it.

:func:`shared_client` is the one synchronous httpx client for what imgkit asks on its own
behalf (a running simulator's stats), kept for the process so that its connection and TLS
set-up are reused; clients bound to an event loop (the SDKs', the async downloads) cannot be
shared across loops and stay with their provider, with the shared context.
"""

from __future__ import annotations

import atexit
import importlib
import threading
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import ssl

    import httpx

__all__ = ["shared_client", "tls_context"]

_lock = threading.Lock()
_library_locks = {"httpx": threading.Lock(), "httpx2": threading.Lock()}
_contexts: dict[str, ssl.SSLContext] = {}
_client: httpx.Client | None = None


def tls_context(library: Literal["httpx", "httpx2"] = "httpx") -> ssl.SSLContext:
    """The SSL context that every ``library`` client in this process verifies with (made on
    first use by ``library.create_ssl_context()``; an ``ssl.SSLContext`` may serve many
    connections and threads at once)."""
    with _library_locks[library]:  # one lock a library: making one waits for no other
        context = _contexts.get(library)
        if context is None:
            context = importlib.import_module(library).create_ssl_context()
            _contexts[library] = context
        return context


def shared_client() -> httpx.Client:
    """The process's synchronous httpx client for imgkit's own questions (made on first use,
    closed at exit). Give each request its own ``timeout``."""
    global _client
    import httpx

    context = tls_context("httpx")
    with _lock:
        if _client is None or _client.is_closed:
            _client = httpx.Client(verify=context)
            atexit.register(_client.close)
        return _client
