"""The ``imgkit`` parser's manners: one error prefix, deprecated spellings, lists of numbers.

Every command's parser is an :class:`ImgkitParser`, so a bad option reads the same whatever
the command: the command's usage line, then ``imgkit: error: ...`` (exit status 2), as the
errors raised while a command runs are printed by :func:`imgkit.cli.main.main`. Nothing here
imports more than argparse and :mod:`imgkit.errors`.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import re
import sys
from collections.abc import Iterator, Sequence
from typing import Any, NoReturn

from imgkit.errors import ValidationError

__all__ = [
    "ERROR_PREFIX",
    "DeprecatedOption",
    "ExtendNumbers",
    "ImgkitParser",
    "options_named",
    "print_error",
    "volumes",
]

#: What every error message of the command line starts with.
ERROR_PREFIX = "imgkit: error: "


def print_error(message: object) -> None:
    """Print ``message`` on standard error as the command line's errors look."""
    print(f"{ERROR_PREFIX}{message}", file=sys.stderr)


class ImgkitParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors say ``imgkit: error:`` for every command (argparse would
    say ``imgkit drill: error:`` for a subcommand); the usage line still names the command."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(2, f"{ERROR_PREFIX}{message}\n")


@contextlib.contextmanager
def options_named(**options: str) -> Iterator[None]:
    """Name a request parameter that fails validation as the option the user typed: inside
    ``with options_named(n="--images")``, "n=2 is not allowed" becomes "--images=2 is not
    allowed", with the same value and allowed values."""
    try:
        yield
    except ValidationError as exc:
        if exc.param not in options:
            raise
        raise ValidationError(options[exc.param], exc.value, exc.allowed, model=exc.model) from None


class DeprecatedOption(argparse.Action):
    """An old spelling that still works, hidden from the help, with a note naming the new one.

    ``replacement`` is the option to use instead; the value is stored under the new option's
    ``dest``.
    """

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        self.replacement = kwargs.pop("replacement")
        kwargs.setdefault("help", argparse.SUPPRESS)
        super().__init__(option_strings, dest, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        print(
            f"imgkit: note: {option_string} is deprecated; use {self.replacement}",
            file=sys.stderr,
        )
        setattr(namespace, self.dest, values)


# Between two volumes: a comma (with any spaces around it) or spaces.
_SEPARATOR = re.compile(r"\s*,\s*|\s+")


def volumes(text: str) -> list[int | float]:
    """Images a day, from one word of the command line: "20", "1,20,500", or "1," (a word of
    ``--per-day 1, 20, 500``). Whole numbers stay whole, so tables show them so."""
    values: list[int | float] = []
    word = text.strip()
    word = word[:-1] if word.endswith(",") and len(word) > 1 else word
    for part in _SEPARATOR.split(word):
        try:
            number = float(part)
            ok = math.isfinite(number) and 0 <= number < 1e12
        except ValueError:
            ok = False
        if not ok:
            raise argparse.ArgumentTypeError(
                f"--per-day={text!r}: expected numbers >= 0 and below 1e12, separated by commas "
                "or spaces"
            )
        values.append(int(number) if number.is_integer() else number)
    return values


class ExtendNumbers(argparse.Action):
    """``nargs="+"`` of lists (as :func:`volumes` gives), flattened into one list; the given
    values replace the default rather than adding to it."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        seen = getattr(namespace, self.dest, None)
        current = [] if seen is None or seen is self.default else list(seen)
        for value in values:
            current.extend(value if isinstance(value, list) else [value])
        setattr(namespace, self.dest, current)
