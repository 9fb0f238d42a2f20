"""Checks of the paths and URLs a run is given, where they enter (the command line, a sweep
file, the Python API), so that a bad one is an error naming it before a folder is made or a
request sent.

A simulator URL must be http(s) with a host and a port that parse, on a loopback address
unless the user says otherwise (``--allow-remote-sim``, ``allow_remote_sim=True``): a sweep
file that names a simulator elsewhere would otherwise send its prompts there. And it must
answer as an imgkit simulator: a URL where nothing listens made a run of failed attempts
reported as possibly billed.
"""

from __future__ import annotations

import ipaddress
import os
from typing import Any
from urllib.parse import urlsplit

from imgkit.errors import ValidationError

__all__ = ["check_out_path", "check_sim_answers", "check_sim_url", "check_text"]


def check_text(param: str, value: Any, what: str = "UTF-8 text") -> None:
    """ValidationError when ``value`` cannot be written as UTF-8 (a path or argument of bytes
    that are not UTF-8 arrives as a string with lone surrogates, which no file imgkit writes
    can hold)."""
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            shown = value.encode("utf-8", "backslashreplace").decode("ascii", "backslashreplace")
            raise ValidationError(
                param, shown, what, detail="it holds bytes that are not UTF-8"
            ) from None


def check_out_path(param: str, out: Any) -> None:
    """An output folder's path: text that can be written into a manifest."""
    check_text(param, out, "a path in UTF-8")
    if isinstance(out, str) and "\x00" in out:
        raise ValidationError(param, out, "a path (without NUL characters)")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_sim_url(param: str, url: Any, *, allow_remote: bool = False) -> str:
    """``url`` if it is an http(s) URL with a host (and a port that parses), on a loopback
    address unless ``allow_remote``; else :class:`ValidationError` naming ``param``."""
    allowed = "an http:// or https:// URL of a running imgkit simulator, e.g. http://127.0.0.1:8000"
    if not isinstance(url, str) or not url.strip():
        raise ValidationError(param, url, allowed)
    check_text(param, url, allowed)
    try:
        parts = urlsplit(url.strip())
        port = parts.port
        host = parts.hostname
    except ValueError as exc:
        raise ValidationError(param, url, allowed, detail=str(exc)) from None
    if parts.scheme not in ("http", "https") or not host:
        raise ValidationError(param, url, allowed)
    del port
    if not allow_remote and not _is_loopback(host):
        raise ValidationError(
            param,
            url,
            "a simulator on a loopback address (127.0.0.1, ::1, localhost)",
            detail="a simulator elsewhere receives every prompt of the run; say so with "
            "--allow-remote-sim (Python: allow_remote_sim=True) if it is meant",
        )
    return url


def check_sim_answers(param: str, described: dict[str, Any]) -> None:
    """After :func:`~imgkit.runner.provenance.describe_running_simulator`: refuse a URL
    where no imgkit simulator answered, before the run folder is made."""
    if "unreadable" in described:
        raise ValidationError(
            param,
            described.get("url"),
            "the URL of a running imgkit simulator (`imgkit sim` prints it)",
            detail=f"its /_sim/stats did not answer as one: {described['unreadable']}",
        )
