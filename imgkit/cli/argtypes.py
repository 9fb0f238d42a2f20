"""Argument types shared by the ``imgkit`` commands (argparse ``type=`` callables).

Each turns the text of one argument into its value or raises ``ArgumentTypeError`` with the
text given and what is allowed, which argparse prints with the option's name (exit 2).
"""

from __future__ import annotations

import argparse
import math

__all__ = ["positive_int", "seconds"]


def positive_int(text: str) -> int:
    """A whole number >= 1 (repeats, concurrency, days)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 1")
    return value


def seconds(text: str) -> float:
    """A finite number of seconds >= 0 (latencies, lifetimes, delays)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected seconds >= 0, got {text!r}")
    return value
