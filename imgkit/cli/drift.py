"""``imgkit drift RUN_A RUN_B ...``: the same arms and prompts compared across runs (placeholder)."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["COMMANDS", "add_commands", "configure"]

COMMANDS = {"drift": "compare the same arms and prompts across runs made at different times"}


def configure(name: str, parser: argparse.ArgumentParser) -> None:
    raise NotImplementedError


def add_commands(subparsers: Any) -> None:
    for name, summary in COMMANDS.items():
        configure(name, subparsers.add_parser(name, help=summary))
