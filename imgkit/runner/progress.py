"""Progress of a drill: one tqdm bar per arm, and one per batch sent to a vendor's Batch API
(a widget in notebooks, a redrawn bar in a terminal, plain lines anywhere else).

A bar redraws itself with carriage returns and cursor moves; written to a file that is not a
terminal (a CI log) those come out as escape-code garbage, every redraw kept. So where standard
error is neither a terminal nor a notebook's, each bar is a :class:`LineBar`: a line of text
when it passes a tenth of its total, and one when it ends.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

__all__ = ["BatchBars", "LineBar", "Progress", "in_notebook", "new_bar"]


class LineBar:
    """The part of tqdm's interface the drill uses, written as plain lines to ``file``: a line
    each time the count passes another tenth of ``total`` (each step when there are few), when
    the status changes without the count (a batch's ``validating`` -> ``in_progress``), and the
    last state when closed."""

    def __init__(self, *, total: int, initial: int = 0, desc: str = "", unit: str = "it",
                 file: Any = None, **_ignored: Any) -> None:  # fmt: skip
        self.total = total
        self.n = initial
        self.desc = desc
        self.unit = unit
        self.file = file
        self.postfix = ""
        self._said = -1
        self._said_postfix = ""
        self._closed = False

    def _line(self) -> str:
        postfix = f" {self.postfix}" if self.postfix else ""
        return f"{self.desc}: {self.n}/{self.total} {self.unit}{postfix}"

    def _say(self) -> None:
        file = self.file if self.file is not None else sys.stderr
        print(self._line(), file=file, flush=True)
        self._said = self.n
        self._said_postfix = self.postfix

    def set_postfix_str(self, text: str = "", refresh: bool = True) -> None:
        self.postfix = text

    def update(self, n: int = 1) -> None:
        self.n += n
        if n == 0:
            if self.postfix != self._said_postfix:
                self._say()  # the status changed, the count did not
            return
        step = max(1, -(-self.total // 10))  # a tenth, rounded up
        if self.n // step != self._said // step or self.n == self.total:
            self._say()

    def close(self) -> None:
        if not self._closed and (self._said != self.n or self._said_postfix != self.postfix):
            self._say()
        self._closed = True


def in_notebook() -> bool:
    """Whether this process is a Jupyter kernel (where tqdm draws a widget)."""
    if "ipykernel" not in sys.modules:
        return False
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - ipykernel brings IPython
        return False
    shell = get_ipython()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def new_bar(**options: Any) -> Any:
    """A progress bar: tqdm's (a widget in a notebook, a bar in a terminal), or a
    :class:`LineBar` when standard error is neither (a log file, a pipe)."""
    stream = sys.stderr
    interactive = bool(getattr(stream, "isatty", lambda: False)())
    if not interactive and not in_notebook():
        return LineBar(file=stream, **options)
    from tqdm.auto import tqdm

    return tqdm(**options)


class Progress:
    """One bar per arm, showing done / failed / refused and the money that arm has spent."""

    def __init__(self, totals: Mapping[str, int], done: Mapping[str, int], enabled: bool) -> None:
        self.bars: dict[str, Any] = {}
        self.counts = {arm: {"ok": 0, "failed": 0, "refused": 0} for arm in totals}
        self.spent = dict.fromkeys(totals, 0.0)
        if not enabled:
            return
        width = max(len(a) for a in totals)
        for position, (arm, total) in enumerate(totals.items()):
            self.bars[arm] = new_bar(
                total=total,
                initial=done.get(arm, 0),
                desc=arm.ljust(width),
                position=position,
                unit="img",
                leave=True,
                dynamic_ncols=True,
            )

    def update(self, arm: str, outcome: str, cost: float = 0.0) -> None:
        """One generation of ``arm`` was decided: ``outcome`` is ok, failed or refused."""
        self.counts[arm][outcome] += 1
        self.spent[arm] += cost
        bar = self.bars.get(arm)
        if bar is not None:
            c = self.counts[arm]
            bar.set_postfix_str(
                f"ok={c['ok']} failed={c['failed']} refused={c['refused']} "
                f"spent=${self.spent[arm]:.4f}",
                refresh=False,
            )
            bar.update(1)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


class BatchBars:
    """One bar per batch at a vendor: its status and request counts as the vendor reports them
    (requests done out of the batch's total). ``snapshot`` is the same, as plain data."""

    def __init__(self, enabled: bool, position: int = 0) -> None:
        self.enabled = enabled
        self.position = position
        self.bars: dict[str, Any] = {}
        self.snapshot: dict[str, dict[str, Any]] = {}

    def add(self, key: str, label: str, total: int) -> None:
        self.snapshot[key] = {"label": label, "status": "preparing", "total": total, "done": 0}
        if not self.enabled or key in self.bars:
            return
        self.bars[key] = new_bar(
            total=total,
            desc=label,
            position=self.position + len(self.bars),
            unit="req",
            leave=True,
            dynamic_ncols=True,
        )
        self.bars[key].set_postfix_str("preparing", refresh=False)

    def update(
        self, key: str, status: str, completed: int | None = None, failed: int | None = None
    ) -> None:
        """What the vendor now says of batch ``key`` (counts None: it does not say)."""
        entry = self.snapshot.get(key)
        if entry is None:
            return
        done = (completed or 0) + (failed or 0)
        entry.update(status=status, completed=completed, failed=failed, done=done)
        bar = self.bars.get(key)
        if bar is None:
            return
        counts = "" if completed is None else f" completed={completed} failed={failed or 0}"
        bar.set_postfix_str(f"{status}{counts}", refresh=False)
        bar.update(max(0, min(done, bar.total) - bar.n))

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
