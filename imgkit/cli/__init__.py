"""The ``imgkit`` command line: one module per command group.

- :mod:`imgkit.cli.main`: the parser, and the one place where errors become exit codes;
- :mod:`imgkit.cli.catalog`: ``imgkit models`` and ``imgkit costs``;
- :mod:`imgkit.cli.drill`: ``imgkit drill`` (and ``--resume``);
- :mod:`imgkit.cli.sim`: ``imgkit sim``, the simulator as a server;
- :mod:`imgkit.cli.chain`: ``imgkit chain`` and ``imgkit edit``;
- :mod:`imgkit.cli.analysis`: ``imgkit hash``, ``imgkit consistency``, ``imgkit report``;
- :mod:`imgkit.cli.argtypes`: argument types the commands share.

Each command module lists its commands in ``COMMANDS`` and adds a command's options in
``configure``; it imports its heavy dependencies only when a command runs, so building the
parser stays quick (see :mod:`imgkit.cli.main`).
"""

from __future__ import annotations

from imgkit.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
